//! [`PktgenArgs::validate`]: every flag in range, no contradiction, before EAL starts.

use super::addresses::{check_host_addr, last_host};
use super::limits::{
    MAX_COUNT, MAX_DRAIN_MS, MAX_DURATION_S, MAX_FLOWS, MAX_LINE_RATE_MBPS, MAX_MBUFS,
    MAX_PCAP_FLOWS, MAX_RATE_PPS, MAX_SIZE, MAX_WARMUP_MS, MIN_DURATION_S, MIN_LINE_RATE_MBPS,
    MIN_MBUFS, MIN_RATE_PPS, RING_DESC,
};
use super::PktgenArgs;
use crate::config::ConfigError;
use crate::pktgen::flows::{vtep_ip, FlowPlan, Mode};

/// A number as a person would type it (1e10, 0.5, 1e-320).
pub(super) fn num(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-4..1e9).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Checks that `v` (flag `key`) is a number in `lo..=hi` (`unit` names it).
fn in_range(key: &'static str, v: f64, lo: f64, hi: f64, unit: &str) -> Result<(), ConfigError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        return Ok(());
    }
    let problem = if v.is_nan() {
        "not a number".to_string()
    } else if v < lo {
        format!("below the minimum, {} {unit}", num(lo))
    } else {
        format!("above the maximum, {} {unit}", num(hi))
    };
    Err(ConfigError::invalid(
        key,
        num(v),
        problem,
        format!("give --{key} from {} to {}", num(lo), num(hi)),
    ))
}

