//! Logging: tracing-subscriber, one line per event on stderr, the filter
//! reloadable at runtime (SIGHUP), and a rate limiter for summary lines.
//!
//! Level at start: `--log-level` (or the file's `log-level`), else
//! `RUST_LOG`, else `info`. On SIGHUP [`LogControl::reload`] re-reads the
//! config file's `log-level` and applies it; without a config file, or
//! without that key, what a restart would apply (`RUST_LOG` as it was at
//! start, else `info`). A `--log-level`
//! flag outranks the file on SIGHUP as it does at start: its level stays.
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::config::{check_log_level, ConfigError, FileConfig, LOG_LEVEL_FIX};

/// Used when neither a flag, the file nor RUST_LOG sets a level.
pub const DEFAULT_LEVEL: &str = "info";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid log-level `{directive}`: {message}; {}", LOG_LEVEL_FIX)]
    InvalidFilter { directive: String, message: String },
    #[error("cannot re-read log-level: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot change the log level: the logging system is gone")]
    Reload,
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Changes the active filter; cheap to clone.
#[derive(Clone, Debug)]
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    startup: String,
    /// `startup` came from `--log-level`: the file cannot override it.
    from_flag: bool,
    /// What a start without the file's key would have had: `RUST_LOG` as
    /// it was at start, else `info`.
    without_key: String,
    config_file: Option<PathBuf>,
    /// SIGHUP's outcome lines: one per outcome and second (a storm of
    /// signals, a script in a loop, wrote a line each).
    hup_log: Arc<Mutex<RepeatFilter>>,
}

/// Lets a line through when its key differs from the last one let
/// through, or `interval` after it; counts the repeats held back.
#[derive(Debug)]
struct RepeatFilter {
    interval: Duration,
    last: Option<(String, Instant)>,
    suppressed: u64,
}

