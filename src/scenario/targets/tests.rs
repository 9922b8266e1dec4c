//! `targets:` and `tags:` through the whole pipeline: text in, plan or diagnostics out.

use std::path::Path;

use super::super::{Diagnostic, ScenarioError, parse_with_env};
use super::*;
use crate::metrics::verdict::{Aggregate, Metric, Op, Unit};

const HEAD: &str = "\
target: http://localhost:8080
scenarios:
  - name: browse
    steps:
      - get: /api/products
        tags: [api]
      - name: GET /api/products/ID
        get: /api/products/1
        tags: [api, detail]
      - get: /
        tags: [page]
  - name: buy
    steps:
      - post: /api/cart
load: {users: 10, duration: 1m}
";

fn plan(targets: &str) -> Plan {
    let text = format!("{HEAD}targets:\n{targets}");
    match parse_with_env(&text, Path::new("t.yaml"), &|_| None) {
        Ok(p) => p,
        Err(e) => panic!("{e}\n{text}"),
    }
}

fn problems(targets: &str) -> Vec<Diagnostic> {
    let text = format!("{HEAD}targets:\n{targets}");
    match parse_with_env(&text, Path::new("t.yaml"), &|_| None) {
        Err(ScenarioError::Invalid { diagnostics }) => diagnostics,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("loaded, but should have failed:\n{text}"),
    }
}

/// Line of the first target in a file made by [`plan`].
const FIRST: usize = 17;

fn one(targets: &str) -> Diagnostic {
    let mut d = problems(targets);
    assert_eq!(d.len(), 1, "{d:#?}");
    d.remove(0)
}

#[test]
fn steps_carry_their_tags() {
    let p = plan("  - p95 < 1s\n");
    let tags: Vec<&[String]> = p.scenarios[0]
        .steps
        .iter()
        .map(|s| s.tags.as_slice())
        .collect();
    assert_eq!(
        tags,
        [
            &["api".to_string()][..],
            &["api".into(), "detail".into()],
            &["page".into()]
        ]
    );
    assert!(p.scenarios[1].steps[0].tags.is_empty());
}

#[test]
fn bad_tags_are_refused() {
    let text = HEAD.replace("tags: [page]", "tags: [\"a page\", page, page]");
    let d = match parse_with_env(&text, Path::new("t.yaml"), &|_| None) {
        Err(ScenarioError::Invalid { diagnostics }) => diagnostics,
        other => panic!("{other:?}"),
    };
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].column), (11, 16));
    assert_eq!(d[0].key, "scenarios[0].steps[2].tags[0]");
}

#[test]
fn the_issue_example_compiles() {
    let p = plan(
        r#"  - p95 < 100ms
  - p99(step="GET /api/products/ID") < 250ms
  - mean(scenario="browse") < 80ms
  - p95(tag="api") < 100ms
  - error_rate < 0.1%
  - users >= 1000
  - { expr: "p95 < 200ms", after: 30s }
  - { expr: "error_rate < 1%", abort_on_fail: true, grace: 10s }
  - preset: phase9
"#,
    );
    assert_eq!(p.targets.len(), 8 + 5);
    let t = &p.targets[1];
    assert_eq!(
        t.target.expression,
        r#"p99(step="GET /api/products/ID") < 250ms"#
    );
    assert_eq!(
        (
            &t.target.metric,
            t.target.aggregate,
            &t.target.scope,
            t.target.op,
            t.target.threshold,
            t.target.unit
        ),
        (
            &Metric::ResponseTime,
            Some(Aggregate::Percentile(99.0)),
            &Scope::Step("GET /api/products/ID".into()),
            Op::Lt,
            250_000.0,
            Unit::Us
        )
    );
    assert_eq!(t.source(), &TargetSource::Scenario);
    let at = t.scope_at.as_ref().unwrap();
    assert_eq!((at.line, at.column), (FIRST + 1, 15));
    assert_eq!(p.targets[2].target.scope, Scope::Scenario("browse".into()));
    assert_eq!(p.targets[3].target.scope, Scope::Tag("api".into()));
    assert_eq!(p.targets[4].target.threshold, 0.001);
    assert_eq!(
        (
            p.targets[5].target.metric.clone(),
            p.targets[5].target.threshold
        ),
        (Metric::Users, 1000.0)
    );
    let w = &p.targets[6];
    assert_eq!(
        (w.target.after_us, w.target.abort_on_fail, w.target.grace_us),
        (Some(30_000_000), false, None)
    );
    let a = &p.targets[7];
    assert_eq!(
        (a.target.after_us, a.target.abort_on_fail, a.target.grace_us),
        (None, true, Some(10_000_000))
    );
    assert!(matches!(p.targets[8].source(), TargetSource::Preset { .. }));
    // The text the verdict shows is the enum's label, whatever the entry.
    for t in &p.targets {
        assert_eq!(t.target.source, t.source().label(), "{t:?}");
    }
    assert_eq!(p.targets[0].target.source, "scenario");
}

