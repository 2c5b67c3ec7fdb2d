//! Flags + TOML file -> one validated [`Config`], before EAL starts.
//!
//! `vxgate run`'s flags ([`RunArgs`]) and the optional `--config` file
//! ([`FileConfig`], same keys in kebab-case) are merged, flags winning, and
//! checked as a whole: every error names its key, says what is wrong and
//! what to do, and maps to exit code [`CONFIG_EXIT_CODE`].
#![deny(unsafe_code)]

mod args;
mod eal;
mod eal_devices;
mod eal_options;
mod endpoint;
mod error;
mod file;
mod log_level;
mod tls;
mod types;
mod validate;

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

pub use args::{RunArgs, PASSWORD_ENV};
pub use eal::{
    allowed_cpu_list, default_lcore_count, lcore_count, lcore_option_for, LcoreArgError, MAX_LCORE,
};
pub use error::{ConfigError, CONFIG_EXIT_CODE};
pub use file::{Endpoints, FileConfig, MAX_CONFIG_FILE_BYTES};
pub use log_level::{check_log_level, LOG_LEVELS, LOG_LEVEL_FIX};
pub use types::{
    canonical_device_name, device_name_arg, format_mac, parse_mac, parse_unicast_mac, CidrError,
    DeviceRef, Ipv4Cidr, MacError, Side, StaticNeighbor,
};
pub use validate::{access_ip_on_an_edge, port_mtu};

