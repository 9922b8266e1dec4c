//! `skein report` on a long run: the goal is that a one-hour run with 20 step names
//! (3,600 intervals each) is reported in under 2 s.
//!
//! Not criterion: the measurement is the release binary, end to end, on a synthetic run
//! folder written by the real writers (`RunWriter`, `Accumulator::finish`,
//! `store::write_targets`): 2 scenarios × 10 steps, 3,600 one-second intervals, 50-200
//! samples per cell per second with lognormal latencies around 20-80 ms and a few errors, so
//! `latency.hlog` holds 72,000 interval histograms and `intervals.jsonl` 3,600 lines. The
//! targets include a windowed one (`after_us`), so the interval data is read, and a per-step
//! one.
//!
//! The binary is `target/release/skein`, found beside this bench's own folder
//! (`current_exe()/../../skein`); `cargo bench --bench report` builds it.
//!
//! Run: `cargo bench --bench report`. Pass `--keep` to keep the run folder (its path is
//! printed). Needs `[[bench]] name = "report" harness = false` in Cargo.toml.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use skein::metrics::result::{Generator, RunInfo, RunStatus};
use skein::metrics::store::{self, RunWriter};
use skein::metrics::verdict::{Aggregate, Metric, Op, Scope, Target};
use skein::metrics::{Accumulator, CellData, CellInfo, ErrorKind, RunResult, SCHEMA_VERSION};

const SCENARIOS: usize = 2;
const STEPS: usize = 10;
const SECONDS: u64 = 3_600;
const RUNS: usize = 3;
const GOAL: Duration = Duration::from_secs(2);

fn main() {
    let keep = std::env::args().any(|a| a == "--keep");
    let Some(bin) = skein_binary() else {
        println!(
            "report bench: no release binary at {} (run `cargo bench --bench report`, which \
             builds it, or `cargo build --release`)",
            expected_binary().display()
        );
        std::process::exit(1);
    };
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let dir = tmp.path().join("long-run");
    std::fs::create_dir(&dir).expect("the run folder");

    let t0 = Instant::now();
    build_run(&dir);
    let size = |name: &str| {
        std::fs::metadata(dir.join(name))
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0)
    };
    println!(
        "report bench: synthetic run of {} cells × {SECONDS} s written in {:.1} s \
         (latency.hlog {:.1} MB, intervals.jsonl {:.1} MB, result.json {:.1} MB)",
        SCENARIOS * STEPS,
        t0.elapsed().as_secs_f64(),
        size(store::HLOG_FILE),
        size(store::JOURNAL_FILE),
        size(store::RESULT_FILE),
    );
    println!("report bench: binary {}", bin.display());

    let mut times = Vec::new();
    for i in 0..RUNS {
        let start = Instant::now();
        let out = Command::new(&bin)
            .arg("report")
            .arg(&dir)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .expect("running skein report");
        let took = start.elapsed();
        // 0: every target passed; 1: a target failed. Both are a finished report.
        let code = out.status.code();
        if !matches!(code, Some(0) | Some(1)) {
            println!(
                "report run {}: exit {code:?}\n{}",
                i + 1,
                String::from_utf8_lossy(&out.stderr)
            );
            std::process::exit(1);
        }
        println!(
            "report run {}: {:.3} s (exit {})",
            i + 1,
            took.as_secs_f64(),
            code.unwrap_or(-1)
        );
        times.push(took);
    }
    times.sort();
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    println!(
        "skein report, 1 h × 20 steps: median {:.3} s, max {:.3} s over {RUNS} runs",
        median.as_secs_f64(),
        max.as_secs_f64()
    );
    println!(
        "goal: < {} s, {}",
        GOAL.as_secs(),
        if max < GOAL { "met" } else { "not met" }
    );
    if keep {
        let kept = tmp.keep();
        println!("run folder kept: {}", kept.join("long-run").display());
    }
}

fn expected_binary() -> PathBuf {
    // target/release/deps/report-<hash> -> target/release/skein
    let exe = std::env::current_exe().unwrap_or_default();
    let release = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    release.join(format!("skein{}", std::env::consts::EXE_SUFFIX))
}

fn skein_binary() -> Option<PathBuf> {
    let p = expected_binary();
    p.is_file().then_some(p)
}

fn cells() -> Vec<CellInfo> {
    let names = [
        "home",
        "search",
        "product",
        "reviews",
        "cart",
        "add to cart",
        "checkout",
        "pay",
        "orders",
        "logout",
    ];
    let mut out = Vec::new();
    for s in 0..SCENARIOS {
        let scenario = format!("scenario-{s}");
        for (i, n) in names.iter().enumerate().take(STEPS) {
            let method = if i % 3 == 0 { "POST" } else { "GET" };
            let step = format!("{method} /{scenario}/{}", n.replace(' ', "-"));
            out.push(CellInfo {
                id: out.len(),
                scenario: scenario.clone(),
                tag: store::sanitize(&format!("{scenario}/{step}")),
                step,
                method: method.into(),
                checks: vec!["status 200".into()],
                tags: if i % 2 == 0 {
                    vec!["api".into()]
                } else {
                    Vec::new()
                },
            });
        }
    }
    out
}

