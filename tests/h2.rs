//! HTTP/2 on each user's own connection (`http_version: 2`), over real loopback sockets:
//! TLS with ALPN `h2` (a CA file, `insecure`, a refused certificate sorted as `tls`, SNI),
//! h2c with prior knowledge, one connection per user, cookies, gzip, timeouts, a server
//! that says `GOAWAY` every few requests, requests counted exactly by the server, a fixed
//! service time measured as itself, and a page's assets multiplexed as streams of one
//! connection.
//!
//! The servers are the embedded demo target, a small axum app (port 0, plain or TLS,
//! counting its connections and requests), and a bare `h2` server that ends each
//! connection with `GOAWAY`. goose keeps process-global state, so attacks here run one at
//! a time under `ONE_ATTACK`.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, Version, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use skein::demo::{self, DemoConfig, RouteConfig};
use skein::engine::{self, RunOptions};
use skein::metrics::RunResult;
use skein::scenario;

static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Write `yaml` (after a `target:` line) to `dir/test.yaml`, load and run it.
async fn try_run(dir: &Path, yaml: &str, base_url: &str) -> Result<RunResult, engine::EngineError> {
    let path = dir.join("test.yaml");
    let text = format!("target: {base_url}\n{yaml}");
    std::fs::write(&path, &text).unwrap();
    let plan = scenario::parse_with_env(&text, &path, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let run_dir = engine::results_dir(&dir.join("reports"), &plan).unwrap();
    engine::run(&plan, RunOptions::new(run_dir, base_url)).await
}

async fn run(dir: &Path, yaml: &str, base_url: &str) -> RunResult {
    try_run(dir, yaml, base_url).await.unwrap()
}

fn step<'a>(r: &'a RunResult, name: &str) -> &'a skein::metrics::Summary {
    &r.step(name)
        .unwrap_or_else(|| panic!("no step {name:?}"))
        .summary
}

/// What the test app saw.
#[derive(Default)]
struct Seen {
    /// Connections accepted (TLS: handshakes completed).
    conns: AtomicUsize,
    /// Of those, the ones that agreed on `h2` by ALPN.
    alpn_h2: AtomicUsize,
    /// The SNI names the TLS handshakes carried (`-` for none).
    sni: Mutex<Vec<String>>,
    /// Requests that reached a handler, and of those over HTTP/2.
    requests: AtomicU64,
    http2: AtomicU64,
    /// Assets being served now, and the most at once.
    assets_now: AtomicUsize,
    assets_max: AtomicUsize,
}

/// A plain or TLS listener for `axum::serve` that counts what it accepts.
struct Counting {
    tcp: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    seen: Arc<Seen>,
}

enum Io {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(&mut **s).poll_write(cx, buf),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Io::Tls(s) => std::pin::Pin::new(&mut **s).poll_flush(cx),
        }
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => std::pin::Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

