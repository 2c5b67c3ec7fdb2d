//! RFC 2544 throughput: the highest offered rate at which a trial loses no
//! more than the tolerated share of frames, found by binary search between
//! a low rate and line rate. The search is pure; trials are a closure.

/// What one trial measured.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Trial {
    /// The rate asked for.
    pub offered_pps: f64,
    /// The rate the generator achieved (lower when it cannot keep up).
    pub tx_pps: f64,
    pub tx_packets: u64,
    pub rx_packets: u64,
    pub loss: u64,
    pub loss_pct: f64,
    pub pass: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct SearchConf {
    pub line_rate_pps: f64,
    pub min_rate_pps: f64,
    /// Stop when the pass/fail bracket is narrower than this % of line rate.
    pub resolution_pct: f64,
    pub loss_tolerance_pct: f64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchResult {
    pub line_rate_pps: f64,
    pub resolution_pct: f64,
    pub loss_tolerance_pct: f64,
    /// Highest passing offered rate; `None` when even the low rate failed.
    pub throughput_pps: Option<f64>,
    /// Index into `trials` of the best passing trial.
    pub best_trial: Option<usize>,
    pub trials: Vec<Trial>,
}

/// Whether a trial with these counts passes.
pub fn passes(tx: u64, rx: u64, tolerance_pct: f64) -> bool {
    let loss = tx.saturating_sub(rx);
    tx > 0 && (loss as f64) <= tolerance_pct / 100.0 * tx as f64
}

/// Runs the search: first at line rate, then halving the bracket
/// [highest pass, lowest fail] until it is narrower than the resolution.
/// `trial(rate)` returns (tx_packets, rx_packets, achieved tx pps); `stop`
/// ends the search early (an interrupted run).
pub fn search(
    conf: SearchConf,
    mut trial: impl FnMut(f64) -> (u64, u64, f64),
    mut stop: impl FnMut() -> bool,
) -> SearchResult {
    let step = (conf.resolution_pct / 100.0 * conf.line_rate_pps).max(1.0);
    let mut lo = conf.min_rate_pps.max(0.0);
    let mut hi = conf.line_rate_pps;
    let mut rate = hi;
    let mut out = SearchResult {
        line_rate_pps: conf.line_rate_pps,
        resolution_pct: conf.resolution_pct,
        loss_tolerance_pct: conf.loss_tolerance_pct,
        throughput_pps: None,
        best_trial: None,
        trials: Vec::new(),
    };
    let mut tested_low = false;
    while !stop() {
        let (tx, rx, tx_pps) = trial(rate);
        let pass = passes(tx, rx, conf.loss_tolerance_pct);
        let loss = tx.saturating_sub(rx);
        out.trials.push(Trial {
            offered_pps: rate,
            tx_pps,
            tx_packets: tx,
            rx_packets: rx,
            loss,
            loss_pct: if tx == 0 {
                0.0
            } else {
                loss as f64 * 100.0 / tx as f64
            },
            pass,
        });
        if pass {
            lo = rate;
            out.throughput_pps = Some(rate);
            out.best_trial = Some(out.trials.len() - 1);
        } else {
            hi = rate;
        }
        if rate <= conf.min_rate_pps {
            tested_low = true;
        }
        if hi - lo <= step {
            // Nothing passed yet: make sure the low end itself was tried.
            if out.throughput_pps.is_none() && !tested_low && conf.min_rate_pps > 0.0 {
                rate = conf.min_rate_pps;
                continue;
            }
            break;
        }
        rate = (lo + hi) / 2.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> SearchConf {
        SearchConf {
            line_rate_pps: 1_000_000.0,
            min_rate_pps: 10_000.0,
            resolution_pct: 1.0,
            loss_tolerance_pct: 0.0,
        }
    }

    /// A device that loses everything above `cap` pps.
    fn device(cap: f64) -> impl FnMut(f64) -> (u64, u64, f64) {
        move |rate| {
            let tx = rate as u64;
            let rx = if rate <= cap { tx } else { cap as u64 };
            (tx, rx, rate)
        }
    }

    #[test]
    fn finds_the_capacity_within_the_resolution() {
        let r = search(conf(), device(637_000.0), || false);
        let t = r.throughput_pps.expect("some rate passes");
        assert!(t <= 637_000.0 && t > 637_000.0 - 10_000.0, "{t}");
        let best = &r.trials[r.best_trial.unwrap()];
        assert!(best.pass && best.offered_pps == t);
        assert!(
            r.trials.len() <= 9,
            "log2(100) + 2 trials, got {}",
            r.trials.len()
        );
    }

    #[test]
    fn line_rate_that_passes_ends_the_search_at_once() {
        let r = search(conf(), device(f64::MAX), || false);
        assert_eq!(r.trials.len(), 1);
        assert_eq!(r.throughput_pps, Some(1_000_000.0));
    }

    #[test]
    fn nothing_passing_tries_the_low_rate_and_reports_none() {
        let r = search(conf(), device(1.0), || false);
        assert_eq!(r.throughput_pps, None);
        assert!(r.trials.iter().any(|t| t.offered_pps == 10_000.0));
        assert!(r.trials.iter().all(|t| !t.pass));
    }

    #[test]
    fn tolerance_accepts_small_loss() {
        assert!(passes(1000, 995, 0.5));
        assert!(!passes(1000, 994, 0.5));
        assert!(
            !passes(0, 0, 100.0),
            "a trial that sent nothing proves nothing"
        );
    }

    #[test]
    fn stop_ends_the_search() {
        let mut n = 0;
        let r = search(conf(), device(500_000.0), || {
            n += 1;
            n > 2
        });
        assert_eq!(r.trials.len(), 2);
    }
}
