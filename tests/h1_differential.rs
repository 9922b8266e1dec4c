//! The two HTTP paths side by side: the same steps sent by a user on the fast path (Skein's
//! own HTTP/1.1) and by a user whose every request goes through reqwest (the path of
//! HTTPS, HTTP/2 and a page's assets), against the same loopback server, must come back
//! the same: status, the headers that carry meaning, body bytes, redirects, errors, and
//! what each user's cookie jar holds afterwards.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Path as UrlPath;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{any, get};
use skein::engine::fuzzing::{Failed, Reply, User};

/// The cookies of a `Cookie` header, sorted: a jar lists them in no set order.
fn sorted(cookies: &str) -> String {
    let mut pairs: Vec<&str> = cookies.split("; ").collect();
    pairs.sort_unstable();
    pairs.join("; ")
}

/// Echo what the server received: method, body, and the request headers both paths
/// should send alike.
async fn echo(method: Method, headers: HeaderMap, body: Bytes) -> String {
    let mut out = format!("{method}\n");
    for name in ["content-type", "content-length", "x-custom", "cookie"] {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| sorted(v.to_str().unwrap_or("?")))
            .collect();
        out.push_str(&format!("{name}: {values:?}\n"));
    }
    out.push_str(&String::from_utf8_lossy(&body));
    out
}

fn redirect(status: StatusCode, to: &str) -> Response {
    (status, [(header::LOCATION, to.to_string())]).into_response()
}

fn gzipped(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn router() -> axum::Router {
    axum::Router::new()
        .route(
            "/plain",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/plain"),
                        (header::ETAG, "\"v1\""),
                    ],
                    AppendHeaders([("x-multi", "one"), ("x-multi", "two")]),
                    "hello plain",
                )
            }),
        )
        .route("/echo", any(echo))
        .route(
            "/gzip",
            get(|| async {
                (
                    [
                        (header::CONTENT_ENCODING, "gzip"),
                        (header::CONTENT_TYPE, "application/json"),
                    ],
                    gzipped(&format!("{{\"pad\":\"{}\"}}", "ab".repeat(2000))),
                )
            }),
        )
        .route(
            "/chunked",
            get(|| async {
                let parts = ["chunks ", "of ", "a body"].map(Ok::<_, std::io::Error>);
                Body::from_stream(futures::stream::iter(parts))
            }),
        )
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/notmod",
            get(|| async { (StatusCode::NOT_MODIFIED, [(header::ETAG, "\"v1\"")]) }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "nope") }),
        )
        .route(
            "/login",
            get(|| async {
                (
                    AppendHeaders([
                        (header::SET_COOKIE, "sid=abc; Path=/"),
                        (header::SET_COOKIE, "theme=dark; Path=/; Max-Age=60"),
                    ]),
                    "welcome",
                )
            }),
        )
        .route(
            "/logout",
            get(|| async { ([(header::SET_COOKIE, "sid=; Path=/; Max-Age=0")], "bye") }),
        )
        .route(
            "/bounce",
            get(|| async {
                let mut r = redirect(StatusCode::FOUND, "/echo");
                r.headers_mut()
                    .insert(header::SET_COOKIE, "hop=1; Path=/".parse().unwrap());
                r
            }),
        )
        .route(
            "/see-other",
            any(|| async { redirect(StatusCode::SEE_OTHER, "/echo") }),
        )
        .route(
            "/keep",
            any(|| async { redirect(StatusCode::TEMPORARY_REDIRECT, "/echo") }),
        )
        .route(
            "/moved",
            get(|| async { redirect(StatusCode::MOVED_PERMANENTLY, "/plain") }),
        )
        .route(
            "/r/{n}",
            get(|UrlPath(n): UrlPath<u32>| async move {
                match n {
                    0 => "arrived".into_response(),
                    n => redirect(StatusCode::FOUND, &format!("/r/{}", n - 1)),
                }
            }),
        )
}

/// The steps both users send, in order.
const STEPS: &[&str] = &[
    "{get: /plain}",
    "{head: /plain}",
    "{post: /echo, body: raw body text, headers: {X-Custom: abc, Content-Type: text/plain}}",
    "{post: /echo, json: {a: 1, b: [true, null]}}",
    "{put: /echo, form: {q: 'a b&c', n: é}}",
    "{delete: /echo}",
    "{get: /gzip}",
    "{get: /chunked}",
    "{get: /empty}",
    "{get: /notmod}",
    "{get: /missing}",
    "{get: /login}",
    "{get: /echo}",
    "{get: /echo, headers: {Cookie: manual=1}}",
    "{get: /bounce}",
    "{post: /see-other, body: dropped on the way}",
    "{post: /keep, body: kept on the way}",
    "{get: /moved}",
    "{get: /moved, follow_redirects: false}",
    "{get: /r/3}",
    "{get: /r/3, follow_redirects: 2}",
    "{get: /r/3, follow_redirects: false}",
    "{get: /logout}",
    "{get: /echo}",
];

/// The response headers whose meaning both paths must agree on (not `date`, which
/// differs by the second).
const HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "set-cookie",
    "location",
    "etag",
    "x-multi",
];

/// What a step came to, in the terms compared.
#[derive(Debug, PartialEq)]
enum Seen {
    Reply {
        status: u16,
        headers: Vec<(&'static str, Vec<String>)>,
        body: String,
        url: String,
        redirects: u32,
    },
    Failed {
        kind: String,
    },
}

fn seen(r: Result<Reply, Failed>) -> Seen {
    match r {
        Ok(r) => Seen::Reply {
            status: r.status,
            headers: HEADERS
                .iter()
                .map(|&n| {
                    let values = r.headers.get_all(n).iter();
                    (n, values.map(|v| v.to_str().unwrap().to_string()).collect())
                })
                .collect(),
            body: String::from_utf8_lossy(&r.body).into_owned(),
            url: r.url,
            redirects: r.redirects,
        },
        Err(f) => Seen::Failed {
            kind: f.kind.as_str().to_string(),
        },
    }
}

/// `f`'s result, or a failure after 10 s.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("a step that ends")
}

