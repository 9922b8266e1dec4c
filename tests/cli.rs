//! The `skein` binary as a user runs it: exit codes, error text, signals, the results folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{only_dir, result_json, skein, text};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn every_example_scenario_validates() {
    let mut files: Vec<PathBuf> = fs::read_dir(repo("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .filter(|p| !p.to_string_lossy().ends_with(".schema.json"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let o = skein().arg("validate").args(&files).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).matches(": ok").count(),
        files.len(),
        "{}",
        text(&o)
    );
}

#[test]
fn every_broken_scenario_exits_2_naming_its_line() {
    let dir = repo("tests/fixtures/bad");
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let body = fs::read_to_string(&path).unwrap();
        let Some(expect) = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
        else {
            continue;
        };
        let pos = expect.split_whitespace().next().unwrap();
        let o = skein().arg("validate").arg(&path).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}: {}", path.display(), text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            err.contains(&format!("{name}:{pos}")),
            "{}: expected `{name}:{pos}` in:\n{err}",
            path.display()
        );
        // `run` refuses it the same way, before any load.
        let o = skein()
            .arg("run")
            .arg(&path)
            .arg("-o")
            .arg(std::env::temp_dir())
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "run {}: {}",
            path.display(),
            text(&o)
        );
        n += 1;
    }
    assert!(n >= 10, "only {n} fixtures");
}

