//! The worker and the slow path on real DPDK ports with known tables: the
//! exact bytes of encap and decap bursts, every drop reason of a mixed burst
//! counted once, ICMP errors out of the right port, frames held for an
//! unresolved next hop released by an ARP reply or dropped after
//! `RESOLVE_TIMEOUT` (fragments one drop each), a too-big packet fragmented
//! by the slow path (a fragment past byte 65535 refused as bad_ipv4 by the
//! worker and the slow path alike), ARP requests merged into the neighbour
//! table (RFC 826), ARPs from our own MAC ignored, requests from a sender
//! no host can be not answered, and the mempool back at its baseline (no
//! mbuf leak).
//! EAL starts once per process: run with `cargo nextest`.
//!
//! Two net_ring ports, access = net_ring0 and underlay = net_ring1, with two
//! queue pairs each. A net_ring queue's TX loops back to the same queue's
//! RX, so the worker reads queue 0 and sends on queue 1, and the test
//! injects on queue 0 and reads what the worker sent from queue 1:
//!
//! ```text
//! test tx q0 -> ring0 q0 -> worker access rx     worker access tx q1 -> ring0 q1 -> test rx
//! test tx q0 -> ring1 q0 -> worker underlay rx   worker underlay tx q1 -> ring1 q1 -> test rx
//! ```
mod common;

use common::runtime_dir::RuntimeDir;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etherparse::{EtherType, IpNumber, LinkSlice, NetSlice, SlicedPacket, TransportSlice};
use vxgate::dpdk::{self, Burst, Eal, Mbuf, Mempool, Port, PortConf, RxQueue, TxQueue, BURST};
use vxgate::pipeline::context::Context;
use vxgate::pipeline::encap::{flow_hash, src_port, SRC_PORT_MAX, SRC_PORT_MIN};
use vxgate::pipeline::fragment::Fragmenter;
use vxgate::pipeline::slowpath_loop::{
    forget_age, refresh_age, SlowPath, ARP_LOCKTIME, ARP_RETRY, HOLD_PER_NEIGHBOR, NEIGHBOR_PROBE,
    NEIGHBOR_PROBES, NEIGHBOR_REFRESH, RESOLVE_TIMEOUT,
};
use vxgate::pipeline::tables::TableLookup;
use vxgate::pipeline::testing::{
    self, Ip, ACCESS_IP, ACCESS_MAC, UNDERLAY_GW, UNDERLAY_IP, UNDERLAY_MAC, VTEP_MAC,
};
use vxgate::pipeline::worker::{OutgoingQueue, PuntQueue, Punted, Queues, Worker, WorkerStats};
use vxgate::pipeline::{
    CounterSnapshot, Counters, DropReason, Side, SlowKind, Verdict, WorkerState,
};
use vxgate::table::{LeaseTables, NeighborPort, NeighborTables};
use vxgate::wire::{ipv4, MacAddr};

// ------------------------------------------------------------ topology

/// A flannel node holding a lease, and the underlay MAC its VXLAN frames
/// go to (its own when on-link, the underlay gateway's when not).
#[derive(Clone, Copy, Debug)]
struct Node {
    subnet: Ipv4Addr,
    public_ip: Ipv4Addr,
    vtep_mac: MacAddr,
    hop_ip: Ipv4Addr,
    hop_mac: MacAddr,
}

const NODE1_IP: Ipv4Addr = Ipv4Addr::new(172, 28, 147, 45);
const NODE2_IP: Ipv4Addr = Ipv4Addr::new(172, 28, 147, 46);

/// Three on-link nodes and one behind the underlay gateway.
const NODES: [Node; 4] = [
    Node {
        subnet: testing::NODE_SUBNET,
        public_ip: testing::NODE_IP,
        vtep_mac: testing::NODE_VTEP_MAC,
        hop_ip: testing::NODE_IP,
        hop_mac: testing::NODE_MAC,
    },
    Node {
        subnet: Ipv4Addr::new(10, 244, 2, 0),
        public_ip: NODE1_IP,
        vtep_mac: MacAddr([0x16, 0xab, 0x0a, 0x00, 0x00, 0x02]),
        hop_ip: NODE1_IP,
        hop_mac: MacAddr([0x52, 0x54, 0x00, 0x00, 0x00, 0x45]),
    },
    Node {
        subnet: Ipv4Addr::new(10, 244, 3, 0),
        public_ip: NODE2_IP,
        vtep_mac: MacAddr([0x16, 0xab, 0x0a, 0x00, 0x00, 0x03]),
        hop_ip: NODE2_IP,
        hop_mac: MacAddr([0x52, 0x54, 0x00, 0x00, 0x00, 0x46]),
    },
    Node {
        subnet: testing::FAR_SUBNET,
        public_ip: testing::FAR_NODE_IP,
        vtep_mac: testing::FAR_NODE_VTEP_MAC,
        hop_ip: UNDERLAY_GW,
        hop_mac: testing::UNDERLAY_GW_MAC,
    },
];

/// Bare-metal hosts on the access port (statically resolved).
const HOSTS: [(Ipv4Addr, MacAddr); 3] = [
    (testing::HOST_IP, testing::HOST_MAC),
    (
        Ipv4Addr::new(10, 244, 255, 11),
        MacAddr([0x02, 0, 0, 0, 0, 0x0b]),
    ),
    (
        Ipv4Addr::new(10, 244, 255, 12),
        MacAddr([0x02, 0, 0, 0, 0, 0x0c]),
    ),
];

/// A host in the gateway's subnet nobody has a MAC for.
const SILENT_HOST: Ipv4Addr = Ipv4Addr::new(10, 244, 255, 20);

fn pod(node: &Node, n: u8) -> Ipv4Addr {
    let o = node.subnet.octets();
    Ipv4Addr::new(o[0], o[1], o[2], n)
}

/// SPEC's example gateway (testing::config) with an underlay gateway, so
/// that the far node is reached through it, and the MTUs of the ports as
/// `vxgate run` takes them (the tunnel's is the underlay's less 50).
fn context(underlay_mtu: u16, access_mtu: u16) -> Context {
    let mut c = testing::config();
    c.underlay_gateway = Some(UNDERLAY_GW);
    c.underlay_mtu = underlay_mtu;
    c.access_mtu = access_mtu;
    c.tunnel_mtu = underlay_mtu - 50;
    Context::new(c).expect("valid test configuration")
}

/// Lease tables with every node; neighbour tables with every host and,
/// when `underlay_resolved`, every underlay next hop (all static).
fn tables(underlay_resolved: bool) -> (LeaseTables, NeighborTables, TableLookup) {
    let (mut leases, lr) = LeaseTables::new(64);
    for n in &NODES {
        leases.upsert_lease(u32::from(n.subnet), u32::from(n.public_ip), n.vtep_mac.0);
    }
    let (mut neighbors, nr) = NeighborTables::new(64);
    if underlay_resolved {
        for n in &NODES {
            neighbors.set_static(NeighborPort::Underlay, u32::from(n.hop_ip), n.hop_mac.0);
        }
    }
    for (ip, mac) in HOSTS {
        neighbors.set_static(NeighborPort::Access, u32::from(ip), mac.0);
    }
    let lookup = TableLookup {
        leases: lr,
        neighbors: nr,
    };
    (leases, neighbors, lookup)
}

fn second_lookup(l: &TableLookup) -> TableLookup {
    TableLookup {
        leases: l.leases.clone(),
        neighbors: l.neighbors.clone(),
    }
}

// ------------------------------------------------------------ the rig

/// EAL, a pool, the two ring ports and the test's ends of their queues.
/// Fields drop in order: queues, ports (stopped, closed), pool, EAL.
struct Rig {
    inject_access: TxQueue,
    inject_underlay: TxQueue,
    out_access: RxQueue,
    out_underlay: RxQueue,
    /// The worker's (underlay, access) queues until a worker takes them.
    worker_queues: Option<(Queues, Queues)>,
    _ports: [Port; 2],
    /// Built from the ports' MTUs.
    ctx: Context,
    pool: Arc<Mempool>,
    /// Mbufs in use with the ports started and no traffic.
    baseline: u32,
    eal: Eal,
    _dir: RuntimeDir,
}

impl Rig {
    fn new(tag: &str, lcores: &str) -> Rig {
        Rig::with_mtu(tag, lcores, None)
    }

    /// A rig whose ports are opened with `mtu` (as `--underlay-mtu` and
    /// `--access-mtu`) and whose buffers are sized for it.
    fn with_mtu(tag: &str, lcores: &str, mtu: Option<u16>) -> Rig {
        let prefix = format!("vxt-dp-{tag}-{}", std::process::id());
        let args = [
            "-l".to_string(),
            lcores.to_string(),
            "--no-pci".into(),
            "--in-memory".into(),
            format!("--file-prefix={prefix}"),
            "--log-level=lib.eal:warning".into(),
            "--vdev=net_ring0".into(),
            "--vdev=net_ring1".into(),
        ];
        let dir = RuntimeDir(prefix);
        let eal = Eal::init(&args).expect("EAL with two net_ring devices");
        // No per-lcore cache: in_use() is then exact from any thread.
        let room = dpdk::data_room_for_mtus([mtu]);
        let pool = Arc::new(Mempool::new(&eal, "dp_pool", 2047, 0, room).expect("mempool"));
        let conf = PortConf {
            rx_queues: 2,
            tx_queues: 2,
            rx_desc: 512,
            tx_desc: 512,
            rss: false,
            mtu,
            ..PortConf::default()
        };
        let mut ac = Port::open(&eal, "net_ring0", &conf, &pool).expect("ring0");
        let mut ul = Port::open(&eal, "net_ring1", &conf, &pool).expect("ring1");
        let (mut ac_rx, mut ac_tx) = ac.start().expect("start ring0");
        let (mut ul_rx, mut ul_tx) = ul.start().expect("start ring1");
        let ctx = context(ul.mtu(), ac.mtu());
        let baseline = pool.in_use();
        // Queue 1 is the worker's TX and the test's RX; queue 0 the reverse.
        let (out_access, worker_ac_rx) = (ac_rx.remove(1), ac_rx.remove(0));
        let (worker_ac_tx, inject_access) = (ac_tx.remove(1), ac_tx.remove(0));
        let (out_underlay, worker_ul_rx) = (ul_rx.remove(1), ul_rx.remove(0));
        let (worker_ul_tx, inject_underlay) = (ul_tx.remove(1), ul_tx.remove(0));
        Rig {
            inject_access,
            inject_underlay,
            out_access,
            out_underlay,
            worker_queues: Some((
                Queues {
                    rx: worker_ul_rx,
                    tx: worker_ul_tx,
                },
                Queues {
                    rx: worker_ac_rx,
                    tx: worker_ac_tx,
                },
            )),
            _ports: [ac, ul],
            ctx,
            pool,
            baseline,
            eal,
            _dir: dir,
        }
    }

