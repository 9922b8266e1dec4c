//! Issue 16: the live web dashboard (`skein run --dashboard [ADDR]`). Each test runs the
//! `skein` binary (`--workers 1`) against the embedded demo target served by the test on a
//! free loopback port, reads the dashboard's URL from stderr, and talks to it while the run
//! goes: the page, its event stream, its Stop button, a headless browser.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{only_dir, result_json, skein};

use skein::demo::{self, DemoConfig, RouteConfig};
use skein::observe::dashboard::PAGE;

/// One load test at a time (a 2-core machine; the browser test is heavy).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The demo target: `products` takes exactly 20 ms.
fn demo_server(rt: &tokio::runtime::Runtime) -> demo::DemoServer {
    let config = DemoConfig::default()
        .without_jitter()
        .with_route("products", RouteConfig::fixed(Duration::from_millis(20)));
    rt.block_on(demo::serve("127.0.0.1:0".parse().unwrap(), config))
        .unwrap()
}

/// A scenario: GET /api/products 20 times a second for `seconds`, with two targets.
fn scenario(dir: &Path, url: &str, seconds: u64) -> PathBuf {
    let path = dir.join("dash.yaml");
    std::fs::write(
        &path,
        format!(
            "name: dash\ntarget: {url}\nscenarios:\n  - {{name: a, steps: [{{get: /api/products}}]}}\n\
             load: {{arrival_rate: 20/s, duration: {seconds}s, max_users: 10}}\n\
             targets: [\"p95 < 2s\", \"error_rate < 50%\"]\n"
        ),
    )
    .unwrap();
    path
}

/// A run with its dashboard: the process, its URL, and the rest of its stderr.
struct Run {
    child: Child,
    url: String,
    stderr: mpsc::Receiver<String>,
    out: Option<tempfile::TempDir>,
}

impl Run {
    /// `skein run FILE --quiet --workers 1 -o OUT --dashboard 127.0.0.1:0`, once it has
    /// printed `dashboard: URL`.
    fn start(scenario: &Path) -> Run {
        Run::start_with(scenario, "1")
    }

    /// The same with `--workers N`.
    fn start_with(scenario: &Path, workers: &str) -> Run {
        let out = tempfile::tempdir().unwrap();
        let mut child = skein()
            .arg("run")
            .arg(scenario)
            .args(["--quiet", "--workers", workers, "-o"])
            .arg(out.path())
            .args(["--dashboard", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => match line.strip_prefix("dashboard: ") {
                    Some(url) => break url.trim().to_string(),
                    None => seen.push(line),
                },
                Err(_) => {
                    let _ = child.kill();
                    panic!("no `dashboard: URL` line on stderr:\n{}", seen.join("\n"));
                }
            }
        };
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "the URL: {url}"
        );
        Run {
            child,
            url,
            stderr: rx,
            out: Some(out),
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap()
    }

    /// Wait for the process (at most `limit`); its exit status and stderr.
    fn wait(mut self, limit: Duration) -> (ExitStatus, String, tempfile::TempDir) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the run did not end within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut rest = Vec::new();
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            rest.push(l);
        }
        (status, rest.join("\n"), self.out.take().unwrap())
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    data: serde_json::Value,
}

/// Read `GET /events` until `end` (or `limit`), calling `each` on every event as it comes.
async fn read_events(url: &str, limit: Duration, mut each: impl FnMut(&Sse)) -> Vec<Sse> {
    let client = reqwest::Client::new();
    let mut resp = client.get(format!("{url}events")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = String::new();
    let mut events = Vec::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no `end` event within {limit:?}: {events:#?}"))
            .unwrap();
        let Some(chunk) = chunk else { break };
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if event.is_empty() {
                continue; // a keep-alive comment
            }
            let ev = Sse {
                event,
                data: serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}")),
            };
            each(&ev);
            let end = ev.event == "end";
            events.push(ev);
            if end {
                return events;
            }
        }
    }
    events
}

