//! `skein compare` and `skein run --baseline` as a user runs them: exit codes 0 / 1 / 2,
//! error text, and the files written. Result folders are built in code (one-second
//! intervals of log-normal response times) and written into temporary folders.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use skein::metrics::{
    Accumulator, CellData, CellInfo, ErrorKind, Generator, IntervalData, RunInfo, RunResult,
    RunStatus,
};

fn skein() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skein"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `n` log-normal response times (µs) around `median_ms`, from a fixed seed.
fn lognormal(n: usize, median_ms: f64, sigma: f64, seed: u64) -> Vec<u64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u1, u2) = (uniform(), uniform());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (median_ms * 1000.0 * (sigma * z).exp()).round() as u64
        })
        .collect()
}

/// A complete 60-second run of `endpoints` (name, response times, failed requests), the
/// samples dealt round robin over the seconds.
fn run(id: &str, endpoints: &[(&str, Vec<u64>, u64)]) -> RunResult {
    const SECS: u64 = 60;
    let cells = endpoints
        .iter()
        .enumerate()
        .map(|(id, (name, ..))| CellInfo {
            id,
            scenario: "shop".into(),
            step: name.to_string(),
            method: name.split(' ').next().unwrap().into(),
            tag: format!("shop/{id}"),
            checks: Vec::new(),
            tags: Vec::new(),
        })
        .collect();
    let mut acc = Accumulator::new(cells);
    for t in 0..SECS {
        let data: IntervalData = endpoints
            .iter()
            .map(|(_, samples, failed)| {
                let mut d = CellData::new(0);
                for v in samples.iter().skip(t as usize).step_by(SECS as usize) {
                    d.hist.record(*v);
                    d.requests += 1;
                    d.ok += 1;
                }
                let f = failed / SECS + u64::from(t < failed % SECS);
                d.errors[ErrorKind::Http5xx as usize] += f;
                d.requests += f;
                d
            })
            .collect();
        acc.add_interval(t * 1_000_000, 1_000_000, 20, &data);
    }
    let info = RunInfo {
        id: id.into(),
        name: "shop".into(),
        status: RunStatus::Complete,
        stop_reason: None,
        scenario_file: Some("shop.yaml".into()),
        target: "http://127.0.0.1:8080".into(),
        model: "closed".into(),
        response_time_basis: "corrected".into(),
        started_at: "2026-03-14T09:30:00Z".into(),
        ended_at: Some("2026-03-14T09:31:00Z".into()),
        duration_us: 0,
        planned_duration_us: SECS * 1_000_000,
        max_users: 20,
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
    acc.finish(info, serde_json::json!({"name": "shop"}), Vec::new())
}

fn write_run(parent: &Path, r: &RunResult) -> PathBuf {
    let dir = parent.join(&r.run.id);
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("result.json"),
        serde_json::to_vec_pretty(r).unwrap(),
    )
    .unwrap();
    dir
}

fn scaled(v: &[u64], k: f64) -> Vec<u64> {
    v.iter().map(|x| (*x as f64 * k).round() as u64).collect()
}

/// Baseline, an A/A candidate (other samples of the same distributions) and a candidate
/// whose `POST /api/cart` is 60 % slower.
fn three_runs(tmp: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let home = lognormal(12_000, 15.0, 0.5, 1);
    let cart = lognormal(6_000, 60.0, 0.5, 2);
    let base = run(
        "base-20260314T093000Z",
        &[
            ("GET /", home.clone(), 12),
            ("POST /api/cart", cart.clone(), 6),
        ],
    );
    let same = run(
        "same-20260314T100000Z",
        &[
            ("GET /", lognormal(12_000, 15.0, 0.5, 3), 12),
            ("POST /api/cart", lognormal(6_000, 60.0, 0.5, 4), 6),
        ],
    );
    let slow = run(
        "slow-20260314T110000Z",
        &[
            ("GET /", lognormal(12_000, 15.0, 0.5, 5), 12),
            ("POST /api/cart", scaled(&cart, 1.6), 6),
        ],
    );
    (
        write_run(tmp, &base),
        write_run(tmp, &same),
        write_run(tmp, &slow),
    )
}

