//! WebSocket steps (`ws:`) over real loopback sockets: the demo's echo (exact counts per
//! cell, a round trip of the known delay, typed JSON, extracts feeding later messages), the
//! upgrade carrying the user's cookies, the scenario's headers and credentials (and the
//! cookies it sets coming back into the jar), an upgrade refused (404, 401, nothing
//! listening) counted in the connect cell, replies that never come or never match counted
//! as timeouts, `session_timeout`, and `wss://` with the run's TLS settings.
//!
//! The servers are the embedded demo target and small axum apps started here (port 0).
//! goose keeps process-global state, so runs here go one at a time under `ONE_ATTACK`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use skein::demo::{self, DemoConfig};
use skein::engine::{self, RunOptions};
use skein::metrics::{self, RunResult, WS_MESSAGE_METHOD, WS_SESSION_METHOD};
use skein::scenario::{self, Plan};

static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Write `yaml` (after a `target:` line) to `dir/test.yaml`, load it and run it.
async fn try_run(
    dir: &Path,
    yaml: &str,
    base_url: &str,
) -> (Plan, PathBuf, Result<RunResult, engine::EngineError>) {
    let path = dir.join("test.yaml");
    let text = format!("target: {base_url}\n{yaml}");
    std::fs::write(&path, &text).unwrap();
    let plan = scenario::parse_with_env(&text, &path, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let run_dir = engine::results_dir(&dir.join("reports"), &plan).unwrap();
    let r = engine::run(&plan, RunOptions::new(run_dir.clone(), base_url)).await;
    (plan, run_dir, r)
}

async fn run(dir: &Path, yaml: &str, base_url: &str) -> (PathBuf, RunResult) {
    let (_, run_dir, r) = try_run(dir, yaml, base_url).await;
    (run_dir, r.unwrap())
}

fn step<'a>(r: &'a RunResult, name: &str) -> &'a metrics::Summary {
    &r.step(name)
        .unwrap_or_else(|| panic!("no step {name:?}"))
        .summary
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_sessions_count_every_message_and_time_the_known_delay() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
variables: {n: "7"}
scenarios:
  - name: chat
    steps:
      - name: echo
        ws: /ws/echo?delay_ms=20
        tags: [socket]
        messages:
          - send: "hello ${n}"
            expect: {equals: "hello ${n}"}
          - send_json: {op: add, qty: "${n:int}", note: "n is ${n}"}
            expect: {json: [{path: "$.qty", equals: 7}, {path: "$.note", equals: "n is 7"}]}
            extract:
              got: {json: "$.op"}
          - send: "op was ${got}"
            expect: {contains: "was add"}
          - send: "no reply awaited"
          - pause: 10ms
load: {users: 3, duration: 2s}
targets:
  - p50(step="echo (message)") < 40ms
