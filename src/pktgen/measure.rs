//! A live run, EAL up: [`measure`] opens the mempool and the ports,
//! calibrates the TSC, runs the fixed-rate trial or the RFC 2544 search on
//! the `Engine`, frees what is left on the queues, stops the ports and
//! builds the [`Report`]. The checks that need the ports (the receiving
//! port's driver, the TX link's speed) are here; those of the flags alone
//! are `args`'.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::args::{no_tx_port, PktgenArgs, MAX_LINE_RATE_MBPS, MEMPOOL_CACHE, MIN_RATE_PPS};
use super::engine::{self, Ctl, Engine, Layout, RxSide, TrialParams, TrialResult, TxGen};
use super::flows::FlowPlan;
use super::meter::Meter;
use super::report::{Report, L1_OVERHEAD};
use super::{payload, rfc2544, tsc, PktgenError};
use crate::config::{format_mac, ConfigError};
use crate::dpdk::{self, Eal, Mempool, Port, PortConf};

/// How long pktgen waits for a port's link to come up after start.
const LINK_WAIT: Duration = Duration::from_secs(2);

/// Waits up to `limit` for a port's link to come up (virtual devices and
/// TAPs take a moment after start).
fn wait_link(port: &Port, limit: Duration) {
    let t = Instant::now();
    while !port.link().up && t.elapsed() < limit {
        crate::ops::pause(Duration::from_millis(10));
    }
}