#[test]
fn compare_exits_0_without_and_1_with_a_regression_and_writes_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, same, slow) = three_runs(tmp.path());

    let o = skein()
        .arg("compare")
        .arg(&base)
        .arg(&same)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.starts_with("endpoint"), "{table}");
    assert!(table.contains("POST /api/cart") && table.contains("all requests"));
    assert!(!table.contains("REGRESSION"), "{table}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no regression"));
    for f in [
        "compare.html",
        "compare.md",
        "compare.json",
        "compare-p95.svg",
        "compare-p95.png",
        "compare-spectrum.svg",
        "compare-endpoints.png",
    ] {
        assert!(same.join(f).is_file(), "{f} missing");
    }

    let o = skein()
        .arg("compare")
        .arg(&base)
        .arg(&slow)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    let cart_row = table
        .lines()
        .find(|l| l.starts_with("POST /api/cart"))
        .unwrap();
    assert!(cart_row.contains("REGRESSION: p95"), "{table}");
    let home_row = table.lines().find(|l| l.starts_with("GET /")).unwrap();
    assert!(!home_row.contains("REGRESSION"), "{table}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("REGRESSION  POST /api/cart: p95"), "{err}");
    let md = fs::read_to_string(slow.join("compare.md")).unwrap();
    assert!(md.starts_with("## ❌ Skein comparison: regression"), "{md}");
    assert!(md.contains("- POST /api/cart: p95"), "{md}");
    assert!(md.contains("### POST /api/cart ❌"), "{md}");
    let html = fs::read_to_string(slow.join("compare.html")).unwrap();
    assert!(html.contains("REGRESSION"));
    assert!(
        html.contains("<li>POST /api/cart: p95"),
        "the banner names the endpoint"
    );
    assert_eq!(html.matches("<svg").count(), 3);
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(slow.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"]["regressed"], true);

    // A wider tolerance lets it pass; --output puts the files elsewhere.
    let out = tmp.path().join("elsewhere");
    let o = skein()
        .arg("compare")
        .arg(&base)
        .arg(&slow)
        .args(["--tolerance", "100%", "--min-delta", "2ms", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.join("compare.html").is_file() && out.join("compare.md").is_file());
}

#[test]
fn compare_exits_2_on_missing_partial_or_foreign_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, ..) = three_runs(tmp.path());
    let compare = |b: &Path, c: &Path| skein().arg("compare").arg(b).arg(c).output().unwrap();

    let missing = tmp.path().join("no-such-run");
    let o = compare(&base, &missing);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("candidate") && err.contains("no-such-run") && err.contains("missing"),
        "{err}"
    );

    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let o = compare(&empty, &base);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("baseline") && err.contains("result.json"),
        "{err}"
    );

    let foreign = tmp.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("result.json"), r#"{"metrics": {}}"#).unwrap();
    let o = compare(&base, &foreign);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a Skein result"), "{}", text(&o));

    let cut = tmp.path().join("cut");
    fs::create_dir(&cut).unwrap();
    let whole = fs::read_to_string(base.join("result.json")).unwrap();
    fs::write(cut.join("result.json"), &whole[..whole.len() / 2]).unwrap();
    let o = compare(&base, &cut);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // A run whose process died, without the journal to rebuild it from.
    let dead = tmp.path().join("dead");
    fs::create_dir(&dead).unwrap();
    fs::write(
        dead.join("result.json"),
        whole.replacen("\"status\": \"complete\"", "\"status\": \"running\"", 1),
    )
    .unwrap();
    let o = compare(&base, &dead);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("intervals.jsonl"), "{}", text(&o));

    // A damaged histogram.
    let bad = tmp.path().join("bad-hist");
    fs::create_dir(&bad).unwrap();
    let mut r: serde_json::Value = serde_json::from_str(&whole).unwrap();
    r["steps"][1]["response_time"]["histogram"] = "not a histogram".into();
    fs::write(bad.join("result.json"), r.to_string()).unwrap();
    let o = compare(&base, &bad);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("POST /api/cart"), "{}", text(&o));

    for args in [
        ["--tolerance", "lots"],
        ["--min-delta", "2"],
        ["--gate", "95"],
    ] {
        let o = skein()
            .arg("compare")
            .arg(&base)
            .arg(&base)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(args[0]), "{}", text(&o));
    }
}

