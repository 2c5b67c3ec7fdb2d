//! The flags with defaults applied, and what follows: frame size, port MTUs, line rate.

use std::net::Ipv4Addr;

use super::limits::{
    DEFAULT_DRAIN_MS, DEFAULT_GW_IP, DEFAULT_LEASES, DEFAULT_MBUFS, DEFAULT_VNI, DEFAULT_VTEPS,
    DEFAULT_VTEP_BASE, DEFAULT_VXLAN_PORT, DEFAULT_WARMUP_MS, FRAME_OVERHEAD, MAX_STANDARD_SIZE,
};
use super::PktgenArgs;
use crate::pktgen::flows::{FlowPlan, Mode};
use crate::pktgen::headers::Mac;
use crate::pktgen::report::L1_OVERHEAD;

impl PktgenArgs {
    pub fn mbufs(&self) -> u32 {
        self.mbufs.unwrap_or(DEFAULT_MBUFS)
    }
    pub fn drain_ms(&self) -> u64 {
        self.drain_ms.unwrap_or(DEFAULT_DRAIN_MS)
    }
    /// The RFC 2544 warm-up (0 without --rfc2544, which has none).
    pub fn warmup_ms(&self) -> u64 {
        if self.rfc2544 {
            self.warmup_ms.unwrap_or(DEFAULT_WARMUP_MS)
        } else {
            0
        }
    }
    pub fn leases(&self) -> u32 {
        self.leases.unwrap_or(DEFAULT_LEASES)
    }
    pub fn vteps(&self) -> u32 {
        self.vteps.unwrap_or(DEFAULT_VTEPS)
    }
    pub fn vtep_base(&self) -> Ipv4Addr {
        self.vtep_base.unwrap_or(DEFAULT_VTEP_BASE)
    }
    pub fn gw_ip(&self) -> Ipv4Addr {
        self.gw_ip.unwrap_or(DEFAULT_GW_IP)
    }
    pub fn gw_vtep_mac(&self) -> Mac {
        self.gw_vtep_mac
            .unwrap_or_else(|| crate::config::default_vtep_mac(self.gw_ip(), self.vni()))
    }
    pub fn vni(&self) -> u32 {
        self.vni.unwrap_or(DEFAULT_VNI)
    }
    pub fn vxlan_port(&self) -> u16 {
        self.vxlan_port.unwrap_or(DEFAULT_VXLAN_PORT)
    }

    /// Frame size with FCS, the mode's default when not given.
    pub fn frame_size(&self) -> u32 {
        self.size
            .unwrap_or_else(|| FlowPlan::min_frame_len(self.mode) as u32 + 4)
    }

    /// The RX port's MTU: `--rx-mtu`, else the TX port's.
    pub fn rx_port_mtu(&self) -> Option<u16> {
        match self.rx_mtu {
            Some(m) => Some(m.min(u32::from(u16::MAX)) as u16),
            None => self.port_mtu(),
        }
    }

    /// The MTU of one port doing both TX and RX: the larger of --rx-mtu and
    /// what the TX frames need (`size - 18`), so never one too small for
    /// them; `None` (left as it is) for standard frames when --rx-mtu is
    /// not larger.
    pub fn shared_port_mtu(&self) -> Option<u16> {
        let need = self.frame_size().saturating_sub(FRAME_OVERHEAD);
        match self.rx_mtu {
            Some(r) if r >= need => Some(r.min(u32::from(u16::MAX)) as u16),
            _ => self.port_mtu(),
        }
    }

    /// The MTU the ports need for jumbo frames; `None`: standard frames,
    /// ports left as they are.
    pub fn port_mtu(&self) -> Option<u16> {
        let size = self.frame_size();
        (size > MAX_STANDARD_SIZE).then(|| (size - FRAME_OVERHEAD).min(u32::from(u16::MAX)) as u16)
    }

    /// `--mode` as typed: `inner` or `vxlan`.
    pub(in crate::pktgen) fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Inner => "inner",
            Mode::Vxlan => "vxlan",
        }
    }

    /// Line rate in packets per second of `mbps` at this frame size.
    pub fn line_rate_pps(&self, mbps: f64) -> f64 {
        mbps * 1e6 / f64::from((self.frame_size() + L1_OVERHEAD) * 8)
    }
}
