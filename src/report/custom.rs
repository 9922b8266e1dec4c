//! The "Custom metrics" table (`metrics:` + `record:`): each metric in its own unit,
//! for the console, Markdown and HTML. Their rows are left out of the endpoint tables.

use std::fmt::Write as _;

use crate::metrics::custom::CustomMetric;
use crate::metrics::{METRIC_METHOD, RunResult, StepResult};

/// Is this row a custom metric's (not an endpoint)?
pub fn is_metric_row(s: &StepResult) -> bool {
    s.method == METRIC_METHOD
}

/// Header and one row of strings per metric: name, type, count, sum, per second (a
/// counter's), mean, p50, p95, p99, max (a trend's), unreadable.
fn rows(r: &RunResult) -> Vec<Vec<String>> {
    let list: &[CustomMetric] = &r.custom_metrics;
    let mut out = vec![
        [
            "metric",
            "type",
            "count",
            "sum",
            "per second",
            "mean",
            "p50",
            "p95",
            "p99",
            "max",
            "unreadable",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    for m in list {
        let v = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| m.show(x));
        let trend = m.kind == "trend";
        out.push(vec![
            m.name.clone(),
            m.kind.clone(),
            m.count.to_string(),
            m.show(m.sum),
            if trend {
                "–".to_string()
            } else {
                format!("{}/s", m.show(m.rate))
            },
            v(m.mean),
            v(if trend { m.p50 } else { None }),
            v(if trend { m.p95 } else { None }),
            v(if trend { m.p99 } else { None }),
            v(if trend { m.max } else { None }),
            m.unreadable.to_string(),
        ]);
    }
    out
}

/// The table as aligned text, for the console; empty without custom metrics.
pub fn text_table(r: &RunResult) -> String {
    if r.custom_metrics.is_empty() {
        return String::new();
    }
    let rows = rows(r);
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\ncustom metrics\n");
    for row in &rows {
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c < 2 {
                if c > 0 {
                    out.push_str("  ");
                }
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

/// The table in Markdown; nothing without custom metrics.
pub fn markdown(s: &mut String, r: &RunResult) {
    if r.custom_metrics.is_empty() {
        return;
    }
    s.push_str("\n### Custom metrics\n\n");
    let rows = rows(r);
    for (i, row) in rows.iter().enumerate() {
        s.push('|');
        for c in row {
            let _ = write!(s, " {} |", super::markdown::cell(c));
        }
        s.push('\n');
        if i == 0 {
            s.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        }
    }
}

/// The table in HTML; nothing without custom metrics.
pub fn html(s: &mut String, r: &RunResult) {
    if r.custom_metrics.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"custom-metrics\">Custom metrics</h2>\n");
    super::html_table(s, &rows(r), 2);
}