/// Opens the ports, runs the trial (or the RFC 2544 search) and reports.
/// EAL must be running; `stop` ends the run early.
pub fn measure(eal: &Eal, args: &PktgenArgs, stop: Arc<AtomicBool>) -> anyhow::Result<Report> {
    args.validate()?;
    // The TSC frequency is calibrated from now until the ports are up.
    let clock = Instant::now();
    let mono_ns = || u64::try_from(clock.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let tsc_start = tsc::sample(dpdk::rdtsc, mono_ns);
    let tx_name = args.tx_port.clone().ok_or_else(no_tx_port)?;
    let rx_name = args.rx_port.clone().unwrap_or_else(|| tx_name.clone());
    let same = dpdk::find_port(&rx_name)? == dpdk::find_port(&tx_name)?;
    let (tx_mtu, rx_mtu) = (args.port_mtu(), args.rx_port_mtu());
    // One port doing both takes the larger MTU; buffers hold either frame.
    let tx_mtu = if same {
        shared_mtu_note(args);
        args.shared_port_mtu()
    } else {
        tx_mtu
    };
    let room = dpdk::data_room_for_mtus([tx_mtu, rx_mtu]);
    let pool = Arc::new(Mempool::new(
        eal,
        "pktgen_pool",
        args.mbufs(),
        MEMPOOL_CACHE,
        room,
    )?);
    let conf = |mtu| PortConf {
        mtu,
        ..PortConf::default()
    };
    let mut tx_port = Port::open(eal, &tx_name, &conf(tx_mtu), &pool)?;
    let mut rx_port = if same {
        None
    } else {
        Some(Port::open(eal, &rx_name, &conf(rx_mtu), &pool)?)
    };
    let rx_driver = &rx_port.as_ref().unwrap_or(&tx_port).info().driver;
    check_rx_driver(&rx_name, rx_driver, same)?;
    let (tx_rxq, mut txqs) = tx_port.start()?;
    // With another port receiving, nobody polls the TX port's own RX:
    // what arrives there (a loopback ring's own frames) is freed at the end.
    let (mut rxqs, mut unpolled) = match rx_port.as_mut() {
        None => (tx_rxq, Vec::new()),
        Some(p) => (p.start()?.0, tx_rxq),
    };
    wait_link(&tx_port, LINK_WAIT);
    if let Some(p) = rx_port.as_ref() {
        wait_link(p, LINK_WAIT);
    }
    for p in std::iter::once(&tx_port).chain(rx_port.as_ref()) {
        let l = p.link();
        if l.up {
            // The MAC: what `vxgate run --neighbor` names for the RX port.
            tracing::info!(
                port = p.name(),
                mac = %format_mac(&p.mac()),
                speed_mbps = l.speed_mbps,
                "pktgen: link up"
            );
        } else {
            tracing::warn!(
                port = p.name(),
                "pktgen: link still down after {} s; frames sent may go nowhere",
                LINK_WAIT.as_secs()
            );
        }
    }
    let rx_mac = rx_port.as_ref().map_or(tx_port.mac(), Port::mac);
    let mut plan = args
        .plan(tx_port.mac(), rx_mac)
        .map_err(PktgenError::into_anyhow)?;
    // Frames of an earlier run still arriving (from a gateway's hold queue,
    // a ring) carry another id and are counted apart.
    plan.run_id = payload::new_run_id();
    let hz = tsc_hz(eal, tsc_start, mono_ns);
    let (Some(txq), Some(rxq)) = (txqs.pop(), rxqs.pop()) else {
        anyhow::bail!("port set up without queues");
    };
    let tpl = plan.templates().map_err(PktgenError::from)?;
    let tx = TxGen::new(txq, Arc::clone(&pool), tpl, hz);
    let rx = RxSide::new(rxq, Meter::new(plan.flows, plan.run_id, hz)?, hz);
    let layout = Layout::from_workers(&eal.worker_lcores());
    let ctl = Arc::new(Ctl::new(Arc::clone(&stop)));
    let mut engine = Engine::new(tx, rx, layout, ctl);
    let ports = OwnPorts {
        tx: &tx_port,
        rx: rx_port.as_ref(),
    };
    let outcome = run_trials(eal, args, &mut engine, ports, plan.flows, hz, &stop);
    let lcores = engine.layout().describe();
    // Whatever the outcome: what the last trial left on the polled queue
    // (RX stops at the end of the drain wait, the device may have more)
    // and what waits on the unpolled one are freed before the pool goes,
    // else DPDK reports mbufs still in use and EAL cannot clean up.
    free_waiting(engine.rx_queue().into_iter().chain(&mut unpolled));
    drop(engine);
    // The queues go before their ports can stop.
    drop((unpolled, rxqs, txqs));
    for p in std::iter::once(&mut tx_port).chain(rx_port.as_mut()) {
        if let Err(e) = p.stop() {
            tracing::error!("pktgen: {e}");
        }
    }
    let (best, rfc) = outcome?;
    let report = build_report(args, &plan, best, rfc, hz, &tx_name, &rx_name, lcores);
    drop(rx_port);
    drop(tx_port);
    drop(pool);
    Ok(report)
}

/// The trial of a fixed-rate run, or the RFC 2544 search (the trial that
/// gives its throughput, or the last, and the search's result).
fn run_trials(
    eal: &Eal,
    args: &PktgenArgs,
    engine: &mut Engine,
    ports: OwnPorts,
    flows: u32,
    hz: u64,
    stop: &AtomicBool,
) -> anyhow::Result<(Option<TrialResult>, Option<rfc2544::SearchResult>)> {
    let tx_port = ports.tx;
    // Each trial with what pktgen's own ports dropped meanwhile.
    let mut trial = |p: TrialParams| -> Result<TrialResult, engine::EngineError> {
        let before = ports.drops();
        let mut t = engine.trial(eal, p)?;
        // Only a difference of two reads says anything (none: no excuse).
        t.generator_drops = match (before, ports.drops()) {
            (Some(b), Some(a)) => a.saturating_sub(b),
            _ => 0,
        };
        Ok(t)
    };
    let drain_s = args.drain_ms() as f64 / 1000.0;
    if args.rfc2544 {
        let mbps = line_rate_mbps(args.line_rate_mbps, tx_port.link(), tx_port.name())
            .map_err(PktgenError::into_anyhow)?;
        if let Some(min) = args.min_rate_pps {
            let what = format!("port {}'s link speed", tx_port.name());
            args.check_min_rate(min, mbps, &what)?;
        }
        let line = args.line_rate_pps(mbps);
        let conf = rfc2544::SearchConf {
            line_rate_pps: line,
            min_rate_pps: args
                .min_rate_pps
                .unwrap_or((line / 100.0).max(MIN_RATE_PPS).min(line)),
            resolution_pct: args.resolution,
            loss_tolerance_pct: args.loss_tolerance,
        };
        let warmup = rfc2544::Warmup::new(args.warmup_ms(), flows, line);
        let mut results: Vec<TrialResult> = Vec::new();
        let mut failure: Option<engine::EngineError> = None;
        let r = rfc2544::search_after_warmup(
            conf,
            warmup,
            |step| {
                let p = match step {
                    // One frame per flow, then the drain wait: frames that
                    // come back later are `late` in the first trial.
                    rfc2544::Step::Warmup(w) => TrialParams {
                        rate_pps: Some(w.rate_pps),
                        duration_s: None,
                        count: Some(w.frames),
                        drain_s,
                    },
                    rfc2544::Step::Trial(rate) => TrialParams {
                        rate_pps: Some(rate),
                        duration_s: Some(args.trial),
                        count: None,
                        drain_s,
                    },
                };
                match trial(p) {
                    Ok(t) => {
                        // `best_trial` indexes the trials: no warm-up here.
                        if let rfc2544::Step::Trial(_) = step {
                            results.push(t);
                        }
                        rfc2544::Measured {
                            tx_packets: t.tx.sent,
                            rx_packets: t.rx.rx,
                            duplicates: t.rx.duplicates,
                            tx_pps: tx_pps(&t, hz),
                            // Frames were due for the trial's length (the
                            // warm-up's verdict is never judged).
                            trial_s: p.duration_s.unwrap_or(0.0),
                            interrupted: t.tx.interrupted,
                            generator_drops: t.generator_drops,
                        }
                    }
                    Err(e) => {
                        failure = Some(e);
                        // An interrupted trial ends the search; the error
                        // is returned below.
                        rfc2544::Measured {
                            interrupted: true,
                            ..Default::default()
                        }
                    }
                }
            },
            || stop.load(std::sync::atomic::Ordering::Relaxed),
        );
        if let Some(e) = failure {
            return Err(e.into());
        }
        let best = r
            .best_trial
            .and_then(|i| results.get(i))
            .or(results.last())
            .copied();
        Ok((best, Some(r)))
    } else {
        let p = TrialParams {
            rate_pps: args.rate_pps,
            duration_s: args.duration,
            count: args.count,
            drain_s,
        };
        Ok((Some(trial(p)?), None))
    }
}

/// The TSC frequency of the run: calibrated against the monotonic clock
/// from `start` (taken as `measure` began) to now, at least
/// [`tsc::MIN_WINDOW_NS`] later (waiting for the rest when the ports came
/// up sooner), else EAL's (see `tsc`).
fn tsc_hz(eal: &Eal, start: tsc::Sample, mono_ns: impl Fn() -> u64) -> u64 {
    let waited = mono_ns().saturating_sub(start.ns);
    if let Some(rest) = tsc::MIN_WINDOW_NS.checked_sub(waited) {
        // A little more than the rest: the window must not fall short.
        crate::ops::pause(Duration::from_nanos(rest + 1_000_000));
    }
    let eal_hz = eal.tsc_hz();
    let hz = tsc::calibrate(start, tsc::sample(dpdk::rdtsc, &mono_ns), eal_hz);
    match hz {
        tsc::Hz::Calibrated(h) => tracing::info!(
            tsc_hz = h,
            eal_tsc_hz = eal_hz,
            "pktgen: TSC frequency calibrated against CLOCK_MONOTONIC"
        ),
        tsc::Hz::Eal(_, why) => tracing::warn!(
            eal_tsc_hz = eal_hz,
            ?why,
            "pktgen: TSC calibration against CLOCK_MONOTONIC failed; using EAL's TSC frequency \
             (may be up to 0.5 % off: latencies and rates scale with it)"
        ),
    }
    hz.get()
}

/// pktgen's own ports, whose drops are no evidence against the DUT.
#[derive(Clone, Copy)]
struct OwnPorts<'a> {
    tx: &'a Port,
    /// `None`: the TX port receives too.
    rx: Option<&'a Port>,
}

