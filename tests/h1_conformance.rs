//! HTTP/1.1 conformance of the fast path, over real sockets: what RFC 9112 asks of a client
//! that the other tests do not check on the wire.
//!
//! Each test starts hand-written servers on `127.0.0.1:0` that answer each request with
//! bytes chosen by its path, and count the connections they accept and the ones the client
//! closes, so connection reuse is seen from the server's side. The client is a run's user
//! (`skein::engine::fuzzing::User`) sending a scenario's steps one at a time. Every test is
//! bounded by [`LIMIT`].

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skein::engine::fuzzing::{Failed, Reply, User};
use skein::metrics::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most any test takes.
const LIMIT: Duration = Duration::from_secs(20);

/// What a server does with a request.
enum Answer {
    /// Send these bytes; the connection stays open for the next request.
    Send(Vec<u8>),
    /// Send these bytes, then close the connection.
    SendClose(Vec<u8>),
    /// Send these bytes one at a time, a write each, then wait for the next request.
    Trickle(Vec<u8>),
    /// Send these bytes, then answer nothing more on this connection (it waits for the
    /// client to close it).
    SendHold(Vec<u8>),
}

/// A test server and what it saw.
struct Server {
    url: String,
    /// Connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Connections the client closed (end of stream where a request could begin).
    closed: Arc<AtomicUsize>,
    /// Each request: the number of its connection (from 1), its method and path.
    log: Arc<Mutex<Vec<(usize, String, String)>>>,
}

impl Server {
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Wait (bounded) until the client has closed `n` connections.
    async fn closed_by_client(&self, n: usize) {
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            while self.closed.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "{} connections closed by the client, not {n}",
            self.closed.load(Ordering::SeqCst)
        );
    }

    fn connections_of_requests(&self) -> Vec<usize> {
        self.log.lock().unwrap().iter().map(|r| r.0).collect()
    }
}

type Answers = Arc<dyn Fn(&str, &str) -> Answer + Send + Sync>;

/// A server that answers each request (method, path) with `answer`'s bytes.
async fn serve(answer: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server {
        url: format!("http://{}", listener.local_addr().unwrap()),
        accepted: Arc::default(),
        closed: Arc::default(),
        log: Arc::default(),
    };
    let (accepted, closed, log) = (
        server.accepted.clone(),
        server.closed.clone(),
        server.log.clone(),
    );
    let answer: Answers = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let id = accepted.fetch_add(1, Ordering::SeqCst) + 1;
            let (answer, closed, log) = (answer.clone(), closed.clone(), log.clone());
            tokio::spawn(async move {
                let _ = sock.set_nodelay(true);
                connection(sock, id, answer, closed, log).await;
            });
        }
    });
    server
}

