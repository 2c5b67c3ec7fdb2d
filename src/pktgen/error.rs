//! [`PktgenError`]: what `vxgate pktgen` fails with, and the exit status
//! `main` gives each kind (2 for a flag error, 130/143 for a `--write-pcap`
//! that SIGINT/SIGTERM stopped, 1 otherwise). A module of its own because
//! the flags, the ports and the pcap writer all return it.

use std::path::PathBuf;

use super::flows;
use crate::config::ConfigError;

/// Why `vxgate pktgen` failed (see [`PktgenError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum PktgenError {
    /// A bad flag or combination of flags (exit code 2, before EAL starts).
    #[error(transparent)]
    Flag(#[from] ConfigError),
    #[error("port {port}: link speed unknown; give --line-rate-mbps for --rfc2544")]
    NoLineRate { port: String },
    #[error(
        "port {port}: link down (after waiting {secs} s), so it has no speed to search up to; \
         connect or enable the link, or give --line-rate-mbps for --rfc2544"
    )]
    LinkDown { port: String, secs: u64 },
    /// A buffer the flags size did not fit in memory (exit 1).
    #[error(transparent)]
    NoMemory(#[from] flows::NoMemory),
    // The cause follows in the error chain (`{:#}`), not here as well.
    #[error("writing {path}")]
    Pcap {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SIGINT/SIGTERM (`signal`) stopped `--write-pcap`: nothing written,
    /// no temporary file left; exits 130/143 ([`PktgenError::exit_code`]).
    #[error(
        "interrupted by {}: {} not written (an earlier file is as it was)",
        signal_name(*signal),
        path.display()
    )]
    Interrupted { path: PathBuf, signal: i32 },
}

fn signal_name(signal: i32) -> &'static str {
    if signal == signal_hook::consts::SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    }
}

impl PktgenError {
    /// The flag at fault, for flag errors.
    pub fn flag(&self) -> Option<&'static str> {
        match self {
            PktgenError::Flag(e) => e.key(),
            _ => None,
        }
    }

    /// The exit status `main` gives this error: 130/143 for a run a
    /// SIGINT/SIGTERM stopped, 2 for flag errors, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            PktgenError::Flag(e) => e.exit_code(),
            PktgenError::Interrupted { signal, .. } => crate::ops::signals::exit_status(*signal),
            _ => 1,
        }
    }

    /// As an `anyhow::Error` whose flag errors still downcast to
    /// [`ConfigError`] (which `main` turns into exit code 2).
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            PktgenError::Flag(e) => e.into(),
            other => other.into(),
        }
    }
}