    /// Worker 0 on the rig's queues; returns it with its counters.
    fn worker(
        &mut self,
        lookup: TableLookup,
        punt: &Arc<PuntQueue>,
        outgoing: Option<&Arc<OutgoingQueue>>,
    ) -> (Worker, Arc<Counters>) {
        let (underlay, access) = self.worker_queues.take().expect("one worker per rig");
        let counters = Arc::new(Counters::new());
        let w = Worker {
            ctx: self.ctx.clone(),
            lookup,
            state: WorkerState::new(Arc::clone(&counters), 0),
            underlay,
            access,
            punt: Arc::clone(punt),
            outgoing: outgoing.cloned(),
            stats: Arc::new(WorkerStats::default()),
            ns_per_tick: 1e9 / self.eal.tsc_hz() as f64,
        };
        (w, counters)
    }

    /// Puts `frames` into fresh mbufs and sends them toward the worker's
    /// RX queue of port `side`.
    fn inject(&mut self, side: Side, frames: &[Vec<u8>]) {
        for chunk in frames.chunks(BURST) {
            let mut b = Burst::new();
            assert!(b.alloc(&self.pool, chunk.len()), "pool has room");
            for (i, f) in chunk.iter().enumerate() {
                let m = b.get_mut(i).expect("allocated");
                assert!(m.set_bytes(f), "a {}-byte frame fits an mbuf", f.len());
            }
            let q = match side {
                Side::Access => &mut self.inject_access,
                Side::Underlay => &mut self.inject_underlay,
            };
            assert_eq!(q.tx(&mut b), chunk.len(), "the ring takes the burst");
        }
    }

    /// Everything the worker has sent out of port `side` so far (the
    /// mbufs are freed).
    fn drain(&mut self, side: Side) -> Vec<Vec<u8>> {
        let q = match side {
            Side::Access => &mut self.out_access,
            Side::Underlay => &mut self.out_underlay,
        };
        let mut got = Vec::new();
        loop {
            let mut b = Burst::new();
            let n = q.rx(&mut b);
            if n == 0 {
                return got;
            }
            for i in 0..n {
                got.push(b.get_mut(i).expect("received").data().to_vec());
            }
        }
    }

    /// Waits until a worker running on another lcore has sent exactly `n`
    /// more frames out of `side` (gives up after 10 s).
    fn wait_for(&mut self, side: Side, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            got.extend(self.drain(side));
            std::thread::yield_now();
        }
        assert_eq!(got.len(), n, "frames out of the {} port", side.name());
        got
    }
}

/// Waits until the worker on another lcore has counted `n` drops under
/// `reason` (gives up after 10 s).
fn wait_dropped(counters: &Counters, reason: DropReason, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.snapshot().drop_count(reason) < n && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(counters.snapshot().drop_count(reason), n, "{reason:?}");
}

/// Waits until the worker on another lcore has punted `n` packets.
fn wait_punted(punt: &PuntQueue, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while punt.len() < n && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(punt.len(), n, "packets punted to the slow path");
}

/// `frame` cut into fragments as a host on a 1500-byte link sends it.
fn sent_at_1500(frame: &[u8]) -> Vec<Vec<u8>> {
    let mut cut = Fragmenter::new(frame, 1500).unwrap();
    let mut frags = Vec::new();
    let mut tmp = [0u8; 2048];
    while let Some(n) = cut.next_into(&mut tmp).unwrap() {
        frags.push(tmp[..n].to_vec());
    }
    frags
}

/// Hands `frame` to the slow path as a worker would punt it.
fn punt_directly(rig: &Rig, live: &Live, rx: Side, kind: SlowKind, frame: &[u8]) {
    let mut m: Mbuf = rig.pool.alloc().expect("pool has room");
    assert!(m.set_bytes(frame));
    let p = Punted {
        mbuf: m,
        rx,
        verdict: Verdict::Punt(kind),
    };
    assert!(live.punt.push(p).is_ok(), "the punt queue takes it");
}

// ------------------------------------------------------------ frames

/// A UDP frame from host `h` to `dst` as it arrives on the access port.
fn from_host(h: usize, dst: Ipv4Addr, ttl: u8, sport: u16, len: usize) -> Vec<u8> {
    let (src, mac) = HOSTS[h];
    let l4 = testing::udp_datagram(src, dst, sport, 80, &testing::pattern(len));
    testing::ipv4_frame(
        ACCESS_MAC,
        mac,
        Ip {
            ttl,
            ..Ip::new(src, dst)
        },
        &l4,
    )
}

/// The inner frame pod `n` of `node` sends to `dst` through the tunnel.
fn from_pod(node: &Node, n: u8, dst: Ipv4Addr, ttl: u8, len: usize) -> Vec<u8> {
    let src = pod(node, n);
    let l4 = testing::udp_datagram(src, dst, 80, 6000 + u16::from(n), &testing::pattern(len));
    testing::ipv4_frame(
        VTEP_MAC,
        node.vtep_mac,
        Ip {
            ttl,
            ..Ip::new(src, dst)
        },
        &l4,
    )
}

/// `inner` in VXLAN from `node` (outer UDP checksum computed).
fn vxlan_from(node: &Node, inner: &[u8]) -> Vec<u8> {
    testing::vxlan_frame(node.public_ip, testing::VNI, inner)
}

fn eth(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An ARP frame (operation 1 request, 2 reply), padded to 60 bytes.
fn arp_frame(
    op: u16,
    eth_dst: MacAddr,
    sender: (MacAddr, Ipv4Addr),
    target: (MacAddr, Ipv4Addr),
) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&sender.0 .0);
    a.extend_from_slice(&sender.1.octets());
    a.extend_from_slice(&target.0 .0);
    a.extend_from_slice(&target.1.octets());
    let mut f = eth(eth_dst, sender.0, 0x0806, &a);
    f.resize(60, 0);
    f
}

/// The gateway's broadcast ARP request for `target` out of `side`.
fn our_arp_request(side: Side, target: Ipv4Addr) -> Vec<u8> {
    let (mac, ip) = port_addr(side);
    arp_frame(1, MacAddr::BROADCAST, (mac, ip), (MacAddr::ZERO, target))
}

/// The gateway's gratuitous ARP out of `side`.
fn our_garp(side: Side) -> Vec<u8> {
    let (_, ip) = port_addr(side);
    our_arp_request(side, ip)
}

fn port_addr(side: Side) -> (MacAddr, Ipv4Addr) {
    match side {
        Side::Underlay => (UNDERLAY_MAC, UNDERLAY_IP),
        Side::Access => (ACCESS_MAC, ACCESS_IP),
    }
}

// ------------------------------------------------------------ expectations

