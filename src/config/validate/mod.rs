//! Merging flags over the file and checking the result as a whole.
//!
//! Here: `build`, which merges every key and checks the result, and the
//! log-level check it calls. By file: `ports` (the port devices and their
//! MTUs), `addresses` (prefixes, addresses and MACs, and the ranges none
//! may use), `neighbors` (static neighbours on their links), `etcd`
//! (endpoints, prefix, TLS files and credentials) and `workers` (the
//! worker count against EAL's lcores).

mod addresses;
mod etcd;
mod neighbors;
mod ports;
mod workers;

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use addresses::{access_ip, gateway, host_cidr, mac, subnet};
use etcd::{etcd, EtcdInput};
use neighbors::neighbors;
use ports::device;
use workers::workers;

pub use addresses::access_ip_on_an_edge;
pub(super) use neighbors::{access_neighbors_in_network, access_neighbors_on};
pub use ports::port_mtu;

pub(super) fn build(args: RunArgs, file: FileConfig) -> Result<Config, ConfigError> {
    let underlay_dev = device("underlay", args.underlay.or(file.underlay))?;
    let access_dev = device("access", args.access.or(file.access))?;
    if underlay_dev == access_dev {
        return Err(ConfigError::invalid(
            "access",
            &access_dev,
            "it is the same port as underlay",
            "give the access port its own device",
        ));
    }

    let underlay_ip = match args.underlay_ip.or(file.underlay_ip) {
        Some(s) => host_cidr("underlay-ip", &s, "e.g. 172.28.147.40/28")?,
        None => {
            return Err(ConfigError::Missing {
                key: "underlay-ip",
                example: "IP/LEN (e.g. 172.28.147.40/28)",
            })
        }
    };
    let underlay_net = underlay_ip.network();

    let underlay_gateway = args
        .underlay_gateway
        .or(file.underlay_gateway)
        .map(|s| gateway(&s, underlay_ip))
        .transpose()?;

    let subnet = args
        .subnet
        .or(file.subnet)
        .map(|s| subnet(&s, underlay_net))
        .transpose()?;

    let access_ip = args
        .access_ip
        .or(file.access_ip)
        .map(|s| access_ip(&s, subnet, underlay_net))
        .transpose()?;

    let vtep_mac = args
        .vtep_mac
        .or(file.vtep_mac)
        .map(|s| mac("vtep-mac", &s))
        .transpose()?;

    let neighbor_specs = if args.neighbor.is_empty() {
        file.neighbor
    } else {
        args.neighbor
    };
    let neighbors = neighbors(&neighbor_specs, underlay_ip, subnet, access_ip)?;

    let etcd = etcd(EtcdInput {
        endpoints: match args.etcd_endpoints {
            Some(s) => Some(Endpoints::Joined(s)),
            None => file.etcd_endpoints,
        },
        prefix: args.etcd_prefix.or(file.etcd_prefix),
        cafile: args.etcd_cafile.or(file.etcd_cafile),
        certfile: args.etcd_certfile.or(file.etcd_certfile),
        keyfile: args.etcd_keyfile.or(file.etcd_keyfile),
        username: args.etcd_username.or(file.etcd_username),
        // An empty VXGATE_ETCD_PASSWORD (or flag) is no password: etcd
        // users have one, and `VAR= vxgate run` must not count as giving it.
        // Flag, then environment, then the file. clap takes an empty flag
        // over the variable, so the variable is read again here.
        password: args
            .etcd_password
            .filter(|p| !p.is_empty())
            .or_else(|| std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()))
            .or(file.etcd_password),
    })?;

    let margin_given = args
        .subnet_lease_renew_margin
        .or(file.subnet_lease_renew_margin);
    let margin_min = margin_given.unwrap_or(DEFAULT_RENEW_MARGIN_MIN);
    if !RENEW_MARGIN_RANGE_MIN.contains(&margin_min) {
        return Err(ConfigError::invalid(
            "subnet-lease-renew-margin",
            margin_min,
            "out of range",
            "give minutes from 1 to 1439 (default 60, as flanneld)",
        ));
    }
    let ttl_s = args
        .subnet_lease_ttl
        .or(file.subnet_lease_ttl)
        .unwrap_or(DEFAULT_LEASE_TTL_S);
    let margin_s = u64::from(margin_min) * 60;
    if ttl_s > MAX_LEASE_TTL_S {
        return Err(ConfigError::invalid(
            "subnet-lease-ttl",
            ttl_s,
            "above the longest lease etcd grants",
            format!("give at most {MAX_LEASE_TTL_S} seconds (default 86400, as flanneld)"),
        ));
    }
    if ttl_s < MIN_LEASE_TTL_S {
        return Err(ConfigError::invalid(
            "subnet-lease-ttl",
            ttl_s,
            format!(
                "below {MIN_LEASE_TTL_S} s: etcd grants at least 2 s, and renewing at half the TTL needs time for etcd to answer"
            ),
            format!("give {MIN_LEASE_TTL_S} to {MAX_LEASE_TTL_S} seconds (default 86400, as flanneld)"),
        ));
    }
    // A short TTL under the default margin (SPEC: the TTL is "for
    // tests") is renewed at half the TTL, as the control plane renews
    // whenever the margin is not below the TTL, and says so at start; an
    // explicit margin not below the TTL asks for the impossible.
    if ttl_s <= margin_s && margin_given.is_some() {
        return Err(ConfigError::invalid(
            "subnet-lease-ttl",
            ttl_s,
            format!(
                "the lease would be renewed before it is granted (subnet-lease-renew-margin is {margin_min} min = {margin_s} s)"
            ),
            "give a TTL in seconds longer than the renew margin, lower subnet-lease-renew-margin, or leave the margin out (a TTL not above the default margin is renewed at half the TTL)",
        ));
    }

    let metrics_addr = args
        .metrics_addr
        .or(file.metrics_addr)
        .map(|s| {
            let addr = s.trim().parse::<SocketAddr>().map_err(|_| {
                ConfigError::invalid(
                    "metrics-addr",
                    &s,
                    "not a HOST:PORT socket address",
                    "use e.g. 127.0.0.1:9477 or [::1]:9477 (names are not resolved)",
                )
            })?;
            // A TCP listener on a group or broadcast address binds (Linux
            // lets it) but no scraper can ever connect to it.
            let group = match addr.ip() {
                std::net::IpAddr::V4(ip) => ip.is_multicast() || ip.is_broadcast(),
                std::net::IpAddr::V6(ip) => ip.is_multicast(),
            };
            if group {
                return Err(ConfigError::invalid(
                    "metrics-addr",
                    &s,
                    "a multicast or broadcast address: nothing can connect to it",
                    "give a unicast HOST:PORT of this host, e.g. 127.0.0.1:9477, or 0.0.0.0:9477 for all",
                ));
            }
            Ok(addr)
        })
        .transpose()?;

    let log_level_from_flag = args.log_level.is_some();
    let log_level = args
        .log_level
        .or(file.log_level)
        .map(|s| log_level(&s))
        .transpose()?;

    let eal_args = if args.eal.is_empty() {
        file.eal
    } else {
        args.eal
    };
    let workers = workers(args.workers.or(file.workers), &eal_args)?;

    let underlay_mtu = port_mtu("underlay-mtu", args.underlay_mtu.or(file.underlay_mtu))?;
    let access_mtu = port_mtu("access-mtu", args.access_mtu.or(file.access_mtu))?;

    let mbufs = args.mbufs.or(file.mbufs).unwrap_or(DEFAULT_MBUFS);
    let min_mbufs = Config::min_mbufs(workers);
    if mbufs < min_mbufs {
        return Err(ConfigError::invalid(
            "mbufs",
            mbufs,
            format!(
                "too few for {workers} worker(s): each needs {MBUFS_PER_PORT_AND_WORKER} per port"
            ),
            format!("give at least {min_mbufs} (default {DEFAULT_MBUFS})"),
        ));
    }
    if mbufs > MAX_MBUFS {
        return Err(ConfigError::invalid(
            "mbufs",
            mbufs,
            format!(
                "more than {MAX_MBUFS} (2^24): each mbuf takes about 2.3 KB of hugepage memory, and DPDK's mempool creation crashes from 2^31 on"
            ),
            format!(
                "give at most {MAX_MBUFS} (at least {min_mbufs} for {workers} worker(s); default {DEFAULT_MBUFS})"
            ),
        ));
    }

    Ok(Config {
        underlay_dev,
        underlay_ip,
        underlay_gateway,
        underlay_mtu,
        access_dev,
        access_ip,
        subnet,
        access_mtu,
        vtep_mac,
        neighbors,
        etcd,
        subnet_lease_renew_margin: Duration::from_secs(margin_s),
        subnet_lease_ttl: Duration::from_secs(ttl_s),
        metrics_addr,
        workers,
        mbufs,
        log_level,
        log_level_from_flag,
        config_file: args.config,
        eal_args,
        check_only: args.check_config,
    })
}

fn log_level(raw: &str) -> Result<String, ConfigError> {
    const FIX: &str = LOG_LEVEL_FIX;
    let s = check_log_level(raw)
        .map_err(|problem| ConfigError::invalid("log-level", raw, problem, FIX))?;
    tracing_subscriber::EnvFilter::builder()
        .parse(&s)
        .map(|_| s.clone())
        .map_err(|e| ConfigError::invalid("log-level", raw, e.to_string(), FIX))
}
