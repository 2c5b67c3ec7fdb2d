//! Tests of the frame plan, defaults and MTUs the flags give; helpers the others share.

mod addresses;
mod conflicts;
mod ranges;

use super::limits::{FRAME_OVERHEAD, MAX_STANDARD_SIZE};
use super::tests_support::{parse, Cli};
use crate::config::ConfigError;
use crate::pktgen::flows::{lease_subnet, Mode};

#[test]
fn defaults_give_64_byte_inner_frames_to_16_leases() {
    let a = parse(&["--tx-port", "net_ring0"]).unwrap();
    let p = a.plan([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).unwrap();
    assert_eq!(p.frame_len, 60);
    assert_eq!(p.dst_nets.len(), 16);
    assert_eq!(p.dst_nets[15].to_string(), "10.244.16.0/24");
}

#[test]
fn vxlan_default_size_fits_the_stamp() {
    let a = parse(&["--mode", "vxlan", "--vteps", "4"]).unwrap();
    assert_eq!(a.frame_size(), 114);
    let p = a.plan([2; 6], [4; 6]).unwrap();
    assert_eq!(p.vtep_nets[3].to_string(), "10.244.4.0/24");
}

#[test]
fn eal_arguments_follow_the_double_dash() {
    let a = parse(&["--tx-port", "0", "--", "-l", "0-2", "--no-pci"]).unwrap();
    assert_eq!(a.eal, ["-l", "0-2", "--no-pci"]);
}

/// The validation error of `args` (which clap accepts).
fn refused(args: &[&str]) -> ConfigError {
    let a = parse(args).unwrap_or_else(|e| panic!("{args:?}: clap refused: {e}"));
    match a.validate() {
        Ok(()) => panic!("{args:?} accepted"),
        Err(e) => e,
    }
}

/// `args` are refused for `key`, with a message naming `--key` (the
/// fix) and containing `needle`; exit code 2.
fn refused_for(args: &[&str], key: &str, needle: &str) {
    let e = refused(args);
    let msg = e.to_string();
    assert_eq!(e.key(), Some(key), "{args:?}: {msg}");
    assert!(
        msg.starts_with(&format!("invalid {key} ")),
        "{args:?}: {msg}"
    );
    assert!(msg.contains(&format!("--{key}")), "{args:?}: {msg}");
    assert!(msg.contains(needle), "{args:?}: {msg} lacks {needle:?}");
    assert_eq!(e.exit_code(), 2);
}

fn accepted(args: &[&str]) {
    let a = parse(args).unwrap_or_else(|e| panic!("{args:?}: clap refused: {e}"));
    if let Err(e) = a.validate() {
        panic!("{args:?} refused: {e}");
    }
}

#[test]
fn jumbo_sizes_set_the_port_mtu() {
    let mtu = |size: &str| parse(&["--size", size]).unwrap().port_mtu();
    assert_eq!(mtu("64"), None);
    assert_eq!(mtu("1518"), None, "standard Ethernet's largest");
    assert_eq!(mtu("1519"), Some(1501));
    assert_eq!(mtu("9018"), Some(9000));
    assert_eq!(mtu("9618"), Some(9600));
    accepted(&["--size", "9618"]);
    // The RX port follows the TX port unless told otherwise.
    let a = parse(&["--size", "9018"]).unwrap();
    assert_eq!(a.rx_port_mtu(), Some(9000));
    let a = parse(&["--size", "8968", "--rx-mtu", "9000"]).unwrap();
    assert_eq!((a.port_mtu(), a.rx_port_mtu()), (Some(8950), Some(9000)));
    let a = parse(&["--size", "1518", "--rx-mtu", "1550"]).unwrap();
    assert_eq!((a.port_mtu(), a.rx_port_mtu()), (None, Some(1550)));
    accepted(&["--rx-mtu", "9600"]);
}

/// Fewer leases built than asked for (at most one per flow) give the
/// same frames as all of them.
#[test]
fn leases_beyond_the_flows_change_no_frame() {
    for (mode, key, n) in [("inner", "--leases", "200"), ("vxlan", "--vteps", "200")] {
        let a = parse(&["--mode", mode, key, n, "--flows", "50"]).unwrap();
        let short = a.plan([2; 6], [4; 6]).unwrap();
        let mut full = short.clone();
        let all = a.leases_of(200, "leases").unwrap();
        assert_eq!(all.len(), 50, "built for the 50 flows only");
        let all: Vec<_> = (0..200)
            .map(|i| lease_subnet(a.network, a.subnet_len, i).unwrap())
            .collect();
        match a.mode {
            Mode::Inner => full.dst_nets = all,
            Mode::Vxlan => full.vtep_nets = all,
        }
        for f in 0..50 {
            assert_eq!(short.addrs(f), full.addrs(f), "{mode} flow {f}");
        }
    }
}

#[test]
fn a_port_doing_both_never_gets_an_mtu_below_the_tx_frames() {
    let shared = |args: &[&str]| parse(args).unwrap().shared_port_mtu();
    // 1514-byte frames on a port asked for RX MTU 576: left as it is,
    // not 576 (None sorted below Some(576) once).
    assert_eq!(shared(&["--size", "1518", "--rx-mtu", "576"]), None);
    assert_eq!(shared(&["--size", "9018", "--rx-mtu", "1500"]), Some(9000));
    // The larger of the two otherwise.
    assert_eq!(shared(&["--size", "9018", "--rx-mtu", "9050"]), Some(9050));
    assert_eq!(shared(&["--size", "1518", "--rx-mtu", "1550"]), Some(1550));
    assert_eq!(shared(&["--size", "1518", "--rx-mtu", "1500"]), Some(1500));
    assert_eq!(shared(&["--size", "64", "--rx-mtu", "576"]), Some(576));
    assert_eq!(shared(&["--size", "9018"]), Some(9000));
    assert_eq!(shared(&[]), None);
    for size in [64u32, 1518, 1519, 4000, 9618] {
        for rx in ["576", "1500", "1550", "9000", "9600"] {
            let mtu = shared(&["--size", &size.to_string(), "--rx-mtu", rx]);
            if let Some(m) = mtu {
                assert!(u32::from(m) + FRAME_OVERHEAD >= size, "{size} {rx}: {m}");
            } else {
                assert!(size <= MAX_STANDARD_SIZE, "{size} {rx}: left as it is");
            }
        }
    }
}

#[test]
fn rfc2544_only_flags_say_so_in_their_help() {
    use clap::CommandFactory;
    let cmd = Cli::command();
    for id in ["min_rate_pps", "line_rate_mbps"] {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id() == id)
            .unwrap_or_else(|| panic!("no {id}"));
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        assert!(help.contains("Only with --rfc2544"), "{id}: {help}");
    }
}