/// The Internet checksum's one's-complement sum, folded.
fn ones_sum(data: &[u8]) -> u16 {
    let mut s: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn checksum_ok(data: &[u8]) -> bool {
    ones_sum(data) == 0xffff
}

/// Zeroes and recomputes the checksum at `at..at + 2` of `data`.
fn fill_checksum(data: &mut [u8], at: usize) {
    data[at..at + 2].fill(0);
    let c = !ones_sum(data);
    data[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// `frame` as the gateway forwards it: new MACs, TTL one less, IPv4 header
/// checksum recomputed; the rest unchanged.
fn forwarded(frame: &[u8], dst: MacAddr, src: MacAddr) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[..6].copy_from_slice(&dst.0);
    f[6..12].copy_from_slice(&src.0);
    f[22] -= 1;
    fill_checksum(&mut f[14..34], 10);
    f
}

/// The ICMP time-exceeded datagram the gateway sends from its access IP to
/// `dst` about `offending` (a short IPv4 datagram, quoted whole): TOS 0xc0,
/// DF clear, TTL 64, as Linux sends them, with IPv4 ident `ident` (from
/// the worker's sequence, which its outer headers share).
fn time_exceeded(dst: Ipv4Addr, ident: u16, offending: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + offending.len();
    let mut d = vec![0u8; total];
    d[0] = 0x45;
    d[1] = 0xc0;
    d[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    d[4..6].copy_from_slice(&ident.to_be_bytes());
    d[8] = 64;
    d[9] = 1;
    d[12..16].copy_from_slice(&ACCESS_IP.octets());
    d[16..20].copy_from_slice(&dst.octets());
    fill_checksum(&mut d[..20], 10);
    d[20] = 11;
    d[28..].copy_from_slice(offending);
    fill_checksum(&mut d[20..], 2);
    d
}

/// An ICMP echo request frame from `src` to one of our addresses.
fn echo_request(to: MacAddr, src: (MacAddr, Ipv4Addr), dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let ip = Ip {
        protocol: 1,
        ..Ip::new(src.1, dst)
    };
    let icmp = testing::echo_request(0x77, seq, b"are you there?");
    testing::ipv4_frame(to, src.0, ip, &icmp)
}

/// The echo reply to `req` (IHL 5): MACs and addresses swapped, TTL 64,
/// DF clear, type 0, both checksums recomputed, IPv4 ident `ident` from
/// the worker's sequence (docs/pipeline.md); ICMP ident, sequence and data
/// unchanged.
fn echo_reply(req: &[u8], ident: u16) -> Vec<u8> {
    let mut f = req.to_vec();
    f[18..20].copy_from_slice(&ident.to_be_bytes());
    f[20] &= !0x40;
    f[..6].copy_from_slice(&req[6..12]);
    f[6..12].copy_from_slice(&req[..6]);
    f[26..30].copy_from_slice(&req[30..34]);
    f[30..34].copy_from_slice(&req[26..30]);
    f[22] = 64;
    fill_checksum(&mut f[14..34], 10);
    f[34] = 0;
    fill_checksum(&mut f[34..], 2);
    f
}

/// Asserts `out` is `inner` VXLAN-encapsulated toward `node` as
/// docs/pipeline.md specifies, with outer IPv4 ident `ident`, parsed by
/// etherparse field by field.
fn assert_encap(out: &[u8], node: &Node, ident: u16, inner: &[u8]) {
    assert_eq!(out.len(), 50 + inner.len(), "50 outer bytes");
    let p = SlicedPacket::from_ethernet(out).expect("outer headers parse");
    let Some(LinkSlice::Ethernet2(e)) = &p.link else {
        panic!("outer is not Ethernet II")
    };
    assert_eq!(
        (e.destination(), e.source(), e.ether_type()),
        (node.hop_mac.0, UNDERLAY_MAC.0, EtherType::IPV4),
        "outer MACs: next hop <- underlay port"
    );
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("outer is not IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!(
        (h.source, h.destination),
        (UNDERLAY_IP.octets(), node.public_ip.octets())
    );
    assert_eq!(out[15], 0, "outer TOS");
    assert_eq!(
        (h.time_to_live, h.protocol, h.identification),
        (64, IpNumber::UDP, ident)
    );
    assert_eq!(
        (h.dont_fragment, h.more_fragments, h.fragment_offset.value()),
        (false, false, 0)
    );
    assert_eq!(usize::from(h.total_len), out.len() - 14);
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    assert!(checksum_ok(&out[14..34]), "outer IPv4 checksum");
    let Some(TransportSlice::Udp(u)) = &p.transport else {
        panic!("outer is not UDP")
    };
    let inner_ip = ipv4::Packet::new_checked(&inner[14..]).expect("inner IPv4");
    let sport = u.source_port();
    assert!((SRC_PORT_MIN..=SRC_PORT_MAX).contains(&sport), "{sport}");
    assert_eq!(
        sport,
        src_port(flow_hash(&inner_ip)),
        "source port from the flow hash"
    );
    assert_eq!((u.destination_port(), u.checksum()), (testing::PORT, 0));
    assert_eq!(usize::from(u.length()), out.len() - 34);
    assert_eq!(
        &out[42..50],
        &[0x08, 0, 0, 0, 0, 0, 0x01, 0],
        "VXLAN: I flag, VNI 1"
    );
    assert_eq!(&out[50..], inner, "inner frame");
    let ip_in = SlicedPacket::from_ethernet(&out[50..]).expect("inner parses");
    let Some(NetSlice::Ipv4(iip)) = &ip_in.net else {
        panic!("inner is not IPv4")
    };
    let ih = iip.header().to_header();
    assert_eq!(
        ih.header_checksum,
        ih.calc_header_checksum(),
        "inner checksum"
    );
}

/// Asserts a frame delivered to the access port is exactly `want` and
/// that etherparse agrees its IPv4 header checksum is valid.
fn assert_delivered(out: &[u8], want: &[u8]) {
    assert_eq!(out, want);
    let p = SlicedPacket::from_ethernet(out).expect("parses");
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!(h.header_checksum, h.calc_header_checksum());
}

/// Expected counters: encap, decap, drops and slow-path kinds.
fn counts(
    encap: u64,
    decap: u64,
    drops: &[(DropReason, u64)],
    slow: &[(SlowKind, u64)],
) -> CounterSnapshot {
    let mut s = CounterSnapshot {
        encap,
        decap,
        ..CounterSnapshot::default()
    };
    for &(r, n) in drops {
        s.drops[r.index()] = n;
    }
    for &(k, n) in slow {
        s.slowpath[k.index()] = n;
    }
    s
}

// ------------------------------------------------------------ tests

/// 26 frames from three hosts to pods of four leases (one behind the
/// underlay gateway), sizes up to the tunnel MTU, in one burst: each comes
/// out of the underlay port correctly encapsulated, in order, with idents
/// 0..26; the same flow gets the same source port.
#[test]
fn encap_burst_to_several_leases_is_exact() {
    let mut rig = Rig::new("encap", "0");
    let (_leases, _neighbors, lookup) = tables(true);
    let punt = Arc::new(PuntQueue::new(64));
    let (mut w, counters) = rig.worker(lookup, &punt, None);
    w.lookup.refresh();

    let mut sent = Vec::new();
    let mut dest = Vec::new();
    for i in 0..24usize {
        let node = NODES[i % 4];
        // 1450 is the tunnel MTU: the largest inner packet that fits.
        let len = if i == 23 { 1450 - 28 } else { 18 + 61 * i };
        let ttl = 64 - (i % 5) as u8;
        sent.push(from_host(
            i % 3,
            pod(&node, 10 + i as u8),
            ttl,
            5000 + i as u16,
            len,
        ));
        dest.push(node);
    }
    // Two more packets of the first two flows.
    sent.push(sent[0].clone());
    sent.push(sent[1].clone());
    dest.push(dest[0]);
    dest.push(dest[1]);
    rig.inject(Side::Access, &sent);

    assert_eq!(w.poll(Side::Access), sent.len());
    let out = rig.drain(Side::Underlay);
    assert_eq!(out.len(), sent.len());
    for (i, ((o, f), node)) in out.iter().zip(&sent).zip(&dest).enumerate() {
        let inner = forwarded(f, node.vtep_mac, VTEP_MAC);
        assert_encap(o, node, i as u16, &inner);
    }
    assert_eq!(
        out[24][34..36],
        out[0][34..36],
        "same flow, same source port"
    );
    assert_eq!(
        out[25][34..36],
        out[1][34..36],
        "same flow, same source port"
    );
    assert!(
        rig.drain(Side::Access).is_empty(),
        "nothing back to the hosts"
    );
    assert_eq!(counters.snapshot(), counts(26, 0, &[], &[]));
    assert!(punt.is_empty());
    assert_eq!(rig.pool.in_use(), rig.baseline, "no mbuf leaked");
}

/// 24 VXLAN frames from all four VTEPs to the three hosts (outer UDP
/// checksum set or zero, some with Ethernet padding), in one burst: each
/// inner frame comes out of the access port with the host's MAC, TTL - 1
/// and a fixed checksum, padding and outer headers gone.
#[test]
fn decap_burst_from_known_vteps_is_exact() {
    let mut rig = Rig::new("decap", "0");
    let (_leases, _neighbors, lookup) = tables(true);
    let punt = Arc::new(PuntQueue::new(64));
    let (mut w, counters) = rig.worker(lookup, &punt, None);
    w.lookup.refresh();

    let mut sent = Vec::new();
    let mut want = Vec::new();
    for i in 0..24usize {
        let node = NODES[i % 4];
        let (host_ip, host_mac) = HOSTS[i % 3];
        let len = if i == 23 { 1500 - 28 } else { 6 + 53 * i };
        let inner = from_pod(&node, 30 + i as u8, host_ip, 64 - (i % 7) as u8, len);
        let mut f = vxlan_from(&node, &inner);
        if i % 2 == 0 {
            f[40..42].fill(0); // no outer UDP checksum, as RFC 7348 allows
        }
        if i % 6 == 5 {
            f.extend_from_slice(&[0xee; 6]); // padding after the IPv4 packet
        }
        sent.push(f);
        want.push(forwarded(&inner, host_mac, ACCESS_MAC));
    }
    rig.inject(Side::Underlay, &sent);

    assert_eq!(w.poll(Side::Underlay), sent.len());
    let out = rig.drain(Side::Access);
    assert_eq!(out.len(), want.len());
    for (o, wnt) in out.iter().zip(&want) {
        assert_delivered(o, wnt);
    }
    assert!(rig.drain(Side::Underlay).is_empty());
    assert_eq!(counters.snapshot(), counts(0, 24, &[], &[]));
    assert!(punt.is_empty());
    assert_eq!(rig.pool.in_use(), rig.baseline, "no mbuf leaked");
}

/// A burst on each port mixing good frames, ARP and ICMP echo for the
/// gateway, TTL-1 packets and one frame for each of many drop reasons:
/// every output is exact, time-exceeded errors go back to hosts out of the
/// access port and to pods re-encapsulated toward their VTEP, and the
/// counters equal what was sent.
#[test]
fn mixed_burst_counts_every_drop_and_answers_ttl_1() {
    let mut rig = Rig::new("mixed", "0");
    let (_leases, _neighbors, lookup) = tables(true);
    let punt = Arc::new(PuntQueue::new(64));
    let (mut w, counters) = rig.worker(lookup, &punt, None);
    w.lookup.refresh();
    let [n0, n1, _, far] = NODES;
    let (h0, h1, h2) = (HOSTS[0], HOSTS[1], HOSTS[2]);

    // ---- underlay
    let u0_inner = from_pod(&n0, 40, h0.0, 64, 100);
    let u0 = vxlan_from(&n0, &u0_inner);
    let unknown_vtep = {
        let stranger = Node {
            public_ip: Ipv4Addr::new(172, 28, 147, 47),
            vtep_mac: MacAddr([0x16, 0xab, 0x0a, 0, 0, 0x47]),
            ..n0
        };
        vxlan_from(&stranger, &from_pod(&stranger, 41, h0.0, 64, 20))
    };
    let wrong_vni = testing::vxlan_frame(n0.public_ip, 2, &from_pod(&n0, 42, h0.0, 64, 20));
    // Node 0's address with node 1's VtepMAC inside.
    let spoofed = vxlan_from(&n0, &from_pod(&n1, 43, h0.0, 64, 20));
    let mut truncated_ul = u0.clone();
    truncated_ul.truncate(70);
    let mut bad_outer_ip_csum = vxlan_from(&n0, &from_pod(&n0, 44, h1.0, 64, 20));
    bad_outer_ip_csum[24] ^= 0x5a;
    let mut bad_udp_csum = vxlan_from(&n0, &from_pod(&n0, 45, h1.0, 64, 20));
    *bad_udp_csum.last_mut().expect("non-empty") ^= 0x01; // corrupted in transit
    let ttl1_inner = from_pod(&n0, 46, h1.0, 1, 30);
    let ttl1 = vxlan_from(&n0, &ttl1_inner);
    let far_inner = from_pod(&far, 47, h2.0, 9, 200);
    let to_far_host = vxlan_from(&far, &far_inner);
    let far_ttl1_inner = from_pod(&far, 48, h2.0, 1, 10);
    let far_ttl1 = vxlan_from(&far, &far_ttl1_inner);
    let mut wrong_inner_dst = from_pod(&n0, 49, h0.0, 64, 20);
    wrong_inner_dst[..6].copy_from_slice(&MacAddr::BROADCAST.0);
    let wrong_inner_dst = vxlan_from(&n0, &wrong_inner_dst);
    let mut other_mac = vxlan_from(&n0, &from_pod(&n0, 50, h0.0, 64, 20));
    other_mac[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    let arp_req = arp_frame(
        1,
        MacAddr::BROADCAST,
        (n0.hop_mac, n0.public_ip),
        (MacAddr::ZERO, UNDERLAY_IP),
    );
    let ping_ul = echo_request(UNDERLAY_MAC, (n0.hop_mac, n0.public_ip), UNDERLAY_IP, 1);
    let underlay = vec![
        u0.clone(),
        unknown_vtep,
        wrong_vni,
        spoofed,
        truncated_ul,
        bad_outer_ip_csum,
        bad_udp_csum,
        ttl1,
        to_far_host,
        far_ttl1,
        wrong_inner_dst,
        other_mac,
        arp_req,
        ping_ul.clone(),
    ];
    rig.inject(Side::Underlay, &underlay);
    assert_eq!(w.poll(Side::Underlay), underlay.len());

    let to_access = rig.drain(Side::Access);
    assert_eq!(to_access.len(), 2);
    assert_delivered(&to_access[0], &forwarded(&u0_inner, h0.1, ACCESS_MAC));
    assert_delivered(&to_access[1], &forwarded(&far_inner, h2.1, ACCESS_MAC));
    let to_underlay = rig.drain(Side::Underlay);
    assert_eq!(to_underlay.len(), 4);
    // Time exceeded from the access IP to the pod, back through the tunnel:
    // the error takes an ident from the worker's sequence, then its outer
    // header the next one.
    let te = |node: &Node, ident: u16, inner: &[u8]| {
        let src = Ipv4Addr::new(inner[26], inner[27], inner[28], inner[29]);
        eth(
            node.vtep_mac,
            VTEP_MAC,
            0x0800,
            &time_exceeded(src, ident, &inner[14..]),
        )
    };
    assert_encap(&to_underlay[0], &n0, 1, &te(&n0, 0, &ttl1_inner));
    assert_encap(&to_underlay[1], &far, 3, &te(&far, 2, &far_ttl1_inner));
    assert_eq!(
        to_underlay[2],
        arp_frame(
            2,
            n0.hop_mac,
            (UNDERLAY_MAC, UNDERLAY_IP),
            (n0.hop_mac, n0.public_ip)
        ),
        "ARP reply for the underlay IP"
    );
    // The two time-exceeded errors took idents 0 to 3 (error, outer header).
    assert_eq!(to_underlay[3], echo_reply(&ping_ul, 4), "echo reply");

    // ---- access
    let a0 = from_host(0, pod(&n1, 60), 64, 7000, 80);
    let a1 = from_host(1, pod(&n0, 61), 1, 7001, 40);
    let mut truncated_ac = from_host(0, pod(&n0, 62), 64, 7002, 40);
    truncated_ac.truncate(30);
    let mut bad_ip_csum = from_host(0, pod(&n0, 63), 64, 7003, 40);
    bad_ip_csum[24] ^= 0x5a;
    let no_lease = from_host(1, Ipv4Addr::new(10, 244, 9, 9), 64, 7004, 40);
    let outside = from_host(1, Ipv4Addr::new(198, 51, 100, 7), 64, 7005, 40);
    let neighbour_host = from_host(2, h1.0, 64, 7006, 40);
    let a7 = from_host(2, pod(&far, 64), 64, 7007, 300);
    let a8 = from_host(0, pod(&far, 65), 1, 7008, 12);
    let ipv6 = eth(ACCESS_MAC, h0.1, 0x86dd, &[0x60; 46]);
    let ping_ac = echo_request(ACCESS_MAC, (h2.1, h2.0), ACCESS_IP, 2);
    let access = vec![
        a0.clone(),
        a1.clone(),
        truncated_ac,
        bad_ip_csum,
        no_lease,
        outside,
        neighbour_host.clone(),
        a7.clone(),
        a8.clone(),
        ipv6,
        ping_ac.clone(),
    ];
    rig.inject(Side::Access, &access);
    assert_eq!(w.poll(Side::Access), access.len());

    let to_underlay = rig.drain(Side::Underlay);
    assert_eq!(to_underlay.len(), 2);
    // Idents in packet order (the echo reply above took 4): a0 5, the error
    // about a1 6, a7 7, a8's 8, the echo reply 9.
    assert_encap(
        &to_underlay[0],
        &n1,
        5,
        &forwarded(&a0, n1.vtep_mac, VTEP_MAC),
    );
    assert_encap(
        &to_underlay[1],
        &far,
        7,
        &forwarded(&a7, far.vtep_mac, VTEP_MAC),
    );
    let to_access = rig.drain(Side::Access);
    assert_eq!(to_access.len(), 4);
    // Time exceeded straight back to the host, out of the access port.
    let te_host = |f: &[u8], host: (Ipv4Addr, MacAddr), ident: u16| {
        eth(
            host.1,
            ACCESS_MAC,
            0x0800,
            &time_exceeded(host.0, ident, &f[14..]),
        )
    };
    assert_delivered(&to_access[0], &te_host(&a1, h1, 6));
    // Host 2's packet to host 1, sent to the gateway: back out of the
    // access port (hairpin), as a router sends it.
    assert_delivered(&to_access[1], &forwarded(&neighbour_host, h1.1, ACCESS_MAC));
    assert_delivered(&to_access[2], &te_host(&a8, h0, 8));
    assert_eq!(to_access[3], echo_reply(&ping_ac, 9), "echo reply");

    let mut want = counts(
        4, // a0, a7 and the two time-exceeded errors sent into tunnels
        4, // u0, ttl1, to_far_host, far_ttl1
        &[
            (DropReason::UnknownVtep, 1),
            (DropReason::UnknownVni, 1),
            (DropReason::SpoofedInnerMac, 1),
            (DropReason::Truncated, 2),
            (DropReason::BadChecksum, 3),
            (DropReason::TtlExpired, 4),
            (DropReason::WrongInnerDstMac, 1),
            (DropReason::NotForUs, 1),
            (DropReason::NoRoute, 2),
            (DropReason::NotIpv4, 1),
        ],
        &[(SlowKind::Icmp, 6), (SlowKind::Arp, 1)],
    );
    want.routed = 1; // the hairpinned packet
    assert_eq!(counters.snapshot(), want);
    assert!(punt.is_empty());
    assert_eq!(rig.pool.in_use(), rig.baseline, "no mbuf leaked");
}

/// The slow path as `gateway::run` wires it, with worker 0 running on its
/// own lcore (it is the one that sends what the slow path queues).
struct Live {
    slow: SlowPath,
    punt: Arc<PuntQueue>,
    outgoing: Arc<OutgoingQueue>,
    worker_counters: Arc<Counters>,
    slow_counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    handle: Option<dpdk::LcoreHandle>,
    t0: Instant,
}

impl Live {
    /// Starts worker 0 and the slow path, with the underlay next hops
    /// known or not; the first slow-path poll sends the start-up
    /// gratuitous ARPs, which this checks and drains.
    fn start(rig: &mut Rig, underlay_resolved: bool) -> (Live, LeaseTables) {
        let (leases, neighbors, lookup) = tables(underlay_resolved);
        let punt = Arc::new(PuntQueue::new(256));
        let outgoing = Arc::new(OutgoingQueue::new(256));
        let slow_lookup = second_lookup(&lookup);
        let (w, worker_counters) = rig.worker(lookup, &punt, Some(&outgoing));
        let slow_counters = Arc::new(Counters::new());
        let slow = SlowPath::new(
            rig.ctx.clone(),
            slow_lookup,
            WorkerState::new(Arc::clone(&slow_counters), 1),
            neighbors,
            Arc::clone(&punt),
            Arc::clone(&rig.pool),
            Arc::clone(&outgoing),
        );
        let t0 = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let lcore = rig.eal.worker_lcores()[0];
        let s = Arc::clone(&stop);
        let handle = rig
            .eal
            .launch(lcore, move || {
                w.run(&s);
                0
            })
            .expect("worker lcore");
        let mut live = Live {
            slow,
            punt,
            outgoing,
            worker_counters,
            slow_counters,
            stop,
            handle: Some(handle),
            t0,
        };
        assert_eq!(live.poll_at(Duration::ZERO), 0);
        for side in [Side::Underlay, Side::Access] {
            assert_eq!(rig.wait_for(side, 1), [our_garp(side)], "gratuitous ARP");
        }
        (live, leases)
    }

    /// One slow-path poll at `t0 + at` (time is the caller's: no sleeping).
    fn poll_at(&mut self, at: Duration) -> usize {
        let now = self.t0 + at;
        self.slow.poll(now, at.as_nanos() as u64)
    }

    /// Stops and joins worker 0.
    fn stop(&mut self) {
        self.stop_worker();
        assert!(self.punt.is_empty() && self.outgoing.is_empty());
    }

    /// Ends a test: worker 0 stopped, nothing more sent on either port,
    /// the worker's and the slow path's counters as given, every mbuf back
    /// in the pool.
    fn finish(mut self, rig: &mut Rig, worker: CounterSnapshot, slow: CounterSnapshot) {
        self.stop();
        assert!(rig.drain(Side::Underlay).is_empty() && rig.drain(Side::Access).is_empty());
        assert_eq!(self.worker_counters.snapshot(), worker, "worker counters");
        assert_eq!(self.slow_counters.snapshot(), slow, "slow-path counters");
        assert_eq!(rig.pool.in_use(), rig.baseline, "no mbuf leaked");
    }

    /// Stops and joins worker 0, leaving the queues as they are.
    fn stop_worker(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            assert_eq!(h.join(), 0, "worker ended cleanly");
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // Never leave the worker running on a failed assertion.
        self.stop.store(true, Relaxed);
    }
}

/// `node`'s ARP reply to our request on the underlay, taken by the slow
/// path at `at`.
fn node_answers(rig: &mut Rig, live: &mut Live, node: &Node, at: Duration) {
    let reply = arp_frame(
        2,
        UNDERLAY_MAC,
        (node.hop_mac, node.public_ip),
        (UNDERLAY_MAC, UNDERLAY_IP),
    );
    rig.inject(Side::Underlay, &[reply]);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(at), 1);
}

/// Frames toward a node whose MAC is unknown are held and punted; the slow
/// path ARPs for it through worker 0; the node's ARP reply releases the
/// held frames with its MAC filled in, in order, and later frames go out
/// directly.
#[test]
fn held_frames_go_out_after_the_arp_reply() {
    let mut rig = Rig::new("hold", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, false);
    let n0 = NODES[0];

    let held: Vec<Vec<u8>> = (0..3)
        .map(|i| from_host(i, pod(&n0, 70 + i as u8), 64, 8000 + i as u16, 50 + 10 * i))
        .collect();
    rig.inject(Side::Access, &held);
    wait_punted(&live.punt, 3);
    assert_eq!(live.poll_at(Duration::ZERO), 3);
    assert_eq!(live.slow.pending_neighbors(), 1);
    assert_eq!(
        rig.wait_for(Side::Underlay, 1),
        [our_arp_request(Side::Underlay, n0.public_ip)],
        "one ARP request for the node"
    );
    assert_eq!(rig.pool.in_use(), rig.baseline + 3, "the held frames");

    node_answers(&mut rig, &mut live, &n0, Duration::from_millis(10));
    assert_eq!(live.slow.pending_neighbors(), 0);
    let learned = live
        .slow
        .neighbors
        .get(NeighborPort::Underlay, u32::from(n0.public_ip));
    assert_eq!(learned.map(|e| e.mac), Some(n0.hop_mac.0));
    let out = rig.wait_for(Side::Underlay, 3);
    for (i, (o, f)) in out.iter().zip(&held).enumerate() {
        assert_encap(o, &n0, i as u16, &forwarded(f, n0.vtep_mac, VTEP_MAC));
    }

    // Now resolved: the worker sends directly, nothing is punted.
    let direct = from_host(0, pod(&n0, 80), 64, 8100, 64);
    rig.inject(Side::Access, std::slice::from_ref(&direct));
    let out = rig.wait_for(Side::Underlay, 1);
    assert_encap(&out[0], &n0, 3, &forwarded(&direct, n0.vtep_mac, VTEP_MAC));

    // Three holds and the punted ARP reply are slow-path ARP work.
    live.finish(
        &mut rig,
        counts(4, 0, &[], &[(SlowKind::Arp, 4)]),
        CounterSnapshot::default(),
    );
}

/// The largest datagram a host can send, cut at 1500 bytes (45 fragments),
/// toward a node not resolved yet: the slow path cuts each fragment again
/// for the tunnel (the last, 415 bytes, fits) and holds all 89 pieces while it ARPs (`HOLD_PER_NEIGHBOR`
/// takes them all, as Linux's `unres_qlen_bytes` does), then sends them in
/// order once the node answers: the first datagram to a node is not lost.
#[test]
fn every_piece_of_a_64_kib_datagram_waits_for_the_arp_reply() {
    let mut rig = Rig::new("hold64k", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, false);
    let n0 = NODES[0];
    let big = from_host(1, pod(&n0, 90), 64, 9600, 65535 - 28);
    let frags = sent_at_1500(&big);
    assert_eq!(frags.len(), 45);
    for chunk in frags.chunks(BURST) {
        rig.inject(Side::Access, chunk);
        wait_punted(&live.punt, chunk.len());
        assert_eq!(live.poll_at(Duration::ZERO), chunk.len());
    }
    assert_eq!(
        rig.wait_for(Side::Underlay, 1),
        [our_arp_request(Side::Underlay, n0.public_ip)]
    );
    const _: () = assert!(HOLD_PER_NEIGHBOR >= 89, "a queue holds every piece");
    assert_eq!(rig.pool.in_use(), rig.baseline + 89, "every piece held");
    node_answers(&mut rig, &mut live, &n0, Duration::from_millis(10));
    let out = rig.wait_for(Side::Underlay, 89);
    let offsets: Vec<u16> = out
        .iter()
        .map(|o| {
            ipv4::Packet::new_checked(&o[50 + 14..])
                .unwrap()
                .frag_offset()
        })
        .collect();
    let mut sorted = offsets.clone();
    sorted.sort_unstable();
    assert_eq!(offsets, sorted, "in the order of their offsets");
    assert_eq!(offsets.len(), 89);
    live.finish(
        &mut rig,
        counts(0, 0, &[], &[(SlowKind::Fragment, 45), (SlowKind::Arp, 1)]),
        counts(89, 0, &[], &[(SlowKind::Arp, 89)]),
    );
}

/// Frames held for next hops nobody answers for, on both ports: two more
/// than a neighbour's hold queue takes are dropped at once as no_neighbor;
/// ARP requests are repeated after ARP_RETRY; at RESOLVE_TIMEOUT every
/// held frame is dropped and counted as no_neighbor, its mbuf freed.
#[test]
fn unanswered_arp_drops_held_frames_after_timeout() {
    let mut rig = Rig::new("timeout", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, false);
    let [n0, n1, _, _] = NODES;

    let over = HOLD_PER_NEIGHBOR + 2;
    let mut to_pods: Vec<Vec<u8>> = (0..over)
        .map(|i| from_host(i % 3, pod(&n0, 100 + i as u8), 64, 9000 + i as u16, 30))
        .collect();
    to_pods.push(from_host(2, pod(&n1, 92), 64, 9100, 30));
    let to_silent_host: Vec<Vec<u8>> = (0..2)
        .map(|i| vxlan_from(&n0, &from_pod(&n0, 93 + i, SILENT_HOST, 64, 30)))
        .collect();
    let punted = to_pods.len() + to_silent_host.len();
    rig.inject(Side::Access, &to_pods);
    wait_punted(&live.punt, to_pods.len());
    rig.inject(Side::Underlay, &to_silent_host);
    wait_punted(&live.punt, punted);
    assert_eq!(live.poll_at(Duration::ZERO), punted);
    assert_eq!(live.slow.pending_neighbors(), 3);
    let underlay_requests = [
        our_arp_request(Side::Underlay, n0.public_ip),
        our_arp_request(Side::Underlay, n1.public_ip),
    ];
    let access_request = our_arp_request(Side::Access, SILENT_HOST);
    assert_eq!(rig.wait_for(Side::Underlay, 2), underlay_requests);
    assert_eq!(
        rig.wait_for(Side::Access, 1),
        std::slice::from_ref(&access_request)
    );
    let held = HOLD_PER_NEIGHBOR + 1 + 2;
    assert_eq!(
        rig.pool.in_use(),
        rig.baseline + held as u32,
        "only the held frames are out of the pool"
    );
    assert_eq!(
        live.slow_counters.snapshot(),
        counts(0, 0, &[(DropReason::NoNeighbor, 2)], &[]),
        "the hold queue's overflow"
    );

    // After ARP_RETRY: the second gratuitous ARPs and a retry per neighbour.
    assert_eq!(live.poll_at(ARP_RETRY), 0);
    let mut ul = rig.wait_for(Side::Underlay, 3);
    ul.sort();
    let mut want = vec![
        our_garp(Side::Underlay),
        underlay_requests[0].clone(),
        underlay_requests[1].clone(),
    ];
    want.sort();
    assert_eq!(ul, want);
    let mut ac = rig.wait_for(Side::Access, 2);
    ac.sort();
    let mut want = vec![our_garp(Side::Access), access_request];
    want.sort();
    assert_eq!(ac, want);
    assert_eq!(live.slow.pending_neighbors(), 3);

    // At RESOLVE_TIMEOUT: the held frames are gone, only the last
    // gratuitous ARPs go out.
    assert_eq!(live.poll_at(RESOLVE_TIMEOUT), 0);
    assert_eq!(live.slow.pending_neighbors(), 0);
    assert_eq!(
        live.slow_counters.snapshot(),
        counts(0, 0, &[(DropReason::NoNeighbor, 2 + held as u64)], &[])
    );
    for side in [Side::Underlay, Side::Access] {
        assert_eq!(rig.wait_for(side, 1), [our_garp(side)]);
    }

    live.stop();
    assert!(rig.drain(Side::Underlay).is_empty() && rig.drain(Side::Access).is_empty());
    assert_eq!(
        live.worker_counters.snapshot(),
        // Encap counts packets built, not delivered (docs/pipeline.md).
        counts(
            to_pods.len() as u64,
            2,
            &[],
            &[(SlowKind::Arp, punted as u64)]
        )
    );
    assert_eq!(rig.pool.in_use(), rig.baseline, "held mbufs freed: no leak");
    drop(live);
}

/// ARP creates a neighbour only when it answers our request (Linux with
/// arp_accept off): a reply between two other hosts, seen on the port, and
/// an unsolicited gratuitous ARP create nothing, nor does an ARP claiming
/// our own address; a known neighbour follows any ARP it sends (RFC 826's
/// merge, after ARP_LOCKTIME). A stale neighbour (past its `refresh_age`)
/// is asked again every NEIGHBOR_PROBE, first unicast, not at every ageing
/// tick, and forgotten at its `forget_age` without a last request.
#[test]
fn arp_learns_only_what_it_asked_for_and_probes_stale_neighbours_every_10s() {
    let mut rig = Rig::new("learn", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, false);
    let [n0, n1, _, _] = NODES;
    let other = (
        MacAddr([0x52, 0x54, 0, 0, 0, 0x47]),
        Ipv4Addr::new(172, 28, 147, 47),
    );
    fn live_mac(s: &SlowPath, ip: Ipv4Addr) -> Option<[u8; 6]> {
        s.neighbors
            .get(NeighborPort::Underlay, u32::from(ip))
            .map(|e| e.mac)
    }

    // Unsolicited: a reply n1 -> another host (to that host's MAC: the
    // worker drops it as not_for_us, as Linux's arp_rcv drops
    // PACKET_OTHERHOST), n1's gratuitous ARP, and another MAC claiming our
    // underlay address (both punted; the claim is answered by one
    // gratuitous ARP of ours, RFC 5227's defence).
    let unsolicited = [
        arp_frame(2, other.0, (n1.hop_mac, n1.public_ip), other),
        arp_frame(
            1,
            MacAddr::BROADCAST,
            (n1.hop_mac, n1.public_ip),
            (MacAddr::ZERO, n1.public_ip),
        ),
        arp_frame(
            2,
            MacAddr::BROADCAST,
            (other.0, UNDERLAY_IP),
            (MacAddr::ZERO, UNDERLAY_IP),
        ),
    ];
    rig.inject(Side::Underlay, &unsolicited);
    wait_dropped(&live.worker_counters, DropReason::NotForUs, 1);
    wait_punted(&live.punt, 2);
    assert_eq!(live.poll_at(Duration::ZERO), 2);
    assert_eq!(
        rig.wait_for(Side::Underlay, 1),
        [our_garp(Side::Underlay)],
        "the claim of our address defended"
    );
    assert_eq!(
        live_mac(&live.slow, n1.public_ip),
        None,
        "nothing learned unasked"
    );
    assert_eq!(live_mac(&live.slow, UNDERLAY_IP), None);
    assert_eq!(live.slow.neighbors.len(NeighborPort::Underlay), 0);

    // Solicited: a frame for n0 is held, we ask, n0 answers.
    let frame = from_host(0, pod(&n0, 70), 64, 8000, 40);
    rig.inject(Side::Access, std::slice::from_ref(&frame));
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(Duration::ZERO), 1);
    assert_eq!(
        rig.wait_for(Side::Underlay, 1),
        [our_arp_request(Side::Underlay, n0.public_ip)]
    );
    let learned_at = Duration::from_millis(10);
    node_answers(&mut rig, &mut live, &n0, learned_at);
    assert_eq!(live_mac(&live.slow, n0.public_ip), Some(n0.hop_mac.0));
    let out = rig.wait_for(Side::Underlay, 1);
    assert_encap(&out[0], &n0, 0, &forwarded(&frame, n0.vtep_mac, VTEP_MAC));

    // n0 moves to another MAC and says so: followed.
    let moved = MacAddr([0x52, 0x54, 0, 0, 0x99, 0x44]);
    let garp = arp_frame(
        1,
        MacAddr::BROADCAST,
        (moved, n0.public_ip),
        (MacAddr::ZERO, n0.public_ip),
    );
    rig.inject(Side::Underlay, &[garp]);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(learned_at), 1);
    assert_eq!(live_mac(&live.slow, n0.public_ip), Some(moved.0));

    // The start-up gratuitous ARPs still due go out first.
    assert_eq!(live.poll_at(Duration::from_secs(3)), 0);
    for side in [Side::Underlay, Side::Access] {
        assert_eq!(rig.wait_for(side, 2), [our_garp(side), our_garp(side)]);
    }
    // Stale after its own refresh age (spread per address): a request
    // unicast to the MAC it has, then broadcast ones every NEIGHBOR_PROBE,
    // none at the ticks between, then forgotten without another request.
    let ip = u32::from(n0.public_ip);
    let (our_mac, our_ip) = port_addr(Side::Underlay);
    let unicast = arp_frame(1, moved, (our_mac, our_ip), (MacAddr::ZERO, n0.public_ip));
    let broadcast = our_arp_request(Side::Underlay, n0.public_ip);
    let stale = learned_at + refresh_age(ip);
    assert!(refresh_age(ip) >= NEIGHBOR_REFRESH / 2 && refresh_age(ip) <= NEIGHBOR_REFRESH * 3 / 2);
    // (Ageing runs once a second of the slow path's clock.)
    assert_eq!(live.poll_at(stale - Duration::from_secs(1)), 0);
    assert!(rig.drain(Side::Underlay).is_empty(), "not stale yet");
    assert_eq!(live.poll_at(stale), 0);
    assert_eq!(
        rig.wait_for(Side::Underlay, 1),
        std::slice::from_ref(&unicast)
    );
    let mut t = stale;
    let mut probes = 1;
    while t + Duration::from_secs(1) < learned_at + forget_age(ip) {
        t += Duration::from_secs(1);
        live.poll_at(t);
        if t >= stale + NEIGHBOR_PROBE * probes {
            probes += 1;
            assert_eq!(
                rig.wait_for(Side::Underlay, 1),
                std::slice::from_ref(&broadcast)
            );
        }
    }
    assert_eq!(
        probes, NEIGHBOR_PROBES,
        "requests between refresh and forgetting"
    );
    live.poll_at(learned_at + forget_age(ip));
    assert_eq!(live_mac(&live.slow, n0.public_ip), None, "forgotten");

    live.stop();
    assert!(
        rig.drain(Side::Underlay).is_empty() && rig.drain(Side::Access).is_empty(),
        "no other frame: no request at the ticks between probes nor at expiry"
    );
    assert_eq!(rig.pool.in_use(), rig.baseline, "no mbuf leaked");
    drop(live);
}

/// All frames the slow path may hold (an eighth of the pool here: 255)
/// held for silent hosts: a frame for one more host is lost, but that host
/// is still asked for and learned from its reply, and a reply that comes
/// after the held frames were given up (RESOLVE_TIMEOUT) is still taken.
#[test]
fn a_full_hold_queue_does_not_keep_a_neighbour_from_being_learned() {
    let mut rig = Rig::new("holdcap", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, true);
    let n0 = NODES[0];
    let host = |i: u8| Ipv4Addr::new(10, 244, 255, 100 + i);
    // 16 silent hosts x 16 frames = 256: one more than the cap.
    let frames: Vec<Vec<u8>> = (0..16u8)
        .flat_map(|h| (0..16u8).map(move |k| (h, k)))
        .map(|(h, k)| vxlan_from(&n0, &from_pod(&n0, 10 + k, host(h), 64, 30)))
        .collect();
    for chunk in frames.chunks(64) {
        rig.inject(Side::Underlay, chunk);
        wait_punted(&live.punt, chunk.len());
        assert_eq!(live.poll_at(Duration::ZERO), chunk.len());
    }
    assert_eq!(
        rig.wait_for(Side::Access, 16).len(),
        16,
        "a request per host"
    );
    assert_eq!(rig.pool.in_use(), rig.baseline + 255, "the cap");
    // One more host: its frame is lost, it is asked for all the same.
    let late = host(16);
    rig.inject(
        Side::Underlay,
        &[vxlan_from(&n0, &from_pod(&n0, 40, late, 64, 30))],
    );
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(Duration::ZERO), 1);
    assert_eq!(
        rig.wait_for(Side::Access, 1),
        [our_arp_request(Side::Access, late)]
    );
    assert_eq!(
        live.slow_counters
            .snapshot()
            .drop_count(DropReason::NoNeighbor),
        2,
        "the 256th frame and the one over the cap"
    );
    // The held frames are given up; the host answers late, and is learned.
    live.poll_at(RESOLVE_TIMEOUT);
    for side in [Side::Underlay, Side::Access] {
        // The start-up gratuitous ARPs still due; no retry for a given-up
        // neighbour.
        assert_eq!(rig.wait_for(side, 2), [our_garp(side), our_garp(side)]);
    }
    let mac = MacAddr([0x02, 0, 0, 0, 0, 0x6c]);
    let reply = arp_frame(2, ACCESS_MAC, (mac, late), (ACCESS_MAC, ACCESS_IP));
    rig.inject(Side::Access, &[reply]);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(RESOLVE_TIMEOUT + Duration::from_secs(1)), 1);
    let learned = live
        .slow
        .neighbors
        .get(NeighborPort::Access, u32::from(late));
    assert_eq!(learned.map(|e| e.mac), Some(mac.0));
    live.stop();
    assert!(rig.drain(Side::Underlay).is_empty() && rig.drain(Side::Access).is_empty());
    assert_eq!(rig.pool.in_use(), rig.baseline, "no mbuf leaked");
    drop(live);
}

