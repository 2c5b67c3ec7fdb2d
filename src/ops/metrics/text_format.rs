//! The Prometheus text format 0.0.4, derived from the OpenMetrics text
//! prometheus-client writes, so both formats carry the same sample lines.
use std::collections::HashMap;

/// Rewrites OpenMetrics text as written by prometheus-client into the
/// Prometheus text format 0.0.4. Sample lines are kept byte for byte; only
/// the metadata differs:
/// - a counter family is named with its `_total` suffix in `# HELP` and
///   `# TYPE` (OpenMetrics names the family without it);
/// - `unknown` is spelled `untyped`;
/// - `# UNIT` lines, `# EOF` and `_created` samples are dropped.
///
/// prometheus-client writes HELP text unescaped, and ours has no `\` or
/// line break, so HELP needs no re-escaping. No exemplars are encoded
/// (0.0.4 has none).
pub fn openmetrics_to_text(om: &str) -> String {
    let types: HashMap<&str, &str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .collect();
    let family_name = |name: &str| -> String {
        match types.get(name) {
            Some(&"counter") => format!("{name}_total"),
            _ => name.to_owned(),
        }
    };
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str("# HELP ");
            out.push_str(&family_name(name));
            out.push(' ');
            out.push_str(help);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            out.push_str("# TYPE ");
            out.push_str(&family_name(name));
            out.push(' ');
            out.push_str(if kind == "unknown" { "untyped" } else { kind });
        } else if line.starts_with('#') || line.is_empty() {
            // `# EOF`, `# UNIT`, anything else OpenMetrics-only.
            continue;
        } else {
            let name = line.split(['{', ' ']).next().unwrap_or(line);
            let created_of = name
                .strip_suffix("_created")
                .and_then(|base| types.get(base));
            if matches!(created_of, Some(&("counter" | "histogram"))) {
                continue;
            }
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::metrics::fixture::{busy_snapshot, sample_lines};
    use crate::ops::metrics::{encode, ExpositionFormat};

    #[test]
    fn both_formats_have_the_same_samples() {
        let snap = busy_snapshot();
        let om = encode(&snap, ExpositionFormat::OpenMetrics).unwrap();
        let text = encode(&snap, ExpositionFormat::Text).unwrap();
        assert_eq!(sample_lines(&om), sample_lines(&text));
        assert_eq!(openmetrics_to_text(&om), text);
        for line in [
            "vxgate_port_errors_total{port=\"access\"} 207",
            "vxgate_etcd_ignored_leases_total 4",
            "vxgate_etcd_last_event_age_seconds 2.5",
            "vxgate_own_lease_expiry_seconds 86000.25",
            "vxgate_control_to_dataplane_seconds_bucket{le=\"1.0\"} 12",
            "vxgate_control_to_dataplane_seconds_bucket{le=\"+Inf\"} 13",
            "vxgate_control_to_dataplane_seconds_sum 0.0042",
            "vxgate_control_to_dataplane_seconds_count 13",
            "vxgate_worker_polls_total{worker=\"1\",state=\"idle\"} 6000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }

    #[test]
    fn text_format_is_prometheus_0_0_4() {
        let text = encode(&busy_snapshot(), ExpositionFormat::Text).unwrap();
        assert!(!text.contains("# EOF"), "{text}");
        assert!(!text.contains("# UNIT"), "{text}");
        assert!(!text.contains("_created"), "{text}");
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text}");
        for line in [
            "# HELP vxgate_encap_packets_total Packets encapsulated into VXLAN (access to underlay).",
            "# TYPE vxgate_encap_packets_total counter",
            "# TYPE vxgate_drops_total counter",
            "# HELP vxgate_etcd_ignored_leases_total Leases in etcd whose BackendType is not vxlan, ignored.",
            "# TYPE vxgate_etcd_ignored_leases_total counter",
            "# TYPE vxgate_port_rx_packets_total counter",
            "# TYPE vxgate_worker_polls_total counter",
            "# TYPE vxgate_leases gauge",
            "# TYPE vxgate_neighbors gauge",
            "# TYPE vxgate_etcd_last_event_age_seconds gauge",
            "# TYPE vxgate_control_to_dataplane_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }

        // Every sample belongs to the family announced just before it, by
        // 0.0.4's rules: a counter or gauge sample has the family's name, a
        // histogram's the name plus _bucket, _sum or _count. HELP comes
        // right before TYPE, with the same name.
        let mut family: Option<(&str, &str)> = None;
        let mut help: Option<&str> = None;
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                help = Some(rest.split_once(' ').unwrap().0);
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(help.take(), Some(name), "HELP before TYPE for {name}");
                assert!(seen.insert(name), "family {name} announced twice");
                family = Some((name, kind));
            } else {
                let sample = line.split(['{', ' ']).next().unwrap();
                let (name, kind) = family.unwrap_or_else(|| panic!("{line} before any TYPE"));
                let ok = match kind {
                    "counter" | "gauge" => sample == name,
                    "histogram" => ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| sample.strip_suffix(s) == Some(name)),
                    _ => false,
                };
                assert!(ok, "{line} under `# TYPE {name} {kind}`");
            }
        }
    }

    #[test]
    fn converter_drops_openmetrics_only_lines() {
        let om = "# HELP a_seconds A.\n# TYPE a_seconds counter\n# UNIT a_seconds seconds\n\
                  a_seconds_total{x=\"1\"} 1\na_seconds_created{x=\"1\"} 1.7e9\n\
                  # HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\n\
                  h_count 2\nh_created 1.7e9\n# HELP u U.\n# TYPE u unknown\nu 3\n\
                  # HELP g G.\n# TYPE g gauge\ng_created 4\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP a_seconds_total A.\n# TYPE a_seconds_total counter\n\
             a_seconds_total{x=\"1\"} 1\n\
             # HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n\
             # HELP u U.\n# TYPE u untyped\nu 3\n\
             # HELP g G.\n# TYPE g gauge\ng_created 4\n"
        );
        assert_eq!(openmetrics_to_text(""), "");
        assert_eq!(openmetrics_to_text("# EOF\n"), "");
    }
}
