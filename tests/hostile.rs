//! Hostile servers (issue 13): a small HTTP server in this file misbehaves in one way per
//! route, and a real `skein run` (the binary of this build, in a child process) attacks
//! each route for about a second. Each test asserts how the requests end (the error kind,
//! from the run's `result.json`), that the run ends in bounded time, and that the
//! generator's memory stays bounded: the child's peak resident set as the kernel keeps it
//! (`VmHWM` in `/proc/PID/status`, read every 10 ms while it runs; a high-water mark, so a
//! peak between two reads is not missed, only growth in the last 10 ms before it exits),
//! in a process of its own so that the server and the other tests in this process do not
//! blur it. A watchdog kills a child that grows past 2 GiB or runs past 30 s instead of
//! letting it take the machine (as `skein` did here before issue 13: past 2 GiB in 3 s).
//!
//! The attacks run one at a time (`ONE_ATTACK`) so that their times and the server's CPU
//! are not shared with another attack. Everything listens on 127.0.0.1, port 0.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use skein::metrics::{RunResult, Summary};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The most a child `skein run` may use before the watchdog kills it.
const RSS_LIMIT: u64 = 2 << 30;
/// The longest a child may run before the watchdog kills it.
const WALL_LIMIT: Duration = Duration::from_secs(30);
/// What every attack must end within: a 1-second run, a request cut off at its 1-2 s
/// timeout, start-up and writing the results, with room for a busy machine.
const BOUNDED: Duration = Duration::from_secs(8);
/// Peak memory of an attack whose bodies nobody keeps: the generator itself (about 30 MB
/// in a debug build) with room to spare, far below anything that buffers a body.
const SMALL_RSS: u64 = 128 << 20;
/// Peak memory of an attack whose body a check reads: the 256 MiB body cap plus the same
/// room.
const CAPPED_RSS: u64 = (256 << 20) + SMALL_RSS;

// ---------------------------------------------------------------------------------------
// The server

/// A connection, plain or TLS, and the TCP socket under it (to reset it).
trait Sock: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    fn tcp(&self) -> &TcpStream;
}

impl Sock for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Sock for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// The hostile server: its base URL; it stops when dropped.
struct Hostile {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hostile {
    /// Plain HTTP on 127.0.0.1.
    async fn start() -> Hostile {
        let tcp = TcpListener::bind(loopback()).await.unwrap();
        let url = format!("http://{}", tcp.local_addr().unwrap());
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = tcp.accept().await {
                tokio::spawn(bounded(connection(s)));
            }
        });
        Hostile { url, task }
    }

    /// HTTPS (HTTP/1.1 only, so Skein's reqwest client speaks HTTP/1.1 over it) with the
    /// test certificate for 127.0.0.1 in `tests/fixtures/tls`.
    async fn start_tls() -> Hostile {
        let cfg = common::tls_server_config(&[b"http/1.1"]);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let tcp = TcpListener::bind(loopback()).await.unwrap();
        let url = format!("https://{}", tcp.local_addr().unwrap());
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = tcp.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(bounded(async move {
                    if let Ok(tls) = acceptor.accept(s).await {
                        connection(tls).await?;
                    }
                    Ok(())
                }));
            }
        });
        Hostile { url, task }
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// No connection of the server outlives a test by much, whatever the client does.
async fn bounded(f: impl Future<Output = std::io::Result<()>>) {
    let _ = tokio::time::timeout(Duration::from_secs(20), f).await;
}

/// Serve requests on `s` until the client leaves, misbehaving as each request's path says.
async fn connection<S: Sock>(mut s: S) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        // The head, read 64 bytes at a time (so `/stray` can answer each piece).
        let head = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break buf.drain(..end + 4).collect::<Vec<u8>>();
            }
            if buf.starts_with(b"GET /stray") {
                return stray(s, std::mem::take(&mut buf)).await;
            }
            let mut piece = [0u8; 64];
            let n = s.read(&mut piece).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&piece[..n]);
        };
        let head = String::from_utf8_lossy(&head).into_owned();
        // A request body is read and dropped.
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < length {
            let mut piece = [0u8; 4096];
            let n = s.read(&mut piece).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&piece[..n]);
        }
        buf.drain(..length);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        if !route(&mut s, &path).await? {
            return Ok(());
        }
    }
}

