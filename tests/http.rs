//! HTTP options and what responses say, over real loopback HTTP: `Server-Timing` values
//! recorded exactly as the demo target sent them (also after a crash and in windows),
//! redirects followed, counted and limited, gzip/brotli/deflate bodies decoded, HTTP/2 with
//! prior knowledge and by ALPN over TLS with a custom CA file, `insecure`, bodies from files,
//! scenario headers and credentials, and secrets that never reach the run folder.
//!
//! The test servers are the embedded demo target and a small axum app (port 0, plain or
//! TLS). goose keeps process-global state, so attacks here run one at a time under
//! `ONE_ATTACK`.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use skein::demo::{self, DemoConfig, RouteConfig};
use skein::engine::{self, RunOptions};
use skein::metrics::{self, RunResult, RunStatus, TargetStatus, WindowData};
use skein::scenario::{self, Plan};

static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// Write `yaml` (after a `target:` line) to `dir/test.yaml`, load it from there with `env`
/// as the environment (files resolve against `dir`), run it; the plan, the run folder and
/// the result.
async fn run_in(
    dir: &Path,
    yaml: &str,
    base_url: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Plan, PathBuf, RunResult) {
    let (plan, run_dir, r) = try_run_in(dir, yaml, base_url, env).await;
    (plan, run_dir, r.unwrap())
}

/// [`run_in`], the engine's error kept.
async fn try_run_in(
    dir: &Path,
    yaml: &str,
    base_url: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Plan, PathBuf, Result<RunResult, engine::EngineError>) {
    let path = dir.join("test.yaml");
    let text = format!("target: {base_url}\n{yaml}");
    std::fs::write(&path, &text).unwrap();
    let plan = scenario::parse_with_env(&text, &path, env).unwrap_or_else(|e| panic!("{e}"));
    let run_dir = engine::results_dir(&dir.join("reports"), &plan).unwrap();
    let r = engine::run(&plan, RunOptions::new(run_dir.clone(), base_url)).await;
    (plan, run_dir, r)
}

/// Judge the run and write every report into its folder, as `skein run` does.
fn judge_and_report(plan: &Plan, dir: &Path, r: &RunResult) -> metrics::Verdict {
    let verdict = skein::metrics::evaluate_dir(dir, &plan.verdict_targets()).unwrap();
    metrics::store::write_targets(dir, &plan.verdict_targets()).unwrap();
    skein::report::write_all(dir, r, &verdict, None).unwrap();
    verdict
}

fn step<'a>(r: &'a RunResult, name: &str) -> &'a metrics::Summary {
    &r.step(name)
        .unwrap_or_else(|| panic!("no step {name:?}"))
        .summary
}

