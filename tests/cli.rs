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
    let r = result_json(&dir);
    assert_eq!(r["run"]["status"], "interrupted", "{}", r["run"]);
    let parts = worker_results(&dir);
    let requests: u64 = parts
        .iter()
        .map(|p| p["overall"]["requests"].as_u64().unwrap())
        .sum();
    assert!(requests > 50);
    assert_eq!(r["overall"]["requests"].as_u64().unwrap(), requests);
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
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let o = skein()
        .args([
            "quick",
            &format!("http://127.0.0.1:{}/", closed_port()),
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
