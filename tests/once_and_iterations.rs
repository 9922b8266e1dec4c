//! Issue 17, items 2 and 3, over real loopback HTTP against the embedded demo served on
//! port 0: counted iterations (`iterations_per_user`, `iterations`, `max_duration`), in one
//! process and split across worker processes, and once-per-run `setup:` / `teardown:`.
//! The demo counts the requests it served by route, which is the truth each test checks
//! the run against. goose keeps process-global state, so attacks here run one at a time.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{only_dir, result_json, skein, text};

use skein::demo::{self, DemoConfig, RouteConfig};
use skein::engine::{self, RunOptions};
use skein::metrics::{RunResult, RunStatus};
use skein::scenario;

static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The demo with every route answering in 2 ms, no jitter.
async fn fast_demo() -> demo::DemoServer {
    let mut config = DemoConfig {
        workers: 256,
        ..DemoConfig::default()
    }
    .without_jitter();
    for r in DemoConfig::ROUTES {
        config = config.with_route(r, RouteConfig::fixed(Duration::from_millis(2)));
    }
    demo::serve("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

fn served(server: &demo::DemoServer, route: &str) -> u64 {
    server.stats().requests.get(route).copied().unwrap_or(0)
}

/// Write `yaml` after a `target:` line into `dir`, load it, run it in this process.
async fn run_in(dir: &Path, yaml: &str, opts: impl FnOnce(&mut RunOptions)) -> RunResult {
    let path = dir.join("test.yaml");
    std::fs::write(&path, format!("target: {}\n{yaml}", base(dir))).unwrap();
    let plan = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let run_dir = engine::results_dir(&dir.join("reports"), &plan).unwrap();
    let mut o = RunOptions::new(run_dir, &base(dir));
    opts(&mut o);
    engine::run(&plan, o).await.unwrap()
}

/// The demo's URL, kept next to the scenario by the test.
fn base(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("url")).unwrap()
}

fn requests(r: &RunResult, step: &str) -> u64 {
    r.step(step).map_or(0, |s| s.summary.requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterations_per_user_run_exactly_n_each_then_on_stop_and_end() {
    let _one = ONE_ATTACK.lock().await;
    let server = fast_demo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("url"), server.url()).unwrap();
    let t0 = Instant::now();
    let r = run_in(
        dir.path(),
        r#"
scenarios:
  - name: shop
    think_time: 5ms
    steps:
      - get: /api/products/42
        check: {status: 200}
      - get: /health
    on_stop:
      - get: /
load: {users: 4, iterations_per_user: 3, max_duration: 30s}
"#,
        |_| {},
    )
    .await;
    let took = t0.elapsed();
    // 4 users × 3 iterations of each step, exactly, as the server counted them.
    assert_eq!(served(&server, "product"), 12);
    assert_eq!(served(&server, "health"), 12);
    assert_eq!(served(&server, "home"), 4, "one on_stop per user");
    assert_eq!(requests(&r, "GET /api/products/42"), 12);
    assert_eq!(requests(&r, "GET /health"), 12);
    assert_eq!(r.overall.errors, 0);
    assert_eq!(r.run.status, RunStatus::Complete, "{:?}", r.run.stop_reason);
    let it = r.run.iterations.clone().expect("iterations in result.json");
    assert_eq!(
        (it.mode.as_str(), it.planned, it.started, it.completed),
        ("per_user", 12, 12, 12)
    );
    // Ended when the iterations were done, not at the 30 s bound.
    assert!(took < Duration::from_secs(10), "{took:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_iterations_are_exact_whatever_the_users() {
    let _one = ONE_ATTACK.lock().await;
    let server = fast_demo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("url"), server.url()).unwrap();
    // 17 iterations shared by 5 users (not a multiple), 1 ms apart.
    let r = run_in(
        dir.path(),
        r#"
scenarios:
  - name: shop
    think_time: 1ms
    steps: [{get: /api/products/7}]
load: {users: 5, iterations: 17}
"#,
        |_| {},
    )
    .await;
    assert_eq!(served(&server, "product"), 17);
    assert_eq!(requests(&r, "GET /api/products/7"), 17);
    assert_eq!(r.run.status, RunStatus::Complete, "{:?}", r.run.stop_reason);
    let it = r.run.iterations.clone().unwrap();
    assert_eq!(
        (it.mode.as_str(), it.planned, it.completed),
        ("shared", 17, 17)
    );
    // Fewer iterations than users: the others run none, and the run still ends.
    let r = run_in(
        dir.path(),
        r#"
scenarios:
  - name: shop
    steps: [{get: /api/products/8}]
load: {users: 6, iterations: 2}
"#,
        |_| {},
    )
    .await;
    assert_eq!(requests(&r, "GET /api/products/8"), 2);
    assert_eq!(r.run.status, RunStatus::Complete);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_bounds_a_run_of_iterations() {
    let _one = ONE_ATTACK.lock().await;
    let server = fast_demo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("url"), server.url()).unwrap();
    let t0 = Instant::now();
    let r = run_in(
        dir.path(),
        r#"
scenarios:
  - name: slow
    think_time: 100ms
    steps: [{get: /health}]
load: {users: 2, iterations_per_user: 1000, max_duration: 1s, graceful_stop: 1s}
"#,
        |_| {},
    )
    .await;
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(r.run.status, RunStatus::Interrupted);
    let reason = r.run.stop_reason.as_ref().unwrap().to_string();
    assert!(reason.contains("max_duration reached"), "{reason}");
    let it = r.run.iterations.clone().unwrap();
    assert_eq!(it.planned, 2000);
    // About 10 a user in 1 s at 100 ms each.
    assert!(
        (10..=30).contains(&it.completed),
        "{} completed",
        it.completed
    );
    assert_eq!(served(&server, "health"), requests(&r, "GET /health"));
    server.shutdown().await;
}

/// Setup logs one service account in, once; every user reads its token (in a header, and
/// through a variable built from it) and gets its cart with 0 errors; teardown runs once,
/// after the users. Their requests are rows of their own, out of the load's totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_runs_once_users_read_its_token_teardown_runs_once_after() {
    let _one = ONE_ATTACK.lock().await;
    let server = fast_demo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("url"), server.url()).unwrap();
    let r = run_in(
        dir.path(),
        r#"
variables:
  bearer: "Bearer ${token}"
setup:
  - name: service login
    post: /api/login
    json: {username: service, password: x}
    check: {status: 200}
    extract: {token: {json: "$.token"}}
  - name: seed
    post: /api/cart
    auth: {bearer: "${token}"}
    json: {product_id: 3, qty: 2}
    check: {status: 200}
scenarios:
  - name: shop
    think_time: 10ms
    steps:
      - get: /api/cart
        auth: {bearer: "${token}"}
        check: {status: 200, json: [{path: "$.items[0].product_id", equals: 3}]}
      - name: cart by variable
        get: /api/cart
        headers: {Authorization: "${bearer}"}
        check: {status: 200}
teardown:
  - name: final health
    get: /health
    check: {status: 200}
load: {users: 3, iterations_per_user: 5}
targets:
  - error_rate < 1%
"#,
        |_| {},
    )
    .await;
    // One login in all: setup's, once; no user logged in.
    let logins = server.logins();
    assert_eq!(logins.get("service"), Some(&1), "{logins:?}");
    assert_eq!(logins.values().sum::<u64>(), 1, "{logins:?}");
    // Users read setup's token: 3 × 5 of each cart step, all answered 200.
    assert_eq!(requests(&r, "GET /api/cart"), 15);
    assert_eq!(requests(&r, "cart by variable"), 15);
    assert_eq!(
        r.overall.errors + r.overall.check_failed,
        0,
        "{:?}",
        r.overall
    );
    // Teardown once, after the load (the users never call /health).
    assert_eq!(served(&server, "health"), 1);
    assert_eq!(requests(&r, "final health"), 1);
    // Rows apart: scenarios `setup` and `teardown`, out of `overall`.
    let scen = |n: &str| {
        r.scenarios
            .iter()
            .find(|s| s.name == n)
            .map(|s| s.summary.requests)
    };
    assert_eq!(scen("setup"), Some(2));
    assert_eq!(scen("teardown"), Some(1));
    assert_eq!(scen("shop"), Some(30));
    assert_eq!(r.overall.requests, 30);
    assert_eq!(r.run.status, RunStatus::Complete);
    server.shutdown().await;
}

