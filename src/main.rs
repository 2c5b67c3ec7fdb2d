//! The `vxgate` command line: `run` (the gateway), `fwd` (an L2 forwarder
//! that proves a DPDK data path) and `pktgen` (traffic generator).
#![deny(unsafe_code)]
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use vxgate::dpdk::{self, Eal, Mempool, Port, PortConf};
use vxgate::fwd::{Forwarder, FwdCounters};

#[derive(Parser)]
#[command(
    name = "vxgate",
    version,
    about = "DPDK poll-mode VXLAN gateway for flannel overlays",
    long_about = "vxgate joins a flannel (VXLAN backend) overlay as a VTEP and serves its subnet \
to bare-metal hosts on an access port.\n\nDPDK EAL arguments go after `--`, e.g.\n  \
vxgate fwd --port-a net_tap0 --port-b net_tap1 -- -l 0-1 --no-pci --vdev net_tap0 --vdev net_tap1 \
--file-prefix vxgate-fwd\n\nGive every DPDK process its own --file-prefix so that several can run at once."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway: join the flannel overlay through etcd and serve our
    /// subnet on the access port.
    Run(vxgate::config::RunArgs),
    /// Traffic generator: inner or VXLAN frames at a set rate or line rate,
    /// loss, reordering and latency, RFC 2544 zero-loss search, pcap files.
    Pktgen(vxgate::pktgen::PktgenArgs),
    /// Forward frames between two ports unchanged (L2 bridge of two ports,
    /// one worker lcore); prints per-port counters on exit.
    Fwd(FwdArgs),
}

#[derive(clap::Args)]
struct FwdArgs {
    /// First port: DPDK device name (net_tap0, 0000:3b:00.0) or port id.
    #[arg(long, value_name = "DEV", value_parser = vxgate::config::device_name_arg)]
    port_a: String,
    /// Second port: DPDK device name or port id.
    #[arg(long, value_name = "DEV", value_parser = vxgate::config::device_name_arg)]
    port_b: String,
    /// Packet buffers in the pool (both ports' RX rings draw from it),
    /// 4096 (what one worker's two ports need, as `vxgate run`) to 16777216.
    #[arg(long, default_value_t = 8191, value_name = "N", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(
              i64::from(vxgate::config::Config::min_mbufs(1))..=i64::from(dpdk::MAX_MBUFS)))]
    mbufs: u32,
    /// Stop by itself after this many seconds, fractions allowed, at most
    /// ten years (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECONDS", value_parser = seconds, allow_negative_numbers = true)]
    duration: Option<Duration>,
    /// EAL arguments, after `--`.
    #[arg(last = true, value_name = "EAL_ARGS")]
    eal: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run(a) => run(a),
        Cmd::Fwd(a) => fwd(a),
        Cmd::Pktgen(a) => vxgate::pktgen::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `pktgen --write-pcap` stopped by SIGINT/SIGTERM: 130/143.
        Err(e)
            if matches!(
                e.downcast_ref::<vxgate::pktgen::PktgenError>(),
                Some(vxgate::pktgen::PktgenError::Interrupted { .. })
            ) =>
        {
            vxgate::ops::print_err(&format!("vxgate pktgen: {e}"));
            let code = e
                .downcast_ref::<vxgate::pktgen::PktgenError>()
                .map_or(1, vxgate::pktgen::PktgenError::exit_code);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        // Config errors found only against etcd's network config (before
        // EAL starts) exit like every other config error.
        Err(e) => match e.downcast_ref::<vxgate::config::ConfigError>() {
            Some(ce) => {
                vxgate::ops::print_err(&format!("vxgate: {ce}"));
                ExitCode::from(u8::try_from(ce.exit_code()).unwrap_or(2))
            }
            None => {
                vxgate::ops::print_err(&format!(
                    "vxgate: error: {}",
                    vxgate::ops::output::error_text(e.as_ref())
                ));
                // A device that cannot serve the configuration (too few
                // queues) is the configuration's to change: 2, as above.
                let code = e
                    .downcast_ref::<vxgate::dpdk::DpdkError>()
                    .map_or(1, vxgate::dpdk::DpdkError::exit_code);
                ExitCode::from(u8::try_from(code).unwrap_or(1))
            }
        },
    }
}

fn run(args: vxgate::config::RunArgs) -> anyhow::Result<()> {
    // Every flag and config-file error exits (code 2) before EAL starts.
    let cfg = vxgate::config::Config::from_run_args(args)
        .and_then(|c| c.check_files().map(|()| c))
        .unwrap_or_else(|e| e.exit());
    let source = if cfg.log_level_from_flag {
        vxgate::ops::LevelSource::Flag
    } else {
        vxgate::ops::LevelSource::Other
    };
    let log =
        vxgate::ops::logging::init(cfg.log_level.as_deref(), source, cfg.config_file.clone())?;
    let signals = vxgate::ops::signals::install({
        let log = log.clone();
        move || log.reload_and_log()
    })?;
    vxgate::gateway::run(cfg, signals.stop_flag())
}

