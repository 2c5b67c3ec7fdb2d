//! A snapshot encoded for a scrape: prometheus-client writes OpenMetrics
//! from the families (`families.rs`), infinities are spelled as both text
//! formats want, and the 0.0.4 text is derived from it when asked for.
use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use super::exposition_format::ExpositionFormat;
use super::families::encode_snapshot;
use super::snapshot::MetricsSnapshot;
use super::text_format::openmetrics_to_text;

/// Encodes one snapshot in `format`.
pub fn encode(snapshot: &MetricsSnapshot, format: ExpositionFormat) -> Result<String, fmt::Error> {
    let om = encode_openmetrics(snapshot)?;
    Ok(match format {
        ExpositionFormat::OpenMetrics => om,
        ExpositionFormat::Text => openmetrics_to_text(&om),
    })
}

/// Encodes one snapshot in the OpenMetrics text format (ends with `# EOF`).
pub fn encode_openmetrics(snapshot: &MetricsSnapshot) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Fixed(Arc::new(snapshot.clone()))));
    let mut out = String::with_capacity(8 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(spell_infinities(out))
}

/// prometheus-client formats floats with dtoa, which writes `inf` and
/// `-inf`; both text formats spell them `+Inf` and `-Inf` (a reservation's
/// `vxgate_own_lease_expiry_seconds` is `+Inf`). Only sample values are
/// touched: the value is a sample line's last field (no timestamps or
/// exemplars are written). `NaN` is already spelled right.
fn spell_infinities(om: String) -> String {
    if !om.contains("inf\n") {
        return om;
    }
    let mut out = String::with_capacity(om.len() + 16);
    for line in om.lines() {
        let fixed = (!line.starts_with('#'))
            .then(|| line.rsplit_once(' '))
            .flatten()
            .and_then(|(sample, value)| match value {
                "inf" => Some((sample, "+Inf")),
                "-inf" => Some((sample, "-Inf")),
                _ => None,
            });
        match fixed {
            Some((sample, value)) => {
                out.push_str(sample);
                out.push(' ');
                out.push_str(value);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[derive(Debug)]
struct Fixed(Arc<MetricsSnapshot>);

impl Collector for Fixed {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        encode_snapshot(&self.0, &mut enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::metrics::fixture::busy_snapshot;

    #[test]
    fn a_reservation_never_expires_and_scrapes_as_plus_inf() {
        let snap = MetricsSnapshot {
            own_lease_expiry_seconds: f64::INFINITY,
            etcd_last_event_age_seconds: f64::NEG_INFINITY,
            ..busy_snapshot()
        };
        for format in [ExpositionFormat::OpenMetrics, ExpositionFormat::Text] {
            let text = encode(&snap, format).unwrap();
            assert!(
                text.lines()
                    .any(|l| l == "vxgate_own_lease_expiry_seconds +Inf"),
                "{text}"
            );
            assert!(
                text.lines()
                    .any(|l| l == "vxgate_etcd_last_event_age_seconds -Inf"),
                "{text}"
            );
            assert!(
                !text.contains(" inf\n") && !text.contains(" -inf\n"),
                "{text}"
            );
            // Everything else is untouched.
            let plain = encode(&busy_snapshot(), format).unwrap();
            assert_eq!(text.lines().count(), plain.lines().count(), "{text}");
        }
        assert_eq!(spell_infinities("a inf\n".into()), "a +Inf\n");
        assert_eq!(spell_infinities("# HELP x inf\n".into()), "# HELP x inf\n");
        assert_eq!(
            spell_infinities("x{l=\"inf\"} 1\n".into()),
            "x{l=\"inf\"} 1\n"
        );
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let om = encode(&busy_snapshot(), ExpositionFormat::OpenMetrics).unwrap();
        assert!(om.ends_with("\n# EOF\n"), "{om}");
        for line in [
            "# TYPE vxgate_encap_packets counter",
            "# TYPE vxgate_drops counter",
            "# TYPE vxgate_etcd_ignored_leases counter",
            "# TYPE vxgate_leases gauge",
            "# TYPE vxgate_control_to_dataplane_seconds histogram",
        ] {
            assert!(om.lines().any(|l| l == line), "{line} in:\n{om}");
        }
    }
}
