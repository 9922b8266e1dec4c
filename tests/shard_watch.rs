//! Issue 15, progress across shards: `skein merge --watch DIR` follows a run's shards on the
//! volume they write to (started before any of them), shows their combined live figures,
//! and merges once every shard has ended, as `skein merge` does; it gives up at its timeout
//! (exit 2 naming the shards not ended, or with `--allow-missing` merging those that did),
//! and Ctrl-C stops it without merging. Each test runs the `skein` binary against the
//! embedded demo target served by the test on a free loopback port.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

mod common;
use common::{result_json, skein, text};

use skein::demo::{self, DemoConfig, RouteConfig};

/// One test at a time: each runs several processes on a 2-core machine and waits on a clock.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A process this test started, killed if the test fails before it ends.
struct Proc(Option<Child>);

impl Proc {
    fn start(cmd: &mut Command) -> Proc {
        Proc(Some(cmd.spawn().unwrap()))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }

    /// Wait for it, at most 60 s (then it is killed and the test fails).
    fn finish(mut self, what: &str) -> Output {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child().try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "{what}: still running after 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `products` takes exactly 20 ms.
fn demo_server(rt: &tokio::runtime::Runtime) -> demo::DemoServer {
    let config = DemoConfig::default()
        .without_jitter()
        .with_route("products", RouteConfig::fixed(Duration::from_millis(20)));
    rt.block_on(demo::serve("127.0.0.1:0".parse().unwrap(), config))
        .unwrap()
}

/// The open model: 20 iterations a second for `duration`, exact counts whatever the shards.
fn scenario(dir: &Path, url: &str, duration: &str) -> std::path::PathBuf {
    let path = dir.join("open.yaml");
    fs::write(
        &path,
        format!(
            "name: open\ntarget: {url}\n\
             scenarios: [{{name: a, steps: [{{get: /api/products}}]}}]\n\
             load: {{arrival_rate: 20/s, duration: {duration}, max_users: 20}}\n"
        ),
    )
    .unwrap();
    path
}

/// An RFC 3339 time `ahead` from now.
fn start_in(ahead: Duration) -> String {
    chrono::DateTime::<chrono::Utc>::from(SystemTime::now() + ahead)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `skein run FILE --shard I/N` on the common start `start`, started (not waited for).
fn shard(scenario: &Path, shard: &str, start: &str, out: &Path, extra: &[&str]) -> Proc {
    Proc::start(
        skein()
            .arg("run")
            .arg(scenario)
            .args(["--quiet", "--shard", shard, "--run-id", "t15-watch"])
            .args(["--start-at", start, "--seed", "7", "-o"])
            .arg(out)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

/// `skein merge --watch DIR ...`, its stderr a pipe (no terminal), started.
fn watcher(dir: &Path, extra: &[&str]) -> Proc {
    Proc::start(
        skein()
            .args(["merge", "--watch"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

fn step_requests(r: &serde_json::Value) -> BTreeMap<String, u64> {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["requests"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Started before its run's folder exists, the watcher finds the 2 shards as they start (1 s
/// apart, one with 2 workers and one without), prints their combined live line with the
/// shard count while they run (a plain line: its stderr is not a terminal), and exits 0
/// once both have ended, having merged them as `skein merge` does.
#[test]
fn issue15_merge_watch_follows_the_shards_and_merges_them() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = demo_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    // Long enough for a plain line (every 5 s) in the middle of the load.
    let scenario = scenario(dir.path(), &server.url(), "7s");
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("t15-watch");
    let w = watcher(&run_dir, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let start = start_in(Duration::from_millis(3_000));
    let s0 = shard(&scenario, "0/2", &start, out.path(), &["--workers", "2"]);
    std::thread::sleep(Duration::from_secs(1));
    let s1 = shard(&scenario, "1/2", &start, out.path(), &["--workers", "1"]);
    for (i, s) in [s0, s1].into_iter().enumerate() {
        let o = s.finish(&format!("shard {i}"));
        assert!(o.status.success(), "shard {i}: {}", text(&o));
    }
    let o = w.finish("the watcher");
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(
        all.contains(&format!("watching {}", run_dir.display())),
        "{all}"
    );
    // The live line: the run's id and target, figures, and the count from the markers.
    let live: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with(&format!("t15-watch -> {}: ", server.url())))
        .collect();
    assert!(
        live.iter().any(|l| l.contains("2 of 2 shards running")),
        "{all}"
    );
    // One in the middle of the load: its requests a second and their p95 (of the shards'
    // histograms merged: each request takes 20 ms).
    assert!(
        live.iter().any(|l| l.contains(" rps ")
            && !l.contains(" rps 0 ")
            && !l.contains(" p95 - ")
            && l.contains("ms errors 0 ")),
        "no line with load in it: {all}"
    );
    let watched = result_json(&run_dir);
    assert_eq!(
        watched["run"]["shards"]["merged"],
        serde_json::json!([0, 1])
    );
    let want: BTreeMap<String, u64> = [("GET /api/products".to_string(), 140)].into();
    assert_eq!(step_requests(&watched), want, "{}", watched["steps"]);
    // `skein merge` of the same folders: the same run.
    let again = tempfile::tempdir().unwrap();
    let m = skein()
        .arg("merge")
        .arg(&run_dir)
        .arg("-o")
        .arg(again.path())
        .output()
        .unwrap();
    assert_eq!(m.status.code(), Some(0), "{}", text(&m));
    let merged = result_json(again.path());
    assert_eq!(step_requests(&merged), step_requests(&watched));
    assert_eq!(
        merged["overall"]["requests"],
        watched["overall"]["requests"]
    );
    assert_eq!(
        merged["overall"]["response_time"],
        watched["overall"]["response_time"]
    );
    assert!(run_dir.join("report.html").is_file());
}

/// One shard of 2 runs: a watcher with `--timeout 3s` gives up, merges nothing and exits 2
/// naming the shard still running and the one that never started; once the one has ended,
/// a watcher with `--allow-missing` merges it at its timeout and says what is missing.
#[test]
fn issue15_merge_watch_times_out_on_missing_shards() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = demo_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path(), &server.url(), "5s");
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("t15-watch");
    let start = start_in(Duration::from_millis(1_500));
    let s0 = shard(&scenario, "0/2", &start, out.path(), &["--workers", "1"]);
    let began = Instant::now();
    let o = watcher(&run_dir, &["--timeout", "3s"]).finish("the watcher");
    let all = text(&o);
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(began.elapsed() >= Duration::from_secs(3), "{all}");
    assert!(
        all.contains(&format!(
            "shard 0 of 2 still running ({})",
            run_dir.join("shard-0").display()
        )),
        "{all}"
    );
    assert!(all.contains("shard 1 of 2 never started"), "{all}");
    assert!(all.contains("nothing merged"), "{all}");
    assert!(!run_dir.join("result.json").exists());
    let o = s0.finish("shard 0");
    assert!(o.status.success(), "shard 0: {}", text(&o));

    let o = watcher(&run_dir, &["--timeout", "3s", "--allow-missing"]).finish("the watcher");
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("shard 1 of 2 never started"), "{all}");
    assert!(all.contains("merged 1 of 2 shards; missing: 1"), "{all}");
    let merged = result_json(&run_dir);
    assert_eq!(merged["run"]["shards"]["missing"], serde_json::json!([1]));
    let part = result_json(&run_dir.join("shard-0"));
    assert_eq!(step_requests(&merged), step_requests(&part));
    assert_eq!(step_requests(&part)["GET /api/products"], 50);
}

/// Ctrl-C while watching stops watching: exit 130, nothing merged (the shards are not the
/// watcher's to stop).
#[test]
fn issue15_ctrl_c_stops_watching_without_merging() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("t15-watch");
    let mut w = watcher(&run_dir, &[]);
    // Once it says it is watching, it listens for the signal.
    let stderr = w.child().stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(first.starts_with("watching "), "{first}");
    let pid = w.child().id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let o = w.finish("the watcher");
    reader.join().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert_eq!(o.status.code(), Some(130), "{}", rest.join("\n"));
    assert!(
        rest.iter().any(|l| l.contains("nothing merged")),
        "{}",
        rest.join("\n")
    );
    assert!(!run_dir.join("result.json").exists());
}
