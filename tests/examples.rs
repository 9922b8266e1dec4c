//! Every scenario under `scenarios/examples/` validates and runs against the embedded demo
//! with no error and no failed check: the examples the README points to are known to work.
//!
//! Each example carries its own short `load:` (a few seconds, or an iteration count), so
//! this runs each file as written, the way a user copying it would.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::{only_dir, result_json, skein, text};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    // An example with a `lighthouse:` block needs Lighthouse and Chromium (`skein validate`
    // fails without them, by design): where they are missing it is skipped, with the
    // reason, unless SKEIN_REQUIRE_TOOLS requires them.
    let has_lighthouse = |p: &PathBuf| {
        std::fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l.starts_with("lighthouse:")))
    };
    if files.iter().any(has_lighthouse) && common::lighthouse_tools().is_none() {
        files.retain(|p| !has_lighthouse(p));
    }
    files
}

#[test]
fn every_example_validates_and_runs_against_the_demo_without_an_error() {
    let files = examples();
    // One per item of the test-plan features at least (flow control, groups, iterations,
    // set-up, custom metrics, uploads, batch, WebSocket, a HAR import).
    assert!(files.len() >= 8, "{files:?}");
    let o = skein()
        .env("PASSWORD", "demo")
        .arg("validate")
        .args(&files)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for file in &files {
        let out = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let o = skein()
            // `from-har.yaml` reads the password the import moved to the environment (the
            // demo takes any).
            .env("PASSWORD", "demo")
            .arg("run")
            .arg(file)
            .arg("--quiet")
            .arg("--output")
            .arg(out.path())
            .output()
            .unwrap();
        let took = started.elapsed();
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(o.status.success(), "{name}: {}", text(&o));
        // Examples are short: a copy-paste that runs for minutes is not an example. (Each
        // Lighthouse audit starts a Chromium and loads the page: about 15 s.)
        let limit = if name == "lighthouse.yaml" { 120 } else { 60 };
        assert!(took < Duration::from_secs(limit), "{name} took {took:?}");
        let r = result_json(&only_dir(out.path()));
        let overall = &r["overall"];
        assert!(
            overall["requests"].as_u64().unwrap() > 0,
            "{name}: {overall}"
        );
        assert_eq!(
            overall["errors"], 0,
            "{name}: {}",
            overall["errors_by_kind"]
        );
        assert_eq!(overall["check_failed"], 0, "{name}: {overall}");
        // Every row (groups, batches, custom metrics, WebSocket messages included).
        for step in r["steps"].as_array().unwrap() {
            assert_eq!(step["errors"], 0, "{name}: {step}");
            assert_eq!(step["check_failed"], 0, "{name}: {step}");
        }
        assert_eq!(r["run"]["status"], "complete", "{name}: {}", r["run"]);
    }
}