/// Answer the requests of one connection until either side closes it.
async fn connection(
    mut sock: TcpStream,
    id: usize,
    answer: Answers,
    closed: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<(usize, String, String)>>>,
) {
    let mut buf = Vec::new();
    loop {
        let Some((method, path)) = read_request(&mut sock, &mut buf).await else {
            closed.fetch_add(1, Ordering::SeqCst);
            return;
        };
        log.lock().unwrap().push((id, method.clone(), path.clone()));
        let sent = match answer(&method, &path) {
            Answer::Send(bytes) => sock.write_all(&bytes).await,
            Answer::SendClose(bytes) => {
                let _ = sock.write_all(&bytes).await;
                let _ = sock.shutdown().await;
                return;
            }
            Answer::Trickle(bytes) => trickle(&mut sock, &bytes).await,
            Answer::SendHold(bytes) => {
                let _ = sock.write_all(&bytes).await;
                // Whatever comes next goes unanswered, until the client closes.
                let mut sink = [0u8; 1024];
                while matches!(sock.read(&mut sink).await, Ok(n) if n > 0) {}
                closed.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Write `bytes` one at a time, each its own segment.
async fn trickle(sock: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    for b in bytes {
        sock.write_all(&[*b]).await?;
        sock.flush().await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Read one request (head and `Content-Length` body) from `sock`, `buf` holding what was
/// read past the last one: its method and path, `None` when the client closed.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, String)> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    let len: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < end + len {
        let mut chunk = [0u8; 4096];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf.drain(..end + len);
    Some((method, path))
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A user of a scenario whose steps (YAML flow mappings) go to `url`.
fn user(url: &str, steps: &[&str]) -> User {
    let steps: String = steps.iter().map(|s| format!("      - {s}\n")).collect();
    let yaml = format!(
        "target: {url}\ndefaults: {{timeout: 2s}}\nscenarios:\n  - name: s\n    steps:\n\
         {steps}load: {{users: 1, duration: 1s}}\n"
    );
    let plan = skein::scenario::parse_str(&yaml, Path::new("h1.yaml")).unwrap();
    User::new(&plan, url).unwrap()
}

/// Send step `i`, bounded.
async fn fetch(user: &mut User, i: usize) -> Result<Reply, Failed> {
    tokio::time::timeout(LIMIT, user.fetch(i))
        .await
        .expect("a step that ends")
}

fn text(r: &Reply) -> &str {
    std::str::from_utf8(&r.body).unwrap()
}

#[tokio::test]
async fn interim_100_and_103_come_before_the_final_response_on_the_same_connection() {
    let server = serve(|_, _| {
        Answer::Send(
            [
                &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
                b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n",
                &ok("final"),
            ]
            .concat(),
        )
    })
    .await;
    let mut u = user(&server.url, &["{get: /interim}"]);
    for _ in 0..3 {
        let r = fetch(&mut u, 0).await.unwrap();
        assert_eq!((r.status, text(&r)), (200, "final"));
        // The final response's headers only: interim heads are not merged in.
        assert!(r.headers.get("link").is_none(), "{:?}", r.headers);
        assert_eq!(r.headers["content-type"], "text/plain");
    }
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_close_delimited_body_runs_to_the_close_and_the_next_request_opens_a_new_connection() {
    let big = "x".repeat(100_000);
    let body = big.clone();
    let server = serve(move |_, path| match path {
        "/until-close" => Answer::SendClose(
            format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n{body}").into_bytes(),
        ),
        // HTTP/1.0 without keep-alive: the connection ends with the response, even if the
        // server leaves it open.
        _ => Answer::Send(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec()),
    })
    .await;
    let mut u = user(&server.url, &["{get: /until-close}", "{get: /http10}"]);
    for _ in 0..2 {
        let r = fetch(&mut u, 0).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), big.len());
    }
    assert_eq!(server.accepted(), 2);
    for _ in 0..2 {
        let r = fetch(&mut u, 1).await.unwrap();
        assert_eq!(text(&r), "ok");
    }
    assert_eq!(server.accepted(), 4);
    // The client closed the HTTP/1.0 connection the server left open.
    server.closed_by_client(1).await;
}

#[tokio::test]
async fn head_204_and_304_have_no_body_and_leave_the_connection_for_the_next_request() {
    let server = serve(|method, path| {
        Answer::Send(match (method, path) {
            // The length of the body a GET would get; none follows.
            ("HEAD", _) => {
                b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\ncontent-type: text/html\r\n\r\n"
                    .to_vec()
            }
            (_, "/204") => b"HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n".to_vec(),
            (_, "/304") => {
                b"HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\ncontent-length: 1000\r\n\r\n"
                    .to_vec()
            }
            _ => ok("after"),
        })
    })
    .await;
    let steps = [
        "{head: /page}",
        "{get: /204}",
        "{get: /304}",
        "{get: /after}",
    ];
    let mut u = user(&server.url, &steps);
    for round in 0..2 {
        for (i, want) in [(0, 200), (1, 204), (2, 304)] {
            let r = fetch(&mut u, i).await.unwrap();
            assert_eq!(r.status, want, "round {round}, {}", steps[i]);
            assert!(r.body.is_empty(), "{}: {:?}", steps[i], r.body);
        }
        let r = fetch(&mut u, 3).await.unwrap();
        assert_eq!(text(&r), "after");
    }
    // Every request on the first connection.
    assert_eq!(server.accepted(), 1);
    assert_eq!(server.connections_of_requests(), [1; 8]);
}

#[tokio::test]
async fn a_short_content_length_is_an_error_and_its_connection_is_not_used_again() {
    let short = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello".to_vec();
    let server = serve(move |_, path| match path {
        "/short-close" => Answer::SendClose(short.clone()),
        "/short-hold" => Answer::SendHold(short.clone()),
        _ => Answer::Send(ok("fine")),
    })
    .await;
    let mut u = user(
        &server.url,
        &[
            "{get: /short-close}",
            "{get: /short-hold, timeout: 300ms}",
            "{get: /fine}",
        ],
    );
    // The server closes after 5 of 10 bytes.
    let e = fetch(&mut u, 0).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConnectionReset, "{e:?}");
    assert_eq!(e.bytes, 5);
    // The server sends 5 of 10 bytes and stops: the request times out, and its connection
    // is dropped (a reused one would get no answer to the next request).
    let e = fetch(&mut u, 1).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e:?}");
    let r = fetch(&mut u, 2).await.unwrap();
    assert_eq!(text(&r), "fine");
    assert_eq!(server.accepted(), 3);
    assert_eq!(server.connections_of_requests(), [1, 2, 3]);
    server.closed_by_client(1).await;
}

#[tokio::test]
async fn heads_and_bodies_that_arrive_a_byte_at_a_time_are_read_whole() {
    let server = serve(|_, path| {
        Answer::Trickle(match path {
            "/length" => ok("byte by byte"),
            "/chunked" => b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                 5\r\nbyte \r\n3;ext=1\r\nby \r\n4\r\nbyte\r\n0\r\nx-trailer: 1\r\n\r\n"
                .to_vec(),
            _ => [&b"HTTP/1.1 100 Continue\r\n\r\n"[..], &ok("interim")].concat(),
        })
    })
    .await;
    let mut u = user(
        &server.url,
        &["{get: /length}", "{get: /chunked}", "{get: /interim}"],
    );
    for (i, want) in [(0, "byte by byte"), (1, "byte by byte"), (2, "interim")] {
        let r = fetch(&mut u, i).await.unwrap();
        assert_eq!((r.status, text(&r)), (200, want));
    }
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn transfer_encoding_and_content_length_together_are_an_error_and_the_connection_is_dropped()
{
    // RFC 9112 section 6.3: a response framed both ways may be smuggled or split; the
    // client treats it as an error and does not use the connection again.
    let server = serve(|_, path| match path {
        "/both" => Answer::SendHold(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        _ => Answer::Send(ok("fine")),
    })
    .await;
    let mut u = user(&server.url, &["{get: /both}", "{get: /fine}"]);
    let e = fetch(&mut u, 0).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Request, "{e:?}");
    assert!(
        e.detail.contains("transfer-encoding and content-length"),
        "{}",
        e.detail
    );
    server.closed_by_client(1).await;
    let r = fetch(&mut u, 1).await.unwrap();
    assert_eq!(text(&r), "fine");
    assert_eq!(server.connections_of_requests(), [1, 2]);
}

#[tokio::test]
async fn a_gzip_bomb_is_cut_at_the_body_cap_as_it_decodes_not_after() {
    // 512 MiB decoded from about half a megabyte on the wire; a step that reads the body
    // keeps at most 256 MiB of it.
    const CAP: u64 = 256 << 20;
    let member = common::gzip_member();
    let bomb: Vec<u8> = member.repeat(512);
    let wire = bomb.len();
    assert!(wire < 1 << 20, "{wire}");
    let mut response =
        format!("HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: {wire}\r\n\r\n")
            .into_bytes();
    response.extend_from_slice(&bomb);
    let server = serve(move |_, path| match path {
        "/bomb" => Answer::Send(response.clone()),
        _ => Answer::Send(ok("fine")),
    })
    .await;
    let mut u = user(&server.url, &["{get: /bomb}", "{get: /fine}"]);
    let e = fetch(&mut u, 0).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Body, "{e:?}");
    assert!(e.detail.contains("longer than 256 MiB"), "{}", e.detail);
    // Decoding stopped at the cap: no more than one decoded piece (64 KiB) past it.
    assert!(e.bytes <= CAP + (64 << 10), "{} bytes decoded", e.bytes);
    assert!(e.bytes >= CAP - (64 << 10), "{} bytes decoded", e.bytes);
    // The rest of the bomb was never read: its connection is not used again.
    let r = fetch(&mut u, 1).await.unwrap();
    assert_eq!(text(&r), "fine");
    assert_eq!(server.connections_of_requests(), [1, 2]);
}

#[tokio::test]
async fn a_full_pool_closes_the_least_recently_used_connection() {
    // A user keeps a connection to at most four origins.
    let mut servers = Vec::new();
    for _ in 0..5 {
        servers.push(serve(|_, _| Answer::Send(ok("hi"))).await);
    }
    let steps: Vec<String> = servers
        .iter()
        .map(|s| format!("{{get: \"{}/\"}}", s.url))
        .collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let mut u = user(&servers[0].url, &steps);
    for i in 0..4 {
        fetch(&mut u, i).await.unwrap();
    }
    assert!(servers.iter().all(|s| s.closed.load(Ordering::SeqCst) == 0));
    // A fifth origin: the connection to the first (used least recently) is closed.
    fetch(&mut u, 4).await.unwrap();
    servers[0].closed_by_client(1).await;
    // The second is still there; using it makes the third the least recently used.
    fetch(&mut u, 1).await.unwrap();
    assert_eq!(servers[1].accepted(), 1);
    fetch(&mut u, 0).await.unwrap();
    assert_eq!(servers[0].accepted(), 2);
    servers[2].closed_by_client(1).await;
    let accepted: Vec<usize> = servers.iter().map(Server::accepted).collect();
    assert_eq!(accepted, [2, 1, 1, 1, 1]);
    for s in [&servers[1], &servers[3], &servers[4]] {
        assert_eq!(s.closed.load(Ordering::SeqCst), 0);
    }
}
