//! `lighthouse:` (issue 19): the real Lighthouse on headless Chromium audits the embedded
//! demo's pages idle and under load; a run of `lighthouse` past its timeout is killed with
//! its processes and reported; missing tools fail `validate` and `run` with the install
//! commands, or, with `required: false`, leave the audits out with a warning.
//!
//! The test that audits needs Lighthouse (`SKEIN_LIGHTHOUSE` or `lighthouse` on PATH) and
//! Chromium: it skips where they are missing, unless `SKEIN_REQUIRE_TOOLS` requires them
//! (`.ci/run` installs the pinned `lighthouse@12.2.3`).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

mod common;
use common::{only_dir, result_json, skein, text};

/// A scenario on the embedded demo: 10 users browsing, ramped over 1 s and held for `hold`,
/// with `lighthouse` as its block and `targets` as its targets.
fn scenario(dir: &Path, hold: &str, lighthouse: &str, targets: &str) -> std::path::PathBuf {
    let text = format!(
        "name: lh\ntarget: embedded:phase9\nscenarios:\n  - name: browse\n    think_time: 100ms\n    \
         steps:\n      - {{name: home, page: /, assets: auto, check: {{status: 200}}}}\n      \
         - {{get: /api/products, check: {{status: 200}}}}\n\
         load: {{users: 10, ramp: 1s, duration: {hold}}}\n\
         lighthouse: {lighthouse}\n{targets}"
    );
    let p = dir.join("lh.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(file: &Path, out: &Path, env: &[(&str, &str)], clear: &[&str]) -> Output {
    let mut c = skein();
    c.arg("run")
        .arg(file)
        .arg("--quiet")
        .arg("--output")
        .arg(out);
    for k in clear {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn the_demo_idle_and_under_load_and_the_slow_page_scores_lower() {
    let Some((lighthouse, chromium)) = common::lighthouse_tools() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let file = scenario(
        tmp.path(),
        "25s",
        "{pages: [/, /slow-page], runs: 1, when: both, timeout: 150s}",
        "targets:\n  - lighthouse.performance(page=\"/slow-page\") < 90\n  - fcp(page=\"/slow-page\", when=\"before\") > 1.5s\n",
    );
    let out = tmp.path().join("out");
    let o = run(
        &file,
        &out,
        &[
            ("SKEIN_LIGHTHOUSE", lighthouse.to_str().unwrap()),
            ("SKEIN_CHROMIUM", chromium.to_str().unwrap()),
        ],
        &[],
    );
    let dir = only_dir(&out);
    let r = result_json(&dir);
    assert!(o.status.success(), "{}\n{}", text(&o), r["lighthouse"]);
    // The load ran its course beside the audits.
    assert_eq!(r["run"]["status"], "complete");
    assert!(
        r["overall"]["requests"].as_u64().unwrap() > 100,
        "{}",
        r["overall"]
    );
    assert_eq!(r["overall"]["errors"], 0);
    let lh = &r["lighthouse"];
    assert!(lh["version"].as_str().unwrap().starts_with("12."), "{lh}");
    let pages = lh["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 4, "{lh}");
    let row = |page: &str, when: &str| {
        pages
            .iter()
            .find(|p| p["page"] == page && p["when"] == when)
            .unwrap_or_else(|| panic!("no row {page} {when}: {lh}"))
    };
    for p in pages {
        let runs = p["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1);
        assert!(runs[0]["error"].is_null(), "{p}");
        // Scores are numbers in [0, 1], one per category.
        let scores = p["scores"].as_object().unwrap();
        assert_eq!(scores.len(), 4, "{p}");
        for (c, s) in scores {
            let s = f(s);
            assert!((0.0..=1.0).contains(&s), "{c} = {s}: {p}");
        }
        // Paints and times are positive; TBT and CLS are never negative.
        let m = &p["metrics"];
        for k in ["lcp_ms", "fcp_ms", "speed_index_ms", "tti_ms"] {
            assert!(f(&m[k]) > 0.0, "{k}: {p}");
        }
        for k in ["tbt_ms", "cls"] {
            assert!(f(&m[k]) >= 0.0, "{k}: {p}");
        }
        assert!(f(&m["lcp_ms"]) >= f(&m["fcp_ms"]), "{p}");
        // Lighthouse's own report is kept in the run folder.
        let report = runs[0]["report"].as_str().unwrap();
        assert!(dir.join(report).is_file(), "{report}");
        assert!(report.starts_with("lighthouse/") && report.ends_with(".html"));
    }
    // The during audits started in the hold (after the 1 s ramp), the before ones before
    // the load.
    assert!(f(&row("/", "before")["runs"][0]["started_ms"]) < 0.0);
    assert!(f(&row("/", "during")["runs"][0]["started_ms"]) >= 1000.0);
    for when in ["before", "during"] {
        let fast = row("/", when);
        let slow = row("/slow-page", when);
        let perf = |p: &serde_json::Value| f(&p["scores"]["performance"]);
        assert!(
            perf(slow) < perf(fast),
            "{when}: slow page {} vs home {}",
            perf(slow),
            perf(fast)
        );
        // What the slow page is made of: a script that keeps the main thread busy for
        // 1.5 s before anything can paint, an 800 ms task after it (blocking at least
        // 750 ms beyond the 50 ms a task may take), and a 420 px banner pushed in above the
        // content.
        assert!(f(&slow["metrics"]["fcp_ms"]) > 1500.0, "{slow}");
        assert!(f(&slow["metrics"]["tbt_ms"]) > 750.0, "{slow}");
        assert!(f(&slow["metrics"]["tbt_ms"]) > f(&fast["metrics"]["tbt_ms"]));
        assert!(f(&slow["metrics"]["cls"]) > 0.1, "{slow}");
        assert!(f(&slow["metrics"]["fcp_ms"]) > f(&fast["metrics"]["fcp_ms"]));
    }
    // The targets were judged on the audits.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for t in summary["targets"].as_array().unwrap() {
        assert_eq!(t["status"], "pass", "{t}");
    }
    // Every report has the section; the HTML links Lighthouse's reports.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"lighthouse\""));
    assert!(
        html.contains("href=\"lighthouse/slow-page-during-1.html\""),
        "links"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("### Lighthouse") && md.contains("| /slow-page | performance score |"));
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("lighthouse.performance[/ during]"));
    eprintln!(
        "lighthouse: performance / before {} during {}, /slow-page before {} during {}",
        row("/", "before")["scores"]["performance"],
        row("/", "during")["scores"]["performance"],
        row("/slow-page", "before")["scores"]["performance"],
        row("/slow-page", "during")["scores"]["performance"]
    );
}

/// A stand-in for a `lighthouse` that hangs: it answers `--version`, then starts a child in
/// a session of its own (as Chromium's launcher starts Chromium) and waits for it. Skein
/// must kill both at the block's timeout and report the run as failed.
const HANGING: &str = "#!/bin/sh\n\
if [ \"$1\" = \"--version\" ]; then echo 12.2.3; exit 0; fi\n\
setsid sleep 300 &\n\
echo $! >> \"$SKEIN_TEST_PIDS\"\n\
wait\n";

#[cfg(target_os = "linux")]
#[test]
fn a_lighthouse_past_its_timeout_is_killed_and_reported_and_the_run_is_kept() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("lighthouse");
    std::fs::write(&fake, HANGING).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let pids = tmp.path().join("pids");
    let file = scenario(
        tmp.path(),
        "3s",
        "{pages: [/], runs: 1, when: both, timeout: 10s}",
        "targets:\n  - lighthouse.performance >= 90\n  - error_rate < 1%\n",
    );
    let out = tmp.path().join("out");
    let started = Instant::now();
    let o = run(
        &file,
        &out,
        &[
            ("SKEIN_LIGHTHOUSE", fake.to_str().unwrap()),
            // Never started: the stand-in does not launch a browser.
            ("SKEIN_CHROMIUM", "/bin/sh"),
            ("SKEIN_TEST_PIDS", pids.to_str().unwrap()),
        ],
        &[],
    );
    let took = started.elapsed();
    // Two audits of 10 s at most each, and a 4 s load between them.
    assert!(
        took < Duration::from_secs(45),
        "took {took:?}: {}",
        text(&o)
    );
    // Not measured is a failed target: exit 1, not a crash or a hang.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dir = only_dir(&out);
    let r = result_json(&dir);
    assert_eq!(r["run"]["status"], "complete");
    assert!(r["overall"]["requests"].as_u64().unwrap() > 0);
    let pages = r["lighthouse"]["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2, "{}", r["lighthouse"]);
    for p in pages {
        let e = p["runs"][0]["error"].as_str().unwrap_or_default();
        assert!(e.contains("timed out after 10 s"), "{p}");
        let took = p["runs"][0]["took_ms"].as_u64().unwrap();
        assert!((10_000..14_000).contains(&took), "{took} ms: {p}");
    }
    // Both hung processes (and their children) are gone.
    std::thread::sleep(Duration::from_millis(200));
    let list = std::fs::read_to_string(&pids).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    for pid in list.lines() {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        let alive = stat.is_ok_and(|s| !s.contains(") Z"));
        assert!(!alive, "sleep {pid} survived the timeout");
    }
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let lh = &summary["targets"][0];
    assert_eq!(lh["status"], "not_measured", "{lh}");
    assert!(lh["detail"].as_str().unwrap().contains("timed out"), "{lh}");
    assert_eq!(summary["targets"][1]["status"], "pass");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("/ before run 1: lighthouse timed out after 10 s"),
        "{md}"
    );
}

#[test]
fn missing_lighthouse_fails_validate_and_run_with_the_install_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let file = scenario(tmp.path(), "2s", "{pages: [/]}", "");
    let o = skein()
        .arg("validate")
        .arg(&file)
        .env("PATH", &empty)
        .env_remove("SKEIN_LIGHTHOUSE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = text(&o);
    for want in [
        "lighthouse not found",
        "npm install --prefix",
        "lighthouse@12.2.3",
        "apt-get install -y nodejs npm chromium",
        "SKEIN_LIGHTHOUSE=",
        "Node 22",
        "required: false",
    ] {
        assert!(msg.contains(want), "{want:?} in {msg}");
    }
    let out = tmp.path().join("out");
    let o = run(
        &file,
        &out,
        &[("PATH", empty.to_str().unwrap())],
        &["SKEIN_LIGHTHOUSE"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("npm install"), "{}", text(&o));
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    // A path variable naming nothing is an error too.
    let o = skein()
        .arg("validate")
        .arg(&file)
        .env("SKEIN_LIGHTHOUSE", tmp.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("is not the lighthouse executable"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_optional_block_without_lighthouse_runs_the_load_and_says_not_measured() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let file = scenario(
        tmp.path(),
        "2s",
        "{pages: [/], required: false}",
        "targets:\n  - lighthouse.performance >= 90\n  - error_rate < 1%\n",
    );
    let out = tmp.path().join("out");
    let o = run(
        &file,
        &out,
        &[("PATH", empty.to_str().unwrap())],
        &["SKEIN_LIGHTHOUSE"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("warning:") && msg.contains("1 Lighthouse target is not judged"),
        "{msg}"
    );
    let dir = only_dir(&out);
    let r = result_json(&dir);
    let why = r["lighthouse"]["not_measured"].as_str().unwrap();
    assert!(why.contains("lighthouse not found"), "{why}");
    assert!(r["overall"]["requests"].as_u64().unwrap() > 0);
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(!summary.contains("lighthouse.performance"), "{summary}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"lighthouse\"") && html.contains("not measured"));
}