impl OwnPorts<'_> {
    /// Frames the receiving port dropped so far: missed ones (its ring
    /// was full: the RX lcore did not keep up), and on software devices the
    /// no-buffer ones, one per frame there (`PortInfo::is_software`; a
    /// NIC's failed refill leaves its frames to arrive later or be
    /// missed). Not the sending port's errors: drivers count frames they refused there (net_ring),
    /// which pktgen retries and never counts as sent. `None` when the
    /// statistics cannot be read.
    fn drops(&self) -> Option<u64> {
        let port = self.rx.unwrap_or(self.tx);
        let s = port.stats()?;
        let nombuf = if port.info().is_software() {
            s.rx_nombuf
        } else {
            0
        };
        Some(s.rx_missed.saturating_add(nombuf))
    }
}

/// Drivers that cannot be pktgen's receiving port: `net_null`'s RX hands
/// back pool mbufs without writing them (a frame "received" is whatever
/// the buffer held last, often a stamp of a frame pktgen itself sent), so
/// it would count stale stamps as received frames and duplicates.
const NO_RX_DRIVERS: &[&str] = &["net_null"];

/// Refuses a receiving port (`--rx-port`, or the TX port without one)
/// whose driver is one of [`NO_RX_DRIVERS`]: a flag error (exit 2).
fn check_rx_driver(rx_name: &str, driver: &str, same: bool) -> Result<(), ConfigError> {
    if !NO_RX_DRIVERS.contains(&driver) {
        return Ok(());
    }
    let fix = if same {
        "it is only a sink for TX: give --rx-port a port that receives (a net_ring, a NIC port)"
    } else {
        "give --rx-port a port that receives (a net_ring, a NIC port); a net_null is only a \
         sink for --tx-port"
    };
    Err(ConfigError::invalid(
        "rx-port",
        rx_name,
        format!(
            "driver {driver} cannot receive: it hands back buffers it never wrote, so pktgen \
             would count stale stamps of its own frames as received"
        ),
        fix,
    ))
}

