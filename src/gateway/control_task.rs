//! The control plane's task on its runtime: leases watched from etcd into
//! the tables (and ours renewed) until shutdown, then let go.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::error;

use super::sink::TableSink;
use crate::config::Config;
use crate::control::{Control, ControlError, OwnLease};
use crate::pipeline::context::Context;
use crate::table::LeaseTables;

/// Where the control plane writes the leases: `tables`, knowing our own
/// lease, address and VtepMAC, and the underlay's prefix.
pub(super) fn lease_sink(
    cfg: &Config,
    tables: LeaseTables,
    own: &OwnLease,
    vtep_mac: [u8; 6],
    ctx: &Context,
) -> TableSink {
    TableSink {
        tables,
        own: Some(own.subnet),
        own_ip: cfg.underlay_ip.addr(),
        own_vtep_mac: vtep_mac,
        underlay: ctx.cfg.underlay_prefix,
        repeat_log: Default::default(),
    }
}

/// Runs the control plane on `rt` into `table_sink` until `shutdown` is
/// notified; an error that ends it is logged.
pub(super) fn spawn_control(
    rt: &tokio::runtime::Runtime,
    control: Control,
    mut table_sink: TableSink,
    shutdown: &Arc<Notify>,
) -> JoinHandle<Result<(), ControlError>> {
    let shutdown = Arc::clone(shutdown);
    rt.spawn(async move {
        let r = control.run(&mut table_sink, shutdown.notified()).await;
        if let Err(e) = &r {
            error!("control plane stopped: {e}");
        }
        r
    })
}

/// Tells the control plane to let go (our lease stays in etcd) and gives
/// it half a second to.
pub(super) fn stop_control(
    rt: &tokio::runtime::Runtime,
    shutdown: &Notify,
    control_task: JoinHandle<Result<(), ControlError>>,
) {
    shutdown.notify_waiters();
    shutdown.notify_one();
    let _ =
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(500), control_task).await });
}
