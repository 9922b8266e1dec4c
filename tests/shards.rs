//! Issue 15: a run split into shards (`skein run --shard I/N`), each its own process with
//! its own folder as on separate machines, started together on a common clock
//! (`--start-at`), then merged by `skein merge`: the merged run is the run of one process
//! (the same requests per step, the same latencies) and its verdict and exit code are the
//! merged figures'. Each test runs the `skein` binary against the embedded demo target served
//! by the test on a free loopback port.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

mod common;
use common::{only_dir, result_json, skein, text};

use skein::demo::{self, DemoConfig, RouteConfig};

/// One load test at a time: each runs several processes on a 2-core machine, and latencies
/// compared with a known truth must not measure the other tests' load.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn demo_server(rt: &tokio::runtime::Runtime, config: DemoConfig) -> demo::DemoServer {
    rt.block_on(demo::serve("127.0.0.1:0".parse().unwrap(), config))
        .unwrap()
}

/// `products` takes exactly 20 ms; the other routes have no jitter.
fn twenty_ms() -> DemoConfig {
    DemoConfig::default()
        .without_jitter()
        .with_route("products", RouteConfig::fixed(Duration::from_millis(20)))
}

/// A scenario `name.yaml` in `dir`: one step, GET /api/products, 20 iterations a second
/// for `seconds` against `url`, with `target` if given.
fn products_at_20_per_s(
    dir: &Path,
    name: &str,
    url: &str,
    seconds: u64,
    target: Option<&str>,
) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let targets = target.map_or(String::new(), |t| format!("targets: [\"{t}\"]\n"));
    fs::write(
        &path,
        format!(
            "name: {name}\ntarget: {url}\nscenarios:\n  - {{name: a, steps: [{{get: /api/products}}]}}\n\
             load: {{arrival_rate: 20/s, duration: {seconds}s, max_users: 10}}\n{targets}"
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

/// `skein run FILE --shard I/N ...` started (not waited for).
fn shard(
    scenario: &Path,
    shard: &str,
    run_id: &str,
    start: &str,
    out: &Path,
    extra: &[&str],
) -> Child {
    skein()
        .arg("run")
        .arg(scenario)
        .args([
            "--quiet",
            "--shard",
            shard,
            "--run-id",
            run_id,
            "--start-at",
            start,
        ])
        .args(["--seed", "7", "-o"])
        .arg(out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for a process, at most 60 s (then kill it and fail).
fn finish(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn merge(args: &[&Path], extra: &[&str]) -> Output {
    skein()
        .arg("merge")
        .args(args)
        .args(extra)
        .output()
        .unwrap()
}

/// Every shard of `n`, started together `lead` ahead, each with `extra`; their outputs.
fn run_shards(scenario: &Path, n: usize, run_id: &str, out: &Path, extra: &[&str]) -> Vec<Output> {
    let start = start_in(Duration::from_millis(2_500));
    let children: Vec<Child> = (0..n)
        .map(|i| shard(scenario, &format!("{i}/{n}"), run_id, &start, out, extra))
        .collect();
    children
        .into_iter()
        .enumerate()
        .map(|(i, c)| finish(c, &format!("shard {i}")))
        .collect()
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

fn p(r: &serde_json::Value, step: &str, q: &str) -> f64 {
    let s = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("no step {step}"));
    s["response_time"][q].as_u64().unwrap() as f64 / 1000.0
}

/// The open model: 3 shards on a common clock start exactly the whole plan's iterations
/// (2:1 over two scenarios, 30/s for 3 s: 60 + 30), at the plan's instants, and the merged
/// latencies are the single process's (the route takes 20 ms). The merged folder holds every
/// report, its seconds on one grid, and the shards' record.
#[test]
fn issue15_three_shards_merged_are_the_single_process_run() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = demo_server(&rt, twenty_ms());
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("open.yaml");
    fs::write(
        &scenario,
        format!(
            "name: open\ntarget: {}\n\
             scenarios:\n\
             \x20 - {{name: a, weight: 2, steps: [{{get: /api/products}}]}}\n\
             \x20 - {{name: b, weight: 1, steps: [{{get: /health}}]}}\n\
             load: {{arrival_rate: 30/s, duration: 3s, max_users: 30}}\n\
             targets: [\"p95 < 2s\"]\n",
            server.url()
        ),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    for (i, o) in run_shards(&scenario, 3, "t15-open", out.path(), &[])
        .iter()
        .enumerate()
    {
        assert!(o.status.success(), "shard {i}: {}", text(o));
        assert!(
            text(o).contains(&format!("shard {i} of 3 of run `t15-open`")),
            "{}",
            text(o)
        );
    }
    let run_dir = out.path().join("t15-open");
    let m = merge(&[&run_dir], &[]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m));
    let merged = result_json(&run_dir);
    for f in [
        "summary.json",
        "junit.xml",
        "report.html",
        "report.md",
        "latency.hlog",
    ] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    let single_out = tempfile::tempdir().unwrap();
    let o = skein()
        .arg("run")
        .arg(&scenario)
        .args(["--quiet", "--seed", "7", "-o"])
        .arg(single_out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let single = result_json(&only_dir(single_out.path()));

    let want: BTreeMap<String, u64> = [
        ("GET /api/products".to_string(), 60),
        ("GET /health".into(), 30),
    ]
    .into();
    assert_eq!(step_requests(&single), want);
    assert_eq!(step_requests(&merged), want, "{}", merged["steps"]);
    assert_eq!(merged["overall"]["errors"], 0);
    let open = &merged["run"]["open_model"];
    assert_eq!(
        (open["scheduled"].as_u64(), open["started"].as_u64()),
        (Some(90), Some(90))
    );
    // The shards' parts of the rate add up to the plan's, not three times it.
    assert!(
        (open["peak_rate"].as_f64().unwrap() - 30.0).abs() < 1e-6,
        "{open}"
    );
    for q in ["p50_us", "p95_us", "p99_us"] {
        let (a, b) = (
            p(&merged, "GET /api/products", q),
            p(&single, "GET /api/products", q),
        );
        assert!(
            (a - b).abs() <= 5f64.max(0.1 * b),
            "{q}: merged {a} ms, one process {b} ms"
        );
        assert!((20.0..30.0).contains(&a), "{q}: {a} ms for a 20 ms route");
    }
    let shards = &merged["run"]["shards"];
    assert_eq!(shards["run_id"], "t15-open");
    assert_eq!(shards["merged"], serde_json::json!([0, 1, 2]));
    assert!(merged["run"]["shard"].is_null());
    // One grid of seconds (the shards' harvests ran ms apart): three whole seconds and the
    // last partial one, at most.
    let seconds: Vec<u64> = merged["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["t_us"].as_u64().unwrap())
        .collect();
    assert!(seconds.len() <= 4, "{seconds:?}");
    assert!(seconds.iter().all(|t| t % 1_000_000 == 0), "{seconds:?}");
    let per_second: Vec<u64> = merged["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"].as_u64().unwrap())
        .collect();
    assert!(
        per_second[..3].iter().all(|n| (29..=31).contains(n)),
        "{per_second:?}"
    );
    // A shard's own folder says what it is, and judged its part only.
    let s1 = result_json(&run_dir.join("shard-1"));
    assert_eq!(s1["run"]["shard"]["index"], 1);
    assert_eq!(s1["run"]["shard"]["count"], 3);
    assert_eq!(s1["run"]["shard"]["seed"], 7);
    assert_eq!(s1["overall"]["requests"], 30);
    rt.block_on(server.shutdown());
}

/// The closed model: users are dealt out in the order the plan starts them, so 3 shards
/// (one of them split again by `--workers 2`) run the plan's 10 users, 8 of `a` and 2 of
/// `b`, and the two `b` users log in with the two rows of a `unique` feeder, each once.
#[test]
fn issue15_closed_shards_share_users_and_unique_rows_like_one_process() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = demo_server(&rt, DemoConfig::default().without_jitter());
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("users.csv"), "name\nrow0\nrow1\n").unwrap();
    let scenario = dir.path().join("closed.yaml");
    fs::write(
        &scenario,
        format!(
            "name: closed\ntarget: {}\n\
             feeders: {{u: {{file: users.csv, order: unique}}}}\n\
             scenarios:\n\
             \x20 - name: a\n    weight: 3\n    think_time: 200ms\n\
             \x20   on_start: [{{post: /api/login, json: {{username: a, password: x}}}}]\n\
             \x20   steps: [{{get: /health}}]\n\
             \x20 - name: b\n    weight: 1\n    think_time: 200ms\n\
             \x20   on_start: [{{post: /api/login, json: {{username: \"${{u.name}}\", password: x}}}}]\n\
             \x20   steps: [{{get: /health}}]\n\
             load: {{users: 10, duration: 1s}}\n",
            server.url()
        ),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let start = start_in(Duration::from_millis(2_500));
    let children = vec![
        shard(&scenario, "0/3", "t15-closed", &start, out.path(), &[]),
        shard(
            &scenario,
            "1/3",
            "t15-closed",
            &start,
            out.path(),
            &["--workers", "2"],
        ),
        shard(&scenario, "2/3", "t15-closed", &start, out.path(), &[]),
    ];
    for (i, c) in children.into_iter().enumerate() {
        let o = finish(c, &format!("shard {i}"));
        assert!(o.status.success(), "shard {i}: {}", text(&o));
    }
    let logins = server.logins();
    let expect: BTreeMap<String, u64> =
        [("a".to_string(), 8), ("row0".into(), 1), ("row1".into(), 1)].into();
    assert_eq!(logins, expect);
    let run_dir = out.path().join("t15-closed");
    let m = merge(&[&run_dir], &[]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m));
    let merged = result_json(&run_dir);
    assert_eq!(merged["run"]["max_users"], 10);
    assert_eq!(merged["overall"]["errors"], 0);
    // Shard 1 ran as 2 workers, merged into its shard folder, still marked as shard 1.
    let s1 = result_json(&run_dir.join("shard-1"));
    assert_eq!(s1["run"]["shard"]["index"], 1);
    assert_eq!(s1["run"]["workers"], 2);
    assert_eq!(s1["run"]["max_users"], 3);
    rt.block_on(server.shutdown());
}

/// A shard that starts 1.5 s after the common start records how late it was, and the merged
/// run lists every shard's lateness; under `--strict-start` a late shard starts nobody and
/// fails (exit 3), and so does the merge of its run.
#[test]
fn issue15_a_late_shard_is_reported_late_and_strict_start_fails_it() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = demo_server(&rt, twenty_ms());
    let dir = tempfile::tempdir().unwrap();
    let scenario = products_at_20_per_s(dir.path(), "late", &server.url(), 3, None);
    let out = tempfile::tempdir().unwrap();
    let lead = Duration::from_millis(1_500);
    let start = start_in(lead);
    let on_time = shard(&scenario, "0/2", "t15-late", &start, out.path(), &[]);
    std::thread::sleep(lead + Duration::from_millis(1_500));
    let late = finish(
        shard(&scenario, "1/2", "t15-late", &start, out.path(), &[]),
        "late shard",
    );
    let on_time = finish(on_time, "shard 0");
    assert!(on_time.status.success(), "{}", text(&on_time));
    assert!(late.status.success(), "{}", text(&late));
    assert!(
        text(&late).contains("starting at once: --start-at"),
        "{}",
        text(&late)
    );
    let run_dir = out.path().join("t15-late");
    let s1 = result_json(&run_dir.join("shard-1"));
    let lateness = s1["run"]["start"]["lateness_us"].as_u64().unwrap();
    assert!((1_500_000..4_000_000).contains(&lateness), "{lateness}");
    let s0 = result_json(&run_dir.join("shard-0"));
    assert!(s0["run"]["start"]["lateness_us"].as_u64().unwrap() < 1_000_000);
    // Both shards started at the common start, whatever their lateness.
    assert_eq!(s0["run"]["started_at"], s1["run"]["started_at"]);
    let m = merge(&[&run_dir], &[]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m));
    assert!(text(&m).contains("shard 1 started 1."), "{}", text(&m));
    let merged = result_json(&run_dir);
    let each = merged["run"]["start"]["shards_lateness_us"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(each.len(), 2);
    assert!(each[1].as_u64().unwrap() >= 1_500_000, "{each:?}");
    // The late shard's iterations due in its first 1.5 s (10/s) were not fired in a burst
    // (their response times would be its lateness): they count as scheduled and dropped,
    // and every other iteration ran, on time.
    let open = &merged["run"]["open_model"];
    let dropped = open["dropped"].as_u64().unwrap();
    assert!((12..=25).contains(&dropped), "{dropped}: {open}");
    assert_eq!(open["scheduled"], 60, "{open}");
    assert_eq!(
        merged["overall"]["requests"].as_u64().unwrap(),
        60 - dropped
    );
    assert!(
        p(&merged, "GET /api/products", "p99_us") < 100.0,
        "{}",
        merged["overall"]
    );
    // One grid of seconds, the late shard's joining in the second it joined.
    let seconds: Vec<u64> = merged["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["t_us"].as_u64().unwrap())
        .collect();
    assert!(seconds.iter().all(|t| t % 1_000_000 == 0), "{seconds:?}");
    assert!(
        seconds.windows(2).all(|w| w[0] < w[1]) && seconds.len() <= 4,
        "{seconds:?}"
    );

    // --strict-start: the same lateness fails the shard, which starts nobody.
    let strict_out = tempfile::tempdir().unwrap();
    let start = start_in(Duration::from_millis(500));
    let strict_args = ["--strict-start=1s"];
    let on_time = shard(
        &scenario,
        "0/2",
        "t15-strict",
        &start,
        strict_out.path(),
        &strict_args,
    );
    std::thread::sleep(Duration::from_millis(2_000));
    let late = finish(
        shard(
            &scenario,
            "1/2",
            "t15-strict",
            &start,
            strict_out.path(),
            &strict_args,
        ),
        "late strict shard",
    );
    assert_eq!(late.status.code(), Some(3), "{}", text(&late));
    let on_time = finish(on_time, "shard 0");
    assert!(on_time.status.success(), "{}", text(&on_time));
    let run_dir = strict_out.path().join("t15-strict");
    let s1 = result_json(&run_dir.join("shard-1"));
    assert_eq!(s1["run"]["status"], "interrupted");
    let reason = s1["run"]["stop_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("started late: 1.")
            && reason.contains("(--strict-start allows 1.000 s)"),
        "{reason}"
    );
    assert_eq!(s1["overall"]["requests"], 0);
    let m = merge(&[&run_dir], &[]);
    assert_eq!(m.status.code(), Some(3), "{}", text(&m));
    rt.block_on(server.shutdown());
}

/// A shard's failing target does not fail the shard (its figures are a part); the merge
/// judges the whole once and fails. A missing shard, or one of another plan, is refused
/// (exit 2) unless `--allow-missing` says to merge what there is.
#[test]
fn issue15_merge_judges_once_and_refuses_shards_that_do_not_belong_together() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = demo_server(&rt, twenty_ms());
    let dir = tempfile::tempdir().unwrap();
    let scenario = products_at_20_per_s(dir.path(), "strict", &server.url(), 1, Some("p99 < 1ms"));
    let out = tempfile::tempdir().unwrap();
    let start = start_in(Duration::from_millis(2_000));
    // Shards 0 and 2 of 3 run; shard 1 never does.
    let runs: Vec<Output> = ["0/3", "2/3"]
        .iter()
        .map(|s| shard(&scenario, s, "t15-judge", &start, out.path(), &[]))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|c| finish(c, "shard"))
        .collect();
    for o in &runs {
        assert_eq!(o.status.code(), Some(0), "{}", text(o));
        assert!(text(o).contains("FAIL  p99 < 1ms"), "{}", text(o));
        assert!(
            text(o).contains("verdict of shard ") && text(o).contains(" alone (partial;"),
            "{}",
            text(o)
        );
        let dir = out.path().join("t15-judge");
        let junit = (0..3)
            .filter_map(|i| fs::read_to_string(dir.join(format!("shard-{i}/junit.xml"))).ok())
            .next()
            .unwrap();
        assert!(junit.contains("/3, partial)\""), "{junit}");
    }
    let run_dir = out.path().join("t15-judge");
    let m = merge(&[&run_dir], &[]);
    assert_eq!(m.status.code(), Some(2), "{}", text(&m));
    assert!(
        text(&m).contains("run `t15-judge` has 3 shards; missing: 1 (found 0, 2)"),
        "{}",
        text(&m)
    );
    let m = merge(&[&run_dir], &["--allow-missing"]);
    assert_eq!(m.status.code(), Some(1), "{}", text(&m));
    assert!(
        text(&m).contains("merged 2 of 3 shards; missing: 1"),
        "{}",
        text(&m)
    );
    let merged = result_json(&run_dir);
    assert_eq!(merged["run"]["shards"]["missing"], serde_json::json!([1]));
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["passed"], false);

    // Shard 1 of another plan (twice the rate) does not belong with them.
    let other = shard(
        &scenario,
        "1/3",
        "t15-judge",
        &start_in(Duration::from_millis(300)),
        out.path(),
        &["--rate", "40/s"],
    );
    let o = finish(other, "other shard");
    assert!(o.status.success(), "{}", text(&o));
    let m = merge(&[&run_dir], &[]);
    assert_eq!(m.status.code(), Some(2), "{}", text(&m));
    assert!(text(&m).contains("does not belong with"), "{}", text(&m));
    assert!(
        text(&m).contains("plan (scenario, load, feeders or targets; hash)"),
        "{}",
        text(&m)
    );
    rt.block_on(server.shutdown());
}

