//! Issue 15 under a real Slurm: three shards started by `srun` against the demo target on a
//! loopback port, merged by `skein merge`, give the run of one process: the same request
//! count exactly, the same percentiles within noise, and one verdict whose exit code is the
//! merge's (a failing target fails the merge while every shard exits 0).
//!
//! Needs `srun` on PATH and `SLURM_CONF` naming a running cluster's configuration, such as
//! the single-node cluster of `deploy/slurm/cluster.sh` (which `.ci/run` starts); skips
//! without them unless `SKEIN_REQUIRE_TOOLS` asks for `slurm`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Tool, result_json, skein};

use skein::demo::{self, DemoConfig, RouteConfig};

const SLURM: Tool = Tool {
    name: "slurm",
    purpose: "run three shards under srun and merge them (issue 15)",
    path_var: "SKEIN_SRUN",
    commands: &["srun"],
    install: "apt-get install -y slurm-wlm munge && eval \"$(deploy/slurm/cluster.sh start \
              /tmp/slurm)\"",
};

/// The route's service time: what every percentile should be close to.
const SERVICE: Duration = Duration::from_millis(20);
/// 30 arrivals a second for 4 s: 120 iterations of one request, exactly.
const REQUESTS: u64 = 120;
/// How long any one command may take before everything it started is killed.
const LIMIT: Duration = Duration::from_secs(120);

/// `srun`, when it and a cluster (`SLURM_CONF`) are there; `None` after saying why not.
fn slurm() -> Option<PathBuf> {
    let srun = common::tool(&SLURM)?;
    let conf = std::env::var_os("SLURM_CONF").filter(|c| !c.is_empty());
    if conf.as_deref().map(Path::new).is_some_and(Path::is_file) {
        return Some(srun);
    }
    let why = format!(
        "slurm: {} found, but SLURM_CONF {}, so this test cannot {}",
        srun.display(),
        match &conf {
            Some(c) => format!("= {} is not a file", Path::new(c).display()),
            None => "is unset".into(),
        },
        SLURM.purpose
    );
    let hint = "start a cluster with `eval \"$(deploy/slurm/cluster.sh start /tmp/slurm)\"`";
    let require = std::env::var(common::REQUIRE_TOOLS).unwrap_or_default();
    let require = require.trim();
    if matches!(require, "1" | "all" | "true" | "yes")
        || require.split(',').any(|t| t.trim() == SLURM.name)
    {
        panic!("{why}.\n  {} requires it; {hint}", common::REQUIRE_TOOLS);
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}; {hint}");
    None
}

/// What a command did: its exit status and its output, both streams.
struct Ran {
    status: ExitStatus,
    output: String,
}

