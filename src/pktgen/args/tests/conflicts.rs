//! Tests of flags that contradict each other or would be ignored (modes, pcap, RFC 2544).

use super::*;
use crate::pktgen::args::limits::{DEFAULT_GW_IP, DEFAULT_VTEP_BASE};

#[test]
fn a_rate_for_a_duration_may_not_outrun_48_bit_sequence_numbers() {
    refused_for(
        &["--rate-pps", "1e10", "--duration", "315360000"],
        "duration",
        "give --duration of at most 28147 s at this rate",
    );
    refused_for(
        &["--rate-pps", "1e10", "--duration", "28148"],
        "duration",
        "2^48",
    );
    accepted(&["--rate-pps", "1e10", "--duration", "28147"]);
    // A --count bounds the run; neither alone says how many are sent.
    accepted(&[
        "--rate-pps",
        "1e10",
        "--duration",
        "315360000",
        "--count",
        "1000",
    ]);
    accepted(&["--duration", "315360000"]);
    accepted(&["--rate-pps", "1e10"]);
}

#[test]
fn rfc2544_flags_may_not_contradict() {
    // min above the highest rate there is, above line rate, or of a
    // search that was not asked for.
    refused_for(
        &["--rfc2544", "--min-rate-pps", "1e300"],
        "min-rate-pps",
        "above the maximum, 1e10",
    );
    refused_for(
        &[
            "--rfc2544",
            "--line-rate-mbps",
            "10000",
            "--min-rate-pps",
            "2e7",
        ],
        "min-rate-pps",
        "above the line rate the search starts at, 14880952 packets/s",
    );
    accepted(&[
        "--rfc2544",
        "--line-rate-mbps",
        "10000",
        "--min-rate-pps",
        "14880952",
    ]);
    let a = parse(&["--rfc2544", "--min-rate-pps", "2e7"]).unwrap();
    a.validate().unwrap();
    let e = a
        .check_min_rate(2e7, 10_000.0, "port x's link speed")
        .unwrap_err();
    assert!(e.to_string().contains("from port x's link speed"), "{e}");
    refused_for(&["--min-rate-pps", "1000"], "min-rate-pps", "add --rfc2544");
    refused_for(
        &["--line-rate-mbps", "1000"],
        "line-rate-mbps",
        "add --rfc2544",
    );
    // Fixed-rate flags that the search would ignore.
    for (flag, v) in [("rate-pps", "1000"), ("duration", "5"), ("count", "100")] {
        refused_for(&["--rfc2544", &format!("--{flag}"), v], flag, "--trial");
    }
    refused_for(
        &[
            "--rfc2544",
            "--write-pcap",
            "x.pcap",
            "--dst-mac",
            "02:00:00:00:00:02",
        ],
        "write-pcap",
        "drop one of --write-pcap and --rfc2544",
    );
    // --trial, --resolution and --loss-tolerance need --rfc2544 (clap);
    // their defaults do not.
    for (flag, v) in [
        ("--trial", "5"),
        ("--resolution", "0.5"),
        ("--loss-tolerance", "1"),
    ] {
        let e = parse(&[flag, v])
            .err()
            .unwrap_or_else(|| panic!("{flag} alone accepted"));
        assert!(e.to_string().contains("--rfc2544"), "{e}");
        assert_eq!(e.exit_code(), 2);
        accepted(&["--rfc2544", flag, v]);
    }
    accepted(&[]);
}