/// A failed check in setup stops the run before any user starts (k6: setup throws), with
/// a clear reason and a written results folder; teardown does not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_setup_stops_the_run_before_the_load() {
    let _one = ONE_ATTACK.lock().await;
    let server = fast_demo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("url"), server.url()).unwrap();
    let t0 = Instant::now();
    let r = run_in(
        dir.path(),
        r#"
setup:
  - name: service login
    post: /api/login
    json: {username: service, password: x}
    check: {status: 201}
scenarios:
  - name: shop
    steps: [{get: /api/products/1}]
teardown:
  - get: /health
load: {users: 2, duration: 10s}
"#,
        |_| {},
    )
    .await;
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(r.run.status, RunStatus::Interrupted);
    let reason = r.run.stop_reason.as_ref().unwrap().to_string();
    assert!(
        reason.contains("setup failed at step `service login`") && reason.contains("status"),
        "{reason}"
    );
    assert_eq!(served(&server, "login"), 1);
    assert_eq!(served(&server, "product"), 0, "no user started");
    assert_eq!(served(&server, "health"), 0, "no teardown");
    let folder = only_dir(&dir.path().join("reports"));
    let written = result_json(&folder);
    assert_eq!(written["run"]["status"], "interrupted");
    server.shutdown().await;
}

