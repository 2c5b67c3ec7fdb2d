//! Merging flags over the file and checking the result as a whole.
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

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
        password: args.etcd_password.or(file.etcd_password),
    })?;

    let margin_min = args
        .subnet_lease_renew_margin
        .or(file.subnet_lease_renew_margin)
        .unwrap_or(DEFAULT_RENEW_MARGIN_MIN);
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
    if ttl_s <= margin_s {
        return Err(ConfigError::invalid(
            "subnet-lease-ttl",
            ttl_s,
            format!(
                "the lease would be renewed before it is granted (subnet-lease-renew-margin is {margin_min} min = {margin_s} s)"
            ),
            "give a TTL in seconds longer than the renew margin, or lower subnet-lease-renew-margin",
        ));
    }

    let metrics_addr = args
        .metrics_addr
        .or(file.metrics_addr)
        .map(|s| {
            s.trim().parse::<SocketAddr>().map_err(|_| {
                ConfigError::invalid(
                    "metrics-addr",
                    &s,
                    "not a HOST:PORT socket address",
                    "use e.g. 127.0.0.1:9477 or [::1]:9477 (names are not resolved)",
                )
            })
        })
        .transpose()?;

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

    Ok(Config {
        underlay_dev,
        underlay_ip,
        underlay_gateway,
        access_dev,
        access_ip,
        subnet,
        vtep_mac,
        neighbors,
        etcd,
        subnet_lease_renew_margin: Duration::from_secs(margin_s),
        subnet_lease_ttl: Duration::from_secs(ttl_s),
        metrics_addr,
        workers,
        mbufs,
        log_level,
        config_file: args.config,
        eal_args,
    })
}