#[test]
fn the_phase9_preset_spells_out_its_kpis() {
    let p = plan("  - preset: phase9\n");
    let rows: Vec<(&str, &str, Option<f64>, Option<f64>)> = p
        .targets
        .iter()
        .map(|t| {
            let TargetSource::Preset { name, kpi } = t.source() else {
                panic!("{t:?}")
            };
            assert_eq!(name, "phase9");
            assert_eq!(t.scope_at, None);
            (
                kpi.as_str(),
                t.target.expression.as_str(),
                t.target.baseline,
                t.target.improvement_goal_pct,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "API response time",
                "mean(tag=\"api\") < 100ms",
                Some(250_000.0),
                Some(50.0)
            ),
            (
                "page load time",
                "mean(tag=\"page\") < 1s",
                Some(2_500_000.0),
                Some(60.0)
            ),
            (
                "database query time",
                "mean(server_timing=\"db\") < 50ms",
                Some(150_000.0),
                Some(50.0)
            ),
            ("concurrent users", "users >= 1000", Some(75.0), Some(900.0)),
            ("availability", "availability >= 99.9%", Some(0.95), None),
        ]
    );
    assert_eq!(
        p.targets[2].target.metric,
        Metric::ServerTiming("db".into())
    );
    assert_eq!(p.targets[4].target.threshold, 0.999);
}

#[test]
fn a_preset_default_tag_need_not_exist() {
    let text = HEAD
        .replace("tags: [api]", "")
        .replace("tags: [api, detail]", "");
    let text = format!("{text}targets: [{{preset: phase9}}]\n");
    let p = parse_with_env(&text, Path::new("t.yaml"), &|_| None).unwrap();
    assert_eq!(p.targets.len(), 5);
}

#[test]
fn the_preset_mapping_is_overridable_and_checked() {
    let p = plan(
        "  - preset: {name: phase9, api: {step: GET /api/products/ID}, page: {scenario: browse}, \
         database: {tag: api, server_timing: sql}, after: 30s}\n",
    );
    let exprs: Vec<&str> = p
        .targets
        .iter()
        .map(|t| t.target.expression.as_str())
        .collect();
    assert_eq!(
        exprs[..3],
        [
            "mean(step=\"GET /api/products/ID\") < 100ms",
            "mean(scenario=\"browse\") < 1s",
            "mean(tag=\"api\", server_timing=\"sql\") < 50ms",
        ]
    );
    assert!(p.targets[0].scope_at.is_some());
    assert!(
        p.targets
            .iter()
            .all(|t| t.target.after_us == Some(30_000_000))
    );
    let d = one("  - preset: {name: phase9, api: {tag: apii}}\n");
    assert_eq!((d.line, d.column), (FIRST, 39));
    assert_eq!(d.hint.as_deref(), Some("did you mean \"api\"?"));
    let d = one("  - preset: {name: phase9, api: {tag: api, step: x}}\n");
    assert!(d.found.contains("both `tag` and `step`"), "{d}");
    let d = one("  - preset: phase8\n");
    assert_eq!(
        (d.line, d.column, d.hint.as_deref()),
        (FIRST, 13, Some("did you mean \"phase9\"?"))
    );
    let d = one("  - preset: {name: phaze9}\n");
    assert_eq!((d.line, d.column), (FIRST, 20));
}

#[test]
fn unknown_names_point_into_the_expression() {
    let d = one("  - p99(step=\"GET /api/produts/ID\") < 250ms\n");
    assert_eq!((d.line, d.column), (FIRST, 15));
    assert_eq!(d.found, "unknown step \"GET /api/produts/ID\"");
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean \"GET /api/products/ID\"?")
    );
    let d = one("  - mean(scenario=\"brwse\") < 80ms\n");
    assert_eq!(
        (d.column, d.hint.as_deref()),
        (20, Some("did you mean \"browse\"?"))
    );
    let d = one("  - p95(tag=\"apii\") < 100ms\n");
    assert_eq!(
        (d.column, d.hint.as_deref()),
        (14, Some("did you mean \"api\"?"))
    );
    let d = one("  - p95(tag=\"zzz\") < 100ms\n");
    assert!(d.hint.unwrap().contains("\"api\", \"detail\", \"page\""));
    // Default step names are `METHOD path`.
    plan("  - p95(step=\"POST /api/cart\") < 1s\n  - p95(step=\"GET /\") < 1s\n");
}

#[test]
fn service_time_targets_compile_with_their_scopes_checked() {
    let p =
        plan("  - service_p95 < 50ms\n  - {expr: 'service_mean(tag=api) < 20ms', after: 10s}\n");
    let t = &p.targets[0];
    assert_eq!(
        (
            &t.target.metric,
            t.target.aggregate,
            t.target.threshold,
            t.target.unit
        ),
        (
            &Metric::ServiceTime,
            Some(Aggregate::Percentile(95.0)),
            50_000.0,
            Unit::Us
        )
    );
    let t = &p.targets[1];
    assert_eq!(
        (&t.target.metric, &t.target.scope, t.target.after_us),
        (
            &Metric::ServiceTime,
            &Scope::Tag("api".into()),
            Some(10_000_000)
        )
    );
    let d = one("  - service_p95(step=\"GET /nope\") < 1s\n");
    assert_eq!((d.line, d.column), (FIRST, 23));
    let d = one("  - service_avg < 1s\n");
    assert_eq!(d.hint.as_deref(), Some("write service_mean"));
}