/// `--duration`: seconds as a finite number from 0 to ten years.
fn seconds(s: &str) -> Result<Duration, String> {
    // The same ten-year limit as pktgen's --duration.
    const MAX_S: f64 = vxgate::pktgen::MAX_DURATION_S;
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(0.0..=MAX_S).contains(&v) {
        return Err(format!("`{s}`: give seconds from 0 to {MAX_S}"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn fwd(a: FwdArgs) -> anyhow::Result<()> {
    if a.port_a == a.port_b {
        // A flag error: exit 2, before EAL starts.
        return Err(vxgate::config::ConfigError::Invalid {
            key: "port-b",
            value: a.port_b.clone(),
            problem: "it names the same device as --port-a".into(),
            fix: "give two different ports".into(),
        }
        .into());
    }
    vxgate::config::check_before_eal(&a.eal, &[("port-a", &a.port_a), ("port-b", &a.port_b)])?;
    // SIGINT/SIGTERM stop; a second one exits at once.
    let signals = vxgate::ops::signals::install(|| {})?;
    let stop = signals.stop_flag();
    let eal = Eal::init(&a.eal)?;
    // The same port by two names (an id and a device name) is one port.
    // A flag error found only now: exit 2, as the same name twice.
    if dpdk::find_port(&a.port_a)? == dpdk::find_port(&a.port_b)? {
        return Err(vxgate::config::ConfigError::Invalid {
            key: "port-b",
            value: a.port_b.clone(),
            problem: format!("it names the same port as --port-a {}", a.port_a),
            fix: "give two different ports".into(),
        }
        .into());
    }
    let pool = Arc::new(Mempool::new(
        &eal,
        "fwd_pool",
        a.mbufs,
        256,
        dpdk::DEFAULT_DATA_ROOM,
    )?);
    let conf = PortConf::default();
    let mut port_a = Port::open(&eal, &a.port_a, &conf, &pool)?;
    let mut port_b = Port::open(&eal, &a.port_b, &conf, &pool)?;
    let (mut rxa, mut txa) = port_a.start()?;
    let (mut rxb, mut txb) = port_b.start()?;
    vxgate::ops::print_err(&format!(
        "vxgate fwd: {} ({}) <-> {} ({}), {} mbufs",
        port_a.name(),
        port_a.info().driver,
        port_b.name(),
        port_b.info().driver,
        a.mbufs
    ));
    // Started, the drivers hold their RX rings' mbufs (and some hold more:
    // a net_pcap with infinite_rx one per frame of its file). Too few left
    // for the TX rings and a burst each, and forwarding stalls on an empty
    // pool without an error from any driver: said now.
    let needed = 2 * (u32::from(conf.tx_desc) + dpdk::BURST as u32);
    let free = pool.available();
    if free < needed {
        vxgate::ops::print_err(&format!(
            "vxgate fwd: warning: the started ports hold {} of the {} mbufs; {free} are free, \
             fewer than the {needed} the TX rings and a burst per port take: forwarding may stop \
             on an empty pool (a net_pcap with infinite_rx=1 holds one mbuf per frame of its \
             file); give more --mbufs",
            a.mbufs - free,
            a.mbufs
        ));
    }
    let fwd = Forwarder {
        rx_a: rxa.remove(0),
        tx_a: txa.remove(0),
        rx_b: rxb.remove(0),
        tx_b: txb.remove(0),
    };
    let counters = Arc::new(FwdCounters::default());
    let started = Instant::now();
    let deadline = a.duration.and_then(|d| started.checked_add(d));
    let workers = eal.worker_lcores();
    if let Some(&lcore) = workers.first() {
        let (s, c) = (Arc::clone(&stop), Arc::clone(&counters));
        let h = eal.launch(lcore, move || {
            fwd.run(&s, &c);
            0
        })?;
        while !stop.load(Ordering::Relaxed) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                stop.store(true, Ordering::Relaxed);
            }
            vxgate::ops::pause(Duration::from_millis(20));
        }
        let rc = h.join();
        if rc != 0 {
            anyhow::bail!("forwarding lcore {lcore} ended with code {rc}");
        }
    } else {
        // Only the main lcore: forward on it, checking the deadline per poll round.
        if let Some(d) = deadline {
            let s = Arc::clone(&stop);
            std::thread::spawn(move || {
                vxgate::ops::pause(d.saturating_duration_since(Instant::now()));
                s.store(true, Ordering::Relaxed);
            });
        }
        fwd.run(&stop, &counters);
    }
    let secs = started.elapsed().as_secs_f64();
    // The forwarder, and with it every queue, is gone: the ports stop.
    port_a.stop()?;
    port_b.stop()?;
    // A failed read counts as zeros here: the report says what it knows.
    let (sa, sb) = (
        port_a.stats().unwrap_or_default(),
        port_b.stats().unwrap_or_default(),
    );
    let ab = &counters.a_to_b;
    let ba = &counters.b_to_a;
    let ld = |x: &std::sync::atomic::AtomicU64| x.load(Ordering::Relaxed);
    let mut report = format!("vxgate fwd: stopped after {secs:.2} s\n");
    report += &format!(
        "  {:<16} rx {:>12} tx {:>12} rx_missed {:>8} errors {:>6}\n",
        port_a.name(),
        sa.rx_packets,
        sa.tx_packets,
        sa.rx_missed,
        sa.rx_errors + sa.tx_errors
    );
    report += &format!(
        "  {:<16} rx {:>12} tx {:>12} rx_missed {:>8} errors {:>6}\n",
        port_b.name(),
        sb.rx_packets,
        sb.tx_packets,
        sb.rx_missed,
        sb.rx_errors + sb.tx_errors
    );
    report += &format!(
        "  a->b forwarded {} (tx_full drops {}), b->a forwarded {} (tx_full drops {})\n",
        ld(&ab.tx),
        ld(&ab.tx_full),
        ld(&ba.tx),
        ld(&ba.tx_full)
    );
    let total = ld(&ab.rx) + ld(&ba.rx);
    // Closed, the ports' drivers hold no mbuf (running, many keep sent
    // ones until their ring wraps): what is still in use now is lost.
    drop(port_a);
    drop(port_b);
    let in_use = pool.in_use();
    report += &format!(
        "  rate {:.3} Mpps received, mbufs in use once the ports closed {in_use} (leaked {in_use})\n",
        total as f64 / secs / 1e6,
    );
    vxgate::ops::print_out(&report);
    drop(pool);
    drop(eal);
    Ok(())
}
