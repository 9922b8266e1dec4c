//! The run pipeline without a network: the synthetic driver records made-up samples and
//! the engine does everything else as for a real run: the harvest and its subscribers, the
//! stop (at the plan's end, and early), the results folder, then the verdict on the
//! result. Each run takes milliseconds (ticks of 10 ms instead of a second).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use skein::engine::driver::testing::Synthetic;
use skein::engine::{self, EngineError, RunOptions, Second, Subscriber};
use skein::metrics::{self, RunResult, RunStatus, StopReason, WindowData};
use skein::scenario::{self, Plan};

/// Two steps, four users, `ms` milliseconds.
fn plan(ms: u64) -> Plan {
    let yaml = "name: pipeline\ntarget: http://127.0.0.1:9\nscenarios:\n  - name: shop\n    \
                steps:\n      - get: /a\n      - get: /b\nload:\n  users: 4\n  duration: 1s\n";
    let mut p = scenario::parse_str(yaml, Path::new("pipeline.yaml")).unwrap();
    p.load.set_duration(Duration::from_millis(ms));
    p
}

/// What a subscriber saw: each second's (start, length, requests), and the result's
/// requests.
#[derive(Default)]
struct Seen {
    seconds: Vec<(u64, u64, u64)>,
    finished: Option<u64>,
}

struct Recording(Arc<Mutex<Seen>>);

impl Subscriber for Recording {
    fn second(&mut self, s: &Second<'_>) -> Result<(), EngineError> {
        let mut seen = self.0.lock().unwrap();
        seen.seconds.push((s.t_us, s.duration_us, s.point.requests));
        Ok(())
    }

    fn finish(&mut self, r: &RunResult) -> Result<(), EngineError> {
        self.0.lock().unwrap().finished = Some(r.overall.requests);
        Ok(())
    }
}

fn options(dir: &Path, seen: &Arc<Mutex<Seen>>) -> RunOptions {
    let mut opts = RunOptions::new(dir.to_path_buf(), "http://127.0.0.1:9");
    opts.tick = Duration::from_millis(10);
    opts.threads = Some(1);
    opts.subscribers.push(Box::new(Recording(seen.clone())));
    opts
}