"#;
    let (_, r) = run(dir.path(), yaml, &server.url()).await;
    server.shutdown().await;

    let session = step(&r, "echo");
    let connect = step(&r, "echo (connect)");
    let message = step(&r, "echo (message)");
    assert!(session.requests >= 6, "{session:#?}");
    for (name, s) in [
        ("session", session),
        ("connect", connect),
        ("message", message),
    ] {
        assert_eq!(s.errors, 0, "{name}: {:#?}", r.error_examples);
        assert_eq!(s.check_failed, 0, "{name}");
    }
    // One connect per session; one round trip per message that waits for a reply (three).
    assert_eq!(connect.requests, session.requests);
    assert_eq!(message.requests, 3 * session.requests);
    // The echo answers after 20 ms: that is the round trip.
    let p50 = ms(message.response_time.p50_us);
    assert!((20.0..30.0).contains(&p50), "message p50 {p50} ms");
    assert!(message.response_time.min_us >= 20_000, "{message:#?}");
    // A session is three round trips, a pause and the close: at least 70 ms.
    assert!(session.response_time.min_us >= 70_000, "{session:#?}");
    assert!(ms(session.response_time.p50_us) < 150.0, "{session:#?}");
    // Connect is a request (the totals count it); the session and its messages are not.
    assert_eq!(r.overall.requests, connect.requests);
    let cell = |name: &str| r.cells.iter().find(|c| c.step == name).unwrap();
    assert_eq!(cell("echo").method, WS_SESSION_METHOD);
    assert_eq!(cell("echo").tags, ["socket"]);
    assert_eq!(cell("echo (connect)").method, "GET");
    assert_eq!(cell("echo (message)").method, WS_MESSAGE_METHOD);
    assert_eq!(cell("echo (message)").checks, ["extract got"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_session_socket_takes_the_login_token_and_refuses_without_it() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: shop
    think_time: 50ms
    on_start:
      - post: /api/login
        json: {username: ada, password: demo}
        extract: {token: {json: "$.token"}}
      - post: /api/cart
        auth: {bearer: "${token}"}
        json: {product_id: 3, qty: 2}
    steps:
      - name: live cart
        ws: /ws/session
        auth: {bearer: "${token}"}
        messages:
          - send: cart?
            expect: {json: [{path: "$.echo", equals: "cart?"}, {path: "$.cart.count", equals: 2}]}
      - name: anonymous
        ws: /ws/session
        messages: [{send: hi, expect: any}]
load: {users: 2, duration: 1s}
"#;
    let (_, r) = run(dir.path(), yaml, &server.url()).await;
    server.shutdown().await;
    let live = step(&r, "live cart (message)");
    assert!(live.requests > 0);
    assert_eq!(live.errors, 0, "{:#?}", r.error_examples);
    assert_eq!(step(&r, "live cart (connect)").errors, 0);
    // Without the token the demo answers 401 to the upgrade: a 4xx of the connect cell,
    // and the session failed with it; no message was sent.
    let anon = step(&r, "anonymous (connect)");
    assert!(anon.requests > 0);
    assert_eq!(anon.errors_by_kind.get("http_4xx"), Some(&anon.requests));
    let session = step(&r, "anonymous");
    assert_eq!(session.errors, session.requests);
    assert!(
        r.step("anonymous (message)")
            .is_none_or(|s| s.summary.requests == 0)
    );
}

/// What the cookie test's server saw on each upgrade.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<HeaderMap>>>);

/// `GET /login` sets `sid`; `/ws` upgrades only with that cookie, and sets `seen`, greets
/// with `welcome`, then answers `re: MESSAGE`;
/// `GET /after` answers 200 only with both cookies.
fn cookie_app(seen: Seen) -> Router {
    async fn login() -> Response {
        ([(header::SET_COOKIE, "sid=s-42; Path=/")], "ok").into_response()
    }
    async fn ws(State(seen): State<Seen>, headers: HeaderMap, up: WebSocketUpgrade) -> Response {
        let cookie = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        seen.0.lock().unwrap().push(headers);
        if !cookie.contains("sid=s-42") {
            return StatusCode::FORBIDDEN.into_response();
        }
        let mut resp = up.on_upgrade(|mut socket| async move {
            // A greeting first, pushed before any message.
            if socket.send(Message::Text("welcome".into())).await.is_err() {
                return;
            }
            while let Some(Ok(m)) = socket.recv().await {
                if let Message::Text(t) = m
                    && socket
                        .send(Message::Text(format!("re: {t}").into()))
                        .await
                        .is_err()
                {
                    return;
                }
            }
        });
        resp.headers_mut()
            .insert(header::SET_COOKIE, "seen=yes; Path=/".parse().unwrap());
        resp
    }
    async fn after(headers: HeaderMap) -> StatusCode {
        let c = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if c.contains("sid=s-42") && c.contains("seen=yes") {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        }
    }
    Router::new()
        .route("/login", get(login))
        .route("/ws", get(ws))
        .route("/after", get(after))
        .with_state(seen)
}

async fn serve(app: Router) -> String {
    let tcp = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("http://{}", tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(tcp, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_carries_cookies_headers_and_auth_and_keeps_the_cookies_it_gets() {
    let _one = ONE_ATTACK.lock().await;
    let seen = Seen::default();
    let base = serve(cookie_app(seen.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
defaults:
  headers: {X-Default: d1}
scenarios:
  - name: s
    headers: {X-Client: "skein-${n}"}
    auth: {bearer: tok-Zq81-secret}
    variables: {}
    on_start:
      - get: /login
    steps:
      - name: sock
        ws: /ws
        headers: {X-Step: st}
        messages:
          - expect: {equals: welcome}
          - send: hi
            expect: {equals: "re: hi"}
      - get: /after
        check: {status: 200}
    think_time: 20ms
variables: {n: "1"}
load: {users: 2, duration: 1s}
"#
    .replace("    variables: {}\n", "");
    let (run_dir, r) = run(dir.path(), &yaml, &base).await;
    let s = step(&r, "sock (message)");
    assert!(s.requests > 0);
    assert_eq!(s.errors, 0, "{:#?}", r.error_examples);
    // The pushed greeting and the reply: two per session.
    assert_eq!(s.requests, 2 * step(&r, "sock").requests);
    // The cookie the upgrade's 101 set went into the jar: the next request sent it.
    let after = step(&r, "GET /after");
    assert_eq!(after.ok, after.requests, "{:#?}", r.error_examples);
    let seen = seen.0.lock().unwrap();
    let h = &seen[0];
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(get("cookie").contains("sid=s-42"), "{h:?}");
    assert_eq!(get("authorization"), "Bearer tok-Zq81-secret");
    assert_eq!(get("x-client"), "skein-1");
    assert_eq!(get("x-step"), "st");
    assert_eq!(get("x-default"), "d1");
    assert!(get("user-agent").starts_with("skein/"), "{h:?}");
    drop(seen);
    // The credential never reaches the run folder.
    for e in walk(&run_dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&e).unwrap()).into_owned();
        assert!(
            !text.contains("tok-Zq81-secret"),
            "{} holds the token",
            e.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_are_errors_of_the_connect_cell() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind(loopback()).unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
scenarios:
  - name: s
    think_time: 50ms
    steps:
      - name: missing
        ws: /no/such/socket
        messages: [{{send: hi, expect: any}}]
      - name: refused
        ws: ws://127.0.0.1:{closed_port}/ws
        messages: [{{send: hi, expect: any}}]
      - name: plain http
        ws: /health
        messages: [{{send: hi, expect: any}}]
load: {{users: 1, duration: 1s}}
"#
    );
    let (_, r) = run(dir.path(), &yaml, &server.url()).await;
    server.shutdown().await;
    let missing = step(&r, "missing (connect)");
    assert!(missing.requests > 0);
    assert_eq!(
        missing.errors_by_kind.get("http_4xx"),
        Some(&missing.requests)
    );
    let refused = step(&r, "refused (connect)");
    assert_eq!(
        refused.errors_by_kind.get("connection_refused"),
        Some(&refused.requests)
    );
    // A 200 to an upgrade is no upgrade.
    let plain = step(&r, "plain http (connect)");
    assert_eq!(plain.errors, plain.requests);
    for name in ["missing", "refused", "plain http"] {
        let s = step(&r, name);
        assert_eq!(s.errors, s.requests, "{name}");
    }
    let examples = format!("{:?}", r.error_examples);
    assert!(
        examples.contains("HTTP 404 to a WebSocket upgrade"),
        "{examples}"
    );
    // The requests counted are the connects, all failed.
    assert_eq!(r.overall.errors, r.overall.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_that_never_come_or_never_match_are_timeouts() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    steps:
      - name: slow
        ws: /ws/echo?delay_ms=300
        messages:
          - send: hi
            expect: any
            timeout: 50ms
          - send: never sent
            expect: any
      - name: wrong
        ws: /ws/echo
        messages:
          - send: hi
            expect: {contains: bye}
            timeout: 80ms
      - name: bounded
        ws: /ws/echo
        session_timeout: 100ms
        messages:
          - send: hi
            expect: any
          - pause: 1s
load: {users: 2, duration: 1s}
"#;
    let (_, r) = run(dir.path(), yaml, &server.url()).await;
    server.shutdown().await;
    for (name, at_least_ms) in [("slow", 50.0), ("wrong", 80.0)] {
        let sessions = step(&r, name);
        let m = step(&r, &format!("{name} (message)"));
        assert!(sessions.requests > 0);
        // One timed-out message per session (the session stops at it).
        assert_eq!(m.requests, sessions.requests, "{name}");
        assert_eq!(m.errors_by_kind.get("timeout"), Some(&m.requests), "{name}");
        assert!(ms(m.response_time.min_us) >= at_least_ms, "{name}: {m:#?}");
        assert!(
            ms(m.response_time.max_us) < at_least_ms + 100.0,
            "{name}: {m:#?}"
        );
        assert_eq!(
            sessions.errors_by_kind.get("timeout"),
            Some(&sessions.requests)
        );
        assert_eq!(step(&r, &format!("{name} (connect)")).errors, 0);
    }
    // `session_timeout` cuts the pause: the session lasts about 100 ms and is a timeout.
    let b = step(&r, "bounded");
    assert!(b.requests > 0);
    assert_eq!(b.errors_by_kind.get("timeout"), Some(&b.requests));
    assert!(ms(b.response_time.max_us) < 400.0, "{b:#?}");
    assert_eq!(step(&r, "bounded (message)").errors, 0);
}

/// TLS connections on a TCP listener, for axum: a client that refuses the certificate
/// fails its handshake, and the next one is accepted.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// An echo WebSocket over TLS with the test certificate for 127.0.0.1; its `wss://` URL.
async fn tls_echo() -> String {
    let cfg = common::tls_server_config(&[b"http/1.1"]);
    let tcp = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("wss://{}/echo", tcp.local_addr().unwrap());
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
    };
    let app = Router::new().route(
        "/echo",
        get(|up: WebSocketUpgrade| async move {
            up.on_upgrade(|mut socket| async move {
                while let Some(Ok(m)) = socket.recv().await {
                    if matches!(m, Message::Text(_)) && socket.send(m).await.is_err() {
                        return;
                    }
                }
            })
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_uses_the_runs_tls_settings() {
    let _one = ONE_ATTACK.lock().await;
    let url = tls_echo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    std::fs::copy(fixtures.join("ca.pem"), dir.path().join("certs/ca.pem")).unwrap();
    let yaml = |defaults: &str| {
        format!(
            "defaults: {defaults}\nscenarios:\n  - name: t\n    think_time: 20ms\n    steps:\n      \
             - {{name: tls, ws: \"{url}\", messages: [{{send: hi, expect: {{equals: hi}}}}]}}\n\
             load: {{users: 1, duration: 1s}}\n"
        )
    };
    // The target is plain http (no TLS there); the step's wss:// URL takes the run's TLS.
    let base = "http://127.0.0.1:9";
    let (_, r) = run(dir.path(), &yaml("{ca_file: certs/ca.pem}"), base).await;
    let m = step(&r, "tls (message)");
    assert!(m.requests > 0);
    assert_eq!(m.errors, 0, "{:#?}", r.error_examples);
    assert_eq!(step(&r, "tls (connect)").errors, 0);

    // Verification is on by default: the test CA is not trusted.
    let (_, _, r) = try_run(dir.path(), &yaml("{}"), base).await;
    if let Ok(r) = r {
        let c = step(&r, "tls (connect)");
        assert!(c.requests > 0);
        assert_eq!(c.errors_by_kind.get("tls"), Some(&c.requests), "{c:#?}");
    }

    // `insecure: true` accepts it.
    let (_, r) = run(dir.path(), &yaml("{insecure: true}"), base).await;
    let m = step(&r, "tls (message)");
    assert!(m.requests > 0);
    assert_eq!(m.errors, 0, "{:#?}", r.error_examples);
}

/// Python with the `websockets` package: a third-party WebSocket server.
const PY_WEBSOCKETS: common::Tool = common::Tool {
    name: "websockets",
    purpose: "run a third-party WebSocket echo server (Python's `websockets`)",
    path_var: "SKEIN_WEBSOCKETS_PYTHON",
    commands: &["python3"],
    install: "python3 -m venv /opt/ws && /opt/ws/bin/pip install websockets==17.4, then \
              SKEIN_WEBSOCKETS_PYTHON=/opt/ws/bin/python3 (or apt-get install -y python3-websockets)",
};

/// A Python that can `import websockets`, or `None` after saying why the test skips
/// (a failure when `SKEIN_REQUIRE_TOOLS` asks for it).
fn python_with_websockets() -> Option<PathBuf> {
    let python = common::tool(&PY_WEBSOCKETS)?;
    let ok = std::process::Command::new(&python)
        .args(["-c", "import websockets"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    let why = format!(
        "{} cannot `import websockets`, so this test cannot {}; install it with `{}`",
        python.display(),
        PY_WEBSOCKETS.purpose,
        PY_WEBSOCKETS.install
    );
    let require = std::env::var_os(common::REQUIRE_TOOLS);
    match common::lookup(&PY_WEBSOCKETS, None, None, require.as_deref()) {
        common::Lookup::Fail(_) => panic!(
            "{why}.\n  {} requires it (CI sets it)",
            common::REQUIRE_TOOLS
        ),
        _ => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {why}. Set {}=1 to make this a failure, as CI does.",
                common::REQUIRE_TOOLS
            );
            None
        }
    }
}

/// The Python echo server, killed when dropped.
struct PyServer(std::process::Child);

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_echo_server_python_websockets() {
    let Some(python) = python_with_websockets() else {
        return;
    };
    let _one = ONE_ATTACK.lock().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ws/echo_server.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = PyServer(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no port: {line:?}"));
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: py
    steps:
      - name: echo
        ws: /echo?delay_ms=20
        messages:
          - send: "hello"
            expect: {equals: hello}
          - send_json: {n: 3}
            expect: {json: [{path: "$.n", equals: 3}]}
load: {users: 2, duration: 1s}
"#;
    let (_, r) = run(dir.path(), yaml, &format!("http://127.0.0.1:{port}")).await;
    drop(server);
    let session = step(&r, "echo");
    let message = step(&r, "echo (message)");
    assert!(session.requests > 0);
    assert_eq!(r.overall.errors, 0, "{:#?}", r.error_examples);
    assert_eq!(session.errors, 0, "{:#?}", r.error_examples);
    assert_eq!(message.errors, 0);
    assert_eq!(message.requests, 2 * session.requests);
    assert_eq!(step(&r, "echo (connect)").requests, session.requests);
    let p50 = ms(message.response_time.p50_us);
    assert!((20.0..30.0).contains(&p50), "message p50 {p50} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_sessions_count_and_time_like_requests() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo::serve(loopback(), DemoConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: s
    steps:
      - name: echo
        ws: /ws/echo?delay_ms=20
        messages: [{send: hi, expect: {equals: hi}}]
load: {arrival_rate: 10/s, duration: 2s, max_users: 10}
"#;
    let (_, r) = run(dir.path(), yaml, &server.url()).await;
    server.shutdown().await;
    let session = step(&r, "echo");
    let connect = step(&r, "echo (connect)");
    let message = step(&r, "echo (message)");
    assert!((15..=25).contains(&session.requests), "{session:#?}");
    assert_eq!(connect.requests, session.requests);
    assert_eq!(message.requests, session.requests);
    assert_eq!(r.overall.errors, 0, "{:#?}", r.error_examples);
    assert_eq!(session.errors + message.errors, 0);
    // The session's service time is its own (the round trip and the close); its response
    // time runs from the intended start, so it is never shorter.
    assert!(session.service_time.min_us >= 20_000, "{session:#?}");
    assert!(session.response_time.p50_us >= session.service_time.p50_us);
    let p50 = ms(message.response_time.p50_us);
    assert!((20.0..30.0).contains(&p50), "message p50 {p50} ms");
}