/// A standard normal deviate (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn build_run(dir: &Path) {
    let cells = cells();
    let started = SystemTime::now() - Duration::from_secs(SECONDS + 5);
    let started_at = chrono::DateTime::<chrono::Utc>::from(started).to_rfc3339();
    let run = RunInfo {
        id: "long-run".into(),
        name: "long-run".into(),
        status: RunStatus::Running,
        stop_reason: None,
        scenario_file: Some("long.yaml".into()),
        target: "http://127.0.0.1:8080".into(),
        model: "closed".into(),
        response_time_basis: "corrected".into(),
        started_at,
        ended_at: None,
        duration_us: 0,
        planned_duration_us: SECONDS * 1_000_000,
        max_users: 200,
        peak_users: 0,
        cut_off: 0,
        tls_verify: true,
        generator: Generator::this_machine(),
        open_model: None,
        co_correction: None,
        generator_health: None,
        workers: None,
        shard: None,
        shards: None,
        start: None,
        iterations: None,
    };
    let scenario = serde_json::json!({"name": "long-run", "synthetic": true});
    let mut acc = Accumulator::new(cells.clone());
    let initial = acc.finish(run.clone(), scenario.clone(), Vec::new());
    assert_eq!(initial.schema_version, SCHEMA_VERSION);
    let mut w = RunWriter::create(dir, &initial, started).expect("RunWriter::create");

    let mut rng = StdRng::seed_from_u64(0x5ce1_2024);
    // Each cell's median latency, 20-80 ms.
    let medians: Vec<f64> = (0..cells.len())
        .map(|i| 20_000.0 + 60_000.0 * i as f64 / (cells.len() - 1) as f64)
        .collect();
    for sec in 0..SECONDS {
        let users = 200.min(10 + sec * 2);
        let mut data: Vec<CellData> = cells
            .iter()
            .map(|c| CellData::new(c.checks.len()))
            .collect();
        for (c, d) in data.iter_mut().enumerate() {
            let n = rng.random_range(50..=200u64);
            // A slow patch in the middle of the run, so the charts have a spike.
            let slow = if (1_800..1_860).contains(&sec) {
                3.0
            } else {
                1.0
            };
            for _ in 0..n {
                let us = (medians[c] * slow * (0.45 * normal(&mut rng)).exp()) as u64;
                d.requests += 1;
                d.bytes += 2_048;
                let roll: f64 = rng.random();
                if roll < 0.002 {
                    // A timeout: no response, no latency.
                    d.errors[ErrorKind::Timeout as usize] += 1;
                    continue;
                }
                d.hist.record(us.max(1));
                if roll < 0.004 {
                    d.errors[ErrorKind::Http5xx as usize] += 1;
                } else if roll < 0.006 {
                    // A failed status check.
                    d.check_failed += 1;
                    d.checks[0] += 1;
                } else {
                    d.ok += 1;
                }
            }
        }
        let t_us = sec * 1_000_000;
        w.write_interval(t_us, 1_000_000, users, &data)
            .expect("write_interval");
        acc.add_interval(t_us, 1_000_000, users, &data);
    }
    let mut done = run;
    done.status = RunStatus::Complete;
    done.ended_at = Some(chrono::Utc::now().to_rfc3339());
    let result: RunResult = acc.finish(done, scenario, Vec::new());
    w.write_result(&result).expect("write_result");
    store::write_targets(dir, &targets(&cells)).expect("write_targets");
}

fn targets(cells: &[CellInfo]) -> Vec<Target> {
    let target =
        |expression: &str, metric, aggregate, scope, after_us, op, threshold, unit| Target {
            expression: expression.into(),
            source: "scenario".into(),
            metric,
            aggregate,
            scope,
            after_us,
            op,
            threshold,
            unit,
            abort_on_fail: false,
            grace_us: None,
            baseline: None,
            improvement_goal_pct: None,
        };
    use skein::metrics::Unit;
    let step = cells[4].step.clone();
    vec![
        target(
            "p95 < 200ms",
            Metric::ResponseTime,
            Some(Aggregate::Percentile(95.0)),
            Scope::Overall,
            None,
            Op::Lt,
            200_000.0,
            Unit::Us,
        ),
        target(
            "p99 < 250ms after 5m",
            Metric::ResponseTime,
            Some(Aggregate::Percentile(99.0)),
            Scope::Overall,
            Some(300_000_000),
            Op::Lt,
            250_000.0,
            Unit::Us,
        ),
        target(
            &format!("p95(step=\"{step}\") < 100ms"),
            Metric::ResponseTime,
            Some(Aggregate::Percentile(95.0)),
            Scope::Step(step),
            None,
            Op::Lt,
            100_000.0,
            Unit::Us,
        ),
        target(
            "error_rate < 1%",
            Metric::ErrorRate,
            None,
            Scope::Overall,
            None,
            Op::Lt,
            0.01,
            Unit::Ratio,
        ),
        target(
            "rps > 100",
            Metric::Rps,
            None,
            Scope::Overall,
            None,
            Op::Gt,
            100.0,
            Unit::PerSecond,
        ),
    ]
}
