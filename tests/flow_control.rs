//! Flow control (`if`, `repeat`, `while`, `choose`) and groups, over real loopback HTTP
//! against the embedded demo (port 0) with known service times. One user per run where
//! counts are compared, so the only slack is the one iteration the end of the run cuts
//! short. goose keeps process-global state, so attacks run one at a time.

use std::path::Path;
use std::time::Duration;

use skein::demo::{self, DemoConfig, RouteConfig};
use skein::engine::{self, RunOptions};
use skein::metrics::verdict::{self, TargetStatus};
use skein::metrics::{GROUP_METHOD, RunResult};
use skein::scenario;

static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn demo(route: Option<(&str, Duration)>) -> demo::DemoServer {
    let mut config = DemoConfig {
        workers: 64,
        ..DemoConfig::default()
    };
    if let Some((r, d)) = route {
        config = config.with_route(r, RouteConfig::fixed(d));
    }
    demo::serve("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

fn plan(yaml: &str, base_url: &str) -> scenario::Plan {
    let text = format!("target: {base_url}\n{yaml}");
    scenario::parse_str(&text, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

async fn run(
    yaml: &str,
    server: &demo::DemoServer,
    out: &Path,
) -> (scenario::Plan, RunResult, std::path::PathBuf) {
    let p = plan(yaml, &server.url());
    let dir = engine::results_dir(out, &p).unwrap();
    let r = engine::run(&p, RunOptions::new(dir.clone(), &server.url()))
        .await
        .unwrap();
    (p, r, dir)
}

/// Requests of the step row `name` (0 when it has no row or no request).
fn count(r: &RunResult, name: &str) -> u64 {
    r.step(name).map_or(0, |s| s.summary.requests)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// `n` is `per` times `iterations`, but for the last iteration of each of `users`, which
/// the end of the run may cut anywhere.
fn about(n: u64, per: u64, iterations: u64, what: &str) {
    about_of(n, per, iterations, 1, what)
}

fn about_of(n: u64, per: u64, iterations: u64, users: u64, what: &str) {
    let lo = per * iterations.saturating_sub(users);
    let hi = per * iterations;
    assert!(
        (lo..=hi).contains(&n),
        "{what}: {n} requests, expected {per} x {iterations} iterations (less {users})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_on_status_and_variables_picks_the_branch_and_repeat_sends_three() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo(None).await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
variables: {mode: fast}
scenarios:
  - name: s
    steps:
      - name: missing
        get: /api/products/9999
        check: {status: 404}
      - if: {status: 200}
        then: [{name: never, get: /health}]
        else: [{name: on 404, get: /health}]
      # The last status is now /health's 200.
      - if: {status: "2xx"}
        then: [{name: on 2xx, get: /health}]
      - if: {var: mode, equals: fast}
        then: [{name: mode fast, get: /health}]
        else: [{name: mode other, get: /health}]
      - if: {var: mode, not_equals: fast}
        then: [{name: mode not fast, get: /health}]
      - repeat: 3
        steps: [{name: thrice, get: /health}]
load: {users: 1, duration: 2s}
"#;
    let (_, r, _) = run(yaml, &server, out.path()).await;
    let iterations = count(&r, "missing");
    eprintln!("{iterations} iterations");
    assert!(iterations >= 20, "{iterations} iterations");
    assert_eq!(count(&r, "never"), 0);
    assert_eq!(count(&r, "mode other"), 0);
    assert_eq!(count(&r, "mode not fast"), 0);
    for name in ["on 404", "on 2xx", "mode fast"] {
        about(count(&r, name), 1, iterations, name);
    }
    about(count(&r, "thrice"), 3, iterations, "thrice");
    assert_eq!(r.overall.errors + r.overall.check_failed, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_stops_at_its_bound_and_on_its_condition() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo(None).await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    steps:
      - name: start
        get: /api/products/9999
        check: {status: 404}
      # Always 404: stops at its bound.
      - while: {status: 404}
        max: 4
        steps:
          - name: bounded
            get: /api/products/9999
            check: {status: 404}
      - name: ok
        get: /health
      # 200 once, then 404: stops on its condition after one pass.
      - while: {status: 200}
        max: 50
        steps:
          - name: once
            get: /api/products/9999
            check: {status: 404}
load: {users: 1, duration: 2s}
"#;
    let (_, r, _) = run(yaml, &server, out.path()).await;
    let iterations = count(&r, "start");
    eprintln!("{iterations} iterations");
    // Seven requests of about 20 ms (the demo's product route) an iteration.
    assert!(iterations >= 8, "{iterations} iterations");
    about(count(&r, "bounded"), 4, iterations, "bounded");
    about(count(&r, "once"), 1, iterations, "once");
    assert_eq!(r.overall.errors + r.overall.check_failed, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choose_picks_branches_by_weight() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo(None).await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    steps:
      - choose:
          - weight: 3
            steps: [{name: heavy, get: /health}]
          - weight: 1
            steps: [{name: light, get: /health}]
          - weight: 1
            steps: []
load: {users: 2, duration: 2s}
"#;
    let (_, r, _) = run(yaml, &server, out.path()).await;
    let (heavy, light) = (count(&r, "heavy"), count(&r, "light"));
    let n = heavy + light;
    let share = heavy as f64 / n as f64;
    eprintln!("heavy {heavy}, light {light}: {:.1} % heavy", share * 100.0);
    // 3:1 between the two that send (the empty branch sends nothing). With the seeded
    // generator and at least 400 picks, 7 points are over 5 standard deviations.
    assert!(n >= 400, "{n} picks");
    assert!((share - 0.75).abs() < 0.07, "{:.3} heavy", share);
    assert_eq!(r.overall.errors, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_two_20ms_steps_reports_40ms_and_is_a_target() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo(Some(("product", Duration::from_millis(20)))).await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    steps:
      - name: before
        get: /health
      - group: checkout
        steps:
          - name: first
            get: /api/products/1
          - if: {status: 200}
            then:
              - name: second
                get: /api/products/2
load: {users: 4, duration: 3s}
targets:
  - p50(group="checkout") < 60ms
  - p50(group="checkout") < 30ms
"#;
    let (p, r, dir) = run(yaml, &server, out.path()).await;
    let row = r.step("checkout").expect("a row for the group");
    let g = &row.summary;
    eprintln!(
        "group checkout: {} passes, p50 {:.1} ms, p95 {:.1} ms, min {:.1} ms",
        g.requests,
        ms(g.response_time.p50_us),
        ms(g.response_time.p95_us),
        ms(g.response_time.min_us)
    );
    // The group is its own GROUP cell, out of the request totals.
    let cells: Vec<_> = r.cells.iter().filter(|c| c.step == "checkout").collect();
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0].method, GROUP_METHOD);
    let sent = count(&r, "before") + count(&r, "first") + count(&r, "second");
    assert_eq!(r.overall.requests, sent);
    about_of(g.requests, 1, count(&r, "first"), 4, "group passes");
    // Two 20 ms requests one after the other: 40 ms, plus loopback.
    assert!(
        (40_000..=46_000).contains(&g.response_time.p50_us),
        "group p50 {:.2} ms, expected 40 ms",
        ms(g.response_time.p50_us)
    );
    assert!(g.response_time.min_us >= 40_000);
    assert_eq!(g.errors, 0);
    // The targets on the group: 40 ms passes `< 60ms` and fails `< 30ms`.
    let targets: Vec<_> = p.targets.iter().map(|t| t.target.clone()).collect();
    let v = verdict::evaluate_dir(&dir, &targets).unwrap();
    let status: Vec<TargetStatus> = v.targets.iter().map(|t| t.status).collect();
    assert_eq!(status, [TargetStatus::Pass, TargetStatus::Fail], "{v:#?}");
    server.shutdown().await;
}

/// Open model: the iteration's response time runs from its intended start on the first
/// request it actually sends. One user, a ticket every 50 ms, an iteration of about 100 ms:
/// the tickets queue, and the wait shows on `first` (which follows an `if` that sends
/// nothing), not on `second`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_lateness_goes_to_the_first_request_sent() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo(Some(("product", Duration::from_millis(100)))).await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
variables: {mode: fast}
scenarios:
  - name: s
    steps:
      - if: {var: mode, equals: slow}
        then: [{name: never, get: /health}]
      - name: first
        get: /api/products/1
      - name: second
        get: /health
load: {arrival_rate: 20/s, duration: 2s, max_users: 1, pre_allocated: 1, graceful_stop: 1s}
"#;
    let (_, r, _) = run(yaml, &server, out.path()).await;
    let first = &r.step("first").unwrap().summary;
    let second = &r.step("second").unwrap().summary;
    eprintln!(
        "first: response p50 {:.1} ms, service p50 {:.1} ms; second: response p95 {:.1} ms",
        ms(first.response_time.p50_us),
        ms(first.service_time.p50_us),
        ms(second.response_time.p95_us)
    );
    assert_eq!(count(&r, "never"), 0);
    assert!(first.requests >= 8, "{} requests", first.requests);
    // Half the tickets wait: by the middle of the run, about half a second each.
    assert!(
        first.response_time.p50_us >= first.service_time.p50_us + 150_000,
        "the wait for the ticket is missing from `first`"
    );
    assert!(ms(second.response_time.p95_us) < 50.0);
    server.shutdown().await;
}