/// What `--shard` refuses before running anything, with exit 2 and the reason.
#[test]
fn issue15_bad_shard_arguments_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let url_scenario = dir.path().join("u.yaml");
    fs::write(
        &url_scenario,
        "target: http://127.0.0.1:9\nscenarios:\n  - {name: a, steps: [{get: /}]}\nload: {users: 1, duration: 1s}\n",
    )
    .unwrap();
    let embedded = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/phase9.yaml");
    let cases: Vec<(Command, &str)> = vec![
        (
            cmd(&url_scenario, &["--shard", "3/3", "--run-id", "x"]),
            "the index must be below the count",
        ),
        (
            cmd(&url_scenario, &["--shard", "auto/3", "--run-id", "x"]),
            "no shard index in the environment",
        ),
        (cmd(&url_scenario, &["--shard", "0/3"]), "need one run id"),
        (
            cmd(&url_scenario, &["--shard", "0/3", "--run-id", "Bad_Id"]),
            "is not a DNS-1123 label",
        ),
        (
            cmd(&embedded, &["--shard", "0/3", "--run-id", "x"]),
            "the target is the embedded demo",
        ),
        (
            cmd(&url_scenario, &["--start-at", "tomorrow"]),
            "not an RFC 3339 time",
        ),
        (cmd(&url_scenario, &["--strict-start"]), "--start-at"),
        (
            cmd(
                &url_scenario,
                &["--shard", "0/2", "--run-id", "x", "--start-at", "+5s"],
            ),
            "every machine would count from its own start",
        ),
        (
            cmd(&url_scenario, &["--start-at", "2020-01-01T00:00:00Z"]),
            "would have ended before now",
        ),
    ];
    for (mut c, want) in cases {
        c.env_remove("SKEIN_SHARD_INDEX")
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("SLURM_PROCID")
            .env_remove("SLURM_NTASKS")
            .env_remove("SKEIN_RUN_ID")
            .env_remove("SLURM_JOB_ID");
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{want}: {}", text(&o));
        assert!(text(&o).contains(want), "{want}: {}", text(&o));
    }
    let o = merge(&[dir.path()], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no shard folders in it"), "{}", text(&o));
}