/// An ICMP error about a dropped packet, held for its unresolved next hop,
/// is not counted a second time when it is lost (the packet it answers was
/// counted as ttl_expired); a held frame of a host is. At shutdown what is
/// still held is freed and counted that way too.
#[test]
fn a_held_icmp_error_is_not_a_second_drop() {
    let mut rig = Rig::new("helderr", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, false);
    let [n0, n1, _, _] = NODES;
    // A pod of n0 sends with TTL 1: time-exceeded goes back to n0, whose
    // MAC is unknown. A host sends to a pod of n1, unknown too.
    let expired = vxlan_from(&n0, &from_pod(&n0, 7, testing::HOST_IP, 1, 40));
    rig.inject(Side::Underlay, &[expired]);
    wait_punted(&live.punt, 1);
    rig.inject(Side::Access, &[from_host(0, pod(&n1, 9), 64, 8001, 40)]);
    wait_punted(&live.punt, 2);
    assert_eq!(live.poll_at(Duration::ZERO), 2);
    let mut requests = rig.wait_for(Side::Underlay, 2);
    requests.sort();
    let mut want = vec![
        our_arp_request(Side::Underlay, n0.public_ip),
        our_arp_request(Side::Underlay, n1.public_ip),
    ];
    want.sort();
    assert_eq!(requests, want);
    assert_eq!(live.poll_at(RESOLVE_TIMEOUT), 0);
    assert_eq!(
        live.slow_counters.snapshot(),
        counts(0, 0, &[(DropReason::NoNeighbor, 1)], &[]),
        "the host's frame only"
    );
    for side in [Side::Underlay, Side::Access] {
        assert_eq!(rig.wait_for(side, 2), [our_garp(side), our_garp(side)]);
    }

    // Held again, then shutdown frees them: counted the same way.
    rig.inject(
        Side::Underlay,
        &[vxlan_from(&n0, &from_pod(&n0, 8, testing::HOST_IP, 1, 40))],
    );
    wait_punted(&live.punt, 1);
    rig.inject(Side::Access, &[from_host(0, pod(&n1, 10), 64, 8002, 40)]);
    wait_punted(&live.punt, 2);
    live.stop_worker();
    live.slow.shutdown();
    assert_eq!(
        live.slow_counters.snapshot(),
        counts(0, 0, &[(DropReason::NoNeighbor, 2)], &[])
    );
    let w = live.worker_counters.snapshot();
    assert_eq!(w.drop_count(DropReason::TtlExpired), 2);
    assert_eq!(w.slowpath_count(SlowKind::Icmp), 2);
    assert_eq!(w.total_drops(), 2, "each expired packet counted once");
    assert!(rig.drain(Side::Underlay).is_empty() && rig.drain(Side::Access).is_empty());
    assert_eq!(rig.pool.in_use(), rig.baseline, "no mbuf leaked");
    drop(live);
}