/// A run stopped from outside (gracefully) still runs its teardown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_runs_after_a_stopped_run() {
    let _one = ONE_ATTACK.lock().await;
    let server = fast_demo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("url"), server.url()).unwrap();
    let stop = engine::StopHandle::new();
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stopper.stop(skein::metrics::StopReason::Other(
            "stopped by the test".into(),
        ));
    });
    let r = run_in(
        dir.path(),
        r#"
scenarios:
  - name: shop
    think_time: 20ms
    steps: [{get: /api/products/1}]
teardown:
  - name: cleanup
    get: /health
load: {users: 2, duration: 30s}
"#,
        |o| o.stop = stop,
    )
    .await;
    assert_eq!(r.run.status, RunStatus::Interrupted);
    assert_eq!(served(&server, "health"), 1);
    assert_eq!(requests(&r, "cleanup"), 1);
    server.shutdown().await;
}

/// `--workers 2` splits the counts exactly: per-user counts follow the users, a shared
/// count is divided so the parts add up; the merged result says so.
#[test]
fn workers_split_the_iterations_exactly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(fast_demo());
    let dir = tempfile::tempdir().unwrap();
    for (load, step, want) in [
        ("{users: 3, iterations: 11}", "/api/products/5", 11u64),
        ("{users: 3, iterations_per_user: 4}", "/api/products/6", 12),
    ] {
        let before = served(&server, "product");
        let scenario = dir.path().join("w.yaml");
        std::fs::write(
            &scenario,
            format!(
                "target: {}\nscenarios:\n  - name: s\n    think_time: 2ms\n    steps: [{{get: {step}}}]\nload: {load}\n",
                server.url()
            ),
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let o = skein()
            .arg("run")
            .arg(&scenario)
            .args(["--quiet", "--workers", "2", "-o"])
            .arg(out.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{load}: {}", text(&o));
        let r = result_json(&only_dir(out.path()));
        assert_eq!(served(&server, "product") - before, want, "{load}");
        assert_eq!(r["overall"]["requests"], want, "{load}");
        assert_eq!(r["run"]["workers"], 2, "{load}");
        assert_eq!(r["run"]["iterations"]["planned"], want, "{load}");
        assert_eq!(r["run"]["iterations"]["completed"], want, "{load}");
        assert_eq!(r["run"]["status"], "complete", "{load}");
    }
    // Setup and teardown run once in each worker process (and are merged as rows apart);
    // a plain run of a file with setup is one process.
    let scenario = dir.path().join("s.yaml");
    let yaml = r#"
setup:
  - name: svc login
    post: /api/login
    json: {username: svc, password: x}
    extract: {token: {json: "$.token"}}
teardown:
  - {name: bye, get: /health}
scenarios:
  - name: s
    steps:
      - get: /api/cart
        auth: {bearer: "${token}"}
        check: {status: 200}
load: {users: 4, iterations: 10}
"#;
    std::fs::write(&scenario, format!("target: {}\n{yaml}", server.url())).unwrap();
    for (workers, want) in [(Some("2"), 2u64), (None, 1)] {
        let (logins, health) = (
            server.logins().get("svc").copied().unwrap_or(0),
            served(&server, "health"),
        );
        let out = tempfile::tempdir().unwrap();
        let mut cmd = skein();
        cmd.arg("run").arg(&scenario).arg("--quiet");
        if let Some(w) = workers {
            cmd.args(["--workers", w]);
        }
        let o = cmd.arg("-o").arg(out.path()).output().unwrap();
        assert!(o.status.success(), "{workers:?}: {}", text(&o));
        let r = result_json(&only_dir(out.path()));
        assert_eq!(server.logins()["svc"] - logins, want, "{workers:?}");
        assert_eq!(served(&server, "health") - health, want, "{workers:?}");
        assert_eq!(r["overall"]["requests"], 10, "{workers:?}");
        assert_eq!(r["overall"]["errors"], 0, "{workers:?}");
        let setup = r["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "setup")
            .unwrap();
        assert_eq!(setup["requests"], want, "{workers:?}");
    }
    rt.block_on(server.shutdown());
}
