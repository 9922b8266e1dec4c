//! Custom metrics (`metrics:` in the scenario, `record:` on a step): values read from the
//! responses, each metric in its own cells (method [`METRIC_METHOD`]), one per (scenario,
//! metric), so the interval log, the time series and merges treat them like any cell.
//!
//! What a cell stores: each value as one histogram sample and, exactly, added into the
//! cell's `bytes` (the sum). A time (`unit: ms`, `s` or `us`) is stored in microseconds;
//! any other unit is a plain number stored in thousandths (3 decimals kept; a trend's
//! histogram holds values from 0.001 to 60,000, larger ones are clamped there, while the
//! sum stays exact). A value that could not be read or was not a number is counted as an
//! error of the cell (kind `body`), with the first one as an example.
//!
//! [`custom_metrics`] turns those rows back into the metric's own unit for the reports.

use serde::{Deserialize, Serialize};

use super::result::{METRIC_METHOD, RunResult, StepResult};
use schemars::JsonSchema;

/// Stored units per unit of a plain number (thousandths).
pub const NUMBER_SCALE: f64 = 1000.0;

/// How many stored units (µs for a time, thousandths for a number) one unit of `unit` is,
/// and whether it is a time.
pub fn scale_of(unit: Option<&str>) -> (f64, bool) {
    match unit.map(str::trim) {
        Some("us" | "µs") => (1.0, true),
        Some("ms") => (1_000.0, true),
        Some("s") => (1_000_000.0, true),
        _ => (NUMBER_SCALE, false),
    }
}

/// One custom metric over the whole run, in its own unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomMetric {
    pub name: String,
    /// `trend` or `counter`.
    #[serde(rename = "type")]
    pub kind: String,
    /// As declared (`ms`, `items`, ...); empty for a plain number without one.
    pub unit: String,
    /// Values recorded.
    pub count: u64,
    /// Responses whose value could not be read or was not a number.
    pub unreadable: u64,
    /// Sum of the values (exact).
    pub sum: f64,
    /// A counter's sum per second of the run.
    pub rate: f64,
    /// Mean (exact: sum / count); `None` without values.
    pub mean: Option<f64>,
    /// From the histogram (3 significant digits): trends only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl CustomMetric {
    /// `value` in the metric's unit, for people: `12.5 ms`, `3.25 items`, `7`.
    pub fn show(&self, value: f64) -> String {
        let mut s = format!("{:.3}", value);
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        if self.unit.is_empty() {
            s
        } else {
            format!("{s} {}", self.unit)
        }
    }
}

/// The custom metrics of a run, in declaration order: the rows of its [`METRIC_METHOD`]
/// cells, with the types and units the scenario (`result.scenario`'s `metrics`) declares.
pub fn custom_metrics(result: &RunResult) -> Vec<CustomMetric> {
    let decl = result.scenario.get("metrics").and_then(|m| m.as_object());
    let rows: Vec<&StepResult> = result
        .steps
        .iter()
        .filter(|s| s.method == METRIC_METHOD)
        .collect();
    let mut names: Vec<String> = decl
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    for r in &rows {
        if !names.contains(&r.name) {
            names.push(r.name.clone());
        }
    }
    let secs = result.run.duration_us as f64 / 1e6;
    names
        .into_iter()
        .map(|name| {
            let d = decl.and_then(|d| d.get(&name));
            let kind = d
                .and_then(|d| d.get("type"))
                .and_then(|t| t.as_str())
                .unwrap_or("trend")
                .to_string();
            let unit = d
                .and_then(|d| d.get("unit"))
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_string();
            let (scale, _) = scale_of(Some(&unit));
            let row = rows.iter().find(|r| r.name == name);
            let (count, unreadable, sum_raw) = row.map_or((0, 0, 0), |r| {
                let s = &r.summary;
                (s.response_time.count, s.errors, s.bytes)
            });
            let sum = sum_raw as f64 / scale;
            let trend = kind == "trend" && count > 0;
            let at = |us: u64| trend.then_some(us as f64 / scale);
            let l = row
                .map(|r| r.summary.response_time.clone())
                .unwrap_or_default();
            CustomMetric {
                name,
                kind,
                unit,
                count,
                unreadable,
                sum,
                rate: if secs > 0.0 { sum / secs } else { 0.0 },
                mean: (count > 0).then(|| sum / count as f64),
                min: at(l.min_us),
                p50: at(l.p50_us),
                p90: at(l.p90_us),
                p95: at(l.p95_us),
                p99: at(l.p99_us),
                max: at(l.max_us),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_times_to_microseconds_and_numbers_to_thousandths() {
        assert_eq!(scale_of(Some("ms")), (1000.0, true));
        assert_eq!(scale_of(Some("s")), (1e6, true));
        assert_eq!(scale_of(Some("us")), (1.0, true));
        assert_eq!(scale_of(Some("items")), (1000.0, false));
        assert_eq!(scale_of(None), (1000.0, false));
    }
}