/// HDR resolution at 3 significant digits: a recorded value reads back within 0.1 %.
fn close(got: u64, want: u64) -> bool {
    got >= want && got <= want + want / 1000 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_timing_values_equal_what_the_demo_sent() {
    let _one = ONE_ATTACK.lock().await;
    let config = DemoConfig {
        workers: 256,
        ..DemoConfig::default()
    }
    .with_route(
        "product",
        RouteConfig::fixed(Duration::from_millis(20)).with_db(Duration::from_millis(12)),
    )
    .with_route(
        "search",
        RouteConfig::fixed(Duration::from_millis(30)).with_db(Duration::from_micros(7_500)),
    );
    let server = demo::serve(loopback(), config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    steps:
      - name: product
        get: /api/products/7
        tags: [api]
      - name: search
        get: /api/search
        query: {q: lamp}
        tags: [api]
      - name: health
        get: /health
load: {users: 10, duration: 2s}
targets:
  - 'mean(server_timing="db") < 50ms'
  - {expr: 'p95(step="product", server_timing="db") < 13ms', after: 1s}
  - 'max(tag="api", server_timing="app") < 31ms'
  - 'mean(step="health", server_timing="db") < 1ms'
  - preset: phase9
"#;
    let (plan, run_dir, r) = run_in(dir.path(), yaml, &server.url(), &no_env).await;
    server.shutdown().await;

    // Every response of the two API routes sent `db` and `app` exactly as configured.
    let product = step(&r, "product");
    assert!(product.requests > 100, "{}", product.requests);
    assert_eq!(product.errors, 0);
    let db = &product.server_timing["db"];
    assert_eq!(db.count, product.service_time.count);
    assert_eq!(db.min_us, 12_000);
    assert!(close(db.max_us, 12_000), "{db:?}");
    assert!(close(db.p50_us, 12_000), "{db:?}");
    assert_eq!(product.server_timing["app"].min_us, 20_000);
    assert!(close(product.server_timing["app"].max_us, 20_000));
    let search = step(&r, "search");
    assert_eq!(search.server_timing["db"].min_us, 7_500);
    assert!(close(search.server_timing["db"].max_us, 7_500));
    assert_eq!(search.server_timing["app"].min_us, 30_000);
    assert!(step(&r, "health").server_timing.is_empty());
    assert_eq!(
        r.overall.server_timing["db"].count,
        product.service_time.count + search.service_time.count
    );
    assert_eq!(r.overall.server_timing_malformed, 0);

    // Targets read the entries, whole run and windowed; the Phase 9 database KPI reads `db`.
    let v = judge_and_report(&plan, &run_dir, &r);
    let o = &v.targets;
    assert_eq!(o[0].status, TargetStatus::Pass, "{}", o[0].detail);
    let (p, s) = (
        product.service_time.count as f64,
        search.service_time.count as f64,
    );
    let mean = (p * 12_000.0 + s * 7_500.0) / (p + s);
    assert!((o[0].measured.unwrap() - mean).abs() < 20.0, "{o:?}");
    assert_eq!(o[1].window, "after 1s");
    assert_eq!(o[1].status, TargetStatus::Pass, "{}", o[1].detail);
    assert!(close(o[1].measured.unwrap() as u64, 12_000), "{:?}", o[1]);
    assert_eq!(o[2].status, TargetStatus::Pass, "{}", o[2].detail);
    assert!(close(o[2].measured.unwrap() as u64, 30_000), "{:?}", o[2]);
    assert_eq!(o[3].status, TargetStatus::NotMeasured);
    let database = o
        .iter()
        .find(|t| t.source.contains("database"))
        .expect("the preset's database KPI");
    assert_eq!(database.metric, "server_timing.db.mean");
    assert_eq!(database.status, TargetStatus::Pass, "{}", database.detail);

    // The interval log holds them as TAG~st:NAME, and windows read them back.
    let hlog = std::fs::read_to_string(run_dir.join("latency.hlog")).unwrap();
    assert!(hlog.contains("Tag=s/product~st:db,"), "no ~st:db tag");
    let w = WindowData::from_dir(&run_dir).unwrap();
    let windowed: u64 = w
        .intervals
        .iter()
        .flat_map(|i| &i.cells)
        .filter_map(|c| c.server_timing.get("db"))
        .map(|h| h.count())
        .sum();
    assert_eq!(windowed, r.overall.server_timing["db"].count);

    // A run whose process died is rebuilt from the journal and log, entries included.
    let path = run_dir.join("result.json");
    let mut crashed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    crashed["run"]["status"] = "running".into();
    std::fs::write(&path, serde_json::to_vec(&crashed).unwrap()).unwrap();
    let back = metrics::load_result(&run_dir).unwrap();
    assert_eq!(back.run.status, RunStatus::Interrupted);
    assert_eq!(
        back.overall.server_timing["db"].count,
        r.overall.server_timing["db"].count
    );
    assert_eq!(step(&back, "search").server_timing["db"].min_us, 7_500);

    // The reports show the entries beside the response time.
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("### Server-Timing"), "{md}");
    assert!(
        md.lines()
            .any(|l| l.starts_with("| product |") && l.contains(" | 12.0ms (")),
        "{md}"
    );
    // The table only: no sentences repeating its figures (issue 12).
    assert!(!md.contains(" was db"), "{md}");
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"server-timing\""));
    let text = skein::report::text::server_timing_table(&r);
    assert!(text.starts_with("Server-Timing (mean)"), "{text}");
}

/// What the test server saw of the last requests.
#[derive(Default)]
struct Seen {
    accept_encoding: Mutex<Option<String>>,
}

#[derive(Clone)]
struct App {
    /// Base URL of the other origin (another port) for cross-origin redirects.
    other: String,
    seen: Arc<Seen>,
}

const WORD: &str = "compressed-hello";

/// A JSON body of about 3 KB that compresses well.
fn plain_json() -> Vec<u8> {
    format!("{{\"word\":\"{WORD}\",\"pad\":\"{}\"}}", "ab".repeat(1500)).into_bytes()
}

fn compressed(encoding: &str) -> Vec<u8> {
    let plain = plain_json();
    match encoding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        }
        _ => {
            let mut out = Vec::new();
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(&plain).unwrap();
            drop(w);
            out
        }
    }
}

fn redirect(status: StatusCode, to: &str) -> Response {
    (status, [(header::LOCATION, to.to_string())]).into_response()
}

/// Echo the request: method, body, and the headers the tests look at.
async fn echo(method: Method, version: Version, headers: HeaderMap, body: Bytes) -> String {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string()
    };
    format!(
        "{method} {}\nversion: {version:?}\ncontent-type: {}\nx-team: {}\nauthorization: {}\n",
        String::from_utf8_lossy(&body),
        h("content-type"),
        h("x-team"),
        if headers.contains_key(header::AUTHORIZATION) {
            "present"
        } else {
            "none"
        },
    )
}