#[test]
fn the_fixture_compared_with_itself_passes() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/report-fixture");
    let out = tempfile::tempdir().unwrap();
    let o = skein()
        .arg("compare")
        .arg(&fixture)
        .arg(&fixture)
        .arg("-o")
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.path().join("compare.html").is_file());
    assert!(!fixture.join("compare.html").exists());
}

fn run_dir(out: &Path) -> PathBuf {
    fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
}

fn scenario(dir: &Path, service_time: &str) -> PathBuf {
    let path = dir.join(format!("detail-{service_time}.yaml"));
    fs::write(
        &path,
        format!(
            r#"target: {{embedded: phase9, routes: {{product: {{service_time: {service_time}, jitter: 0ms}}}}}}
scenarios:
  - name: s
    steps:
      - name: detail
        get: /api/products/9
load: {{ users: 4, duration: 2s }}
"#
        ),
    )
    .unwrap();
    path
}

#[test]
fn run_with_a_baseline_fails_on_a_regression() {
    let tmp = tempfile::tempdir().unwrap();
    let detail = scenario(tmp.path(), "20ms");
    // A bad baseline is refused before any load.
    let t0 = Instant::now();
    let o = skein()
        .arg("run")
        .arg(&detail)
        .args(["-q", "--baseline"])
        .arg(tmp.path().join("no-such-run"))
        .arg("-o")
        .arg(tmp.path().join("never"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no-such-run"), "{}", text(&o));
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(!tmp.path().join("never").exists());

    // Hand-built baselines of the same step, 60 seconds each: one far slower than the demo's
    // 20 ms, one far faster (every real response takes at least the 20 ms service time).
    let slow_base = write_run(
        tmp.path(),
        &run(
            "slow-base",
            &[("detail", lognormal(6_000, 300.0, 0.2, 7), 0)],
        ),
    );
    let fast_base = write_run(
        tmp.path(),
        &run("fast-base", &[("detail", lognormal(6_000, 1.0, 0.2, 8), 0)]),
    );
    let run_against = |baseline: &Path, out: &Path| {
        skein()
            .arg("run")
            .arg(&detail)
            .args(["-q", "--baseline"])
            .arg(baseline)
            .arg("-o")
            .arg(out)
            .output()
            .unwrap()
    };

    let better = tmp.path().join("better");
    let o = run_against(&slow_base, &better);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let md = fs::read_to_string(run_dir(&better).join("compare.md")).unwrap();
    assert!(md.contains("no regression"), "{md}");

    let worse = tmp.path().join("worse");
    let o = run_against(&fast_base, &worse);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("REGRESSION  detail: p95"), "{err}");
    let dir = run_dir(&worse);
    let md = fs::read_to_string(dir.join("compare.md")).unwrap();
    assert!(md.contains("- detail: p95"), "{md}");
    assert!(dir.join("compare.html").is_file() && dir.join("report.html").is_file());
}

fn target(expression: &str) -> skein::metrics::verdict::Target {
    use skein::metrics::verdict::{Metric, Op, Scope, Target, Unit};
    Target {
        expression: expression.into(),
        source: "scenario".into(),
        metric: Metric::ResponseTime,
        aggregate: None,
        scope: Scope::Overall,
        after_us: None,
        op: Op::Lt,
        threshold: 100_000.0,
        unit: Unit::Us,
        abort_on_fail: false,
        grace_us: None,
        baseline: None,
        improvement_goal_pct: None,
    }
}

/// Issue 12, defect 11: two runs with different users, durations and targets were compared
/// without a word. Each difference is a `warning:` on stderr and a note atop `compare.md`
/// and `compare.html`; runs set up alike get none.
#[test]
fn issue_12_compare_warns_when_the_runs_were_set_up_differently() {
    let tmp = tempfile::tempdir().unwrap();
    let home = lognormal(6_000, 15.0, 0.5, 1);
    let base = run("base-20260314T093000Z", &[("GET /", home.clone(), 0)]);
    let mut cand = run("cand-20260314T100000Z", &[("GET /", home, 0)]);
    let alike = write_run(tmp.path(), &cand);
    cand.run.id = "cand-2".into();
    cand.run.max_users = 40;
    cand.run.planned_duration_us = 120_000_000;
    let (base, cand) = (write_run(tmp.path(), &base), write_run(tmp.path(), &cand));
    skein::metrics::store::write_targets(&base, &[target("p95 < 100ms")]).unwrap();
    skein::metrics::store::write_targets(&cand, &[target("p99 < 100ms")]).unwrap();

    let out = tmp.path().join("out");
    let o = skein()
        .arg("compare")
        .arg(&base)
        .arg(&cand)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for w in [
        "warning: the runs had different numbers of users: 20 in the baseline, 40 in the candidate",
        "warning: the runs were planned for different durations: 1m in the baseline, 2m in the candidate",
        "warning: the runs were judged by different targets: only the baseline had `p95 < 100ms`; only the candidate had `p99 < 100ms`",
    ] {
        assert!(err.contains(w), "{w}\nnot in\n{err}");
    }
    let md = fs::read_to_string(out.join("compare.md")).unwrap();
    let top = &md[..md.find("Baseline:").unwrap()];
    assert_eq!(top.matches("> [!WARNING]").count(), 3, "{md}");
    assert!(
        top.contains("> The runs had different numbers of users"),
        "{md}"
    );
    let html = fs::read_to_string(out.join("compare.html")).unwrap();
    assert!(html.contains("<div class=\"callout\">The runs were judged by different targets"));

    // Set up alike: no warning.
    let o = skein()
        .arg("compare")
        .arg(&alike)
        .arg(&alike)
        .arg("-o")
        .arg(tmp.path().join("alike"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("warning:"), "{}", text(&o));
}

/// A real results folder: a one-second run of two users against the embedded demo.
fn short_real_run(parent: &Path) -> PathBuf {
    let scenario = parent.join("s.yaml");
    fs::write(
        &scenario,
        "target: embedded:phase9\nscenarios:\n  - name: s\n    think_time: 10ms\n    steps:\n      - get: /api/products/1\nload: { users: 2, duration: 1s }\n",
    )
    .unwrap();
    let out = parent.join("runs");
    let o = skein()
        .arg("run")
        .arg(&scenario)
        .args(["--workers", "1", "--quiet", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// As if the run's process had died: `result.json` still says `running`.
fn mark_running(dir: &Path) {
    let p = dir.join("result.json");
    let raw = fs::read_to_string(&p).unwrap();
    fs::write(
        &p,
        raw.replacen("\"status\": \"complete\"", "\"status\": \"running\"", 1),
    )
    .unwrap();
}

/// Issue 13, D12: `report` and `compare` disagreed on damaged folders (invalid UTF-8,
/// a damaged journal or interval log: `report` exited 3, `compare` 2; `report` accepted a
/// histogram `compare` rejected). One loader now: both exit 2 with "cannot read DIR as a
/// run" and the reason, for every damaged copy of a real folder.
#[test]
fn issue13_report_and_compare_refuse_a_damaged_folder_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let good = short_real_run(tmp.path());
    type Damage = fn(&Path);
    let cases: [(&str, Damage, &str); 6] = [
        (
            "not-utf8",
            |d| {
                let mut b = fs::read(d.join("result.json")).unwrap();
                let at = b.len() / 2;
                b.insert(at, 0xff);
                fs::write(d.join("result.json"), b).unwrap();
            },
            "not UTF-8",
        ),
        (
            "bad-service-histogram",
            |d| {
                let p = d.join("result.json");
                let mut r: serde_json::Value =
                    serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
                r["steps"][0]["service_time"]["histogram"] = "AAAA".into();
                fs::write(&p, r.to_string()).unwrap();
            },
            "the service_time histogram of step `GET /api/products/1` cannot be decoded",
        ),
        (
            "journal-damaged",
            |d| {
                mark_running(d);
                let p = d.join("intervals.jsonl");
                let mut b = b"\xff{not json\n".to_vec();
                b.extend(fs::read(&p).unwrap());
                fs::write(&p, b).unwrap();
            },
            "intervals.jsonl: interval 1 of",
        ),
        (
            "journal-missing",
            |d| {
                mark_running(d);
                fs::remove_file(d.join("intervals.jsonl")).unwrap();
            },
            "intervals.jsonl",
        ),
        (
            "hlog-damaged",
            |d| {
                mark_running(d);
                let p = d.join("latency.hlog");
                let t = fs::read_to_string(&p)
                    .unwrap()
                    .replacen("Tag=", "Tag=s,x,", 1);
                fs::write(&p, t).unwrap();
            },
            "latency.hlog: damaged at line",
        ),
        (
            "hlog-bad-histogram",
            |d| {
                mark_running(d);
                let p = d.join("latency.hlog");
                let t: Vec<String> = fs::read_to_string(&p)
                    .unwrap()
                    .lines()
                    .map(|l| match l.rsplit_once(',') {
                        Some((head, _)) if l.starts_with("Tag=") => format!("{head},AAAA"),
                        _ => l.to_string(),
                    })
                    .collect();
                fs::write(&p, t.join("\n") + "\n").unwrap();
            },
            "cannot be decoded",
        ),
    ];
    for (name, damage, reason) in cases {
        let for_report = tmp.path().join(name).join("report");
        let for_compare = tmp.path().join(name).join("compare");
        for d in [&for_report, &for_compare] {
            copy_dir(&good, d);
            damage(d);
        }
        let r = skein().arg("report").arg(&for_report).output().unwrap();
        let c = skein()
            .arg("compare")
            .arg(&good)
            .arg(&for_compare)
            .arg("-o")
            .arg(tmp.path().join(name).join("out"))
            .output()
            .unwrap();
        for (what, o, dir) in [("report", &r, &for_report), ("compare", &c, &for_compare)] {
            let t = text(o);
            assert_eq!(o.status.code(), Some(2), "{name}: {what}: {t}");
            let said = format!("cannot read {} as a run: ", dir.display());
            assert!(t.contains(&said), "{name}: {what}: {t}");
            assert!(t.contains(reason), "{name}: {what}: {t}");
        }
        assert!(text(&c).contains("candidate: cannot read"), "{}", text(&c));
    }
}

/// Issue 13, D12: with `latency.hlog` deleted, `report` rebuilt a dead run with 0µs
/// latencies without a word. It says so (a warning line, and in every report through the
/// run's status) and shows no latency rather than zeros; `compare` warns alike. A last
/// line cut short in the journal and in the interval log is what a killed process leaves:
/// the run is rebuilt without it.
#[test]
fn issue13_a_missing_interval_log_is_said_never_shown_as_zeros() {
    let tmp = tempfile::tempdir().unwrap();
    let good = short_real_run(tmp.path());
    let gone = tmp.path().join("gone");
    copy_dir(&good, &gone);
    mark_running(&gone);
    fs::remove_file(gone.join("latency.hlog")).unwrap();
    let o = skein().arg("report").arg(&gone).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("warning: ") && t.contains("latency.hlog: missing; the run was rebuilt"),
        "{t}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(gone.join("result.json")).unwrap()).unwrap();
    assert!(
        r["overall"]["requests"].as_u64().unwrap() > 0,
        "{}",
        r["overall"]
    );
    assert_eq!(r["overall"]["response_time"]["count"], 0);
    assert!(
        r["run"]["stop_reason"]
            .as_str()
            .unwrap()
            .contains("no latencies (the interval log latency.hlog is missing)"),
        "{}",
        r["run"]
    );
    let md = fs::read_to_string(gone.join("report.md")).unwrap();
    assert!(md.contains("no latencies"), "{md}");
    // A latency shown as zero, not a figure that ends in 0 (`p99 930µs`).
    let zero_us = md.match_indices("0µs").any(|(i, _)| {
        !md[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
    });
    assert!(!zero_us, "{md}");
    let html = fs::read_to_string(gone.join("report.html")).unwrap();
    assert!(
        !html.contains(">0µs<") && !html.contains("\n0µs\n"),
        "zeros drawn"
    );
    assert!(html.contains("no response time was recorded during the run"));
    let o = skein()
        .arg("compare")
        .arg(&good)
        .arg(&gone)
        .arg("-o")
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert!(text(&o).contains("latency.hlog: missing"), "{}", text(&o));

    // Cut short mid-line, as by SIGKILL: still rebuilt, from the whole lines.
    let cut = tmp.path().join("cut");
    copy_dir(&good, &cut);
    mark_running(&cut);
    for f in ["intervals.jsonl", "latency.hlog"] {
        let mut b = fs::read(cut.join(f)).unwrap();
        b.truncate(b.len() - 20);
        fs::write(cut.join(f), b).unwrap();
    }
    let o = skein().arg("report").arg(&cut).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("warning:"), "{}", text(&o));
}