/// Answer one request for `path`: whether the connection goes on.
async fn route<S: Sock>(s: &mut S, path: &str) -> std::io::Result<bool> {
    let path = path.split('?').next().unwrap_or(path);
    match path {
        "/ok" => s.write_all(&ok(b"ok")).await?,
        // A status line, then headers that never end.
        "/huge-headers" => {
            s.write_all(b"HTTP/1.1 200 OK\r\n").await?;
            let line = format!("x-filler: {}\r\n", "a".repeat(1000));
            for _ in 0..100_000 {
                s.write_all(line.as_bytes()).await?;
            }
            return Ok(false);
        }
        // A chunked body that never ends, in 64 KB chunks, as fast as the client reads.
        "/endless-chunked" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n")
                .await?;
            let data = vec![b'a'; 64 * 1024];
            loop {
                s.write_all(b"10000\r\n").await?;
                s.write_all(&data).await?;
                s.write_all(b"\r\n").await?;
            }
        }
        // gzip members of 1 MiB of zeros each (about 1 KB on the wire), without end.
        "/gzip-bomb" => {
            s.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n",
            )
            .await?;
            let member = common::gzip_member();
            let mut chunk = format!("{:x}\r\n", member.len() * 64).into_bytes();
            for _ in 0..64 {
                chunk.extend_from_slice(member);
            }
            chunk.extend_from_slice(b"\r\n");
            loop {
                s.write_all(&chunk).await?;
            }
        }
        // 1,000 bytes promised, one sent every 50 ms.
        "/trickle" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                .await?;
            for _ in 0..1000 {
                s.write_all(b"a").await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        "/bad-status-line" => {
            s.write_all(b"HTTP/1.1 2x0 OK\r\ncontent-length: 2\r\n\r\nok")
                .await?;
            return Ok(false);
        }
        "/bad-chunk-size" => {
            s.write_all(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
            )
            .await?;
            return Ok(false);
        }
        // 1,000 of 100,000 promised bytes, then a TCP reset.
        "/reset-mid-body" => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
                .await?;
            s.write_all(&[b'a'; 1000]).await?;
            s.flush().await?;
            tokio::time::sleep(Duration::from_millis(5)).await;
            s.tcp().set_zero_linger()?;
            return Ok(false);
        }
        // Interim responses before the final one.
        "/interim" => {
            s.write_all(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n",
            )
            .await?;
            s.write_all(&ok(b"ok")).await?;
        }
        // Interim responses without end.
        "/endless-interim" => loop {
            for _ in 0..100 {
                s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        },
        // Switching protocols, unasked.
        "/switching" => {
            s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n")
                .await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Ok(false);
        }
        "/redirect-loop" => {
            s.write_all(
                b"HTTP/1.1 302 Found\r\nlocation: /redirect-loop\r\ncontent-length: 0\r\n\r\n",
            )
            .await?
        }
        // A whole response, then the connection closed without `Connection: close` (D5).
        "/close-silently" => {
            s.write_all(&ok(b"ok")).await?;
            return Ok(false);
        }
        "/status/600" => {
            s.write_all(b"HTTP/1.1 600 Beyond\r\ncontent-length: 2\r\n\r\nok")
                .await?
        }
        "/status/999" => {
            s.write_all(b"HTTP/1.1 999 Beyond\r\ncontent-length: 2\r\n\r\nok")
                .await?
        }
        _ => {
            s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await?
        }
    }
    Ok(true)
}

