//! Merging flags over the file and checking the result as a whole.
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
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

/// A port MTU flag (`underlay-mtu`, `access-mtu`, pktgen's `rx-mtu`):
/// absent, or inside [`PORT_MTU_RANGE`].
pub fn port_mtu(key: &'static str, value: Option<u32>) -> Result<Option<u16>, ConfigError> {
    let Some(v) = value else { return Ok(None) };
    match u16::try_from(v) {
        Ok(mtu) if PORT_MTU_RANGE.contains(&mtu) => Ok(Some(mtu)),
        _ => Err(ConfigError::invalid(
            key,
            v,
            format!(
                "outside the port MTUs vxgate sets ({} to {} bytes of IPv4 packet)",
                PORT_MTU_RANGE.start(),
                PORT_MTU_RANGE.end()
            ),
            format!(
                "give --{key} from {} to {} (9000 for jumbo frames), or leave it out for its default",
                PORT_MTU_RANGE.start(),
                PORT_MTU_RANGE.end()
            ),
        )),
    }
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
            types::EMPTY_DEVICE_NAME,
            types::DEVICE_NAME_FIX,
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
    Ok(DeviceRef::Name(canonical_device_name(name)))
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
            format!(
                "give this interface's own address with the prefix length, e.g. {}/{}",
                c.first_host(),
                c.prefix_len()
            ),
        ));
    }
    Ok(c)
}

/// Ranges no interface, neighbour or overlay subnet may use, with what
/// they are.
const RESERVED: [(Ipv4Addr, u8, &str); 4] = [
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "the \"this network\" range 0.0.0.0/8 (with the unspecified address 0.0.0.0)",
    ),
    (
        Ipv4Addr::new(127, 0, 0, 0),
        8,
        "the loopback range 127.0.0.0/8",
    ),
    (
        Ipv4Addr::new(224, 0, 0, 0),
        4,
        "the multicast range 224.0.0.0/4",
    ),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "the reserved range 240.0.0.0/4 (with the broadcast address 255.255.255.255)",
    ),
];

fn reserved_range(c: Ipv4Cidr) -> Option<&'static str> {
    RESERVED.iter().find_map(|&(addr, len, what)| {
        let r = Ipv4Cidr::new(addr, len).ok()?;
        r.overlaps(&c).then_some(what)
    })
}

