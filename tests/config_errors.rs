//! Every configuration error names its key, says what is wrong, and maps to
//! exit code 2; valid flags give the typed values.
use std::net::Ipv4Addr;

use vxgate::config::{Config, ConfigError, DeviceRef, Side, CONFIG_EXIT_CODE};

const BASE: &[(&str, &str)] = &[
    ("--underlay", "0000:3b:00.0"),
    ("--underlay-ip", "172.28.147.40/28"),
    ("--access", "0000:3b:00.1"),
    ("--subnet", "10.244.255.0/24"),
];

/// BASE with `changes` applied: a pair replaces the flag's value or adds
/// it; an empty value removes the flag. `eal` goes after `--`.
fn args(changes: &[(&str, &str)], eal: &[&str]) -> Vec<String> {
    let mut pairs: Vec<(String, String)> = BASE
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in changes {
        pairs.retain(|(pk, _)| pk != k || *k == "--neighbor");
        if !v.is_empty() {
            pairs.push((k.to_string(), v.to_string()));
        }
    }
    let mut out: Vec<String> = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
    if !eal.is_empty() {
        out.push("--".into());
        out.extend(eal.iter().map(|s| s.to_string()));
    }
    out
}

fn parse(changes: &[(&str, &str)], eal: &[&str]) -> Result<Config, ConfigError> {
    Config::from_args(args(changes, eal))
}

/// Asserts a config error for `key` whose message contains every `parts`.
fn expect_err(changes: &[(&str, &str)], eal: &[&str], key: &str, parts: &[&str]) {
    let err = parse(changes, eal).expect_err("configuration must be refused");
    let msg = err.to_string();
    assert_eq!(err.exit_code(), CONFIG_EXIT_CODE, "{msg}");
    assert_eq!(err.key(), Some(key), "{msg}");
    assert!(msg.contains(key), "message lacks key `{key}`: {msg}");
    // An empty value quoted reads as a broken message.
    assert!(!msg.contains("``"), "message quotes an empty value: {msg}");
    for p in parts {
        assert!(msg.contains(p), "message lacks `{p}`: {msg}");
    }
}

#[test]
fn valid_flags_give_typed_config_and_defaults() {
    let cfg = parse(
        &[
            ("--underlay", "net_tap0"),
            ("--access", "1"),
            ("--underlay-gateway", "172.28.147.33"),
            ("--access-ip", "10.244.255.254/24"),
            ("--vtep-mac", "0E:01:AC:1C:93:28"),
            ("--neighbor", "access,10.244.255.10,02:00:00:00:00:0a"),
            ("--neighbor", "underlay,172.28.147.44,16:ab:0a:e0:e7:60"),
            ("--metrics-addr", "127.0.0.1:9477"),
            ("--workers", "2"),
            ("--log-level", "vxgate=debug,info"),
        ],
        &["-l", "0-2", "-n", "4"],
    )
    .unwrap();
    assert_eq!(cfg.underlay_dev, DeviceRef::Name("net_tap0".into()));
    assert_eq!(cfg.access_dev, DeviceRef::PortId(1));
    assert_eq!(cfg.underlay_ip.addr(), Ipv4Addr::new(172, 28, 147, 40));
    assert_eq!(cfg.underlay_ip.prefix_len(), 28);
    assert_eq!(cfg.underlay_gateway, Some(Ipv4Addr::new(172, 28, 147, 33)));
    assert_eq!(cfg.access_ip.unwrap().to_string(), "10.244.255.254/24");
    assert_eq!(cfg.vtep_mac, Some([0x0e, 0x01, 0xac, 0x1c, 0x93, 0x28]));
    assert_eq!(cfg.neighbors.len(), 2);
    assert_eq!(cfg.neighbors[0].side, Side::Access);
    assert_eq!(cfg.neighbors[1].side, Side::Underlay);
    assert_eq!(cfg.neighbors[1].mac, [0x16, 0xab, 0x0a, 0xe0, 0xe7, 0x60]);
    assert_eq!(cfg.metrics_addr.unwrap().port(), 9477);
    assert_eq!(cfg.workers, 2);
    assert_eq!(cfg.log_level.as_deref(), Some("vxgate=debug,info"));
    assert_eq!(cfg.eal_args, ["-l", "0-2", "-n", "4"]);
    // Defaults.
    assert_eq!(cfg.etcd.endpoints, ["http://127.0.0.1:2379"]);
    assert_eq!(cfg.etcd.prefix, "/coreos.com/network");
    assert!(cfg.etcd.tls.is_none() && cfg.etcd.auth.is_none());
    assert_eq!(cfg.subnet_lease_renew_margin.as_secs(), 3600);
    assert_eq!(cfg.subnet_lease_ttl.as_secs(), 86400);
    assert_eq!(cfg.mbufs, 65535);

    let plain = parse(&[], &[]).unwrap();
    assert_eq!(plain.workers, 1);
    assert_eq!(plain.metrics_addr, None, "metrics are off by default");
    assert_eq!(
        plain.access_ip_for(plain.subnet.unwrap()).to_string(),
        "10.244.255.1/24"
    );
    assert_eq!(plain.vtep_mac_for(1), [0x0e, 1, 172, 28, 147, 40]);
}

