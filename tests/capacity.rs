//! `skein capacity fit FILE.csv` as a user runs it: the golden dataset's coefficients in
//! `capacity.json`, the files written beside it, and the exit codes of bad input.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use skein::capacity::CapacityReport;

fn skein() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skein"))
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn fit(args: &[&str], out: &Path) -> Output {
    skein()
        .args(["capacity", "fit"])
        .args(args)
        .arg("--output")
        .arg(out)
        .output()
        .unwrap()
}

fn read_json(dir: &Path) -> serde_json::Value {
    let raw = fs::read_to_string(dir.join("capacity.json")).unwrap();
    serde_json::from_str(&raw).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn the_golden_dataset_gives_the_published_coefficients() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cisco");
    let csv = repo("tests/fixtures/capacity/cisco.csv");
    let o = fit(
        &[
            csv.to_str().unwrap(),
            "--peak-rps",
            "20000",
            "--growth",
            "5%",
            "--cost-per-hour",
            "0.40",
            "--redundancy",
            "1",
        ],
        &out,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json = read_json(&out);
    let usl = &json["usl"];
    assert!(
        rel(usl["sigma"].as_f64().unwrap(), 0.02671591) < 1e-4,
        "{usl}"
    );
    assert!(
        rel(usl["kappa"].as_f64().unwrap(), 7.690945e-4) < 1e-4,
        "{usl}"
    );
    assert!(
        rel(usl["lambda"].as_f64().unwrap(), 995.6486) < 1e-4,
        "{usl}"
    );
    assert_eq!(usl["peak_concurrency"].as_f64().unwrap().floor(), 35.0);
    for key in [
        "sigma_se",
        "kappa_se",
        "lambda_se",
        "r2",
        "mape",
        "peak_throughput",
        "amdahl_ceiling",
    ] {
        assert!(usl[key].as_f64().is_some(), "usl.{key} missing: {usl}");
    }
    assert_eq!(json["steps"].as_array().unwrap().len(), 32);
    assert!(
        json["plan"]["instances_needed"].as_u64().is_some(),
        "{}",
        json["plan"]
    );

    // The terminal shows the model and the plan.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("σ (contention)  0.02672"), "{stdout}");
    assert!(stdout.contains("instances needed"), "{stdout}");

    // capacity.json validates against the schema of its type, and loads back.
    let schema = CapacityReport::json_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let _: CapacityReport = serde_json::from_value(json.clone()).unwrap();

    // The pages and the charts, checked without a browser.
    let html = fs::read_to_string(out.join("capacity.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 2, "two inline charts");
    // Self-contained: no script, nothing fetched.
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http")
    );
    assert!(html.contains("id=\"capacity\"") && html.contains("Universal Scalability Law"));
    let md = fs::read_to_string(out.join("capacity.md")).unwrap();
    assert!(md.starts_with("# Skein capacity: cisco.csv"), "{md}");
    assert!(md.contains("| σ (contention) | 0.02672"), "{md}");
    for chart in ["capacity-throughput", "capacity-latency"] {
        let svg = fs::read_to_string(out.join(format!("{chart}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<title>"),
            "{chart}"
        );
        let png = fs::read(out.join(format!("{chart}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{chart}");
    }
    let svg = fs::read_to_string(out.join("capacity-throughput.svg")).unwrap();
    assert!(svg.contains("peak N*"), "N* is marked");

    // Issue 20: every model is kept, and the USL is chosen for this retrograde curve.
    assert_eq!(json["chosen"]["model"], "usl", "{}", json["chosen"]);
    let models = json["models"].as_array().unwrap();
    let kinds: Vec<&str> = models
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["usl", "amdahl", "mva"]);
    for m in models {
        for key in ["r2", "holdout_error"] {
            assert!(m[key].as_f64().is_some(), "{key}: {m}");
        }
        assert!(!m["parameters"].as_array().unwrap().is_empty());
    }
    let usl_model = &models[0]["parameters"];
    assert!(rel(usl_model[0]["value"].as_f64().unwrap(), 0.02671591) < 1e-4);
    assert!(usl_model[0]["se"].as_f64().is_some());
    assert!(
        svg.contains("chosen: USL"),
        "the chosen model is drawn and named"
    );
    assert!(
        md.contains("Models compared") && md.contains("USL (chosen)"),
        "{md}"
    );
    // The plan says what it rests on, and that more instances than tested is an extrapolation.
    let basis = json["plan_basis"].as_array().unwrap();
    let needed = basis
        .iter()
        .find(|b| b["figure"] == "instances needed")
        .unwrap();
    assert_eq!(needed["extrapolated"], true, "{needed}");
    assert!(
        needed["statement"]
            .as_str()
            .unwrap()
            .contains("measured step"),
        "{needed}"
    );
    assert!(basis.iter().any(|b| b["figure"] == "scale out at"));
    assert!(basis.iter().any(|b| b["figure"] == "runway"));
    assert!(json["thresholds"]["rps_per_instance"].as_f64().is_some());
}

#[test]
fn a_bad_cell_exits_2_naming_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("bad.csv");
    fs::write(&csv, "load,throughput,p95_ms\n1,100,10\n2,abc,11\n").unwrap();
    let o = fit(&[csv.to_str().unwrap()], &tmp.path().join("out"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "bad.csv:3: column 2 (throughput) = \"abc\": expected a number of requests per second"
        ),
        "{err}"
    );
    assert!(
        !tmp.path().join("out").exists(),
        "nothing written for bad input"
    );

    // An unknown column names what is accepted.
    fs::write(&csv, "load,thruput\n1,100\n").unwrap();
    let o = fit(&[csv.to_str().unwrap()], &tmp.path().join("out"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("bad.csv:1: column 2 is named \"thruput\""),
        "{}",
        text(&o)
    );
}

#[test]
fn three_rows_exit_0_with_the_steps_and_no_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("three.csv");
    fs::write(
        &csv,
        "load,throughput,p95_ms\n1,100,10\n2,190,11\n4,300,15\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = fit(&[csv.to_str().unwrap(), "--slo-p95", "20ms"], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json = read_json(&out);
    assert!(json["usl"].is_null(), "{}", json["usl"]);
    assert_eq!(json["steps"].as_array().unwrap().len(), 3);
    let warnings = json["warnings"].to_string();
    assert!(
        warnings.contains("only 3 stable step(s) of 3"),
        "{warnings}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("model: no USL fit"));
    let html = fs::read_to_string(out.join("capacity.html")).unwrap();
    assert!(
        html.contains("no USL fit"),
        "the chart says why there is no curve"
    );
}

#[test]
fn bad_options_exit_2_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = repo("tests/fixtures/capacity/cisco.csv");
    let csv = csv.to_str().unwrap();
    let out = tmp.path().join("out");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--headroom", "100%"],
            "--headroom 100%: expected a share from 0% to below 100%",
        ),
        (
            &["--growth", "lots"],
            "--growth `lots`: expected a percentage",
        ),
        (&["--slo-p95", "200ms"], "--slo-p95 needs a p95 column"),
        (
            &["--peak-rps", "10", "--peak-users", "5"],
            "cannot be used with",
        ),
    ];
    for (args, expect) in cases {
        let mut all = vec![csv];
        all.extend_from_slice(args);
        let o = fit(&all, &out);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(expect), "{args:?}: {}", text(&o));
    }
    let o = fit(&[tmp.path().join("nope.csv").to_str().unwrap()], &out);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("nope.csv"), "{}", text(&o));
}

