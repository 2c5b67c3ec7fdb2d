//! Tests of the addresses, MACs, ports and networks the flags put on the wire.

use super::*;

#[test]
fn a_group_source_mac_is_refused() {
    for mac in [
        "ff:ff:ff:ff:ff:ff",
        "01:00:5e:00:00:01",
        "33:33:00:00:00:01",
    ] {
        refused_for(&["--src-mac", mac], "src-mac", "give a unicast --src-mac");
        refused_for(
            &[
                "--src-mac",
                mac,
                "--write-pcap",
                "x.pcap",
                "--dst-mac",
                "02:00:00:00:00:02",
            ],
            "src-mac",
            mac,
        );
    }
    accepted(&["--src-mac", "02:00:00:00:00:01"]);
    accepted(&["--src-mac", "3c:fd:fe:00:00:01"]);
    // A broadcast destination is a test setup, not a mistake.
    accepted(&["--dst-mac", "ff:ff:ff:ff:ff:ff"]);
}

#[test]
fn addresses_on_the_wire_are_hosts_and_ports_are_not_zero() {
    for ip in ["0.0.0.0", "255.255.255.255"] {
        refused_for(&["--host-ip", ip], "host-ip", "not a host's address");
        for key in ["gw-ip", "vtep-base"] {
            let f = format!("--{key}");
            refused_for(&["--mode", "vxlan", &f, ip], key, "neither 0.0.0.0 nor");
        }
    }
    // Up to the last address below the broadcast address.
    accepted(&["--host-ip", "255.255.255.254"]);
    accepted(&["--host-ip", "255.255.255.250", "--hosts", "5"]);
    refused_for(
        &["--host-ip", "255.255.255.250", "--hosts", "6"],
        "hosts",
        "give --hosts from 1 to 5",
    );
    accepted(&["--host-ip", "0.0.0.1", "--hosts", "4294967294"]);
    let vx = |base: &str, n: &str| {
        ["--mode", "vxlan", "--network", "0.0.0.0/0"]
            .into_iter()
            .chain(["--subnet-len", "30", "--vtep-base", base, "--vteps", n])
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let a = vx("255.255.255.239", "16");
    accepted(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let a = vx("255.255.255.240", "16");
    refused_for(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        "vteps",
        "reach 255.255.255.255",
    );
    // /31 and /32 destinations away from the two are fine, as are
    // longer prefixes holding them (hosts skip network and broadcast).
    for net in [
        "10.1.0.0/31",
        "10.1.0.7/32",
        "0.0.0.0/30",
        "255.255.255.252/30",
    ] {
        accepted(&["--dst-subnets", net]);
    }
    for net in ["0.0.0.1/31", "255.255.255.255/32"] {
        refused_for(
            &["--dst-subnets", net],
            "dst-subnets",
            "not a host's address",
        );
    }
    // Port 0 only.
    refused_for(&["--udp-port", "0"], "udp-port", "from 1 to 65535");
    refused_for(
        &["--mode", "vxlan", "--vxlan-port", "0"],
        "vxlan-port",
        "from 1 to 65535",
    );
    accepted(&["--udp-port", "65535"]);
    accepted(&["--mode", "vxlan", "--vxlan-port", "1"]);
    // The all-zero source MAC, beside the group addresses.
    refused_for(
        &["--src-mac", "00:00:00:00:00:00"],
        "src-mac",
        "all-zero address",
    );
    accepted(&["--src-mac", "00:00:00:00:00:01"]);
}

#[test]
fn a_network_too_small_for_leases_is_blamed_on_network() {
    for net in ["255.255.255.255/32", "10.0.0.0/31", "10.0.0.0/30"] {
        refused_for(&["--network", net], "network", "/29 or shorter");
    }
    refused_for(
        &["--network", "10.0.0.0/24", "--subnet-len", "24"],
        "subnet-len",
        "from 25 to 30",
    );
    refused_for(&["--subnet-len", "31"], "subnet-len", "from 17 to 30");
    // A /29 holds one /30 lease (the second).
    accepted(&[
        "--network",
        "10.0.0.0/29",
        "--subnet-len",
        "30",
        "--leases",
        "1",
    ]);
    refused_for(
        &[
            "--network",
            "10.0.0.0/29",
            "--subnet-len",
            "30",
            "--leases",
            "2",
        ],
        "leases",
        "1 fit",
    );
}
