//! Lease changes from etcd into the lookup tables (runs on the control
//! thread; the workers see each change as soon as the write returns).
use tracing::{debug, warn};

use crate::control::{LeaseAttrs, LeaseSink, Subnet};
use crate::table::LeaseTables;

pub struct TableSink {
    pub tables: LeaseTables,
    pub subnet_len: u8,
    pub own: Option<Subnet>,
}

impl LeaseSink for TableSink {
    fn upsert(&mut self, subnet: Subnet, lease: &LeaseAttrs) {
        if Some(subnet) == self.own {
            return; // our own subnet is served locally, never tunnelled
        }
        if subnet.len != self.subnet_len {
            // Lookups mask destinations with SubnetLen: a lease of another
            // length could never match. flanneld would not write one.
            warn!(%subnet, subnet_len = self.subnet_len, "lease length differs from SubnetLen; ignored");
            return;
        }
        debug!(%subnet, public_ip = %lease.public_ip, "lease installed");
        self.tables.upsert_lease(
            u32::from(subnet.addr),
            u32::from(lease.public_ip),
            lease.vtep_mac,
        );
    }

    fn remove(&mut self, subnet: Subnet) {
        debug!(%subnet, "lease removed");
        self.tables.remove_lease(u32::from(subnet.addr));
    }

    fn own_subnet(&mut self, subnet: Subnet) {
        self.own = Some(subnet);
        self.tables.remove_lease(u32::from(subnet.addr));
    }
}