#[test]
fn lease_counts_are_checked_before_any_allocation() {
    let args = [
        "--leases",
        "4294967295",
        "--network",
        "0.0.0.0/0",
        "--subnet-len",
        "30",
    ];
    refused_for(&args, "leases", "1073741823 fit");
    let a = parse(&args).unwrap();
    let e = a.leases_of(u32::MAX, "leases").unwrap_err();
    assert_eq!(e.flag(), Some("leases"));
    let e = a.plan([2; 6], [4; 6]).unwrap_err();
    assert_eq!(e.flag(), Some("leases"));
    // The most that fit is accepted, and only the leases the flows use
    // are built (flow f uses lease f % n).
    let most = [
        "--leases",
        "1073741823",
        "--network",
        "0.0.0.0/0",
        "--subnet-len",
        "30",
        "--flows",
        "8",
    ];
    accepted(&most);
    let p = parse(&most).unwrap().plan([2; 6], [4; 6]).unwrap();
    assert_eq!(p.dst_nets.len(), 8);
    let a = parse(&["--mode", "vxlan", "--vteps", "200", "--flows", "3"]).unwrap();
    let p = a.plan([2; 6], [4; 6]).unwrap();
    assert_eq!(
        (p.vtep_nets.len(), p.vteps),
        (3, 200),
        "VTEP f % 200 of 3 flows"
    );
    refused_for(&["--mode", "vxlan", "--vteps", "256"], "vteps", "255 fit");
    // --dst-subnets replaces the leases, but a --leases given with it is
    // still range-checked.
    refused_for(
        &["--dst-subnets", "10.1.0.0/16", "--leases", "4294967295"],
        "leases",
        "255 fit",
    );
    refused_for(
        &["--dst-subnets", "10.1.0.0/16", "--leases", "0"],
        "leases",
        "from 1 to 255",
    );
    accepted(&["--dst-subnets", "10.1.0.0/16", "--leases", "255"]);
    accepted(&["--dst-subnets", "10.1.0.0/16"]);
}
