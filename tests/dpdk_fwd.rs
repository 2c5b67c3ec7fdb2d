//! The foundation data path through real DPDK ports. EAL starts once per
//! process: run with `cargo nextest` (a process per test).
mod netns;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pnet_datalink::{self as datalink, Channel, NetworkInterface};
use vxgate::dpdk::{self, Burst, Eal, Mempool, Port, PortConf};
use vxgate::fwd::{forward_once, DirCounters, Forwarder, FwdCounters};

/// Removes this process's EAL runtime directory when the test ends.
struct RuntimeDir(String);

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.0));
    }
}

/// EAL arguments for a test: its own file prefix, no PCI, the given vdevs.
fn eal_args(tag: &str, lcores: &str, vdevs: &[String]) -> Vec<String> {
    let mut a = vec![
        "-l".to_string(),
        lcores.to_string(),
        "--no-pci".into(),
        format!("--file-prefix=vxt-{tag}-{}", std::process::id()),
        "--log-level=lib.eal:warning".into(),
    ];
    for v in vdevs {
        a.push(format!("--vdev={v}"));
    }
    a
}

/// A frame no kernel or DPDK component sends by itself: local experimental
/// EtherType 0x88b5 and a payload naming the test and sequence number.
fn test_frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(60)];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xbb]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xaa]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[18..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7).wrapping_add(seq as u8);
    }
    f
}

/// Opens and starts ports `a` and `b` (one queue each) and hands their
/// queues to a forwarder.
fn forwarder(a: &str, b: &str, pool: &Mempool) -> (Port, Port, Forwarder) {
    let conf = PortConf::default();
    let (mut pa, mut rxa, mut txa) = Port::open(a, &conf, pool).unwrap();
    let (mut pb, mut rxb, mut txb) = Port::open(b, &conf, pool).unwrap();
    pa.start().unwrap();
    pb.start().unwrap();
    let fwd = Forwarder {
        rx_a: rxa.remove(0),
        tx_a: txa.remove(0),
        rx_b: rxb.remove(0),
        tx_b: txb.remove(0),
    };
    (pa, pb, fwd)
}

/// Runs `fwd` on `lcore` until the returned flag is raised.
fn launch(lcore: u32, fwd: Forwarder) -> (Arc<AtomicBool>, Arc<FwdCounters>, dpdk::LcoreHandle) {
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(FwdCounters::default());
    let (s, c) = (stop.clone(), counters.clone());
    let h = dpdk::launch(lcore, move || {
        fwd.run(&s, &c);
        0
    })
    .unwrap();
    (stop, counters, h)
}

fn iface(name: &str) -> NetworkInterface {
    datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("TAP interface {name} not found"))
}

