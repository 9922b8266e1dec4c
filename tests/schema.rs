//! `result.json` is machine output: its JSON Schema is published as
//! `reports/result.schema.json`, every `result.json` a run writes validates against it, and
//! result files written by older versions of Skein still load. `summary.json` (the verdict)
//! likewise: its schema is `reports/summary.schema.json`, and a rendered one validates.
//!
//! One test here runs goose; it is the only attack in this binary, so it needs no lock.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use skein::demo::{self, DemoConfig};
use skein::engine::{self, RunOptions};
use skein::metrics::{self, MetricsError, RunResult, RunStatus, SCHEMA_VERSION};
use skein::scenario;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every way `instance` breaks the committed schema, one line each.
fn schema_violations(instance: &Value) -> Vec<String> {
    violations_of("reports/result.schema.json", instance)
}

/// Every way `instance` breaks the committed schema at `schema_path`, one line each.
fn violations_of(schema_path: &str, instance: &Value) -> Vec<String> {
    let schema = read_json(&repo(schema_path));
    let validator = jsonschema::validator_for(&schema).expect("the committed schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}

fn assert_valid(what: &str, instance: &Value) {
    let errors = schema_violations(instance);
    assert!(
        errors.is_empty(),
        "{what} does not match reports/result.schema.json:\n{}",
        errors.join("\n")
    );
}

/// Compare a committed schema with the generated one, or rewrite it under
/// `SKEIN_UPDATE_SCHEMA=1`.
fn check_committed(rel: &str, generated: &Value, type_name: &str) {
    let path = repo(rel);
    let generated = serde_json::to_string_pretty(generated).unwrap() + "\n";
    if std::env::var_os("SKEIN_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        // Atomically: the other tests here read the file while this one runs.
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, &generated).unwrap();
        fs::rename(&tmp, &path).unwrap();
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with {type_name}; regenerate it with\n  \
         SKEIN_UPDATE_SCHEMA=1 cargo test --test schema\n\
         and, if the change is incompatible, bump its schema version and add a fixture under \
         tests/fixtures/results/",
        path.display()
    );
}

#[test]
fn committed_schema_matches_the_generated_one() {
    check_committed(
        "reports/result.schema.json",
        &RunResult::json_schema(),
        "skein::metrics::RunResult",
    );
}

fn summary_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(metrics::Verdict)).unwrap()
}

#[test]
fn committed_summary_schema_matches_the_generated_one() {
    check_committed(
        "reports/summary.schema.json",
        &summary_schema(),
        "skein::metrics::Verdict",
    );
}

fn assert_valid_summary(what: &str, instance: &Value) {
    let errors = violations_of("reports/summary.schema.json", instance);
    assert!(
        errors.is_empty(),
        "{what} does not match reports/summary.schema.json:\n{}",
        errors.join("\n")
    );
}

#[test]
fn a_rendered_summary_json_matches_the_summary_schema() {
    // The fixture's verdict, rendered again through the report writer.
    let fixture = repo("tests/fixtures/results/report-fixture");
    let result = metrics::load_result(&fixture).unwrap_or_else(|e| panic!("{e}"));
    let verdict: metrics::Verdict =
        serde_json::from_value(read_json(&fixture.join("summary.json")))
            .unwrap_or_else(|e| panic!("the fixture's summary.json: {e}"));
    let out = tempfile::tempdir().unwrap();
    skein::report::write_all(out.path(), &result, &verdict, None).unwrap_or_else(|e| panic!("{e}"));
    let written = read_json(&out.path().join("summary.json"));
    assert_valid_summary(
        "the summary.json rendered from the report fixture",
        &written,
    );
    // It covers what the schema describes: outcomes of every status that carry values.
    let targets = written["targets"].as_array().unwrap();
    assert!(!targets.is_empty());
    assert!(targets.iter().any(|t| t["measured"].is_number()));

    // And the schema is not vacuous: an unknown field and a bad status are refused.
    let mut bad = written.clone();
    bad["targets"][0]["status"] = "maybe".into();
    bad["surprise"] = 1.into();
    let errors = violations_of("reports/summary.schema.json", &bad);
    assert!(
        errors.iter().any(|e| e.contains("/targets/0/status")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("surprise")), "{errors:?}");
}

