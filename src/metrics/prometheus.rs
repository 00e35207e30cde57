//! Metrics as the Prometheus text exposition format (version 0.0.4), one sample per log
//! with a `log` label, so that a host program serves them on its own `/metrics`.
//!
//! Names: `aof_<metric>_total` for counters, `aof_<metric>` for gauges; a distribution is a
//! summary with quantiles 0 (min), 0.5, 0.9, 0.99, 0.999 and 1 (max), `_sum` and `_count`.
//! Distributions in nanoseconds (`*_ns`) are exported in seconds (`*_seconds`), the
//! Prometheus base unit.

use std::fmt::Write;

use super::{MetricKind, MetricsSnapshot};

/// Renders the snapshots of several logs, `(label, snapshot)`: each metric family once
/// (`# HELP`, `# TYPE`), then one sample per log.
pub fn render(logs: &[(&str, MetricsSnapshot)]) -> String {
    let mut out = String::new();
    let names = MetricsSnapshot::NAMES;
    for (i, name) in names.iter().enumerate() {
        let kind = MetricsSnapshot::KINDS[i];
        let help = help_line(MetricsSnapshot::HELP[i]);
        match kind {
            MetricKind::Counter | MetricKind::Gauge => {
                let (family, ty) = if kind == MetricKind::Counter {
                    (format!("aof_{name}_total"), "counter")
                } else {
                    (format!("aof_{name}"), "gauge")
                };
                family_header(&mut out, &family, &help, ty);
                for (log, m) in logs {
                    let value = m.fields()[i].1;
                    let _ = writeln!(out, "{family}{{log=\"{}\"}} {value}", escape(log));
                }
            }
            MetricKind::Summary => {
                // One family per distribution, at its first field.
                let Some(base) = name.strip_suffix("_count") else {
                    continue;
                };
                let (family, scale) = match base.strip_suffix("_ns") {
                    Some(stem) => (format!("aof_{stem}_seconds"), 1e-9),
                    None => (format!("aof_{base}"), 1.0),
                };
                let help = help.replace("in nanoseconds", "in seconds");
                family_header(&mut out, &family, &help, "summary");
                for (log, m) in logs {
                    let f = m.fields();
                    let v = |k: usize| f[i + k].1 as f64 * scale;
                    let log = escape(log);
                    for (q, k) in [("0", 2), ("0.5", 3), ("0.9", 4), ("0.99", 5), ("0.999", 6)] {
                        let _ =
                            writeln!(out, "{family}{{log=\"{log}\",quantile=\"{q}\"}} {}", v(k));
                    }
                    let _ = writeln!(out, "{family}{{log=\"{log}\",quantile=\"1\"}} {}", v(7));
                    let _ = writeln!(out, "{family}_sum{{log=\"{log}\"}} {}", v(1));
                    let _ = writeln!(out, "{family}_count{{log=\"{log}\"}} {}", f[i].1);
                }
            }
        }
    }
    out
}

fn family_header(out: &mut String, family: &str, help: &str, ty: &str) {
    let _ = writeln!(out, "# HELP {family} {help}");
    let _ = writeln!(out, "# TYPE {family} {ty}");
}

/// A metric's doc comment as one HELP line: joined, trimmed, `\` and newlines escaped, and
/// Rust doc markup (backticks, links) dropped.
fn help_line(doc: &str) -> String {
    let joined = doc
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    joined
        .replace('`', "")
        .replace(['[', ']'], "")
        .replace('\\', "\\\\")
}

/// A label value: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_type_and_one_sample_per_log() {
        let mut a = MetricsSnapshot::numbered();
        a.set_summary(
            "sync_latency_ns",
            crate::metrics::Summary {
                count: 4,
                sum: 4_000_000,
                min: 500_000,
                p50: 1_000_000,
                p90: 1_500_000,
                p99: 1_500_000,
                p999: 1_500_000,
                max: 1_500_000,
            },
        );
        let text = render(&[
            ("orders", a),
            ("we\"ird\\name\n", MetricsSnapshot::default()),
        ]);
        assert!(text.contains("# TYPE aof_appends_total counter\n"));
        assert!(text.contains("aof_appends_total{log=\"orders\"} 1\n"));
        assert!(text.contains("aof_last_id{log=\"orders\"} 10\n"));
        assert!(text.contains("# TYPE aof_sync_latency_seconds summary\n"));
        assert!(text.contains("aof_sync_latency_seconds{log=\"orders\",quantile=\"0.5\"} 0.001\n"));
        assert!(text.contains("aof_sync_latency_seconds{log=\"orders\",quantile=\"1\"} 0.0015\n"));
        assert!(text.contains("aof_sync_latency_seconds_count{log=\"orders\"} 4\n"));
        assert!(text.contains("aof_sync_latency_seconds_sum{log=\"orders\"} 0.004\n"));
        assert!(text.contains("aof_appends_total{log=\"we\\\"ird\\\\name\\n\"} 0\n"));
        assert!(!text.contains("in nanoseconds"));
        for line in text.lines().filter(|l| l.starts_with("# HELP")) {
            assert!(!line.contains('`'), "{line}");
        }
        let families = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        let summaries = MetricsSnapshot::distributions().count();
        assert_eq!(families, MetricsSnapshot::COUNT - 7 * summaries);
    }
}
