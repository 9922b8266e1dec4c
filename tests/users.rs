//! Realistic users over real loopback HTTP: page steps that load a page's assets like a
//! browser (against the embedded demo target and a small test server, both on port 0),
//! per-user asset caches, feeders, and per-user variables across iterations. goose keeps
//! process-global state, so attacks here run one at a time under `ONE_ATTACK`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use skein::demo::{self, DemoConfig, RouteConfig};
use skein::engine::{self, RunOptions};
use skein::metrics::RunResult;
use skein::scenario;

static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Write `yaml` (after a `target:` line) to `dir/test.yaml`, load it from there (so feeder
/// paths resolve against `dir`), run it and return the plan and the result.
async fn run_in(dir: &Path, yaml: &str, base_url: &str) -> (scenario::Plan, RunResult) {
    let path = dir.join("test.yaml");
    std::fs::write(&path, format!("target: {base_url}\n{yaml}")).unwrap();
    let plan = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("reports");
    let run_dir = engine::results_dir(&out, &plan).unwrap();
    let r = engine::run(&plan, RunOptions::new(run_dir, base_url))
        .await
        .unwrap();
    (plan, r)
}

/// A demo whose home page takes 20 ms and each static file 30 ms, exactly.
async fn timed_demo() -> demo::DemoServer {
    let config = DemoConfig {
        workers: 256,
        ..DemoConfig::default()
    }
    .with_route("home", RouteConfig::fixed(Duration::from_millis(20)))
    .with_route("static", RouteConfig::fixed(Duration::from_millis(30)))
    .without_jitter();
    demo::serve(loopback(), config).await.unwrap()
}

fn requests(server: &demo::DemoServer, route: &str) -> u64 {
    server.stats().requests.get(route).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_assets_fetch_exactly_the_home_pages_assets_and_time_the_page() {
    let _one = ONE_ATTACK.lock().await;
    let server = timed_demo().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: browse
    think_time: 20ms
    steps:
      - name: home
        page: /
        assets: auto
        tags: [page]
        check: {status: 200, body_contains: "<html"}
load: {users: 5, duration: 2s}
targets:
  - 'mean(tag="page") < 1s'
  - 'p95(tag="page") < 1s'
"#;
    let (plan, r) = run_in(dir.path(), yaml, &server.url()).await;
    let page = r.step("home").unwrap();
    let doc = r.step("home (document)").unwrap();
    let assets = r.step("home (assets)").unwrap();
    let views = page.summary.requests;
    assert!(views >= 20, "{views} page views");
    assert_eq!(r.run.cut_off, 0);
    // The demo's home page links four files: the stylesheet, the script, the logo and the
    // icon. Every view fetched exactly those, and the demo saw exactly what was recorded.
    assert_eq!(doc.summary.requests, views);
    assert_eq!(assets.summary.requests, 4 * views);
    assert_eq!(requests(&server, "home"), views);
    assert_eq!(requests(&server, "static"), 4 * views);
    assert_eq!(server.stats().unmatched, 0);
    assert_eq!(
        page.summary.errors + doc.summary.errors + assets.summary.errors,
        0
    );
    assert_eq!(
        doc.summary.ok, views,
        "the step's checks ran on the document"
    );
    // A page view is the document then its slowest asset: at least 20 + 30 ms, every time;
    // on average at least the document's mean plus the assets' mean.
    let svc = |s: &skein::metrics::StepResult| s.summary.service_time.clone();
    eprintln!(
        "{views} page views: page min {} p50 {} µs, document p50 {} µs, asset p50 {} max {} µs",
        svc(page).min_us,
        svc(page).p50_us,
        svc(doc).p50_us,
        svc(assets).p50_us,
        svc(assets).max_us
    );
    assert!(svc(doc).min_us >= 20_000, "{:?}", svc(doc));
    assert!(svc(assets).min_us >= 30_000, "{:?}", svc(assets));
    assert!(
        svc(page).min_us >= 50_000,
        "page min {} µs",
        svc(page).min_us
    );
    assert!(page.summary.response_time.min_us >= 50_000);
    assert!(
        svc(page).mean_us as f64 >= 0.99 * (svc(doc).mean_us + svc(assets).mean_us) as f64,
        "page {} < document {} + asset {}",
        svc(page).mean_us,
        svc(doc).mean_us,
        svc(assets).mean_us
    );
    // Four assets in parallel (six connections allowed): far below 20 + 4 x 30 ms.
    assert!(
        svc(page).p50_us < 90_000,
        "page p50 {} µs",
        svc(page).p50_us
    );
    // Page views are not requests: the run's totals count the document and the assets.
    assert_eq!(r.overall.requests, 5 * views);
    assert_eq!(r.scenarios[0].summary.requests, 5 * views);
    let cell = r.cells.iter().find(|c| c.step == "home").unwrap();
    assert!(cell.is_page() && cell.tags == ["page"]);
    assert!(
        r.cells
            .iter()
            .filter(|c| c.tags.contains(&"page".to_string()))
            .count()
            == 1
    );
    // The "page load" targets read the page metric.
    let run_dir = dir.path().join("reports").join(&r.run.id);
    let v = skein::metrics::evaluate_dir(&run_dir, &plan.verdict_targets()).unwrap();
    assert!(v.passed, "{v:?}");
    let mean = v.targets[0].measured.unwrap();
    assert!(
        (mean - page.summary.response_time.mean_us as f64).abs() <= 1.0,
        "mean(tag=page) = {mean}, page cell mean {}",
        page.summary.response_time.mean_us
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_assets_and_pages_that_are_not_html_count_as_errors() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default().without_jitter())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    think_time: 50ms
    steps:
      - name: listed
        page: /
        assets: [/static/app.css, static/missing.css, "/static/app.css#again"]
      - name: json page
        page: /api/products/1
        assets: auto
load: {users: 2, duration: 1s}
"#;
    let (_, r) = run_in(dir.path(), yaml, &server.url()).await;
    let listed = r.step("listed").unwrap();
    let assets = r.step("listed (assets)").unwrap();
    let views = listed.summary.requests;
    assert!(views >= 4, "{views}");
    // Listed assets are deduplicated: two per view, the missing one a 404.
    assert_eq!(assets.summary.requests, 2 * views);
    assert_eq!(assets.summary.errors_by_kind.get("http_4xx"), Some(&views));
    assert_eq!(
        listed.summary.errors, views,
        "a view with a missing asset failed"
    );
    assert_eq!(r.step("listed (document)").unwrap().summary.errors, 0);
    let json = r.step("json page").unwrap();
    assert_eq!(
        json.summary.errors_by_kind.get("body"),
        Some(&json.summary.requests)
    );
    assert_eq!(r.step("json page (assets)").unwrap().summary.requests, 0);
    let example = |step: &str| {
        r.error_examples
            .iter()
            .find(|e| e.step == step)
            .map(|e| e.message.clone())
            .unwrap_or_default()
    };
    assert!(
        example("listed (assets)").contains("/static/missing.css: HTTP 404"),
        "{:?}",
        r.error_examples
    );
    assert!(
        example("json page").contains("not an HTML page"),
        "{:?}",
        r.error_examples
    );
    server.shutdown().await;
}

/// Requests a test server saw, by path: (all, conditional).
type Seen = Arc<Mutex<HashMap<String, (u64, u64)>>>;

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A page with a fresh asset (max-age), one revalidated by ETag on every view (no-cache),
/// and one revalidated by Last-Modified (max-age=0).
async fn cache_server(seen: Seen) -> String {
    const HTML: &str = r#"<html><head><link rel=stylesheet href="/fresh.css">
        <script src="/etag.js"></script></head><body><img src="/lm.png"></body></html>"#;
    let count = move |path: &str, h: &HeaderMap| {
        let conditional =
            h.contains_key(header::IF_NONE_MATCH) || h.contains_key(header::IF_MODIFIED_SINCE);
        let mut s = seen.lock().unwrap();
        let e = s.entry(path.to_string()).or_default();
        e.0 += 1;
        e.1 += u64::from(conditional);
        conditional
    };
    let (c1, c2, c3) = (count.clone(), count.clone(), count);
    let app = axum::Router::new()
        .route("/", get(|| async { axum::response::Html(HTML) }))
        .route(
            "/fresh.css",
            get(move |h: HeaderMap| async move {
                c1("/fresh.css", &h);
                ([(header::CACHE_CONTROL, "max-age=3600")], "body{}").into_response()
            }),
        )
        .route(
            "/etag.js",
            get(move |h: HeaderMap| async move {
                let etag = HeaderValue::from_static("\"v1\"");
                let hit = c2("/etag.js", &h) && h.get(header::IF_NONE_MATCH) == Some(&etag);
                let headers = [
                    (header::CACHE_CONTROL, "no-cache"),
                    (header::ETAG, "\"v1\""),
                ];
                if hit {
                    (StatusCode::NOT_MODIFIED, headers).into_response()
                } else {
                    (headers, "let x = 1;").into_response()
                }
            }),
        )
        .route(
            "/lm.png",
            get(move |h: HeaderMap| async move {
                let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
                let hit = c3("/lm.png", &h)
                    && h.get(header::IF_MODIFIED_SINCE)
                        .and_then(|v| v.to_str().ok())
                        == Some(lm);
                let headers = [
                    (header::CACHE_CONTROL, "max-age=0"),
                    (header::LAST_MODIFIED, lm),
                ];
                let r: Response = if hit {
                    (StatusCode::NOT_MODIFIED, headers).into_response()
                } else {
                    (headers, "png").into_response()
                };
                r
            }),
        );
    serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_skips_fresh_assets_and_revalidates_stale_ones() {
    let _one = ONE_ATTACK.lock().await;
    let seen: Seen = Arc::default();
    let url = cache_server(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    think_time: 50ms
    steps:
      - {name: cached, page: /, assets: auto, cache: true}
load: {users: 2, duration: 1s}
"#;
    let (_, r) = run_in(dir.path(), yaml, &url).await;
    let views = r.step("cached").unwrap().summary.requests;
    assert!(views >= 6, "{views}");
    let seen = seen.lock().unwrap().clone();
    // Each of the 2 users fetched the fresh stylesheet once and never asked again.
    assert_eq!(seen["/fresh.css"], (2, 0));
    // The others on every view, conditionally after each user's first: 304s.
    assert_eq!(seen["/etag.js"], (views, views - 2));
    assert_eq!(seen["/lm.png"], (views, views - 2));
    let assets = r.step("cached (assets)").unwrap();
    assert_eq!(assets.summary.requests, 2 + 2 * views);
    assert_eq!(assets.summary.errors, 0, "a 304 counts as ok");

    // Without the cache every view fetches everything, unconditionally.
    let seen2: Seen = Arc::default();
    let url = cache_server(seen2.clone()).await;
    let (_, r) = run_in(
        dir.path(),
        &yaml.replace("cache: true", "cache: false"),
        &url,
    )
    .await;
    let views = r.step("cached").unwrap().summary.requests;
    let seen2 = seen2.lock().unwrap().clone();
    assert_eq!(seen2["/fresh.css"], (views, 0));
    assert_eq!(seen2["/etag.js"], (views, 0));
}

#[test]
fn a_ragged_feeder_row_is_reported_in_the_data_file_before_any_load() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeders/ragged.yaml");
    let Err(scenario::ScenarioError::Invalid { diagnostics }) = scenario::load(&path) else {
        panic!("a ragged row must be refused");
    };
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let d = &diagnostics[0];
    assert!(
        d.file.ends_with("feeders/ragged.csv"),
        "{}",
        d.file.display()
    );
    assert_eq!((d.line, d.column), (3, 1));
    assert_eq!(d.found, "a row of 3 fields");
    assert!(d.expected.contains("2 fields"), "{}", d.expected);
    // The hint points back at the scenario key that declared the feeder.
    let hint = d.hint.as_deref().unwrap_or_default();
    assert!(hint.contains("ragged.yaml:3:10"), "{hint}");
}

fn write_users(dir: &Path, n: usize) {
    let mut csv = String::from("username,password\n");
    for i in 0..n {
        csv.push_str(&format!("user{i:02},pw{i}\n"));
    }
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/users.csv"), csv).unwrap();
}

const LOGIN: &str = r#"
feeders:
  users: {file: data/users.csv, order: unique, when_exhausted: WHEN}
scenarios:
  - name: shopper
    think_time: 100ms
    on_start:
      - name: login
        post: /api/login
        json: {username: "${users.username}", password: "${users.password}"}
        check: {status: 200}
        extract: {token: {json: "$.token"}}
    steps:
      - get: /api/cart
        headers: {Authorization: "Bearer ${token}"}
        check: {status: 200}
load: {users: USERS, duration: 1s}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_feeder_gives_each_user_its_own_row_then_errors_or_recycles() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    write_users(dir.path(), 10);
    let login = |users: usize, when: &str| {
        LOGIN
            .replace("USERS", &users.to_string())
            .replace("WHEN", when)
    };

    // As many users as rows: each logs in once, as a distinct user.
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    let (_, r) = run_in(dir.path(), &login(10, "error"), &server.url()).await;
    let logins = server.logins();
    assert_eq!(logins.len(), 10, "{logins:?}");
    assert!(logins.values().all(|n| *n == 1), "{logins:?}");
    assert!(logins.contains_key("user00") && logins.contains_key("user09"));
    assert_eq!(r.overall.errors, 0);
    server.shutdown().await;

    // Two users too many, `error`: those two do not start; each is counted once and the
    // example says why.
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    let (_, r) = run_in(dir.path(), &login(12, "error"), &server.url()).await;
    let logins = server.logins();
    assert_eq!(logins.len(), 10);
    assert!(logins.values().all(|n| *n == 1), "{logins:?}");
    let login_row = r.step("login").unwrap();
    assert_eq!(login_row.summary.requests, 12);
    assert_eq!(login_row.summary.errors_by_kind.get("template"), Some(&2));
    let example = r
        .error_examples
        .iter()
        .find(|e| e.step == "login" && e.kind == "template")
        .expect("an example of the exhausted feeder");
    assert!(
        example.message.contains("exhausted") && example.message.contains("users.csv"),
        "{}",
        example.message
    );
    assert_eq!(r.step("GET /api/cart").unwrap().summary.errors, 0);
    server.shutdown().await;

    // `recycle`: the rows go round again, 12 logins over 10 names.
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    let (_, r) = run_in(dir.path(), &login(12, "recycle"), &server.url()).await;
    let logins = server.logins();
    assert_eq!(logins.len(), 10);
    assert_eq!(logins.values().sum::<u64>(), 12);
    assert_eq!(r.overall.errors, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_feeder_takes_a_row_per_iteration() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    write_users(dir.path(), 3);
    let server = demo::serve(loopback(), DemoConfig::default().without_jitter())
        .await
        .unwrap();
    let yaml = r#"
feeders:
  users: {file: data/users.csv}
scenarios:
  - name: s
    think_time: 50ms
    steps:
      - post: /api/login
        json: {username: "${users.username}", password: "${users.password}"}
load: {users: 1, duration: 1s}
"#;
    let (_, r) = run_in(dir.path(), yaml, &server.url()).await;
    let n = r.overall.requests;
    assert!(n >= 6, "{n}");
    let logins = server.logins();
    // One user, one row per iteration, in order, round and round.
    assert_eq!(logins.len(), 3);
    let counts: Vec<u64> = logins.values().copied().collect();
    assert!(
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "{logins:?}"
    );
    assert_eq!(counts.iter().sum::<u64>(), n);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_persist_across_iterations_and_on_start_extracts_reach_every_step() {
    let _one = ONE_ATTACK.lock().await;
    // /login hands out a new token; /echo records (token, id, last, draw) of every request
    // and answers with a counter that the next iteration sends back.
    type Log = Arc<Mutex<Vec<(String, String, String, String)>>>;
    let log: Log = Arc::default();
    let tokens = Arc::new(Mutex::new(0u64));
    let l = log.clone();
    let app = axum::Router::new()
        .route(
            "/login",
            post(move || async move {
                let mut t = tokens.lock().unwrap();
                *t += 1;
                axum::Json(serde_json::json!({"token": format!("t{}", *t)}))
            }),
        )
        .route(
            "/echo",
            get(move |h: HeaderMap| async move {
                let v = |k: &str| {
                    h.get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let mut log = l.lock().unwrap();
                log.push((v("x-token"), v("x-id"), v("x-last"), v("x-draw")));
                axum::Json(serde_json::json!({"n": log.len()}))
            }),
        );
    let url = serve(app).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
variables:
  id: {value: "${uuid()}", per: user}
  last: none
  draw: "${uuid()}"
scenarios:
  - name: s
    think_time: 20ms
    on_start:
      - post: /login
        extract: {token: {json: "$.token"}}
    steps:
      - get: /echo
        headers: {X-Token: "${token}", X-Id: "${id}", X-Last: "${last}", X-Draw: "${draw}"}
        extract: {last: {json: "$.n"}}
load: {users: 4, duration: 1s}
"#;
    let (_, r) = run_in(dir.path(), yaml, &url).await;
    assert_eq!(r.overall.errors + r.overall.check_failed, 0);
    let log = log.lock().unwrap().clone();
    assert!(log.len() >= 20, "{}", log.len());
    // Every request carried the token its user got in on_start, and the id rendered once
    // when the user started (`per: user`): one id per token, four users. `draw`, a value
    // that is not constant and that no extract writes, is drawn again every iteration
    // (issue 12: `product_id: "${randomInt(1, 500)}"` gave a user one product forever).
    let mut by_token: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let draws: std::collections::HashSet<&String> = log.iter().map(|l| &l.3).collect();
    assert_eq!(draws.len(), log.len(), "one draw per iteration: {log:?}");
    for (token, id, last, _) in &log {
        assert!(token.starts_with('t'), "{token:?}");
        by_token
            .entry(token.clone())
            .or_default()
            .push((id.clone(), last.clone()));
    }
    assert_eq!(by_token.len(), 4);
    for (token, reqs) in &by_token {
        assert!(
            reqs.iter().all(|(id, _)| *id == reqs[0].0),
            "{token}: {reqs:?}"
        );
        // The first iteration sends the initial value; each later one the value the
        // previous iteration extracted.
        assert_eq!(reqs[0].1, "none");
        assert!(
            reqs[1..]
                .iter()
                .all(|(_, last)| last.parse::<u64>().is_ok()),
            "{reqs:?}"
        );
    }
    let ids: std::collections::HashSet<&String> =
        by_token.values().map(|reqs| &reqs[0].0).collect();
    assert_eq!(ids.len(), 4);
}