#[test]
fn usage_errors_exit_2() {
    let o = skein().args(["run"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = skein().args(["run", "no-such-file.yaml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no-such-file.yaml"));
    let o = skein()
        .args(["quick", "ftp://x", "-d", "1s"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = skein()
        .args(["quick", "http://127.0.0.1:9", "-d", "ten"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = skein()
        .args(["report", "/nonexistent-run"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// A long run against the embedded target, started in the background.
fn start_long_run(out: &Path) -> Child {
    start_long_run_with(out, 1)
}

/// A 60-second run on the embedded demo with `workers` worker processes.
fn start_long_run_with(out: &Path, workers: usize) -> Child {
    let scenario = out.join("long.yaml");
    fs::write(
        &scenario,
        "target: embedded:phase9\nscenarios:\n  - name: s\n    think_time: 20ms\n    steps:\n      - get: /api/products/1\nload: { users: 5, duration: 60s }\n",
    )
    .unwrap();
    skein()
        .arg("run")
        .arg(&scenario)
        .arg("--output")
        .arg(out)
        .arg("--workers")
        .arg(workers.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The run folder, once its journal has `lines` intervals.
fn wait_for_intervals(out: &Path, lines: usize) -> PathBuf {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        if let Some(dir) = fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
        {
            let j = fs::read_to_string(dir.join("intervals.jsonl")).unwrap_or_default();
            if j.lines().count() >= lines {
                return dir;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no run folder with {lines} intervals in {}", out.display());
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("skein did not exit within {limit:?}");
}

#[test]
fn sigint_mid_run_still_writes_everything() {
    let out = tempfile::tempdir().unwrap();
    let child = start_long_run(out.path());
    let dir = wait_for_intervals(out.path(), 2);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = wait_with_timeout(child, Duration::from_secs(15));
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let r = result_json(&dir);
    assert_eq!(r["run"]["status"], "interrupted", "{}", r["run"]);
    assert!(
        r["overall"]["requests"].as_u64().unwrap() > 50,
        "{}",
        r["overall"]
    );
    assert!(r["run"]["duration_us"].as_u64().unwrap() < 20_000_000);
    assert!(fs::metadata(dir.join("latency.hlog")).unwrap().len() > 200);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("GET /api/products/1"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_killed_run_is_rebuilt_from_its_journal() {
    let out = tempfile::tempdir().unwrap();
    let mut child = start_long_run(out.path());
    let dir = wait_for_intervals(out.path(), 3);
    child.kill().unwrap(); // SIGKILL: no chance to write anything more
    let _ = child.wait();
    assert_eq!(result_json(&dir)["run"]["status"], "running");
    let o = skein().arg("report").arg(&dir).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let r = result_json(&dir);
    assert_eq!(r["run"]["status"], "interrupted");
    let journal = fs::read_to_string(dir.join("intervals.jsonl")).unwrap();
    let from_journal: u64 = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|v| v["cells"].as_array().cloned().unwrap_or_default())
        .map(|c| c["requests"].as_u64().unwrap())
        .sum();
    assert!(from_journal > 50);
    assert_eq!(r["overall"]["requests"].as_u64().unwrap(), from_journal);
}

/// Each worker's own `result.json`, once every worker has `lines` intervals.
fn wait_for_worker_intervals(out: &Path, workers: usize, lines: usize) -> PathBuf {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        if let Some(dir) = fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
        {
            let ready = (0..workers).all(|i| {
                fs::read_dir(dir.join("workers").join(i.to_string()))
                    .ok()
                    .and_then(|mut d| d.next())
                    .and_then(|e| fs::read_to_string(e.ok()?.path().join("intervals.jsonl")).ok())
                    .is_some_and(|j| j.lines().count() >= lines)
            });
            if ready {
                return dir;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the workers never wrote {lines} intervals under {}",
        out.display()
    );
}

fn worker_results(dir: &Path) -> Vec<serde_json::Value> {
    (0..)
        .map_while(|i| fs::read_dir(dir.join("workers").join(i.to_string())).ok())
        .filter_map(|mut d| d.next())
        .map(|e| result_json(&e.unwrap().path()))
        .collect()
}

#[test]
fn workers_split_the_load_and_merge_exactly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(skein::demo::serve(
            "127.0.0.1:0".parse().unwrap(),
            Default::default(),
        ))
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = skein()
        .args([
            "quick",
            &format!("{}/api/products/3", server.url()),
            "--users",
            "6",
            "--duration",
            "2s",
            "--workers",
            "3",
            "--quiet",
            "-o",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let dir = only_dir(out.path());
    let r = result_json(&dir);
    assert_eq!(r["run"]["workers"], 3);
    assert_eq!(r["run"]["peak_users"], 6, "{}", r["run"]);
    let parts = worker_results(&dir);
    assert_eq!(parts.len(), 3);
    let sum = |f: &dyn Fn(&serde_json::Value) -> u64| parts.iter().map(f).sum::<u64>();
    let requests = sum(&|p| p["overall"]["requests"].as_u64().unwrap());
    assert!(requests > 100, "{requests}");
    assert_eq!(r["overall"]["requests"].as_u64().unwrap(), requests);
    // Each worker ran 2 of the 6 users; the histograms merged exactly.
    for p in &parts {
        assert_eq!(p["run"]["peak_users"], 2);
    }
    let count = sum(&|p| p["overall"]["service_time"]["count"].as_u64().unwrap());
    assert_eq!(
        r["overall"]["service_time"]["count"].as_u64().unwrap(),
        count
    );
    let merged = skein::metrics::Hist::from_base64(
        r["overall"]["service_time"]["histogram"].as_str().unwrap(),
    )
    .unwrap();
    let mut by_hand = skein::metrics::Hist::new();
    for p in &parts {
        by_hand.add(
            &skein::metrics::Hist::from_base64(
                p["overall"]["service_time"]["histogram"].as_str().unwrap(),
            )
            .unwrap(),
        );
    }
    assert_eq!(merged, by_hand);
    assert!(dir.join("report.html").is_file());
    drop(server);
}

#[test]
fn sigint_stops_every_worker_and_the_merge_still_happens() {
    let out = tempfile::tempdir().unwrap();
    let child = start_long_run_with(out.path(), 2);
    let dir = wait_for_worker_intervals(out.path(), 2, 2);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = wait_with_timeout(child, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_stopped_and_complete(&o, &dir, "interrupted (SIGINT)");
    let parts = worker_results(&dir);
    let requests: u64 = parts
        .iter()
        .map(|p| p["overall"]["requests"].as_u64().unwrap())
        .sum();
    assert!(requests > 50);
    assert_eq!(
        result_json(&dir)["overall"]["requests"].as_u64().unwrap(),
        requests
    );
}

#[test]
fn a_killed_parent_leaves_workers_that_stop_and_a_folder_report_can_merge() {
    let out = tempfile::tempdir().unwrap();
    let mut child = start_long_run_with(out.path(), 2);
    let dir = wait_for_worker_intervals(out.path(), 2, 2);
    child.kill().unwrap(); // SIGKILL: the parent cannot merge
    let _ = child.wait();
    assert_eq!(result_json(&dir)["run"]["status"], "running");
    // The workers get SIGINT when their parent dies, and finish their folders.
    let t0 = Instant::now();
    loop {
        let parts = worker_results(&dir);
        if parts.len() == 2 && parts.iter().all(|p| p["run"]["status"] != "running") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "workers still running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = skein().arg("report").arg(&dir).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let r = result_json(&dir);
    assert_eq!(r["run"]["status"], "interrupted");
    let requests: u64 = worker_results(&dir)
        .iter()
        .map(|p| p["overall"]["requests"].as_u64().unwrap())
        .sum();
    assert!(requests > 50);
    assert_eq!(r["overall"]["requests"].as_u64().unwrap(), requests);
}

/// Send `sig` to `child` and wait (at most `limit`) for it to exit.
fn signal_and_wait(child: Child, sig: i32, limit: Duration) -> Output {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
    wait_with_timeout(child, limit)
}

/// What a run stopped by a signal leaves: its folder complete (every report, the status
/// interrupted with `reason`), the table and the verdict printed.
fn assert_stopped_and_complete(o: &Output, dir: &Path, reason: &str) {
    let r = result_json(dir);
    assert_eq!(r["run"]["status"], "interrupted", "{}", r["run"]);
    assert_eq!(r["run"]["stop_reason"], reason, "{}", r["run"]);
    assert!(
        r["overall"]["requests"].as_u64().unwrap() > 50,
        "{}",
        r["overall"]
    );
    assert!(r["run"]["duration_us"].as_u64().unwrap() < 30_000_000);
    for f in ["report.html", "report.md", "summary.json", "junit.xml"] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    let t = text(o);
    assert!(t.contains("GET /api/products/1"), "{t}");
    assert!(t.contains("verdict: "), "{t}");
    assert!(t.contains(&format!("interrupted: {reason}")), "{t}");
}

/// Issue 13, D8: SIGTERM (what `docker stop`, Kubernetes, CI cancellation and `timeout`
/// send) killed the run: exit 143, nothing printed, `result.json` left `running`. It
/// stops like the first Ctrl-C: folder, reports and verdict, exit 143.
#[test]
fn issue13_sigterm_mid_run_stops_like_ctrl_c() {
    let out = tempfile::tempdir().unwrap();
    let child = start_long_run(out.path());
    let dir = wait_for_intervals(out.path(), 2);
    let o = signal_and_wait(child, libc::SIGTERM, Duration::from_secs(15));
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));
    assert_stopped_and_complete(&o, &dir, "terminated (SIGTERM)");
}

/// Issue 13, D8: with `--workers`, the parent passes SIGTERM on to its workers (their own
/// process group does not get it) and merges what they measured.
#[test]
fn issue13_sigterm_stops_every_worker_and_the_merge_still_happens() {
    let out = tempfile::tempdir().unwrap();
    let child = start_long_run_with(out.path(), 2);
    let dir = wait_for_worker_intervals(out.path(), 2, 2);
    let o = signal_and_wait(child, libc::SIGTERM, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));
    assert_stopped_and_complete(&o, &dir, "terminated (SIGTERM)");
    let parts = worker_results(&dir);
    assert_eq!(parts.len(), 2);
    for p in &parts {
        assert_eq!(
            p["run"]["stop_reason"], "terminated (SIGTERM)",
            "{}",
            p["run"]
        );
    }
    let requests: u64 = parts
        .iter()
        .map(|p| p["overall"]["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(
        result_json(&dir)["overall"]["requests"].as_u64().unwrap(),
        requests
    );
}

/// Issue 13, D8: SIGHUP (the terminal closed) stops the run the same way, exit 129.
#[test]
fn issue13_sighup_mid_run_stops_like_ctrl_c() {
    let out = tempfile::tempdir().unwrap();
    let child = start_long_run(out.path());
    let dir = wait_for_intervals(out.path(), 2);
    let o = signal_and_wait(child, libc::SIGHUP, Duration::from_secs(15));
    assert_eq!(o.status.code(), Some(129), "{}", text(&o));
    assert_stopped_and_complete(&o, &dir, "hung up (SIGHUP)");
}

/// The pid of worker `i` of the run in `dir` (from its command line).
fn worker_pid(dir: &Path, i: usize) -> Option<i32> {
    let want = dir.join("workers").join(i.to_string());
    fs::read_dir("/proc").ok()?.find_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let out = args
            .iter()
            .position(|a| *a == b"--worker-output")
            .and_then(|k| args.get(k + 1))?;
        (Path::new(std::str::from_utf8(out).ok()?) == want).then_some(pid)
    })
}

/// The requests in the whole lines of a worker's journal.
fn journal_requests(dir: &Path) -> u64 {
    fs::read_to_string(dir.join("intervals.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|v| v["cells"].as_array().cloned().unwrap_or_default())
        .map(|c| c["requests"].as_u64().unwrap())
        .sum()
}

/// Issue 13: SIGKILL of one worker. The parent stops the others, merges what every
/// worker wrote (the dead one's folder rebuilt from its journal), says which worker died,
/// writes every report, and exits 3.
#[test]
fn issue13_a_killed_worker_is_named_and_the_rest_merged() {
    let out = tempfile::tempdir().unwrap();
    let child = start_long_run_with(out.path(), 2);
    let dir = wait_for_worker_intervals(out.path(), 2, 2);
    let pid = worker_pid(&dir, 0).expect("worker 0 is running");
    // SAFETY: a worker process of our child, found by its command line.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let o = wait_with_timeout(child, Duration::from_secs(20));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("warning: worker 0 of 2 was killed by signal 9 (SIGKILL)"),
        "{t}"
    );
    let r = result_json(&dir);
    assert_eq!(r["run"]["status"], "interrupted", "{}", r["run"]);
    let reason = r["run"]["stop_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("a worker died: worker 0 of 2 was killed by signal 9"),
        "{reason}"
    );
    assert!(t.contains(reason), "{t}");
    assert!(dir.join("report.html").is_file() && dir.join("summary.json").is_file());
    // The dead worker's folder still says `running`; its journal holds what it measured.
    let parts: Vec<PathBuf> = (0..2)
        .map(|i| only_dir(&dir.join("workers").join(i.to_string())))
        .collect();
    assert_eq!(result_json(&parts[0])["run"]["status"], "running");
    assert_eq!(result_json(&parts[1])["run"]["status"], "interrupted");
    let from_journals: u64 = parts.iter().map(|p| journal_requests(p)).sum();
    assert!(
        journal_requests(&parts[0]) > 10,
        "worker 0 measured nothing"
    );
    assert_eq!(r["overall"]["requests"].as_u64().unwrap(), from_journals);
}

#[test]
fn quick_mode_writes_the_same_results_folder() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(skein::demo::serve(
            "127.0.0.1:0".parse().unwrap(),
            Default::default(),
        ))
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = skein()
        .args([
            "quick",
            &format!("{}/health", server.url()),
            "--users",
            "4",
            "--duration",
            "2s",
            "--quiet",
            "-o",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let dir = fs::read_dir(out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r = result_json(&dir);
    assert_eq!(r["steps"][0]["name"], "GET /health");
    assert!(r["overall"]["requests"].as_u64().unwrap() > 100);
    assert_eq!(r["overall"]["errors"], 0);
    for f in ["result.json", "latency.hlog", "intervals.jsonl"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("GET /health") && stdout.contains("p95"),
        "{stdout}"
    );
    rt.block_on(server.shutdown());
}

fn run_dir(out: &Path) -> PathBuf {
    fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
}

#[test]
fn targets_gate_the_exit_code_and_every_report_is_written() {
    let out = tempfile::tempdir().unwrap();
    let scenario = out.path().join("gate.yaml");
    fs::write(
        &scenario,
        r#"target: {embedded: phase9, routes: {product: {service_time: 20ms, jitter: 0ms}}}
scenarios:
  - name: s
    steps:
      - name: detail
        get: /api/products/9
        tags: [api]
load: { users: 4, duration: 2s }
targets:
  - p50(step="detail") < 200ms
  - p95 > 1ms
  - p50(tag="api") < 5ms
  - error_rate <= 0.1%
"#,
    )
    .unwrap();
    let results = out.path().join("r");
    let o = skein()
        .arg("run")
        .arg(&scenario)
        .arg("-q")
        .arg("-o")
        .arg(&results)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("FAIL") && err.contains("p50(tag=\"api\") < 5ms"),
        "{err}"
    );
    let dir = run_dir(&results);
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["passed"], false);
    let statuses: Vec<&str> = summary["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pass", "pass", "fail", "pass"]);
    for f in ["report.html", "report.md", "junit.xml", "targets.json"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // The saved folder alone is judged the same way again.
    fs::remove_file(dir.join("report.html")).unwrap();
    let o = skein().arg("report").arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(dir.join("report.html").is_file());
}

#[test]
fn abort_on_fail_stops_a_hopeless_run_early() {
    let out = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scenario = out.path().join("abort.yaml");
    fs::write(
        &scenario,
        format!(
            "target: http://127.0.0.1:{port}\nscenarios:\n  - name: s\n    think_time: 10ms\n    steps:\n      - get: /\nload: {{ users: 2, duration: 30s }}\ntargets:\n  - {{ expr: \"error_rate < 1%\", abort_on_fail: true, grace: 1s }}\n"
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let o = skein()
        .arg("run")
        .arg(&scenario)
        .arg("-q")
        .arg("-o")
        .arg(out.path().join("r"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t0.elapsed()
    );
    let r = result_json(&run_dir(&out.path().join("r")));
    assert_eq!(r["run"]["status"], "interrupted");
    assert!(
        r["run"]["stop_reason"]
            .as_str()
            .unwrap()
            .contains("error_rate < 1%"),
        "{}",
        r["run"]
    );
}

/// A port on 127.0.0.1 that refuses connections: bound, read back, closed.
/// A loopback port that refuses every connection for as long as the returned socket lives:
/// bound but not listening, so no other test's server can take it meanwhile (a port
/// merely released could be, and then the "closed" port answers).
fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Issue 12, defect 5: a run without targets against a port that refuses every connection
/// used to exit 0. It exits 1, says why on stderr, and every report agrees; `report` judges
/// the saved folder the same way.
#[test]
fn issue_12_quick_against_a_closed_port_exits_1_saying_why() {
    let out = tempfile::tempdir().unwrap();
    let (_closed, port) = closed_port();
    let o = skein()
        .args([
            "quick",
            &format!("http://127.0.0.1:{port}/"),
            "-u",
            "2",
            "-d",
            "1s",
            "-q",
            "-o",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("verdict: "))
        .unwrap_or_else(|| panic!("no verdict line:\n{err}"));
    assert!(
        line.starts_with("verdict: FAILED: no request succeeded (")
            && line.contains(" connection_refused"),
        "{line}"
    );
    let dir = run_dir(out.path());
    let summary: serde_json::Value =
        serde_json::from_str(&read(&dir.join("summary.json"))).unwrap();
    assert_eq!(summary["passed"], false, "{summary}");
    assert_eq!(summary["run_failed"]["kind"], "no_request_succeeded");
    assert!(
        read(&dir.join("junit.xml")).contains("<failure type=\"no_request_succeeded\""),
        "junit.xml"
    );
    let md = read(&dir.join("report.md"));
    assert!(md.starts_with("## ❌ Skein run quick: failed"), "{md}");
    assert!(md.contains("**No request succeeded ("), "{md}");
    assert!(read(&dir.join("report.html")).contains("<div class=\"banner fail\""));
    let o = skein().arg("report").arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("verdict: FAILED: no request succeeded"),
        "{}",
        text(&o)
    );
}

/// Run `yaml` (embedded demo target, about a second) with no targets; the output.
fn run_scenario(out: &Path, yaml: &str) -> Output {
    let scenario = out.join("s.yaml");
    fs::write(&scenario, yaml).unwrap();
    skein()
        .arg("run")
        .arg(&scenario)
        .arg("-q")
        .arg("-o")
        .arg(out.join("r"))
        .output()
        .unwrap()
}

/// Issue 12, defect 5: every response arrives but fails its check, so nothing succeeded.
#[test]
fn issue_12_a_run_whose_every_check_fails_exits_1() {
    let out = tempfile::tempdir().unwrap();
    let o = run_scenario(
        out.path(),
        "target: embedded:phase9\nscenarios:\n  - name: s\n    think_time: 20ms\n    steps:\n      - get: /health\n        check: {status: 201}\nload: { users: 2, duration: 1s }\n",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("verdict: FAILED: no request succeeded (") && err.contains("failed a check"),
        "{err}"
    );
}

/// Issue 12, defect 5: a healthy run with some errors (a 404 in every iteration) still
/// exits 0 when it has no targets.
#[test]
fn issue_12_a_healthy_run_with_some_404s_exits_0() {
    let out = tempfile::tempdir().unwrap();
    let o = run_scenario(
        out.path(),
        "target: embedded:phase9\nscenarios:\n  - name: s\n    think_time: 20ms\n    steps:\n      - get: /health\n      - get: /api/products/999\nload: { users: 2, duration: 1s }\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("http_4xx"), "{err}");
    assert!(err.contains("verdict: no targets"), "{err}");
    let summary = read(&run_dir(&out.path().join("r")).join("summary.json"));
    assert!(!summary.contains("run_failed"), "{summary}");
}

#[test]
fn issue12_a_duration_without_a_unit_names_its_option() {
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["run", "scenarios/smoke.yaml", "-d", "5"],
            "--duration",
            "5s",
        ),
        (
            &["quick", "http://127.0.0.1:9/", "-d", "5"],
            "--duration",
            "5s",
        ),
        (
            &["quick", "http://127.0.0.1:9/", "--think", "100"],
            "--think",
            "100ms",
        ),
        (
            &["capacity", "scenarios/capacity.yaml", "--hold", "30"],
            "--hold",
            "30s",
        ),
        (
            &["capacity", "scenarios/capacity.yaml", "--slo-p95", "200"],
            "--slo-p95",
            "200ms",
        ),
    ];
    for (args, option, fix) in cases {
        let o = skein().current_dir(repo("")).args(*args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("'{option} <")) && err.contains(fix),
            "{args:?}: expected {option} and {fix} in:\n{err}"
        );
    }
}

/// A typed placeholder sends a JSON number (the demo's `POST /api/cart` refuses
/// `"product_id": "7"`), and a check compares with the user's variable, not its text.
#[test]
fn issue12_typed_json_numbers_and_templated_checks_against_the_demo() {
    let out = tempfile::tempdir().unwrap();
    let scenario = out.path().join("typed.yaml");
    fs::write(
        &scenario,
        r#"target: embedded:phase9
variables:
  pid: {value: "${randomInt(1, 500)}", per: user}
scenarios:
  - name: shopper
    auth: {bearer: "${token}"}
    on_start:
      - name: login
        post: /api/login
        auth: none
        json: {username: ada, password: pw}
        check: {status: 200}
        extract: {token: {json: $.token}}
    steps:
      - name: as text
        post: /api/cart
        json: {product_id: "${pid}", qty: 1}
        check: {status: 400}
      - name: as numbers
        post: /api/cart
        json: {product_id: "${pid:int}", qty: "${randomInt(1, 1):int}"}
        check:
          status: 200
          json:
            - {path: "$.items[0].product_id", equals: "${pid:int}"}
            - {path: "$.items[0].product_id", equals: "${pid}"}
load: {users: 2, duration: 1s}
"#,
    )
    .unwrap();
    let results = out.path().join("r");
    let o = skein()
        .arg("run")
        .arg(&scenario)
        .args(["-q", "--workers", "1", "-o"])
        .arg(&results)
        .output()
        .unwrap();
    let r = result_json(&run_dir(&results));
    let step = |name: &str| {
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {}", text(&o)))
            .clone()
    };
    let checks = |name: &str| -> Vec<(String, u64, u64)> {
        step(name)["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["label"].as_str().unwrap().to_string(),
                    c["passed"].as_u64().unwrap(),
                    c["failed"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(step("login")["errors"], 0, "{}", text(&o));
    let numbers = step("as numbers");
    let sent = numbers["requests"].as_u64().unwrap();
    assert!(sent > 0, "{}", text(&o));
    assert_eq!(numbers["errors"], 0, "{}", text(&o));
    let c = checks("as numbers");
    assert_eq!(c[0], ("status 200".to_string(), sent, 0), "{c:?}");
    assert_eq!(
        c[1],
        (
            r#"json $.items[0].product_id equals "${pid:int}""#.to_string(),
            sent,
            0
        ),
        "{c:?}"
    );
    // The untyped placeholder is a string, which the number in the cart does not equal.
    assert_eq!(c[2].2, sent, "{c:?}");
    let text_step = step("as text");
    assert_eq!(
        checks("as text")[0].2,
        0,
        "the demo refuses a string id: {}",
        text(&o)
    );
    assert!(text_step["requests"].as_u64().unwrap() > 0);
}

// ---------------------------------------------------------------------------------------
// Issue 13: hostile files and secrets in every encoding.

/// Run `cmd` to the end (killed after `limit`): exit code, stderr, and its peak resident
/// memory in KiB (from `wait4`, so it is this child's alone).
// The child is reaped by `wait4`, not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut std::process::Command, limit: Duration) -> (Option<i32>, String, u64) {
    use std::io::Read as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while t0.elapsed() < limit {
                if done.load(Ordering::SeqCst) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: kill(2) on our own child, not yet reaped (`done` is false).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            true
        })
    };
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    done.store(true, Ordering::SeqCst);
    assert_eq!(r, pid, "wait4");
    let killed = watchdog.join().unwrap();
    let err = reader.join().unwrap();
    assert!(!killed, "still running after {limit:?}:\n{err}");
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, err, usage.ru_maxrss as u64)
}

/// Issue 13, D10: `validate` said only "error: reading scenario X"; it says why, as `run`
/// does, and exits 2.
#[test]
fn issue13_validate_says_why_it_cannot_read_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad_utf8 = dir.path().join("latin1.yaml");
    fs::write(&bad_utf8, b"name: caf\xe9\ntarget: embedded:phase9\n").unwrap();
    let cases = [
        (dir.path().join("missing.yaml"), "No such file or directory"),
        (dir.path().to_path_buf(), "a folder, not a file"),
        (
            bad_utf8,
            "not UTF-8 text: byte 0xe9 at line 1, column 10; save the file as UTF-8",
        ),
    ];
    for (path, why) in cases {
        for cmd in ["validate", "run"] {
            let o = skein().arg(cmd).arg(&path).output().unwrap();
            assert_eq!(
                o.status.code(),
                Some(2),
                "{cmd} {}: {}",
                path.display(),
                text(&o)
            );
            let want = format!("error: reading scenario {}: {why}", path.display());
            assert!(
                String::from_utf8_lossy(&o.stderr).contains(&want),
                "{cmd}: expected {want:?} in:\n{}",
                text(&o)
            );
        }
    }
}

/// Issue 13, D4: a FIFO with no writer made `validate` hang; `/dev/zero` as the scenario, a
/// `body_file`, a feeder's `file` or a `ca_file` was read until memory ran out. Anything
/// but a regular file is refused unopened, at once, naming the key.
#[cfg(unix)]
#[test]
fn issue13_special_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let f = fifo.display();
    let scenario = dir.path().join("special.yaml");
    fs::write(
        &scenario,
        format!(
            "target: https://127.0.0.1:9
defaults: {{ca_file: /dev/zero}}
feeders:
  users: {{file: {f}}}
scenarios:
  - name: s
    steps:
      - post: /a/${{users.name}}
        body_file: /dev/urandom
      - post: /b
        body_file: {f}
load: {{users: 1, duration: 1s}}
"
        ),
    )
    .unwrap();
    let (code, err, _) = run_measured(
        skein().arg("validate").arg(&scenario),
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(2), "{err}");
    for want in [
        ":2:21: `defaults.ca_file`: found \"/dev/zero\" (/dev/zero: a character device, not a regular file)",
        ":4:17: `feeders.users.file`",
        "pipe: a FIFO (named pipe), not a regular file",
        ":9:20: `scenarios[0].steps[0].body_file`: found \"/dev/urandom\" (/dev/urandom: a character device, not a regular file)",
        ":11:20: `scenarios[0].steps[1].body_file`",
    ] {
        assert!(err.contains(want), "expected {want:?} in:\n{err}");
    }
    for file in [fifo.as_path(), Path::new("/dev/zero")] {
        for cmd in ["validate", "run"] {
            let (code, err, _) = run_measured(skein().arg(cmd).arg(file), Duration::from_secs(20));
            assert_eq!(code, Some(2), "{cmd} {}: {err}", file.display());
            assert!(err.contains("not a regular file"), "{err}");
        }
    }
}

/// Issue 13, D3: 1,000 aliases of a 1 MB string made `validate` use 1.97 GB. Aliases may
/// copy at most 16 MiB of text; past that the file is refused at the alias, in little
/// memory.
#[test]
fn issue13_an_alias_bomb_is_refused_at_its_alias_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.yaml");
    let mut yaml = format!(
        "target: embedded:phase9\nbig: &big \"{}\"\nscenarios:\n  - name: s\n    steps:\n",
        "x".repeat(1 << 20)
    );
    for _ in 0..1000 {
        yaml.push_str("      - {post: /api/cart, body: *big}\n");
    }
    yaml.push_str("load: {users: 1, duration: 1s}\n");
    fs::write(&bomb, yaml).unwrap();
    let (code, err, max_rss_kib) =
        run_measured(skein().arg("validate").arg(&bomb), Duration::from_secs(60));
    assert_eq!(code, Some(2), "{err}");
    // Line 6 holds the first alias; the 17th passes 16 MiB.
    assert!(
        err.contains(
            "bomb.yaml:22:33: found aliases that expand to more than 16 MiB of text in all"
        ),
        "{err}"
    );
    assert!(
        max_rss_kib < 200 * 1024,
        "validate peaked at {max_rss_kib} KiB"
    );
}

/// Issue 13, D11: a scenario without `name:` takes its file's name, which can be too long
/// for `<name>-<UTC time>`; it is cut to fit and the run makes its folder.
#[test]
fn issue13_a_long_file_name_still_makes_a_results_folder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{}.yaml", "long".repeat(60)));
    fs::write(
        &file,
        "target: embedded:phase9\nscenarios:\n  - name: s\n    think_time: 50ms\n    steps:\n      - get: /health\nload: {users: 1, duration: 1s}\n",
    )
    .unwrap();
    let out = dir.path().join("r");
    let o = skein()
        .arg("run")
        .arg(&file)
        .args(["-q", "--workers", "1", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let name = run_dir(&out)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&"long".repeat(32)) && name.len() < 160,
        "{name}"
    );
    // `--users` above the maximum is refused like `users:` in the file.
    let o = skein()
        .arg("run")
        .arg(&file)
        .args(["--users", "10000000000", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("at most 1000000"), "{}", text(&o));
}

/// Issue 13, D2: an environment value with a space or a non-ASCII character reached error
/// examples and every report percent-encoded (`correct%20horse%20battery`,
/// `correct+horse+battery`, `p%C3%A4ssw%C3%B6rd`). No encoding of it is in any file of the
/// run folder, nor on the terminal; the examples still say where it was.
#[test]
fn issue13_secrets_never_leak_in_any_encoding() {
    use base64::Engine as _;
    const SPACE: &str = "correct horse battery";
    const UMLAUT: &str = "pässwörd";
    let dir = tempfile::tempdir().unwrap();
    let (_closed, port) = closed_port();
    let scenario = dir.path().join("secrets.yaml");
    fs::write(
        &scenario,
        format!(
            r#"target: embedded:phase9
variables:
  user: '${{randomChoice("ada", "bo", "cyd")}}'
scenarios:
  - name: s
    think_time: 20ms
    steps:
      - name: login
        post: /api/login
        json: {{username: ada, password: "${{env.SKEIN_T13_SPACE}} ${{env.SKEIN_T13_UMLAUT}}"}}
      - name: form
        post: /api/login
        form: {{username: ada, password: "${{env.SKEIN_T13_UMLAUT}}"}}
      - name: basic
        get: /api/cart
        auth: {{basic: {{username: "${{user}}", password: "${{env.SKEIN_T13_UMLAUT}}"}}}}
      - name: query
        get: "http://127.0.0.1:{port}/q"
        query: {{a: "${{env.SKEIN_T13_SPACE}}", b: "${{env.SKEIN_T13_UMLAUT}}"}}
        timeout: 1s
      - name: path
        get: "http://127.0.0.1:{port}/${{env.SKEIN_T13_SPACE}}/${{env.SKEIN_T13_UMLAUT}}?k=${{env.SKEIN_T13_SPACE}}"
        timeout: 1s
load: {{users: 2, duration: 1s}}
"#
        ),
    )
    .unwrap();
    let out = dir.path().join("r");
    let o = skein()
        .arg("run")
        .arg(&scenario)
        .args(["--workers", "1", "-o"])
        .arg(&out)
        .env("SKEIN_T13_SPACE", SPACE)
        .env("SKEIN_T13_UMLAUT", UMLAUT)
        .output()
        .unwrap();
    let run = run_dir(&out);
    let r = result_json(&run);
    // The run did send the secrets: both dead-port steps failed, and their examples name
    // the URL with the secrets masked.
    for step in ["query", "path"] {
        let ex = r["error_examples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["step"] == step)
            .unwrap_or_else(|| panic!("no example for {step}: {}", text(&o)));
        let msg = ex["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("127.0.0.1:{port}/")) && msg.contains("[redacted]"),
            "{msg}"
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut needles: Vec<String> = [
        SPACE,
        "correct%20horse%20battery",
        "correct+horse+battery",
        UMLAUT,
        "p%C3%A4ssw%C3%B6rd",
        "p%c3%a4ssw%c3%b6rd",
        "p\\u00e4ssw\\u00f6rd",
    ]
    .map(String::from)
    .into();
    for user in ["ada", "bo", "cyd"] {
        needles.push(b64.encode(format!("{user}:{UMLAUT}")));
    }
    let mut files = Vec::new();
    let mut stack = vec![run.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    for f in ["result.json", "report.md", "report.html", "summary.json"] {
        assert!(files.iter().any(|p| p.ends_with(f)), "no {f} in {files:?}");
    }
    let mut outputs: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| (p.display().to_string(), fs::read(p).unwrap()))
        .collect();
    outputs.push(("stdout".into(), o.stdout.clone()));
    outputs.push(("stderr".into(), o.stderr.clone()));
    for (name, bytes) in &outputs {
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                "{name} holds the secret as {n:?}"
            );
        }
    }
    // A URL typed with a password is refused without echoing the password.
    for url in [
        "http://ada:hunter2@127.0.0.1:9/",
        "ftp://ada:hunter2@127.0.0.1:9/",
    ] {
        let o = skein().args(["quick", url, "-d", "1s"]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            !text(&o).contains("hunter2") && text(&o).contains("ada:[redacted]@"),
            "{}",
            text(&o)
        );
    }
}

/// Issue 13, D2: a target with `user:password@` on the command line is refused without
/// echoing the password (it would be written into every report).
#[test]
fn issue13_a_target_with_credentials_is_refused_without_showing_them() {
    let o = skein()
        .args(["run", "scenarios/smoke.yaml", "-q", "--target"])
        .arg("http://u:hunter2@127.0.0.1:9")
        .current_dir(repo(""))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let all = text(&o);
    assert!(all.contains("u:[redacted]@127.0.0.1:9"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}
