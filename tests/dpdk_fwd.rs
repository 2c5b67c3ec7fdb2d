//! The foundation data path through real DPDK ports. EAL starts once per
//! process: run with `cargo nextest` (a process per test).
mod common;

use common::runtime_dir::RuntimeDir;
mod netns;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pnet_datalink::{self as datalink, Channel, NetworkInterface};
use vxgate::dpdk::{self, Burst, Eal, Mempool, Port, PortConf};
use vxgate::fwd::{forward_once, DirCounters, Forwarder, FwdCounters};

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
fn forwarder(eal: &Eal, a: &str, b: &str, pool: &Arc<Mempool>) -> (Port, Port, Forwarder) {
    let conf = PortConf::default();
    let mut pa = Port::open(eal, a, &conf, pool).unwrap();
    let mut pb = Port::open(eal, b, &conf, pool).unwrap();
    let (mut rxa, mut txa) = pa.start().unwrap();
    let (mut rxb, mut txb) = pb.start().unwrap();
    let fwd = Forwarder {
        rx_a: rxa.remove(0),
        tx_a: txa.remove(0),
        rx_b: rxb.remove(0),
        tx_b: txb.remove(0),
    };
    (pa, pb, fwd)
}

/// Runs `fwd` on `lcore` until the returned flag is raised.
/// An lcore job told to stop when dropped: a test that panics before it
/// sets the job's flag would otherwise hang in the handle's Drop, which
/// waits for the lcore (until nextest kills the test and nothing is
/// cleaned up).
struct Job {
    flag: Arc<AtomicBool>,
    handle: Option<dpdk::LcoreHandle>,
}

impl Job {
    fn join(mut self) -> i32 {
        self.handle.take().map_or(0, dpdk::LcoreHandle::join)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::Release);
    }
}

fn launch(eal: &Eal, lcore: u32, fwd: Forwarder) -> (Arc<AtomicBool>, Arc<FwdCounters>, Job) {
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(FwdCounters::default());
    let (s, c) = (stop.clone(), counters.clone());
    let h = eal
        .launch(lcore, move || {
            fwd.run(&s, &c);
            0
        })
        .unwrap();
    let job = Job {
        flag: Arc::clone(&stop),
        handle: Some(h),
    };
    (stop, counters, job)
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
    let pool = Arc::new(Mempool::new(&eal, "tap_pool", 4095, 64, dpdk::DEFAULT_DATA_ROOM).unwrap());
    let (mut pa, mut pb, fwd) = forwarder(&eal, "net_tap0", "net_tap1", &pool);
    let (stop, counters, worker) = launch(&eal, eal.worker_lcores()[0], fwd);

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
    pa.stop().unwrap();
    pb.stop().unwrap();
}