/// Frees what waits on RX queues at the end (the polled one's last frames,
/// the unpolled one's all), so the pool is whole when it goes (else DPDK
/// reports mbufs still in use). Bounded: a device such as net_null
/// receives without end.
fn free_waiting<'a>(queues: impl IntoIterator<Item = &'a mut dpdk::RxQueue>) {
    // Rings of up to 4096 descriptors, a burst at a time, and some more.
    const MAX_BURSTS: usize = 4096 / dpdk::BURST * 2;
    let mut b = dpdk::Burst::new();
    for q in queues {
        for _ in 0..MAX_BURSTS {
            if q.rx(&mut b) == 0 {
                break;
            }
            b.free_all();
        }
    }
}

/// One port doing both: an --rx-mtu below what the TX frames need is not
/// applied (the port would drop what it sends); say so.
fn shared_mtu_note(args: &PktgenArgs) {
    if let Some(r) = args
        .rx_mtu
        .filter(|_| args.shared_port_mtu() != args.rx_port_mtu())
    {
        tracing::warn!(
            rx_mtu = r,
            size = args.frame_size(),
            "pktgen: --rx-mtu is below what the TX frames need on the same port; the port \
             keeps an MTU that fits them"
        );
    }
}

/// The line rate the search starts at: --line-rate-mbps, else the TX port's
/// link speed (a port whose link is still down has none).
fn line_rate_mbps(flag: Option<f64>, link: dpdk::Link, port: &str) -> Result<f64, PktgenError> {
    if let Some(m) = flag {
        return Ok(m);
    }
    if !link.up {
        return Err(PktgenError::LinkDown {
            port: port.into(),
            secs: LINK_WAIT.as_secs(),
        });
    }
    match link.speed_mbps {
        0 | u32::MAX => Err(PktgenError::NoLineRate { port: port.into() }),
        // Clamped like --line-rate-mbps (a link speed above 1 Tb/s).
        s => Ok(f64::from(s).min(MAX_LINE_RATE_MBPS)),
    }
}

