//! Tests of `run`'s helpers: the metrics address under `--check-config`, and the MTUs.

use super::metrics_endpoint::metrics_bind_error;
use super::mtu::capped_mtu;
use super::*;

/// `--check-config` refuses a metrics address as the start would
/// (same config error, exit 2), except one in use: the live vxgate's.
#[test]
fn check_config_refuses_metrics_addrs_the_start_would_refuse() {
    let config_error = |r: anyhow::Result<()>| {
        let e = r.expect_err("refused");
        let ce = e.downcast_ref::<ConfigError>().expect("a config error");
        assert_eq!(ce.key(), Some("metrics-addr"), "{ce}");
        assert_eq!(ce.exit_code(), 2, "{ce}");
        ce.to_string()
    };
    // Held by someone else: fine for a check.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(check_metrics_addr(held.local_addr().unwrap()).is_ok());
    // Free: fine, and left free (the listener was closed).
    let free = held.local_addr().unwrap();
    drop(held);
    check_metrics_addr(free).unwrap();
    std::net::TcpListener::bind(free).expect("the check left the port free");
    // Not an address of this host (TEST-NET-3).
    let msg = config_error(check_metrics_addr("203.0.113.77:9477".parse().unwrap()));
    assert!(
        msg.contains("no interface of this host has that address"),
        "{msg}"
    );
    // A port below 1024 without the capability (the tests may run as
    // root, so the kernel's answer is given here).
    let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    let msg = config_error(Err(metrics_bind_error(free, denied)));
    assert!(msg.contains("CAP_NET_BIND_SERVICE"), "{msg}");
}

#[test]
fn mtu_is_capped_to_what_one_buffer_holds() {
    let room = dpdk::DEFAULT_DATA_ROOM;
    assert_eq!(capped_mtu("p", "underlay-mtu", 1500, room), 1500);
    assert_eq!(capped_mtu("p", "underlay-mtu", 2022, room), 2022);
    assert_eq!(capped_mtu("p", "underlay-mtu", 2034, room), 2022);
    assert_eq!(capped_mtu("p", "underlay-mtu", 9000, room), 2022);
    let jumbo = dpdk::data_room_for_mtus([Some(9000)]);
    assert_eq!(capped_mtu("p", "underlay-mtu", 9000, jumbo), 9000);
}

#[test]
fn tunnel_mtu_is_backend_mtu_minus_50_within_the_port() {
    assert_eq!(tunnel_mtu(None, 1500), 1450);
    assert_eq!(tunnel_mtu(None, 9000), 8950);
    assert_eq!(tunnel_mtu(Some(1400), 1500), 1350);
    assert_eq!(tunnel_mtu(Some(1500), 1500), 1450);
    // Above the port: capped, so every VXLAN frame fits it.
    assert_eq!(tunnel_mtu(Some(9000), 1500), 1450);
    assert_eq!(tunnel_mtu(Some(u32::MAX), 9000), 8950);
    assert_eq!(tunnel_mtu(Some(10), 1500), 0);
}