fn cmd(scenario: &Path, args: &[&str]) -> Command {
    let mut c = skein();
    let out = scenario.parent().unwrap().join("out");
    c.arg("run")
        .arg(scenario)
        .args(["--quiet", "-o"])
        .arg(out)
        .args(args);
    c
}

/// A shard stopped by SIGTERM (a pod evicted) writes what it measured and exits 143; the
/// merge of its run says which shard fell short and fails (exit 3), whatever the verdict.
#[test]
fn issue15_a_shard_stopped_early_fails_the_merge() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = demo_server(&rt, twenty_ms());
    let dir = tempfile::tempdir().unwrap();
    let scenario = products_at_20_per_s(dir.path(), "term", &server.url(), 4, None);
    let out = tempfile::tempdir().unwrap();
    let start = start_in(Duration::from_millis(1_500));
    let whole = shard(&scenario, "0/2", "t15-term", &start, out.path(), &[]);
    let stopped = shard(&scenario, "1/2", "t15-term", &start, out.path(), &[]);
    std::thread::sleep(Duration::from_millis(3_000));
    // SAFETY: a signal to the child this test started (and has not reaped).
    unsafe { libc::kill(stopped.id() as libc::pid_t, libc::SIGTERM) };
    let stopped = finish(stopped, "stopped shard");
    assert_eq!(stopped.status.code(), Some(143), "{}", text(&stopped));
    let whole = finish(whole, "shard 0");
    assert!(whole.status.success(), "{}", text(&whole));
    let run_dir = out.path().join("t15-term");
    let s1 = result_json(&run_dir.join("shard-1"));
    assert_eq!(s1["run"]["stop_reason"], "terminated (SIGTERM)");
    assert!(s1["overall"]["requests"].as_u64().unwrap() > 0);
    let m = merge(&[&run_dir], &[]);
    assert_eq!(m.status.code(), Some(3), "{}", text(&m));
    assert!(
        text(&m).contains("shard 1 (") && text(&m).contains("terminated (SIGTERM)"),
        "{}",
        text(&m)
    );
    assert!(
        text(&m).contains("1 of 2 shards did not run their part"),
        "{}",
        text(&m)
    );
    rt.block_on(server.shutdown());
}