#[test]
fn flags_of_the_other_mode_are_refused_not_ignored() {
    for (flag, v) in [
        ("vteps", "8"),
        ("vtep-base", "172.28.147.100"),
        ("gw-ip", "172.28.147.40"),
        ("gw-vtep-mac", "0e:aa:bb:cc:dd:ee"),
        ("vni", "1"),
        ("vxlan-port", "4789"),
    ] {
        let f = format!("--{flag}");
        // Even the default value, given explicitly, would be ignored.
        refused_for(&[&f, v], flag, "give --mode vxlan");
        refused_for(
            &["--mode", "inner", &f, v],
            flag,
            "--mode inner would ignore it",
        );
        accepted(&["--mode", "vxlan", &f, v]);
    }
    for (flag, v) in [("dst-subnets", "10.1.0.0/16,10.2.0.0/16"), ("leases", "4")] {
        let f = format!("--{flag}");
        refused_for(&["--mode", "vxlan", &f, v], flag, "give --mode inner");
        accepted(&[&f, v]);
    }
    let e = refused(&[
        "--mode",
        "vxlan",
        "--dst-subnets",
        "10.1.0.0/16,10.2.0.0/16",
    ]);
    assert!(e.to_string().contains("`10.1.0.0/16,10.2.0.0/16`"), "{e}");
    // Flags both modes use stay accepted in both.
    for mode in ["inner", "vxlan"] {
        accepted(&[
            "--mode",
            mode,
            "--hosts",
            "4",
            "--host-ip",
            "10.244.255.20",
            "--udp-port",
            "9",
            "--network",
            "10.0.0.0/8",
            "--subnet-len",
            "16",
            "--flows",
            "8",
        ]);
    }
    // Defaults apply when the flags are not given.
    let a = parse(&["--mode", "vxlan"]).unwrap();
    let p = a.plan([2; 6], [4; 6]).unwrap();
    assert_eq!((p.vteps, p.vni, p.vxlan_port), (16, 1, 8472));
    assert_eq!((p.vtep_base, p.gw_ip), (DEFAULT_VTEP_BASE, DEFAULT_GW_IP));
    // The VtepMAC `vxgate run` takes without --vtep-mac, so default
    // VXLAN frames pass its inner destination MAC check.
    assert_eq!(p.gw_vtep_mac, [0x0e, 0x01, 172, 28, 147, 40]);
    let a = parse(&["--mode", "vxlan", "--gw-ip", "192.0.2.7", "--vni", "42"]).unwrap();
    let p = a.plan([2; 6], [4; 6]).unwrap();
    assert_eq!(p.gw_vtep_mac, crate::config::default_vtep_mac(p.gw_ip, 42));
    assert_eq!((a.mbufs(), a.drain_ms()), (16383, 500));
}

#[test]
fn write_pcap_refuses_drain_mbufs_and_the_rfc2544_rates() {
    for (flag, v) in [("drain-ms", "100"), ("mbufs", "8192")] {
        let f = format!("--{flag}");
        refused_for(
            &[
                "--write-pcap",
                "x.pcap",
                "--dst-mac",
                "02:00:00:00:00:02",
                &f,
                v,
            ],
            flag,
            "sends nothing",
        );
        accepted(&[&f, v]);
    }
    // The RFC 2544 rates: said not to apply, not "add --rfc2544" (which
    // --write-pcap refuses).
    for (flag, v) in [("line-rate-mbps", "1000"), ("min-rate-pps", "5")] {
        let f = format!("--{flag}");
        let e = refused(&[
            "--write-pcap",
            "x.pcap",
            "--dst-mac",
            "02:00:00:00:00:02",
            &f,
            v,
        ]);
        let msg = e.to_string();
        assert!(
            !msg.contains("add --rfc2544") && !msg.contains("--rate-pps"),
            "{msg}"
        );
        refused_for(
            &[
                "--write-pcap",
                "x.pcap",
                "--dst-mac",
                "02:00:00:00:00:02",
                &f,
                v,
            ],
            flag,
            "sends nothing",
        );
        accepted(&["--rfc2544", &f, v]);
    }
}

#[test]
fn the_warm_up_is_an_rfc2544_flag_with_a_range() {
    assert_eq!(parse(&["--rfc2544"]).unwrap().warmup_ms(), 500);
    assert_eq!(parse(&[]).unwrap().warmup_ms(), 0, "no search, no warm-up");
    let a = parse(&["--rfc2544", "--warmup-ms", "0"]).unwrap();
    assert_eq!(a.warmup_ms(), 0);
    for v in ["0", "60000"] {
        accepted(&["--rfc2544", "--warmup-ms", v]);
    }
    for v in ["60001", "18446744073709551615"] {
        refused_for(
            &["--rfc2544", "--warmup-ms", v],
            "warmup-ms",
            "give --warmup-ms from 0 to 60000",
        );
    }
    refused_for(
        &["--warmup-ms", "100"],
        "warmup-ms",
        "add --rfc2544, or drop --warmup-ms (a run at a fixed rate has no warm-up)",
    );
    // --write-pcap sends nothing: refused as a flag it would ignore
    // (not with advice to add --rfc2544, which --write-pcap refuses).
    refused_for(
        &[
            "--write-pcap",
            "x.pcap",
            "--dst-mac",
            "02:00:00:00:00:02",
            "--warmup-ms",
            "100",
        ],
        "warmup-ms",
        "sends nothing",
    );
}