/// The port refuses connections within `limit`.
fn closes_within(addr: std::net::SocketAddr, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The page loads nothing from the network: no address of another host, no script or
/// style sheet from a file.
#[test]
fn the_page_is_self_contained() {
    for needle in [
        "http://",
        "https://",
        "//cdn",
        "<script src",
        "<link",
        "@import",
        "url(",
    ] {
        assert!(
            !PAGE.to_ascii_lowercase().contains(needle),
            "the page has `{needle}`"
        );
    }
    assert!(PAGE.contains("<script>") && PAGE.contains("<style>"));
    assert!(PAGE.contains("EventSource(\"/events\")"));
    assert!(PAGE.contains("fetch(\"/stop\""));
}

/// `--dashboard`: the page, `history` then one `snapshot` a second with `t` increasing and
/// the requests of the run, the targets judged so far, `end`; then the port closes.
#[test]
fn dashboard_streams_each_second_and_closes_after_the_run() {
    let _serial = serial();
    let rt = runtime();
    let server = demo_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &server.url(), 6);
    let run = Run::start(&file);
    let url = run.url.clone();
    let addr = run.addr();

    let (page, ct) = rt.block_on(async {
        let r = reqwest::get(&url).await.unwrap();
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        (r.text().await.unwrap(), ct)
    });
    assert!(ct.starts_with("text/html"), "{ct}");
    assert_eq!(page, PAGE);

    let events = rt.block_on(read_events(&url, Duration::from_secs(60), |_| {}));
    let end_seen = Instant::now();
    // The server is gone soon after `end`, while the process still writes its reports.
    assert!(
        closes_within(addr, Duration::from_secs(2)),
        "the dashboard still listens 2 s after `end`"
    );
    let (status, stderr, out) = run.wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(end_seen.elapsed() < Duration::from_secs(60));

    assert_eq!(events[0].event, "history", "{events:#?}");
    let mut seconds: Vec<serde_json::Value> = events[0]
        .data
        .as_array()
        .expect("history: an array")
        .clone();
    let end = events.last().unwrap();
    assert_eq!(end.event, "end");
    for e in &events[1..events.len() - 1] {
        assert_eq!(e.event, "snapshot");
        seconds.push(e.data.clone());
    }
    assert!(seconds.len() >= 5, "{seconds:#?}");
    let ts: Vec<f64> = seconds.iter().map(|s| s["t"].as_f64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "t increases: {ts:?}");
    assert!(ts[0] > 0.5 && ts[0] < 2.0, "{ts:?}");

    let result = result_json(&only_dir(out.path()));
    let requests = result["overall"]["requests"].as_u64().unwrap();
    assert!(requests >= 80, "{requests}");
    let sum: u64 = seconds
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, requests, "the seconds add up to the run's requests");
    let last = seconds.last().unwrap();
    assert_eq!(last["requests_total"].as_u64(), Some(requests));
    assert_eq!(end.data["requests"].as_u64(), Some(requests));
    assert_eq!(end.data["status"], "complete");
    // A middle second: about 20 requests, 20 ms responses, the targets passing so far.
    let mid = &seconds[2];
    let rps = mid["rps"].as_f64().unwrap();
    assert!((15.0..=25.0).contains(&rps), "{mid}");
    let p50 = mid["p50_ms"].as_f64().unwrap();
    assert!((19.0..500.0).contains(&p50), "{mid}");
    assert!(mid["p95_ms"].as_f64().unwrap() >= p50);
    assert!(mid["p99_ms"].as_f64().unwrap() >= mid["p95_ms"].as_f64().unwrap());
    assert!(mid["users"].as_u64().is_some());
    assert!(mid["cpu_pct"].as_f64().is_some() && mid["lag_ms"].as_f64().is_some());
    assert!(mid["saturated"].is_boolean());
    assert_eq!(mid["errors_total"], serde_json::json!([]));
    let targets = mid["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{mid}");
    assert_eq!(targets[0]["expression"], "p95 < 2s");
    assert!(targets.iter().all(|t| t["status"] == "pass"), "{mid}");
    drop(server);
}

