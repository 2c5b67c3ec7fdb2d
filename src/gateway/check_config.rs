//! `--check-config`: how long each step against etcd may take, and what it prints when all checked out.

use super::device;
use crate::config::Config;
use crate::control::NetworkConfig;

/// How long `--check-config` waits for etcd's network config.
const CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `f` (a step against etcd): as long as it takes when starting (flanneld
/// waits too), at most `CHECK_WAIT` when only checking.
pub(super) async fn bounded<T, E>(
    check_only: bool,
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: Into<anyhow::Error>,
{
    if !check_only {
        return f.await.map_err(Into::into);
    }
    match tokio::time::timeout(CHECK_WAIT, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => anyhow::bail!(
            "--check-config: {what} did not succeed within {CHECK_WAIT:?} (etcd unreachable, or the config key missing: see the log above)"
        ),
    }
}

/// What `--check-config` prints when everything checked out.
pub(super) fn check_report(cfg: &Config, net: &NetworkConfig, subnet: &str) -> String {
    format!(
        "configuration OK: underlay {} {}, access {}, subnet {subnet}, flannel Network {} (SubnetLen {}, VNI {}, port {}), {} worker(s), {} mbufs; EAL probes the devices at start\n",
        device(&cfg.underlay_dev),
        cfg.underlay_ip,
        device(&cfg.access_dev),
        net.network,
        net.subnet_len,
        net.backend.vni,
        net.backend.port,
        cfg.workers,
        cfg.mbufs,
    )
}