fn target(
    expression: &str,
    metric: &str,
    aggregate: serde_json::Value,
    threshold: f64,
    unit: &str,
) -> metrics::verdict::Target {
    serde_json::from_value(json!({
        "expression": expression, "source": "scenario", "metric": metric,
        "aggregate": aggregate, "scope": "overall", "after_us": null, "op": "<",
        "threshold": threshold, "unit": unit, "abort_on_fail": false, "grace_us": null,
        "baseline": null, "improvement_goal_pct": null,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_run_goes_from_driver_to_verdict_in_milliseconds() {
    let out = tempfile::tempdir().unwrap();
    let p = plan(40);
    let dir = engine::results_dir(out.path(), &p).unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut driver = Synthetic::new(
        20_000.0,
        vec![Duration::from_millis(2), Duration::from_millis(5)],
    );
    driver.fail_every = Some(10);
    let driver = Arc::new(driver);
    let t = Instant::now();
    let r = engine::run_with(&p, options(&dir, &seen), driver.clone())
        .await
        .unwrap();
    let elapsed = t.elapsed();
    eprintln!("pipeline run: {elapsed:?}");
    // Loosely: a 40 ms plan (about 70 ms in all), on a machine that may be busy.
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    assert_eq!(r.run.status, RunStatus::Complete);
    assert_eq!(r.run.stop_reason, None);
    assert!(r.run.duration_us >= 40_000, "{}", r.run.duration_us);
    // Every sample recorded is in the totals, and in the seconds the subscribers saw.
    let recorded = driver.recorded();
    assert!(recorded > 100, "{recorded}");
    assert_eq!(r.overall.requests, recorded);
    let seen = seen.lock().unwrap();
    assert!(seen.seconds.len() >= 4, "{:?}", seen.seconds);
    assert_eq!(seen.seconds.iter().map(|s| s.2).sum::<u64>(), recorded);
    assert_eq!(seen.finished, Some(recorded));
    // Back to back: each second starts where the one before ended.
    for w in seen.seconds.windows(2) {
        assert_eq!(w[0].0 + w[0].1, w[1].0, "{:?}", seen.seconds);
    }
    assert_eq!(r.run.peak_users, 4);
    assert_eq!(r.steps.len(), 2);
    let kinds: Vec<&str> = r.error_examples.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"http_5xx"), "{:?}", r.error_examples);

    // The folder holds what was returned, and each second in its journal.
    let stored = metrics::load_result(&dir).unwrap();
    assert_eq!(stored.overall.requests, recorded);
    assert_eq!(stored.run.status, RunStatus::Complete);
    let journal = metrics::read_journal(&dir).unwrap();
    assert_eq!(journal.len(), seen.seconds.len());
    assert!(
        !metrics::read_hlog(&dir.join("latency.hlog"))
            .unwrap()
            .is_empty()
    );

    // The verdict: response times well under 50 ms pass; 10 % errors fail a 1 % target.
    let targets = [
        target(
            "p95 < 50ms",
            "response_time",
            json!({"percentile": 95.0}),
            50_000.0,
            "us",
        ),
        target("error_rate < 1%", "error_rate", json!(null), 0.01, "ratio"),
    ];
    let v = metrics::evaluate(&r, &WindowData::default(), &targets);
    let status: Vec<_> = v.targets.iter().map(|t| t.status).collect();
    assert_eq!(
        status,
        [metrics::TargetStatus::Pass, metrics::TargetStatus::Fail],
        "{v:?}"
    );
    assert!(!v.passed);
    eprintln!("pipeline test, run to verdict: {:?}", t.elapsed());
}

#[tokio::test]
async fn an_abort_check_stops_the_run_early() {
    let out = tempfile::tempdir().unwrap();
    let p = plan(30_000);
    let dir = engine::results_dir(out.path(), &p).unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut opts = options(&dir, &seen);
    opts.abort = Some(Box::new(|so_far: &RunResult| {
        (so_far.overall.requests > 0).then(|| StopReason::TargetFailed {
            target: "requests < 1".into(),
            detail: format!("{} requests", so_far.overall.requests),
        })
    }));
    let driver = Arc::new(Synthetic::new(10_000.0, vec![Duration::from_millis(1)]));
    let t = Instant::now();
    let r = engine::run_with(&p, opts, driver.clone()).await.unwrap();
    // Stopped within a few ticks, not after the plan's 30 s.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(r.run.status, RunStatus::Interrupted);
    assert!(
        matches!(&r.run.stop_reason, Some(StopReason::TargetFailed { target, .. }) if target == "requests < 1"),
        "{:?}",
        r.run.stop_reason
    );
    assert_eq!(r.overall.requests, driver.recorded());
    // result.json holds the reason as the sentence it has always been.
    let text = std::fs::read_to_string(dir.join("result.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reason = json["run"]["stop_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("aborted: target `requests < 1` failed ("),
        "{reason}"
    );
    assert_eq!(
        metrics::load_result(&dir).unwrap().run.stop_reason,
        r.run.stop_reason
    );
}

/// Fails on its second second.
struct FailsSecond(u32);

impl Subscriber for FailsSecond {
    fn second(&mut self, _: &Second<'_>) -> Result<(), EngineError> {
        self.0 += 1;
        match self.0 {
            2 => Err(EngineError::Config("the exporter went away".into())),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn a_failing_subscriber_stops_the_run_and_its_error_is_returned() {
    let out = tempfile::tempdir().unwrap();
    let p = plan(30_000);
    let dir = engine::results_dir(out.path(), &p).unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut opts = options(&dir, &seen);
    opts.subscribers.push(Box::new(FailsSecond(0)));
    let stop = opts.stop.clone();
    let driver = Arc::new(Synthetic::new(10_000.0, vec![Duration::from_millis(1)]));
    let t = Instant::now();
    let run = engine::run_with(&p, opts, driver.clone());
    let r = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends");
    // Within a few ticks, not after the plan's 30 s.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let Err(e) = r else {
        panic!("a result, not the subscriber's error")
    };
    assert!(e.to_string().contains("the exporter went away"), "{e}");
    // The users were stopped, and have ended.
    assert_eq!(stop.level(), engine::StopLevel::Hard);
    let recorded = driver.recorded();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(driver.recorded(), recorded);
    // What was measured is written, the run marked interrupted (not left `running`), and
    // every subscriber got the result.
    let stored = metrics::load_result(&dir).unwrap();
    assert_eq!(stored.run.status, RunStatus::Interrupted);
    assert_eq!(stored.overall.requests, recorded);
    let reason = format!("{:?}", stored.run.stop_reason);
    assert!(reason.contains("the exporter went away"), "{reason}");
    assert_eq!(seen.lock().unwrap().finished, Some(recorded));
}
