//! Flags that contradict each other or that the run would ignore; a missing --tx-port.

use super::limits::{MAX_COUNT, MIN_RATE_PPS};
use super::validate::num;
use super::PktgenArgs;
use crate::config::{format_mac, ConfigError};
use crate::pktgen::flows::Mode;

impl PktgenArgs {
    /// --rate-pps for --duration may not send more frames than 48-bit
    /// sequence numbers count (they would wrap and show as reordered or
    /// late); a --count bounds the run itself.
    pub(super) fn check_sequence_room(&self) -> Result<(), ConfigError> {
        let (Some(rate), Some(secs), None) = (self.rate_pps, self.duration, self.count) else {
            return Ok(());
        };
        if rate * secs <= MAX_COUNT as f64 {
            return Ok(());
        }
        Err(ConfigError::invalid(
            "duration",
            num(secs),
            format!(
                "at --rate-pps {} that is {} frames, more than the 2^48 sequence numbers the \
                 stamp counts in 48 bits",
                num(rate),
                num((rate * secs).floor())
            ),
            format!(
                "give --duration of at most {} s at this rate, a lower --rate-pps, or a --count \
                 of at most {MAX_COUNT}",
                num((MAX_COUNT as f64 / rate).floor())
            ),
        ))
    }

    /// The flags only the other --mode uses would be silently ignored: a
    /// flag given explicitly for the wrong mode is refused.
    pub(super) fn check_mode_flags(&self) -> Result<(), ConfigError> {
        let (mode, other, stray) = match self.mode {
            Mode::Inner => (
                "inner",
                "vxlan",
                vec![
                    ("vteps", self.vteps.map(|v| v.to_string())),
                    ("vtep-base", self.vtep_base.map(|v| v.to_string())),
                    ("gw-ip", self.gw_ip.map(|v| v.to_string())),
                    ("gw-vtep-mac", self.gw_vtep_mac.map(|m| format_mac(&m))),
                    ("vni", self.vni.map(|v| v.to_string())),
                    ("vxlan-port", self.vxlan_port.map(|v| v.to_string())),
                ],
            ),
            Mode::Vxlan => (
                "vxlan",
                "inner",
                vec![
                    (
                        "dst-subnets",
                        (!self.dst_subnets.is_empty()).then(|| {
                            self.dst_subnets
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(",")
                        }),
                    ),
                    ("leases", self.leases.map(|v| v.to_string())),
                ],
            ),
        };
        if let Some((key, Some(v))) = stray.into_iter().find(|(_, v)| v.is_some()) {
            return Err(ConfigError::invalid(
                key,
                v,
                format!("only --mode {other} frames use it, --mode {mode} would ignore it"),
                format!("drop --{key}, or give --mode {other}"),
            ));
        }
        Ok(())
    }

    /// --write-pcap only writes a file: the flags that send, receive or
    /// start EAL would be silently ignored with it, so they are refused.
    pub(super) fn check_write_pcap(&self) -> Result<(), ConfigError> {
        let Some(path) = &self.write_pcap else {
            return Ok(());
        };
        const IGNORED: &str = "--write-pcap writes frames to a file and sends nothing";
        let stray = [
            ("tx-port", self.tx_port.clone()),
            ("rx-port", self.rx_port.clone()),
            ("rx-mtu", self.rx_mtu.map(|m| m.to_string())),
            ("rate-pps", self.rate_pps.map(num)),
            ("duration", self.duration.map(num)),
            ("drain-ms", self.drain_ms.map(|v| v.to_string())),
            ("mbufs", self.mbufs.map(|v| v.to_string())),
            ("warmup-ms", self.warmup_ms.map(|v| v.to_string())),
            ("min-rate-pps", self.min_rate_pps.map(num)),
            ("line-rate-mbps", self.line_rate_mbps.map(num)),
            ("json", self.json.then(|| "true".to_owned())),
        ];
        if let Some((key, Some(v))) = stray.into_iter().find(|(_, v)| v.is_some()) {
            return Err(ConfigError::invalid(
                key,
                v,
                format!("{IGNORED}: --{key} would be ignored"),
                format!("drop --{key}, or drop --write-pcap to send"),
            ));
        }
        if !self.eal.is_empty() {
            return Err(ConfigError::invalid(
                "write-pcap",
                path.display(),
                format!(
                    "{IGNORED} without starting EAL: the EAL arguments after -- would be ignored"
                ),
                "drop the EAL arguments, or drop --write-pcap to send",
            ));
        }
        Ok(())
    }