fn router(app: App) -> axum::Router {
    axum::Router::new()
        .route(
            "/r/{n}",
            get(|UrlPath(n): UrlPath<u32>| async move {
                if n == 0 {
                    "arrived".into_response()
                } else {
                    redirect(StatusCode::FOUND, &format!("/r/{}", n - 1))
                }
            }),
        )
        .route("/form", any(|| async { redirect(StatusCode::FOUND, "/echo") }))
        .route(
            "/keep",
            any(|| async { redirect(StatusCode::TEMPORARY_REDIRECT, "/echo") }),
        )
        .route("/same", get(|| async { redirect(StatusCode::FOUND, "/echo") }))
        .route(
            "/cross",
            get(|State(app): State<App>| async move {
                redirect(StatusCode::FOUND, &format!("{}/echo", app.other))
            }),
        )
        .route("/echo", any(echo))
        .route(
            "/z/{encoding}",
            get(
                |UrlPath(enc): UrlPath<String>, State(app): State<App>, headers: HeaderMap| async move {
                    *app.seen.accept_encoding.lock().unwrap() = headers
                        .get(header::ACCEPT_ENCODING)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let wire = match enc.as_str() {
                        "br" => "br",
                        "gzip" => "gzip",
                        _ => "deflate",
                    };
                    (
                        [
                            (header::CONTENT_ENCODING, wire),
                            (header::CONTENT_TYPE, "application/json"),
                        ],
                        compressed(wire),
                    )
                        .into_response()
                },
            ),
        )
        .with_state(app)
}