/// Issue 13: absurd `capacity fit` options gave "4294967295 instances", 309-digit numbers
/// and `inf`. Each is refused (exit 2) naming its option; options in range that together
/// ask for an absurd plan are refused with a sentence; nothing prints those figures.
#[test]
fn issue13_absurd_capacity_fit_options_exit_2_naming_the_option() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = repo("tests/fixtures/capacity/cisco.csv");
    let csv = csv.to_str().unwrap();
    let out = tmp.path().join("out");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--peak-rps", "1e300"],
            "--peak-rps 1e300: expected a number above 0 and at most 1e12",
        ),
        (&["--peak-users", "inf"], "--peak-users inf: expected"),
        (&["--peak-rps", "NaN"], "--peak-rps NaN: expected"),
        (
            &["--peak-rps", "1000", "--months", "1e6"],
            "--months 1000000: expected from 0 to 120 months",
        ),
        (&["--peak-rps", "1000", "--months=-1"], "--months -1"),
        (
            &["--peak-rps", "1000", "--growth", "1000%"],
            "--growth 1000%: expected a share above -100% and at most 100% a month",
        ),
        (&["--peak-rps", "1000", "--growth", "inf"], "--growth `inf`"),
        (&["--peak-rps", "1000", "--growth=-100%"], "--growth -100%"),
        (&["--peak-rps", "1000", "--headroom=-5%"], "--headroom -5%"),
        (
            &["--peak-rps", "1000", "--cost-per-hour", "1e308"],
            "--cost-per-hour 1e308: expected a price from 0 to 1,000,000 an hour",
        ),
        (&["--cost-per-hour=-1"], "--cost-per-hour -1"),
        (
            &["--peak-rps", "1000", "--redundancy", "4294967295"],
            "--redundancy 4294967295: expected at most 100 spare instances",
        ),
        (
            &["--peak-rps", "1000", "--instances", "4294967295"],
            "--instances 4294967295: expected from 1 to 1,000,000 instances",
        ),
        (&["--instances", "0"], "--instances 0"),
        (
            &["--slo-p95", "1000h"],
            "--slo-p95 `1000h`: expected a duration of at most 1h",
        ),
        // In range one by one, absurd together.
        (
            &["--peak-rps", "1e9", "--growth", "100%", "--months", "120"],
            "a peak above 1e12 at the horizon: check the inputs",
        ),
        (
            &["--peak-rps", "1e9", "--headroom", "99.99%"],
            "more than 1,000,000 instances: check the inputs",
        ),
    ];
    for (args, expect) in cases {
        let mut all = vec![csv];
        all.extend_from_slice(args);
        let o = fit(&all, &out);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains(expect), "{args:?}: {t}");
        assert!(o.stdout.is_empty(), "{args:?}: {t}");
        assert!(t.len() < 1_000, "{args:?}: {t}");
        assert!(!out.join("capacity.json").exists(), "{args:?}");
    }
    // The largest accepted inputs give finite figures of sensible length.
    let o = fit(
        &[
            csv,
            "--peak-rps",
            "100000",
            "--growth",
            "5%",
            "--months",
            "120",
            "--cost-per-hour",
            "1000000",
            "--redundancy",
            "100",
        ],
        &out,
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let plan = &read_json(&out)["plan"];
    assert!(
        plan["instances_needed"].as_u64().unwrap() <= 1_000_000,
        "{plan}"
    );
    assert!(
        plan["cost_per_month"].as_f64().unwrap().is_finite(),
        "{plan}"
    );
    assert!(!t.contains(" inf") && !t.contains("4294967295"), "{t}");
    assert!(t.lines().all(|l| l.len() < 200), "{t}");
}