#[test]
fn tap_pair_forwards_exact_bytes_from_the_kernel() {
    let (ta, tb) = (
        format!("vxa{}", std::process::id()),
        format!("vxb{}", std::process::id()),
    );
    let _rt = RuntimeDir(format!("vxt-tap-{}", std::process::id()));
    // The TAPs in a namespace of the test's own, not the machine's.
    netns::enter_private_netns();
    let eal = Eal::init(&eal_args(
        "tap",
        "0-1",
        &[
            format!("net_tap0,iface={ta}"),
            format!("net_tap1,iface={tb}"),
        ],
    ))
    .expect("EAL with two net_tap devices");
    let pool = Mempool::new("tap_pool", 4095, 64, dpdk::DEFAULT_DATA_ROOM).unwrap();
    let (mut pa, mut pb, fwd) = forwarder("net_tap0", "net_tap1", &pool);
    let (stop, counters, worker) = launch(eal.worker_lcores()[0], fwd);

    let cfg = datalink::Config {
        read_timeout: Some(Duration::from_millis(50)),
        ..Default::default()
    };
    let Channel::Ethernet(mut tx_a, _) = datalink::channel(&iface(&ta), cfg).unwrap() else {
        panic!("not an Ethernet channel")
    };
    let Channel::Ethernet(_, mut rx_b) = datalink::channel(&iface(&tb), cfg).unwrap() else {
        panic!("not an Ethernet channel")
    };
    let sent: Vec<Vec<u8>> = (0..20u32)
        .map(|i| test_frame(i, 60 + 67 * i as usize))
        .collect();
    for f in &sent {
        tx_a.send_to(f, None).unwrap().unwrap();
    }
    let mut got: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < sent.len() && Instant::now() < deadline {
        if let Ok(f) = rx_b.next() {
            if f.len() >= 14 && f[12..14] == [0x88, 0xb5] {
                got.push(f.to_vec());
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(worker.join(), 0);
    assert_eq!(
        got, sent,
        "the frames out of tap B are exactly those sent into tap A, in order"
    );
    assert!(counters.a_to_b.tx.load(Ordering::Relaxed) >= sent.len() as u64);
    assert_eq!(counters.a_to_b.tx_full.load(Ordering::Relaxed), 0);
    pa.stop();
    pb.stop();
}

/// net_ring devices loop TX back to their own RX: put frames on ring0,
/// forward ring0 -> ring1, read them back from ring1.
#[test]
fn ring_pair_forwards_exact_bytes_and_leaks_nothing() {
    let _rt = RuntimeDir(format!("vxt-ring-{}", std::process::id()));
    let _eal = Eal::init(&eal_args(
        "ring",
        "0",
        &["net_ring0".into(), "net_ring1".into()],
    ))
    .unwrap();
    let pool = Mempool::new("ring_pool", 2047, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
    let conf = PortConf::default();
    let (mut p0, mut rx0, mut tx0) = Port::open("net_ring0", &conf, &pool).unwrap();
    let (mut p1, mut rx1, mut tx1) = Port::open("net_ring1", &conf, &pool).unwrap();
    p0.start().unwrap();
    p1.start().unwrap();
    let baseline = pool.in_use();

    let frames: Vec<Vec<u8>> = (0..32u32)
        .map(|i| test_frame(i, 64 + 40 * i as usize))
        .collect();
    let mut burst = Burst::new();
    assert!(burst.alloc(&pool, frames.len()));
    for (i, f) in frames.iter().enumerate() {
        assert!(burst.get_mut(i).unwrap().set_bytes(f));
    }
    assert_eq!(pool.in_use(), baseline + 32);
    assert_eq!(tx0[0].tx(&mut burst), 32);
    let dir = DirCounters::default();
    assert_eq!(forward_once(&mut rx0[0], &mut tx1[0], &dir), 32);
    let mut out = Burst::new();
    assert_eq!(rx1[0].rx(&mut out), 32);
    let got: Vec<Vec<u8>> = (0..out.len())
        .map(|i| out.get_mut(i).unwrap().data().to_vec())
        .collect();
    assert_eq!(got, frames);
    assert_eq!(
        pool.in_use(),
        baseline + 32,
        "all 32 are held by the test's burst"
    );
    drop(out);
    assert_eq!(
        pool.in_use(),
        baseline,
        "received, forwarded and freed: back to baseline"
    );
    assert_eq!(dir.tx.load(Ordering::Relaxed), 32);
    p0.stop();
    p1.stop();
    let _ = (&mut rx1, &mut tx0);
}

/// net_null produces frames as fast as it can: forward a few million of them
/// on a worker lcore and check the pool's in-use count returns to baseline.
#[test]
fn null_pair_forwards_under_load_without_mbuf_leak() {
    let _rt = RuntimeDir(format!("vxt-null-{}", std::process::id()));
    let eal = Eal::init(&eal_args(
        "null",
        "0-1",
        &["net_null0".into(), "net_null1".into()],
    ))
    .unwrap();
    let pool = Mempool::new("null_pool", 8191, 256, dpdk::DEFAULT_DATA_ROOM).unwrap();
    let (mut pa, mut pb, fwd) = forwarder("net_null0", "net_null1", &pool);
    let baseline = pool.in_use();
    let (stop, counters, worker) = launch(eal.worker_lcores()[0], fwd);
    let deadline = Instant::now() + Duration::from_secs(20);
    while counters.a_to_b.rx.load(Ordering::Relaxed) < 2_000_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(worker.join(), 0);
    let rx = counters.a_to_b.rx.load(Ordering::Relaxed);
    assert!(rx >= 2_000_000, "forwarded only {rx} frames");
    assert_eq!(
        counters.a_to_b.tx.load(Ordering::Relaxed)
            + counters.a_to_b.tx_full.load(Ordering::Relaxed),
        rx,
        "every received frame is either sent or freed and counted"
    );
    assert_eq!(pool.in_use(), baseline, "no mbuf leaked");
    let st = pb.stats();
    assert_eq!(st.tx_packets, counters.a_to_b.tx.load(Ordering::Relaxed));
    pa.stop();
    pb.stop();
}

#[test]
fn mempool_sizes_dpdk_cannot_take_are_refused_with_the_fix() {
    let _rt = RuntimeDir(format!("vxt-pool-{}", std::process::id()));
    let _eal = Eal::init(&eal_args("pool", "0", &[])).unwrap();
    let small = Mempool::new("small_pool", 383, 256, dpdk::DEFAULT_DATA_ROOM)
        .err()
        .expect("383 mbufs with a cache of 256 is refused")
        .to_string();
    assert!(small.contains("at least 384; raise --mbufs"), "{small}");
    let huge = Mempool::new(
        "huge_pool",
        dpdk::MAX_MBUFS + 1,
        256,
        dpdk::DEFAULT_DATA_ROOM,
    )
    .err()
    .expect("more than MAX_MBUFS is refused")
    .to_string();
    assert!(huge.contains("at most 16777216; lower --mbufs"), "{huge}");
    // The smallest pool that fits the cache is made.
    let ok = Mempool::new("ok_pool", 384, 256, dpdk::DEFAULT_DATA_ROOM).unwrap();
    assert_eq!(ok.available(), 384);
}

/// The safe wrappers cannot be made to use freed DPDK memory: a pool
/// dropped while one of its mbufs is still out is leaked, not freed, so
/// the late mbuf does not land in a pool made since (it did: 513 of 512);
/// lcores that are not this EAL's workers (the main one, one not in -l,
/// one past RTE_MAX_LCORE, which DPDK would index unchecked) are refused.
#[test]
fn a_pool_with_mbufs_out_outlives_its_handle_and_only_worker_lcores_launch() {
    let _rt = RuntimeDir(format!("vxt-safe-{}", std::process::id()));
    let eal = Eal::init(&eal_args("safe", "0-1", &[])).unwrap();
    let old = Mempool::new("old_pool", 512, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
    let late = old.alloc().expect("an mbuf");
    drop(old);
    let new = Mempool::new("new_pool", 512, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
    assert_eq!(new.available(), 512);
    drop(late);
    assert_eq!(new.available(), 512, "the late mbuf went home, not here");
    let main = eal.main_lcore();
    for lcore in [main, 2, 63, u32::MAX] {
        let e = dpdk::launch(lcore, || 0).err().expect("refused");
        assert!(e.to_string().contains("not a worker lcore"), "{lcore}: {e}");
    }
    let h = dpdk::launch(eal.worker_lcores()[0], || 7).expect("a worker lcore");
    assert_eq!(h.join(), 7);
}

/// `reframe`, encap's and decap's one step on a real mbuf: headroom taken
/// in front or bytes stripped, the tail cut to the length asked for, and
/// anything that does not fit refused with the mbuf unchanged.
#[test]
fn mbuf_reframe_grows_into_headroom_or_strips_and_refuses_what_does_not_fit() {
    let _rt = RuntimeDir(format!("vxt-reframe-{}", std::process::id()));
    let _eal = Eal::init(&eal_args("reframe", "0", &[])).unwrap();
    let pool = Mempool::new("reframe_pool", 63, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
    let mut m = pool.alloc().expect("an mbuf");
    let frame: Vec<u8> = (0..64u8).collect();
    assert!(m.set_bytes(&frame));
    let (room, len) = (m.headroom(), m.len());
    assert_eq!(len, 64);
    // Refused, unchanged: more headroom than there is, a tail beyond the
    // received bytes, a strip beyond the end.
    assert!(m.reframe(room + 1, 0, 10).is_none());
    assert!(m.reframe(8, 0, 8 + 65).is_none());
    assert!(m.reframe(0, 60, 5).is_none());
    // Sizes whose sums overflow are refused, not wrapped around.
    assert!(m.reframe(0, usize::MAX - 150, 100).is_none());
    assert!(m.reframe(0, 8, usize::MAX - 4).is_none());
    assert!(m.reframe(usize::MAX, usize::MAX, 1).is_none());
    assert_eq!((m.headroom(), m.len(), m.pkt_len()), (room, len, 64));
    assert_eq!(m.data(), &frame[..]);
    // Encap: 8 bytes of headroom in front, the 4 bytes of padding cut.
    let f = m.reframe(8, 0, 8 + 60).expect("fits");
    assert_eq!(f.len(), 68);
    f[..8].copy_from_slice(&[0xee; 8]);
    assert_eq!((m.headroom(), m.len(), m.pkt_len()), (room - 8, 68, 68));
    assert_eq!(&m.data()[8..], &frame[..60]);
    // Decap: those 8 and 2 more stripped, 50 bytes kept.
    let f = m.reframe(0, 10, 50).expect("fits");
    assert_eq!(f, &frame[2..52]);
    assert_eq!((m.headroom(), m.len(), m.pkt_len()), (room + 2, 50, 50));
}