#[test]
fn etcd_flags_parse() {
    let cfg = parse(
        &[
            (
                "--etcd-endpoints",
                "https://10.0.0.5:2379, https://10.0.0.6:2379",
            ),
            ("--etcd-prefix", "/kube/network/"),
            ("--etcd-cafile", "/tls/ca.pem"),
            ("--etcd-certfile", "/tls/c.pem"),
            ("--etcd-keyfile", "/tls/k.pem"),
            ("--etcd-username", "vxgate"),
            ("--etcd-password", "s3cret"),
            ("--subnet-lease-renew-margin", "1"),
            ("--subnet-lease-ttl", "120"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        cfg.etcd.endpoints,
        ["https://10.0.0.5:2379", "https://10.0.0.6:2379"]
    );
    assert_eq!(cfg.etcd.prefix, "/kube/network");
    let tls = cfg.etcd.tls.as_ref().unwrap();
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(std::path::Path::new("/tls/ca.pem"))
    );
    assert!(tls.identity.is_some());
    let auth = cfg.etcd.auth.as_ref().unwrap();
    assert_eq!(auth.username, "vxgate");
    assert!(
        !format!("{auth:?}").contains("s3cret"),
        "password must not be printed"
    );
    assert_eq!(cfg.subnet_lease_ttl.as_secs(), 120);
    // The TLS files do not exist: check_files names the first one.
    let err = cfg.check_files().unwrap_err();
    assert_eq!(err.key(), Some("etcd-cafile"));
    assert!(err.to_string().contains("/tls/ca.pem"), "{err}");
}

#[test]
fn addressing_errors() {
    expect_err(
        &[("--underlay-ip", "172.28.147.40")],
        &[],
        "underlay-ip",
        &["prefix length"],
    );
    expect_err(
        &[("--underlay-ip", "172.28.147/28")],
        &[],
        "underlay-ip",
        &["not an IPv4 address"],
    );
    expect_err(
        &[("--underlay-ip", "172.28.147.40/33")],
        &[],
        "underlay-ip",
        &["0 to 32"],
    );
    expect_err(
        &[("--underlay-ip", "172.28.147.32/28")],
        &[],
        "underlay-ip",
        &["network or broadcast", "e.g. 172.28.147.33/28"],
    );
    expect_err(
        &[("--underlay-ip", "127.0.0.1/8")],
        &[],
        "underlay-ip",
        &["loopback"],
    );
    expect_err(
        &[("--underlay-ip", "")],
        &[],
        "underlay-ip",
        &["missing", "--underlay-ip"],
    );
    expect_err(
        &[("--underlay-gateway", "172.28.147.60")],
        &[],
        "underlay-gateway",
        &["underlay prefix"],
    );
    expect_err(
        &[("--underlay-gateway", "172.28.147.40")],
        &[],
        "underlay-gateway",
        &["172.28.147.32/28"],
    );
    expect_err(
        &[("--subnet", "10.244.255.1/24")],
        &[],
        "subnet",
        &["not a network address", "use 10.244.255.0/24"],
    );
    expect_err(&[("--subnet", "10.244.255.0/31")], &[], "subnet", &["/30"]);
    // Host bits set and a length out of range: the length is what to fix
    // (suggesting 10.0.0.0/7 would only be refused next).
    expect_err(
        &[("--subnet", "10.244.255.0/7")],
        &[],
        "subnet",
        &["from /8 to /30"],
    );
    expect_err(
        &[("--subnet", "172.28.147.32/28")],
        &[],
        "subnet",
        &["overlaps the underlay"],
    );
    expect_err(
        &[("--subnet", "172.28.0.0/16")],
        &[],
        "subnet",
        &["overlaps the underlay"],
    );
    expect_err(
        &[("--access-ip", "10.244.254.1/24")],
        &[],
        "access-ip",
        &["not inside subnet 10.244.255.0/24"],
    );
    expect_err(
        &[("--access-ip", "10.244.255.1/16")],
        &[],
        "access-ip",
        &["not inside subnet"],
    );
    expect_err(
        &[("--access-ip", "10.244.3.0/24")],
        &[],
        "access-ip",
        &["network or broadcast", "e.g. 10.244.3.1/24"],
    );
    // The access link is the whole subnet, whatever access-ip's prefix:
    // its edges are refused even as a /31 or /32.
    for ip in ["10.244.255.255/32", "10.244.255.0/32", "10.244.255.0/31"] {
        expect_err(
            &[("--access-ip", ip)],
            &[],
            "access-ip",
            &["network or broadcast address of subnet 10.244.255.0/24"],
        );
    }
    expect_err(
        &[("--subnet", ""), ("--access-ip", "172.28.147.41/28")],
        &[],
        "access-ip",
        &["overlaps the underlay"],
    );
}

#[test]
fn mac_and_neighbor_errors() {
    expect_err(
        &[("--vtep-mac", "01:00:5e:00:00:01")],
        &[],
        "vtep-mac",
        &["unicast"],
    );
    expect_err(
        &[("--vtep-mac", "0e:01:ac:1c:93")],
        &[],
        "vtep-mac",
        &["six hex octets"],
    );
    expect_err(
        &[("--vtep-mac", "00:00:00:00:00:00")],
        &[],
        "vtep-mac",
        &["zeros"],
    );
    expect_err(
        &[("--neighbor", "access,10.244.255.10")],
        &[],
        "neighbor",
        &["three"],
    );
    expect_err(
        &[("--neighbor", "lan,10.244.255.10,02:00:00:00:00:0a")],
        &[],
        "neighbor",
        &["unknown port `lan`"],
    );
    expect_err(
        &[("--neighbor", "access,10.244.255.10,ff:ff:ff:ff:ff:ff")],
        &[],
        "neighbor",
        &["unicast"],
    );
    expect_err(
        &[("--neighbor", "underlay,10.0.0.1,02:00:00:00:00:0a")],
        &[],
        "neighbor",
        &["not on the underlay link"],
    );
    expect_err(
        &[("--neighbor", "access,10.244.1.5,02:00:00:00:00:0a")],
        &[],
        "neighbor",
        &["not on the access link"],
    );
    expect_err(
        &[("--neighbor", "underlay,172.28.147.40,02:00:00:00:00:0a")],
        &[],
        "neighbor",
        &["own underlay address"],
    );
    expect_err(
        &[
            ("--neighbor", "access,10.244.255.10,02:00:00:00:00:0a"),
            ("--neighbor", "access,10.244.255.10,02:00:00:00:00:0b"),
        ],
        &[],
        "neighbor",
        &["given twice"],
    );
}

#[test]
fn device_errors() {
    expect_err(&[("--underlay", " ")], &[], "underlay", &["empty"]);
    expect_err(&[("--access", "")], &[], "access", &["missing", "--access"]);
    expect_err(
        &[("--access", "0000:3b:00.0")],
        &[],
        "access",
        &["same port as underlay"],
    );
    expect_err(&[("--access", "70000")], &[], "access", &["65535"]);
    // One PCI device however its address is spelled: DPDK names the port
    // in lower case with its domain.
    for same in ["0000:3B:00.0", "3b:00.0", " 3B:00.0 "] {
        expect_err(
            &[("--access", same)],
            &[],
            "access",
            &["same port as underlay"],
        );
    }
    let c = parse(
        &[("--underlay", "0000:3B:00.0"), ("--access", "3b:00.1")],
        &[],
    )
    .unwrap();
    assert_eq!(c.underlay_dev, DeviceRef::Name("0000:3b:00.0".into()));
    assert_eq!(c.access_dev, DeviceRef::Name("0000:3b:00.1".into()));
}

/// A start needs EAL to give it both ports: checked before EAL (exit 2,
/// naming the flag), against the EAL arguments and this machine's PCI
/// devices (this machine has none at 0000:3b:00.x).
#[test]
fn ports_eal_would_not_give_are_refused_before_eal() {
    let check =
        |changes: &[(&str, &str)], eal: &[&str]| parse(changes, eal).unwrap().check_before_eal();
    let tap = [("--underlay", "net_tap0"), ("--access", "net_tap1")];
    check(&tap, &["--vdev=net_tap0,iface=u", "--vdev", "net_tap1"]).unwrap();
    // Port ids are EAL's numbering: not judged.
    check(&[("--underlay", "0"), ("--access", "1")], &["-l", "0-1"]).unwrap();
    for (changes, eal, key, parts) in [
        (
            &tap[..],
            &["--vdev=net_tap0"][..],
            "access",
            &[
                "net_tap1",
                "create no virtual device",
                "(their --vdev: net_tap0)",
                "--vdev net_tap1,",
            ][..],
        ),
        (&tap[..], &[][..], "underlay", &["(their --vdev: none)"][..]),
        (
            &[][..],
            &[][..],
            "underlay",
            &["0000:3b:00.0", "no PCI device", "dpdk-devbind.py"][..],
        ),
        (&[][..], &["--no-pci"][..], "underlay", &["--no-pci"][..]),
        (
            &[("--access", "net_null0")][..],
            &["-b", "3b:00.0", "--vdev", "net_null0"][..],
            "underlay",
            &["block it"][..],
        ),
    ] {
        let err = check(changes, eal).expect_err("a port EAL would not give");
        let msg = err.to_string();
        assert_eq!(err.exit_code(), CONFIG_EXIT_CODE, "{msg}");
        assert_eq!(err.key(), Some(key), "{msg}");
        for p in parts {
            assert!(msg.contains(p), "message lacks `{p}`: {msg}");
        }
    }
}

#[test]
fn etcd_errors() {
    expect_err(
        &[("--etcd-endpoints", " , ")],
        &[],
        "etcd-endpoints",
        &["no endpoint"],
    );
    expect_err(
        &[("--etcd-endpoints", "10.0.0.5:2379")],
        &[],
        "etcd-endpoints",
        &["http://"],
    );
    expect_err(
        &[("--etcd-prefix", "coreos.com/network")],
        &[],
        "etcd-prefix",
        &["absolute"],
    );
    expect_err(
        &[
            ("--etcd-endpoints", "https://e:2379"),
            ("--etcd-certfile", "/c.pem"),
        ],
        &[],
        "etcd-keyfile",
        &["missing etcd-keyfile: etcd-certfile /c.pem is given without it"],
    );
    expect_err(
        &[
            ("--etcd-endpoints", "https://e:2379"),
            ("--etcd-keyfile", "/k.pem"),
        ],
        &[],
        "etcd-certfile",
        &["missing etcd-certfile: etcd-keyfile /k.pem is given without it"],
    );
    expect_err(
        &[("--etcd-cafile", "/ca.pem")],
        &[],
        "etcd-endpoints",
        &["plain http://"],
    );
    expect_err(
        &[("--etcd-username", "vxgate")],
        &[],
        "etcd-password",
        &["missing etcd-password: etcd-username vxgate is given without it"],
    );
    expect_err(
        &[("--etcd-password", "x")],
        &[],
        "etcd-username",
        &["missing etcd-username: a password", "VXGATE_ETCD_PASSWORD"],
    );
}

/// `VXGATE_ETCD_PASSWORD= vxgate run ...` (an empty variable) gives no
/// password: without a user it is no error, and the file's password is used.
#[test]
fn an_empty_password_is_no_password() {
    // One process per test (nextest): nothing else reads the environment.
    std::env::set_var("VXGATE_ETCD_PASSWORD", "");
    let cfg = parse(&[], &[]).expect("an empty variable is no password");
    assert!(cfg.etcd.auth.is_none());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vxgate.toml");
    std::fs::write(
        &file,
        "etcd-username = \"vxgate\"\netcd-password = \"from-file\"\n",
    )
    .unwrap();
    let cfg = parse(&[("--config", file.to_str().unwrap())], &[]).unwrap();
    assert_eq!(
        cfg.etcd.auth.as_ref().map(|a| a.password.as_str()),
        Some("from-file")
    );
    // A set variable outranks the file.
    std::env::set_var("VXGATE_ETCD_PASSWORD", "from-env");
    let cfg = parse(&[("--config", file.to_str().unwrap())], &[]).unwrap();
    assert_eq!(
        cfg.etcd.auth.as_ref().map(|a| a.password.as_str()),
        Some("from-env")
    );
    std::env::remove_var("VXGATE_ETCD_PASSWORD");
}

/// `--etcd-password ""` is no password: the variable comes next, then the
/// file, as with an empty variable (clap alone would let the empty flag
/// hide both).
#[test]
fn an_empty_password_flag_falls_through_to_the_variable_then_the_file() {
    // One process per test (nextest): nothing else reads the environment.
    std::env::set_var("VXGATE_ETCD_PASSWORD", "from-env");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vxgate.toml");
    std::fs::write(&file, "etcd-password = \"from-file\"\n").unwrap();
    // `args` drops a flag with an empty value: the empty one added here.
    let with = |extra: &[(&str, &str)]| {
        let mut a = args(&[("--etcd-username", "vxgate")], &[]);
        a.extend(["--etcd-password".to_owned(), String::new()]);
        a.extend(
            extra
                .iter()
                .flat_map(|(k, v)| [k.to_string(), v.to_string()]),
        );
        Config::from_args(a)
    };
    let password = |cfg: Config| cfg.etcd.auth.map(|a| a.password);
    let conf = [("--config", file.to_str().unwrap())];
    let cfg = with(&[]).expect("the variable gives the password");
    assert_eq!(password(cfg).as_deref(), Some("from-env"));
    let cfg = with(&conf).unwrap();
    assert_eq!(password(cfg).as_deref(), Some("from-env"));
    // No variable either: the file's.
    std::env::remove_var("VXGATE_ETCD_PASSWORD");
    let cfg = with(&conf).unwrap();
    assert_eq!(password(cfg).as_deref(), Some("from-file"));
    // Nothing anywhere: missing, as without the flag.
    let err = with(&[]).expect_err("no password at all");
    assert_eq!(err.key(), Some("etcd-password"), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn lease_timing_errors() {
    expect_err(
        &[("--subnet-lease-renew-margin", "0")],
        &[],
        "subnet-lease-renew-margin",
        &["1 to 1439"],
    );
    expect_err(
        &[("--subnet-lease-renew-margin", "1440")],
        &[],
        "subnet-lease-renew-margin",
        &["out of range"],
    );
    // A margin given and not below the TTL is refused ...
    expect_err(
        &[
            ("--subnet-lease-ttl", "3600"),
            ("--subnet-lease-renew-margin", "60"),
        ],
        &[],
        "subnet-lease-ttl",
        &["renew margin", "leave the margin out"],
    );
    // ... the default margin with a short test TTL is not: the control
    // plane renews at half the TTL.
    for ttl in ["3600", "10"] {
        let cfg = parse(&[("--subnet-lease-ttl", ttl)], &[]).expect("a short TTL alone is taken");
        assert_eq!(cfg.subnet_lease_ttl.as_secs().to_string(), ttl);
        assert_eq!(cfg.subnet_lease_renew_margin.as_secs(), 3600);
    }
    // Below what etcd grants and a renewal at half the TTL can keep.
    for ttl in ["0", "1", "3"] {
        expect_err(
            &[("--subnet-lease-ttl", ttl)],
            &[],
            "subnet-lease-ttl",
            &["etcd grants at least 2 s", "give 4 to 9000000000 seconds"],
        );
    }
    let cfg = parse(&[("--subnet-lease-ttl", "4")], &[]).expect("the shortest TTL taken");
    assert_eq!(cfg.subnet_lease_ttl.as_secs(), 4);
    expect_err(
        &[("--subnet-lease-ttl", "9000000001")],
        &[],
        "subnet-lease-ttl",
        &["longest lease etcd grants", "at most 9000000000"],
    );
}

#[test]
fn worker_and_mbuf_errors() {
    expect_err(&[("--workers", "0")], &[], "workers", &["at least one"]);
    // The suggested lcore option is the one for the CPUs this process
    // may run on (quoted when it has parentheses).
    let allowed = vxgate::config::allowed_cpu_list();
    let three = vxgate::config::lcore_option_for(3, allowed.as_deref());
    expect_err(
        &[("--workers", "2")],
        &["-l", "0-1"],
        "workers",
        &["2 lcore(s)", "at most 1 worker", &format!("e.g. {three})")],
    );
    expect_err(
        &[("--workers", "4")],
        &["-c", "0xf"],
        "workers",
        &["4 lcore(s)"],
    );
    expect_err(&[], &["-l", "0"], "workers", &["1 lcore(s)"]);
    expect_err(&[], &["-l", "3-1"], "eal", &["-l 3-1"]);
    expect_err(&[("--mbufs", "4095")], &[], "mbufs", &["at least 4096"]);
    expect_err(
        &[("--workers", "4"), ("--mbufs", "16383")],
        &["-l", "0-4"],
        "mbufs",
        &["4 worker(s)", "16384"],
    );
    // More workers than any DPDK lcore set can hold, and the mbufs advice
    // is not reached with an impossible figure.
    for n in ["128", "65535", "4000000000"] {
        expect_err(
            &[("--workers", n), ("--mbufs", "16777216")],
            &[],
            "workers",
            &["RTE_MAX_LCORE", "at most 127 workers"],
        );
    }
    // No lcore option: EAL makes one lcore per CPU this process may use.
    let cpus = vxgate::config::default_lcore_count().expect("Cpus_allowed_list");
    if cpus < 128 {
        let n = cpus.to_string();
        let option = vxgate::config::lcore_option_for(cpus + 1, allowed.as_deref());
        assert!(option.starts_with("--lcores '("), "{option}");
        expect_err(
            &[("--workers", &n)],
            &[],
            "workers",
            &[
                &format!("one lcore per CPU this process may run on ({cpus})"),
                &format!("e.g. {option}:"),
            ],
        );
        // Naming the lcores lifts it (they may share CPUs).
        let lcores = format!("(0-{cpus})@(0-{})", cpus - 1);
        assert!(parse(&[("--workers", &n)], &["--lcores", &lcores]).is_ok());
    }
    assert_eq!(
        parse(&[("--workers", "4"), ("--mbufs", "16384")], &["-l", "0-4"])
            .unwrap()
            .mbufs,
        16384
    );
}

#[test]
fn misc_errors() {
    expect_err(
        &[("--metrics-addr", "localhost:9477")],
        &[],
        "metrics-addr",
        &["HOST:PORT"],
    );
    // Binds on Linux, but no scraper could connect.
    for group in ["224.0.0.1:9477", "255.255.255.255:9477", "[ff02::1]:9477"] {
        expect_err(
            &[("--metrics-addr", group)],
            &[],
            "metrics-addr",
            &["multicast or broadcast", "127.0.0.1:9477"],
        );
    }
    expect_err(&[("--log-level", "info,[[")], &[], "log-level", &["debug"]);
}

#[test]
fn usage_errors_and_help_exit_codes() {
    let err = Config::from_args(["--bogus"]).unwrap_err();
    assert_eq!(err.exit_code(), CONFIG_EXIT_CODE, "{err}");
    assert!(err.to_string().contains("--bogus"), "{err}");
    let err = Config::from_args(args(&[("--workers", "many")], &[])).unwrap_err();
    assert_eq!(err.exit_code(), CONFIG_EXIT_CODE);
    assert!(err.to_string().contains("--workers"), "{err}");

    let help = Config::from_args(["--help"]).unwrap_err();
    assert_eq!(help.exit_code(), 0);
    let text = help.to_string();
    for flag in [
        "--underlay <DEV>",
        "--underlay-ip <IP/LEN>",
        "--underlay-gateway <IP>",
        "--access <DEV>",
        "--access-ip <IP/LEN>",
        "--subnet <CIDR>",
        "--vtep-mac <MAC>",
        "--neighbor <PORT,IP,MAC>",
        "--etcd-endpoints <URLS>",
        "--etcd-prefix <P>",
        "--etcd-cafile <FILE>",
        "--etcd-certfile <FILE>",
        "--etcd-keyfile <FILE>",
        "--etcd-username <U>",
        "--etcd-password <P>",
        "--subnet-lease-renew-margin <MIN>",
        "--subnet-lease-ttl <S>",
        "--metrics-addr <ADDR>",
        "--workers <N>",
        "--mbufs <N>",
        "--config <FILE>",
        "--log-level <LEVEL>",
        "(default 65535)",
        "(default http://127.0.0.1:2379)",
        "Exit codes",
        "[EAL_ARGS]",
    ] {
        assert!(text.contains(flag), "--help lacks `{flag}`:\n{text}");
    }
    // Every flag states its default; --etcd-username's password may come
    // from the variable or the file too. (Help wraps lines: compare words.)
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for phrase in [
        "replaces the file's list. Default: none.",
        "needs a password (--etcd-password, VXGATE_ETCD_PASSWORD or the file's etcd-password)",
    ] {
        assert!(words.contains(phrase), "--help lacks `{phrase}`:\n{text}");
    }
    // The short help (-h) shows only each flag's first paragraph: the
    // defaults an operator sizes a box by are there too.
    let short = Config::from_args(["-h"]).unwrap_err().to_string();
    for default in [
        "(default http://127.0.0.1:2379)",
        "(default /coreos.com/network)",
        "(1-1439, default 60)",
        "(default 86400)",
        "(default 1)",
        "(default 65535)",
        "(default: off)",
    ] {
        assert!(short.contains(default), "-h lacks `{default}`:\n{short}");
    }
}

#[test]
fn etcd_endpoints_are_checked_fully() {
    for (url, part) in [
        (
            "http://127.0.0.1:99999",
            "port `99999` is not a number from 1 to 65535",
        ),
        ("http://127.0.0.1:-1", "port `-1`"),
        ("http://127.0.0.1:0", "1 to 65535"),
        ("http://127.0.0.1:", "without a port"),
        ("http://:", "no host"),
        ("http://a b:1", "host `a b` contains ' '"),
        ("http://[::1", "`[` without `]`"),
        ("http://é:1", "host `é` contains 'é'"),
        ("http://10.0.0.256:2379", "not an IPv4 address"),
        ("http://fd00::5:2379", "IPv6 host in brackets"),
        ("http://10.0.0.5:2379/v3/kv", "no path"),
        ("https://etcd:2379?x", "no path"),
        ("ftp://10.0.0.5:2379", "scheme `ftp`"),
    ] {
        expect_err(&[("--etcd-endpoints", url)], &[], "etcd-endpoints", &[part]);
    }
    // One bad URL in a list is named by itself.
    expect_err(
        &[(
            "--etcd-endpoints",
            "http://10.0.0.5:2379,http://10.0.0.6:99999",
        )],
        &[],
        "etcd-endpoints",
        &["`http://10.0.0.6:99999`", "1 to 65535"],
    );
    // One scheme for the whole cluster: one TLS setting serves them all.
    expect_err(
        &[(
            "--etcd-endpoints",
            "https://10.0.0.5:2379,http://10.0.0.6:2379",
        )],
        &[],
        "etcd-endpoints",
        &["mixes http:// and https://"],
    );
    // Every accepted form.
    let cfg = parse(
        &[(
            "--etcd-endpoints",
            "http://127.0.0.1:2379,http://10.0.0.5,http://etcd-0.etcd.svc:2379/,http://[::1]:2379,http://[fd00::5]",
        )],
        &[],
    )
    .unwrap();
    assert_eq!(cfg.etcd.endpoints.len(), 5);
}

#[test]
fn etcd_endpoint_with_user_info_is_refused_without_showing_the_password() {
    for url in [
        "http://vxgate:s3cret@10.0.0.5:2379",
        "https://s3cret@etcd:2379",
        "http://vxgate:s3/cret@10.0.0.5:2379",
    ] {
        let err = parse(&[("--etcd-endpoints", url)], &[]).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.key(), Some("etcd-endpoints"), "{msg}");
        assert!(msg.contains("user name or password"), "{msg}");
        assert!(
            msg.contains("--etcd-username") && msg.contains("--etcd-password"),
            "{msg}"
        );
        assert!(!msg.contains("s3"), "the password must not be shown: {msg}");
        assert!(msg.contains("***@"), "{msg}");
    }
}

const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/// An https config whose TLS files are `ca`, `cert` and `key` in `dir`.
fn tls_config(dir: &std::path::Path, ca: &str, cert: &str, key: &str) -> Config {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    Config::from_args(args(
        &[
            ("--etcd-endpoints", "https://10.0.0.5:2379"),
            ("--etcd-cafile", &p(ca)),
            ("--etcd-certfile", &p(cert)),
            ("--etcd-keyfile", &p(key)),
        ],
        &[],
    ))
    .unwrap()
}

fn expect_file_err(cfg: &Config, key: &str, parts: &[&str]) {
    let err = cfg
        .check_files()
        .expect_err("the TLS files must be refused");
    let msg = err.to_string();
    assert_eq!(err.exit_code(), CONFIG_EXIT_CODE, "{msg}");
    assert_eq!(err.key(), Some(key), "{msg}");
    assert!(msg.contains(key), "{msg}");
    for p in parts {
        assert!(msg.contains(p), "message lacks `{p}`: {msg}");
    }
}

#[test]
fn tls_files_must_be_regular_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    write("ca.pem", &format!("# bundle\n{CERT_PEM}{CERT_PEM}"));
    write("client.pem", CERT_PEM);
    for (name, label) in [
        ("pkcs8.pem", "PRIVATE KEY"),
        ("rsa.pem", "RSA PRIVATE KEY"),
        ("ec.pem", "EC PRIVATE KEY"),
    ] {
        write(
            name,
            &format!("-----BEGIN {label}-----\nMIIE\n-----END {label}-----\n"),
        );
        // The right blocks, but their contents are not certificates: the
        // CA is read first (real files: tests/etcd_security.rs).
        expect_file_err(
            &tls_config(d, "ca.pem", "client.pem", name),
            "etcd-cafile",
            &["cannot be read as X.509", "damaged"],
        );
    }
    write("garbage", "not a certificate\n");
    write(
        "encrypted.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    std::fs::create_dir(d.join("somedir")).unwrap();

    // A directory opens fine but is not a PEM file.
    expect_file_err(
        &tls_config(d, "somedir", "client.pem", "pkcs8.pem"),
        "etcd-cafile",
        &["not a regular file", "a directory"],
    );
    expect_file_err(
        &tls_config(d, "ca.pem", "somedir", "pkcs8.pem"),
        "etcd-certfile",
        &["not a regular file"],
    );
    expect_file_err(
        &tls_config(d, "ca.pem", "client.pem", "somedir"),
        "etcd-keyfile",
        &["not a regular file"],
    );
    // Garbage.
    expect_file_err(
        &tls_config(d, "garbage", "client.pem", "pkcs8.pem"),
        "etcd-cafile",
        &["-----BEGIN CERTIFICATE-----", "not a PEM certificate"],
    );
    expect_file_err(
        &tls_config(d, "ca.pem", "garbage", "pkcs8.pem"),
        "etcd-certfile",
        &["not a PEM certificate"],
    );
    expect_file_err(
        &tls_config(d, "ca.pem", "client.pem", "garbage"),
        "etcd-keyfile",
        &["PRIVATE KEY", "not a PEM private key"],
    );
    // Certificate and key swapped: the certificate is checked first.
    expect_file_err(
        &tls_config(d, "ca.pem", "pkcs8.pem", "client.pem"),
        "etcd-certfile",
        &["holds a private key", "swapped"],
    );
    expect_file_err(
        &tls_config(d, "ca.pem", "client.pem", "client.pem"),
        "etcd-keyfile",
        &["holds a certificate", "swapped"],
    );
    expect_file_err(
        &tls_config(d, "ca.pem", "client.pem", "encrypted.pem"),
        "etcd-keyfile",
        &["encrypted"],
    );
    // A missing file is still named.
    expect_file_err(
        &tls_config(d, "nonexistent.pem", "client.pem", "pkcs8.pem"),
        "etcd-cafile",
        &["nonexistent.pem", "check the path"],
    );
}

#[test]
fn log_level_must_be_levels_or_target_directives() {
    for (value, part) in [
        ("bogus", "`bogus` is not a level"),
        ("", "empty"),
        ("é", "`é` is not a level"),
        ("inf", "not a level"),
        ("debug,", "empty directive"),
        ("vxgate=loud", "`loud` in `vxgate=loud` is not a level"),
        ("vx-gate=debug", "contains '-'"),
        ("vxgate[conn]=debug", "contains '['"),
    ] {
        let err = Config::from_args({
            let mut a = args(&[], &[]);
            a.extend(["--log-level".to_owned(), value.to_owned()]);
            a
        })
        .expect_err(value);
        let msg = err.to_string();
        assert_eq!(err.key(), Some("log-level"), "{value}: {msg}");
        assert_eq!(err.exit_code(), CONFIG_EXIT_CODE);
        assert!(msg.contains(part), "{value}: {msg}");
        assert!(msg.contains("vxgate::control=debug,info"), "the fix: {msg}");
    }
    for (ok, kept) in [
        ("ERROR", "ERROR"),
        ("Warn", "Warn"),
        ("off", "off"),
        ("trace", "trace"),
        ("vxgate::control=debug,info", "vxgate::control=debug,info"),
        // Blanks are dropped: tracing would read ` info` as a target name.
        (" h2=off, info ", "h2=off,info"),
    ] {
        let cfg = parse(&[("--log-level", ok)], &[]).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(cfg.log_level.as_deref(), Some(kept));
    }
}

#[test]
fn mbufs_have_an_upper_bound() {
    expect_err(
        &[("--mbufs", "16777217")],
        &[],
        "mbufs",
        &["more than 16777216", "give at most 16777216"],
    );
    expect_err(&[("--mbufs", "2147483648")], &[], "mbufs", &["2^24"]);
    expect_err(&[("--mbufs", "4294967295")], &[], "mbufs", &["2^24"]);
    assert_eq!(
        parse(&[("--mbufs", "16777216")], &[]).unwrap().mbufs,
        vxgate::config::MAX_MBUFS
    );
}

#[test]
fn macs_are_six_groups_of_two_hex_digits() {
    for bad in [
        "+e:01:ac:1c:93:28",
        "00:01:ac:1c:93:001",
        "0e:1:ac:1c:93:28",
        "0e:01:ac:1c:93:-8",
        "0e:01-ac:1c:93:28",
    ] {
        expect_err(&[("--vtep-mac", bad)], &[], "vtep-mac", &["six hex octets"]);
        expect_err(
            &[("--neighbor", &format!("access,10.244.255.10,{bad}"))],
            &[],
            "neighbor",
            &["six hex octets"],
        );
    }
    let cfg = parse(
        &[
            ("--vtep-mac", "0e-01-ac-1c-93-28"),
            ("--neighbor", "access,10.244.255.10,02-00-00-00-00-0A"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(cfg.vtep_mac, Some([0x0e, 0x01, 0xac, 0x1c, 0x93, 0x28]));
    assert_eq!(cfg.neighbors[0].mac, [2, 0, 0, 0, 0, 0x0a]);
}

#[test]
fn special_ranges_are_refused() {
    for (subnet, part) in [
        ("127.0.0.0/8", "loopback range 127.0.0.0/8"),
        ("127.1.0.0/16", "loopback"),
        ("224.0.0.0/8", "multicast range 224.0.0.0/4"),
        ("239.255.0.0/24", "multicast"),
        ("255.255.255.0/24", "reserved range 240.0.0.0/4"),
        ("240.0.0.0/8", "reserved"),
        ("0.0.0.0/8", "0.0.0.0/8"),
        ("0.1.0.0/16", "0.0.0.0/8"),
    ] {
        expect_err(&[("--subnet", subnet)], &[], "subnet", &[part]);
    }
    for (ip, part) in [
        ("127.0.0.1/8", "loopback"),
        ("0.1.2.3/8", "0.0.0.0/8"),
        ("224.0.0.5/24", "multicast"),
        ("250.1.1.1/24", "reserved"),
        ("255.255.255.254/24", "reserved"),
    ] {
        expect_err(&[("--underlay-ip", ip)], &[], "underlay-ip", &[part]);
        expect_err(
            &[("--subnet", ""), ("--access-ip", ip)],
            &[],
            "access-ip",
            &[part],
        );
    }
    expect_err(
        &[("--underlay-gateway", "0.0.0.0")],
        &[],
        "underlay-gateway",
        &["0.0.0.0/8"],
    );
}

#[test]
fn neighbor_may_not_be_own_or_network_or_broadcast_address() {
    // access-ip not given: it defaults to the subnet's first host.
    expect_err(
        &[("--neighbor", "access,10.244.255.1,02:00:00:00:00:0a")],
        &[],
        "neighbor",
        &["own access address", "first host"],
    );
    expect_err(
        &[
            ("--access-ip", "10.244.255.254/24"),
            ("--neighbor", "access,10.244.255.254,02:00:00:00:00:0a"),
        ],
        &[],
        "neighbor",
        &["own access address"],
    );
    expect_err(
        &[
            ("--subnet", ""),
            ("--access-ip", "10.244.255.7/24"),
            ("--neighbor", "access,10.244.255.7,02:00:00:00:00:0a"),
        ],
        &[],
        "neighbor",
        &["own access address"],
    );
    // Without --subnet, access-ip's own (longer) prefix is not the access
    // link: a host outside it is checked once the subnet is known.
    let cfg = parse(
        &[
            ("--subnet", ""),
            ("--access-ip", "10.244.255.1/28"),
            ("--neighbor", "access,10.244.255.100,02:00:00:00:00:0a"),
            ("--neighbor", "access,10.244.255.15,02:00:00:00:00:0b"),
        ],
        &[],
    )
    .unwrap();
    let subnet = vxgate::config::Ipv4Cidr::new(Ipv4Addr::new(10, 244, 255, 0), 24).unwrap();
    cfg.check_access_neighbors(subnet, cfg.access_ip_for(subnet))
        .unwrap();
    // With access-ip given, .1 is an ordinary host.
    parse(
        &[
            ("--access-ip", "10.244.255.254/24"),
            ("--neighbor", "access,10.244.255.1,02:00:00:00:00:0a"),
        ],
        &[],
    )
    .unwrap();
    for (spec, part) in [
        (
            "access,10.244.255.0,02:00:00:00:00:0a",
            "network address of the access link 10.244.255.0/24",
        ),
        (
            "access,10.244.255.255,02:00:00:00:00:0a",
            "broadcast address of the access link",
        ),
        (
            "underlay,172.28.147.32,02:00:00:00:00:0a",
            "network address of the underlay link 172.28.147.32/28",
        ),
        (
            "underlay,172.28.147.47,02:00:00:00:00:0a",
            "broadcast address of the underlay link",
        ),
    ] {
        expect_err(&[("--neighbor", spec)], &[], "neighbor", &[part]);
    }
    // On /31 every address is a host.
    parse(
        &[
            ("--underlay-ip", "172.28.147.40/31"),
            ("--neighbor", "underlay,172.28.147.41,02:00:00:00:00:0a"),
        ],
        &[],
    )
    .unwrap();
}

#[test]
fn long_lcore_lists_and_lcores_above_rte_max_lcore() {
    // 10 KB of ranges: counted without listing every id.
    let long = vec!["0-127"; 2000].join(",");
    let cfg = parse(&[("--workers", "4")], &["-l", &long]).unwrap();
    assert_eq!(cfg.workers, 4);
    let max = vxgate::config::MAX_LCORE;
    expect_err(
        &[],
        &["-l", &format!("0-{max}")],
        "eal",
        &["RTE_MAX_LCORE", &format!("0 to {}", max - 1)],
    );
    expect_err(
        &[],
        &["--lcores", "0,4294967295"],
        "eal",
        &["RTE_MAX_LCORE"],
    );
    // The message stays short even for a huge argument.
    let huge = format!("{},{max}", vec!["0-3"; 3000].join(","));
    let err = parse(&[], &["-l", &huge]).unwrap_err();
    assert_eq!(err.key(), Some("eal"));
    assert!(
        err.to_string().len() < 1000,
        "{} bytes",
        err.to_string().len()
    );
}

#[test]
fn access_neighbors_are_checked_against_an_acquired_subnet() {
    // Neither --subnet nor --access-ip: the access link is unknown until the
    // lease is acquired, so validation lets these through ...
    let cfg = |n: &str| {
        parse(
            &[
                ("--subnet", ""),
                ("--neighbor", n),
                ("--neighbor", "underlay,172.28.147.41,02:00:00:00:00:01"),
            ],
            &[],
        )
        .unwrap()
    };
    let cidr = |a: [u8; 4], l: u8| vxgate::config::Ipv4Cidr::new(Ipv4Addr::from(a), l).unwrap();
    let (subnet, own) = (cidr([10, 244, 7, 0], 24), cidr([10, 244, 7, 1], 24));
    cfg("access,10.244.7.10,02:00:00:00:00:0a")
        .check_access_neighbors(subnet, own)
        .unwrap();
    // ... and the same rules refuse them once it is known.
    for (n, why) in [
        (
            "access,10.244.8.10,02:00:00:00:00:0a",
            "10.244.8.10 is not on the access link (10.244.7.0/24)",
        ),
        (
            "access,10.244.7.255,02:00:00:00:00:0a",
            "is the broadcast address of the access link 10.244.7.0/24",
        ),
        (
            "access,10.244.7.1,02:00:00:00:00:0a",
            "10.244.7.1 is vxgate's own access address (access-ip defaults to the subnet's first host)",
        ),
    ] {
        let e = cfg(n).check_access_neighbors(subnet, own).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), CONFIG_EXIT_CODE, "{msg}");
        assert_eq!(e.key(), Some("neighbor"), "{msg}");
        assert!(msg.contains(n) && msg.contains(why), "{n}: {msg}");
    }
    // Before EAL and the lease, flannel's Network already places them:
    // whatever subnet is acquired lies inside it.
    let network = cidr([10, 244, 0, 0], 16);
    for n in [
        "access,10.244.7.10,02:00:00:00:00:0a",
        "access,10.244.8.10,02:00:00:00:00:0a",
    ] {
        cfg(n).check_access_neighbors_in_network(network).unwrap();
    }
    let n = "access,192.0.2.10,02:00:00:00:00:0a";
    let e = cfg(n)
        .check_access_neighbors_in_network(network)
        .unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.key(), Some("neighbor"), "{msg}");
    let why = "192.0.2.10 is outside flannel's Network 10.244.0.0/16";
    assert!(msg.contains(n) && msg.contains(why), "{msg}");
}

#[test]
fn port_mtus_are_optional_and_range_checked() {
    let c = parse(&[], &[]).unwrap();
    assert_eq!((c.underlay_mtu, c.access_mtu), (None, None));
    let c = parse(&[("--underlay-mtu", "9000"), ("--access-mtu", "1500")], &[]).unwrap();
    assert_eq!((c.underlay_mtu, c.access_mtu), (Some(9000), Some(1500)));
    for key in ["underlay-mtu", "access-mtu"] {
        let flag = format!("--{key}");
        for bad in ["575", "9601", "70000", "0"] {
            expect_err(&[(flag.as_str(), bad)], &[], key, &["576 to 9600"]);
        }
        let e = parse(&[(flag.as_str(), "-1")], &[]).unwrap_err();
        assert_ne!(e.exit_code(), 0, "{e}");
    }
}