/// A `total`-byte IPv4 packet without DF from a host, through a rig whose
/// ports have `mtu`: the slow path cuts it to the tunnel MTU, into two
/// fragments of which the first carries `first` payload bytes, and both go
/// out encapsulated. Returns the two VXLAN frames.
fn fragmented_in_two(tag: &str, mtu: Option<u16>, total: usize, first: usize) -> Vec<Vec<u8>> {
    let mut rig = Rig::with_mtu(tag, "0-1", mtu);
    let (mut live, _leases) = Live::start(&mut rig, true);
    let n0 = NODES[0];
    let big = from_host(1, pod(&n0, 120), 64, 9500, total - 28);
    rig.inject(Side::Access, std::slice::from_ref(&big));
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(Duration::ZERO), 1);
    let out = rig.wait_for(Side::Underlay, 2);

    let payload = &big[34..];
    let (head, rest) = payload.split_at(first);
    // The slow path's WorkerState (index 1) numbers outer idents from 0x9e37.
    for (i, (o, part)) in out.iter().zip([head, rest]).enumerate() {
        let mut inner = forwarded(&big[..34], n0.vtep_mac, VTEP_MAC);
        inner.extend_from_slice(part);
        let len = (20 + part.len()) as u16;
        inner[16..18].copy_from_slice(&len.to_be_bytes());
        let frag = if i == 0 { 0x2000 } else { first / 8 }; // MF, offset
        inner[20..22].copy_from_slice(&(frag as u16).to_be_bytes());
        fill_checksum(&mut inner[14..34], 10);
        assert_encap(o, &n0, 0x9e37 + i as u16, &inner);
    }

    live.finish(
        &mut rig,
        counts(0, 0, &[], &[(SlowKind::Fragment, 1)]),
        counts(2, 0, &[], &[]),
    );
    out
}