#[test]
fn expression_errors_point_at_the_part_at_fault() {
    let d = one("  - p59x < 1s\n");
    assert_eq!((d.line, d.column), (FIRST, 5));
    assert!(d.to_string().contains("unknown metric \"p59x\""), "{d}");
    let d = one("  - error_rate < 100ms\n");
    assert_eq!(d.column, 18);
    assert!(d.to_string().contains("expected a percentage such as 0.1%"));
    let d = one("  - { expr: \"error_rate < 0%\" }\n");
    assert_eq!(d.column, 27);
    assert_eq!(d.key, "targets[0].expr");
    assert!(d.to_string().contains("a bound that some run could meet"));
    let d = one("  - p95 < 1s\n  - users >= many\n");
    assert_eq!((d.line, d.column), (FIRST + 1, 14));
}

#[test]
fn options_are_checked() {
    let d = one("  - {expr: \"p95 < 1s\", grace: 5s}\n");
    assert_eq!(d.key, "targets[0].grace");
    assert!(d.found.contains("without `abort_on_fail"));
    let d = one("  - {expr: \"p95 < 1s\", after: 30}\n");
    assert_eq!(d.key, "targets[0].after");
    let d = problems("  - {exp: \"p95 < 1s\"}\n");
    assert!(
        d.iter()
            .any(|d| d.to_string().contains("did you mean \"expr\"?")),
        "{d:#?}"
    );
    let d = one("  - 95\n");
    assert_eq!(d.key, "targets[0]");
}

#[test]
fn every_problem_is_reported() {
    let d = problems("  - p95 < 1%\n  - eror_rate < 1%\n  - p95(tag=\"nope\") < 1s\n");
    assert_eq!(d.len(), 3, "{d:#?}");
}

#[test]
fn a_targets_file_loads_alone_and_is_checked_against_a_plan() {
    let file = Path::new("shared.yaml");
    let text =
        "targets:\n  - p95(tag=\"api\") < 100ms\n  - p95(step=\"nope\") < 1s\n  - preset: phase9\n";
    let ts = parse_targets_str(text, file).unwrap();
    assert_eq!(ts.len(), 7);
    assert_eq!(ts[0].source(), &TargetSource::File(file.to_path_buf()));
    assert_eq!(ts[0].target.source, "targets file shared.yaml");
    let mut p = plan("  - p95 < 1s\n");
    let Err(ScenarioError::Invalid { diagnostics }) = p.add_targets(ts.clone()) else {
        panic!("names were not checked");
    };
    assert_eq!(diagnostics.len(), 1);
    let d = &diagnostics[0];
    assert_eq!((d.file.as_path(), d.line, d.column), (file, 3, 15));
    assert_eq!(p.targets.len(), 1);
    p.add_targets(
        ts.into_iter()
            .filter(|t| t.target.expression != "p95(step=\"nope\") < 1s")
            .collect(),
    )
    .unwrap();
    assert_eq!(p.targets.len(), 7);
}

#[test]
fn a_bad_targets_file_gets_the_same_diagnostics() {
    let d = match parse_targets_str("targets:\n  - p95 < 1%\n", Path::new("s.yaml")) {
        Err(ScenarioError::Invalid { diagnostics }) => diagnostics,
        other => panic!("{other:?}"),
    };
    assert_eq!((d[0].line, d[0].column), (2, 11));
    let d = match parse_targets_str("target:\n  - p95 < 1s\n", Path::new("s.yaml")) {
        Err(ScenarioError::Invalid { diagnostics }) => diagnostics,
        other => panic!("{other:?}"),
    };
    assert!(
        d[0].to_string().contains("did you mean \"targets\"?"),
        "{}",
        d[0]
    );
}

#[test]
fn verdict_targets_carry_every_field() {
    use crate::metrics::verdict::{Scope, Target};
    let text = "\
target: http://localhost:1
scenarios: [{name: a, steps: [{get: /, tags: [api]}]}]
load: {users: 1, duration: 1m}
targets:
  - {expr: 'p99.9(tag=\"api\") <= 250ms', after: 30s, abort_on_fail: true, grace: 10s}
  - preset: phase9
  - 'service_p95(step=\"GET /\") < 40ms'
";
    let plan = crate::scenario::parse_str(text, Path::new("t.yaml")).unwrap();
    let ts = plan.verdict_targets();
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
        TargetSource::File("shared.yaml".into()).label(),
        "targets file shared.yaml"
    );
}
