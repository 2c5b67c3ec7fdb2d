//! [`PktgenArgs::plan`]: valid flags turned into the [`FlowPlan`] the frames are built from.

use super::PktgenArgs;
use crate::config::ConfigError;
use crate::pktgen::flows::{self, lease_subnet, FlowPlan, Ipv4Net, Mode};
use crate::pktgen::headers::Mac;
use crate::pktgen::payload;
use crate::pktgen::PktgenError;

impl PktgenArgs {
    /// The lease subnets `0..n` of --network that the flows use, or an
    /// error naming the limit (checked here, where the list is built, before
    /// anything is allocated). Flow `f` uses lease `f % n`, so only the
    /// first min(n, --flows) are built: the frames are the same, and an
    /// allowed n of 2^30 does not allocate gigabytes.
    pub(super) fn leases_of(&self, n: u32, key: &'static str) -> Result<Vec<Ipv4Net>, PktgenError> {
        self.check_lease_count(key, n)?;
        let built = n.min(self.flows);
        let mut nets = Vec::new();
        // Up to 2^20 with --write-pcap: an error, not an abort, if they
        // do not fit.
        nets.try_reserve_exact(built as usize)
            .map_err(|_| flows::NoMemory {
                what: format!("{built} lease subnets"),
                bytes: built as u128 * std::mem::size_of::<Ipv4Net>() as u128,
            })?;
        for i in 0..u64::from(built) {
            nets.push(
                lease_subnet(self.network, self.subnet_len, i).ok_or_else(|| {
                    ConfigError::invalid(key, n, "lease subnet out of range", "check --network")
                })?,
            );
        }
        Ok(nets)
    }

    /// The validated frame plan, with MAC defaults from the ports.
    pub fn plan(&self, default_src: Mac, default_dst: Mac) -> Result<FlowPlan, PktgenError> {
        self.validate()?;
        let dst_nets = match self.mode {
            Mode::Inner if !self.dst_subnets.is_empty() => self.dst_subnets.clone(),
            Mode::Inner => self.leases_of(self.leases(), "leases")?,
            Mode::Vxlan => Vec::new(),
        };
        let vtep_nets = match self.mode {
            Mode::Vxlan => self.leases_of(self.vteps(), "vteps")?,
            Mode::Inner => Vec::new(),
        };
        Ok(FlowPlan {
            mode: self.mode,
            frame_len: self.frame_size() as usize - 4,
            flows: self.flows,
            src_mac: self.src_mac.unwrap_or(default_src),
            dst_mac: self.dst_mac.unwrap_or(default_dst),
            dst_nets,
            host_ip: self.host_ip,
            hosts: self.hosts,
            udp_port: self.udp_port,
            vteps: self.vteps(),
            vtep_base: self.vtep_base(),
            vtep_nets,
            gw_ip: self.gw_ip(),
            gw_vtep_mac: self.gw_vtep_mac(),
            vni: self.vni(),
            vxlan_port: self.vxlan_port(),
            // A live run draws its own (`measure`).
            run_id: payload::PCAP_RUN_ID,
        })
    }
}