/// net_ring devices loop TX back to their own RX: put frames on ring0,
/// forward ring0 -> ring1, read them back from ring1.
#[test]
fn ring_pair_forwards_exact_bytes_and_leaks_nothing() {
    let _rt = RuntimeDir(format!("vxt-ring-{}", std::process::id()));
    let eal = Eal::init(&eal_args(
        "ring",
        "0",
        &["net_ring0".into(), "net_ring1".into()],
    ))
    .unwrap();
    let pool = Arc::new(Mempool::new(&eal, "ring_pool", 2047, 0, dpdk::DEFAULT_DATA_ROOM).unwrap());
    let conf = PortConf::default();
    let mut p0 = Port::open(&eal, "net_ring0", &conf, &pool).unwrap();
    let mut p1 = Port::open(&eal, "net_ring1", &conf, &pool).unwrap();
    let (mut rx0, mut tx0) = p0.start().unwrap();
    let (mut rx1, mut tx1) = p1.start().unwrap();
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
    drop((rx0, tx0, rx1, tx1));
    p0.stop().unwrap();
    p1.stop().unwrap();
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
    let pool =
        Arc::new(Mempool::new(&eal, "null_pool", 8191, 256, dpdk::DEFAULT_DATA_ROOM).unwrap());
    let (mut pa, mut pb, fwd) = forwarder(&eal, "net_null0", "net_null1", &pool);
    let baseline = pool.in_use();
    let (stop, counters, worker) = launch(&eal, eal.worker_lcores()[0], fwd);
    let deadline = Instant::now() + Duration::from_secs(20);
    while counters.a_to_b.rx.load(Ordering::Relaxed) < 2_000_000 && Instant::now() < deadline {
        vxgate::ops::pause(Duration::from_millis(10));
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
    let st = pb.stats().expect("net_tap reads its counters");
    assert_eq!(st.tx_packets, counters.a_to_b.tx.load(Ordering::Relaxed));
    pa.stop().unwrap();
    pb.stop().unwrap();
}

#[test]
fn mempool_sizes_dpdk_cannot_take_are_refused_with_the_fix() {
    let _rt = RuntimeDir(format!("vxt-pool-{}", std::process::id()));
    let eal = Eal::init(&eal_args("pool", "0", &[])).unwrap();
    let small = Mempool::new(&eal, "small_pool", 383, 256, dpdk::DEFAULT_DATA_ROOM)
        .err()
        .expect("383 mbufs with a cache of 256 is refused")
        .to_string();
    assert!(small.contains("at least 384; raise --mbufs"), "{small}");
    let huge = Mempool::new(
        &eal,
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
    let ok = Mempool::new(&eal, "ok_pool", 384, 256, dpdk::DEFAULT_DATA_ROOM).unwrap();
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
    let old = Mempool::new(&eal, "old_pool", 512, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
    let late = old.alloc().expect("an mbuf");
    drop(old);
    let new = Mempool::new(&eal, "new_pool", 512, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
    assert_eq!(new.available(), 512);
    drop(late);
    assert_eq!(new.available(), 512, "the late mbuf went home, not here");
    let main = eal.main_lcore();
    for lcore in [main, 2, 63, u32::MAX] {
        let e = eal.launch(lcore, || 0).err().expect("refused");
        assert!(e.to_string().contains("not a worker lcore"), "{lcore}: {e}");
    }
    let h = eal
        .launch(eal.worker_lcores()[0], || 7)
        .expect("a worker lcore");
    assert_eq!(h.join(), 7);
}

/// `reframe`, encap's and decap's one step on a real mbuf: headroom taken
/// in front or bytes stripped, the tail cut to the length asked for, and
/// anything that does not fit refused with the mbuf unchanged.
#[test]
fn mbuf_reframe_grows_into_headroom_or_strips_and_refuses_what_does_not_fit() {
    let _rt = RuntimeDir(format!("vxt-reframe-{}", std::process::id()));
    let eal = Eal::init(&eal_args("reframe", "0", &[])).unwrap();
    let pool = Mempool::new(&eal, "reframe_pool", 63, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
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

// ---- the DPDK layer's safe API cannot be made to use freed memory ----

/// EAL with net_null0 (it receives frames without end, allocating them
/// from the RX queue's pool) on lcores `lcores`.
fn null_eal(tag: &str, lcores: &str) -> (RuntimeDir, Eal) {
    let dir = RuntimeDir(format!("vxt-{tag}-{}", std::process::id()));
    let eal = Eal::init(&eal_args(tag, lcores, &["net_null0".into()])).expect("EAL with net_null0");
    (dir, eal)
}

fn error_of<T>(r: dpdk::Result<T>) -> String {
    r.err().expect("refused").to_string()
}

/// A port and its queues hold their pool: with the caller's handle
/// dropped and then the port's, the queues still receive into it; it goes
/// only with the last queue, after the device is closed. (Before, the
/// port kept a raw pointer: rx after `drop(pool)` was a use-after-free.)
#[test]
fn a_port_and_its_queues_keep_their_pool_until_the_last_one_goes() {
    let (_rt, eal) = null_eal("keep", "0");
    let pool = Arc::new(Mempool::new(&eal, "keep_pool", 1023, 0, dpdk::DEFAULT_DATA_ROOM).unwrap());
    let gone = Arc::downgrade(&pool);
    let mut port = Port::open(&eal, "net_null0", &PortConf::default(), &pool).unwrap();
    assert_eq!(Arc::strong_count(&pool), 2, "the port holds the pool");
    let (mut rx, tx) = port.start().unwrap();
    drop(pool);
    let mut b = Burst::new();
    assert!(
        rx[0].rx(&mut b) > 0,
        "received into the pool after the caller let it go"
    );
    b.free_all();
    drop(port);
    assert!(
        rx[0].rx(&mut b) > 0,
        "and after the Port went: the queue keeps it started"
    );
    b.free_all();
    assert!(gone.upgrade().is_some());
    drop((rx, tx));
    assert!(gone.upgrade().is_none(), "the last queue let the pool go");
    assert!(
        dpdk::find_port("net_null0").is_err(),
        "and closed the device first"
    );
}

/// A second `Port::open` of an open port is refused (it re-set up the
/// queues the first one's handles use), by name or by id; refusals of
/// an open that never configured the device leave it free to open.
#[test]
fn a_port_is_open_once() {
    let (_rt, eal) = null_eal("once", "0");
    let pool = Arc::new(Mempool::new(&eal, "once_pool", 1023, 0, dpdk::DEFAULT_DATA_ROOM).unwrap());
    let conf = PortConf::default();
    let id = dpdk::find_port("net_null0").unwrap();
    let no_queues = PortConf {
        rx_queues: 0,
        ..conf.clone()
    };
    assert!(error_of(Port::open(&eal, "net_null0", &no_queues, &pool)).contains("at least one"));
    let mut first = Port::open(&eal, "net_null0", &conf, &pool).unwrap();
    for name in ["net_null0".to_string(), id.to_string()] {
        let e = error_of(Port::open(&eal, &name, &conf, &pool));
        assert!(e.contains("already open"), "{name}: {e}");
    }
    let (mut rx, _tx) = first.start().unwrap();
    let mut b = Burst::new();
    assert!(rx[0].rx(&mut b) > 0, "the first port's queue works on");
}

/// The bus is read from the device: the software devices are `vdev`,
/// whose frames the polling core copies in itself, so their queues skip
/// the prefetch; forced on, it leaves the frames as they are, also when
/// asked for more headroom than a frame has.
#[test]
fn software_ports_skip_the_prefetch() {
    let (_rt, eal) = null_eal("bus", "0");
    let pool = Arc::new(Mempool::new(&eal, "bus_pool", 1023, 0, dpdk::DEFAULT_DATA_ROOM).unwrap());
    let mut port = Port::open(&eal, "net_null0", &PortConf::default(), &pool).unwrap();
    assert_eq!(port.info().bus, "vdev");
    assert!(port.info().is_software());
    let (mut rx, _tx) = port.start().unwrap();
    assert!(!rx[0].wants_prefetch());
    rx[0].set_prefetch(true);
    assert!(rx[0].wants_prefetch());
    let mut b = Burst::new();
    assert!(rx[0].rx(&mut b) > 0);
    let frames = |b: &mut Burst| -> Vec<Vec<u8>> {
        b.as_mut_slice().iter().map(|m| m.data().to_vec()).collect()
    };
    let before = frames(&mut b);
    b.prefetch(4096, 4096);
    b.prefetch(50, 38);
    assert_eq!(frames(&mut b), before);
}

/// A port with no RX or no TX queue is refused before the device is
/// touched (some drivers crash starting a port with no queue set up).
#[test]
fn a_port_without_queues_is_refused() {
    let (_rt, eal) = null_eal("noq", "0");
    let pool = Arc::new(Mempool::new(&eal, "noq_pool", 1023, 0, dpdk::DEFAULT_DATA_ROOM).unwrap());
    for (rx_queues, tx_queues) in [(0, 0), (0, 1), (1, 0)] {
        let conf = PortConf {
            rx_queues,
            tx_queues,
            ..PortConf::default()
        };
        let e = error_of(Port::open(&eal, "net_null0", &conf, &pool));
        assert!(
            e.contains(&format!("{rx_queues} RX / {tx_queues} TX queues asked for: a port needs at least one of each")),
            "{e}"
        );
    }
    assert!(
        dpdk::find_port("net_null0").is_ok(),
        "the device is untouched"
    );
}

/// An open that fails after the device was configured closes it (its
/// queues may hold mbufs of the pool): here an MTU the driver refuses.
#[test]
fn an_open_that_fails_after_configure_closes_the_device() {
    let (_rt, eal) = null_eal("fail", "0");
    let pool = Arc::new(Mempool::new(&eal, "fail_pool", 1023, 0, dpdk::DEFAULT_DATA_ROOM).unwrap());
    let conf = PortConf {
        mtu: Some(10),
        ..PortConf::default()
    };
    let e = error_of(Port::open(&eal, "net_null0", &conf, &pool));
    assert!(e.contains("set_mtu"), "{e}");
    assert!(
        dpdk::find_port("net_null0").is_err(),
        "closed (and so released)"
    );
    assert_eq!(Arc::strong_count(&pool), 1, "nothing keeps the pool");
}

/// `stop` is refused while a queue of the port is alive (another lcore
/// may be polling it); `start` hands the queues out once per start.
#[test]
fn a_port_stops_only_when_its_queues_are_gone() {
    let (_rt, eal) = null_eal("stop", "0");
    let pool = Arc::new(Mempool::new(&eal, "stop_pool", 1023, 0, dpdk::DEFAULT_DATA_ROOM).unwrap());
    let mut port = Port::open(&eal, "net_null0", &PortConf::default(), &pool).unwrap();
    assert_eq!(port.mtu(), 1500);
    let (rx, tx) = port.start().unwrap();
    assert!(error_of(port.start()).contains("already started"));
    drop(tx);
    let e = error_of(port.stop());
    assert!(e.contains("1 of its queues are still alive"), "{e}");
    drop(rx);
    port.stop().unwrap();
    port.stop().unwrap();
    let (mut rx, _tx) = port.start().expect("started again");
    let mut b = Burst::new();
    assert!(rx[0].rx(&mut b) > 0);
}

/// `drop(eal)` while a pool lives skips `rte_eal_cleanup`, which unmaps
/// the pool's memory (`pool.alloc()` after it was a SIGSEGV).
#[test]
fn eal_is_not_cleaned_up_under_a_live_pool() {
    let (_rt, eal) = null_eal("cleanup", "0-1");
    let pool = Mempool::new(&eal, "cleanup_pool", 1023, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
    drop(eal);
    let m = pool.alloc().expect("the pool still works");
    assert!(dpdk::find_port("net_null0").is_ok(), "EAL still runs");
    drop(m);
    drop(pool);
    assert!(
        dpdk::find_port("net_null0").is_ok(),
        "EAL was not cleaned up: it stays"
    );
}

/// Nor while an lcore job runs (it may use EAL's memory).
#[test]
fn eal_is_not_cleaned_up_under_a_running_lcore_job() {
    let (_rt, eal) = null_eal("job", "0-1");
    let go = Arc::new(AtomicBool::new(false));
    let g = Arc::clone(&go);
    let h = eal
        .launch(eal.worker_lcores()[0], move || {
            while !g.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            3
        })
        .unwrap();
    drop(eal);
    go.store(true, Ordering::Release);
    assert_eq!(h.join(), 3);
    assert!(
        !dpdk::available_ports().is_empty(),
        "EAL was not cleaned up: it stays"
    );
}

/// With no pool, port, queue or job left, `drop(eal)` cleans up; EAL's
/// memory is then gone, and the functions that need no `Eal` (another
/// thread reads port statistics) find nothing instead of touching it.
#[test]
fn eal_is_cleaned_up_when_nothing_uses_it() {
    let _rt = RuntimeDir(format!("vxt-clean-{}", std::process::id()));
    let eal = Eal::init(&eal_args(
        "clean",
        "0-1",
        &["net_null0".into(), "net_null1".into()],
    ))
    .unwrap();
    let pool =
        Arc::new(Mempool::new(&eal, "clean_pool", 1023, 0, dpdk::DEFAULT_DATA_ROOM).unwrap());
    let mut port = Port::open(&eal, "net_null0", &PortConf::default(), &pool).unwrap();
    let queues = port.start().unwrap();
    assert_eq!(eal.launch(eal.worker_lcores()[0], || 0).unwrap().join(), 0);
    drop((queues, port, pool));
    assert_eq!(dpdk::available_ports(), [(1, "net_null1".to_string())]);
    drop(eal);
    assert!(
        dpdk::available_ports().is_empty(),
        "cleaned up: nothing is probed any more"
    );
    let e = error_of(dpdk::find_port("net_null0"));
    assert!(e.contains("EAL is not running"), "{e}");
    assert_eq!(dpdk::port_stats(0), None, "no figures without EAL");
}

/// A pool is freed only when no lcore job runs: a job's put into its
/// lcore's cache ends after the pool's count says "back". Dropped during
/// a job, it is leaked (its name stays taken); after, freed.
#[test]
fn a_pool_dropped_while_an_lcore_job_runs_is_leaked_not_freed() {
    let (_rt, eal) = null_eal("jobpool", "0-1");
    let lcore = eal.worker_lcores()[0];
    let go = Arc::new(AtomicBool::new(false));
    let g = Arc::clone(&go);
    let h = Job {
        flag: Arc::clone(&go),
        handle: Some(
            eal.launch(lcore, move || {
                while !g.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                0
            })
            .unwrap(),
        ),
    };
    let during = Mempool::new(&eal, "during_pool", 512, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
    drop(during);
    go.store(true, Ordering::Release);
    assert_eq!(h.join(), 0);
    assert!(
        Mempool::new(&eal, "during_pool", 512, 0, dpdk::DEFAULT_DATA_ROOM).is_err(),
        "leaked: the name is still taken"
    );
    let after = Mempool::new(&eal, "after_pool", 512, 0, dpdk::DEFAULT_DATA_ROOM).unwrap();
    drop(after);
    Mempool::new(&eal, "after_pool", 512, 0, dpdk::DEFAULT_DATA_ROOM)
        .expect("freed: the name is free");
}
