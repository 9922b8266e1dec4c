//! Scenario targets in the terms of the measurements: [`TargetPlan`] ->
//! [`metrics::verdict::Target`](Target). It lives here because `scenario` and `metrics` may
//! not use each other; `cli` sits at the edge and may use both.

use std::path::Path;

use crate::metrics::verdict::{Aggregate, Metric, Op, Scope, Target};
use crate::metrics::{self, MetricsError, Unit, Verdict, WindowData};
use crate::scenario::{self, TargetPlan, TargetSource};

/// One target as the evaluation takes it.
pub fn to_metrics(t: &TargetPlan) -> Target {
    Target {
        expression: t.expression.clone(),
        source: source_label(&t.source),
        metric: match &t.metric {
            scenario::TargetMetric::ResponseTime => Metric::ResponseTime,
            scenario::TargetMetric::ServiceTime => Metric::ServiceTime,
            scenario::TargetMetric::ErrorRate => Metric::ErrorRate,
            scenario::TargetMetric::Checks => Metric::Checks,
            scenario::TargetMetric::Rps => Metric::Rps,
            scenario::TargetMetric::Users => Metric::Users,
            scenario::TargetMetric::ServerTiming(n) => Metric::ServerTiming(n.clone()),
        },
        aggregate: t.aggregate.map(|a| match a {
            scenario::Aggregate::Mean => Aggregate::Mean,
            scenario::Aggregate::Max => Aggregate::Max,
            scenario::Aggregate::Percentile(p) => Aggregate::Percentile(p),
        }),
        scope: match &t.scope {
            scenario::TargetScope::Overall => Scope::Overall,
            scenario::TargetScope::Step(n) => Scope::Step(n.clone()),
            scenario::TargetScope::Scenario(n) => Scope::Scenario(n.clone()),
            scenario::TargetScope::Tag(n) => Scope::Tag(n.clone()),
        },
        after_us: t.after.map(micros),
        op: match t.op {
            scenario::TargetOp::Lt => Op::Lt,
            scenario::TargetOp::Le => Op::Le,
            scenario::TargetOp::Gt => Op::Gt,
            scenario::TargetOp::Ge => Op::Ge,
        },
        threshold: t.threshold,
        unit: match t.unit {
            scenario::TargetUnit::Micros => Unit::Us,
            scenario::TargetUnit::Ratio => Unit::Ratio,
            scenario::TargetUnit::PerSecond => Unit::PerSecond,
            scenario::TargetUnit::Count => Unit::Count,
        },
        abort_on_fail: t.abort_on_fail,
        grace_us: t.grace.map(micros),
        baseline: t.baseline,
        improvement_goal_pct: t.improvement_goal_pct,
    }
}

/// Every target of a plan.
pub fn all(targets: &[TargetPlan]) -> Vec<Target> {
    targets.iter().map(to_metrics).collect()
}

/// `scenario`, `targets file <path>`, `preset phase9: API response time`.
pub fn source_label(s: &TargetSource) -> String {
    match s {
        TargetSource::Scenario => "scenario".into(),
        TargetSource::File(p) => format!("targets file {}", p.display()),
        TargetSource::Preset { name, kpi } => format!("preset {name}: {kpi}"),
    }
}

/// The verdict of the run in `dir` against `targets`: totals from its `result.json`,
/// windows from its interval journal and log.
pub fn evaluate_dir(dir: &Path, targets: &[TargetPlan]) -> Result<Verdict, MetricsError> {
    let result = metrics::load_result(dir)?;
    let windows = WindowData::from_dir(dir)?;
    Ok(metrics::evaluate(&result, &windows, &all(targets)))
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn every_field_carries_over() {
        let text = "\
target: http://localhost:1
scenarios: [{name: a, steps: [{get: /, tags: [api]}]}]
load: {users: 1, duration: 1m}
targets:
  - {expr: 'p99.9(tag=\"api\") <= 250ms', after: 30s, abort_on_fail: true, grace: 10s}
  - preset: phase9
  - 'service_p95(step=\"GET /\") < 40ms'
";
        let plan = scenario::parse_str(text, Path::new("t.yaml")).unwrap();
        let ts = all(&plan.targets);
        assert_eq!(
            ts[0],
            Target {
                expression: "p99.9(tag=\"api\") <= 250ms".into(),
                source: "scenario".into(),
                metric: Metric::ResponseTime,
                aggregate: Some(Aggregate::Percentile(99.9)),
                scope: Scope::Tag("api".into()),
                after_us: Some(30_000_000),
                op: Op::Le,
                threshold: 250_000.0,
                unit: Unit::Us,
                abort_on_fail: true,
                grace_us: Some(10_000_000),
                baseline: None,
                improvement_goal_pct: None,
            }
        );
        assert_eq!(ts[1].source, "preset phase9: API response time");
        assert_eq!(ts[1].baseline, Some(250_000.0));
        assert_eq!(ts[3].metric, Metric::ServerTiming("db".into()));
        assert_eq!(
            (ts[4].metric.clone(), ts[4].unit),
            (Metric::Users, Unit::Count)
        );
        assert_eq!(ts[5].unit, Unit::Ratio);
        assert_eq!(
            (
                ts[6].metric.clone(),
                ts[6].aggregate,
                ts[6].scope.clone(),
                ts[6].threshold
            ),
            (
                Metric::ServiceTime,
                Some(Aggregate::Percentile(95.0)),
                Scope::Step("GET /".into()),
                40_000.0
            )
        );
        assert_eq!(ts[6].metric_name(), "service_time.p95");
        assert_eq!(
            source_label(&TargetSource::File("shared.yaml".into())),
            "targets file shared.yaml"
        );
    }
}