/// A 1500-byte packet without DF: the tunnel MTU is 1450, so 1430 bytes of
/// room after the header, rounded down to 8: 1424 + 56 bytes of payload.
#[test]
fn too_big_packet_is_fragmented_by_the_slow_path() {
    fragmented_in_two("frag", None, 1500, 1424);
}

/// `ping -s 3000` from a host to the gateway's access address, in the
/// three fragments of a 1500-byte link: the worker punts each (slowpath
/// `fragment`), the slow path copies them into its reassembly table and
/// frees their mbufs at once (the pool is back at its baseline while the
/// datagram waits for its last fragment), then answers the whole request
/// in three fragments out of the access port, from its own ident sequence
/// (the slow path's WorkerState, index 1: 0x9e37), counted once as
/// slowpath `icmp`.
#[test]
fn a_fragmented_ping_to_the_gateway_is_reassembled_and_answered() {
    let mut rig = Rig::new("reasm", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, true);
    let (host_ip, host_mac) = HOSTS[0];
    let ip = Ip {
        protocol: 1,
        ident: 0x3000,
        ..Ip::new(host_ip, ACCESS_IP)
    };
    let data = testing::pattern(3000);
    let icmp = testing::echo_request(0x77, 9, &data);
    let whole = testing::ipv4_frame(ACCESS_MAC, host_mac, ip, &icmp);
    let frags = sent_at_1500(&whole);
    assert_eq!(frags.len(), 3);
    rig.inject(Side::Access, &frags[..2]);
    wait_punted(&live.punt, 2);
    assert_eq!(live.poll_at(Duration::ZERO), 2);
    assert_eq!(
        rig.pool.in_use(),
        rig.baseline,
        "fragments copied out, mbufs freed"
    );
    assert!(
        rig.drain(Side::Access).is_empty(),
        "no answer before the last fragment"
    );
    rig.inject(Side::Access, &frags[2..]);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(Duration::from_millis(1)), 1);
    let out = rig.wait_for(Side::Access, 3);
    let mut reply = Vec::new();
    for (i, o) in out.iter().enumerate() {
        let p = SlicedPacket::from_ethernet(o).expect("a reply fragment parses");
        let Some(LinkSlice::Ethernet2(e)) = &p.link else {
            panic!("not Ethernet II")
        };
        assert_eq!((e.destination(), e.source()), (host_mac.0, ACCESS_MAC.0));
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!(
            (h.source, h.destination),
            (ACCESS_IP.octets(), host_ip.octets())
        );
        assert_eq!((h.time_to_live, h.identification), (64, 0x9e37));
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(usize::from(h.fragment_offset.byte_offset()), reply.len());
        assert_eq!((h.dont_fragment, h.more_fragments), (false, i < 2));
        assert!(usize::from(h.total_len) <= 1500);
        reply.extend_from_slice(&o[34..14 + usize::from(h.total_len)]);
    }
    assert_eq!(&reply[..2], &[0, 0], "echo reply, code 0");
    assert_eq!(&reply[4..8], &icmp[4..8], "ICMP ident and sequence");
    assert_eq!(&reply[8..], &data[..]);
    assert!(checksum_ok(&reply), "ICMP checksum over the whole reply");
    live.finish(
        &mut rig,
        counts(0, 0, &[], &[(SlowKind::Fragment, 3)]),
        counts(0, 0, &[], &[(SlowKind::Icmp, 1)]),
    );
}

