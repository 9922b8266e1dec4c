//! The comparison's renderers on the report fixture: every format, and the caveats.

use super::*;
use crate::metrics::compare::{CompareOptions, compare};
use std::path::Path;

fn fixture() -> RunResult {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/report-fixture");
    crate::metrics::load_result(&dir).unwrap()
}

#[test]
fn identical_runs_render_no_regression() {
    let r = fixture();
    let c = compare(&r, &r, &CompareOptions::default());
    let t = text(&c);
    assert!(t.starts_with("endpoint"), "{t}");
    assert!(t.contains("POST /api/cart"), "{t}");
    assert!(t.lines().last().unwrap().starts_with("all requests"), "{t}");
    assert!(t.contains("within tolerance"), "{t}");
    let md = markdown(&c);
    assert!(
        md.starts_with("## ✅ Skein comparison: no regression"),
        "{md}"
    );
    assert!(md.contains("| p95 |"));
    assert!(verdict_lines(&c).contains("no regression"));
}

#[test]
fn html_is_self_contained_and_escaped() {
    let mut r = fixture();
    r.steps[0].name = "GET /<script>".into();
    let c = compare(&r, &r, &CompareOptions::default());
    let charts = render_charts(&r, &r, &c).unwrap();
    assert_eq!(charts.len(), 3);
    for ch in &charts {
        assert!(ch.svg.starts_with("<svg"), "{}", ch.name);
        assert!(ch.png.starts_with(b"\x89PNG"), "{}", ch.name);
    }
    let h = html(&c, &charts);
    assert!(h.contains("GET /&lt;script&gt;"));
    assert!(!h.contains("<script"));
    assert_eq!(h.matches("<svg").count(), 3);
    assert!(h.contains("NO REGRESSION"));
}

mod caveats {
    use super::*;
    use crate::metrics::verdict::{Metric, Op, Scope, Unit};
    use crate::report::fixtures;

    #[test]
    fn runs_measured_alike_have_no_caveat() {
        let (a, _) = fixtures::closed();
        assert!(caveats(&a, &a, None).is_empty());
        let (old, _) = fixtures::old();
        assert!(caveats(&old, &old, None).is_empty());
        let t = [target("p95 < 100ms")];
        assert!(caveats(&a, &a, Some((&t, &t))).is_empty());
    }

    #[test]
    fn different_response_times_and_saturation_are_named() {
        let (old, _) = fixtures::old();
        let (closed, _) = fixtures::closed();
        let n = caveats(&old, &closed, None);
        assert_eq!(n.len(), 1, "{n:#?}");
        assert!(
            n[0].contains("the baseline shows raw response times"),
            "{}",
            n[0]
        );
        assert!(n[0].contains(
            "the candidate response time (corrected for coordinated omission) (closed model)"
        ));
        let c = crate::metrics::compare::compare(&old, &closed, &Default::default());
        let md = markdown_with(&c, &n);
        assert!(md.contains("> [!WARNING]\n> The runs measure response time differently"));
        assert!(!markdown(&c).contains("[!WARNING]"));

        // A closed run against a saturated open one: the model, then the saturation.
        let (open, _) = fixtures::saturated();
        let n = caveats(&old, &open, None);
        assert_eq!(n.len(), 2, "{n:#?}");
        assert_eq!(
            n[0],
            "the runs used different load models: the baseline closed, 50 users, the \
             candidate open, 130/s; what response time measures and the load the target saw \
             differ, so the deltas mix the two"
        );
        assert!(n[1].starts_with("the candidate's generator was saturated"));
    }

    fn target(expression: &str) -> Target {
        Target {
            expression: expression.into(),
            source: "scenario".into(),
            metric: Metric::ResponseTime,
            aggregate: None,
            scope: Scope::Overall,
            after_us: None,
            op: Op::Lt,
            threshold: 1.0,
            unit: Unit::Us,
            abort_on_fail: false,
            grace_us: None,
            baseline: None,
            improvement_goal_pct: None,
        }
    }

    /// Issue 12, defect 11: `compare` said nothing when the two runs had different users,
    /// arrival rates, durations or targets; each is a caveat now, at the top of
    /// `compare.md` and `compare.html` (and a `warning:` line from the CLI).
    #[test]
    fn issue_12_different_users_rates_durations_and_targets_are_named() {
        let (base, _) = fixtures::closed();
        let mut cand = base.clone();
        cand.run.max_users = 100;
        cand.run.planned_duration_us = 90_000_000;
        let n = caveats(&base, &cand, None);
        assert_eq!(
            n,
            [
                "the runs had different numbers of users: 50 in the baseline, 100 in the \
                 candidate; latency and throughput depend on the load, so the deltas do not \
                 compare like for like",
                "the runs were planned for different durations: 1m in the baseline, 1m30s in \
                 the candidate; a longer run reaches further into the tail, so high \
                 percentiles do not compare like for like"
            ]
        );

        let (base, _) = fixtures::open();
        let mut cand = base.clone();
        if let Some(o) = cand.run.open_model.as_mut() {
            o.peak_rate = 262.5;
            o.max_users = 500;
        }
        cand.run.max_users = 500;
        let n = caveats(&base, &cand, None);
        assert_eq!(n.len(), 1, "{n:#?}");
        assert!(
            n[0].starts_with(
                "the runs had different arrival rates: 130/s in the baseline, 262.5/s in the \
                 candidate;"
            ),
            "{}",
            n[0]
        );

        let (base, _) = fixtures::closed();
        let a = [target("p95 < 100ms"), target("error_rate < 1%")];
        let b = [
            target("error_rate < 1%"),
            target("p99 < 250ms"),
            target("p50 < 20ms"),
            target("p90 < 50ms"),
            target("max < 1s"),
        ];
        let n = caveats(&base, &base, Some((&a, &b)));
        assert_eq!(
            n,
            [
                "the runs were judged by different targets: only the baseline had `p95 < \
                 100ms`; only the candidate had `p99 < 250ms`, `p50 < 20ms`, `p90 < 50ms`, 1 \
                 more; their verdicts do not compare"
            ]
        );
        let n = caveats(&base, &base, Some((&[], &a)));
        assert!(
            n[0].contains("the baseline had none; only the candidate had `p95 < 100ms`"),
            "{n:?}"
        );
        // The same targets in another order are the same targets.
        let rev = [target("error_rate < 1%"), target("p95 < 100ms")];
        assert!(caveats(&base, &base, Some((&a, &rev))).is_empty());

        let c = crate::metrics::compare::compare(&base, &base, &Default::default());
        let md = markdown_with(&c, &n);
        assert!(
            md.contains("> [!WARNING]\n> The runs were judged by different targets"),
            "{md}"
        );
        let html = html_with(&c, &[], &n);
        assert!(html.contains("<div class=\"callout\">The runs were judged by different targets"));
    }
}
