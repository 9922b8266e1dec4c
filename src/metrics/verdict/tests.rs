//! Targets evaluated on a hand-built run: five one-second intervals of four cells, the
//! first interval slow (the ramp-up).

use std::time::SystemTime;

use super::*;
use crate::metrics::accumulate::Accumulator;
use crate::metrics::recorder::{CellData, ErrorKind, IntervalData};
use crate::metrics::result::{Latency, RunInfo, RunStatus};
use crate::metrics::store::RunWriter;
use crate::metrics::window::{Interval, IntervalCell};

const MS: u64 = 1000;

fn cell(id: usize, scenario: &str, step: &str, tags: &[&str], checks: &[&str]) -> CellInfo {
    CellInfo {
        id,
        scenario: scenario.into(),
        step: step.into(),
        method: step.split(' ').next().unwrap().into(),
        tag: format!("{scenario}/{id}"),
        checks: checks.iter().map(|c| c.to_string()).collect(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

/// browse: `GET /api/products` [api], `GET /` [page]; buy: `GET /api/products` (untagged),
/// `POST /api/cart` [api] with one check.
fn cells() -> Vec<CellInfo> {
    vec![
        cell(0, "browse", "GET /api/products", &["api"], &[]),
        cell(1, "browse", "GET /", &["page"], &[]),
        cell(2, "buy", "GET /api/products", &[], &[]),
        cell(3, "buy", "POST /api/cart", &["api"], &["status 200"]),
    ]
}

/// `n` responses of `us` response time, `us / 2` service time and a `Server-Timing` entry
/// `db` of `us / 4`.
fn data(checks: usize, n: u64, us: u64) -> CellData {
    let mut d = CellData::new(checks);
    d.server_timing = vec![Hist::new()];
    for _ in 0..n {
        d.hist.record(us);
        d.service.record(us / 2);
        d.server_timing[0].record(us / 4);
    }
    d.requests = n;
    d.ok = n;
    d
}

/// Interval `i`: the first has only slow product requests.
fn interval(i: u64) -> IntervalData {
    if i == 0 {
        return vec![
            data(0, 10, 900 * MS),
            CellData::new(0),
            CellData::new(0),
            CellData::new(1),
        ];
    }
    let mut cart = data(1, 19, 30 * MS);
    cart.requests = 20;
    cart.ok = 17;
    cart.errors[ErrorKind::Timeout as usize] = 1;
    cart.check_failed = 2;
    cart.checks = vec![2];
    vec![
        data(0, 100, 20 * MS),
        data(0, 10, 500 * MS),
        data(0, 50, 40 * MS),
        cart,
    ]
}

fn run_info() -> RunInfo {
    RunInfo {
        id: "t-20250101T000000Z".into(),
        name: "t".into(),
        status: RunStatus::Complete,
        response_time_basis: "corrected".into(),
        started_at: "2025-01-01T00:00:00Z".into(),
        planned_duration_us: 5_000_000,
        max_users: 50,
        ..RunInfo::blank()
    }
}

fn users(i: u64) -> u64 {
    10 * (i + 1)
}

fn run() -> (RunResult, WindowData) {
    let mut acc = Accumulator::new(cells());
    acc.set_server_timing_names(crate::metrics::ServerTimingNames::from_names(["db"]));
    let mut w = WindowData::default();
    for i in 0..5 {
        let d = interval(i);
        acc.add_interval(i * 1_000_000, 1_000_000, users(i), &d);
        w.intervals.push(Interval {
            t_us: i * 1_000_000,
            duration_us: 1_000_000,
            users: users(i),
            cells: d
                .iter()
                .enumerate()
                .filter(|(_, c)| c.requests > 0)
                .map(|(id, c)| IntervalCell {
                    cell: id,
                    hist: c.hist.clone(),
                    service: c.service.clone(),
                    requests: c.requests,
                    errors: c.error_count(),
                    check_failed: c.check_failed,
                    check_failures: c.checks.clone(),
                    server_timing: c
                        .server_timing
                        .iter()
                        .map(|h| ("db".to_string(), h.clone()))
                        .collect(),
                })
                .collect(),
        });
    }
    let r = acc.finish(run_info(), serde_json::Value::Null, Vec::new());
    (r, w)
}

fn target(expression: &str, metric: Metric, agg: Option<Aggregate>, scope: Scope) -> Target {
    let (op, rest) = expression
        .split_once(' ')
        .map(|(_, r)| r.split_once(' ').unwrap())
        .unwrap();
    let op = match op {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        _ => Op::Ge,
    };
    let (threshold, unit) = if let Some(ms) = rest.strip_suffix("ms") {
        (ms.parse::<f64>().unwrap() * 1000.0, Unit::Us)
    } else if let Some(p) = rest.strip_suffix('%') {
        (p.parse::<f64>().unwrap() / 100.0, Unit::Ratio)
    } else if let Some(r) = rest.strip_suffix("/s") {
        (r.parse().unwrap(), Unit::PerSecond)
    } else {
        (rest.parse().unwrap(), Unit::Count)
    };
    Target {
        expression: expression.into(),
        source: "scenario".into(),
        metric,
        aggregate: agg,
        scope,
        after_us: None,
        op,
        threshold,
        unit,
        abort_on_fail: false,
        grace_us: None,
        baseline: None,
        improvement_goal_pct: None,
    }
}

fn p(n: f64) -> Option<Aggregate> {
    Some(Aggregate::Percentile(n))
}

fn step(n: &str) -> Scope {
    Scope::Step(n.into())
}

fn one(t: Target) -> TargetOutcome {
    let (r, w) = run();
    let v = evaluate(&r, &w, &[t]);
    v.targets.into_iter().next().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= b.abs() * 0.001 + 1e-9
}

#[test]
fn a_met_target_passes_with_its_margin_and_a_sentence() {
    let o = one(target(
        "p95 < 250ms",
        Metric::ResponseTime,
        p(95.0),
        step("GET /api/products"),
    ));
    assert_eq!(o.status, TargetStatus::Pass, "{o:?}");
    let m = o.measured.unwrap();
    assert!(close(m, 40_000.0), "{m}");
    assert!(close(o.margin.unwrap(), (250_000.0 - m) / 250_000.0));
    assert_eq!(
        o.detail,
        "p95 response time of step \"GET /api/products\" is 40 ms (limit < 250 ms)"
    );
    assert_eq!(
        (o.metric.as_str(), o.scope.as_str(), o.window.as_str()),
        ("response_time.p95", "step=GET /api/products", "whole run")
    );
}

#[test]
fn percentiles_come_from_merged_histograms_not_averages() {
    // 400 requests at 20 ms (browse) and 200 at 40 ms (buy) after the ramp: the merged p50
    // is 20 ms where the average of the cells' p50s would be 30 ms.
    let mut t = target(
        "p50 < 25ms",
        Metric::ResponseTime,
        p(50.0),
        step("GET /api/products"),
    );
    t.after_us = Some(1_000_000);
    let o = one(t);
    assert!(close(o.measured.unwrap(), 20_000.0), "{o:?}");
    assert_eq!(o.status, TargetStatus::Pass);
}

#[test]
fn a_window_leaves_the_slow_start_out() {
    let mut t = target(
        "max < 100ms",
        Metric::ResponseTime,
        Some(Aggregate::Max),
        step("GET /api/products"),
    );
    let whole = one(t.clone());
    assert_eq!(whole.status, TargetStatus::Fail);
    assert!(close(whole.measured.unwrap(), 900_000.0));
    assert!(whole.margin.unwrap() < 0.0);
    t.after_us = Some(1_000_000);
    let later = one(t);
    assert_eq!(later.status, TargetStatus::Pass, "{later:?}");
    assert!(close(later.measured.unwrap(), 40_000.0));
    assert_eq!(later.window, "after 1s");
    assert!(
        later.detail.contains("after 1s is 40 ms"),
        "{}",
        later.detail
    );
}

#[test]
fn a_missed_target_fails_the_verdict() {
    let (r, w) = run();
    let v = evaluate(
        &r,
        &w,
        &[
            target("error_rate < 0.1%", Metric::ErrorRate, None, Scope::Overall),
            target(
                "p50 < 1000ms",
                Metric::ResponseTime,
                p(50.0),
                Scope::Overall,
            ),
        ],
    );
    assert!(!v.passed);
    assert_eq!(v.run_id, r.run.id);
    let e = &v.targets[0];
    assert_eq!(e.status, TargetStatus::Fail);
    // 12 failures (4 timeouts, 8 failed checks) in 10 + 4 * 180 requests.
    assert!(close(e.measured.unwrap(), 12.0 / 730.0), "{e:?}");
    assert!(
        e.detail
            .starts_with("error rate of all requests is 1.644 %"),
        "{}",
        e.detail
    );
    assert_eq!(v.targets[1].status, TargetStatus::Pass);
    assert_eq!(v.failed().count(), 1);
}

#[test]
fn a_tag_no_step_has_is_not_measured() {
    let (r, w) = run();
    let v = evaluate(
        &r,
        &w,
        &[target(
            "p95 < 100ms",
            Metric::ResponseTime,
            p(95.0),
            Scope::Tag("nope".into()),
        )],
    );
    let o = &v.targets[0];
    assert_eq!(
        (o.status, o.measured, o.margin),
        (TargetStatus::NotMeasured, None, None)
    );
    assert!(
        o.detail
            .contains("not measured, no step tagged \"nope\" ran"),
        "{}",
        o.detail
    );
    assert!(!v.passed);
}

#[test]
fn server_timing_targets_read_the_named_entry() {
    let db = || Metric::ServerTiming("db".into());
    // Whole run: 10 entries of 225 ms, then 4 x (100 of 5 ms, 10 of 125 ms, 50 of 10 ms,
    // 19 of 7.5 ms): 11,820 ms over 726 entries.
    let o = one(target(
        "mean < 50ms",
        db(),
        Some(Aggregate::Mean),
        Scope::Overall,
    ));
    assert_eq!(o.status, TargetStatus::Pass, "{}", o.detail);
    assert_eq!(o.metric, "server_timing.db.mean");
    let m = o.measured.unwrap();
    let want = 11_820.0 / 726.0 * 1000.0;
    assert!((m - want).abs() / want < 0.002, "{m} vs {want}");
    assert!(
        o.detail
            .starts_with("mean of Server-Timing \"db\" of all requests is 16."),
        "{}",
        o.detail
    );
    // Windowed, by tag: after the first second, cells 0 and 3 (api): (500 + 142.5) / 119.
    let mut t = target(
        "mean < 5ms",
        db(),
        Some(Aggregate::Mean),
        Scope::Tag("api".into()),
    );
    t.after_us = Some(1_000_000);
    let o = one(t);
    assert_eq!(o.status, TargetStatus::Fail, "{}", o.detail);
    let want = 642.5 / 119.0 * 1000.0;
    assert!((o.measured.unwrap() - want).abs() / want < 0.002, "{o:?}");
    // The max of one step, whole run and windowed from 0 alike.
    let mut t = target("max < 1000ms", db(), Some(Aggregate::Max), step("GET /"));
    let whole = one(t.clone());
    t.after_us = Some(0);
    let from_zero = one(t);
    assert_eq!(whole.measured, from_zero.measured);
    assert!(
        (whole.measured.unwrap() - 125_000.0).abs() < 200.0,
        "{whole:?}"
    );
    // An entry no response carried.
    let o = one(target(
        "p95 < 50ms",
        Metric::ServerTiming("cache".into()),
        p(95.0),
        Scope::Overall,
    ));
    assert_eq!(o.status, TargetStatus::NotMeasured);
    assert!(
        o.detail
            .contains("no response carried a Server-Timing entry \"cache\""),
        "{}",
        o.detail
    );
}

#[test]
fn a_tag_merges_its_cells_even_when_a_step_name_is_split() {
    // `GET /api/products` is tagged in browse only: the whole-run total comes from the
    // intervals for that cell, and equals the window from 0.
    let t = target(
        "mean < 100ms",
        Metric::ResponseTime,
        Some(Aggregate::Mean),
        Scope::Tag("api".into()),
    );
    let whole = one(t.clone());
    let mut from0 = t;
    from0.after_us = Some(0);
    let windowed = one(from0);
    let mut h = Hist::new();
    for i in 0..5 {
        let d = interval(i);
        h.add(&d[0].hist);
        h.add(&d[3].hist);
    }
    assert!(close(whole.measured.unwrap(), h.mean()), "{whole:?}");
    assert_eq!(whole.measured, windowed.measured);
    // A scenario scope and a step tagged everywhere read the rows directly.
    let page = one(target(
        "p95 < 1000ms",
        Metric::ResponseTime,
        p(95.0),
        Scope::Tag("page".into()),
    ));
    assert!(close(page.measured.unwrap(), 500_000.0));
    let buy = one(target(
        "max < 100ms",
        Metric::ResponseTime,
        Some(Aggregate::Max),
        Scope::Scenario("buy".into()),
    ));
    assert!(close(buy.measured.unwrap(), 40_000.0), "{buy:?}");
}

#[test]
fn checks_rps_and_users() {
    let (r, w) = run();
    let mut windowed_checks = target("checks >= 90%", Metric::Checks, None, Scope::Overall);
    windowed_checks.after_us = Some(2_000_000);
    let mut users_t = target("users >= 1000", Metric::Users, None, Scope::Overall);
    users_t.baseline = Some(10.0);
    users_t.improvement_goal_pct = Some(900.0);
    let v = evaluate(
        &r,
        &w,
        &[
            target("checks >= 90%", Metric::Checks, None, Scope::Overall),
            windowed_checks,
            target("rps > 100/s", Metric::Rps, None, step("GET /")),
            users_t,
        ],
    );
    // 19 responses a second to the cart, 2 failing its check: 17/19.
    for o in &v.targets[..2] {
        assert!(close(o.measured.unwrap(), 17.0 / 19.0), "{o:?}");
        assert_eq!(o.status, TargetStatus::Fail);
    }
    let rps = &v.targets[2];
    assert!(close(rps.measured.unwrap(), 40.0 / 5.0), "{rps:?}");
    assert_eq!(
        rps.detail,
        "throughput of step \"GET /\" is 8/s (limit > 100/s)"
    );
    let u = &v.targets[3];
    assert_eq!(u.measured, Some(50.0));
    assert_eq!(u.improvement_pct, Some(400.0));
    assert_eq!(
        u.detail,
        "peak concurrent users is 50 (limit >= 1000); baseline 10, 400 % more (goal 900 %)"
    );
}

#[test]
fn baselines_give_the_improvement() {
    let mut t = target(
        "mean < 100ms",
        Metric::ResponseTime,
        Some(Aggregate::Mean),
        Scope::Tag("page".into()),
    );
    t.baseline = Some(2_500_000.0);
    t.improvement_goal_pct = Some(60.0);
    let o = one(t);
    assert!(close(o.improvement_pct.unwrap(), 80.0), "{o:?}");
    assert_eq!(o.status, TargetStatus::Fail);
    assert!(
        o.detail
            .ends_with("(limit < 100 ms); baseline 2.5 s, 80 % better (goal 60 %)"),
        "{}",
        o.detail
    );
}

#[test]
fn a_window_past_the_end_is_not_measured() {
    let mut t = target("p95 < 100ms", Metric::ResponseTime, p(95.0), Scope::Overall);
    t.after_us = Some(60_000_000);
    let o = one(t.clone());
    assert_eq!(o.status, TargetStatus::NotMeasured);
    assert!(
        o.detail.contains("no interval starting at or after 60s"),
        "{}",
        o.detail
    );
    let (r, _) = run();
    let v = evaluate(&r, &WindowData::default(), &[t]);
    assert!(v.targets[0].detail.contains("no interval data"));
}

#[test]
fn no_targets_pass() {
    let (r, w) = run();
    let v = evaluate(&r, &w, &[]);
    assert!(v.passed);
    assert_eq!(v.schema_version, SUMMARY_SCHEMA_VERSION);
}

/// Issue 12, defect 5: a run without targets in which nothing succeeded fails, saying why;
/// one success is enough to pass, and a run with targets is judged by them alone.
#[test]
fn issue_12_a_run_without_targets_fails_when_no_request_succeeded() {
    let (mut r, w) = run();
    let measured = r.overall.clone();
    let n = r.overall.requests;
    r.overall.ok = 0;
    r.overall.check_failed = 0;
    r.overall.errors = n;
    r.overall.errors_by_kind = [("connection_refused".to_string(), n)].into();
    let v = evaluate(&r, &w, &[]);
    assert!(!v.passed);
    let f = v.run_failed.as_ref().expect("a built-in failure");
    assert_eq!(f.kind, RunFailureKind::NoRequestSucceeded);
    assert_eq!(
        f.detail,
        format!("no request succeeded ({n} requests: {n} connection_refused)")
    );
    let json = serde_json::to_string(&v).unwrap();
    assert!(
        json.contains("\"run_failed\":{\"kind\":\"no_request_succeeded\""),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v);

    // Every check failed, the rest refused: largest share first.
    r.overall.check_failed = n - 1;
    r.overall.errors = 1;
    r.overall.errors_by_kind = [("connection_refused".to_string(), 1)].into();
    let v = evaluate(&r, &w, &[]);
    assert_eq!(
        v.run_failed.unwrap().detail,
        format!(
            "no request succeeded ({n} requests: {} failed a check, 1 connection_refused)",
            n - 1
        )
    );

    // Nothing was sent at all.
    r.overall = Summary::default();
    let v = evaluate(&r, &w, &[]);
    assert!(!v.passed);
    assert_eq!(
        v.run_failed.unwrap().detail,
        "no request succeeded: none was made"
    );
    // ... unless Ctrl-C stopped it first: an interruption, not a failure.
    let mut stopped = r.clone();
    stopped.run.status = crate::metrics::RunStatus::Interrupted;
    let v = evaluate(&stopped, &w, &[]);
    assert!(v.passed && v.run_failed.is_none(), "{v:?}");

    // One request that succeeded is enough.
    r.overall = measured;
    r.overall.ok = 1;
    r.overall.errors = n - 1;
    let v = evaluate(&r, &w, &[]);
    assert!(v.passed && v.run_failed.is_none(), "{v:?}");

    // With targets, the targets alone judge.
    r.overall.ok = 0;
    r.overall.errors = n;
    let t = target("users >= 1", Metric::Users, None, Scope::Overall);
    let v = evaluate(&r, &w, &[t]);
    assert!(v.passed && v.run_failed.is_none(), "{v:?}");
}

#[test]
fn a_results_folder_evaluates_like_the_data_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (r, w) = run();
    let mut initial = r.clone();
    initial.run.status = RunStatus::Running;
    let mut writer = RunWriter::create(dir.path(), &initial, SystemTime::now()).unwrap();
    writer.set_server_timing_names(crate::metrics::ServerTimingNames::from_names(["db"]));
    for i in 0..5 {
        writer
            .write_interval(i * 1_000_000, 1_000_000, users(i), &interval(i))
            .unwrap();
    }
    writer.write_result(&r).unwrap();
    let read = WindowData::from_dir(dir.path()).unwrap();
    assert_eq!(read, w);
    let mut t = target(
        "p99 < 100ms",
        Metric::ResponseTime,
        p(99.0),
        Scope::Tag("api".into()),
    );
    t.after_us = Some(1_000_000);
    assert_eq!(
        evaluate(&r, &read, std::slice::from_ref(&t)),
        evaluate(&r, &w, &[t])
    );
}

#[test]
fn targets_round_trip_through_json() {
    let mut t = target(
        "p99.9 < 1ms",
        Metric::ServerTiming("db".into()),
        p(99.9),
        step("x"),
    );
    t.after_us = Some(30_000_000);
    let j = serde_json::to_value(&t).unwrap();
    assert_eq!(j["op"], "<");
    assert_eq!(j["metric"]["server_timing"], "db");
    assert_eq!(j["scope"]["step"], "x");
    let back: Target = serde_json::from_value(j).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.metric_name(), "server_timing.db.p99.9");
}

#[test]
fn values_read_well() {
    assert_eq!(fmt_value(Unit::Us, 23_120.0), "23.1 ms");
    assert_eq!(fmt_value(Unit::Us, 250_000.0), "250 ms");
    assert_eq!(fmt_value(Unit::Us, 1_250_000.0), "1.25 s");
    assert_eq!(fmt_value(Unit::Us, 450.0), "0.45 ms");
    assert_eq!(fmt_value(Unit::Ratio, 0.001), "0.1 %");
    assert_eq!(fmt_value(Unit::PerSecond, 512.34), "512.3/s");
    assert_eq!(fmt_value(Unit::Count, 1000.0), "1000");
}

#[test]
fn service_time_targets_judge_the_raw_histograms() {
    let t = target(
        "p95 < 25ms",
        Metric::ServiceTime,
        p(95.0),
        step("GET /api/products"),
    );
    let o = one(t.clone());
    assert_eq!(o.status, TargetStatus::Pass, "{o:?}");
    assert!(close(o.measured.unwrap(), 20_000.0), "{o:?}");
    assert_eq!(o.metric, "service_time.p95");
    assert_eq!(
        o.detail,
        "p95 service time of step \"GET /api/products\" is 20 ms (limit < 25 ms)"
    );
    // The same bound on the response time fails: 40 ms.
    let r = one(Target {
        metric: Metric::ResponseTime,
        ..t.clone()
    });
    assert_eq!(r.status, TargetStatus::Fail);
    // Windows and tags read the service-time histograms of the intervals.
    let mut w = t.clone();
    w.after_us = Some(1_000_000);
    w.aggregate = Some(Aggregate::Max);
    let o = one(w);
    assert!(close(o.measured.unwrap(), 20_000.0), "{o:?}");
    let o = one(Target {
        scope: Scope::Tag("api".into()),
        aggregate: Some(Aggregate::Max),
        ..t
    });
    assert!(close(o.measured.unwrap(), 450_000.0), "{o:?}");
    assert!(Metric::ServiceTime.lower_is_better());
}

#[test]
fn a_service_time_target_on_an_older_run_is_not_measured() {
    let (mut r, w) = run();
    for s in &mut r.steps {
        s.summary.service_time = Latency::default();
    }
    let t = target(
        "p95 < 25ms",
        Metric::ServiceTime,
        p(95.0),
        step("GET /api/products"),
    );
    let v = evaluate(&r, &w, &[t]);
    let o = &v.targets[0];
    assert_eq!(o.status, TargetStatus::NotMeasured);
    assert!(
        o.detail.contains("no service time was recorded"),
        "{}",
        o.detail
    );
}

#[test]
fn checks_in_a_window_count_responses_not_corrected_samples() {
    // The closed model's correction adds response-time samples, not responses.
    let (r, mut w) = run();
    for i in &mut w.intervals {
        for c in &mut i.cells {
            let extra = c.hist.max();
            c.hist.record(extra);
            c.hist.record(extra);
        }
    }
    let mut t = target("checks >= 90%", Metric::Checks, None, Scope::Overall);
    t.after_us = Some(2_000_000);
    let v = evaluate(&r, &w, &[t]);
    assert!(close(v.targets[0].measured.unwrap(), 17.0 / 19.0), "{v:?}");
}