/// Two datagrams a host cut at 1500 bytes (fragments of 1500, 1500 and
/// 1060 bytes), sent back to back toward the 1450-byte tunnel: the worker
/// sends both whole datagrams to the slow path, the last fragments too,
/// which fit the tunnel but follow the rest of their datagram
/// (`frag_order`); so the fragments leave in the order of their offsets,
/// one datagram after the other. Forwarded at once, the two last fragments
/// left first, and under load Linux dropped such datagrams
/// (`ipfrag_max_dist`).
#[test]
fn the_fragments_of_a_datagram_leave_in_order() {
    let mut rig = Rig::with_mtu("fragord", "0-1", None);
    let (mut live, _leases) = Live::start(&mut rig, true);
    let n0 = NODES[0];
    let mut frames = Vec::new();
    for ident in [0x4001u16, 0x4002] {
        let mut big = from_host(1, pod(&n0, 120), 64, 9500, 4000 - 28);
        let mut ip = ipv4::Packet::new_unchecked(&mut big[14..]);
        ip.set_ident(ident);
        ip.fill_checksum();
        frames.extend(sent_at_1500(&big));
    }
    assert_eq!(frames.len(), 6);
    assert!(
        frames[2].len() - 14 <= 1450,
        "the last fragment fits the tunnel"
    );
    rig.inject(Side::Access, &frames);
    wait_punted(&live.punt, 6);
    assert_eq!(live.poll_at(Duration::ZERO), 6);
    // Each datagram: its two 1500-byte fragments cut in two, its last as is.
    let out = rig.wait_for(Side::Underlay, 10);
    let order: Vec<(u16, u16, bool)> = out
        .iter()
        .map(|o| {
            let ip = ipv4::Packet::new_checked(&o[50 + 14..]).unwrap();
            (ip.ident(), ip.frag_offset(), ip.more_frags())
        })
        .collect();
    let datagram = |ident| {
        [
            (0, true),
            (1424, true),
            (1480, true),
            (2904, true),
            (2960, false),
        ]
        .map(|(offset, mf)| (ident, offset, mf))
    };
    let want: Vec<_> = datagram(0x4001)
        .into_iter()
        .chain(datagram(0x4002))
        .collect();
    assert_eq!(order, want);
    live.finish(
        &mut rig,
        counts(0, 0, &[], &[(SlowKind::Fragment, 6)]),
        counts(10, 0, &[], &[]),
    );
}

/// The same on ports of MTU 9000: a 9000-byte packet against the 8950-byte
/// tunnel MTU is cut into 8928 + 52 bytes of payload; the first fragment
/// is a 9012-byte VXLAN frame (its IPv4 packet 8998 bytes, within 9000).
#[test]
fn jumbo_packet_without_df_is_fragmented_to_the_tunnel_mtu() {
    let out = fragmented_in_two("jfrag", Some(9000), 9000, 8928);
    assert_eq!(out[0].len(), 50 + 14 + 20 + 8928);
    assert_eq!(out[1].len(), 50 + 14 + 20 + 52);
}

/// Jumbo frames in real mbufs: both ports opened with MTU 9000 as
/// `--underlay-mtu 9000 --access-mtu 9000` open them (net_ring has no MTU
/// setting and no frame limit, so the port reports the MTU asked for),
/// buffers of `data_room_for_mtus([Some(9000)])`, the context from the ports' MTUs:
/// 8950-byte packets (the tunnel MTU) from a host go out as 9000-byte
/// VXLAN packets, 8950-byte packets from a pod come out to the host, and
/// one byte more with DF set is answered with fragmentation-needed
/// carrying 8950.
#[test]
fn jumbo_frames_through_ports_of_mtu_9000() {
    let mut rig = Rig::with_mtu("jumbo", "0", Some(9000));
    assert_eq!(
        (rig._ports[0].mtu(), rig._ports[1].mtu()),
        (9000, 9000),
        "the MTU asked for"
    );
    assert_eq!(rig.ctx.cfg.tunnel_mtu, 8950);
    let (_leases, _neighbors, lookup) = tables(true);
    let punt = Arc::new(PuntQueue::new(64));
    let (mut w, counters) = rig.worker(lookup, &punt, None);
    w.lookup.refresh();
    let node = NODES[0];

    // Host -> pod: the largest packet the tunnel takes, and a small one.
    let sent: Vec<Vec<u8>> = [8950 - 28, 100]
        .iter()
        .enumerate()
        .map(|(i, &len)| from_host(i, pod(&node, 10 + i as u8), 64, 7000, len))
        .collect();
    rig.inject(Side::Access, &sent);
    assert_eq!(w.poll(Side::Access), 2);
    let out = rig.drain(Side::Underlay);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].len(), 14 + 9000, "a 9000-byte VXLAN packet");
    for (i, (o, f)) in out.iter().zip(&sent).enumerate() {
        assert_encap(o, &node, i as u16, &forwarded(f, node.vtep_mac, VTEP_MAC));
    }

    // Pod -> host: 8950 bytes inside a 9000-byte VXLAN packet.
    let (host_ip, host_mac) = HOSTS[1];
    let inner = from_pod(&node, 40, host_ip, 64, 8950 - 28);
    let vx = vxlan_from(&node, &inner);
    assert_eq!(vx.len(), 14 + 9000);
    rig.inject(Side::Underlay, &[vx]);
    assert_eq!(w.poll(Side::Underlay), 1);
    let out = rig.drain(Side::Access);
    assert_eq!(out.len(), 1);
    assert_delivered(&out[0], &forwarded(&inner, host_mac, ACCESS_MAC));

    // One byte over the tunnel MTU with DF: ICMP fragmentation-needed.
    let (src, mac) = HOSTS[2];
    let dst = pod(&node, 12);
    let l4 = testing::udp_datagram(src, dst, 7001, 80, &testing::pattern(8951 - 28));
    let big = testing::ipv4_frame(
        ACCESS_MAC,
        mac,
        Ip {
            df: true,
            ..Ip::new(src, dst)
        },
        &l4,
    );
    rig.inject(Side::Access, &[big]);
    assert_eq!(w.poll(Side::Access), 1);
    let out = rig.drain(Side::Access);
    assert_eq!(out.len(), 1, "the error goes back to the host");
    let p = SlicedPacket::from_ethernet(&out[0]).expect("parses");
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4")
    };
    assert_eq!(
        (ip.header().source(), ip.header().destination()),
        (ACCESS_IP.octets(), src.octets())
    );
    let icmp = &out[0][34..];
    assert_eq!((icmp[0], icmp[1]), (3, 4), "fragmentation needed");
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 8950, "next-hop MTU");
    assert!(rig.drain(Side::Underlay).is_empty());
    assert_eq!(
        counters.snapshot(),
        counts(
            2,
            1,
            &[(DropReason::MtuExceeded, 1)],
            &[(SlowKind::Icmp, 1)]
        )
    );
    assert!(punt.is_empty());
    assert_eq!(rig.pool.in_use(), rig.baseline, "no mbuf leaked");
}

