//! Issue 17, items 5 and 6 over real loopback HTTP against the embedded demo (port 0):
//! custom metrics recorded from responses (exact known values), multipart uploads (the
//! demo parses the body and answers each part's size), and batch steps (three 20 ms
//! requests at once take about 20 ms, not 60). goose keeps process-global state, so the
//! runs here go one at a time.

use std::net::SocketAddr;
use std::path::Path;

use skein::demo::{self, DemoConfig};
use skein::engine::{self, RunOptions};
use skein::metrics::{BATCH_METHOD, METRIC_METHOD, RunResult, TargetStatus};
use skein::scenario;

static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn demo() -> demo::DemoServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    demo::serve(addr, DemoConfig::default()).await.unwrap()
}

/// Parse `yaml` (the file `file`, for relative paths) against `base_url`, run it, and
/// return the result and the verdict.
async fn run_yaml(
    yaml: &str,
    base_url: &str,
    file: &Path,
    out: &Path,
) -> (RunResult, skein::metrics::Verdict) {
    let text = format!("target: {base_url}\n{yaml}");
    let plan = scenario::parse_str(&text, file).unwrap_or_else(|e| panic!("{e}"));
    let dir = engine::results_dir(out, &plan).unwrap();
    let r = engine::run(&plan, RunOptions::new(dir.clone(), base_url))
        .await
        .unwrap();
    let v = skein::metrics::evaluate_dir(&dir, &plan.verdict_targets()).unwrap();
    (r, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metrics_record_the_exact_values_the_responses_carry() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo().await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
metrics:
  queue_ms: {type: trend, unit: ms}
  items_seen: {type: counter, unit: items}
  ratio: {type: trend}
  missing: {type: trend, unit: ms}
scenarios:
  - name: worker
    think_time: 20ms
    steps:
      - name: queue
        get: /api/queue
        query: {ms: "12.5", items: "7"}
        check: {status: 200}
        record:
          queue_ms: {header: X-Queue-Time}
          items_seen: {json: "$.items"}
          ratio: {json: "$.queue_ms"}
          missing: {header: X-Not-There}
load: {users: 2, duration: 2s}
targets:
  - mean(metric="queue_ms") < 13ms
  - mean(metric="queue_ms") > 12
  - p95(metric="queue_ms") <= 12.6
  - sum(metric="items_seen") > 6
  - count(metric="ratio") >= 10
  - max(metric="ratio") < 12.49
"#;
    let (r, v) = run_yaml(yaml, &server.url(), Path::new("t.yaml"), out.path()).await;
    let n = r.step("queue").unwrap().summary.requests;
    assert!(n >= 10, "{n} requests");
    assert_eq!(r.overall.errors, 0);
    // The metric cells stay out of the request totals.
    assert_eq!(r.overall.requests, n);
    let m = |name: &str| {
        r.custom_metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name}: {:?}", r.custom_metrics))
    };
    let q = m("queue_ms");
    assert_eq!((q.kind.as_str(), q.unit.as_str()), ("trend", "ms"));
    assert_eq!(q.count, n);
    assert_eq!(q.mean, Some(12.5));
    assert!((q.sum - 12.5 * n as f64).abs() < 1e-9, "{}", q.sum);
    // The histogram keeps 3 significant digits.
    let p50 = q.p50.unwrap();
    assert!((p50 - 12.5).abs() <= 0.0125, "{p50}");
    eprintln!(
        "queue_ms: {n} values, mean {:?} ms, p50 {p50} ms, sum {} ms",
        q.mean, q.sum
    );
    let items = m("items_seen");
    assert_eq!(items.kind, "counter");
    assert_eq!(items.sum, 7.0 * n as f64);
    assert_eq!(items.count, n);
    let ratio = m("ratio");
    assert_eq!(ratio.unit, "");
    assert_eq!(ratio.mean, Some(12.5));
    // A value that is not there is counted, not dropped.
    let missing = m("missing");
    assert_eq!((missing.count, missing.unreadable), (0, n));
    assert!(
        r.error_examples
            .iter()
            .any(|e| e.step == "missing" && e.message.contains("record missing"))
    );
    // The metric's row keeps stored units (µs) and its own method.
    let row = r.step("queue_ms").unwrap();
    assert_eq!(row.method, METRIC_METHOD);
    assert_eq!(row.summary.response_time.mean_us, 12_500);
    let failed: Vec<_> = v.failed().map(|t| t.detail.clone()).collect();
    // `max(metric="ratio") < 12.49` fails (the values are 12.5): the bare bound is in the
    // metric's unit.
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("\"ratio\"") && failed[0].contains("12.5"),
        "{failed:?}"
    );
    assert!(
        v.targets[..5]
            .iter()
            .all(|t| t.status == TargetStatus::Pass)
    );
    // The reports show the table in the metric's unit.
    let md = skein::report::markdown::render(&r, &v);
    assert!(md.contains("### Custom metrics"), "{md}");
    assert!(md.contains("| queue_ms | trend |"), "{md}");
    assert!(md.contains("12.5 ms"), "{md}");
    assert!(
        !md.contains("| queue_ms | 2"),
        "a metric is not an endpoint row: {md}"
    );
    let html = skein::report::html::render_with_charts(&r, &v, &[]);
    assert!(html.contains("Custom metrics") && html.contains("7 items"));
    let text = skein::report::custom::text_table(&r);
    assert!(
        text.contains("queue_ms") && text.contains("12.5 ms"),
        "{text}"
    );
    let json = std::fs::read_to_string(
        std::fs::read_dir(out.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("result.json"),
    )
    .unwrap();
    assert!(json.contains("\"custom_metrics\""));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_three_20ms_requests_takes_about_20ms_not_60() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo().await;
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
scenarios:
  - name: dash
    think_time: 10ms
    steps:
      - name: widgets
        tags: [dash]
        batch:
          - name: slow
            get: /api/slow
            query: {ms: "20"}
            check: {status: 200, json: [{path: "$.slept_ms", equals: 20}]}
          - name: slow
            delete: /api/slow?ms=20
          - name: slow put
            put: /api/slow?ms=20
            extract:
              slept: {json: "$.slept_ms"}
      - name: after
        get: /api/queue?ms=${slept}
load: {users: 2, duration: 2s}
targets:
  - p95(tag="dash") < 45ms
"#;
    let (r, v) = run_yaml(yaml, &server.url(), Path::new("t.yaml"), out.path()).await;
    let whole = r.step("widgets").unwrap();
    assert_eq!(whole.method, BATCH_METHOD);
    let batches = whole.summary.requests;
    assert!(batches >= 10, "{batches} batches");
    assert_eq!(whole.summary.errors, 0);
    let mean = whole.summary.response_time.mean_us;
    assert!(
        (20_000..35_000).contains(&mean),
        "a batch of three 20 ms requests took {mean} µs on average"
    );
    let slow = r.step("slow").unwrap();
    assert_eq!(slow.summary.requests, 2 * batches);
    assert_eq!(slow.summary.check_failed + slow.summary.errors, 0);
    let each = slow.summary.response_time.mean_us;
    assert!((20_000..30_000).contains(&each), "each took {each} µs");
    assert!(each <= mean, "{each} > {mean}");
    eprintln!(
        "batch of 3 x 20 ms: {batches} batches, whole mean {mean} µs p95 {} µs; each request mean {each} µs",
        whole.summary.response_time.p95_us
    );
    let put = r.step("slow put").unwrap();
    assert_eq!(put.summary.requests, batches);
    // The extract of a batch's request feeds the next step.
    let after = r.step("after").unwrap();
    assert_eq!(after.summary.errors, 0);
    assert!(after.summary.requests >= batches - 2);
    // The batch row is not a request: the totals count the three requests and `after`.
    assert_eq!(
        r.overall.requests,
        slow.summary.requests + put.summary.requests + after.summary.requests
    );
    assert!(v.passed, "{:?}", v.targets);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_arrive_with_every_part_and_its_exact_size() {
    let _one = ONE_ATTACK.lock().await;
    let server = demo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/cat.png"), vec![7u8; 1234]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let yaml = r#"
variables:
  who: ada
scenarios:
  - name: up
    steps:
      - name: upload
        post: /api/upload
        multipart:
          fields: {title: "cat of ${who}", n: 3}
          files:
            photo: {file: data/cat.png}
            blob: {size: 64KiB}
            tiny: {size: 10, filename: "t.txt", content_type: text/plain}
        check:
          status: 200
          json:
            - {path: "$.parts[0].name", equals: title}
            - {path: "$.parts[0].size", equals: 10}
            - {path: "$.parts[1].name", equals: "n"}
            - {path: "$.parts[1].size", equals: 1}
            - {path: "$.parts[2].filename", equals: cat.png}
            - {path: "$.parts[2].content_type", equals: image/png}
            - {path: "$.parts[2].size", equals: 1234}
            - {path: "$.parts[3].filename", equals: blob.bin}
            - {path: "$.parts[3].content_type", equals: application/octet-stream}
            - {path: "$.parts[3].size", equals: 65536}
            - {path: "$.parts[4].filename", equals: t.txt}
            - {path: "$.parts[4].content_type", equals: text/plain}
            - {path: "$.parts[4].size", equals: 10}
load: {users: 1, duration: 1s}
"#;
    let file = dir.path().join("up.yaml");
    let (r, _) = run_yaml(yaml, &server.url(), &file, out.path()).await;
    let s = r.step("upload").unwrap();
    assert!(s.summary.requests >= 5, "{}", s.summary.requests);
    assert_eq!(s.summary.errors, 0);
    assert_eq!(s.summary.check_failed, 0, "{:?}", s.checks);
    server.shutdown().await;
}

#[test]
fn every_example_of_items_5_and_6_validates() {
    for f in ["custom-metrics", "uploads", "batch"] {
        let path = format!("{}/scenarios/examples/{f}.yaml", env!("CARGO_MANIFEST_DIR"));
        scenario::load(Path::new(&path)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}
