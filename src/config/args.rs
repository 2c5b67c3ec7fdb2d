//! `vxgate run` flags. Every field is optional here so that a value from
//! the config file can be told apart from a default; defaults are applied
//! (and stated in each help text) when flags and file are merged.
use std::path::PathBuf;

pub(crate) const RUN_AFTER_HELP: &str = "\
Arguments after `--` go to DPDK's EAL unchanged, e.g.
  vxgate run --underlay 0000:3b:00.0 --underlay-ip 172.28.147.40/28 \\
             --access 0000:3b:00.1 --etcd-endpoints http://10.0.0.5:2379 \\
             -- -l 0-2 -n 4 -a 0000:3b:00.0 -a 0000:3b:00.1
The main lcore (the lowest lcore id, or EAL's --main-lcore) runs the control
plane; every further lcore can run one worker, so --workers must be at most
the lcore count minus one (without -l/-c/--lcores, EAL makes one lcore per
CPU vxgate may run on).

A TOML file (--config) holds the same keys as the flags, spelled the same way
without the leading dashes (underlay-ip = \"172.28.147.40/28\",
neighbor = [\"access,10.244.255.10,02:00:00:00:00:0a\"], eal = [\"-l\", \"0-2\"]).
Flags override the file; `eal` is used when nothing follows `--`.
Examples: dpdk-config/appliance.toml, dpdk-config/ci-tap.toml.

Exit codes: 0 clean stop (SIGINT/SIGTERM), 1 runtime failure (also a network
config in etcd that vxgate cannot serve), 2 bad flags or config file (found
before EAL starts, also against etcd's network config), 130/143 a second SIGINT/SIGTERM
during shutdown (1 s or more after the first; one sooner is taken for a copy), 134 a bug (release builds abort on a panic).";

/// Flags of `vxgate run` (see SPEC "Operations"). Turn them into a
/// validated [`crate::config::Config`] with
/// [`Config::from_run_args`](crate::config::Config::from_run_args).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
#[command(after_long_help = RUN_AFTER_HELP)]
pub struct RunArgs {
    /// Underlay (VXLAN) port: PCI address, vdev name or DPDK port id.
    ///
    /// The port facing the Kubernetes nodes. Required (flag or file).
    /// Example: --underlay 0000:3b:00.0, --underlay net_tap0, --underlay 0
    #[arg(long, value_name = "DEV")]
    pub underlay: Option<String>,

    /// Underlay IPv4 address with prefix length; the VTEP's PublicIP.
    ///
    /// Registered in etcd as the lease's PublicIP; the prefix says which
    /// nodes are on-link (resolved by ARP). Required.
    /// Example: --underlay-ip 172.28.147.40/28
    #[arg(long, value_name = "IP/LEN")]
    pub underlay_ip: Option<String>,

    /// Next hop for underlay destinations that are not on-link.
    ///
    /// Must lie inside --underlay-ip's prefix. Default: none (every node
    /// must be on-link). Example: --underlay-gateway 172.28.147.33
    #[arg(long, value_name = "IP")]
    pub underlay_gateway: Option<String>,

    /// MTU to set on the underlay port (default: the port's own).
    ///
    /// DPDK's default is 1500. From 576 to 9600; packet buffers grow to
    /// hold a whole frame. flannel's nodes use their interface's MTU (or
    /// Backend.MTU) less 50 for flannel.1: give the same underlay MTU
    /// here. Example: --underlay-mtu 9000
    #[arg(allow_negative_numbers = true, long, value_name = "N")]
    pub underlay_mtu: Option<u32>,

    /// Access port: PCI address, vdev name or DPDK port id.
    ///
    /// The port facing the bare-metal hosts. Required.
    /// Example: --access 0000:3b:00.1
    #[arg(long, value_name = "DEV")]
    pub access: Option<String>,

    /// Gateway address on the access port, with prefix length (default:
    /// the subnet's first host).
    ///
    /// The first host is .1, like flannel's cni0. With --subnet it must
    /// lie inside it; without, vxgate claims the subnet of flannel's
    /// SubnetLen around it. The prefix length is at least the subnet's;
    /// the access link is the whole subnet either way.
    /// Example: --access-ip 10.244.255.1/24
    #[arg(long, value_name = "IP/LEN")]
    pub access_ip: Option<String>,

    /// MTU to set on the access port, the hosts' link MTU (default: the
    /// port's own).
    ///
    /// DPDK's default is 1500. From 576 to 9600.
    /// Example: --access-mtu 9000
    #[arg(allow_negative_numbers = true, long, value_name = "N")]
    pub access_mtu: Option<u32>,

    /// Subnet to claim in etcd, inside flannel's Network, of its SubnetLen
    /// (default: a free one, as flanneld).
    ///
    /// The one acquired is reused after a restart with the same PublicIP.
    /// Example: --subnet 10.244.255.0/24
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,

    /// VtepMAC announced in the lease (default: derived from the underlay
    /// IP and VNI).
    ///
    /// Derived as 0e:<VNI low byte>:<IP bytes>, so it is stable across
    /// restarts.
    /// Example: --vtep-mac 0e:01:ac:1c:93:28
    #[arg(long, value_name = "MAC")]
    pub vtep_mac: Option<String>,

    /// Static neighbour PORT,IP,MAC (PORT is underlay or access); repeatable.
    ///
    /// For links that cannot answer ARP (appliances, traffic generators).
    /// Given on the command line, replaces the file's list. Default: none.
    /// Example: --neighbor access,10.244.255.10,02:00:00:00:00:0a
    #[arg(long, value_name = "PORT,IP,MAC")]
    pub neighbor: Vec<String>,

    /// Comma-separated etcd endpoint URLs (default http://127.0.0.1:2379).
    ///
    /// http:// or https://, a host (IPv4, [IPv6] or DNS name) and an
    /// optional port; no path, no user:password@ (use --etcd-username and
    /// --etcd-password). The default is etcd's client port; flanneld's also
    /// lists the legacy port 4001, unused since etcd 3. List every member:
    /// vxgate talks to one at a time and moves to the next when it cannot
    /// reach it.
    /// Example: --etcd-endpoints https://10.0.0.5:2379,https://10.0.0.6:2379
    #[arg(long, value_name = "URLS")]
    pub etcd_endpoints: Option<String>,

    /// etcd key prefix of the flannel network (default /coreos.com/network).
    ///
    /// Reads <prefix>/config and <prefix>/subnets/.
    /// Example: --etcd-prefix /coreos.com/network
    #[arg(long, value_name = "P")]
    pub etcd_prefix: Option<String>,

    /// PEM CA bundle that verifies the etcd servers (https endpoints).
    ///
    /// Default: the system's trust roots (SSL_CERT_FILE, SSL_CERT_DIR or
    /// /etc/ssl/certs). Example: --etcd-cafile /etc/vxgate/tls/ca.pem
    #[arg(long, value_name = "FILE")]
    pub etcd_cafile: Option<PathBuf>,

    /// PEM client certificate for etcd; needs --etcd-keyfile.
    ///
    /// Default: none. Example: --etcd-certfile /etc/vxgate/tls/client.pem
    #[arg(long, value_name = "FILE")]
    pub etcd_certfile: Option<PathBuf>,

    /// PEM private key of --etcd-certfile.
    ///
    /// Default: none. Example: --etcd-keyfile /etc/vxgate/tls/client-key.pem
    #[arg(long, value_name = "FILE")]
    pub etcd_keyfile: Option<PathBuf>,

    /// etcd user name; needs a password (--etcd-password,
    /// VXGATE_ETCD_PASSWORD or the file's etcd-password).
    ///
    /// Default: none (no authentication). Example: --etcd-username vxgate
    #[arg(long, value_name = "U")]
    pub etcd_username: Option<String>,

    /// etcd password (prefer the VXGATE_ETCD_PASSWORD environment variable
    /// or the config file: command lines are visible to other users).
    ///
    /// The flag, then the variable, then the file's etcd-password; an empty
    /// flag or variable counts as none (the file's is used). Default: none.
    #[arg(
        long,
        value_name = "P",
        env = PASSWORD_ENV,
        hide_env_values = true
    )]
    pub etcd_password: Option<String>,

    /// Renew the own lease this many minutes before it expires (1-1439,
    /// default 60).
    ///
    /// Renewal comes this margin before expiry whatever its share of the
    /// TTL, as in flanneld (whose default 60 is this one); a margin given
    /// must be below the TTL (left at its default, a shorter TTL is renewed
    /// at half the TTL).
    /// Example: --subnet-lease-renew-margin 60
    #[arg(allow_negative_numbers = true, long, value_name = "MIN")]
    pub subnet_lease_renew_margin: Option<u32>,

    /// TTL of the own lease in seconds (default 86400).
    ///
    /// From 4 to 9000000000 (etcd's limit). The default is flanneld's 24 h;
    /// lower it only for tests: a TTL not above the renew margin is renewed
    /// at half the TTL, unless the margin was given (then it is refused).
    /// Example: --subnet-lease-ttl 86400
    #[arg(allow_negative_numbers = true, long, value_name = "S")]
    pub subnet_lease_ttl: Option<u64>,

    /// Serve Prometheus metrics at http://ADDR/metrics, and the probes
    /// /healthz (liveness) and /readyz (forwarding with a subnet held)
    /// (default: off).
    ///
    /// Example: --metrics-addr 127.0.0.1:9477 ([::1]:9477 for IPv6)
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// Number of worker lcores, each owning one RX and one TX queue per
    /// port (default 1).
    ///
    /// At most the EAL lcore count minus one (the main lcore runs the
    /// control plane). Example: --workers 4 with -- -l 0-4
    #[arg(allow_negative_numbers = true, long, value_name = "N", value_parser = workers_arg)]
    pub workers: Option<u32>,

    /// Mbufs in the packet pool (default 65535).
    ///
    /// At least 4096 per worker (2048 per port and worker:
    /// 1024 RX + 1024 TX descriptors), at most 16777216 (2^24); raise it for net_pcap infinite_rx
    /// replays, which keep the whole capture in mbufs. Example: --mbufs 131071
    #[arg(allow_negative_numbers = true, long, value_name = "N", value_parser = mbufs_arg)]
    pub mbufs: Option<u32>,

    /// TOML configuration file with the same keys as these flags.
    ///
    /// Default: none. Example: --config /etc/vxgate/vxgate.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log filter: a level (error, warn, info, debug, trace, off) or
    /// comma-separated directives, each a level or TARGET=LEVEL (default
    /// RUST_LOG, else info).
    ///
    /// Any other word is refused (tracing would read it as a target name
    /// and log nothing else). SIGHUP re-reads `log-level` from the
    /// config file, unless it is given here (the flag outranks the file). Example: --log-level debug, --log-level vxgate::control=debug,info
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Check the configuration and exit, as `nginx -t` does: the flags and
    /// the file, the EAL arguments (lcores on CPUs that exist; each port a
    /// --vdev or a PCI device EAL may probe), the hugepages (free, mounted,
    /// as many free as -m / --socket-mem ask for), then etcd's network
    /// config (read within 10 s), whether --subnet is free, and whether
    /// the etcd user may write the lease (nothing is written).
    ///
    /// Starts neither EAL nor the ports, takes no lease and keeps no
    /// metrics port (it binds --metrics-addr and closes it at once: an
    /// address in use passes), so it can run beside a live vxgate before a
    /// restart. What only a running EAL finds (a device that will not
    /// probe, a NIC's driver binding) is found at start.
    /// Exit 0 when vxgate would start, 2 for a configuration error, 1 for
    /// etcd's state (unreachable, the subnet held by another node, no
    /// free subnet, a network config vxgate cannot serve), too few
    /// hugepages, or when interrupted.
    /// Example: --config /etc/vxgate/vxgate.toml --check-config
    #[arg(long)]
    pub check_config: bool,

    /// EAL arguments, after `--`. Default: the file's `eal` list.
    #[arg(last = true, value_name = "EAL_ARGS")]
    pub eal: Vec<String>,
}

/// The environment variable that may hold the etcd password.
pub const PASSWORD_ENV: &str = "VXGATE_ETCD_PASSWORD";

/// Standalone parser for `vxgate run`, used by [`crate::config::Config::from_args`].
#[derive(clap::Parser, Debug)]
#[command(
    name = "vxgate run",
    about = "Run the VXLAN gateway: join the flannel overlay as a VTEP and serve the lease's subnet on the access port"
)]
pub(crate) struct RunCli {
    #[command(flatten)]
    pub args: RunArgs,
}

/// `--workers` as a number; its range against the EAL lcores is checked
/// with the rest of the configuration. A value that is no count at all is
/// refused here with the range that could work, not the integer type's.
fn workers_arg(s: &str) -> Result<u32, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "`{s}` is not a number of workers: give a whole number from 1 to {}",
            crate::config::MAX_LCORE - 1
        )
    })
}

/// `--mbufs` as a number, as `workers_arg`.
fn mbufs_arg(s: &str) -> Result<u32, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "`{s}` is not a number of mbufs: give a whole number from {} (per worker) to {}",
            2 * crate::config::MBUFS_PER_PORT_AND_WORKER,
            crate::config::MAX_MBUFS
        )
    })
}