pub(super) fn check_files(config: &Config) -> Result<(), ConfigError> {
    let Some(tls) = &config.etcd.tls else {
        return Ok(());
    };
    let mut files: Vec<(&'static str, &Path)> = Vec::new();
    if let Some(ca) = &tls.ca_file {
        files.push(("etcd-cafile", ca));
    }
    if let Some(id) = &tls.identity {
        files.push(("etcd-certfile", &id.cert_file));
        files.push(("etcd-keyfile", &id.key_file));
    }
    for (key, path) in files {
        std::fs::File::open(path).map_err(|source| ConfigError::UnusableFile {
            key,
            path: path.to_owned(),
            source,
            fix: "check the path and that vxgate's user may read it",
        })?;
    }
    Ok(())
}

fn device(key: &'static str, value: Option<String>) -> Result<DeviceRef, ConfigError> {
    let Some(value) = value else {
        return Err(ConfigError::Missing {
            key,
            example: "DEV (e.g. 0000:3b:00.0, net_tap0 or a port id)",
        });
    };
    let name = value.trim();
    if name.is_empty() {
        return Err(ConfigError::invalid(
            key,
            &value,
            "the device name is empty",
            "give a PCI address (0000:3b:00.0), a vdev name (net_tap0) or a DPDK port id",
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse::<u16>().map(DeviceRef::PortId).map_err(|_| {
            ConfigError::invalid(
                key,
                name,
                "port ids go from 0 to 65535",
                "give the port id DPDK assigned, or the device name",
            )
        });
    }
    Ok(DeviceRef::Name(name.to_owned()))
}

fn cidr(key: &'static str, s: &str, example: &str) -> Result<Ipv4Cidr, ConfigError> {
    s.parse::<Ipv4Cidr>().map_err(|e| {
        ConfigError::invalid(key, s, e.to_string(), format!("write IP/LEN, {example}"))
    })
}

/// An interface address: not the network or broadcast address of its
/// prefix, not a special address.
fn host_cidr(key: &'static str, s: &str, example: &str) -> Result<Ipv4Cidr, ConfigError> {
    let c = cidr(key, s, example)?;
    special_addr(key, s, c.addr())?;
    if !c.is_host_addr() {
        return Err(ConfigError::invalid(
            key,
            s,
            format!(
                "{} is the network or broadcast address of {}",
                c.addr(),
                c.network()
            ),
            format!("give this interface's own address with the prefix length, {example}"),
        ));
    }
    Ok(c)
}

fn special_addr(key: &'static str, s: &str, ip: Ipv4Addr) -> Result<(), ConfigError> {
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast() {
        return Err(ConfigError::invalid(
            key,
            s,
            "unspecified, loopback, multicast or broadcast address",
            "give a unicast address",
        ));
    }
    Ok(())
}

fn gateway(s: &str, underlay_ip: Ipv4Cidr) -> Result<Ipv4Addr, ConfigError> {
    const KEY: &str = "underlay-gateway";
    let ip: Ipv4Addr = s.trim().parse().map_err(|_| {
        ConfigError::invalid(KEY, s, "not an IPv4 address", "write e.g. 172.28.147.33")
    })?;
    special_addr(KEY, s, ip)?;
    let net = underlay_ip.network();
    let on_link = Ipv4Cidr::new(ip, underlay_ip.prefix_len()).is_ok_and(|c| c.is_host_addr());
    if !net.contains(ip) || !on_link || ip == underlay_ip.addr() {
        return Err(ConfigError::invalid(
            KEY,
            s,
            format!("not another host on the underlay prefix {net} (underlay-ip {underlay_ip})"),
            "the gateway must be reachable on the underlay link; check underlay-ip's prefix length",
        ));
    }
    Ok(ip)
}

fn subnet(s: &str, underlay_net: Ipv4Cidr) -> Result<Ipv4Cidr, ConfigError> {
    const KEY: &str = "subnet";
    let c = cidr(KEY, s, "e.g. 10.244.255.0/24")?;
    if !c.is_network() {
        return Err(ConfigError::invalid(
            KEY,
            s,
            "not a network address (host bits are set)",
            format!("use {}", c.network()),
        ));
    }
    if c.prefix_len() > 30 || c.prefix_len() < 8 {
        return Err(ConfigError::invalid(
            KEY,
            s,
            "prefix length must be from /8 to /30 so the subnet has host addresses",
            "use flannel's SubnetLen, usually /24",
        ));
    }
    if c.overlaps(&underlay_net) {
        return Err(ConfigError::invalid(
            KEY,
            s,
            format!("it overlaps the underlay prefix {underlay_net} (underlay-ip)"),
            "the overlay subnet and the underlay network must be disjoint; check both prefixes",
        ));
    }
    Ok(c)
}

fn access_ip(
    s: &str,
    subnet: Option<Ipv4Cidr>,
    underlay_net: Ipv4Cidr,
) -> Result<Ipv4Cidr, ConfigError> {
    const KEY: &str = "access-ip";
    let c = host_cidr(KEY, s, "e.g. 10.244.255.1/24")?;
    match subnet {
        Some(sub) if !sub.covers(&c) => Err(ConfigError::invalid(
            KEY,
            s,
            format!("{} is not inside subnet {sub}", c.network()),
            format!(
                "give an address inside {sub} with a prefix length of at least /{}, or leave access-ip out to use {}/{}",
                sub.prefix_len(),
                sub.first_host(),
                sub.prefix_len()
            ),
        )),
        _ if c.overlaps(&underlay_net) => Err(ConfigError::invalid(
            KEY,
            s,
            format!("it overlaps the underlay prefix {underlay_net} (underlay-ip)"),
            "the access side must be on the overlay subnet, not the underlay network",
        )),
        _ => Ok(c),
    }
}

fn mac(key: &'static str, s: &str) -> Result<[u8; 6], ConfigError> {
    parse_unicast_mac(s).map_err(|e| {
        ConfigError::invalid(
            key,
            s,
            e.to_string(),
            "give a unicast MAC such as 0e:01:ac:1c:93:28",
        )
    })
}

fn neighbors(
    specs: &[String],
    underlay_ip: Ipv4Cidr,
    subnet: Option<Ipv4Cidr>,
    access_ip: Option<Ipv4Cidr>,
) -> Result<Vec<StaticNeighbor>, ConfigError> {
    const KEY: &str = "neighbor";
    const FORMAT: &str = "write PORT,IP,MAC with PORT underlay or access, e.g. access,10.244.255.10,02:00:00:00:00:0a";
    let mut out = Vec::with_capacity(specs.len());
    let mut seen = HashSet::new();
    for spec in specs {
        let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
        let [side, ip, mac_s] = parts[..] else {
            return Err(ConfigError::invalid(
                KEY,
                spec,
                "not three comma-separated fields",
                FORMAT,
            ));
        };
        let side: Side = side.parse().map_err(|()| {
            ConfigError::invalid(KEY, spec, format!("unknown port `{side}`"), FORMAT)
        })?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| {
            ConfigError::invalid(KEY, spec, format!("`{ip}` is not an IPv4 address"), FORMAT)
        })?;
        special_addr(KEY, spec, ip)?;
        let mac = parse_unicast_mac(mac_s)
            .map_err(|e| ConfigError::invalid(KEY, spec, format!("MAC `{mac_s}`: {e}"), FORMAT))?;
        let (own, range) = match side {
            Side::Underlay => (Some(underlay_ip), Some(underlay_ip.network())),
            Side::Access => (access_ip, subnet.or(access_ip.map(|a| a.network()))),
        };
        if let Some(range) = range.filter(|r| !r.contains(ip)) {
            return Err(ConfigError::invalid(
                KEY,
                spec,
                format!("{ip} is not on the {side} link ({range})"),
                "static neighbours must be directly reachable on their port",
            ));
        }
        if own.is_some_and(|o| o.addr() == ip) {
            return Err(ConfigError::invalid(
                KEY,
                spec,
                format!("{ip} is vxgate's own {side} address"),
                "remove this neighbour",
            ));
        }
        if !seen.insert((side, ip)) {
            return Err(ConfigError::invalid(
                KEY,
                spec,
                format!("{side} neighbour {ip} is given twice"),
                "keep one entry per address",
            ));
        }
        out.push(StaticNeighbor { side, ip, mac });
    }
    Ok(out)
}

struct EtcdInput {
    endpoints: Option<Endpoints>,
    prefix: Option<String>,
    cafile: Option<PathBuf>,
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    username: Option<String>,
    password: Option<String>,
}

fn etcd(input: EtcdInput) -> Result<EtcdConfig, ConfigError> {
    const FIX_URL: &str =
        "give comma-separated URLs such as http://127.0.0.1:2379,https://10.0.0.5:2379";
    let raw = input
        .endpoints
        .unwrap_or_else(|| Endpoints::Joined(DEFAULT_ETCD_ENDPOINT.to_owned()))
        .into_list();
    let shown = raw.join(",");
    let endpoints: Vec<String> = raw
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    if endpoints.is_empty() {
        return Err(ConfigError::invalid(
            "etcd-endpoints",
            &shown,
            "no endpoint given",
            FIX_URL,
        ));
    }
    for e in &endpoints {
        let host = e
            .strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"));
        if host.map_or(true, |h| h.is_empty() || h.starts_with('/')) {
            return Err(ConfigError::invalid(
                "etcd-endpoints",
                e,
                "not an http:// or https:// URL with a host",
                FIX_URL,
            ));
        }
    }

    let raw_prefix = input
        .prefix
        .unwrap_or_else(|| DEFAULT_ETCD_PREFIX.to_owned());
    let prefix = raw_prefix.trim().trim_end_matches('/').to_owned();
    if !prefix.starts_with('/') || prefix.len() < 2 {
        return Err(ConfigError::invalid(
            "etcd-prefix",
            &raw_prefix,
            "a prefix is an absolute etcd key path",
            format!("use flanneld's --etcd-prefix, by default {DEFAULT_ETCD_PREFIX}"),
        ));
    }

    for (key, path) in [
        ("etcd-cafile", &input.cafile),
        ("etcd-certfile", &input.certfile),
        ("etcd-keyfile", &input.keyfile),
    ] {
        if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(ConfigError::invalid(
                key,
                "",
                "empty path",
                "give a PEM file path or leave the key out",
            ));
        }
    }
    let identity = match (input.certfile, input.keyfile) {
        (Some(cert_file), Some(key_file)) => Some(TlsIdentity { cert_file, key_file }),
        (Some(cert), None) => {
            return Err(ConfigError::invalid(
                "etcd-keyfile",
                "",
                format!("missing, but etcd-certfile {} is given", cert.display()),
                "give the client certificate's private key with --etcd-keyfile, or drop --etcd-certfile",
            ))
        }
        (None, Some(key)) => {
            return Err(ConfigError::invalid(
                "etcd-certfile",
                "",
                format!("missing, but etcd-keyfile {} is given", key.display()),
                "give the client certificate with --etcd-certfile, or drop --etcd-keyfile",
            ))
        }
        (None, None) => None,
    };
    let tls = match (input.cafile, identity) {
        (None, None) => None,
        (ca_file, identity) => Some(EtcdTls { ca_file, identity }),
    };
    if tls.is_some() {
        if let Some(plain) = endpoints.iter().find(|e| e.starts_with("http://")) {
            return Err(ConfigError::invalid(
                "etcd-endpoints",
                plain,
                "TLS files are given but this endpoint is plain http://",
                "use https:// endpoints with TLS, or drop the etcd TLS files",
            ));
        }
    }

    let auth = match (input.username, input.password) {
        (Some(username), Some(password)) => {
            if username.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "etcd-username",
                    &username,
                    "empty user name",
                    "give the etcd user, or drop both etcd-username and etcd-password",
                ));
            }
            Some(EtcdAuth { username, password })
        }
        (Some(username), None) => {
            return Err(ConfigError::invalid(
                "etcd-password",
                "",
                format!("missing, but etcd-username {username} is given"),
                "give it in the config file or in VXGATE_ETCD_PASSWORD (or --etcd-password)",
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                "etcd-username",
                "",
                "missing, but etcd-password is given",
                "give --etcd-username, or drop the password",
            ))
        }
        (None, None) => None,
    };

    Ok(EtcdConfig {
        endpoints,
        prefix,
        tls,
        auth,
    })
}