/// Refuses an address in 0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4 or
/// 240.0.0.0/4.
fn special_addr(key: &'static str, s: &str, ip: Ipv4Addr) -> Result<(), ConfigError> {
    if let Some(what) = Ipv4Cidr::new(ip, 32).ok().and_then(reserved_range) {
        return Err(ConfigError::invalid(
            key,
            s,
            format!("{ip} is in {what}, not a unicast host address"),
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
    if let Some(what) = reserved_range(c) {
        return Err(ConfigError::invalid(
            KEY,
            s,
            format!("it lies in {what}, which no overlay subnet may use"),
            "give a subnet of flannel's Network, e.g. 10.244.255.0/24",
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
        Some(sub) if sub.is_edge(c.addr()) => Err(access_ip_on_an_edge(c, sub)),
        _ if c.overlaps(&underlay_net) => Err(ConfigError::invalid(
            KEY,
            s,
            format!("it overlaps the underlay prefix {underlay_net} (underlay-ip)"),
            "the access side must be on the overlay subnet, not the underlay network",
        )),
        _ => Ok(c),
    }
}

/// access-ip `a` is `sub`'s network or broadcast address: the access
/// link is the whole subnet, whatever access-ip's own prefix, and its
/// edges are no host's address there. (Checked with `--subnet` here, and
/// against the subnet claimed around access-ip once flannel's SubnetLen is
/// known: `gateway::requested`.)
pub fn access_ip_on_an_edge(a: Ipv4Cidr, sub: Ipv4Cidr) -> ConfigError {
    ConfigError::invalid(
        "access-ip",
        a,
        format!(
            "{} is the network or broadcast address of subnet {sub}",
            a.addr()
        ),
        format!(
            "give a host address of {sub}, or leave access-ip out to use {}/{}",
            sub.first_host(),
            sub.prefix_len()
        ),
    )
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
        // The access address defaults to the subnet's first host.
        let (own, range) = match side {
            Side::Underlay => (Some(underlay_ip.addr()), Some(underlay_ip.network())),
            Side::Access => (
                access_ip
                    .map(|a| a.addr())
                    .or(subnet.map(|s| s.first_host())),
                // The access link is the subnet, which access-ip's own
                // prefix may not show: without --subnet it is checked
                // once known (`access_neighbors_on`, before EAL starts).
                subnet,
            ),
        };
        on_link(spec, side, ip, own, range, access_ip.is_none())?;
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

/// A neighbour's address on its link: inside `range`, not vxgate's `own`
/// address there, not the link's network or broadcast address (ranges
/// vxgate does not know yet are not checked). `own_defaulted`: the access
/// address is the subnet's first host, not given.
fn on_link(
    spec: &str,
    side: Side,
    ip: Ipv4Addr,
    own: Option<Ipv4Addr>,
    range: Option<Ipv4Cidr>,
    own_defaulted: bool,
) -> Result<(), ConfigError> {
    const KEY: &str = "neighbor";
    if let Some(range) = range.filter(|r| !r.contains(ip)) {
        return Err(ConfigError::invalid(
            KEY,
            spec,
            format!("{ip} is not on the {side} link ({range})"),
            "static neighbours must be directly reachable on their port",
        ));
    }
    if own == Some(ip) {
        let default = if side == Side::Access && own_defaulted {
            " (access-ip defaults to the subnet's first host)"
        } else {
            ""
        };
        return Err(ConfigError::invalid(
            KEY,
            spec,
            format!("{ip} is vxgate's own {side} address{default}"),
            "remove this neighbour; vxgate answers for its own address",
        ));
    }
    if let Some(range) = range.filter(|r| r.prefix_len() < 31) {
        let which = if ip == range.network_addr() {
            Some("network")
        } else if ip == range.broadcast_addr() {
            Some("broadcast")
        } else {
            None
        };
        if let Some(which) = which {
            return Err(ConfigError::invalid(
                KEY,
                spec,
                format!("{ip} is the {which} address of the {side} link {range}, not a host"),
                "give the neighbour's own address on the link",
            ));
        }
    }
    Ok(())
}

/// The access neighbours against the subnet and access address known only
/// once etcd's network config is read (without `subnet` and `access-ip`,
/// the checks of [`build`] could not place them).
pub(super) fn access_neighbors_on(
    cfg: &Config,
    subnet: Ipv4Cidr,
    access_ip: Ipv4Cidr,
) -> Result<(), ConfigError> {
    for n in cfg.neighbors.iter().filter(|n| n.side == Side::Access) {
        let spec = format!("access,{},{}", n.ip, format_mac(&n.mac));
        on_link(
            &spec,
            Side::Access,
            n.ip,
            Some(access_ip.addr()),
            Some(subnet),
            cfg.access_ip.is_none(),
        )?;
    }
    Ok(())
}

/// The access neighbours against flannel's Network, before the subnet
/// (inside it) is known.
pub(super) fn access_neighbors_in_network(
    cfg: &Config,
    network: Ipv4Cidr,
) -> Result<(), ConfigError> {
    let outside = cfg
        .neighbors
        .iter()
        .find(|n| n.side == Side::Access && !network.contains(n.ip));
    match outside {
        None => Ok(()),
        Some(n) => Err(ConfigError::invalid(
            "neighbor",
            format!("access,{},{}", n.ip, format_mac(&n.mac)),
            format!(
                "{} is outside flannel's Network {network}, which holds every subnet vxgate can be leased, so it cannot be on the access link",
                n.ip
            ),
            "static neighbours must be directly reachable on their port: give a host of the gateway's subnet",
        )),
    }
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
    let given = input
        .endpoints
        .unwrap_or_else(|| Endpoints::Joined(DEFAULT_ETCD_ENDPOINT.to_owned()));
    if let Endpoints::List(list) = &given {
        if let Some(e) = list.iter().find(|e| e.contains(',')) {
            return Err(ConfigError::invalid(
                "etcd-endpoints",
                endpoint::redact(e),
                "an element of the list holds a comma",
                "give one URL per array element, e.g. [\"http://10.0.0.5:2379\", \"http://10.0.0.6:2379\"]",
            ));
        }
    }
    let raw = given.into_list();
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
            endpoint::redact(&shown),
            "no endpoint given",
            FIX_URL,
        ));
    }
    for e in &endpoints {
        endpoint::check_endpoint(e).map_err(|err| {
            ConfigError::invalid("etcd-endpoints", endpoint::redact(e), err.problem, err.fix)
        })?;
    }
    // One TLS setting serves every endpoint: the etcd client refuses TLS
    // options with an http:// URL and speaks TLS to every https:// one.
    let https = endpoints
        .iter()
        .filter(|e| e.starts_with("https://"))
        .count();
    if https > 0 && https < endpoints.len() {
        return Err(ConfigError::invalid(
            "etcd-endpoints",
            endpoint::redact(&shown),
            "mixes http:// and https:// endpoints; the members of one etcd cluster are reached one way",
            "give every endpoint with the scheme the cluster serves",
        ));
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
            return Err(ConfigError::Unpaired {
                key: "etcd-keyfile",
                given: format!("etcd-certfile {}", cert.display()),
                fix: "give the client certificate's private key with --etcd-keyfile, or drop --etcd-certfile",
            })
        }
        (None, Some(key)) => {
            return Err(ConfigError::Unpaired {
                key: "etcd-certfile",
                given: format!("etcd-keyfile {}", key.display()),
                fix: "give the client certificate with --etcd-certfile, or drop --etcd-keyfile",
            })
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
            return Err(ConfigError::Unpaired {
                key: "etcd-password",
                given: format!("etcd-username {username}"),
                fix: "give it in the config file or in VXGATE_ETCD_PASSWORD (or --etcd-password)",
            })
        }
        (None, Some(_)) => {
            return Err(ConfigError::Unpaired {
                key: "etcd-username",
                given: "a password (by --etcd-password, the config file's etcd-password or the VXGATE_ETCD_PASSWORD environment variable)".into(),
                fix: "give --etcd-username, or drop the password (check VXGATE_ETCD_PASSWORD in the environment)",
            })
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

fn log_level(raw: &str) -> Result<String, ConfigError> {
    const FIX: &str = LOG_LEVEL_FIX;
    let s = check_log_level(raw)
        .map_err(|problem| ConfigError::invalid("log-level", raw, problem, FIX))?;
    tracing_subscriber::EnvFilter::builder()
        .parse(&s)
        .map(|_| s.clone())
        .map_err(|e| ConfigError::invalid("log-level", raw, e.to_string(), FIX))
}

fn workers(value: Option<u32>, eal: &[String]) -> Result<u16, ConfigError> {
    const KEY: &str = "workers";
    let n = value.unwrap_or(u32::from(DEFAULT_WORKERS));
    let lcores = lcore_count(eal).map_err(|e| {
        ConfigError::invalid(
            "eal",
            eal::shorten(&eal.join(" ")),
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
    if n >= eal::MAX_LCORE {
        return Err(ConfigError::invalid(
            KEY,
            n,
            format!(
                "more workers than lcores can exist: this DPDK has at most {} lcores (RTE_MAX_LCORE) and the main lcore runs the control plane",
                eal::MAX_LCORE
            ),
            format!("give at most {} workers", eal::MAX_LCORE - 1),
        ));
    }
    // The lcores EAL will have: those the arguments name, else one per CPU
    // this process may run on (unknown if that list cannot be read).
    // The example option names CPUs this process may run on (EAL pins
    // lcores there whatever the affinity), in a form a shell takes as is.
    let allowed = eal::allowed_cpu_list();
    let example = eal::lcore_option_for(n as usize + 1, allowed.as_deref());
    let bound = match lcores {
        Some(l) => Some((
            l,
            format!("the EAL arguments give {l} lcore(s)"),
            format!("lower --workers or name {} lcores after `--` (e.g. {example})", n + 1),
        )),
        None => eal::default_lcore_count().map(|c| {
            (
                c,
                format!("no EAL lcore option is given, so EAL makes one lcore per CPU this process may run on ({c})"),
                format!(
                    "lower --workers, or name {} lcores after `--` (e.g. {example}: several lcores may share CPUs, at the cost of their speed)",
                    n + 1,
                ),
            )
        }),
    };
    if let Some((have, whence, fix)) = bound {
        if n as usize + 1 > have {
            return Err(ConfigError::invalid(
                KEY,
                n,
                format!(
                    "{whence}; the main lcore runs the control plane, so at most {} worker(s) fit",
                    have.saturating_sub(1)
                ),
                fix,
            ));
        }
    }
    Ok(n as u16) // below MAX_LCORE
}
