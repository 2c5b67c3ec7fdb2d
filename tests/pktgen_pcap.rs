//! The pcap writer (no EAL): every frame re-read with etherparse, headers,
//! addresses and checksums checked against the documented derivations.

mod common;
use common::pktgen::args;
use std::net::Ipv4Addr;

use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, UdpHeader};
use vxgate::pktgen::{self, flows, payload};

/// Reads a classic little-endian microsecond pcap into its frames.
fn read_pcap(bytes: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(&bytes[0..4], &0xa1b2_c3d4u32.to_le_bytes(), "pcap magic");
    assert_eq!(
        u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(bytes[at + 12..at + 16].try_into().unwrap()) as usize;
        assert_eq!(incl, orig, "never truncated");
        out.push(bytes[at + 16..at + 16 + incl].to_vec());
        at += 16 + incl;
    }
    assert_eq!(at, bytes.len(), "no trailing bytes");
    out
}

/// Checks Ethernet/IPv4/UDP with both checksums; returns the headers and
/// the UDP payload.
fn check_l2_l4(frame: &[u8]) -> (Ethernet2Header, Ipv4Header, UdpHeader, &[u8]) {
    let (eth, rest) = Ethernet2Header::from_slice(frame).expect("Ethernet");
    assert_eq!(eth.ether_type, EtherType::IPV4);
    let (ip, rest) = Ipv4Header::from_slice(rest).expect("IPv4");
    assert_eq!(
        ip.header_checksum,
        ip.calc_header_checksum(),
        "IPv4 checksum"
    );
    assert_eq!(ip.total_len as usize, 20 + rest.len(), "IPv4 length");
    assert_eq!(ip.protocol, IpNumber::UDP);
    assert!(!ip.dont_fragment && !ip.more_fragments);
    assert_eq!(ip.time_to_live, 64);
    let (udp, payload) = UdpHeader::from_slice(rest).expect("UDP");
    assert_eq!(udp.length as usize, rest.len(), "UDP length");
    if udp.checksum != 0 {
        assert_eq!(
            udp.checksum,
            udp.calc_checksum_ipv4(&ip, payload).unwrap(),
            "UDP checksum"
        );
    }
    (eth, ip, udp, payload)
}

fn in_range(ip: [u8; 4], first: Ipv4Addr, n: u32) -> bool {
    let (a, f) = (u32::from(Ipv4Addr::from(ip)), u32::from(first));
    a >= f && a - f < n
}

#[test]
fn inner_pcap_frames_are_valid_and_spread_over_lease_subnets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inner.pcap");
    let a = args(&[
        "--write-pcap",
        path.to_str().unwrap(),
        "--mode",
        "inner",
        "--dst-mac",
        "02:aa:00:00:00:01",
        "--src-mac",
        "02:bb:00:00:00:02",
        "--network",
        "10.244.0.0/16",
        "--subnet-len",
        "24",
        "--leases",
        "50",
        "--flows",
        "500",
        "--hosts",
        "4",
        "--count",
        "1000",
        "--size",
        "128",
    ]);
    assert_eq!(pktgen::write_pcap(&a).unwrap(), 1000);
    let frames = read_pcap(&std::fs::read(&path).unwrap());
    assert_eq!(frames.len(), 1000);
    let mut subnets = std::collections::BTreeSet::new();
    for (k, f) in frames.iter().enumerate() {
        assert_eq!(f.len(), 124, "128 B with FCS");
        let (eth, ip, udp, payload) = check_l2_l4(f);
        assert_ne!(udp.checksum, 0, "inner frames carry a UDP checksum");
        assert_eq!(eth.destination, [0x02, 0xaa, 0, 0, 0, 1]);
        assert_eq!(eth.source, [0x02, 0xbb, 0, 0, 0, 2]);
        let [a, b, c, d] = ip.destination;
        assert_eq!((a, b), (10, 244));
        assert!((1..=50).contains(&c), "lease subnets 10.244.1-50.0/24: {c}");
        assert!((2..=254).contains(&d), "a host, not .0/.1/.255: {d}");
        subnets.insert(c);
        assert!(in_range(ip.source, Ipv4Addr::new(10, 244, 255, 10), 4));
        assert_eq!(udp.destination_port, 5001);
        // Magic `VX` and run id 0: no live run counts a pcap's frames.
        assert_eq!(&payload[..5], b"VX\0\0\0");
        let st = payload::find(f).expect("stamp");
        assert_eq!(st.run, payload::PCAP_RUN_ID);
        assert_eq!(st.seq, k as u64);
        assert_eq!(u32::from(st.flow), k as u32 % 500);
    }
    assert_eq!(subnets.len(), 50, "every lease subnet gets traffic");
}

