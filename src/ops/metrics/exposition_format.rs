//! The exposition formats `/metrics` speaks, their Content-Types, and which
//! one a request's `Accept` header asks for.

/// The exposition formats `/metrics` speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// Prometheus text format 0.0.4: what scrapers get unless they ask for
    /// OpenMetrics (curl, `*/*`, `text/plain`, no `Accept`).
    #[default]
    Text,
    /// OpenMetrics 1.0.0 text (ends with `# EOF`).
    OpenMetrics,
}

/// Content-Type of [`ExpositionFormat::Text`].
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content-Type of [`ExpositionFormat::OpenMetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl ExpositionFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::Text => TEXT_CONTENT_TYPE,
            ExpositionFormat::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// Picks the format for a request's `Accept` header value (`None` when
    /// the request has none), like client_golang's `NegotiateIncludingOpenMetrics`:
    /// of the media ranges we can serve, `application/openmetrics-text`
    /// (version absent, `1.0.0` or `0.0.1`) and `text/plain` (version
    /// absent or `0.0.4`), the one with the highest `q` wins, the earlier
    /// one on a tie; ranges with `q=0` or an unparsable `q` are refused.
    /// Anything else, wildcards included, gets [`ExpositionFormat::Text`].
    pub fn negotiate(accept: Option<&str>) -> ExpositionFormat {
        let mut best: Option<(f64, ExpositionFormat)> = None;
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut version = None;
            let mut q = 1.0;
            for param in parts {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "version" => version = Some(value.to_owned()),
                    "q" => q = value.parse::<f64>().unwrap_or(0.0),
                    _ => {}
                }
            }
            let format = match (media.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => {
                    ExpositionFormat::OpenMetrics
                }
                ("text/plain", None | Some("0.0.4")) => ExpositionFormat::Text,
                _ => continue,
            };
            if q.is_nan() || q <= 0.0 || best.is_some_and(|(b, _)| b >= q) {
                continue;
            }
            best = Some((q, format));
        }
        best.map_or(ExpositionFormat::Text, |(_, f)| f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        use ExpositionFormat::{OpenMetrics, Text};
        for (accept, want) in [
            // Prometheus 2.x.
            (
                Some("application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                OpenMetrics,
            ),
            // Prometheus 3.x.
            (
                Some("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"),
                OpenMetrics,
            ),
            (Some("application/openmetrics-text"), OpenMetrics),
            (Some("Application/OpenMetrics-Text ; Version=\"0.0.1\""), OpenMetrics),
            (Some("text/plain;version=0.0.4;q=0.5, application/openmetrics-text;q=0.6"), OpenMetrics),
            (None, Text),
            (Some(""), Text),
            (Some("*/*"), Text),
            (Some("text/plain"), Text),
            (Some("text/plain; version=0.0.4; charset=utf-8"), Text),
            (Some("text/html,application/xhtml+xml,*/*;q=0.8"), Text),
            (Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"), Text),
            // Preference and refusals.
            (Some("text/plain, application/openmetrics-text"), Text),
            (Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"), Text),
            (Some("application/openmetrics-text;q=0"), Text),
            (Some("application/openmetrics-text;q=abc"), Text),
            (Some("application/openmetrics-text;q=NaN"), Text),
            (Some("application/openmetrics-text;version=2.0.0"), Text),
            // Odd input never panics.
            (Some(",,;;==;q=;version,application/openmetrics-text;;"), OpenMetrics),
            (Some("\u{fffd};q=\u{fffd}"), Text),
        ] {
            assert_eq!(ExpositionFormat::negotiate(accept), want, "{accept:?}");
        }
        assert_eq!(
            Text.content_type(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert_eq!(
            OpenMetrics.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    }
}