/// Two plain HTTP test servers on port 0, each redirecting `/cross` to the other; their
/// base URLs and what the first saw.
async fn test_servers() -> (String, String, Arc<Seen>) {
    let a = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let b = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let (ua, ub) = (
        format!("http://{}", a.local_addr().unwrap()),
        format!("http://{}", b.local_addr().unwrap()),
    );
    let seen = Arc::new(Seen::default());
    for (l, other) in [(a, ub.clone()), (b, ua.clone())] {
        let app = App {
            other,
            seen: seen.clone(),
        };
        tokio::spawn(async move { axum::serve(l, router(app)).await });
    }
    (ua, ub, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_counted_and_limited_like_a_browser() {
    let _one = ONE_ATTACK.lock().await;
    let (base, _, _) = test_servers().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("payload.json"), "{\"qty\": 2}").unwrap();
    let yaml = r#"
defaults:
  headers: {Authorization: "Bearer literal-default"}
scenarios:
  - name: r
    headers: {X-Team: blue}
    think_time: 20ms
    steps:
      - name: follow
        get: /r/3
        check: {status: 200, body_contains: arrived}
      - name: no follow
        get: /r/3
        follow_redirects: false
        check: {status: 302}
      - name: limited
        get: /r/3
        follow_redirects: 2
      - name: post becomes get
        post: /form
        body: x=1
        check: {body_contains: "GET \n"}
      - name: 307 keeps the method and body
        post: /keep
        body_file: payload.json
        headers: {x-team: red}
        check: {body_contains: "POST {\"qty\": 2}\nversion: HTTP/1.1\ncontent-type: application/json\nx-team: red\n"}
      - name: same origin keeps credentials
        get: /same
        auth: {bearer: t0k}
        check: {body_contains: "x-team: blue\nauthorization: present"}
      - name: other origin drops them
        get: /cross
        auth: {bearer: t0k}
        check: {body_contains: "authorization: none"}
      - name: the default header goes along
        get: /same
        check: {body_contains: "authorization: present"}
      - name: but not to another origin
        get: /cross
        check: {body_contains: "authorization: none"}
load: {users: 2, duration: 1s}
"#;
    let (_, _, r) = run_in(dir.path(), yaml, &base, &no_env).await;
    let ok = |name: &str| {
        let s = step(&r, name);
        assert!(s.requests > 0, "{name}: no request");
        assert_eq!(s.ok, s.requests, "{name}: {s:#?}");
        s
    };
    assert_eq!(ok("follow").redirects, 3 * step(&r, "follow").requests);
    assert_eq!(ok("no follow").redirects, 0);
    let limited = step(&r, "limited");
    assert_eq!(
        limited.errors_by_kind.get("too_many_redirects"),
        Some(&limited.requests),
        "{limited:#?}"
    );
    assert_eq!(limited.redirects, 2 * limited.requests);
    assert_eq!(
        ok("post becomes get").redirects,
        step(&r, "post becomes get").requests
    );
    ok("307 keeps the method and body");
    ok("same origin keeps credentials");
    ok("other origin drops them");
    ok("the default header goes along");
    ok("but not to another origin");
    let all: u64 = r.steps.iter().map(|s| s.summary.redirects).sum();
    assert_eq!(r.overall.redirects, all);
    assert_eq!(
        r.overall.http_versions.get("HTTP/1.1"),
        Some(&(r.overall.requests - limited.requests))
    );
    let example = r
        .error_examples
        .iter()
        .find(|e| e.kind == "too_many_redirects")
        .unwrap();
    assert!(
        example
            .message
            .starts_with("more than 2 redirects: HTTP 302 to "),
        "{}",
        example.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_brotli_and_deflate_bodies_are_decoded() {
    let _one = ONE_ATTACK.lock().await;
    let (base, _, seen) = test_servers().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
scenarios:
  - name: z
    think_time: 20ms
    steps:
      - {{name: gzip, get: /z/gzip, check: {{json: [{{path: "$.word", equals: {WORD}}}]}}}}
      - {{name: br, get: /z/br, check: {{json: [{{path: "$.word", equals: {WORD}}}]}}}}
      - {{name: deflate, get: /z/deflate, check: {{json: [{{path: "$.word", equals: {WORD}}}]}}}}
load: {{users: 2, duration: 1s}}
"#
    );
    let (_, _, r) = run_in(dir.path(), &yaml, &base, &no_env).await;
    let plain = plain_json().len() as u64;
    for enc in ["gzip", "br", "deflate"] {
        let s = step(&r, enc);
        assert!(s.requests > 0);
        assert_eq!(s.ok, s.requests, "{enc}: {s:#?}");
        // Bytes are counted decoded; on the wire each body is much smaller.
        assert_eq!(s.bytes, s.requests * plain, "{enc}");
        assert!((compressed(enc).len() as u64) < plain / 10);
    }
    let accepted = seen.accept_encoding.lock().unwrap().clone().unwrap();
    for enc in ["gzip", "br", "deflate"] {
        assert!(accepted.contains(enc), "{accepted}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_with_prior_knowledge_really_speaks_h2() {
    let _one = ONE_ATTACK.lock().await;
    let (base, _, _) = test_servers().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = |version: &str, check: &str| {
        format!(
            "defaults: {{http_version: \"{version}\"}}\nscenarios:\n  - name: v\n    think_time: 20ms\n    \
             steps:\n      - {{name: echo, get: /echo, check: {{body_contains: \"{check}\"}}}}\n\
             load: {{users: 2, duration: 1s}}\n"
        )
    };
    // The server saw HTTP/2 (it echoes the version it served), the client recorded it.
    let (_, _, r) = run_in(dir.path(), &yaml("2", "version: HTTP/2.0"), &base, &no_env).await;
    let s = step(&r, "echo");
    assert!(s.requests > 0);
    assert_eq!(s.ok, s.requests, "{s:#?}");
    assert_eq!(
        r.overall.http_versions,
        [("HTTP/2".to_string(), s.requests)].into()
    );
    let (_, _, r) = run_in(
        dir.path(),
        &yaml("auto", "version: HTTP/1.1"),
        &base,
        &no_env,
    )
    .await;
    assert_eq!(step(&r, "echo").ok, step(&r, "echo").requests);
    assert_eq!(
        r.overall.http_versions.keys().collect::<Vec<_>>(),
        ["HTTP/1.1"]
    );

    // The embedded demo target serves h2c too.
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    let yaml = "defaults: {http_version: \"2\"}\nscenarios:\n  - name: d\n    steps:\n      \
                - {name: product, get: /api/products/3, check: {status: 200}}\n      \
                - {name: health, get: /health, check: {status: 200}}\n\
                load: {users: 4, duration: 1s}\n";
    let (_, _, r) = run_in(dir.path(), yaml, &server.url(), &no_env).await;
    server.shutdown().await;
    assert!(r.overall.requests > 20, "{}", r.overall.requests);
    assert_eq!(r.overall.ok, r.overall.requests);
    assert_eq!(
        r.overall.http_versions,
        [("HTTP/2".to_string(), r.overall.requests)].into()
    );
}

/// Accepts TLS connections (ALPN h2 and http/1.1) for `axum::serve`, counting them.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    seen: Arc<Handshakes>,
}

/// What the TLS test server saw of its clients' handshakes.
#[derive(Default)]
struct Handshakes {
    /// Handshakes completed.
    full_or_resumed: std::sync::atomic::AtomicUsize,
    /// Of those, resumed sessions (a ticket from an earlier connection).
    resumed: std::sync::atomic::AtomicUsize,
    /// Of those, the ones that agreed on `http/1.1` by ALPN.
    alpn_h1: std::sync::atomic::AtomicUsize,
}

impl Handshakes {
    fn get(&self) -> (usize, usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        (
            self.full_or_resumed.load(SeqCst),
            self.resumed.load(SeqCst),
            self.alpn_h1.load(SeqCst),
        )
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        use std::sync::atomic::Ordering::SeqCst;
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses the certificate fails here: wait for the next one.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                let conn = tls.get_ref().1;
                self.seen.full_or_resumed.fetch_add(1, SeqCst);
                if conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    self.seen.resumed.fetch_add(1, SeqCst);
                }
                if conn.alpn_protocol() == Some(b"http/1.1") {
                    self.seen.alpn_h1.fetch_add(1, SeqCst);
                }
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// The test app over TLS with a certificate for 127.0.0.1 signed by the test CA in
/// `tests/fixtures/tls`; its base URL.
async fn tls_server() -> String {
    tls_server_counting().await.0
}

/// The same, with what it sees of its clients' handshakes.
async fn tls_server_counting() -> (String, Arc<Handshakes>) {
    let cfg = common::tls_server_config(&[b"h2", b"http/1.1"]);
    let tcp = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("https://{}", tcp.local_addr().unwrap());
    let seen = Arc::new(Handshakes::default());
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
        seen: seen.clone(),
    };
    let app = App {
        other: url.clone(),
        seen: Arc::default(),
    };
    tokio::spawn(async move { axum::serve(listener, router(app)).await });
    (url, seen)
}

/// The test CA copied into `dir/certs/ca.pem`.
fn copy_ca(dir: &Path) {
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    std::fs::copy(fixtures.join("ca.pem"), dir.join("certs/ca.pem")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_1_1_goes_over_each_user_s_own_tls_connection_with_resumed_sessions() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    copy_ca(dir.path());
    let yaml = |defaults: &str, users: usize| {
        format!(
            "defaults: {defaults}\nscenarios:\n  - name: t\n    think_time: 10ms\n    steps:\n      \
             - {{name: echo, get: /echo, check: {{status: 200}}}}\nload: {{users: {users}, duration: 1s}}\n"
        )
    };
    // Two users, many requests each: one TLS connection per user, kept alive, ALPN
    // http/1.1 (the server offers h2 first), every response HTTP/1.1.
    let (base, seen) = tls_server_counting().await;
    let (_, _, r) = run_in(
        dir.path(),
        &yaml("{ca_file: certs/ca.pem}", 2),
        &base,
        &no_env,
    )
    .await;
    let s = step(&r, "echo");
    assert!(s.requests >= 10, "{}", s.requests);
    assert_eq!(s.ok, s.requests, "{:#?}", r.error_examples);
    assert_eq!(
        r.overall.http_versions,
        [("HTTP/1.1".to_string(), s.requests)].into()
    );
    let (handshakes, _, alpn_h1) = seen.get();
    assert_eq!(
        handshakes, 2,
        "one connection per user for {} requests",
        s.requests
    );
    assert_eq!(alpn_h1, handshakes);

    // A connection per request (`Connection: close`): the run's one TLS configuration
    // resumes the sessions of earlier connections.
    let (base, seen) = tls_server_counting().await;
    let defaults = "{insecure: true, headers: {connection: close}}";
    let (_, _, r) = run_in(dir.path(), &yaml(defaults, 2), &base, &no_env).await;
    let s = step(&r, "echo");
    assert_eq!(s.ok, s.requests, "{:#?}", r.error_examples);
    let (handshakes, resumed, _) = seen.get();
    assert!(
        handshakes as u64 >= s.requests,
        "{handshakes} < {}",
        s.requests
    );
    assert!(
        resumed >= 1 && resumed + 2 >= handshakes,
        "{resumed} of {handshakes} resumed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_custom_ca_negotiates_h2_when_asked_and_insecure_is_said_plainly() {
    let _one = ONE_ATTACK.lock().await;
    let base = tls_server().await;
    let dir = tempfile::tempdir().unwrap();
    copy_ca(dir.path());
    let yaml = |defaults: &str| {
        format!(
            "defaults: {defaults}\nscenarios:\n  - name: t\n    think_time: 20ms\n    steps:\n      \
             - {{name: echo, get: /echo, check: {{status: 200}}}}\nload: {{users: 2, duration: 1s}}\n"
        )
    };
    // The CA file (relative to the scenario) makes the certificate trusted; asked for
    // HTTP/2, ALPN picks h2 (over the users' own HTTP/2 connections).
    let defaults = "{ca_file: certs/ca.pem, http_version: \"2\"}";
    let (_, _, r) = run_in(dir.path(), &yaml(defaults), &base, &no_env).await;
    let s = step(&r, "echo");
    assert!(s.requests > 0);
    assert_eq!(s.ok, s.requests, "{:#?}", r.error_examples);
    assert_eq!(
        r.overall.http_versions,
        [("HTTP/2".to_string(), s.requests)].into()
    );
    assert!(r.run.tls_verify);
    // Otherwise HTTP/1.1, over the users' own TLS connections.
    let (_, _, r) = run_in(dir.path(), &yaml("{ca_file: certs/ca.pem}"), &base, &no_env).await;
    let s = step(&r, "echo");
    assert!(s.requests > 0);
    assert_eq!(s.ok, s.requests, "{:#?}", r.error_examples);
    assert_eq!(
        r.overall.http_versions,
        [("HTTP/1.1".to_string(), s.requests)].into()
    );
    assert!(r.run.tls_verify);

    // Without it the certificate is refused (or, on a machine without system roots, HTTPS
    // cannot start at all).
    match try_run_in(dir.path(), &yaml("{}"), &base, &no_env).await.2 {
        Ok(r) => {
            let s = step(&r, "echo");
            assert!(s.requests > 0);
            assert_eq!(s.errors_by_kind.get("tls"), Some(&s.requests), "{s:#?}");
        }
        Err(e) => assert!(matches!(e, engine::EngineError::Tls(_)), "{e}"),
    }

    // `insecure: true` accepts it, and every report says verification was off.
    let (plan, run_dir, r) = run_in(dir.path(), &yaml("{insecure: true}"), &base, &no_env).await;
    let s = step(&r, "echo");
    assert_eq!(s.ok, s.requests);
    assert!(!r.run.tls_verify);
    judge_and_report(&plan, &run_dir, &r);
    let read = |f: &str| std::fs::read_to_string(run_dir.join(f)).unwrap();
    assert!(read("report.md").contains("TLS certificates were not verified"));
    assert!(read("report.html").contains("TLS verification was off"));
    assert!(read("junit.xml").contains("<property name=\"tls_verify\" value=\"false\"/>"));
    assert!(skein::report::text::run_facts(&r).contains("TLS certificates were NOT verified"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_from_the_environment_never_reach_the_run_folder() {
    let _one = ONE_ATTACK.lock().await;
    const SECRET: &str = "s3cr3t-Zq81-never-print";
    let env = |name: &str| (name == "SKEIN_TEST_SECRET").then(|| SECRET.to_string());
    let server = demo::serve(loopback(), DemoConfig::default().without_jitter())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
variables: {token: ""}
defaults:
  headers: {X-Api-Key: "${env.SKEIN_TEST_SECRET}"}
scenarios:
  - name: shopper
    think_time: 50ms
    on_start:
      - name: login
        post: /api/login
        json: {username: ada, password: "${env.SKEIN_TEST_SECRET}"}
        check: {status: 200}
        extract: {token: {json: "$.token"}}
    steps:
      - name: cart
        get: /api/cart
        auth: {bearer: "${token}"}
        check: {status: 200}
      - name: search with a key
        get: "/api/search?q=lamp&key=${env.SKEIN_TEST_SECRET}"
      - name: basic is refused
        get: /api/cart
        auth: {basic: {username: ada, password: "${env.SKEIN_TEST_SECRET}"}}
      - name: dead port
        get: "http://127.0.0.1:9/${env.SKEIN_TEST_SECRET}"
        timeout: 1s
load: {users: 3, duration: 2s}
targets:
  - p95 < 2s
  - error_rate < 1%
  - preset: phase9
"#;
    let (plan, run_dir, r) = run_in(dir.path(), yaml, &server.url(), &env).await;
    server.shutdown().await;
    judge_and_report(&plan, &run_dir, &r);

    // The run did use the secret: logins and the token-authorised cart worked, the basic
    // credentials were refused, and the dead port's error names its (masked) URL.
    assert_eq!(step(&r, "login").ok, 3);
    let cart = step(&r, "cart");
    assert!(cart.ok > 0 && cart.ok == cart.requests, "{cart:#?}");
    let basic = step(&r, "basic is refused");
    assert_eq!(basic.errors_by_kind.get("http_4xx"), Some(&basic.requests));
    let dead = r
        .error_examples
        .iter()
        .find(|e| e.step == "dead port")
        .expect("an example from the dead port");
    assert!(dead.message.contains("[redacted]"), "{}", dead.message);
    assert_eq!(
        r.scenario["defaults"]["headers"]["X-Api-Key"],
        "${env.SKEIN_TEST_SECRET}"
    );
    assert!(!format!("{plan:?}").contains(SECRET));

    // No file of the run folder holds the secret, or the basic credentials built from it.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let needles = [
        SECRET.to_string(),
        b64.encode(format!("ada:{SECRET}")),
        b64.encode(SECRET),
    ];
    let mut files = Vec::new();
    let mut stack = vec![run_dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "result.json",
        "latency.hlog",
        "intervals.jsonl",
        "targets.json",
        "summary.json",
        "junit.xml",
        "report.md",
        "report.html",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for needle in &needles {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "{} holds {needle:?}", f.display());
        }
    }
}

/// What the session server saw: the client port of each request over a user's own
/// connection, and the requests that came without the session cookie.
#[derive(Default)]
struct Sessions {
    ports: Mutex<Vec<(String, u16)>>,
    logins: std::sync::atomic::AtomicU32,
    without_cookie: Mutex<Vec<String>>,
}

/// A small app with cookie sessions: `POST /login` sets `sid`; `/me`, `/` (a page) and its
/// image answer 401 without it; `/bye` closes the connection after answering.
fn session_router(seen: Arc<Sessions>) -> axum::Router {
    use axum::extract::ConnectInfo;
    use std::sync::atomic::Ordering;
    fn sid(headers: &HeaderMap) -> Option<String> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        cookies
            .split(';')
            .find_map(|c| c.trim().strip_prefix("sid="))
            .map(str::to_string)
    }
    let guarded = |what: &'static str, ok: Response, seen: &Sessions, headers: &HeaderMap| {
        if sid(headers).is_some() {
            ok
        } else {
            seen.without_cookie.lock().unwrap().push(what.to_string());
            StatusCode::UNAUTHORIZED.into_response()
        }
    };
    let note = |seen: &Sessions, route: &str, addr: SocketAddr| {
        seen.ports
            .lock()
            .unwrap()
            .push((route.to_string(), addr.port()));
    };
    axum::Router::new()
        .route(
            "/login",
            axum::routing::post(
                move |State(seen): State<Arc<Sessions>>,
                      ConnectInfo(a): ConnectInfo<SocketAddr>| async move {
                    note(&seen, "login", a);
                    let n = seen.logins.fetch_add(1, Ordering::Relaxed);
                    (
                        [(
                            header::SET_COOKIE,
                            format!("sid=user-{n}; Path=/; HttpOnly"),
                        )],
                        "in",
                    )
                        .into_response()
                },
            ),
        )
        .route(
            "/me",
            get(
                move |State(seen): State<Arc<Sessions>>,
                      ConnectInfo(a): ConnectInfo<SocketAddr>,
                      headers: HeaderMap| async move {
                    note(&seen, "me", a);
                    let who = sid(&headers).unwrap_or_default();
                    guarded("me", who.into_response(), &seen, &headers)
                },
            ),
        )
        .route(
            "/",
            get(
                move |State(seen): State<Arc<Sessions>>,
                      ConnectInfo(a): ConnectInfo<SocketAddr>,
                      headers: HeaderMap| async move {
                    note(&seen, "page", a);
                    let html = "<html><body><img src=\"/pic.png\"></body></html>";
                    let ok = ([(header::CONTENT_TYPE, "text/html")], html).into_response();
                    guarded("page", ok, &seen, &headers)
                },
            ),
        )
        .route(
            "/pic.png",
            get(
                move |State(seen): State<Arc<Sessions>>, headers: HeaderMap| async move {
                    let ok = ([(header::CONTENT_TYPE, "image/png")], "png").into_response();
                    guarded("pic", ok, &seen, &headers)
                },
            ),
        )
        .route(
            "/bye",
            get(
                move |State(seen): State<Arc<Sessions>>,
                      ConnectInfo(a): ConnectInfo<SocketAddr>| async move {
                    note(&seen, "bye", a);
                    ([(header::CONNECTION, "close")], "bye").into_response()
                },
            ),
        )
        .with_state(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_live_in_one_jar_per_user_and_closed_connections_reopen() {
    let _one = ONE_ATTACK.lock().await;
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Sessions::default());
    let app = session_router(seen.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: member
    think_time: 10ms
    on_start:
      - {name: login, post: /login, check: {status: 200}}
    steps:
      - {name: me, get: /me, check: {status: 200, body_contains: "user-"}}
      - {name: home, page: /, assets: auto, check: {status: 200}}
      - {name: bye, get: /bye, check: {status: 200}}
load: {users: 3, duration: 2s}
"#;
    let (_, _, r) = run_in(dir.path(), yaml, &base, &no_env).await;
    server.abort();

    // Every request carried the cookie its user's login set: over the user's own
    // connection (me, the page's document) and over its client (the page's image).
    assert_eq!(step(&r, "login").ok, 3);
    assert!(
        seen.without_cookie.lock().unwrap().is_empty(),
        "{:?}",
        seen.without_cookie.lock().unwrap()
    );
    for name in ["me", "home", "home (assets)", "bye"] {
        let s = step(&r, name);
        assert!(s.requests >= 3, "{name}: {s:#?}");
        assert_eq!(s.ok, s.requests, "{name}: {:#?}", r.error_examples);
    }
    // Each user keeps one connection until `/bye` closes it, then opens a new one: the
    // ports the server saw on those routes are at most one per user plus one per `/bye`,
    // and every `/bye` arrived on a connection of its own.
    let ports = seen.ports.lock().unwrap();
    let distinct: std::collections::HashSet<u16> = ports.iter().map(|p| p.1).collect();
    let byes: Vec<u16> = ports.iter().filter(|p| p.0 == "bye").map(|p| p.1).collect();
    let distinct_byes: std::collections::HashSet<u16> = byes.iter().copied().collect();
    assert_eq!(
        distinct_byes.len(),
        byes.len(),
        "a closed connection was used again"
    );
    assert!(
        distinct.len() <= byes.len() + 3,
        "{} connections for {} requests and {} byes",
        distinct.len(),
        ports.len(),
        byes.len()
    );
    assert!(
        ports.len() > distinct.len() * 2,
        "connections were not reused"
    );
}

/// A minimal HTTP/1.1 server that answers one request per connection with a chunked body
/// and then closes the connection without saying so (as servers that time out idle
/// keep-alive connections do); the number of connections it accepted.
async fn one_shot_server() -> (String, Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                // The body in three chunks, one with an extension, then a trailer.
                let resp = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\
                            content-type: text/plain\r\n\r\n\
                            6\r\nhello \r\n5;x=y\r\nchunk\r\n7\r\ny world\r\n0\r\nx-t: 1\r\n\r\n";
                let _ = sock.write_all(resp.as_bytes()).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            });
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_arrive_whole_and_connections_closed_while_idle_are_replaced() {
    let _one = ONE_ATTACK.lock().await;
    let (url, accepted) = one_shot_server().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: reader
    think_time: 60ms
    steps:
      - {name: read, get: /, check: {status: 200, body_contains: "hello chunky world"}}
load: {users: 2, duration: 1s}
"#;
    let (_, _, r) = run_in(dir.path(), yaml, &url, &no_env).await;
    let s = step(&r, "read");
    assert!(s.requests >= 10, "{s:#?}");
    // Every request found its connection closed by the server and was sent again on a new
    // one: no errors, one connection per request.
    assert_eq!(s.ok, s.requests, "{:#?}", r.error_examples);
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::Relaxed),
        s.requests
    );
    assert_eq!(s.bytes, s.requests * "hello chunky world".len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_keeps_a_connection_per_host_and_a_request_can_close_it() {
    let _one = ONE_ATTACK.lock().await;
    let mut bases = Vec::new();
    let mut seen = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        let s = Arc::new(Sessions::default());
        let app = session_router(s.clone()).into_make_service_with_connect_info::<SocketAddr>();
        servers.push(tokio::spawn(
            async move { axum::serve(listener, app).await },
        ));
        seen.push(s);
    }
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
scenarios:
  - name: two hosts
    think_time: 10ms
    steps:
      - {{name: a, post: /login, check: {{status: 200}}}}
      - {{name: b, post: "{}/login", check: {{status: 200}}}}
      - {{name: a close, post: /login, headers: {{Connection: close}}, check: {{status: 200}}}}
load: {{users: 2, duration: 1s}}
"#,
        bases[1]
    );
    let (_, _, r) = run_in(dir.path(), &yaml, &bases[0], &no_env).await;
    for s in servers {
        s.abort();
    }
    let closes = step(&r, "a close");
    assert!(closes.requests >= 10, "{closes:#?}");
    for name in ["a", "b", "a close"] {
        let s = step(&r, name);
        assert_eq!(s.ok, s.requests, "{name}: {:#?}", r.error_examples);
    }
    let ports = |s: &Sessions| -> std::collections::HashSet<u16> {
        s.ports.lock().unwrap().iter().map(|p| p.1).collect()
    };
    // Host b's connection survives the requests to host a in between: one per user.
    assert!(ports(&seen[1]).len() <= 2, "{:?}", ports(&seen[1]));
    // On host a each request that says `Connection: close` (the server answers so too) ends
    // the connection: a new one per iteration.
    let a = ports(&seen[0]).len() as u64;
    assert!(
        a >= closes.requests && a <= closes.requests + 2,
        "{a} connections for {} closing requests",
        closes.requests
    );
}
