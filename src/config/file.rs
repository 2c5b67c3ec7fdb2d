//! The TOML configuration file: the flags' keys, kebab-case, no others.
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// `etcd-endpoints` may be one comma-separated string, like the flag, or a
/// TOML array of URLs.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(
    untagged,
    expecting = "a string of URLs separated by commas, or an array of URL strings"
)]
pub enum Endpoints {
    List(Vec<String>),
    Joined(String),
}

impl Endpoints {
    pub fn into_list(self) -> Vec<String> {
        match self {
            Endpoints::List(list) => list,
            Endpoints::Joined(s) => s.split(',').map(str::to_owned).collect(),
        }
    }
}

/// Contents of `--config FILE`. Keys are the flag names without dashes;
/// an unknown key is an error that names it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    pub underlay: Option<String>,
    pub underlay_ip: Option<String>,
    pub underlay_gateway: Option<String>,
    pub underlay_mtu: Option<u32>,
    pub access: Option<String>,
    pub access_ip: Option<String>,
    pub access_mtu: Option<u32>,
    pub subnet: Option<String>,
    pub vtep_mac: Option<String>,
    #[serde(default)]
    pub neighbor: Vec<String>,
    pub etcd_endpoints: Option<Endpoints>,
    pub etcd_prefix: Option<String>,
    pub etcd_cafile: Option<PathBuf>,
    pub etcd_certfile: Option<PathBuf>,
    pub etcd_keyfile: Option<PathBuf>,
    pub etcd_username: Option<String>,
    pub etcd_password: Option<String>,
    pub subnet_lease_renew_margin: Option<u32>,
    pub subnet_lease_ttl: Option<u64>,
    pub metrics_addr: Option<String>,
    pub workers: Option<u32>,
    pub mbufs: Option<u32>,
    pub log_level: Option<String>,
    /// EAL arguments (without a program name), used when none follow `--`.
    #[serde(default)]
    pub eal: Vec<String>,
}

/// toml's error text, which quotes the line at fault, unless the file
/// may hold a password (a key that names one, spelled right or not): then
/// the place and the key of that line only, and the message with every
/// quoted part that is not a key name (a number toml read, say) as `***`.
/// A password's line is not the only one an error can quote (a multi-line
/// string ends lines later), and toml quotes values as it read them (`0x..`
/// as decimal), so nothing of a value is shown. The error goes to stderr,
/// under systemd into the journal.
fn parse_error_text(text: &str, e: &toml::de::Error) -> String {
    let full = e.to_string().trim_end().to_owned();
    let secret_key = |line: &str| {
        line.split_once('=').is_some_and(|(key, _)| {
            let key = key.to_ascii_lowercase();
            ["pas", "pw", "secret"].iter().any(|k| key.contains(k))
        })
    };
    if !text.lines().any(secret_key) {
        return full;
    }
    let at = e.span().map_or(0, |s| s.start.min(text.len()));
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let key = text[start..end]
        .split_once('=')
        .map(|(k, _)| format!(", key `{}`", k.trim()))
        .unwrap_or_default();
    let message = mask_quoted(e.message().trim_end());
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[start..at].chars().count() + 1;
    format!(
        "TOML parse error at line {line_no}, column {column}{key} (the line is not shown: the file may hold a password)\n{message}"
    )
}

/// `message` with what it quotes hidden as `***`: every double-quoted
/// string (serde's `string "..."`, its escapes `\"` and `\\` within), and
/// every part in backticks but a key name or a single character (toml
/// lists the escapes it takes in backticks, `"` among them).
fn mask_quoted(message: &str) -> String {
    let key_like = |p: &str| p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(['`', '"']) {
        let quote = char::from(rest.as_bytes()[at]);
        out.push_str(&rest[..=at]);
        let body = &rest[at + 1..];
        let mut escaped = false;
        let close = body.char_indices().find_map(|(i, c)| {
            let closes = c == quote && !escaped;
            escaped = quote == '"' && c == '\\' && !escaped;
            closes.then_some(i)
        });
        let inner = &body[..close.unwrap_or(body.len())];
        let shown = quote == '`' && (inner.chars().count() <= 1 || key_like(inner));
        out.push_str(if shown { inner } else { "***" });
        match close {
            Some(i) => {
                out.push(quote);
                rest = &body[i + 1..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

impl FileConfig {
    /// Parses TOML text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::ParseFile {
            path: path.to_owned(),
            message: parse_error_text(text, &e),
        })
    }

    /// Reads and parses the file (also on SIGHUP, for `log-level`). Only a
    /// regular file of at most [`MAX_CONFIG_FILE_BYTES`] is read: `--config
    /// /dev/zero` or a FIFO would otherwise grow memory without limit or
    /// block. Relative file paths in it (the etcd TLS files) are taken
    /// from the file's directory, not from wherever vxgate was started (`/`
    /// under systemd), so a file and its `tls/` directory move together.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = read_bounded(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let mut file = FileConfig::parse(&text, path)?;
        let dir = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut file.etcd_cafile,
            &mut file.etcd_certfile,
            &mut file.etcd_keyfile,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        Ok(file)
    }
}

/// Largest config file read (1 MiB; the examples are about 1 KiB).
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let not_regular = |meta: &std::fs::Metadata| {
        (!meta.is_file()).then(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("not a regular file (it is {})", kind_of(meta)),
            )
        })
    };
    // Checked before opening: opening a FIFO would block.
    if let Some(e) = not_regular(&std::fs::metadata(path)?) {
        return Err(e);
    }
    let file = std::fs::File::open(path)?;
    if let Some(e) = not_regular(&file.metadata()?) {
        return Err(e);
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "larger than {} MiB, more than a configuration file holds",
                MAX_CONFIG_FILE_BYTES >> 20
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
}

/// "a directory", "a character device", … for messages.
pub(super) fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}
