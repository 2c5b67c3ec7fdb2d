//! Traffic generator and measurement: `vxgate pktgen`.
//!
//! TX sends flows of inner (IPv4/UDP) or VXLAN frames built from per-flow
//! templates, paced by the TSC; RX finds the stamp each frame carries
//! (magic, flow, sequence, TSC) and measures loss, reordering and latency.
//! `--rfc2544` searches the zero-loss rate; `--write-pcap` writes benchmark
//! input files without starting EAL. See docs/pktgen.md.
//!
//! Here: [`run`], the command (a pcap written, or a live run measured and
//! printed), and [`write_pcap`]. The rest, by module:
//! - `args`: the flags ([`PktgenArgs`]), their limits and defaults, their
//!   validation and the frame plan they give; no EAL needed;
//! - `error`: [`PktgenError`] and the exit code of each kind;
//! - `measure`: a live run on DPDK ports ([`measure()`]);
//! - [`flows`], [`headers`], [`payload`]: the frames; [`engine`], [`tsc`]:
//!   sending and receiving them; [`meter`], [`rfc2544`], [`report`]: what
//!   is measured and shown; [`pcap`]: the file `--write-pcap` writes.
//!
//! The items of `args`, `error` and `measure` are re-exported here, at the
//! paths callers use (`pktgen::PktgenArgs`, `pktgen::measure`, ...).
//!
//! All of pktgen is safe code: the `deny` below covers every submodule;
//! DPDK's unsafe calls stay in `crate::dpdk`.
#![deny(unsafe_code)]

mod args;
pub mod engine;
mod error;
pub mod flows;
pub mod headers;
mod measure;
pub mod meter;
pub mod payload;
pub mod pcap;
pub mod report;
pub mod rfc2544;
pub mod tsc;

pub use args::{
    PktgenArgs, DEFAULT_DRAIN_MS, DEFAULT_GW_IP, DEFAULT_LEASES, DEFAULT_MBUFS, DEFAULT_VNI,
    DEFAULT_VTEPS, DEFAULT_VTEP_BASE, DEFAULT_VXLAN_PORT, DEFAULT_WARMUP_MS, MAX_COUNT,
    MAX_DRAIN_MS, MAX_DURATION_S, MAX_FLOWS, MAX_LINE_RATE_MBPS, MAX_MBUFS, MAX_PCAP_FLOWS,
    MAX_RATE_PPS, MAX_SIZE, MAX_WARMUP_MS, MEMPOOL_CACHE, MIN_DURATION_S, MIN_LINE_RATE_MBPS,
    MIN_MBUFS, MIN_RATE_PPS, RING_DESC,
};
pub use error::PktgenError;
pub use measure::measure;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::dpdk::Eal;
use args::no_tx_port;