/// `POST /stop` stops the run gracefully, like Ctrl-C: exit 130, the run interrupted with
/// the dashboard's reason, every file written. Without its header it is refused.
#[test]
fn stop_from_the_dashboard_ends_the_run_like_ctrl_c() {
    let _serial = serial();
    let rt = runtime();
    let server = demo_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &server.url(), 60);
    let started = Instant::now();
    let run = Run::start(&file);
    let url = run.url.clone();
    let client = reqwest::Client::new();
    let events = rt.block_on(async {
        let mut snapshots = 0;
        let stop_url = format!("{url}stop");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn({
            let url = url.clone();
            async move {
                read_events(&url, Duration::from_secs(60), move |e| {
                    let _ = tx.send(e.event.clone());
                })
                .await
            }
        });
        while let Some(e) = rx.recv().await {
            if e == "snapshot" {
                snapshots += 1;
            }
            if snapshots == 2 {
                // A cross-site form cannot send the header: refused, and the run goes on.
                let r = client.post(&stop_url).send().await.unwrap();
                assert_eq!(r.status(), 403);
                let r = client
                    .post(&stop_url)
                    .header("X-Skein-Stop", "1")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                break;
            }
        }
        reader.await.unwrap()
    });
    let (status, stderr, out) = run.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the run stopped early: {:?}",
        started.elapsed()
    );
    let end = events.last().unwrap();
    assert_eq!(end.event, "end");
    assert_eq!(end.data["status"], "interrupted");
    assert_eq!(end.data["stop_reason"], "stopped from the dashboard");
    let run_dir = only_dir(out.path());
    let result = result_json(&run_dir);
    assert_eq!(result["run"]["status"], "interrupted");
    assert_eq!(result["run"]["stop_reason"], "stopped from the dashboard");
    for f in ["result.json", "summary.json", "report.html", "latency.hlog"] {
        assert!(run_dir.join(f).is_file(), "{f} written");
    }
    drop(server);
}

/// A `--workers` run: the parent publishes its workers' merged seconds to the dashboard,
/// and its Stop button stops every worker as Ctrl-C does (exit 130, every file written, the
/// reason recorded); the seconds streamed add up to the merged run's requests.
#[test]
fn dashboard_of_a_workers_run() {
    let _serial = serial();
    let rt = runtime();
    let server = demo_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &server.url(), 60);
    let started = Instant::now();
    let run = Run::start_with(&file, "2");
    let url = run.url.clone();
    let events = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn({
            let url = url.clone();
            async move {
                read_events(&url, Duration::from_secs(60), move |e| {
                    let _ = tx.send(e.event.clone());
                })
                .await
            }
        });
        let mut snapshots = 0;
        while let Some(e) = rx.recv().await {
            snapshots += usize::from(e == "snapshot");
            if snapshots == 2 {
                let r = reqwest::Client::new()
                    .post(format!("{url}stop"))
                    .header("X-Skein-Stop", "1")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                break;
            }
        }
        reader.await.unwrap()
    });
    let (status, stderr, out) = run.wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the run stopped early: {:?}",
        started.elapsed()
    );
    let run_dir = only_dir(out.path());
    let result = result_json(&run_dir);
    assert_eq!(result["run"]["status"], "interrupted");
    assert_eq!(result["run"]["stop_reason"], "stopped from the dashboard");
    assert_eq!(result["run"]["workers"], 2);
    for f in ["summary.json", "report.html", "latency.hlog"] {
        assert!(run_dir.join(f).is_file(), "{f} written");
    }
    let requests = result["overall"]["requests"].as_u64().unwrap();
    let mut seconds: Vec<serde_json::Value> = events[0].data.as_array().unwrap().clone();
    seconds.extend(
        events[1..]
            .iter()
            .filter(|e| e.event == "snapshot")
            .map(|e| e.data.clone()),
    );
    assert!(seconds.len() >= 2, "{events:#?}");
    let sum: u64 = seconds
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, requests, "the seconds add up to the run's requests");
    assert_eq!(events.last().unwrap().event, "end");
    drop(server);
}

// ---- headless Chromium ------------------------------------------------------------------

const CHROMIUM: common::Tool = common::Tool {
    name: "chromium",
    purpose: "check that the live dashboard renders in a headless browser",
    path_var: "SKEIN_CHROMIUM",
    commands: &[
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ],
    install: "apt-get install -y chromium fonts-dejavu-core fontconfig",
};