/// `/stray`: answers every piece of up to 64 bytes it reads, as soon as it reads it, with
/// that piece as the body, on a connection it keeps open: it answers before it has read
/// the whole request, so one request gets several responses, and the later ones arrive
/// when nobody asked (responses out of step with requests). The first piece holds the
/// request line, so the answer to a request holds its own query string and any other
/// body is another request's.
async fn stray<S: Sock>(mut s: S, first: Vec<u8>) -> std::io::Result<()> {
    let mut piece = first;
    loop {
        let mut r =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", piece.len()).into_bytes();
        r.extend_from_slice(&piece);
        s.write_all(&r).await?;
        let mut next = [0u8; 64];
        let n = s.read(&mut next).await?;
        if n == 0 {
            return Ok(());
        }
        piece = next[..n].to_vec();
    }
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

// ---------------------------------------------------------------------------------------
// The attack

/// How an attack went.
struct Attack {
    result: RunResult,
    /// From starting `skein run` to its exit.
    wall: Duration,
    /// The child's peak resident set, bytes.
    peak_rss: u64,
    /// What it printed.
    output: String,
}

impl Attack {
    fn step(&self) -> &Summary {
        &self
            .result
            .step("hostile")
            .expect("the step `hostile`")
            .summary
    }

    fn errors(&self, kind: &str) -> u64 {
        self.step().errors_by_kind.get(kind).copied().unwrap_or(0)
    }

    fn example(&self, kind: &str) -> &str {
        self.result
            .error_examples
            .iter()
            .find(|e| e.kind == kind)
            .map_or("", |e| e.message.as_str())
    }

    /// Ended in bounded time and memory.
    fn bounded(&self, rss: u64) {
        assert!(
            self.wall < BOUNDED,
            "the attack took {:?}\n{}",
            self.wall,
            self.output
        );
        assert!(
            self.peak_rss < rss,
            "skein's peak RSS was {} MiB (limit {} MiB)",
            self.peak_rss >> 20,
            rss >> 20
        );
    }

    fn describe(&self) -> String {
        let s = self.step();
        format!(
            "{} requests, {} ok, {} check_failed, errors {:?}, retries {}, {} MiB read, {:.2}s, \
             peak RSS {} MiB",
            s.requests,
            s.ok,
            s.check_failed,
            s.errors_by_kind,
            s.retries,
            s.bytes >> 20,
            self.wall.as_secs_f64(),
            self.peak_rss >> 20
        )
    }
}

/// Run `skein run` against `server` with one step named `hostile` (`step`: its keys, one
/// per line, after the name), `users` users for `duration`, and wait for it under the
/// watchdog.
async fn attack(server: &Hostile, step: &str, users: u32, duration: &str) -> Attack {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = String::new();
    for line in step.lines().filter(|l| !l.trim().is_empty()) {
        keys.push_str("        ");
        keys.push_str(line.trim());
        keys.push('\n');
    }
    let yaml = format!(
        "name: hostile\ntarget: {}\ndefaults:\n  tls_verify: false\nvariables:\n  id: \"${{uuid()}}\"\n\
         scenarios:\n  - name: attack\n    steps:\n      - name: hostile\n{keys}\
         load: {{users: {users}, duration: {duration}}}\n",
        server.url
    );
    let file = dir.path().join("hostile.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let out = dir.path().join("out");
    let log = dir.path().join("output.txt");
    let child = common::skein()
        .arg("run")
        .arg(&file)
        .arg("--output")
        .arg(&out)
        .args(["--quiet", "--workers", "1"])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let (status, peak_rss) = tokio::task::spawn_blocking(move || watch(child))
        .await
        .unwrap();
    let wall = t0.elapsed();
    let output = format!(
        "{}{}",
        std::fs::read_to_string(&log).unwrap_or_default(),
        std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default()
    );
    let status = status.unwrap_or_else(|why| panic!("{why}\n{yaml}\n{output}"));
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) < 2,
        "skein run ended with wait status {status:#x}\n{yaml}\n{output}"
    );
    assert!(peak_rss > 0, "no memory figure for skein");
    let text = std::fs::read_to_string(common::only_dir(&out).join("result.json")).unwrap();
    schema_valid(&text);
    let result: RunResult = serde_json::from_str(&text).unwrap();
    Attack {
        result,
        wall,
        peak_rss,
        output,
    }
}

/// `result.json` text that matches the published schema.
fn schema_valid(text: &str) {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/result.schema.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    });
    let instance: serde_json::Value = serde_json::from_str(text).unwrap();
    let validator = jsonschema::validator_for(schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "result.json does not match reports/result.schema.json:\n{}",
        errors.join("\n")
    );
}