#[test]
fn without_output_a_new_folder_is_made_under_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let o = skein()
        .current_dir(tmp.path())
        .args(["capacity", "fit"])
        .arg(repo("tests/fixtures/capacity/cisco.csv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dirs: Vec<PathBuf> = fs::read_dir(tmp.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let name = dirs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("capacity-cisco-"), "{name}");
    assert!(dirs[0].join("capacity.json").is_file());
    assert!(String::from_utf8_lossy(&o.stderr).contains("results: reports/capacity-cisco-"));
}

/// Step tests run the generator and the demo target: one at a time, so they do not share
/// the machine's cores with each other.
static ONE_LOAD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The one run folder `skein` created under `out`.
fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// A demo of known capacity, 32 workers at 20 ms = 1,600 requests/s, stepped from 8 to 56
/// users without think time: the maximum sustainable throughput is within 10 % of 1,600/s,
/// the knee of p95 sits at 32 users, and the USL fits with R² above 0.9. Holds of 8 s give
/// each level's trend (a median of pairwise slopes) enough seconds that one or two seconds
/// taken by a neighbour on a shared machine do not make the level at the knee unstable.
#[test]
fn a_step_test_finds_the_demos_known_capacity() {
    let _one = ONE_LOAD.lock().unwrap_or_else(|p| p.into_inner());
    let out = tempfile::tempdir().unwrap();
    let o = skein()
        .args(["capacity"])
        .arg(repo("scenarios/capacity.yaml"))
        .args([
            "--users", "8:56:12", "--hold", "8s", "--ramp", "0s", "-q", "-o",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = run_dir(out.path());
    let r: CapacityReport =
        serde_json::from_str(&fs::read_to_string(dir.join("capacity.json")).unwrap()).unwrap();
    assert_eq!(r.steps.len(), 5, "{r:#?}");
    let m = r.max_sustainable.as_ref().expect("a sustainable load");
    assert!(
        (m.throughput - 1600.0).abs() / 1600.0 < 0.10,
        "max sustainable {:.0}/s, expected ~1,600/s: {}",
        m.throughput,
        text(&o)
    );
    let knee = r.knee.as_ref().expect("a knee");
    assert_eq!(knee.load, 32.0, "{}", text(&o));
    let usl = r.usl.as_ref().expect("a USL fit");
    assert!(usl.r2 > 0.9, "R² {}", usl.r2);
    // Issue 20: the worker pool is the bottleneck, and no named component grows: the
    // demo's `app` and `db` stay at 20 and 12 ms while the queue for a worker (outside
    // them) takes all the growth. The queue model fits the pool: c = 32.
    let b = r.bottleneck.as_ref().expect("a Server-Timing breakdown");
    assert_eq!(
        b.bottleneck.as_deref(),
        Some(skein::capacity::bottleneck::OUTSIDE),
        "{b:#?}"
    );
    let chosen = r.chosen.as_ref().expect("a chosen model");
    let fit = r.models.iter().find(|f| f.model == chosen.model).unwrap();
    assert!(!fit.retrograde, "{chosen:?}");
    let t = r.thresholds.as_ref().expect("thresholds");
    assert!(
        t.p95_at_scale_out_us.is_some() && t.marginal_latency_us.is_some(),
        "{t:?}"
    );
    // The plan from the file's planning block, and the capacity section in the reports.
    assert!(r.plan.is_some());
    let html = fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"capacity\""));
    let md = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("Capacity"), "{md}");
    for f in [
        "capacity.html",
        "capacity.md",
        "capacity-throughput.svg",
        "capacity-latency.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
}

/// Past the limit at once (an SLO of 5 ms against a 20 ms route: p95 beyond 3x the SLO),
/// the step test stops early, says why, and still writes its analysis.
#[test]
fn a_step_test_stops_early_past_the_limit() {
    let _one = ONE_LOAD.lock().unwrap_or_else(|p| p.into_inner());
    let out = tempfile::tempdir().unwrap();
    let o = skein()
        .args(["capacity"])
        .arg(repo("scenarios/capacity.yaml"))
        .args([
            "--users",
            "8:40:16",
            "--hold",
            "8s",
            "--slo-p95",
            "5ms",
            "-q",
            "-o",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = run_dir(out.path());
    let result: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    let reason = result["run"]["stop_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("capacity: stopped early at level 1 of 3"),
        "{reason}"
    );
    // Stopped within the first level, not after all three (24 s).
    assert!(result["run"]["duration_us"].as_u64().unwrap() < 8_000_000);
    let r: CapacityReport =
        serde_json::from_str(&fs::read_to_string(dir.join("capacity.json")).unwrap()).unwrap();
    assert!(r.max_sustainable.is_none());
    assert!(r.warnings[0].contains("stopped early"), "{:?}", r.warnings);
}

#[test]
fn a_step_plan_that_cannot_run_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    fs::write(
        &f,
        "target: embedded:phase9\nscenarios:\n  - name: a\n    steps:\n      - get: /\n\
         load:\n  steps:\n    users: {from: 64, to: 8, step: 8}\n    hold: 0s\n",
    )
    .unwrap();
    let o = skein().arg("validate").arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(
        t.contains("bad.yaml:8:") && t.contains("to 8 below from 64"),
        "{t}"
    );
    let o = skein()
        .args(["capacity"])
        .arg(repo("scenarios/smoke.yaml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no step test"), "{}", text(&o));
    let o = skein()
        .args(["capacity"])
        .arg(repo("scenarios/smoke.yaml"))
        .args(["--users", "8:4:1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("below"), "{}", text(&o));
}

/// Issue 14: `report` takes a step test's analysis from the folder's `capacity.json` (read
/// by the command, passed to the renderers), and a `capacity.json` that cannot be read is
/// an error naming the file (exit 2), not a capacity section that silently vanishes.
#[test]
fn issue14_report_refuses_a_corrupt_capacity_json_naming_it() {
    let _one = ONE_LOAD.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("s.yaml");
    fs::write(
        &scenario,
        "target: embedded:phase9\nscenarios:\n  - name: s\n    think_time: 10ms\n    steps:\n      - get: /api/products/1\nload: { users: 2, duration: 1s }\n",
    )
    .unwrap();
    let runs = tmp.path().join("runs");
    let o = skein()
        .arg("run")
        .arg(&scenario)
        .args(["--quiet", "-o"])
        .arg(&runs)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = run_dir(&runs);
    let csv = repo("tests/fixtures/capacity/cisco.csv");
    let o = fit(&[csv.to_str().unwrap()], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = skein().arg("report").arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"capacity\""), "no capacity section");

    let file = dir.join("capacity.json");
    fs::write(&file, "{\"schema_version\": 1, \"steps\": [").unwrap();
    let o = skein().arg("report").arg(&dir).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains(&file.display().to_string()), "{t}");
}

/// gunicorn (PyPI) with `SYNC` sync workers and a 50 ms sleep: a real pre-fork server whose
/// ceiling is `c / S`, about 4 / 0.051 s = 78 requests/s.
const GUNICORN: common::Tool = common::Tool {
    name: "gunicorn",
    purpose: "run a real pre-fork server with sync workers (gunicorn)",
    path_var: "SKEIN_GUNICORN",
    commands: &["gunicorn"],
    install: "python3 -m venv /opt/gunicorn && /opt/gunicorn/bin/pip install gunicorn, then \
              SKEIN_GUNICORN=/opt/gunicorn/bin/gunicorn",
};

const SYNC: u32 = 4;
const DELAY_S: f64 = 0.05;

/// A gunicorn started on a free loopback port, stopped (by its pid) when dropped.
struct Gunicorn {
    child: std::process::Child,
    port: u16,
}

impl Drop for Gunicorn {
    /// SIGTERM (gunicorn's graceful stop, which takes its workers down), then SIGKILL if it
    /// is still there after 5 s; by the pid of the process this test started.
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gunicorn(bin: &Path, dir: &Path) -> Gunicorn {
    fs::write(
        dir.join("delay_app.py"),
        "import time\n\ndef app(environ, start_response):\n    time.sleep(0.05)\n    \
         start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '2')])\n    \
         return [b'ok']\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["--workers", &SYNC.to_string(), "--worker-class", "sync"])
        .args(["--bind", &format!("127.0.0.1:{port}"), "--chdir"])
        .arg(dir)
        .args(["--log-level", "warning", "delay_app:app"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let g = Gunicorn { child, port };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gunicorn did not listen on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Every worker booted: a few requests at once come back.
    std::thread::sleep(std::time::Duration::from_millis(500));
    g
}

/// Issue 20's truth: against gunicorn with c sync workers and a fixed 50 ms delay, the
/// queue model is chosen with c found, its plateau within 3 % of c / S, hold-out error under
/// 3 %, no retrograde predicted, and the knee at c ± 1.
#[test]
fn issue20_gunicorn_sync_workers_fit_the_queue_model() {
    let Some(bin) = common::tool(&GUNICORN) else {
        return;
    };
    let _one = ONE_LOAD.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let server = start_gunicorn(&bin, tmp.path());
    let scenario = tmp.path().join("gunicorn.yaml");
    fs::write(
        &scenario,
        format!(
            "name: gunicorn\ntarget: http://127.0.0.1:{}\nscenarios:\n  - name: s\n    steps:\n      \
             - get: /\n        check: {{status: 200}}\nload:\n  steps:\n    users: {{from: 1, to: 7, step: 1}}\n    \
             hold: 6s\n    ramp: 0s\n  graceful_stop: 1s\ncapacity:\n  slo_p95: 150ms\n",
            server.port
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = skein()
        .args(["capacity"])
        .arg(&scenario)
        .args(["-q", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    drop(server);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = run_dir(&out);
    let r: CapacityReport =
        serde_json::from_str(&fs::read_to_string(dir.join("capacity.json")).unwrap()).unwrap();
    let report = text(&o);
    let chosen = r.chosen.as_ref().expect("a chosen model");
    assert_eq!(chosen.model, skein::capacity::ModelKind::Mva, "{report}");
    let fit = r.models.iter().find(|f| f.model == chosen.model).unwrap();
    let c = fit
        .parameters
        .iter()
        .find(|p| p.name == "servers")
        .unwrap()
        .value;
    assert_eq!(c, SYNC as f64, "{report}");
    // S as measured on its own: the mean response time of one user alone (no queue), the
    // 50 ms sleep plus gunicorn's own work per request.
    let one = r.steps.iter().find(|s| s.load == 1.0).unwrap();
    let s_measured = one.mean_us.unwrap() as f64 / 1e6;
    assert!(
        (s_measured - DELAY_S).abs() / DELAY_S < 0.08,
        "one user's response time {s_measured} s: {report}"
    );
    let truth = SYNC as f64 / s_measured;
    let plateau = fit.max_throughput.unwrap();
    assert!(
        (plateau - truth).abs() / truth < 0.03,
        "plateau {plateau:.1}/s, c/S = {truth:.1}/s: {report}"
    );
    let top = r.steps.iter().map(|s| s.throughput).fold(0.0, f64::max);
    assert!(
        (plateau - top).abs() / top < 0.03,
        "plateau {plateau:.1}/s, measured {top:.1}/s"
    );
    let hold = fit.holdout_error.expect("a hold-out error");
    assert!(hold < 0.03, "hold-out {hold}: {report}");
    assert!(!fit.retrograde);
    // No retrograde anywhere up to 4x the largest load.
    let n_top = r.steps.iter().map(|s| s.concurrency).fold(0.0, f64::max);
    let mut last = 0.0;
    for i in 1..=40 {
        let x = fit.throughput(n_top * 4.0 * i as f64 / 40.0);
        assert!(x + 1e-9 >= last, "falls at {i}");
        last = x;
    }
    let knee = r.knee.as_ref().expect("a knee");
    assert!(
        (knee.load - SYNC as f64).abs() <= 1.0,
        "knee at {}: {report}",
        knee.load
    );
    let t = r.thresholds.as_ref().expect("thresholds");
    // At the knee one more user queues behind c workers: S / c more.
    let d = t.marginal_latency_us.expect("marginal latency") / 1e6;
    assert!((d - s_measured / SYNC as f64).abs() < 0.005, "{t:?}");
    let md = fs::read_to_string(dir.join("capacity.md")).unwrap();
    assert!(md.contains("MVA (c servers) (chosen)"), "{md}");
}

/// Issue 20's truth: a demo whose database pool (2 connections at 5 ms) is narrower than its
/// app workers (16 at 10 ms): the database saturates first (400/s against 1,600/s), and the
/// bottleneck named from Server-Timing is `db`, in capacity.json, capacity.md, the stacked
/// chart and the run's report.
#[test]
fn issue20_a_narrow_database_pool_is_named_the_bottleneck() {
    let _one = ONE_LOAD.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("db.yaml");
    fs::write(
        &scenario,
        "name: db-pool\ntarget:\n  embedded: phase9\n  workers: 16\n  db_pool: 2\n  routes:\n    \
         product: {service_time: 10ms, jitter: 0ms, db: 5ms}\nscenarios:\n  - name: api\n    steps:\n      \
         - get: /api/products/7\n        check: {status: 200}\nload:\n  steps:\n    users: {from: 2, to: 10, step: 4}\n    \
         hold: 3s\n    ramp: 0s\n  graceful_stop: 1s\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = skein()
        .args(["capacity"])
        .arg(&scenario)
        .args(["-q", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = run_dir(&out);
    let r: CapacityReport =
        serde_json::from_str(&fs::read_to_string(dir.join("capacity.json")).unwrap()).unwrap();
    let b = r.bottleneck.as_ref().expect("a breakdown");
    assert_eq!(b.bottleneck.as_deref(), Some("db"), "{b:#?}");
    let db = b.growth.iter().find(|g| g.name == "db").unwrap();
    assert!(db.share.unwrap() > 0.6, "{b:#?}");
    // The db time at the top level includes the wait: well above its 5 ms.
    assert!(db.to_us > 10_000.0, "{b:#?}");
    // Throughput capped by the database: 2 / 5 ms = 400/s.
    let top = r.steps.iter().map(|s| s.throughput).fold(0.0, f64::max);
    assert!((top - 400.0).abs() / 400.0 < 0.10, "top {top}/s");
    let md = fs::read_to_string(dir.join("capacity.md")).unwrap();
    assert!(md.contains("Bottleneck: db;"), "{md}");
    assert!(dir.join("capacity-components.svg").is_file());
    let report_md = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report_md.contains("Bottleneck: db;"), "{report_md}");
    let html = fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("Bottleneck (Server-Timing)"));
}