/// RFC 826's merge for requests (Linux's arp_process): a host learned at
/// one MAC whose NIC is swapped (no gratuitous ARP) and which asks for us
/// from the new MAC is punted by the worker, followed by the slow path at
/// once (also within ARP_LOCKTIME of the entry's last change, as Linux's
/// neigh_event_ns) and answered at the new MAC; decapped packets to it
/// then leave for the new MAC. A request from it for another host is
/// merged too once the lock has passed (within it: ignored), counted as
/// slow-path ARP work, no reply. At its known MAC the worker answers it
/// in place. A static neighbour keeps its configured MAC but is answered.
/// An ARP from our own access MAC announcing the host changes nothing: the
/// worker drops it as not_for_us, and the slow path ignores such a frame
/// if it gets one. The same host behind a NIC that priority-tags (VLAN id
/// 0) is followed and answered alike, untagged.
#[test]
fn an_arp_request_from_a_host_at_a_new_mac_updates_its_entry() {
    let mut rig = Rig::new("merge", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, true);
    let n0 = NODES[0];
    let h = SILENT_HOST;
    let mac1 = MacAddr([0x02, 0, 0, 0, 0x01, 0x14]);
    let mac2 = MacAddr([0x02, 0, 0, 0, 0x02, 0x14]);
    let mac3 = MacAddr([0x02, 0, 0, 0, 0x03, 0x14]);
    fn host_mac(s: &SlowPath, ip: Ipv4Addr) -> Option<[u8; 6]> {
        s.neighbors
            .get(NeighborPort::Access, u32::from(ip))
            .map(|e| e.mac)
    }
    let request = |mac: MacAddr, target: Ipv4Addr| {
        arp_frame(1, MacAddr::BROADCAST, (mac, h), (MacAddr::ZERO, target))
    };
    let our_reply = |to: (MacAddr, Ipv4Addr)| arp_frame(2, to.0, (ACCESS_MAC, ACCESS_IP), to);
    let mut seq = 30u8;
    let mut to_h = |rig: &mut Rig| {
        seq += 1;
        let inner = from_pod(&n0, seq, h, 64, 40);
        rig.inject(Side::Underlay, &[vxlan_from(&n0, &inner)]);
        inner
    };
    let ms = Duration::from_millis;

    // Learn h at mac1: a packet for it is held, we ask, it answers.
    let first = to_h(&mut rig);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(ms(0)), 1);
    assert_eq!(
        rig.wait_for(Side::Access, 1),
        [our_arp_request(Side::Access, h)]
    );
    rig.inject(
        Side::Access,
        &[arp_frame(2, ACCESS_MAC, (mac1, h), (ACCESS_MAC, ACCESS_IP))],
    );
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(ms(10)), 1);
    assert_eq!(host_mac(&live.slow, h), Some(mac1.0));
    let out = rig.wait_for(Side::Access, 1);
    assert_delivered(&out[0], &forwarded(&first, mac1, ACCESS_MAC));

    // Another MAC for h within ARP_LOCKTIME of learning mac1 (Linux's
    // locktime: the first answer wins), in a request for another host:
    // not followed, not answered.
    rig.inject(Side::Access, &[request(mac2, HOSTS[1].0)]);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(ms(20)), 1);
    assert_eq!(host_mac(&live.slow, h), Some(mac1.0), "locked");
    assert!(
        live.outgoing.is_empty(),
        "no reply to a request for another"
    );
    assert_eq!(live.slow.arp_changes_ignored(), 1);
    // From mac2 asking for us, still within the lock: followed at once
    // (Linux learns it through neigh_event_ns, which overrides the lock)
    // and answered at mac2.
    rig.inject(Side::Access, &[request(mac2, ACCESS_IP)]);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(ms(30)), 1);
    assert_eq!(host_mac(&live.slow, h), Some(mac2.0), "a request for us");
    assert_eq!(rig.wait_for(Side::Access, 1), [our_reply((mac2, h))]);
    assert_eq!(live.slow.arp_changes_ignored(), 1);
    let second = to_h(&mut rig);
    let out = rig.wait_for(Side::Access, 1);
    assert_delivered(&out[0], &forwarded(&second, mac2, ACCESS_MAC));

    // Past the lock, and past the start-up gratuitous ARPs still due (at
    // 1 and 2 s), which go out first.
    let later = Duration::from_secs(3);
    assert!(later > ms(30) + ARP_LOCKTIME);
    assert_eq!(live.poll_at(later), 0);
    for side in [Side::Underlay, Side::Access] {
        assert_eq!(rig.wait_for(side, 2), [our_garp(side), our_garp(side)]);
    }

    // At mac3, asking for another host: merged (the lock has passed), not
    // answered.
    rig.inject(Side::Access, &[request(mac3, HOSTS[1].0)]);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(later + ms(20)), 1);
    assert!(
        live.outgoing.is_empty(),
        "no reply to a request for another"
    );
    assert_eq!(host_mac(&live.slow, h), Some(mac3.0), "followed");
    let third = to_h(&mut rig);
    let out = rig.wait_for(Side::Access, 1);
    assert_delivered(&out[0], &forwarded(&third, mac3, ACCESS_MAC));

    // At its known MAC: answered by the worker in place, nothing punted.
    rig.inject(Side::Access, &[request(mac3, ACCESS_IP)]);
    assert_eq!(rig.wait_for(Side::Access, 1), [our_reply((mac3, h))]);
    assert!(live.punt.is_empty());

    // A static host at another MAC: answered there, its entry kept.
    let (static_ip, static_mac) = HOSTS[0];
    let elsewhere = MacAddr([0x02, 0, 0, 0, 0x09, 0x0a]);
    rig.inject(
        Side::Access,
        &[arp_frame(
            1,
            MacAddr::BROADCAST,
            (elsewhere, static_ip),
            (MacAddr::ZERO, ACCESS_IP),
        )],
    );
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(later + ARP_LOCKTIME + ms(30)), 1);
    assert_eq!(
        rig.wait_for(Side::Access, 1),
        [our_reply((elsewhere, static_ip))]
    );
    let kept = live
        .slow
        .neighbors
        .get(NeighborPort::Access, u32::from(static_ip));
    assert!(kept.is_some_and(|e| e.is_static() && e.mac == static_mac.0));

    // Our own access MAC announcing h, gratuitously and as a reply: the
    // worker drops both as not_for_us; handed to the slow path anyway,
    // they change nothing.
    let own_garp = arp_frame(1, MacAddr::BROADCAST, (ACCESS_MAC, h), (MacAddr::ZERO, h));
    let own_reply = arp_frame(2, ACCESS_MAC, (ACCESS_MAC, h), (ACCESS_MAC, ACCESS_IP));
    rig.inject(Side::Access, &[own_garp.clone(), own_reply.clone()]);
    wait_dropped(&live.worker_counters, DropReason::NotForUs, 2);
    assert!(live.punt.is_empty());
    for f in [own_garp, own_reply] {
        punt_directly(&rig, &live, Side::Access, SlowKind::Arp, &f);
    }
    assert_eq!(live.poll_at(later + ARP_LOCKTIME + ms(50)), 2);
    assert_eq!(host_mac(&live.slow, h), Some(mac3.0), "unchanged");
    assert!(live.outgoing.is_empty());
    let fourth = to_h(&mut rig);
    let out = rig.wait_for(Side::Access, 1);
    assert_delivered(&out[0], &forwarded(&fourth, mac3, ACCESS_MAC));

    // h moved to a NIC that priority-tags what it sends (802.1Q, VLAN id
    // 0, priority 3): its request for us, taken as untagged by the worker
    // (the tag stripped from the mbuf), is punted as from a new MAC; the
    // slow path merges it and answers, untagged. At that MAC, answered
    // by the worker in place, untagged, nothing punted.
    let mac4 = MacAddr([0x02, 0, 0, 0, 0x04, 0x14]);
    let tagged = |f: Vec<u8>| testing::tagged(&f, 0x8100, 0x6000);
    rig.inject(Side::Access, &[tagged(request(mac4, ACCESS_IP))]);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(later + ARP_LOCKTIME + ms(70)), 1);
    assert_eq!(host_mac(&live.slow, h), Some(mac4.0), "a tagged request");
    assert_eq!(rig.wait_for(Side::Access, 1), [our_reply((mac4, h))]);
    rig.inject(Side::Access, &[tagged(request(mac4, ACCESS_IP))]);
    assert_eq!(rig.wait_for(Side::Access, 1), [our_reply((mac4, h))]);
    assert!(live.punt.is_empty());
    let fifth = to_h(&mut rig);
    let out = rig.wait_for(Side::Access, 1);
    assert_delivered(&out[0], &forwarded(&fifth, mac4, ACCESS_MAC));

    // Slow-path ARP: the hold, h's reply, five punted requests and
    // the two answered in place.
    live.finish(
        &mut rig,
        counts(0, 5, &[(DropReason::NotForUs, 2)], &[(SlowKind::Arp, 9)]),
        CounterSnapshot::default(),
    );
}

/// A request for our address from a sender no host can be (loopback,
/// class E) or from a broadcast MAC is dropped by the worker as
/// not_for_us; handed to the slow path anyway (as a request from a
/// neighbour at a new MAC is), it is not answered there either, and
/// counted not_for_us. Nothing is learned.
#[test]
fn an_arp_request_for_us_from_a_sender_no_host_can_be_is_not_answered() {
    let mut rig = Rig::new("arpmartian", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, true);
    let (h, hmac) = (SILENT_HOST, MacAddr([0x02, 0, 0, 0, 0x01, 0x14]));
    let known = live.slow.neighbors.len(NeighborPort::Access);
    let ask = |sender: (MacAddr, Ipv4Addr)| {
        arp_frame(1, MacAddr::BROADCAST, sender, (MacAddr::ZERO, ACCESS_IP))
    };
    let bad = [
        ask((hmac, Ipv4Addr::new(127, 0, 0, 1))),
        ask((hmac, Ipv4Addr::new(240, 0, 0, 1))),
        ask((MacAddr::BROADCAST, h)),
    ];
    rig.inject(Side::Access, &bad);
    wait_dropped(&live.worker_counters, DropReason::NotForUs, 3);
    assert!(live.punt.is_empty(), "nothing punted");
    for f in &bad {
        punt_directly(&rig, &live, Side::Access, SlowKind::Arp, f);
    }
    assert_eq!(live.poll_at(Duration::ZERO), 3);
    assert!(live.outgoing.is_empty(), "no reply");
    let learned = live.slow.neighbors.len(NeighborPort::Access);
    assert_eq!(learned, known, "nothing learned");
    live.finish(
        &mut rig,
        counts(0, 0, &[(DropReason::NotForUs, 3)], &[]),
        counts(0, 0, &[(DropReason::NotForUs, 3)], &[]),
    );
}

/// Fragments vxgate makes are packets of their own: a 1500-byte packet
/// without DF toward a node nobody resolves is cut in two, both held,
/// and at RESOLVE_TIMEOUT each is dropped and counted as no_neighbor (two
/// drops for the one packet received, as encap and the holds counted two
/// packets).
#[test]
fn fragments_held_for_an_unresolved_node_are_dropped_one_by_one() {
    let mut rig = Rig::new("fraghold", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, false);
    let n0 = NODES[0];
    let big = from_host(1, pod(&n0, 122), 64, 9502, 1500 - 28);
    rig.inject(Side::Access, &[big]);
    wait_punted(&live.punt, 1);
    assert_eq!(live.poll_at(Duration::ZERO), 1);
    assert_eq!(
        rig.wait_for(Side::Underlay, 1),
        [our_arp_request(Side::Underlay, n0.public_ip)]
    );
    assert_eq!(live.slow.pending_neighbors(), 1);
    assert_eq!(rig.pool.in_use(), rig.baseline + 2, "two fragments held");
    assert_eq!(live.poll_at(RESOLVE_TIMEOUT), 0);
    assert_eq!(live.slow.pending_neighbors(), 0);
    for side in [Side::Underlay, Side::Access] {
        // The start-up gratuitous ARPs still due; no retry for a neighbour
        // given up.
        assert_eq!(rig.wait_for(side, 2), [our_garp(side), our_garp(side)]);
    }
    // The slow path: each fragment built (encap), held (ARP) and lost.
    live.finish(
        &mut rig,
        counts(0, 0, &[], &[(SlowKind::Fragment, 1)]),
        counts(2, 0, &[(DropReason::NoNeighbor, 2)], &[(SlowKind::Arp, 2)]),
    );
}

/// A 1500-byte packet without DF whose fragment offset says 65408: its
/// data would end past byte 65535 of the datagram, so no piece of it
/// could carry its offset. The worker drops it as bad_ipv4, nothing
/// punted; handed to the slow path anyway, it is refused there by the
/// same rule and nothing is sent.
#[test]
fn a_fragment_ending_past_byte_65535_is_dropped_as_bad_ipv4() {
    let mut rig = Rig::new("fragmax", "0-1");
    let (mut live, _leases) = Live::start(&mut rig, true);
    let n0 = NODES[0];
    let mut f = from_host(1, pod(&n0, 123), 64, 9503, 1500 - 28);
    f[20..22].copy_from_slice(&(65408u16 / 8).to_be_bytes());
    fill_checksum(&mut f[14..34], 10);
    rig.inject(Side::Access, &[f.clone()]);
    wait_dropped(&live.worker_counters, DropReason::BadIpv4, 1);
    assert!(live.punt.is_empty(), "nothing punted");
    punt_directly(&rig, &live, Side::Access, SlowKind::Fragment, &f);
    assert_eq!(live.poll_at(Duration::ZERO), 1);
    assert!(live.outgoing.is_empty(), "nothing to send");
    live.finish(
        &mut rig,
        counts(0, 0, &[(DropReason::BadIpv4, 1)], &[]),
        counts(0, 0, &[(DropReason::BadIpv4, 1)], &[]),
    );
}