fn tx_pps(t: &TrialResult, hz: u64) -> f64 {
    let secs = t.tx.secs(hz);
    if secs > 0.0 {
        t.tx.sent as f64 / secs
    } else {
        0.0
    }
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    args: &PktgenArgs,
    plan: &FlowPlan,
    t: Option<TrialResult>,
    rfc2544: Option<rfc2544::SearchResult>,
    hz: u64,
    tx_port: &str,
    rx_port: &str,
    lcores: String,
) -> Report {
    let t = t.unwrap_or(TrialResult {
        tx: Default::default(),
        rx: Default::default(),
        latency: Default::default(),
        latency_samples: 0,
        generator_drops: 0,
    });
    let size = args.frame_size();
    let d = t.tx.secs(hz);
    let per_s = |n: u64| if d > 0.0 { n as f64 / d } else { 0.0 };
    let loss = t.tx.sent.saturating_sub(t.rx.rx);
    let interrupted = match &rfc2544 {
        Some(r) => r.interrupted,
        None => t.tx.interrupted,
    };
    Report {
        mode: plan.mode,
        size,
        flows: plan.flows,
        tx_port: tx_port.into(),
        rx_port: rx_port.into(),
        lcores,
        tx_packets: t.tx.sent,
        tx_unsent: t.tx.unsent,
        tx_alloc_failures: t.tx.alloc_failures,
        tx_stalled: t.tx.stalled,
        tx_stall_cause: match (t.tx.stalled, t.tx.stalled_on_pool) {
            (false, _) => None,
            (true, false) => Some("device"),
            (true, true) => Some("pool"),
        },
        rx_packets: t.rx.rx,
        duplicates: t.rx.duplicates,
        stale: t.rx.stale,
        loss,
        generator_drops: t.generator_drops,
        loss_pct: if t.tx.sent > 0 {
            loss as f64 * 100.0 / t.tx.sent as f64
        } else {
            0.0
        },
        reordered: t.rx.reordered,
        reordered_global: t.rx.reordered_global,
        late: t.rx.late,
        rx_other: t.rx.other,
        foreign: t.rx.foreign,
        negative_latency: t.rx.negative_latency,
        run_id: plan.run_id,
        duration_s: d,
        tx_mpps: per_s(t.tx.sent) / 1e6,
        rx_mpps: per_s(t.rx.rx) / 1e6,
        tx_gbps: per_s(t.tx.sent) * f64::from((size + L1_OVERHEAD) * 8) / 1e9,
        latency_samples: t.latency_samples,
        latency_ns: t.latency,
        tsc_hz: hz,
        interrupted,
        rfc2544,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_still_down_is_not_an_unknown_speed() {
        let down = dpdk::Link {
            up: false,
            speed_mbps: 10_000,
        };
        let e = line_rate_mbps(None, down, "net_tap0").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("port net_tap0: link down"), "{msg}");
        assert!(
            msg.contains("--line-rate-mbps") && !msg.contains("unknown"),
            "{msg}"
        );
        assert_eq!(line_rate_mbps(Some(1000.0), down, "x").unwrap(), 1000.0);
        let up = |speed_mbps| dpdk::Link {
            up: true,
            speed_mbps,
        };
        assert_eq!(line_rate_mbps(None, up(25_000), "x").unwrap(), 25_000.0);
        for s in [0, u32::MAX] {
            let e = line_rate_mbps(None, up(s), "x").unwrap_err().to_string();
            assert!(e.contains("link speed unknown"), "{e}");
        }
    }

    /// net_null as the receiving port (given, or the TX port without
    /// --rx-port) is refused naming --rx-port; other drivers are not.
    #[test]
    fn net_null_cannot_be_the_receiving_port() {
        let e = check_rx_driver("net_null1", "net_null", false).unwrap_err();
        assert_eq!(e.key(), Some("rx-port"));
        let msg = e.to_string();
        for needle in [
            "net_null1",
            "driver net_null cannot receive",
            "give --rx-port",
        ] {
            assert!(msg.contains(needle), "{msg} lacks {needle:?}");
        }
        let e = check_rx_driver("net_null0", "net_null", true).unwrap_err();
        assert!(e.to_string().contains("only a sink for TX"), "{e}");
        for ok in [
            "net_ring", "net_tap", "net_pcap", "mlx5_pci", "net_ice", "?",
        ] {
            assert!(check_rx_driver("p", ok, false).is_ok(), "{ok}");
        }
    }
}