/// `vxgate pktgen`: writes a pcap, or starts EAL, measures and prints.
/// Flag errors exit with code 2 before EAL starts; EAL and port failures
/// with 1.
pub fn run(args: PktgenArgs) -> anyhow::Result<()> {
    args.validate()?;
    if let Some(path) = &args.write_pcap {
        // SIGINT/SIGTERM stop the write (the temporary file is removed, an
        // exit with 130/143); a second one a second later exits at once
        // (a write blocked on a FIFO).
        let signals = crate::ops::signals::install_stop_only()?;
        let n =
            write_pcap_until(&args, || signals.stop_signal()).map_err(PktgenError::into_anyhow)?;
        crate::ops::print_err(&format!(
            "vxgate pktgen: wrote {n} {} frames of {} B to {}",
            args.mode_name(),
            args.frame_size(),
            path.display()
        ));
        return Ok(());
    }
    if args.tx_port.is_none() {
        return Err(no_tx_port().into());
    }
    let ports = [("tx-port", &args.tx_port), ("rx-port", &args.rx_port)];
    let ports: Vec<(&'static str, &str)> = ports
        .iter()
        .filter_map(|&(key, port)| Some((key, port.as_deref()?)))
        .collect();
    crate::config::check_before_eal(&args.eal, &ports)?;
    install_logging();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let eal = Eal::init(&args.eal)?;
    let report = measure(&eal, &args, stop)?;
    let text = if args.json {
        format!("{}\n", report.to_json())
    } else {
        report.to_table()
    };
    drop(eal);
    // A report nobody could read is a failed run, not a crash.
    anyhow::ensure!(
        crate::ops::print_out(&text),
        "the report could not be written to stdout"
    );
    Ok(())
}

/// Writes the pcap of `args` (no EAL); returns the number of frames.
pub fn write_pcap(args: &PktgenArgs) -> Result<u64, PktgenError> {
    write_pcap_until(args, || None)
}

/// [`write_pcap`], stopped once `stop` names a signal (asked before every
/// frame): then [`PktgenError::Interrupted`] and no file written.
pub fn write_pcap_until(
    args: &PktgenArgs,
    stop: impl Fn() -> Option<i32>,
) -> Result<u64, PktgenError> {
    let Some(path) = &args.write_pcap else {
        return Err(ConfigError::invalid(
            "write-pcap",
            "(not given)",
            "no file to write to",
            "give --write-pcap FILE",
        )
        .into());
    };
    let dst = args.dst_mac.ok_or_else(|| {
        ConfigError::invalid(
            "dst-mac",
            "(not given)",
            "--write-pcap has no port to take the destination MAC from",
            "give --dst-mac: the gateway's access (inner) or underlay (vxlan) port MAC",
        )
    })?;
    let plan = args.plan([0x02, 0, 0, 0, 0, 0x01], dst)?;
    let n = args.count.unwrap_or(u64::from(args.flows));
    // Built before the file is created: a run that cannot build them
    // leaves no file behind.
    let tpl = plan.templates()?;
    pcap::write_pcap(path, &tpl, n, || stop().is_some()).map_err(|source| match stop() {
        Some(signal) => PktgenError::Interrupted {
            path: path.clone(),
            signal,
        },
        None => PktgenError::Pcap {
            path: path.clone(),
            source,
        },
    })?;
    Ok(n)
}

/// Logs to stderr (warnings and errors, or what RUST_LOG asks for), so that
/// what the DPDK layer and the workers log (a lost lcore, a port problem)
/// reaches the operator; the report itself goes to stdout.
fn install_logging() {
    use crate::ops::logging::{init, LevelSource};
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let installed = match rust_log.as_deref() {
        Some(l) => init(Some(l), LevelSource::Other, None)
            .or_else(|_| init(Some("warn"), LevelSource::Other, None)),
        None => init(Some("warn"), LevelSource::Other, None),
    };
    if let Err(e) = installed {
        // Only when a logger is already installed (pktgen run in-process).
        crate::ops::print_err(&format!("vxgate pktgen: logging not set up: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::args::tests_support::parse;
    use super::*;

    #[test]
    fn flag_errors_reach_main_as_config_errors() {
        // `main` exits with code 2 for errors that downcast to ConfigError.
        let dir = std::env::temp_dir().join(format!("vxgate-pg-{}.pcap", std::process::id()));
        let pcap = dir.to_str().unwrap();
        for (args, key) in [
            (&["--rate-pps", "0", "--tx-port", "0"][..], "rate-pps"),
            (&["--write-pcap", pcap][..], "dst-mac"),
            (
                &[
                    "--write-pcap",
                    pcap,
                    "--dst-mac",
                    "02:00:00:00:00:02",
                    "--leases",
                    "300",
                ][..],
                "leases",
            ),
            (&[][..], "tx-port"),
        ] {
            let e = run(parse(args).unwrap()).unwrap_err();
            let ce = e
                .downcast_ref::<ConfigError>()
                .unwrap_or_else(|| panic!("{args:?}: not a ConfigError: {e:#}"));
            assert_eq!(ce.key(), Some(key), "{args:?}: {ce}");
            assert_eq!(ce.exit_code(), 2);
        }
        assert!(!dir.exists(), "nothing written");
    }

    #[test]
    fn pcap_needs_a_destination_mac() {
        let a = parse(&["--write-pcap", "/nonexistent/x.pcap"]).unwrap();
        let e = write_pcap(&a).unwrap_err();
        assert_eq!(e.flag(), Some("dst-mac"), "{e}");
    }

    /// A signal during --write-pcap: `Interrupted` naming it and the file,
    /// exit 130/143, nothing left in the directory.
    #[test]
    fn a_signal_stops_write_pcap_with_exit_130_or_143() {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        let a = parse(&[
            "--write-pcap",
            path.to_str().unwrap(),
            "--dst-mac",
            "02:00:00:00:00:02",
            "--count",
            "100000",
        ])
        .unwrap();
        for (signal, code, name) in [(SIGINT, 130, "SIGINT"), (SIGTERM, 143, "SIGTERM")] {
            let asked = std::cell::Cell::new(0);
            let stop = || {
                asked.set(asked.get() + 1);
                (asked.get() > 10).then_some(signal)
            };
            let e = write_pcap_until(&a, stop).unwrap_err();
            assert!(
                matches!(e, PktgenError::Interrupted { signal: s, .. } if s == signal),
                "{e:?}"
            );
            assert_eq!(e.exit_code(), code);
            assert_eq!(
                e.to_string(),
                format!(
                    "interrupted by {name}: {} not written (an earlier file is as it was)",
                    path.display()
                )
            );
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
        // Not stopped: written whole.
        assert_eq!(write_pcap_until(&a, || None).unwrap(), 100_000);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
