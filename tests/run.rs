//! The core run path end to end over real loopback HTTP: scenario text -> plan -> goose swarm
//! against the embedded demo target (port 0) -> results folder. goose keeps process-global
//! state, so attacks here run one at a time under `ONE_ATTACK`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use skein::demo::{self, DemoConfig, RouteConfig};
use skein::engine::{self, RunOptions};
use skein::metrics::{self, ErrorKind, Hist, RunResult, RunStatus};
use skein::scenario;

static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Parse `yaml` and run it against `base_url`, writing into `out`.
async fn run_yaml(yaml: &str, base_url: &str, out: &Path) -> RunResult {
    let text = format!("target: {base_url}\n{yaml}");
    let plan = scenario::parse_str(&text, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let dir = engine::results_dir(out, &plan).unwrap();
    engine::run(&plan, RunOptions::new(dir, base_url))
        .await
        .unwrap()
}

async fn demo_with(route: &str, cfg: RouteConfig, workers: usize) -> demo::DemoServer {
    let config = DemoConfig {
        workers,
        ..DemoConfig::default()
    }
    .with_route(route, cfg);
    demo::serve(loopback(), config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_20ms_route_reports_p50_between_20_and_23ms() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo_with(
        "product",
        RouteConfig::fixed(Duration::from_millis(20)),
        256,
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: detail
    steps:
      - name: product
        get: /api/products/7
        check: { status: 200 }
load: { users: 20, duration: 3s }
"#;
    let r = run_yaml(yaml, &server.url(), out.path()).await;
    let s = r.step("product").unwrap();
    assert!(s.summary.requests > 500, "{} requests", s.summary.requests);
    assert_eq!(s.summary.errors, 0);
    let p50 = s.summary.response_time.p50_us;
    assert!((20_000..=23_000).contains(&p50), "p50 = {p50} µs");
    assert_eq!(r.run.status, RunStatus::Complete);
    assert_eq!(r.run.peak_users, 20);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_follows_littles_law() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo_with(
        "product",
        RouteConfig::fixed(Duration::from_millis(20)),
        256,
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: detail
    think_time: 80ms
    steps:
      - get: /api/products/3
load: { users: 40, duration: 4s }
"#;
    let r = run_yaml(yaml, &server.url(), out.path()).await;
    // Full seconds inside the run (the first and last are partial or ramp edges).
    let inner = &r.timeseries[1..r.timeseries.len() - 1];
    let rps = inner.iter().map(|p| p.requests).sum::<u64>() as f64
        / inner.iter().map(|p| p.duration_us).sum::<u64>() as f64
        * 1e6;
    let mean_s = r.overall.response_time.mean_us as f64 / 1e6;
    let expected = 40.0 / (mean_s + 0.080);
    let err = (rps - expected).abs() / expected;
    assert!(
        err < 0.10,
        "measured {rps:.1} rps, Little's law says {expected:.1} (off by {:.1}%)",
        err * 100.0
    );
    server.shutdown().await;
}

const LOGIN_CART: &str = r#"
variables:
  token: "none"
scenarios:
  - name: shopper
    on_start:
      - name: login
        post: /api/login
        json: { username: "ada", password: "secret" }
        check: { status: 200 }
        EXTRACT
    steps:
      - name: cart
        get: /api/cart
        headers: { Authorization: "Bearer ${token}" }
load: { users: 10, duration: 2s }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_cart_flow_is_authorised_only_with_the_extract() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default().without_jitter())
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();

    let with = LOGIN_CART.replace("EXTRACT", r#"extract: { token: { json: "$.token" } }"#);
    let r = run_yaml(&with, &server.url(), out.path()).await;
    let cart = r.step("cart").unwrap();
    assert!(cart.summary.requests > 50, "{}", cart.summary.requests);
    assert_eq!(
        cart.summary.errors_by_kind.get("http_4xx"),
        None,
        "{:?}",
        cart.summary.errors_by_kind
    );
    assert_eq!(cart.summary.ok, cart.summary.requests);
    assert_eq!(r.step("login").unwrap().summary.ok, 10);
    assert_eq!(server.stats().unauthorized, 0);

    let without = LOGIN_CART.replace("EXTRACT", "");
    let r = run_yaml(&without, &server.url(), out.path()).await;
    let cart = r.step("cart").unwrap();
    assert!(cart.summary.requests > 50);
    assert_eq!(
        cart.summary.errors_by_kind.get("http_4xx"),
        Some(&cart.summary.requests)
    );
    assert!(server.stats().unauthorized >= cart.summary.requests);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_completes_with_every_request_refused() {
    let _one = ONE_ATTACK.lock().await;
    // A port bound but not listening, for the whole run: it refuses every connection, and
    // no other test's server can take it meanwhile.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind(loopback()).unwrap();
    let port = closed.local_addr().unwrap().port();
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    think_time: 10ms
    steps:
      - get: /health
load: { users: 5, duration: 2s }
"#;
    let r = run_yaml(yaml, &format!("http://127.0.0.1:{port}"), out.path()).await;
    assert_eq!(r.run.status, RunStatus::Complete);
    let o = &r.overall;
    assert!(o.requests > 20, "{}", o.requests);
    assert_eq!(o.errors, o.requests);
    assert_eq!(
        o.errors_by_kind.get(ErrorKind::ConnectionRefused.as_str()),
        Some(&o.requests),
        "{:?}",
        o.errors_by_kind
    );
    assert_eq!(o.response_time.count, 0);
    assert!(
        r.error_examples
            .iter()
            .any(|e| e.kind == "connection_refused")
    );
    assert!(
        r.run.duration_us < 5_000_000,
        "a dead target must not stall the run: {} µs",
        r.run.duration_us
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_log_reads_back_and_merges_to_the_run_totals() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: browse
    weight: 2
    steps:
      - get: /api/products/1
      - get: /api/products?page=2
  - name: health
    steps:
      - get: /health
        think_time: 5ms
load: { users: 12, ramp: 2s, duration: 1s }
"#;
    let r = run_yaml(yaml, &server.url(), out.path()).await;
    let dir = out.path().join(&r.run.id);
    let entries = metrics::read_hlog(&dir.join("latency.hlog")).unwrap();
    assert!(
        entries.len() >= 3 * 3,
        "{} interval histograms",
        entries.len()
    );
    for cell in &r.cells {
        let mut merged = Hist::new();
        for e in entries
            .iter()
            .filter(|e| e.tag.as_deref() == Some(cell.tag.as_str()))
        {
            merged.add(&e.hist);
        }
        let step = r.step(&cell.step).unwrap();
        let total = step.summary.response_time.hist().unwrap();
        assert_eq!(merged, total, "cell {}", cell.tag);
        assert!(merged.count() > 0);
    }
    // The journal alone rebuilds the same totals (what a crash leaves behind).
    let saved = metrics::load_result(&dir).unwrap();
    assert_eq!(saved.overall.requests, r.overall.requests);
    let timeseries_total: u64 = r.timeseries.iter().map(|p| p.requests).sum();
    assert_eq!(timeseries_total, r.overall.requests);
    // The ramp shows in the users series.
    assert!(
        r.timeseries[0].users < 12 && r.run.peak_users == 12,
        "{:?}",
        r.timeseries.iter().map(|p| p.users).collect::<Vec<_>>()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_ramp_up_hold_and_down_with_parked_users_idle() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo_with("product", RouteConfig::fixed(Duration::from_millis(10)), 64).await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    think_time: 40ms
    steps:
      - name: a
        get: /api/products/1
      - name: b
        get: /api/products/2
load:
  stages:
    - { users: 6, over: 1s }
    - { users: 6, over: 1500ms }
    - { users: 2, over: 0s }
    - { users: 2, over: 2s }
"#;
    let r = run_yaml(yaml, &server.url(), out.path()).await;
    let users: Vec<u64> = r.timeseries.iter().map(|p| p.users).collect();
    // Users are counted at the end of each second; the drop comes mid-second (2.5 s), so
    // the counts at 2 s and 4 s are not racing it.
    assert_eq!(r.run.peak_users, 6, "{users:?}");
    assert_eq!(users[1], 6, "{users:?}");
    assert_eq!(users[3], 2, "{users:?}");
    // Each active user does one request per ~50 ms: 6 users ~120/s, then 2 users ~40/s.
    let (full, low) = (
        r.timeseries[1].requests as f64,
        r.timeseries[3].requests as f64,
    );
    assert!(full > 80.0, "{full}");
    assert!(
        (low / full - 2.0 / 6.0).abs() < 0.12,
        "{low} vs {full}: parked users still send"
    );
    // Parked users neither send the rest of their iteration nor stall the end of the run.
    let (a, b) = (
        r.step("a").unwrap().summary.requests,
        r.step("b").unwrap().summary.requests,
    );
    assert!(a.abs_diff(b) <= 6, "a {a}, b {b}");
    assert!(r.run.duration_us < 5_500_000, "{}", r.run.duration_us);
    server.shutdown().await;
}

/// Issue 12, defect 4: a login whose `extract` path has a typo leaves `token` unset, so the
/// cart request can never be built. Before, each user spun on it (878,092 "requests" in a
/// second that were never sent). Now each iteration that reaches it fails once, as a
/// `template` error of that step, and the user goes on after its think time or, with none,
/// backs off (50 ms, doubling to 1 s): a bounded, honest count, and nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_a_request_that_cannot_be_built_fails_its_iteration_without_spinning() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default().without_jitter())
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    for (think, most) in [("", 2 * 8), ("think_time: 500ms", 2 * 5)] {
        let yaml = format!(
            r#"
scenarios:
  - name: shop
    {think}
    on_start:
      - name: login
        post: /api/login
        json: {{ username: u, password: p }}
        extract: {{ token: {{ json: "$.tokn" }} }}
    steps:
      - name: cart
        get: /api/cart
        headers: {{ Authorization: "Bearer ${{token}}" }}
      - name: after
        get: /health
load: {{ users: 2, duration: 2s }}
"#
        );
        let before = server.stats();
        let r = run_yaml(&yaml, &server.url(), out.path()).await;
        let cart = &r.step("cart").unwrap().summary;
        let template = cart.errors_by_kind.get("template").copied().unwrap_or(0);
        eprintln!(
            "{think:?}: {} cart requests, {template} template errors",
            cart.requests
        );
        assert!(
            (2..=most).contains(&template),
            "{think:?}: {template} template errors, expected 2 to {most}"
        );
        assert_eq!(cart.requests, template, "{:?}", cart.errors_by_kind);
        // Nothing was sent for them, and the iteration stopped there.
        let after = server.stats();
        assert_eq!(
            after.requests.get("cart").copied().unwrap_or(0),
            before.requests.get("cart").copied().unwrap_or(0)
        );
        assert!(r.step("after").is_none_or(|s| s.summary.requests == 0));
        let example = r
            .error_examples
            .iter()
            .find(|e| e.kind == "template")
            .expect("an example");
        assert!(example.message.contains("token"), "{}", example.message);
    }
    server.shutdown().await;
}

/// Issue 12, defect 11: 10 iterations in 5 s (2/s) achieved 2/s, not "2.5/s (125 %)": the
/// schedule's clock runs to the end of the plan, not to its last arrival.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_open_model_achieved_rate_is_over_the_whole_plan() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default().without_jitter())
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    steps: [{ get: /health }]
load: { arrival_rate: 2/s, duration: 5s }
"#;
    let r = run_yaml(yaml, &server.url(), out.path()).await;
    let o = r.run.open_model.clone().unwrap();
    assert_eq!(o.started, 10, "{o:?}");
    assert!(
        (o.achieved_rate - 2.0).abs() < 0.05 && (o.intended_rate - 2.0).abs() < 0.05,
        "{o:?}"
    );
    server.shutdown().await;
}
