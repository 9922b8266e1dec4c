//! `skein capacity fit FILE.csv` as a user runs it: the golden dataset's coefficients in
//! `capacity.json`, the files written beside it, and the exit codes of bad input.

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
    let _: CapacityReport = serde_json::from_value(json).unwrap();

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
            "--headroom 1: expected a share from 0% to below 100%",
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