/// Whether EAL, with `eal_args`, would give each port of `ports` (flag
/// key, device name or port id): a `net_` name needs its `--vdev`, a PCI
/// address must be on this machine and not kept from EAL (`--no-pci`, `-b`,
/// another `-a`); a port id is left to EAL's numbering. Every command that
/// opens ports (`run`, `fwd`, `pktgen`) checks it before EAL (exit 2).
fn check_port_devices(
    ports: &[(&'static str, &str)],
    eal_args: &[String],
) -> Result<(), ConfigError> {
    for &(key, name) in ports {
        if name.bytes().all(|b| b.is_ascii_digit()) {
            continue; // a port id: EAL's numbering decides
        }
        if let Some((problem, fix)) =
            eal_devices::device_missing(eal_args, name, eal_devices::pci_present)
        {
            return Err(ConfigError::invalid(key, name, problem, fix));
        }
    }
    Ok(())
}

/// What `fwd` and `pktgen` check before EAL, as `run` does
/// (`Config::check_eal_args`, `Config::check_devices`): EAL's options, the
/// lcores' CPUs, and each port of `ports` (flag key, name or id).
pub fn check_before_eal(
    eal_args: &[String],
    ports: &[(&'static str, &str)],
) -> Result<(), ConfigError> {
    check_eal_options(eal_args)?;
    check_lcore_cpus(eal_args)?;
    check_port_devices(ports, eal_args)
}

/// Whether EAL would take its arguments: each option one of EAL's, with
/// the value it needs (`eal_options`). Every command that starts EAL
/// checks it first (exit 2): EAL would fail with only its usage text.
fn check_eal_options(eal_args: &[String]) -> Result<(), ConfigError> {
    eal_options::check(eal_args).map_err(|(problem, fix)| {
        ConfigError::invalid("eal", eal::shorten(&eal_args.join(" ")), problem, fix)
    })
}

/// Whether every CPU the EAL arguments place an lcore on is online: EAL
/// would fail on one that is not with only its usage text. Every command
/// that starts EAL (`run`, `fwd`, `pktgen`) checks it first (exit 2).
fn check_lcore_cpus(eal_args: &[String]) -> Result<(), ConfigError> {
    match eal::cpu_not_online(eal_args) {
        None => Ok(()),
        Some((cpu, online)) => Err(ConfigError::invalid(
            "eal",
            eal::shorten(&eal_args.join(" ")),
            format!("an lcore would run on CPU {cpu}, which this machine does not have online (its CPUs: {online}); EAL would fail with \"lcore {cpu} unavailable\""),
            format!("use lcores of CPUs {online}, or place several lcores on them with --lcores (e.g. --lcores 0@0,1@1,2@1: lcores sharing a CPU run slower)"),
        )),
    }
}

/// The default etcd endpoint: etcd's client port (flanneld's default also
/// lists the legacy 4001, which etcd 3 no longer listens on).
pub const DEFAULT_ETCD_ENDPOINT: &str = "http://127.0.0.1:2379";
/// flanneld's default key prefix.
pub const DEFAULT_ETCD_PREFIX: &str = "/coreos.com/network";
/// Minutes before expiry at which the own lease is renewed (flanneld: 60).
pub const DEFAULT_RENEW_MARGIN_MIN: u32 = 60;
/// flanneld's range for the renew margin, in minutes.
pub const RENEW_MARGIN_RANGE_MIN: std::ops::RangeInclusive<u32> = 1..=1439;
/// Lease TTL in seconds (flanneld: 24 h).
pub const DEFAULT_LEASE_TTL_S: u64 = 86_400;
/// The shortest own-lease TTL taken: etcd's shortest lease is 2 s with
/// its default election timeout (a shorter request is granted 2 s while
/// vxgate would count on less), and renewing at half the TTL then leaves
/// 2 s for etcd to answer each renewal.
pub const MIN_LEASE_TTL_S: u64 = 4;
/// The longest lease TTL etcd grants (its `MaxLeaseTTL`): a longer one is
/// refused at grant time, after EAL has started.
pub const MAX_LEASE_TTL_S: u64 = 9_000_000_000;
pub const DEFAULT_MBUFS: u32 = 65_535;
/// Largest `--mbufs` accepted: the most one mempool may hold.
pub use crate::dpdk::MAX_MBUFS;
/// MTUs `underlay-mtu` and `access-mtu` take.
pub use crate::dpdk::PORT_MTU_RANGE;
pub const DEFAULT_WORKERS: u16 = 1;
/// Mbufs each worker needs per port: 1024 RX descriptors + 1024 TX
/// descriptors that can be in flight. `--mbufs` must be at least
/// `2 * workers * MBUFS_PER_PORT_AND_WORKER`.
pub const MBUFS_PER_PORT_AND_WORKER: u32 = 2048;

/// One validated configuration of `vxgate run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub underlay_dev: DeviceRef,
    /// PublicIP of the lease and the underlay port's address.
    pub underlay_ip: Ipv4Cidr,
    /// On the underlay prefix, not the underlay IP.
    pub underlay_gateway: Option<Ipv4Addr>,
    /// In [`PORT_MTU_RANGE`]; `None`: the port's own.
    pub underlay_mtu: Option<u16>,
    pub access_dev: DeviceRef,
    /// A host address whose prefix lies inside `subnet` (when given). `None`:
    /// the subnet's first host, see [`Config::access_ip_for`].
    pub access_ip: Option<Ipv4Cidr>,
    /// A network address (host bits zero) that does not overlap the
    /// underlay prefix. `None`: acquire one from etcd.
    pub subnet: Option<Ipv4Cidr>,
    /// In [`PORT_MTU_RANGE`]; `None`: the port's own.
    pub access_mtu: Option<u16>,
    /// Unicast. `None`: [`default_vtep_mac`] once the VNI is known.
    pub vtep_mac: Option<[u8; 6]>,
    /// Distinct (side, ip) pairs; underlay ones on the underlay prefix.
    pub neighbors: Vec<StaticNeighbor>,
    pub etcd: EtcdConfig,
    pub subnet_lease_renew_margin: Duration,
    /// Longer than the renew margin.
    pub subnet_lease_ttl: Duration,
    pub metrics_addr: Option<SocketAddr>,
    /// 1 ..= EAL lcores - 1 (when the EAL args name lcores).
    pub workers: u16,
    /// At least `2 * workers * MBUFS_PER_PORT_AND_WORKER`, at most
    /// [`MAX_MBUFS`].
    pub mbufs: u32,
    /// A valid tracing filter from `--log-level` or the file, in the
    /// syntax of [`check_log_level`]; `None`:
    /// RUST_LOG, else `info` (see `ops::logging`).
    pub log_level: Option<String>,
    /// `log_level` came from `--log-level` (it then outranks the file's
    /// `log-level` on SIGHUP too).
    pub log_level_from_flag: bool,
    /// The `--config` file, kept so SIGHUP can re-read `log-level`.
    pub config_file: Option<PathBuf>,
    /// EAL arguments without a program name.
    pub eal_args: Vec<String>,
    /// `--check-config`: check, say so, and exit before EAL.
    pub check_only: bool,
}

/// How to reach etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdConfig {
    /// At least one `http://` or `https://` URL: a host (IPv4, `[IPv6]` or
    /// DNS name), an optional port, no user info or path.
    pub endpoints: Vec<String>,
    /// Starts with `/`, no trailing `/`.
    pub prefix: String,
    pub tls: Option<EtcdTls>,
    pub auth: Option<EtcdAuth>,
}

/// TLS material; given only with `https://` endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdTls {
    pub ca_file: Option<PathBuf>,
    /// Client certificate and its key, always both.
    pub identity: Option<TlsIdentity>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsIdentity {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// etcd user and password, always both.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for EtcdAuth {
    // Keeps the password out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdAuth")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Config {
    /// Parses the arguments that follow `vxgate run` (no program name),
    /// reads `--config` when given, merges and validates.
    pub fn from_args<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let argv =
            std::iter::once(OsString::from("vxgate run")).chain(args.into_iter().map(Into::into));
        let cli = args::RunCli::try_parse_from(argv)?;
        Config::from_run_args(cli.args)
    }

    /// What a start checks before etcd and EAL (and `--check-config` too):
    /// EAL would take its arguments (every option one of EAL's, with its
    /// value), every CPU they place an lcore on is online, and EAL would
    /// give both ports (a `net_` device needs its `--vdev`, a PCI address
    /// must be on this machine and not kept from EAL by `--no-pci`, `-b` or
    /// another `-a`). The CPUs and devices are checks of the machine, not of
    /// the configuration's form, so they are not made when the flags are
    /// parsed. EAL, or the port lookup after it, would fail with its usage
    /// text, "lcore N unavailable" or "unknown device" (exit 1, which a
    /// service manager restarts forever); this is exit 2. `fwd` and
    /// `pktgen` make the same checks (`config::check_before_eal`).
    pub fn check_before_eal(&self) -> Result<(), ConfigError> {
        let (underlay, access) = (self.underlay_dev.to_string(), self.access_dev.to_string());
        check_before_eal(
            &self.eal_args,
            &[("underlay", &underlay), ("access", &access)],
        )
    }

    /// Reads `args.config` when given, then merges and validates.
    pub fn from_run_args(args: RunArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => Some(FileConfig::load(path)?),
            None => None,
        };
        Config::from_parts(args, file)
    }

    /// Merges flags over an already-parsed file (flags win; a non-empty
    /// `--neighbor` list or EAL list replaces the file's) and validates.
    pub fn from_parts(args: RunArgs, file: Option<FileConfig>) -> Result<Config, ConfigError> {
        validate::build(args, file.unwrap_or_default())
    }

    /// Checks that the files the configuration names (etcd TLS) are
    /// readable regular files holding the expected PEM blocks (a
    /// certificate in the CA and cert files, a private key in the key
    /// file) that the etcd client can use: certificates that parse, a key
    /// its crypto provider loads, and a key that belongs to the client
    /// certificate. Separate from parsing so example files check without
    /// the TLS material present; `vxgate run` calls both before EAL starts.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        tls::check_files(self)
    }

    /// The access address for a subnet: `--access-ip` when given, else the
    /// subnet's first host with the subnet's prefix length.
    pub fn access_ip_for(&self, subnet: Ipv4Cidr) -> Ipv4Cidr {
        self.access_ip.unwrap_or_else(|| {
            Ipv4Cidr::new(subnet.first_host(), subnet.prefix_len()).unwrap_or(subnet)
        })
    }

    /// Checks the access neighbours against our subnet and access address
    /// once they are known (from etcd's SubnetLen, before EAL starts): exit
    /// 2 if one is not a host of the access link or is our own address.
    pub fn check_access_neighbors(
        &self,
        subnet: Ipv4Cidr,
        access_ip: Ipv4Cidr,
    ) -> Result<(), ConfigError> {
        validate::access_neighbors_on(self, subnet, access_ip)
    }

    /// The access neighbours against flannel's Network, before EAL starts
    /// and before a subnet is acquired: whatever subnet we get lies inside
    /// Network, so a neighbour outside it can be refused at once (the
    /// rest is checked against the subnet once it is known).
    pub fn check_access_neighbors_in_network(&self, network: Ipv4Cidr) -> Result<(), ConfigError> {
        validate::access_neighbors_in_network(self, network)
    }

    /// `--vtep-mac` when given, else [`default_vtep_mac`] for this VNI.
    pub fn vtep_mac_for(&self, vni: u32) -> [u8; 6] {
        self.vtep_mac
            .unwrap_or_else(|| default_vtep_mac(self.underlay_ip.addr(), vni))
    }

    /// Smallest `--mbufs` accepted for `workers` workers.
    pub fn min_mbufs(workers: u16) -> u32 {
        2 * u32::from(workers) * MBUFS_PER_PORT_AND_WORKER
    }
}

/// The default VtepMAC: `0e:<VNI low byte>:<underlay IP, 4 bytes>`.
///
/// 0x0e has the locally-administered bit set and the multicast bit clear,
/// so the MAC is unicast and cannot collide with a vendor MAC; it depends
/// only on the underlay IP and VNI, so it survives restarts and peers keep
/// their neighbour/FDB entries. The VNI comes from `<prefix>/config`, so the
/// control plane calls this after reading it.
pub fn default_vtep_mac(underlay_ip: Ipv4Addr, vni: u32) -> [u8; 6] {
    let ip = underlay_ip.octets();
    [0x0e, vni.to_be_bytes()[3], ip[0], ip[1], ip[2], ip[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtep_mac_is_local_unicast_and_stable() {
        let mac = default_vtep_mac(Ipv4Addr::new(172, 28, 147, 40), 1);
        assert_eq!(mac, [0x0e, 0x01, 172, 28, 147, 40]);
        assert_eq!(mac[0] & 0x01, 0, "unicast");
        assert_eq!(mac[0] & 0x02, 0x02, "locally administered");
        assert_eq!(parse_unicast_mac(&format_mac(&mac)), Ok(mac));
    }
}
