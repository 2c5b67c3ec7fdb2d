//! The `/metrics` endpoint in `run`: bound before anything starts, its source swapped, frozen at the end.

use std::net::SocketAddr;
use std::sync::Arc;

use super::stats;
use crate::config::ConfigError;
use crate::control::ControlStatus;
use crate::ops::{MetricsServer, MetricsSource, SwappableSource};

/// `/metrics` from the control plane alone, the data plane's figures at
/// zero: while starting.
pub(super) fn control_source(status: &Arc<ControlStatus>) -> Arc<dyn MetricsSource> {
    let status = Arc::clone(status);
    Arc::new(move || stats::control_snapshot(&status))
}

/// Binds `--metrics-addr` before anything else starts: an address that is
/// taken, not ours or not permitted is a config error (exit 2), found before
/// EAL rather than after it, the ports and our lease.
pub(super) fn bind_metrics(
    addr: SocketAddr,
    source: Arc<SwappableSource>,
) -> anyhow::Result<MetricsServer> {
    crate::ops::serve(addr, source).map_err(|e| metrics_bind_error(addr, e))
}

/// `--check-config`'s version of [`bind_metrics`]: binds and closes at
/// once, so an address the start would refuse is refused alike. In use is
/// fine: the check may run beside the live vxgate that holds it.
pub(super) fn check_metrics_addr(addr: SocketAddr) -> anyhow::Result<()> {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Ok(()),
        Err(e) => Err(metrics_bind_error(addr, e)),
    }
}

/// Why `addr` cannot be listened on, as a config error (exit 2) where the
/// operator must change it.
pub(super) fn metrics_bind_error(addr: SocketAddr, e: std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    let problem = match e.kind() {
        ErrorKind::AddrInUse => "cannot listen: the address is already in use",
        ErrorKind::AddrNotAvailable => "cannot listen: no interface of this host has that address",
        ErrorKind::PermissionDenied => {
            "cannot listen: not permitted (a port below 1024 needs CAP_NET_BIND_SERVICE)"
        }
        _ => return anyhow::Error::new(e).context(format!("--metrics-addr {addr}")),
    };
    ConfigError::invalid(
        "metrics-addr",
        addr,
        problem,
        "give --metrics-addr a free HOST:PORT of this host (e.g. 127.0.0.1:9477), or stop what listens there (ss -ltnp)",
    )
    .into()
}

/// When dropped, freezes the data plane's figures in `/metrics` (read
/// once more, then served from memory) beside the control plane's live
/// ones. Dropped after the workers are joined and before the ports are
/// torn down: once it has run, no scrape reads them.
pub(super) struct DataPlaneMetrics {
    pub(super) slot: Arc<SwappableSource>,
    pub(super) status: Arc<ControlStatus>,
}

impl Drop for DataPlaneMetrics {
    fn drop(&mut self) {
        freeze(&self.slot, &self.status, self.slot.snapshot());
    }
}

/// Serves `last`, the data plane's figures, from memory from now on,
/// beside the control plane's live ones.
pub(super) fn freeze(
    slot: &SwappableSource,
    status: &Arc<ControlStatus>,
    last: crate::ops::MetricsSnapshot,
) {
    let status = Arc::clone(status);
    slot.set(Arc::new(move || stats::stopped_snapshot(&last, &status)));
}