    /// The RFC 2544 flags: only with --rfc2544, which picks rates and trial
    /// lengths itself; --min-rate-pps not above line rate.
    pub(super) fn check_rfc2544(&self) -> Result<(), ConfigError> {
        if !self.rfc2544 {
            // --trial, --resolution, --loss-tolerance: clap's `requires`.
            const FIXED: &str = " (--rate-pps sets a fixed rate)";
            // With --write-pcap (which refuses --rfc2544 and --rate-pps),
            // refused in check_write_pcap as flags it ignores.
            let sending = |v: Option<f64>| v.filter(|_| self.write_pcap.is_none());
            let stray = [
                ("min-rate-pps", sending(self.min_rate_pps), FIXED),
                ("line-rate-mbps", sending(self.line_rate_mbps), FIXED),
                (
                    "warmup-ms",
                    sending(self.warmup_ms.map(|w| w as f64)),
                    " (a run at a fixed rate has no warm-up)",
                ),
            ];
            if let Some((key, Some(v), hint)) = stray.into_iter().find(|(_, v, _)| v.is_some()) {
                return Err(ConfigError::invalid(
                    key,
                    num(v),
                    "only the RFC 2544 search uses it",
                    format!("add --rfc2544, or drop --{key}{hint}"),
                ));
            }
            return Ok(());
        }
        if let Some(p) = &self.write_pcap {
            return Err(ConfigError::invalid(
                "write-pcap",
                p.display(),
                "--write-pcap writes frames without sending, --rfc2544 sends",
                "drop one of --write-pcap and --rfc2544",
            ));
        }
        let fixed = [
            ("rate-pps", self.rate_pps.map(num)),
            ("duration", self.duration.map(num)),
            ("count", self.count.map(|c| c.to_string())),
        ];
        if let Some((key, Some(v))) = fixed.into_iter().find(|(_, v)| v.is_some()) {
            return Err(ConfigError::invalid(
                key,
                v,
                "--rfc2544 sets the rate and the length of each trial itself",
                format!(
                    "drop --{key} (--trial sets the trial length, --min-rate-pps and \
                     --line-rate-mbps the rates searched), or drop --rfc2544"
                ),
            ));
        }
        if let (Some(min), Some(mbps)) = (self.min_rate_pps, self.line_rate_mbps) {
            self.check_min_rate(min, mbps, "--line-rate-mbps")?;
        }
        Ok(())
    }

    /// --min-rate-pps may not exceed the line rate of `mbps` (from `what`).
    pub fn check_min_rate(&self, min: f64, mbps: f64, what: &str) -> Result<(), ConfigError> {
        let line = self.line_rate_pps(mbps);
        if min > line {
            return Err(ConfigError::invalid(
                "min-rate-pps",
                num(min),
                format!(
                    "above the line rate the search starts at, {} packets/s ({} Mb/s from \
                     {what} at {} B frames)",
                    num(line.floor()),
                    num(mbps),
                    self.frame_size()
                ),
                format!(
                    "give --min-rate-pps from {} to {}",
                    num(MIN_RATE_PPS),
                    num(line.floor().max(MIN_RATE_PPS))
                ),
            ));
        }
        Ok(())
    }
}

/// `--tx-port` missing for a run that sends (not `--write-pcap`).
pub(in crate::pktgen) fn no_tx_port() -> ConfigError {
    ConfigError::invalid(
        "tx-port",
        "(not given)",
        "pktgen needs a port to send on",
        "give --tx-port DEV (a DPDK device name or port id), or --write-pcap FILE to write \
         frames without starting EAL",
    )
}