impl RepeatFilter {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(repeats held back since the last line)` to log now.
    fn check_at(&mut self, key: &str, now: Instant) -> Option<u64> {
        let repeat = self
            .last
            .as_ref()
            .is_some_and(|(k, at)| k == key && now.saturating_duration_since(*at) < self.interval);
        if repeat {
            self.suppressed += 1;
            return None;
        }
        self.last = Some((key.to_owned(), now));
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// How often one SIGHUP outcome (the same level applied, kept, or the
/// same error) is logged; the lines in between are counted.
pub const HUP_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Where the start-up level came from, which decides what SIGHUP may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelSource {
    /// `--log-level` on the command line: it outranks the file, on SIGHUP too.
    Flag,
    /// The file's `log-level`, `RUST_LOG` or the default: SIGHUP re-reads the file.
    Other,
}

/// The filter in force at start: `level`, else RUST_LOG, else `info`.
pub fn startup_directive(level: Option<&str>) -> String {
    match level {
        Some(l) => l.to_owned(),
        None => std::env::var("RUST_LOG")
            .ok()
            .filter(|v| !v.trim().is_empty() && parse_filter(v).is_ok())
            .unwrap_or_else(|| DEFAULT_LEVEL.to_owned()),
    }
}

fn parse_filter(directive: &str) -> Result<EnvFilter, LogError> {
    EnvFilter::builder()
        .parse(directive)
        .map_err(|e| LogError::InvalidFilter {
            directive: directive.to_owned(),
            message: e.to_string(),
        })
}

/// Builds the subscriber without installing it (tests use it with
/// `tracing::subscriber::with_default` and their own writer).
pub fn subscriber<W>(
    directive: &str,
    source: LevelSource,
    config_file: Option<PathBuf>,
    writer: W,
    ansi: bool,
) -> Result<(impl tracing::Subscriber + Send + Sync, LogControl), LogError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let (filter, handle) = reload::Layer::new(parse_filter(directive)?);
    let subscriber = Registry::default().with(filter).with(
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_target(true)
            // A log line that cannot be written (stderr a pipe whose
            // reader went away on Ctrl-C) is lost; reporting that on
            // stderr would panic and abort the clean stop.
            .log_internal_errors(false),
    );
    let control = LogControl {
        handle,
        startup: directive.to_owned(),
        from_flag: source == LevelSource::Flag,
        without_key: startup_directive(None),
        config_file,
        hup_log: Arc::new(Mutex::new(RepeatFilter::new(HUP_LOG_INTERVAL))),
    };
    Ok((subscriber, control))
}

/// Installs the process-wide logger on stderr. `level` is
/// `Config::log_level`, `source` says whether it came from the flag
/// (`Config::log_level_from_flag`), `config_file` is `Config::config_file`.
pub fn init(
    level: Option<&str>,
    source: LevelSource,
    config_file: Option<PathBuf>,
) -> Result<LogControl, LogError> {
    let directive = startup_directive(level);
    let ansi = std::io::stderr().is_terminal();
    let (subscriber, control) = subscriber(&directive, source, config_file, std::io::stderr, ansi)?;
    subscriber
        .try_init()
        .map_err(|_| LogError::AlreadyInstalled)?;
    if level.is_none() {
        let rust_log = std::env::var("RUST_LOG").unwrap_or_default();
        match rust_log_problem(&rust_log, own_errors_logged()) {
            // Said on stderr itself: the filter would not show it.
            Some(RustLogProblem::SilencesVxgate(note)) => eprintln!("vxgate: {note}"),
            Some(RustLogProblem::Unreadable(note)) => tracing::warn!("{note}"),
            None => {}
        }
    }
    Ok(control)
}

/// Whether the filter in force shows vxgate's own errors.
fn own_errors_logged() -> bool {
    tracing::enabled!(target: "vxgate", tracing::Level::ERROR)
}

/// What is wrong with a `RUST_LOG` vxgate started with, if anything.
#[derive(Debug, PartialEq, Eq)]
enum RustLogProblem {
    /// tracing cannot read it: `info` is used instead.
    Unreadable(String),
    /// Read, but it turns off vxgate's own lines, errors included (a bare
    /// word is a target name to tracing, not a level).
    SilencesVxgate(String),
}

/// `own_errors_logged`: what the filter built from it does with
/// vxgate's own errors.
fn rust_log_problem(rust_log: &str, own_errors_logged: bool) -> Option<RustLogProblem> {
    if rust_log.trim().is_empty() {
        return None;
    }
    if let Err(e) = parse_filter(rust_log) {
        return Some(RustLogProblem::Unreadable(format!(
            "RUST_LOG is not a filter tracing can read ({e}); logging at {DEFAULT_LEVEL} instead"
        )));
    }
    (!own_errors_logged).then(|| {
        RustLogProblem::SilencesVxgate(format!(
            "RUST_LOG=`{rust_log}` turns off vxgate's own log lines, errors included (tracing takes a bare word for a target name, and logs no target a directive does not name): use a level such as RUST_LOG=info, or RUST_LOG=warn,vxgate::control=debug"
        ))
    })
}

impl LogControl {
    /// Applies a new filter.
    pub fn set_level(&self, directive: &str) -> Result<(), LogError> {
        let filter = parse_filter(directive)?;
        self.handle.reload(filter).map_err(|_| LogError::Reload)
    }

    /// The filter in force now.
    pub fn current(&self) -> String {
        self.handle
            .with_current(|f| f.to_string())
            .unwrap_or_default()
    }

    /// SIGHUP: applies the config file's `log-level`; without a file or
    /// without the key, what a restart would apply (`RUST_LOG` as it was
    /// at start, else `info`: a level the file had at start does not
    /// linger); the start-up level when it was given as `--log-level`
    /// (flags override the file, at start and on reload; the file is then
    /// not read). A file that no longer reads or
    /// parses (same limits as at start: a regular file of at most 1 MiB),
    /// or a `log-level` that `vxgate run --log-level` would refuse (see
    /// [`check_log_level`]), leaves the level unchanged. Returns the
    /// directive applied.
    pub fn reload(&self) -> Result<String, LogError> {
        let directive = self.reloaded_directive()?;
        self.set_level(&directive)?;
        Ok(directive)
    }

    /// The directive [`LogControl::reload`] would apply, not applied.
    fn reloaded_directive(&self) -> Result<String, LogError> {
        let from_file = match &self.config_file {
            Some(_) if self.from_flag => None,
            Some(path) => FileConfig::load(path)?.log_level,
            None => None,
        };
        let directive = match from_file {
            Some(level) => check_log_level(&level).map_err(|message| LogError::InvalidFilter {
                directive: level.clone(),
                message,
            })?,
            None if self.from_flag => self.startup.clone(),
            None => self.without_key.clone(),
        };
        Ok(directive)
    }

    /// [`LogControl::reload`], logging the outcome: at once when it
    /// differs from the last (another level, another error), else at most
    /// once per [`HUP_LOG_INTERVAL`], with how many were `suppressed` (the
    /// repeats held back since the last line, of any outcome). While the
    /// level in force shows the line it is written before the new level
    /// is applied, so that a quieter one (`warn`, `error`), which would
    /// filter it out, is announced too; else after.
    pub fn reload_and_log(&self) {
        let directive = match self.reloaded_directive() {
            Ok(d) => d,
            Err(e) => return self.log_outcome(&Err(e)),
        };
        let shown_now = tracing::enabled!(tracing::Level::INFO);
        if shown_now {
            self.log_outcome(&Ok(directive.clone()));
        }
        match self.set_level(&directive) {
            Ok(()) if shown_now => {}
            Ok(()) => self.log_outcome(&Ok(directive)),
            Err(e) => self.log_outcome(&Err(e)),
        }
    }

    /// Logs one SIGHUP outcome through the repeat filter.
    fn log_outcome(&self, outcome: &Result<String, LogError>) {
        let key = match &outcome {
            Ok(level) => format!("ok {level}"),
            Err(e) => format!("err {e}"),
        };
        let pass = self
            .hup_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check_at(&key, Instant::now());
        let Some(suppressed) = pass else {
            return;
        };
        match outcome {
            Ok(level) if self.from_flag => tracing::info!(
                %level,
                suppressed,
                "SIGHUP: log level kept: --log-level on the command line outranks the config file"
            ),
            Ok(level) => tracing::info!(%level, suppressed, "SIGHUP: log level applied"),
            Err(e) => tracing::warn!(error = %e, suppressed, "SIGHUP: log level unchanged"),
        }
    }
}

/// At most one line per key and interval, for summaries and repeated
/// warnings from non-worker threads (takes a lock).
#[derive(Debug)]
pub struct RateLimitedLog {
    interval: Duration,
    max_keys: usize,
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    by_key: HashMap<String, Slot>,
    /// Lines suppressed in slots dropped before they could say so (pruned
    /// to make room, or forgotten): `take_left_out` says them, with the
    /// overflow slot's, so a flood of distinct keys is summed up, not
    /// silently cut.
    left_out: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    last: Instant,
    suppressed: u64,
}

/// Key used once `max_keys` distinct keys are being tracked.
pub const OVERFLOW_KEY: &str = "<other>";

impl RateLimitedLog {
    /// Tracks up to 1024 keys.
    pub fn new(interval: Duration) -> Self {
        Self::with_max_keys(interval, 1024)
    }

    pub fn with_max_keys(interval: Duration, max_keys: usize) -> Self {
        Self {
            interval,
            max_keys: max_keys.max(1),
            slots: Mutex::new(Slots::default()),
        }
    }

    /// `Some(n)` when a line for `key` may be written now, `n` being how
    /// many were suppressed since the last one; `None` to stay quiet.
    pub fn check(&self, key: &str) -> Option<u64> {
        self.check_at(key, Instant::now())
    }

    /// Starts afresh: the next line of any key is written at once (a new
    /// episode, such as another outage after a recovery, is not hidden
    /// in the last one's interval).
    pub fn forget(&self) {
        let mut guard = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Slots { by_key, left_out } = &mut *guard;
        *left_out += by_key.drain().map(|(_, s)| s.suppressed).sum::<u64>();
    }

    /// How many suppressed lines no line of their key will mention, since
    /// the last call (and forgets them): those of keys beyond the tracked
    /// ones (the overflow slot's, whose next line would name another key)
    /// and of slots dropped since. The caller writes one line saying so;
    /// with it, every suppressed line is mentioned exactly once.
    pub fn take_left_out(&self) -> u64 {
        let mut guard = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let overflow = guard
            .by_key
            .get_mut(OVERFLOW_KEY)
            .map_or(0, |s| std::mem::take(&mut s.suppressed));
        std::mem::take(&mut guard.left_out) + overflow
    }

    /// [`RateLimitedLog::check`] at a given time.
    pub fn check_at(&self, key: &str, now: Instant) -> Option<u64> {
        let mut guard = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Slots { by_key, left_out } = &mut *guard;
        if !by_key.contains_key(key) && by_key.len() >= self.max_keys {
            let interval = self.interval;
            by_key.retain(|_, s| {
                let keep = now.saturating_duration_since(s.last) < interval;
                if !keep {
                    *left_out += s.suppressed;
                }
                keep
            });
        }
        let overflow = !by_key.contains_key(key) && by_key.len() >= self.max_keys;
        let key = if overflow { OVERFLOW_KEY } else { key };
        match by_key.get_mut(key) {
            None => {
                by_key.insert(
                    key.to_owned(),
                    Slot {
                        last: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
            Some(slot) if now.saturating_duration_since(slot.last) >= self.interval => {
                let suppressed = slot.suppressed;
                *slot = Slot {
                    last: now,
                    suppressed: 0,
                };
                Some(suppressed)
            }
            Some(slot) => {
                slot.suppressed += 1;
                None
            }
        }
    }
}

/// Log lines captured in memory, for tests that check what is logged
/// (a `MakeWriter` for `subscriber` or `tracing_subscriber::fmt`); the
/// etcd tests, which run the control plane against a real etcd, use it
/// too.
#[doc(hidden)]
#[derive(Clone, Default)]
pub struct Buf(std::sync::Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Buf {
    type Writer = Buf;
    fn make_writer(&'w self) -> Buf {
        self.clone()
    }
}

impl Buf {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// What `f` logs (plain text, every level), with `f`'s result.
    pub fn capture<R>(f: impl FnOnce() -> R) -> (String, R) {
        let lines = Buf::default();
        let sub = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .with_ansi(false)
            .finish();
        let r = tracing::subscriber::with_default(sub, f);
        (lines.text(), r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `RUST_LOG` that names only other targets (a bare word is one) is
    /// said to turn off vxgate's errors; levels, and filters that keep a
    /// level for the rest, are not; one tracing cannot read is said too.
    #[test]
    fn a_rust_log_that_silences_vxgate_or_cannot_be_read_is_said() {
        let judged = |v: &str| {
            let (sub, _) = subscriber(v, LevelSource::Other, None, Buf::default(), false).unwrap();
            let shown = tracing::subscriber::with_default(sub, own_errors_logged);
            rust_log_problem(v, shown)
        };
        for silencing in [
            "garbage",
            "vxgate::control=debug",
            "etcd_client=trace",
            "off",
        ] {
            assert!(
                matches!(judged(silencing), Some(RustLogProblem::SilencesVxgate(_))),
                "{silencing}"
            );
        }
        for fine in [
            "info",
            "error",
            "warn,vxgate::control=debug",
            "vxgate=debug",
            "trace",
        ] {
            assert_eq!(judged(fine), None, "{fine}");
        }
        assert_eq!(rust_log_problem("", false), None);
        assert!(matches!(
            rust_log_problem("[{", true),
            Some(RustLogProblem::Unreadable(m)) if m.contains("logging at info")
        ));
    }

    /// A config file holding `text`, in a directory removed on drop.
    struct ConfigFile {
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    impl AsRef<std::path::Path> for ConfigFile {
        fn as_ref(&self) -> &std::path::Path {
            &self.path
        }
    }

    fn config_file(text: &str) -> ConfigFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vxgate.toml");
        std::fs::write(&path, text).unwrap();
        ConfigFile { _dir: dir, path }
    }

    /// A logger into `buf` started at `level` (from `source`), reloading
    /// from `file`.
    fn logger(
        level: &str,
        source: LevelSource,
        file: &ConfigFile,
        buf: &Buf,
    ) -> (impl tracing::Subscriber + Send + Sync, LogControl) {
        subscriber(level, source, Some(file.path.clone()), buf.clone(), false).unwrap()
    }

    #[test]
    fn reload_changes_what_is_logged() {
        let buf = Buf::default();
        let file = config_file("log-level = \"debug\"\n");
        let (sub, control) = logger("info", LevelSource::Other, &file, &buf);
        tracing::subscriber::with_default(sub, || {
            tracing::debug!("hidden-before-reload");
            tracing::info!("shown-at-info");
            assert_eq!(control.reload().unwrap(), "debug");
            tracing::debug!("shown-after-reload");
            // Key removed from the file: what a restart would apply.
            std::fs::write(&file, "workers = 1\n").unwrap();
            assert_eq!(control.reload().unwrap(), startup_directive(None));
            tracing::debug!("hidden-again");
            // A broken file leaves the level alone.
            std::fs::write(&file, "log-level = [\n").unwrap();
            assert!(matches!(control.reload(), Err(LogError::Config(_))));
            assert_eq!(control.current(), "info");
        });
        let text = buf.text();
        assert!(!text.contains("hidden-before-reload"), "{text}");
        assert!(text.contains("shown-at-info"), "{text}");
        assert!(text.contains("shown-after-reload"), "{text}");
        assert!(!text.contains("hidden-again"), "{text}");
        assert_eq!(text.lines().count(), 2, "one line per event: {text}");
    }

    /// Started at the file's `warn`; the key removed: SIGHUP applies what
    /// a restart would (`RUST_LOG` at start, else `info`), not the `warn`
    /// the file no longer says.
    #[test]
    fn a_removed_key_does_not_keep_the_level_the_file_had_at_start() {
        let buf = Buf::default();
        let file = config_file("log-level = \"warn\"\n");
        let (sub, control) = logger("warn", LevelSource::Other, &file, &buf);
        tracing::subscriber::with_default(sub, || {
            assert_eq!(control.reload().unwrap(), "warn");
            std::fs::write(&file, "workers = 1\n").unwrap();
            assert_eq!(control.reload().unwrap(), startup_directive(None));
            assert_ne!(control.current(), "warn");
        });
        // A --log-level warn stays whatever the file says.
        let (sub, control) = logger("warn", LevelSource::Flag, &file, &buf);
        tracing::subscriber::with_default(sub, || {
            assert_eq!(control.reload().unwrap(), "warn");
        });
    }

    /// A storm of SIGHUPs with the same outcome writes one line a second
    /// (the repeats counted in the next one); another outcome is written
    /// at once, also when it goes back to an earlier one.
    #[test]
    fn sighup_outcomes_are_logged_once_a_second_and_changes_at_once() {
        let mut f = RepeatFilter::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(f.check_at("ok info", at(0)), Some(0));
        for ms in 1..=500 {
            assert_eq!(f.check_at("ok info", at(ms)), None);
        }
        assert_eq!(f.check_at("ok debug", at(501)), Some(500));
        assert_eq!(f.check_at("ok info", at(502)), Some(0));
        assert_eq!(f.check_at("ok info", at(900)), None);
        assert_eq!(f.check_at("ok info", at(1502)), Some(1));
        // Through the logger: 300 reloads of one file, one line.
        let buf = Buf::default();
        let file = config_file("log-level = \"info\"\n");
        let (sub, control) = logger("info", LevelSource::Other, &file, &buf);
        tracing::subscriber::with_default(sub, || {
            for _ in 0..300 {
                control.reload_and_log();
            }
            // A quieter level is announced (before it hides the line),
            // and so is the way back.
            std::fs::write(&file, "log-level = \"warn\"\n").unwrap();
            control.reload_and_log();
            assert_eq!(control.current(), "warn");
            std::fs::write(&file, "log-level = \"error\"\n").unwrap();
            control.reload_and_log();
            std::fs::write(&file, "log-level = \"info\"\n").unwrap();
            control.reload_and_log();
            assert_eq!(control.current(), "info");
        });
        let text = buf.text();
        let applied: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("SIGHUP: log level applied"))
            .collect();
        assert_eq!(applied.len(), 3, "{text}");
        for (line, level) in applied
            .iter()
            .zip(["level=info", "level=warn", "level=info"])
        {
            assert!(line.contains(level), "{line}");
        }
        // The 299 repeats held back ride on the warn line; warn -> error
        // has nothing to show it under (both levels hide info lines).
        assert!(applied[1].contains("suppressed=299"), "{}", applied[1]);
    }

    #[test]
    fn reload_keeps_the_level_on_an_invalid_log_level() {
        let buf = Buf::default();
        let file = config_file("log-level = \"debug\"\n");
        let (sub, control) = logger("info", LevelSource::Other, &file, &buf);
        tracing::subscriber::with_default(sub, || {
            assert_eq!(control.reload().unwrap(), "debug");
            // Words tracing would take for target names (turning every
            // other line off), and empty values, are refused.
            for bad in ["bogus", "", "é", "debug,", "vxgate=loud", "vx-gate=debug"] {
                std::fs::write(&file, format!("log-level = {bad:?}\n")).unwrap();
                let err = control.reload().unwrap_err();
                assert!(
                    matches!(err, LogError::InvalidFilter { .. }),
                    "{bad}: {err}"
                );
                assert!(err.to_string().contains("log-level"), "{err}");
                // The start's advice, `off` included.
                assert!(err.to_string().contains(LOG_LEVEL_FIX), "{err}");
                assert_eq!(control.current(), "debug", "{bad}");
            }
            tracing::debug!("still-shown-at-debug");
            // reload_and_log warns and keeps the level.
            std::fs::write(&file, "log-level = \"bogus\"\n").unwrap();
            control.reload_and_log();
            assert_eq!(control.current(), "debug");
            // A valid directive list, any case, is applied, without the
            // blanks tracing would misread (` warn` as a target name).
            std::fs::write(&file, "log-level = \" vxgate=TRACE, warn \"\n").unwrap();
            assert_eq!(control.reload().unwrap(), "vxgate=TRACE,warn");
            tracing::warn!("warn-after-list");
        });
        let text = buf.text();
        assert!(text.contains("still-shown-at-debug"), "{text}");
        assert!(text.contains("warn-after-list"), "{text}");
        assert!(
            text.contains("SIGHUP: log level unchanged") && text.contains("bogus"),
            "{text}"
        );
    }

    #[test]
    fn reload_refuses_a_non_regular_or_huge_config_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory, then /dev/zero (which would grow memory forever).
        for path in [dir.path().to_owned(), PathBuf::from("/dev/zero")] {
            let (sub, control) = subscriber(
                "warn",
                LevelSource::Other,
                Some(path.clone()),
                Buf::default(),
                false,
            )
            .unwrap();
            tracing::subscriber::with_default(sub, || {
                let err = control.reload().unwrap_err();
                assert!(matches!(err, LogError::Config(_)), "{err}");
                assert!(err.to_string().contains("not a regular file"), "{err}");
                assert_eq!(control.current(), "warn");
            });
        }
        let big = dir.path().join("big.toml");
        let mut text = "log-level = \"debug\"\n".to_owned();
        text.push_str(&"# padding\n".repeat(200_000));
        std::fs::write(&big, text).unwrap();
        let (sub, control) =
            subscriber("warn", LevelSource::Other, Some(big), Buf::default(), false).unwrap();
        tracing::subscriber::with_default(sub, || {
            let err = control.reload().unwrap_err();
            assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
            assert_eq!(control.current(), "warn");
        });
    }

    #[test]
    fn reload_keeps_a_level_given_as_a_flag() {
        // `--config f.toml` (log-level = "warn") with `--log-level debug`:
        // debug at start, and still debug after SIGHUP.
        let buf = Buf::default();
        let file = config_file("log-level = \"warn\"\n");
        let (sub, control) = logger("debug", LevelSource::Flag, &file, &buf);
        tracing::subscriber::with_default(sub, || {
            assert_eq!(control.reload().unwrap(), "debug");
            assert_eq!(control.current(), "debug");
            tracing::debug!("debug-after-reload");
            // Not even a broken file matters: it is not read.
            std::fs::write(&file, "log-level = [\n").unwrap();
            control.reload_and_log();
            assert_eq!(control.current(), "debug");
        });
        let text = buf.text();
        assert!(text.contains("debug-after-reload"), "{text}");
        assert!(text.contains("log level kept"), "{text}");
        assert!(!text.contains("log level unchanged"), "{text}");
    }

    #[test]
    fn invalid_directive_is_refused() {
        let err = subscriber("info,[[", LevelSource::Other, None, Buf::default(), false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("log-level"), "{err}");
        assert_eq!(startup_directive(Some("warn")), "warn");
    }

    #[test]
    fn rate_limit_per_key() {
        let rl = RateLimitedLog::with_max_keys(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        assert_eq!(rl.check_at("a", t0), Some(0));
        assert_eq!(rl.check_at("a", t0 + Duration::from_secs(1)), None);
        assert_eq!(rl.check_at("a", t0 + Duration::from_secs(2)), None);
        assert_eq!(rl.check_at("b", t0 + Duration::from_secs(2)), Some(0));
        assert_eq!(rl.check_at("a", t0 + Duration::from_secs(10)), Some(2));
        // Third key while two are tracked and fresh: shares the overflow
        // slot; its suppressed lines are left out (the slot's next line
        // would name another key), also when the slot is pruned.
        assert_eq!(rl.check_at("c", t0 + Duration::from_secs(11)), Some(0));
        assert_eq!(rl.check_at("d", t0 + Duration::from_secs(11)), None);
        assert_eq!(rl.check_at("e", t0 + Duration::from_secs(11)), None);
        assert_eq!(rl.check_at("c", t0 + Duration::from_secs(25)), Some(0));
        assert_eq!(rl.take_left_out(), 2);
        assert_eq!(rl.take_left_out(), 0);
        // A new episode: said at once.
        rl.forget();
        assert_eq!(rl.check_at("a", t0 + Duration::from_secs(12)), Some(0));
        assert_eq!(rl.check_at("a", t0 + Duration::from_secs(13)), None);
    }

    /// Every line asked for is written, or counted once: in the
    /// `suppressed` of a later line of its slot or in `take_left_out`
    /// (slots pruned to make room, forgotten, or the overflow's), over a
    /// long run of keys and times.
    #[test]
    fn every_suppressed_line_is_said_exactly_once() {
        let rl = RateLimitedLog::with_max_keys(Duration::from_secs(10), 4);
        let t0 = Instant::now();
        let (mut asked, mut said) = (0u64, 0u64);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("k{}", x % 9);
            let now = t0 + Duration::from_millis(step * 37);
            asked += 1;
            if let Some(n) = rl.check_at(&key, now) {
                said += 1 + n;
            }
            if x % 97 == 0 {
                said += rl.take_left_out();
            }
            if x % 1009 == 0 {
                rl.forget();
            }
        }
        rl.forget();
        said += rl.take_left_out();
        assert_eq!(said, asked);
    }
}