impl axum::serve::Listener for Counting {
    type Io = Io;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            let Some(acceptor) = &self.tls else {
                self.seen.conns.fetch_add(1, SeqCst);
                return (Io::Plain(tcp), addr);
            };
            // A client that refuses the certificate fails here: wait for the next one.
            if let Ok(tls) = acceptor.accept(tcp).await {
                let conn = tls.get_ref().1;
                self.seen.conns.fetch_add(1, SeqCst);
                if conn.alpn_protocol() == Some(b"h2") {
                    self.seen.alpn_h2.fetch_add(1, SeqCst);
                }
                let sni = conn.server_name().unwrap_or("-").to_string();
                self.seen.sni.lock().unwrap().push(sni);
                return (Io::Tls(Box::new(tls)), addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A JSON body of about 3 KB, gzipped.
fn gzipped() -> Vec<u8> {
    let plain = format!("{{\"word\":\"h2-gzip\",\"pad\":\"{}\"}}", "ab".repeat(1500));
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(plain.as_bytes()).unwrap();
    e.finish().unwrap()
}

const PAGE: &str = "<!doctype html><html><head>\
    <link rel=stylesheet href=/a/0><link rel=stylesheet href=/a/1>\
    <script src=/a/2></script><script src=/a/3></script></head><body>\
    <img src=/a/4><img src=/a/5></body></html>";

fn app(seen: Arc<Seen>) -> axum::Router {
    let counted = |seen: &Seen, version: Version| {
        seen.requests.fetch_add(1, SeqCst);
        if version == Version::HTTP_2 {
            seen.http2.fetch_add(1, SeqCst);
        }
    };
    axum::Router::new()
        .route(
            "/echo",
            get(move |axum::extract::State(seen): axum::extract::State<Arc<Seen>>, v: Version| async move {
                counted(&seen, v);
                format!("version: {v:?}")
            }),
        )
        .route(
            "/login",
            get(move |axum::extract::State(seen): axum::extract::State<Arc<Seen>>, v: Version| async move {
                counted(&seen, v);
                let n = seen.requests.load(SeqCst);
                ([(header::SET_COOKIE, format!("sid=u{n}; Path=/"))], "in")
            }),
        )
        .route(
            "/me",
            get(move |axum::extract::State(seen): axum::extract::State<Arc<Seen>>, v: Version, h: HeaderMap| async move {
                counted(&seen, v);
                match h.get(header::COOKIE).and_then(|c| c.to_str().ok()) {
                    Some(c) if c.starts_with("sid=u") => (StatusCode::OK, c.to_string()),
                    _ => (StatusCode::UNAUTHORIZED, "no session".to_string()),
                }
            }),
        )
        .route(
            "/gz",
            get(move |axum::extract::State(seen): axum::extract::State<Arc<Seen>>, v: Version| async move {
                counted(&seen, v);
                ([(header::CONTENT_ENCODING, "gzip")], gzipped()).into_response()
            }),
        )
        .route(
            "/slow",
            get(move |axum::extract::State(seen): axum::extract::State<Arc<Seen>>, v: Version| async move {
                counted(&seen, v);
                tokio::time::sleep(Duration::from_millis(400)).await;
                "late"
            }),
        )
        .route(
            "/len",
            axum::routing::post(move |axum::extract::State(seen): axum::extract::State<Arc<Seen>>, v: Version, body: Bytes| async move {
                counted(&seen, v);
                format!("received {} bytes", body.len())
            }),
        )
        .route(
            "/page",
            get(move |axum::extract::State(seen): axum::extract::State<Arc<Seen>>, v: Version| async move {
                counted(&seen, v);
                ([(header::CONTENT_TYPE, "text/html")], PAGE)
            }),
        )
        .route(
            "/a/{n}",
            get(move |axum::extract::State(seen): axum::extract::State<Arc<Seen>>, v: Version| async move {
                counted(&seen, v);
                let now = seen.assets_now.fetch_add(1, SeqCst) + 1;
                seen.assets_max.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
                seen.assets_now.fetch_sub(1, SeqCst);
                "asset"
            }),
        )
        .with_state(seen)
}

/// The test app on port 0: over TLS (the test certificate for 127.0.0.1 and localhost,
/// offering h2 and http/1.1) or plain (HTTP/1.1 and h2c). Its base URL and what it sees.
async fn server(tls: bool) -> (String, Arc<Seen>) {
    let tcp = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://{}", tcp.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let acceptor = tls.then(|| {
        let cfg = common::tls_server_config(&[b"h2", b"http/1.1"]);
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    });
    let listener = Counting {
        tcp,
        tls: acceptor,
        seen: seen.clone(),
    };
    let router = app(seen.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

/// The test CA copied into `dir/certs/ca.pem`.
fn copy_ca(dir: &Path) {
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    std::fs::copy(fixtures.join("ca.pem"), dir.join("certs/ca.pem")).unwrap();
}

fn one_step(defaults: &str, step: &str, users: usize, iterations: usize) -> String {
    format!(
        "defaults: {defaults}\nscenarios:\n  - name: t\n    think_time: 5ms\n    steps:\n      \
         - {step}\nload: {{users: {users}, iterations: {iterations}}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_2_goes_over_one_own_connection_per_user_with_alpn_h2_and_sni() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    copy_ca(dir.path());
    let echo = "{name: echo, get: /echo, check: {body_contains: \"version: HTTP/2.0\"}}";
    // Trusted by the CA file: 3 users, 60 requests, one connection each, ALPN h2, every
    // response HTTP/2 and every request counted by the server exactly once.
    let (base, seen) = server(true).await;
    let defaults = "{ca_file: certs/ca.pem, http_version: \"2\"}";
    let r = run(dir.path(), &one_step(defaults, echo, 3, 60), &base).await;
    let s = step(&r, "echo");
    assert_eq!(s.requests, 60);
    assert_eq!(s.ok, 60, "{:#?}", r.error_examples);
    assert_eq!(r.overall.http_versions, [("HTTP/2".to_string(), 60)].into());
    assert_eq!(seen.requests.load(SeqCst), 60);
    assert_eq!(seen.http2.load(SeqCst), 60);
    assert_eq!(seen.conns.load(SeqCst), 3, "one connection per user");
    assert_eq!(seen.alpn_h2.load(SeqCst), 3);
    // An IP address carries no SNI.
    assert!(seen.sni.lock().unwrap().iter().all(|n| n == "-"));

    // By name: SNI says it, and the certificate's DNS name is verified against it.
    let (base, seen) = server(true).await;
    let by_name = base.replace("127.0.0.1", "localhost");
    let r = run(dir.path(), &one_step(defaults, echo, 1, 5), &by_name).await;
    assert_eq!(step(&r, "echo").ok, 5, "{:#?}", r.error_examples);
    assert_eq!(*seen.sni.lock().unwrap(), ["localhost"]);

    // Without the CA file the certificate is refused: every request a `tls` error (or, on
    // a machine without system roots, HTTPS cannot start at all).
    let (base, seen) = server(true).await;
    let yaml = one_step("{http_version: \"2\"}", echo, 2, 6);
    match try_run(dir.path(), &yaml, &base).await {
        Ok(r) => {
            let s = step(&r, "echo");
            assert_eq!(s.requests, 6);
            assert_eq!(s.errors_by_kind.get("tls"), Some(&6), "{s:#?}");
            assert_eq!(seen.requests.load(SeqCst), 0);
        }
        Err(e) => assert!(matches!(e, engine::EngineError::Tls(_)), "{e}"),
    }

    // `insecure: true` accepts it.
    let (base, seen) = server(true).await;
    let yaml = one_step("{insecure: true, http_version: \"2\"}", echo, 2, 10);
    let r = run(dir.path(), &yaml, &base).await;
    assert_eq!(step(&r, "echo").ok, 10, "{:#?}", r.error_examples);
    assert!(!r.run.tls_verify);
    assert_eq!(seen.alpn_h2.load(SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_keeps_cookies_decodes_gzip_and_times_out() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = server(false).await;
    // Each user logs in once (its jar keeps the cookie), then sends it on every request.
    let yaml = "defaults: {http_version: \"2\"}\nscenarios:\n  - name: s\n    think_time: 5ms\n    \
                on_start:\n      - {get: /login, check: {status: 200}}\n    steps:\n      \
                - {name: me, get: /me, check: {status: 200, body_contains: \"sid=u\"}}\n      \
                - {name: gz, get: /gz, check: {body_contains: \"h2-gzip\"}}\n\
                load: {users: 2, iterations: 20}\n";
    let r = run(dir.path(), yaml, &base).await;
    for name in ["me", "gz"] {
        let s = step(&r, name);
        assert_eq!(
            (s.requests, s.ok),
            (20, 20),
            "{name}: {:#?}",
            r.error_examples
        );
    }
    // The body was counted decoded (about 3 KB each), not as the ~100 gzipped bytes.
    assert!(
        step(&r, "gz").bytes >= 20 * 3000,
        "{}",
        step(&r, "gz").bytes
    );
    assert_eq!(seen.requests.load(SeqCst), 2 + 40);
    assert_eq!(seen.http2.load(SeqCst), 42);
    assert_eq!(seen.conns.load(SeqCst), 2);

    // A response later than the step's timeout is a `timeout`, and the connection serves
    // the next request.
    let yaml = "defaults: {http_version: \"2\"}\nscenarios:\n  - name: s\n    steps:\n      \
                - {name: slow, get: /slow, timeout: 100ms}\n      \
                - {name: after, get: /echo, check: {status: 200}}\n\
                load: {users: 1, iterations: 3}\n";
    let r = run(dir.path(), yaml, &base).await;
    let slow = step(&r, "slow");
    assert_eq!(slow.errors_by_kind.get("timeout"), Some(&3), "{slow:#?}");
    assert!(
        slow.response_time.max_us < 300_000,
        "{:?}",
        slow.response_time
    );
    assert_eq!(step(&r, "after").ok, 3, "{:#?}", r.error_examples);

    // An upload larger than HTTP/2's initial 64 KB window goes out whole as the server
    // opens the window.
    let yaml = "defaults: {http_version: \"2\"}\nscenarios:\n  - name: s\n    steps:\n      \
                - {name: up, post: /len, multipart: {files: {blob: {size: 300KiB}}}, \
                check: {status: 200, body_contains: \"received 307\"}}\n\
                load: {users: 2, iterations: 4}\n";
    let r = run(dir.path(), yaml, &base).await;
    let up = step(&r, "up");
    assert_eq!((up.requests, up.ok), (4, 4), "{:#?}", r.error_examples);
}

/// What a bare HTTP/2 test server saw.
#[derive(Default)]
struct BareSeen {
    conns: AtomicUsize,
    requests: AtomicU64,
}

/// A bare HTTP/2 server (h2c) on loopback, each accepted connection served by `serve`
/// (after the HTTP/2 handshake); connections counted in what it saw.
async fn bare_h2_server<F, Fut>(serve: F) -> (String, Arc<BareSeen>)
where
    F: Fn(h2::server::Connection<tokio::net::TcpStream, Bytes>, Arc<BareSeen>) -> Fut,
    F: Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(BareSeen::default());
    let s = seen.clone();
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                continue;
            };
            s.conns.fetch_add(1, SeqCst);
            let (s, serve) = (s.clone(), serve.clone());
            tokio::spawn(async move {
                if let Ok(conn) = h2::server::handshake(tcp).await {
                    serve(conn, s).await;
                }
            });
        }
    });
    (url, seen)
}

/// Answer `200 ok` to a request, counted.
fn answer_ok(mut respond: h2::server::SendResponse<Bytes>, seen: &BareSeen) {
    seen.requests.fetch_add(1, SeqCst);
    let head = http::Response::builder().status(200).body(()).unwrap();
    if let Ok(mut body) = respond.send_response(head, false) {
        let _ = body.send_data(Bytes::from_static(b"ok"), true);
    }
}

/// A bare HTTP/2 server (h2c) that answers `200 ok` and ends each connection with a
/// graceful `GOAWAY` after `per_conn` requests.
async fn goaway_server(per_conn: u64) -> (String, Arc<BareSeen>) {
    bare_h2_server(move |mut conn, seen| async move {
        let mut served = 0;
        while let Some(Ok((_req, respond))) = conn.accept().await {
            answer_ok(respond, &seen);
            served += 1;
            if served == per_conn {
                conn.graceful_shutdown();
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_saying_goaway_every_few_requests_costs_no_request() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = goaway_server(5).await;
    let step_yaml = "{name: g, get: /, check: {status: 200, body_contains: ok}}";
    let r = run(
        dir.path(),
        &one_step("{http_version: \"2\"}", step_yaml, 2, 100),
        &base,
    )
    .await;
    let s = step(&r, "g");
    assert_eq!((s.requests, s.ok), (100, 100), "{:#?}", r.error_examples);
    // The server processed each request once: none lost, none sent twice.
    assert_eq!(seen.requests.load(SeqCst), 100);
    // A new connection after each GOAWAY (a request sent as one arrives is still served).
    let conns = seen.conns.load(SeqCst);
    assert!(
        (12..=22).contains(&conns),
        "{conns} connections for 100 requests"
    );
}

/// A bare HTTP/2 server (h2c) that answers `200 ok` and drops a connection without a word
/// (no `GOAWAY`) once it has been idle for `idle`, as a server's keep-alive timeout does.
async fn idle_closing_server(idle: Duration) -> (String, Arc<BareSeen>) {
    bare_h2_server(move |mut conn, seen| async move {
        while let Ok(Some(Ok((_req, respond)))) = tokio::time::timeout(idle, conn.accept()).await {
            answer_ok(respond, &seen);
        }
        // Idle too long: the connection is dropped, the socket closed.
    })
    .await
}

/// A server that closed the connection while the user was thinking: the close is noticed
/// before the next request, so a POST (never resent) goes out on a new connection and none
/// fails. (It guards a design that drives the connection only while a request waits on it:
/// tried, 18 % slower than a driver task of its own, and not kept.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closed_while_the_user_thought_is_not_used_again() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = idle_closing_server(Duration::from_millis(100)).await;
    let yaml = "defaults: {http_version: \"2\"}\nscenarios:\n  - name: t\n    \
                think_time: 300ms\n    steps:\n      \
                - {name: p, post: /, json: {a: 1}, check: {status: 200, body_contains: ok}}\n\
                load: {users: 2, iterations: 12}\n";
    let r = run(dir.path(), yaml, &base).await;
    let s = step(&r, "p");
    assert_eq!((s.requests, s.ok), (12, 12), "{:#?}", r.error_examples);
    assert_eq!(seen.requests.load(SeqCst), 12);
    // Each request after a think found its connection closed and opened another.
    let conns = seen.conns.load(SeqCst);
    assert!(
        (10..=12).contains(&conns),
        "{conns} connections for 12 requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_s_assets_are_streams_of_the_user_s_one_connection() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = |version: &str| {
        format!(
            "defaults: {{http_version: \"{version}\"}}\nscenarios:\n  - name: b\n    steps:\n      \
             - {{name: home, page: /page, assets: auto, check: {{status: 200}}}}\n\
             load: {{users: 1, iterations: 4}}\n"
        )
    };
    let (base, seen) = server(false).await;
    let r = run(dir.path(), &yaml("2"), &base).await;
    let assets = step(&r, "home (assets)");
    assert_eq!(
        (assets.requests, assets.ok),
        (24, 24),
        "{:#?}",
        r.error_examples
    );
    assert_eq!(seen.requests.load(SeqCst), 4 + 24);
    assert_eq!(seen.http2.load(SeqCst), 28);
    // One connection for the document and all six assets, all six in flight at once: a
    // view takes one asset's 40 ms after the document, not six.
    assert_eq!(seen.conns.load(SeqCst), 1);
    assert_eq!(seen.assets_max.load(SeqCst), 6);
    let page = step(&r, "home");
    assert!(
        page.service_time.max_us < 200_000,
        "{:?}",
        page.service_time
    );
    assert_eq!(r.overall.http_versions, [("HTTP/2".to_string(), 28)].into());

    // Over HTTP/1.1 the assets go over the user's client: several connections.
    let (base, seen) = server(false).await;
    let r = run(dir.path(), &yaml("auto"), &base).await;
    assert_eq!(step(&r, "home (assets)").ok, 24, "{:#?}", r.error_examples);
    assert_eq!(seen.http2.load(SeqCst), 0);
    assert!(seen.conns.load(SeqCst) > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_20ms_route_reports_20ms_over_http2_and_the_demo_counts_every_request() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let route = RouteConfig {
        service_time: Duration::from_millis(20),
        jitter: Duration::ZERO,
        db: None,
    };
    let server = demo::serve(
        loopback(),
        DemoConfig::default().with_route("product", route),
    )
    .await
    .unwrap();
    let step_yaml = "{name: p, get: /api/products/3, check: {status: 200}}";
    let r = run(
        dir.path(),
        &one_step("{http_version: \"2\"}", step_yaml, 4, 80),
        &server.url(),
    )
    .await;
    let s = step(&r, "p");
    assert_eq!((s.requests, s.ok), (80, 80), "{:#?}", r.error_examples);
    assert_eq!(server.stats().requests.get("product"), Some(&80));
    let p50 = s.service_time.p50_us;
    eprintln!(
        "fixed 20 ms over HTTP/2: p50 {p50} µs, p99 {} µs",
        s.service_time.p99_us
    );
    assert!((20_000..23_000).contains(&p50), "p50 {p50} µs");
    server.shutdown().await;
}
