//! Custom metrics: their declarations (`metrics:`), what a step records into them
//! (`record:`, read like `extract:`), and targets on them (`mean(metric="queue_ms") < 5ms`).
//!
//! How the values are stored (µs for times, thousandths for plain numbers) is
//! [`crate::metrics::custom`]'s business; this module only reads the file.

use super::check::{Extract, ExtractSource, Response};
use super::compile::Compiler;
use super::node::KeyPath;
use super::raw::{OrderedMap, RawExtract, RawFile};
use super::suggest;
use crate::metrics::custom::scale_of;
use crate::metrics::verdict::{Metric, Scope, Unit};

/// Whether a custom metric keeps a distribution or a sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Every value into a histogram: mean, percentiles, max (k6's `Trend`).
    Trend,
    /// The values added up (k6's `Counter`).
    Counter,
}

/// A declared custom metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDef {
    pub name: String,
    pub kind: MetricKind,
    /// As written (`ms`, `items`); `None` for a plain number.
    pub unit: Option<String>,
    /// Stored units per unit of the value (µs for a time, 1000 for a plain number).
    pub scale: f64,
    /// A time (`ms`, `s`, `us`)?
    pub time: bool,
}

/// What a step records into a custom metric.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    /// The metric's index in the declared order (`metrics:`).
    pub metric: usize,
    /// Read as `extract:` does (its `var` is unused).
    pub read: Extract,
    /// Stored units per unit of the value.
    pub scale: f64,
    /// The unit a value may carry after its number (`12ms`), when one was declared.
    pub unit: Option<String>,
}

impl RecordPlan {
    /// The value `r` carries, in stored units (rounded), or why there is none.
    pub fn read(&self, r: &Response<'_>) -> Result<u64, String> {
        let Some(text) = self.read.extract(r) else {
            return Err(format!(
                "record {}: the response has no such value",
                self.read.name
            ));
        };
        let t = text.trim();
        let t = self
            .unit
            .as_deref()
            .and_then(|u| t.strip_suffix(u))
            .unwrap_or(t)
            .trim();
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => {
                Ok((v * self.scale).round().min(u64::MAX as f64) as u64)
            }
            Ok(_) => Err(format!(
                "record {}: {text:?} is not a number of 0 or more",
                self.read.name
            )),
            Err(_) => Err(format!(
                "record {}: {:?} is not a number",
                self.read.name,
                cut(&text)
            )),
        }
    }
}

fn cut(s: &str) -> String {
    s.chars().take(60).collect()
}

impl Compiler<'_> {
    /// The `metrics:` of a file, checked.
    pub(super) fn declare_metrics(&mut self, raw: &RawFile) {
        let Some(map) = &raw.metrics else {
            return;
        };
        let path = KeyPath::root().key("metrics");
        for (name, m) in &map.0 {
            let p = path.key(name);
            let ok_name = !name.trim().is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok_name {
                self.err(
                    &p,
                    format!("metric name {name:?}"),
                    "a name of letters, digits, `_`, `.` or `-`, e.g. queue_ms",
                    None,
                );
                continue;
            }
            let kind = match m.kind.trim() {
                "trend" => MetricKind::Trend,
                "counter" => MetricKind::Counter,
                other => {
                    let hint = match other.to_ascii_lowercase().as_str() {
                        "histogram" | "timer" | "distribution" | "summary" => {
                            Some("a distribution is `trend`".to_string())
                        }
                        "sum" | "count" => Some("a sum is `counter`".to_string()),
                        "gauge" | "rate" => Some(
                            "only trend and counter are kept; a trend has the mean and max"
                                .to_string(),
                        ),
                        _ => suggest::closest(other, &["trend", "counter"])
                            .map(|s| format!("did you mean \"{s}\"?")),
                    };
                    self.bad(&p.key("type"), "`trend` or `counter`", hint);
                    continue;
                }
            };
            let unit = m.unit.as_deref().map(str::trim).filter(|u| !u.is_empty());
            if let Some(u) = unit
                && (u.len() > 16 || u.chars().any(|c| c.is_control() || c.is_ascii_digit()))
            {
                self.bad(
                    &p.key("unit"),
                    "`ms`, `s` or `us` for a time, or a short word such as `items`",
                    None,
                );
                continue;
            }
            let (scale, time) = scale_of(unit);
            self.metric_defs.push(MetricDef {
                name: name.clone(),
                kind,
                unit: unit.map(str::to_string),
                scale,
                time,
            });
        }
    }

    /// A step's `record:`: each name a declared metric, each source as `extract:` takes.
    pub(super) fn records(
        &mut self,
        map: &OrderedMap<RawExtract>,
        path: &KeyPath,
    ) -> Vec<RecordPlan> {
        let mut out = Vec::with_capacity(map.0.len());
        for (name, e) in &map.0 {
            let p = path.key(name);
            let Some(i) = self.metric_defs.iter().position(|d| &d.name == name) else {
                let names: Vec<&str> = self.metric_defs.iter().map(|d| d.name.as_str()).collect();
                let hint = match suggest::closest(name, &names) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None if names.is_empty() => format!(
                        "declare it at the top level: `metrics: {{{name}: {{type: trend, unit: ms}}}}`"
                    ),
                    None => format!("the metrics are: {}", names.join(", ")),
                };
                self.err(
                    &p,
                    format!("unknown metric \"{name}\""),
                    "a metric declared under `metrics:`",
                    Some(hint),
                );
                continue;
            };
            let Some(source) = self.record_source(e, &p) else {
                continue;
            };
            let def = &self.metric_defs[i];
            out.push(RecordPlan {
                metric: i,
                read: Extract::new(0, name, source),
                scale: def.scale,
                unit: def.unit.clone(),
            });
        }
        out
    }

    fn record_source(&mut self, e: &RawExtract, path: &KeyPath) -> Option<ExtractSource> {
        self.extract_source(e, path)
    }

    /// A target on a custom metric (`Scope::Metric`): the bound, written in the metric's
    /// unit (a bare number) or as a time for a time metric, into stored units. `Err` says
    /// what is wrong (found, expected, hint).
    pub(super) fn metric_bound(
        &self,
        name: &str,
        metric: &Metric,
        threshold: f64,
        bare: bool,
    ) -> Result<(f64, Unit), (String, String, Option<String>)> {
        metric_bound(&self.metric_defs, name, metric, threshold, bare)
    }
}