/// Chromium headless on `url` with `extra` arguments: (stdout, stderr). `--timeout` ends
/// the page's load (its event stream never ends while the run goes) before the dump or the
/// screenshot.
fn run_chromium(browser: &Path, extra: &[String], url: &str) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out_file = profile.path().join("chromium.out");
    let err_file = profile.path().join("chromium.err");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--timeout=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting chromium: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stdout = std::fs::read_to_string(&out_file).unwrap_or_default();
            let stderr = std::fs::read_to_string(&err_file).unwrap_or_default();
            assert!(status.success(), "chromium failed ({status}):\n{stderr}");
            return (stdout, stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Console lines in Chromium's log (`console.error` and uncaught exceptions).
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

fn decode_png(bytes: &[u8]) -> (u32, u32, usize, Vec<u8>) {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG pixels");
    let channels = info.color_type.samples();
    buf.truncate(info.buffer_size());
    (info.width, info.height, channels, buf)
}

/// Share of pixels that are not (near) white.
fn ink(channels: usize, px: &[u8]) -> f64 {
    let total = px.len() / channels;
    let inked = px
        .chunks_exact(channels)
        .filter(|p| p[..3.min(channels)].iter().any(|&c| c < 235))
        .count();
    inked as f64 / total.max(1) as f64
}

/// Pixels within a small distance of `rgb`.
fn near(channels: usize, px: &[u8], rgb: [u8; 3]) -> usize {
    px.chunks_exact(channels)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 12))
        .count()
}

/// The page in a headless browser during a run: its script runs without a console error
/// and draws the seconds so far (the chart lines, the state badge), and the screenshot is
/// not blank. `SKEIN_UPDATE_DOCS=1` saves it as docs/dashboard.png.
#[test]
fn dashboard_renders_in_headless_chromium() {
    let Some(browser) = common::tool(&CHROMIUM) else {
        return;
    };
    let _serial = serial();
    let rt = runtime();
    let server = demo_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &server.url(), 20);
    let run = Run::start(&file);
    // A few seconds of history first: the page opened mid-run draws them all.
    std::thread::sleep(Duration::from_secs(4));

    let shot_dir = tempfile::tempdir().unwrap();
    let shot = shot_dir.path().join("dashboard.png");
    let (_, stderr) = run_chromium(
        &browser,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,900".into(),
            "--hide-scrollbars".into(),
        ],
        &run.url,
    );
    let errs = console_errors(&stderr);
    assert!(errs.is_empty(), "console errors: {errs:#?}");
    let bytes = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("no screenshot {}: {e}\n{stderr}", shot.display()));
    let (w, h, channels, px) = decode_png(&bytes);
    assert_eq!((w, h), (1280, 900));
    let share = ink(channels, &px);
    eprintln!("dashboard screenshot: {share:.3} inked");
    if std::env::var("SKEIN_UPDATE_DOCS").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&shot, docs.join("dashboard.png")).unwrap();
    }
    assert!(
        share > 0.05,
        "the screenshot is mostly white ({share:.3} inked)"
    );
    // The script drew the seconds so far: the requests/s line (#2563eb) is more than its
    // legend's swatch (10 x 10 pixels), and the state badge says `running` in green (#16a34a), not the grey
    // of `connecting…`.
    let blue = near(channels, &px, [0x25, 0x63, 0xeb]);
    assert!(blue > 200, "no requests/s line drawn ({blue} blue pixels)");
    let green = near(channels, &px, [0x16, 0xa3, 0x4a]);
    assert!(
        green > 600,
        "no green `running` badge ({green} green pixels)"
    );
    eprintln!("dashboard screenshot: {blue} blue, {green} green pixels");

    // The console check can see errors: a page that throws is caught.
    let bad = shot_dir.path().join("throws.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><p>x</p><script>throw new Error('kaboom')</script>",
    )
    .unwrap();
    let (_, stderr) = run_chromium(
        &browser,
        &["--dump-dom".into()],
        &format!("file://{}", bad.display()),
    );
    assert!(
        !console_errors(&stderr).is_empty(),
        "this Chromium does not log console errors to stderr; the check above proves nothing"
    );
    drop(run);
    drop(server);
}