/// Wait for `child`, killing it when it grows past [`RSS_LIMIT`] or runs past
/// [`WALL_LIMIT`]: its wait status (or why it was killed) and its peak RSS in bytes.
fn watch(mut child: std::process::Child) -> (Result<i32, String>, u64) {
    use std::os::unix::process::ExitStatusExt;
    let pid = child.id();
    let t0 = Instant::now();
    let (mut killed, mut peak) = (None, 0);
    loop {
        let (rss, hwm) = memory_of(pid);
        peak = peak.max(hwm);
        if let Some(status) = child.try_wait().unwrap() {
            return (killed.map_or(Ok(status.into_raw()), Err), peak);
        }
        if killed.is_none() && (rss > RSS_LIMIT || t0.elapsed() > WALL_LIMIT) {
            killed = Some(format!(
                "killed skein after {:?} at {} MiB resident (limits: {:?}, {} MiB)",
                t0.elapsed(),
                rss >> 20,
                WALL_LIMIT,
                RSS_LIMIT >> 20
            ));
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The resident set of process `pid` now and its high-water mark, bytes (0 once it has
/// exited).
fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ---------------------------------------------------------------------------------------
// The attacks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_behaved_route_is_all_ok_which_is_what_the_others_are_measured_against() {
    let _one = ONE_ATTACK.lock().await;
    let server = Hostile::start().await;
    let a = attack(&server, "get: /ok\ncheck: {body_contains: ok}", 1, "1s").await;
    assert!(a.step().requests > 50, "{}", a.describe());
    assert_eq!(a.step().ok, a.step().requests, "{}", a.describe());
    a.bounded(SMALL_RSS);
}

/// A 1 s attack of one user whose check reads the endless body of `route`: every request a
/// `body` error at the cap, in bounded memory.
async fn stops_at_the_cap(server: &Hostile, route: &str, what: &str) {
    let a = attack(
        server,
        &format!("get: {route}\ntimeout: 10s\ncheck: {{body_contains: needle}}"),
        1,
        "1s",
    )
    .await;
    eprintln!("{what}: {}", a.describe());
    assert!(a.errors("body") >= 1, "{}", a.describe());
    assert_eq!(a.errors("body"), a.step().requests, "{}", a.describe());
    assert!(
        a.example("body").contains("longer than 256 MiB"),
        "{}",
        a.example("body")
    );
    a.bounded(CAPPED_RSS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_d1_an_endless_body_a_check_reads_stops_at_256_mib_as_a_body_error() {
    let _one = ONE_ATTACK.lock().await;
    let server = Hostile::start().await;
    stops_at_the_cap(&server, "/endless-chunked", "endless chunked, checked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_d1_the_same_cap_holds_on_the_reqwest_path() {
    let _one = ONE_ATTACK.lock().await;
    let server = Hostile::start_tls().await;
    stops_at_the_cap(
        &server,
        "/endless-chunked",
        "endless chunked over TLS, checked",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_d1_a_gzip_bomb_a_check_reads_stops_at_256_mib_decoded() {
    let _one = ONE_ATTACK.lock().await;
    let server = Hostile::start().await;
    stops_at_the_cap(&server, "/gzip-bomb", "gzip bomb, checked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_d1_bodies_nobody_reads_are_discarded_as_they_arrive() {
    let _one = ONE_ATTACK.lock().await;
    let server = Hostile::start().await;
    for route in ["/endless-chunked", "/gzip-bomb"] {
        let a = attack(&server, &format!("get: {route}\ntimeout: 1s"), 1, "1s").await;
        eprintln!("{route}, unread: {}", a.describe());
        // Read (and decoded) to the timeout, not kept.
        assert_eq!(a.errors("timeout"), a.step().requests, "{}", a.describe());
        assert!(a.step().bytes > 50 << 20, "{}", a.describe());
        a.bounded(SMALL_RSS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_d5_a_server_that_closes_silently_loses_no_idempotent_request() {
    let _one = ONE_ATTACK.lock().await;
    let server = Hostile::start().await;
    let a = attack(&server, "get: /close-silently", 2, "2s").await;
    eprintln!("close without Connection: close, GET: {}", a.describe());
    assert!(a.step().requests > 200, "{}", a.describe());
    assert_eq!(a.step().ok, a.step().requests, "{}", a.describe());
    a.bounded(SMALL_RSS);
    // A POST is never sent twice: a user loses at most the one it sent before it saw the
    // server close a kept-alive connection, and sends the rest on new connections.
    let a = attack(&server, "post: /close-silently\nbody: x", 2, "2s").await;
    eprintln!("close without Connection: close, POST: {}", a.describe());
    let s = a.step();
    assert!(s.requests > 200, "{}", a.describe());
    assert_eq!(s.retries, 0, "{}", a.describe());
    assert!(s.errors <= 2, "{}", a.describe());
    a.bounded(SMALL_RSS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_responses_out_of_step_are_dropped_with_their_connection() {
    let _one = ONE_ATTACK.lock().await;
    let server = Hostile::start().await;
    let a = attack(
        &server,
        "get: \"/stray?id=${id}\"\ncheck: {body_contains: \"${id}\"}",
        2,
        "2s",
    )
    .await;
    eprintln!("answers before reading: {}", a.describe());
    let s = a.step();
    assert!(s.requests > 200, "{}", a.describe());
    // A body that is another request's fails its check. Before a user sees the server
    // out of step, a response it sent late can still be taken for the answer to the
    // user's next request (HTTP/1.1 has no request ids): a few per user at most (before the
    // fix, 2.4 % of them: 156 of 6,538); none after.
    assert!(
        s.check_failed <= 10,
        "bodies that belong to another request: {}",
        a.describe()
    );
    a.bounded(SMALL_RSS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_d9_statuses_600_and_999_are_errors_never_ok() {
    let _one = ONE_ATTACK.lock().await;
    let server = Hostile::start().await;
    for (status, step) in [
        ("600", "get: /status/600"),
        ("999", "get: /status/999\ncheck: {status: 2xx}"),
    ] {
        let a = attack(&server, step, 1, "1s").await;
        eprintln!("status {status}: {}", a.describe());
        assert!(a.step().requests > 10, "{}", a.describe());
        assert_eq!(
            a.errors("http_other"),
            a.step().requests,
            "{}",
            a.describe()
        );
        assert!(
            a.example("http_other")
                .contains(&format!("HTTP {status}: not a valid status")),
            "{}",
            a.example("http_other")
        );
        a.bounded(SMALL_RSS);
    }
}

/// Run `step` and check that every request ended as `kind`, with `detail` in the example.
async fn every_request_ends_as(step: &str, kind: &str, detail: &str) {
    let _one = ONE_ATTACK.lock().await;
    let server = Hostile::start().await;
    let a = attack(&server, step, 1, "1s").await;
    eprintln!("{step}: {}", a.describe());
    assert!(a.step().requests >= 1, "{}", a.describe());
    assert_eq!(a.errors(kind), a.step().requests, "{}", a.describe());
    assert!(
        a.example(kind).contains(detail),
        "{kind}: {:?}",
        a.example(kind)
    );
    a.bounded(SMALL_RSS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_end_stop_at_64_kb() {
    every_request_ends_as(
        "get: /huge-headers",
        "request",
        "the response head is longer than 65536 bytes",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_ends_at_the_timeout() {
    every_request_ends_as(
        "get: /trickle\ntimeout: 500ms",
        "timeout",
        "operation timed out",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_status_line_is_a_request_error() {
    every_request_ends_as("get: /bad-status-line", "request", "invalid HTTP response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_chunk_size_is_a_body_error() {
    every_request_ends_as(
        "get: /bad-chunk-size",
        "body",
        "invalid chunked body: invalid chunk size",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_body_is_a_connection_reset() {
    every_request_ends_as(
        "get: /reset-mid-body",
        "connection_reset",
        "reading the body",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_responses_are_skipped_and_endless_ones_time_out() {
    {
        let _one = ONE_ATTACK.lock().await;
        let server = Hostile::start().await;
        let a = attack(
            &server,
            "get: /interim\ncheck: {body_contains: ok}",
            1,
            "1s",
        )
        .await;
        assert!(a.step().requests > 10, "{}", a.describe());
        assert_eq!(a.step().ok, a.step().requests, "{}", a.describe());
        a.bounded(SMALL_RSS);
    }
    every_request_ends_as(
        "get: /endless-interim\ntimeout: 500ms",
        "timeout",
        "waiting for the response",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unasked_101_is_an_error_and_its_connection_is_not_reused() {
    every_request_ends_as("get: /switching", "http_other", "HTTP 101").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_loop_stops_at_the_limit() {
    every_request_ends_as(
        "get: /redirect-loop",
        "too_many_redirects",
        "more than 10 redirects",
    )
    .await;
}