/// The metrics a plan declares, from its scenario copy (`metrics:` as written).
pub(super) fn defs_of(copy: &serde_json::Value) -> Vec<MetricDef> {
    let Some(map) = copy.get("metrics").and_then(|m| m.as_object()) else {
        return Vec::new();
    };
    map.iter()
        .map(|(name, d)| {
            let unit = d.get("unit").and_then(|u| u.as_str()).map(str::to_string);
            let (scale, time) = scale_of(unit.as_deref());
            let kind = match d.get("type").and_then(|t| t.as_str()) {
                Some("counter") => MetricKind::Counter,
                _ => MetricKind::Trend,
            };
            MetricDef {
                name: name.clone(),
                kind,
                unit,
                scale,
                time,
            }
        })
        .collect()
}

/// [`Compiler::metric_bound`] against `defs`.
pub(super) fn metric_bound(
    defs: &[MetricDef],
    name: &str,
    metric: &Metric,
    threshold: f64,
    bare: bool,
) -> Result<(f64, Unit), (String, String, Option<String>)> {
    let Some(def) = defs.iter().find(|d| d.name == name) else {
        let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        let hint = match suggest::closest(name, &names) {
            Some(s) => Some(format!("did you mean \"{s}\"?")),
            None if names.is_empty() => {
                Some("declare custom metrics under `metrics:` at the top level".into())
            }
            None => Some(format!("the metrics are: {}", names.join(", "))),
        };
        return Err((
            format!("unknown metric \"{name}\""),
            "a metric declared under `metrics:`".into(),
            hint,
        ));
    };
    match metric {
        Metric::Values if bare && threshold.fract() == 0.0 => Ok((threshold, Unit::Count)),
        Metric::Values => Err((
            format!("{threshold}"),
            "a whole number of values, e.g. `count(metric=\"x\") > 100`".into(),
            None,
        )),
        _ if def.time && bare => Ok((threshold * def.scale, Unit::Us)),
        _ if def.time => Ok((threshold, Unit::Us)),
        _ if bare => Ok((threshold * def.scale, Unit::Thousandths)),
        _ => Err((
            "a time".into(),
            format!(
                "a plain number: metric \"{name}\" counts {}",
                def.unit.as_deref().unwrap_or("numbers, not times")
            ),
            Some("declare `unit: ms` (or s, us) for a metric that is a time".into()),
        )),
    }
}

impl Compiler<'_> {
    /// A metric's row in the reports is found by its name, as a step's is: a metric may not
    /// share its name with a step.
    pub(super) fn metric_names_apart(&mut self, scenarios: &[super::plan::ScenarioPlan]) {
        let defs: Vec<String> = self.metric_defs.iter().map(|d| d.name.clone()).collect();
        for name in defs {
            let clash = scenarios.iter().any(|sc| {
                sc.on_start
                    .iter()
                    .chain(&sc.steps)
                    .chain(&sc.on_stop)
                    .flat_map(|s| {
                        std::iter::once(s).chain(s.batch.iter().flat_map(|b| &b.requests))
                    })
                    .any(|s| s.name == name)
            });
            if clash {
                self.err(
                    &KeyPath::root().key("metrics").key(&name),
                    format!("metric \"{name}\", also the name of a step"),
                    "a metric name that no step has",
                    Some("rename the metric, e.g. with a unit suffix such as queue_ms".into()),
                );
            }
        }
    }
}