fn log_level(s: &str) -> Result<String, ConfigError> {
    let s = s.trim();
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| {
            ConfigError::invalid(
                "log-level",
                s,
                e.to_string(),
                "use error, warn, info, debug or trace, or directives like vxgate::control=debug,info",
            )
        })
}

fn workers(value: Option<u32>, eal: &[String]) -> Result<u16, ConfigError> {
    const KEY: &str = "workers";
    let n = value.unwrap_or(u32::from(DEFAULT_WORKERS));
    let lcores = lcore_count(eal).map_err(|e| {
        ConfigError::invalid(
            "eal",
            eal.join(" "),
            e.to_string(),
            "fix the lcore option after `--` (or the file's `eal` list)",
        )
    })?;
    if n == 0 {
        return Err(ConfigError::invalid(
            KEY,
            n,
            "at least one worker is needed",
            "give --workers 1 or more",
        ));
    }
    let n16 = u16::try_from(n).map_err(|_| {
        ConfigError::invalid(
            KEY,
            n,
            "more workers than lcores can exist",
            "give at most one worker per lcore",
        )
    })?;
    if let Some(lcores) = lcores {
        if n as usize + 1 > lcores {
            return Err(ConfigError::invalid(
                KEY,
                n,
                format!(
                    "the EAL arguments give {lcores} lcore(s); the main lcore runs the control plane, so at most {} worker(s) fit",
                    lcores.saturating_sub(1)
                ),
                format!("lower --workers or list {} lcores with EAL -l (e.g. -l 0-{n})", n + 1),
            ));
        }
    }
    Ok(n16)
}