impl PktgenArgs {
    /// Checks the flags that do not need EAL: every numeric flag within its
    /// range, no contradictory combination. Errors exit with code 2.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let size = self.frame_size();
        let min = FlowPlan::min_frame_len(self.mode) as u32 + 4;
        if size < min || size > MAX_SIZE {
            return Err(ConfigError::invalid(
                "size",
                size,
                format!(
                    "{} frames need {min} to {MAX_SIZE} bytes (FCS included)",
                    self.mode_name()
                ),
                format!("give --size from {min} to {MAX_SIZE}"),
            ));
        }
        let (max_flows, why) = if self.write_pcap.is_some() {
            (
                MAX_PCAP_FLOWS,
                "a replay pcap holds at most a frame per lease of a million",
            )
        } else {
            (MAX_FLOWS, "flow indices travel in 16 bits")
        };
        if self.flows == 0 || self.flows > max_flows {
            return Err(ConfigError::invalid(
                "flows",
                self.flows,
                why,
                format!("give --flows from 1 to {max_flows}"),
            ));
        }
        check_host_addr(
            "host-ip",
            self.host_ip,
            "the first bare-metal host's address",
        )?;
        if self.hosts == 0 || last_host(self.host_ip, self.hosts).is_none() {
            return Err(ConfigError::invalid(
                "hosts",
                self.hosts,
                format!(
                    "need at least 1, and the hosts from --host-ip {} may not reach \
                     255.255.255.255 (the broadcast address)",
                    self.host_ip
                ),
                format!(
                    "give --hosts from 1 to {} (or a lower --host-ip)",
                    u32::MAX - u32::from(self.host_ip)
                ),
            ));
        }
        Self::check_udp_port("udp-port", self.udp_port)?;
        self.check_network()?;
        let mbufs = self.mbufs();
        if !(MIN_MBUFS..=MAX_MBUFS).contains(&mbufs) {
            return Err(ConfigError::invalid(
                "mbufs",
                mbufs,
                format!(
                    "pktgen needs at least {MIN_MBUFS} (the {RING_DESC}-descriptor RX rings of \
                     both ports and TX ring, bursts and per-lcore caches), a pool holds at most \
                     {MAX_MBUFS}"
                ),
                format!("give --mbufs from {MIN_MBUFS} to {MAX_MBUFS}"),
            ));
        }
        if let Some(r) = self.rate_pps {
            in_range("rate-pps", r, MIN_RATE_PPS, MAX_RATE_PPS, "packets/s")?;
        }
        if let Some(d) = self.duration {
            in_range("duration", d, MIN_DURATION_S, MAX_DURATION_S, "s")?;
        }
        if let Some(c) = self.count {
            if c == 0 || c > MAX_COUNT {
                return Err(ConfigError::invalid(
                    "count",
                    c,
                    "sequence numbers travel in 48 bits",
                    format!("give --count from 1 to {MAX_COUNT}"),
                ));
            }
        }
        self.check_sequence_room()?;
        self.check_src_mac()?;
        if self.drain_ms() > MAX_DRAIN_MS {
            return Err(ConfigError::invalid(
                "drain-ms",
                self.drain_ms(),
                format!("above the maximum, {MAX_DRAIN_MS} ms"),
                format!("give --drain-ms from 0 to {MAX_DRAIN_MS}"),
            ));
        }
        if let Some(w) = self.warmup_ms.filter(|w| *w > MAX_WARMUP_MS) {
            return Err(ConfigError::invalid(
                "warmup-ms",
                w,
                format!("above the maximum, {MAX_WARMUP_MS} ms"),
                format!("give --warmup-ms from 0 to {MAX_WARMUP_MS} (0: no warm-up)"),
            ));
        }
        in_range("trial", self.trial, MIN_DURATION_S, MAX_DURATION_S, "s")?;
        if !(self.resolution > 0.0 && self.resolution <= 100.0) {
            return Err(ConfigError::invalid(
                "resolution",
                num(self.resolution),
                "not a percentage in (0, 100]",
                "give --resolution above 0 and at most 100 (percent of line rate)",
            ));
        }
        if !(0.0..=100.0).contains(&self.loss_tolerance) {
            return Err(ConfigError::invalid(
                "loss-tolerance",
                num(self.loss_tolerance),
                "not a percentage in [0, 100]",
                "give --loss-tolerance from 0 to 100 (percent of frames sent)",
            ));
        }
        if let Some(m) = self.line_rate_mbps {
            in_range(
                "line-rate-mbps",
                m,
                MIN_LINE_RATE_MBPS,
                MAX_LINE_RATE_MBPS,
                "Mb/s",
            )?;
        }
        if let Some(m) = self.min_rate_pps {
            in_range("min-rate-pps", m, MIN_RATE_PPS, MAX_RATE_PPS, "packets/s")?;
        }
        self.check_rfc2544()?;
        self.check_write_pcap()?;
        crate::config::port_mtu("rx-mtu", self.rx_mtu)?;
        self.check_mode_flags()?;
        let (vteps, vtep_base, gw_ip, vni) =
            (self.vteps(), self.vtep_base(), self.gw_ip(), self.vni());
        match self.mode {
            Mode::Inner => {
                self.check_dst_subnets()?;
                // With --dst-subnets, --leases is not used; a value out of
                // range is still a mistake worth saying.
                if self.dst_subnets.is_empty() || self.leases.is_some() {
                    self.check_lease_count("leases", self.leases())?;
                }
            }
            Mode::Vxlan => {
                if vteps == 0 || vteps > 1 << 24 {
                    return Err(ConfigError::invalid(
                        "vteps",
                        vteps,
                        "VTEP MACs number VTEPs in 24 bits",
                        "give --vteps from 1 to 16777216",
                    ));
                }
                if vni > 0x00ff_ffff {
                    return Err(ConfigError::invalid(
                        "vni",
                        vni,
                        "a VNI has 24 bits",
                        "give --vni from 0 to 16777215",
                    ));
                }
                Self::check_udp_port("vxlan-port", self.vxlan_port())?;
                check_host_addr("gw-ip", gw_ip, "the gateway's underlay IP")?;
                check_host_addr("vtep-base", vtep_base, "VTEP 0's PublicIP")?;
                let first = u32::from(vtep_base);
                if last_host(vtep_base, vteps).is_none() {
                    return Err(ConfigError::invalid(
                        "vteps",
                        vteps,
                        format!(
                            "VTEP addresses from --vtep-base {vtep_base} reach 255.255.255.255 \
                             (the broadcast address)"
                        ),
                        "give fewer --vteps or a lower --vtep-base",
                    ));
                }
                self.check_lease_count("vteps", vteps)?;
                let gw = u32::from(gw_ip);
                if gw >= first && gw - first < vteps {
                    return Err(ConfigError::invalid(
                        "gw-ip",
                        gw_ip,
                        format!(
                            "one of the VTEP addresses {vtep_base}..{}",
                            vtep_ip(vtep_base, vteps - 1)
                        ),
                        "move --vtep-base (or --gw-ip) so that they do not overlap",
                    ));
                }
            }
        }
        Ok(())
    }
}