/// The custom metric a target's scope names, if it does.
pub(super) fn scope_metric(scope: &Scope) -> Option<&str> {
    match scope {
        Scope::Metric(n) => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::parse_str;

    const FILE: &str = "target: http://h\nmetrics:\n  q: {type: trend, unit: ms}\n  n: {type: counter}\nscenarios:\n  - name: s\n    steps:\n      - get: /a\n        record: {q: {header: x-q}, n: {json: $.n}}\nload: {users: 1, duration: 1s}\n";

    #[test]
    fn target_bounds_are_scaled_to_what_the_cells_store() {
        let cases = [
            (
                "mean(metric=\"q\") < 5ms",
                Metric::ResponseTime,
                5000.0,
                Unit::Us,
            ),
            (
                "p95(metric=\"q\") < 5",
                Metric::ResponseTime,
                5000.0,
                Unit::Us,
            ),
            ("sum(metric=\"q\") < 2s", Metric::Sum, 2e6, Unit::Us),
            (
                "mean(metric=\"n\") < 1.5",
                Metric::ResponseTime,
                1500.0,
                Unit::Thousandths,
            ),
            (
                "sum(metric=\"n\") >= 30",
                Metric::Sum,
                30_000.0,
                Unit::Thousandths,
            ),
            (
                "count(metric=\"n\") > 10",
                Metric::Values,
                10.0,
                Unit::Count,
            ),
        ];
        for (expr, metric, threshold, unit) in cases {
            let text = format!("{FILE}targets:\n  - '{expr}'\n");
            let plan = parse_str(&text, Path::new("t.yaml")).unwrap_or_else(|e| panic!("{e}"));
            let t = &plan.targets[0].target;
            assert_eq!(
                (&t.metric, t.threshold, t.unit, &t.scope),
                (
                    &metric,
                    threshold,
                    unit,
                    &Scope::Metric(
                        expr[expr.find('"').unwrap() + 1..]
                            .split('"')
                            .next()
                            .unwrap()
                            .into()
                    )
                ),
                "{expr}"
            );
        }
    }

    #[test]
    fn a_targets_file_bounds_metrics_in_the_plan_units() {
        let mut plan = parse_str(FILE, Path::new("t.yaml")).unwrap();
        let list = crate::scenario::parse_targets_str(
            "targets:\n  - 'p95(metric=\"q\") < 5'\n  - 'mean(metric=\"n\") < 1.5'\n  - 'max(metric=\"q\") < 2s'\n",
            Path::new("k.yaml"),
        )
        .unwrap();
        plan.add_targets(list).unwrap();
        let got: Vec<(f64, Unit)> = plan
            .targets
            .iter()
            .map(|t| (t.target.threshold, t.target.unit))
            .collect();
        assert_eq!(
            got,
            [
                (5000.0, Unit::Us),
                (1500.0, Unit::Thousandths),
                (2e6, Unit::Us)
            ]
        );
        let list = crate::scenario::parse_targets_str(
            "targets:\n  - 'p95(metric=\"nope\") < 5'\n  - 'sum(metric=\"n\") < 5ms'\n",
            Path::new("k.yaml"),
        )
        .unwrap();
        let e = plan.add_targets(list).unwrap_err().to_string();
        assert!(
            e.contains("unknown metric \"nope\"") && e.contains("a plain number"),
            "{e}"
        );
    }

    #[test]
    fn a_metric_may_not_be_named_like_a_step() {
        let text = FILE.replace("- get: /a", "- name: q\n        get: /a");
        let e = parse_str(&text, Path::new("t.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("also the name of a step"), "{e}");
    }

    #[test]
    fn values_are_read_as_numbers_in_the_metric_unit() {
        let plan = parse_str(FILE, Path::new("t.yaml")).unwrap();
        let recs = &plan.scenarios[0].steps[0].records;
        let (q, n) = (&recs[0], &recs[1]);
        let mut h = http::HeaderMap::new();
        let read = |r: &RecordPlan, h: &http::HeaderMap, body: &str| {
            r.read(&Response::new(200, h, body.as_bytes()))
        };
        h.insert("x-q", "12.5".parse().unwrap());
        assert_eq!(read(q, &h, ""), Ok(12_500));
        h.insert("x-q", " 7ms".parse().unwrap());
        assert_eq!(read(q, &h, ""), Ok(7_000));
        h.insert("x-q", "soon".parse().unwrap());
        assert!(read(q, &h, "").unwrap_err().contains("is not a number"));
        h.insert("x-q", "-1".parse().unwrap());
        assert!(read(q, &h, "").unwrap_err().contains("0 or more"));
        assert_eq!(read(n, &h, r#"{"n": 2.0005}"#), Ok(2001));
        assert!(read(n, &h, "{}").unwrap_err().contains("no such value"));
    }
}