/// Run `cmd` with its output in `log`, for at most [`LIMIT`]; past it, cancel the Slurm job
/// named `job` (if any) and kill the command, then fail.
fn bounded(mut cmd: Command, log: &Path, job: Option<&str>) -> Ran {
    let file = fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let shown = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{shown}: {e}"));
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = fs::read_to_string(log).unwrap_or_default();
            return Ran { status, output };
        }
        if Instant::now() > deadline {
            if let Some(job) = job {
                let _ = Command::new("scancel").args(["--name", job]).status();
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{shown} ran past {LIMIT:?}; killed. Output:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scenario against `url`: one request per iteration, [`REQUESTS`] iterations, and one
/// target.
fn scenario(dir: &Path, name: &str, url: &str, target: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(
        &path,
        format!(
            "target: {url}\n\
             scenarios:\n\
             \x20 - name: product\n    steps: [{{name: product, get: /api/products/7}}]\n\
             load: {{arrival_rate: 30/s, duration: 4s}}\n\
             targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    path
}

/// `srun` three shards of `file` (run id `run_id`, starting together 6 s from now) into
/// `out`; every shard must exit 0, whatever its targets.
fn srun_shards(srun: &Path, file: &Path, url: &str, run_id: &str, out: &Path) {
    let start = (chrono::Utc::now() + chrono::Duration::seconds(6))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut cmd = Command::new(srun);
    cmd.args([
        "-n",
        "3",
        "-O",
        "-t",
        "2",
        "--kill-on-bad-exit=1",
        "-J",
        run_id,
    ])
    .arg(env!("CARGO_BIN_EXE_skein"))
    .arg("run")
    .arg(file)
    .args(["--target", url, "--shard", "auto/3", "--run-id", run_id])
    .args(["--start-at", &start, "--seed", "7", "-q", "-o"])
    .arg(out)
    // The index must come from SLURM_PROCID, and the run id from the command line.
    .env_remove("SKEIN_SHARD_INDEX")
    .env_remove("JOB_COMPLETION_INDEX")
    .env_remove("SKEIN_RUN_ID");
    let ran = bounded(cmd, &out.with_extension("srun.log"), Some(run_id));
    assert!(
        ran.status.success(),
        "srun {run_id}: {}\n{}",
        ran.status,
        ran.output
    );
    for i in 0..3 {
        let shard = out.join(run_id).join(format!("shard-{i}"));
        assert!(shard.join("result.json").is_file(), "{}", shard.display());
    }
}

/// `skein merge DIR`: its exit code and output.
fn merge(dir: &Path) -> Ran {
    let mut cmd = skein();
    cmd.arg("merge").arg(dir);
    bounded(cmd, &dir.with_extension("merge.log"), None)
}

fn percentile(r: &serde_json::Value, p: &str) -> u64 {
    r["overall"]["response_time"][format!("{p}_us")]
        .as_u64()
        .unwrap_or_else(|| panic!("no overall {p} in {}", r["overall"]))
}

#[test]
fn issue15_three_slurm_shards_merge_to_the_single_process_run() {
    let Some(srun) = slurm() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = DemoConfig::default()
        .without_jitter()
        .with_route("product", RouteConfig::fixed(SERVICE));
    let server = rt
        .block_on(demo::serve("127.0.0.1:0".parse().unwrap(), config))
        .unwrap();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("t15-{}", std::process::id());

    // The whole plan in one process.
    let passing = scenario(dir.path(), "pass.yaml", &url, "error_rate <= 1%");
    let single_out = dir.path().join("single");
    let mut cmd = skein();
    cmd.arg("run")
        .arg(&passing)
        .args(["--target", &url, "--seed", "7", "-q", "-o"])
        .arg(&single_out);
    let ran = bounded(cmd, &dir.path().join("single.log"), None);
    assert!(
        ran.status.success(),
        "single: {}\n{}",
        ran.status,
        ran.output
    );
    let single = result_json(&common::only_dir(&single_out));

    // The same plan as three Slurm tasks, merged.
    let out = dir.path().join("slurm");
    srun_shards(&srun, &passing, &url, &id, &out);
    let merged_dir = out.join(&id);
    let ran = merge(&merged_dir);
    assert_eq!(ran.status.code(), Some(0), "merge: {}", ran.output);
    for file in ["result.json", "summary.json", "junit.xml", "report.html"] {
        assert!(
            merged_dir.join(file).is_file(),
            "merged folder lacks {file}"
        );
    }
    let merged = result_json(&merged_dir);
    assert_eq!(merged["run"]["shards"]["count"], 3, "{}", merged["run"]);
    assert_eq!(single["overall"]["requests"], REQUESTS, "single process");
    assert_eq!(merged["overall"]["requests"], REQUESTS, "merged shards");
    assert_eq!(merged["overall"]["errors"], 0);
    let service = SERVICE.as_micros() as u64;
    for p in ["p50", "p95", "p99"] {
        let (s, m) = (percentile(&single, p), percentile(&merged, p));
        let tolerance = (s / 10).max(5_000);
        eprintln!("{p}: single {s} µs, merged {m} µs (tolerance {tolerance} µs)");
        assert!(
            s.abs_diff(m) <= tolerance,
            "{p}: single {s} µs, merged {m} µs: more than {tolerance} µs apart"
        );
    }
    let p50 = percentile(&merged, "p50");
    assert!(
        (service..=service + 5_000).contains(&p50),
        "merged p50 {p50} µs, expected the route's {service} µs plus loopback"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(merged_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["passed"], true, "{summary}");

    // A target no request meets: every shard still exits 0 (srun succeeds), the merge fails.
    let failing = scenario(dir.path(), "fail.yaml", &url, "p99 < 1ms");
    let fail_id = format!("{id}-fail");
    let out = dir.path().join("slurm-fail");
    srun_shards(&srun, &failing, &url, &fail_id, &out);
    let ran = merge(&out.join(&fail_id));
    assert_eq!(ran.status.code(), Some(1), "merge: {}", ran.output);
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join(&fail_id).join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["passed"], false, "{summary}");

    rt.block_on(server.shutdown());
}
