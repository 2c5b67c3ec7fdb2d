//! Tests of the numeric flags' ranges, and of errors that name the flag.

use super::*;
use crate::dpdk::PortConf;
use crate::pktgen::args::limits::{MAX_MBUFS, MIN_MBUFS, RING_DESC};

#[test]
fn bad_flags_name_the_flag() {
    for (args, key) in [
        (&["--size", "63"][..], "size"),
        (&["--mode", "vxlan", "--size", "100"][..], "size"),
        (&["--size", "9619"][..], "size"),
        (&["--rx-mtu", "575"][..], "rx-mtu"),
        (&["--rx-mtu", "70000"][..], "rx-mtu"),
        (&["--flows", "70000"][..], "flows"),
        (&["--mode", "vxlan", "--vteps", "300"][..], "vteps"),
        (&["--leases", "256"][..], "leases"),
        (&["--leases", "0"][..], "leases"),
        (
            &["--mode", "vxlan", "--gw-ip", "172.28.147.50"][..],
            "gw-ip",
        ),
        (&["--rate-pps", "0"][..], "rate-pps"),
        (&["--rfc2544", "--resolution", "0"][..], "resolution"),
        (
            &["--rfc2544", "--loss-tolerance", "101"][..],
            "loss-tolerance",
        ),
        (&["--mode", "vxlan", "--vni", "16777216"][..], "vni"),
    ] {
        let a = parse(args).unwrap();
        let e = a.plan([2; 6], [4; 6]).unwrap_err();
        assert_eq!(e.flag(), Some(key), "{args:?}: {e}");
        assert!(e.to_string().contains(&format!("--{key}")), "{args:?}: {e}");
    }
    assert!(parse(&["--dst-mac", "nope"]).is_err());
    assert!(parse(&["--dst-subnets", "10.1.0.0/16,bad"]).is_err());
}

#[test]
fn numeric_flags_have_documented_ranges() {
    for (args, key, needle) in [
        (
            &["--duration", "1e10"][..],
            "duration",
            "above the maximum, 315360000 s",
        ),
        (
            &["--duration", "0"][..],
            "duration",
            "below the minimum, 0.001 s",
        ),
        (
            &["--duration", "inf"][..],
            "duration",
            "from 0.001 to 315360000",
        ),
        (&["--duration", "NaN"][..], "duration", "not a number"),
        (
            &["--rate-pps", "1e-320"][..],
            "rate-pps",
            "below the minimum, 1 packets/s",
        ),
        (&["--rate-pps", "0.5"][..], "rate-pps", "from 1 to 1e10"),
        (
            &["--rate-pps", "2e10"][..],
            "rate-pps",
            "above the maximum, 1e10",
        ),
        (&["--rate-pps=-5"][..], "rate-pps", "below"),
        (
            &["--rfc2544", "--line-rate-mbps", "1e-300"][..],
            "line-rate-mbps",
            "from 1 to 1000000",
        ),
        (
            &["--rfc2544", "--line-rate-mbps", "1000001"][..],
            "line-rate-mbps",
            "above the maximum, 1000000 Mb/s",
        ),
        (
            &["--drain-ms", "18446744073709551615"][..],
            "drain-ms",
            "from 0 to 60000",
        ),
        (
            &["--drain-ms", "60001"][..],
            "drain-ms",
            "above the maximum, 60000 ms",
        ),
        (&["--count", "0"][..], "count", "from 1 to 281474976710656"),
        (&["--count", "281474976710657"][..], "count", "48 bits"),
        (&["--rfc2544", "--trial", "1e10"][..], "trial", "315360000"),
        (&["--rfc2544", "--trial", "0"][..], "trial", "0.001"),
        (
            &["--rfc2544", "--min-rate-pps", "0.5"][..],
            "min-rate-pps",
            "from 1 to 1e10",
        ),
    ] {
        refused_for(args, key, needle);
    }
    for args in [
        &["--duration", "315360000"][..],
        &["--duration", "0.001"][..],
        &["--rate-pps", "1"][..],
        &["--rate-pps", "1e10"][..],
        &["--drain-ms", "0"][..],
        &["--drain-ms", "60000"][..],
        &["--count", "281474976710656"][..],
        &["--rfc2544", "--line-rate-mbps", "1"][..],
        &[
            "--rfc2544",
            "--line-rate-mbps",
            "1000000",
            "--trial",
            "0.001",
        ][..],
    ] {
        accepted(args);
    }
}

#[test]
fn mbufs_must_cover_the_rings_and_fit_a_pool() {
    assert_eq!((MIN_MBUFS, MAX_MBUFS), (4288, 16_777_216));
    // MIN_MBUFS counts the rings pktgen opens with PortConf::default().
    let conf = PortConf::default();
    assert_eq!(u32::from(conf.rx_desc), RING_DESC);
    assert_eq!(u32::from(conf.tx_desc), RING_DESC);
    assert_eq!((conf.rx_queues, conf.tx_queues), (1, 1));
    for v in ["0", "383", "4287", "16777217", "2147483648", "4294967295"] {
        refused_for(&["--mbufs", v], "mbufs", "from 4288 to 16777216");
    }
    accepted(&["--mbufs", "4288"]);
    accepted(&["--mbufs", "16777216"]);
}

/// A replay pcap may hold more flows than pktgen sends: up to 2^20,
/// a frame to each of a million leases (`tests/pktgen_pcap.rs` reads
/// one back).
#[test]
fn replay_pcaps_may_hold_a_million_flows() {
    let with = |flows| {
        [
            "--write-pcap",
            "x.pcap",
            "--dst-mac",
            "02:00:00:00:00:02",
            "--network",
            "10.0.0.0/8",
            "--subnet-len",
            "28",
            "--host-ip",
            "10.255.255.242",
            "--flows",
            flows,
        ]
    };
    accepted(&with("1048576"));
    refused_for(&with("1048577"), "flows", "1048576");
    refused_for(&["--flows", "65537"], "flows", "16 bits");
}