/// A replay pcap past pktgen's 65 536 flows: 70 000 flows over 70 000
/// leases give 70 000 valid frames, each to its own lease subnet.
#[test]
fn a_replay_pcap_addresses_more_leases_than_pktgen_sends_flows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.pcap");
    let a = args(&[
        "--write-pcap",
        path.to_str().unwrap(),
        "--dst-mac",
        "02:00:00:00:00:02",
        "--network",
        "10.0.0.0/8",
        "--subnet-len",
        "28",
        "--host-ip",
        "10.255.255.242",
        "--leases",
        "70000",
        "--flows",
        "70000",
        "--count",
        "70000",
    ]);
    assert_eq!(pktgen::write_pcap(&a).unwrap(), 70_000);
    let frames = read_pcap(&std::fs::read(&path).unwrap());
    assert_eq!(frames.len(), 70_000);
    let subnets: std::collections::HashSet<u32> = frames
        .iter()
        .map(|f| u32::from_be_bytes(check_l2_l4(f).1.destination) >> 4)
        .collect();
    assert_eq!(subnets.len(), 70_000, "a lease subnet per frame");
}

#[test]
fn vxlan_pcap_frames_come_from_the_derived_vteps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vxlan.pcap");
    let a = args(&[
        "--write-pcap",
        path.to_str().unwrap(),
        "--mode",
        "vxlan",
        "--dst-mac",
        "02:aa:00:00:00:01",
        "--vteps",
        "20",
        "--vtep-base",
        "172.28.100.10",
        "--gw-ip",
        "172.28.100.1",
        "--gw-vtep-mac",
        "0e:11:22:33:44:55",
        "--vni",
        "7",
        "--host-ip",
        "10.244.255.10",
        "--hosts",
        "8",
        "--flows",
        "400",
        "--count",
        "800",
    ]);
    assert_eq!(pktgen::write_pcap(&a).unwrap(), 800);
    let frames = read_pcap(&std::fs::read(&path).unwrap());
    assert_eq!(frames.len(), 800);
    let mut vteps = std::collections::BTreeSet::new();
    let mut sports = std::collections::BTreeSet::new();
    for (k, f) in frames.iter().enumerate() {
        assert_eq!(f.len(), 110, "default vxlan size 114 B with FCS");
        let (eth, ip, udp, vx) = check_l2_l4(f);
        assert_eq!(eth.destination, [0x02, 0xaa, 0, 0, 0, 1]);
        assert_eq!(ip.destination, [172, 28, 100, 1]);
        assert!(in_range(ip.source, Ipv4Addr::new(172, 28, 100, 10), 20));
        let v = u32::from(Ipv4Addr::from(ip.source)) - u32::from(Ipv4Addr::new(172, 28, 100, 10));
        vteps.insert(v);
        assert_eq!(udp.destination_port, 8472);
        assert!((32768..=60999).contains(&udp.source_port));
        sports.insert(udp.source_port);
        assert_eq!(udp.checksum, 0, "outer UDP checksum zero, as Linux VXLAN");
        assert_eq!(
            &vx[..8],
            &[0x08, 0, 0, 0, 0, 0, 7, 0],
            "VXLAN I flag, VNI 7"
        );
        let inner = &vx[8..];
        let (ieth, iip, iudp, ipayload) = check_l2_l4(inner);
        assert_ne!(iudp.checksum, 0);
        assert_eq!(ieth.source, flows::vtep_mac(v), "VTEP v's MAC");
        assert_eq!(ieth.source[..3], [0x0e, 0x56, 0x54]);
        assert_eq!(ieth.destination, [0x0e, 0x11, 0x22, 0x33, 0x44, 0x55]);
        let [a, b, c, _] = iip.source;
        assert_eq!(
            (a, b, u32::from(c)),
            (10, 244, v + 1),
            "from lease v = 10.244.(v+1).0/24"
        );
        assert!(in_range(
            iip.destination,
            Ipv4Addr::new(10, 244, 255, 10),
            8
        ));
        assert_eq!(&ipayload[..5], b"VX\0\0\0");
        assert_eq!(payload::find(f).expect("stamp").seq, k as u64);
    }
    assert_eq!(vteps.len(), 20, "all VTEPs send");
    assert!(sports.len() >= 400, "outer source port varies per flow");
}