fn plan(url: &str) -> skein::scenario::Plan {
    let steps: String = STEPS.iter().map(|s| format!("      - {s}\n")).collect();
    let yaml = format!(
        "target: {url}\ndefaults: {{timeout: 5s}}\nscenarios:\n  - name: s\n    steps:\n\
         {steps}load: {{users: 1, duration: 1s}}\n"
    );
    skein::scenario::parse_str(&yaml, Path::new("differential.yaml")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_path_and_reqwest_see_the_same_responses_and_keep_the_same_cookies() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router()).await });
    let plan = plan(&url);
    let mut fast = User::new(&plan, &url).unwrap();
    let mut reqwest = User::over_reqwest(&plan, &url).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for (i, step) in STEPS.iter().enumerate() {
        let a = seen(bounded(fast.fetch(i)).await);
        let b = seen(bounded(reqwest.fetch(i)).await);
        assert_eq!(
            a, b,
            "step {i} {step}: fast path (left) and reqwest (right)"
        );
        assert_eq!(
            fast.cookies(&url).as_deref().map(sorted),
            reqwest.cookies(&url).as_deref().map(sorted),
            "the cookie jars after step {i} {step}"
        );
        kinds.insert(match &a {
            Seen::Reply { status, .. } => status.to_string(),
            Seen::Failed { kind } => kind.clone(),
        });
    }
    // The steps covered what they were written for.
    for want in [
        "200",
        "204",
        "301",
        "302",
        "304",
        "404",
        "too_many_redirects",
    ] {
        assert!(kinds.contains(want), "{want} not seen: {kinds:?}");
    }
    // Logged out: the jar keeps the cookies that were not removed.
    let jar = fast.cookies(&url).unwrap_or_default();
    assert!(jar.contains("theme=dark") && jar.contains("hop=1"), "{jar}");
    assert!(!jar.contains("sid="), "{jar}");
}

/// How a hand-written server fails the one request it is sent on each connection.
#[derive(Debug, Clone, Copy)]
enum Misbehaves {
    /// Closes the connection (a FIN) before any byte of a response.
    ClosesBeforeTheHead,
    /// Sends half a head, then resets the connection (`SO_LINGER` 0).
    ResetsInTheHead,
    /// Never answers (the connection stays open).
    NeverAnswers,
    /// Promises 100 bytes, sends 5, closes (a FIN).
    ShortContentLength,
}

/// Read one request head (or until the client closes): the server closing or resetting
/// with a request unread would send a reset of its own.
async fn read_request(s: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    let mut piece = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match s.read(&mut piece).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&piece[..n]),
        }
    }
}

/// A server on a port of its own that misbehaves as `how` on every connection.
async fn misbehaving(how: Misbehaves) -> String {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                read_request(&mut s).await;
                match how {
                    Misbehaves::ClosesBeforeTheHead => {}
                    Misbehaves::ResetsInTheHead => {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let _ = s.set_zero_linger();
                    }
                    Misbehaves::NeverAnswers => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    Misbehaves::ShortContentLength => {
                        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
                        let _ = s.write_all(head).await;
                        let _ = s.shutdown().await;
                    }
                }
            });
        }
    });
    url
}

/// The kind of error a step (`GET /x`, a 300 ms timeout) against `url` ends with, on the
/// fast path and through reqwest.
async fn kinds_of_failure(url: &str) -> (String, String) {
    let yaml = format!(
        "target: {url}\ndefaults: {{timeout: 300ms}}\nscenarios:\n  - name: s\n    steps:\n\
         \x20     - get: /x\nload: {{users: 1, duration: 1s}}\n"
    );
    let plan = skein::scenario::parse_str(&yaml, Path::new("differential.yaml")).unwrap();
    let mut kinds = Vec::new();
    for mut user in [
        User::new(&plan, url).unwrap(),
        User::over_reqwest(&plan, url).unwrap(),
    ] {
        kinds.push(match seen(bounded(user.fetch(0)).await) {
            Seen::Failed { kind } => kind,
            reply => panic!("{url}: a response, not an error: {reply:?}"),
        });
    }
    let reqwest = kinds.pop().unwrap();
    (kinds.pop().unwrap(), reqwest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_path_and_reqwest_count_the_same_failure_the_same_way() {
    // A port nothing listens on: bound, then let go.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cases = [
        ("a refused connection", refused, "connection_refused"),
        (
            "closed before the head",
            misbehaving(Misbehaves::ClosesBeforeTheHead).await,
            "connection_reset",
        ),
        (
            "reset in the head",
            misbehaving(Misbehaves::ResetsInTheHead).await,
            "connection_reset",
        ),
        (
            "no answer within the timeout",
            misbehaving(Misbehaves::NeverAnswers).await,
            "timeout",
        ),
        // reqwest: hyper's body error around an `UnexpectedEof` socket error ("end of file
        // before message length reached"), a closed connection as on the fast path.
        (
            "closed before the Content-Length's end",
            misbehaving(Misbehaves::ShortContentLength).await,
            "connection_reset",
        ),
    ];
    for (case, url, want) in cases {
        let (fast, reqwest) = kinds_of_failure(&url).await;
        assert_eq!(
            (fast.as_str(), reqwest.as_str()),
            (want, want),
            "{case}: (fast path, reqwest)"
        );
    }
}