#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let mut r = read_json(&repo("tests/fixtures/results/v1-minimal/result.json"));
    r["run"]["status"] = "finished".into();
    r["overall"]["surprise"] = 1.into();
    let errors = schema_violations(&r);
    assert!(
        errors.iter().any(|e| e.contains("/run/status")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("surprise")), "{errors:?}");
}

/// A short real run: login with an extract, a failing check and a 404, so every part of
/// the file (checks, errors by kind, error examples, time series) has content.
const SCENARIO: &str = r#"
name: schema-check
scenarios:
  - name: shopper
    think_time: 20ms
    on_start:
      - post: /api/login
        json: {username: "schema-${uuid()}", password: demo}
        check: {status: 200}
        extract:
          token: {json: "$.token"}
    steps:
      - get: /api/cart
        headers: {Authorization: "Bearer ${token}"}
        check: {status: 200, json: [{path: "$.items", exists: true}]}
      - name: price over 1000
        get: /api/products/1
        check: {json: [{path: "$.price", gt: 1000}]}
      - get: /api/products/9999
load: {users: 3, ramp: 300ms, duration: 1s}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_result_json_matches_the_schema() {
    let server = demo::serve("127.0.0.1:0".parse().unwrap(), DemoConfig::default())
        .await
        .unwrap();
    let url = server.url();
    let text = format!("target: {url}\n{SCENARIO}");
    let plan =
        scenario::parse_str(&text, Path::new("schema.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("run");
    fs::create_dir(&dir).unwrap();
    let result = engine::run(&plan, RunOptions::new(dir.clone(), &url))
        .await
        .unwrap();
    server.shutdown().await;

    let written = read_json(&dir.join("result.json"));
    assert_valid("the result.json of a real run", &written);
    assert_eq!(written["schema_version"], SCHEMA_VERSION);
    assert_eq!(written["run"]["status"], "complete");
    // The run exercised what the schema describes, so the check above means something.
    assert!(result.overall.requests > 10, "{:?}", result.overall);
    assert!(result.overall.ok > 0);
    assert!(result.overall.check_failed > 0);
    assert!(result.overall.errors_by_kind.contains_key("http_4xx"));
    assert!(!result.error_examples.is_empty());
    assert!(!result.timeseries.is_empty());
    assert!(result.steps.iter().any(|s| !s.checks.is_empty()));
    // And the file reads back as what the run returned.
    let loaded = metrics::load_result(&dir).unwrap();
    assert_eq!(loaded.overall.requests, result.overall.requests);
}

#[test]
fn a_version_1_result_still_loads() {
    let dir = repo("tests/fixtures/results/v1-minimal");
    let r = metrics::load_result(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.schema_version, 1);
    assert_eq!(r.run.status, RunStatus::Complete);
    assert_eq!(r.run.name, "minimal");
    assert_eq!(r.overall.requests, 3);
    let step = r.step("GET /health").expect("the fixture's one step");
    assert_eq!(step.summary.ok, 3);
    // The stored histogram decodes and agrees with the percentiles beside it.
    let h = step.summary.response_time.hist().unwrap();
    assert_eq!(h.count(), 3);
    assert_eq!(h.max(), step.summary.response_time.max_us);
    if SCHEMA_VERSION == 1 {
        assert_valid(
            "tests/fixtures/results/v1-minimal/result.json",
            &read_json(&dir.join("result.json")),
        );
    }
}

#[test]
fn a_result_from_a_newer_skein_is_refused_naming_its_version() {
    let mut r = read_json(&repo("tests/fixtures/results/v1-minimal/result.json"));
    r["schema_version"] = 99.into();
    let out = tempfile::tempdir().unwrap();
    fs::write(
        out.path().join("result.json"),
        serde_json::to_vec_pretty(&r).unwrap(),
    )
    .unwrap();
    let err = metrics::load_result(out.path()).unwrap_err();
    assert!(matches!(err, MetricsError::Schema { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("schema_version 99") && msg.contains(&format!("version {SCHEMA_VERSION}")),
        "{msg}"
    );
}
