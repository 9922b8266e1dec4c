//! `--metrics-listen`: the run's live figures at `/metrics` while it runs. The test serves the
//! demo target itself, runs `skein run --workers 1 --metrics-listen 127.0.0.1:PORT`, scrapes
//! the endpoint while the run goes and once more at its end, and checks the exposition with
//! a real parser (prometheus-parse here, `promtool check metrics` when installed) and against
//! the run's `result.json`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::{Tool, only_dir, result_json, skein, tool};

use prometheus_parse::{Scrape, Value};
use skein::demo::{self, DemoConfig, RouteConfig};

const PROMTOOL: Tool = Tool {
    name: "promtool",
    purpose: "check the /metrics exposition with Prometheus's own parser and linter",
    path_var: "SKEIN_PROMTOOL",
    commands: &["promtool"],
    install: "apt-get install -y prometheus",
};

/// OpenMetrics, as Prometheus asks for it.
const OPENMETRICS: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
/// Only the Prometheus text format (0.0.4).
const CLASSIC: &str = "text/plain;version=0.0.4";

/// A free loopback port (bound, then let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET /metrics with `accept`: the content type and body of a 200, or `None` when nothing
/// answers.
fn get_metrics(addr: SocketAddr, accept: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Some((content_type, body.to_string()))
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("a parsable exposition")
}

/// A sample's value by metric and step (any scenario), for scalar samples.
fn by_step(s: &Scrape, metric: &str) -> BTreeMap<String, f64> {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter_map(|x| {
            let v = match x.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => return None,
            };
            Some((x.labels.get("step")?.to_string(), v))
        })
        .collect()
}

/// A histogram's cumulative buckets (le -> count) for one step.
fn buckets(s: &Scrape, metric: &str, step: &str) -> Vec<(f64, f64)> {
    let h = s
        .samples
        .iter()
        .find(|x| x.metric == metric && x.labels.get("step") == Some(step))
        .unwrap_or_else(|| panic!("no {metric} for {step}"));
    match &h.value {
        Value::Histogram(b) => b.iter().map(|c| (c.less_than, c.count)).collect(),
        v => panic!("{metric} is not a histogram: {v:?}"),
    }
}

fn promtool_check(promtool: &Path, text: &str) {
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition:\n{text}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A 3 s run of two steps (a 20 ms route and a fast one) scraped every 50 ms: the counters
/// grow while it runs, and the last scrape, at its end, has result.json's figures.
#[test]
fn scrape_endpoint_follows_the_run_and_ends_with_its_totals() {
    follows_the_run_and_ends_with_its_totals("1");
}

/// The same through a `--workers 2` run: its parent publishes the workers' seconds merged
/// (their counts added, their histograms merged exactly), and ends with the merged totals.
#[test]
fn issue16_a_workers_run_is_scraped_from_its_parent() {
    follows_the_run_and_ends_with_its_totals("2");
}

fn follows_the_run_and_ends_with_its_totals(workers: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = DemoConfig::default()
        .without_jitter()
        .with_route("products", RouteConfig::fixed(Duration::from_millis(20)))
        .with_route("health", RouteConfig::fixed(Duration::ZERO));
    let server = rt
        .block_on(demo::serve("127.0.0.1:0".parse().unwrap(), config))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scrape.yaml");
    fs::write(
        &scenario,
        format!(
            "name: scrape\n\
             target: {}\n\
             scenarios:\n\
             \x20 - name: browse\n    think_time: 10ms\n\
             \x20   steps: [{{get: /api/products}}, {{get: /health}}]\n\
             load: {{users: 4, duration: 3s}}\n",
            server.url()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let log = dir.path().join("skein.log");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = skein()
        .arg("run")
        .arg(&scenario)
        .args([
            "--workers",
            workers,
            "--metrics-listen",
            &addr.to_string(),
            "-o",
        ])
        .arg(&out)
        .stdout(Stdio::from(fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            fs::File::create(dir.path().join("err.log")).unwrap(),
        ))
        .spawn()
        .unwrap();

    // Scrape until the run has ended and the endpoint stopped answering (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut scrapes: Vec<(String, String)> = Vec::new(); // (openmetrics, classic)
    let status = loop {
        assert!(Instant::now() < deadline, "the run did not end within 60 s");
        let om = get_metrics(addr, OPENMETRICS);
        let classic = get_metrics(addr, CLASSIC);
        if let (Some((om_type, om)), Some((classic_type, classic))) = (om, classic) {
            assert!(
                om_type.starts_with("application/openmetrics-text"),
                "{om_type}"
            );
            assert!(classic_type.starts_with("text/plain"), "{classic_type}");
            scrapes.push((om, classic));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = fs::read_to_string(dir.path().join("err.log")).unwrap();
    assert!(status.success(), "skein run failed: {err}");
    assert!(
        err.contains(&format!("metrics: http://{addr}/metrics")),
        "{err}"
    );
    // Once the run has ended, nothing answers.
    assert!(get_metrics(addr, OPENMETRICS).is_none());

    let result = result_json(&only_dir(&out));
    let expected: BTreeMap<String, f64> = result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["requests"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 2, "{expected:?}");
    assert_eq!(result["overall"]["errors"], 0);

    // Scraped while the run went: at least twice with requests counted, never going down.
    let totals: Vec<f64> = scrapes
        .iter()
        .map(|(_, c)| {
            by_step(&parse(c), "skein_http_requests_total")
                .values()
                .sum()
        })
        .collect();
    let during = totals
        .iter()
        .filter(|&&t| t > 0.0 && t < expected.values().sum())
        .count();
    assert!(during >= 2, "scrapes during the run: {totals:?}");
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");

    // The last scrape, at the end: result.json's figures.
    let (om, classic) = scrapes.last().unwrap();
    let last = parse(classic);
    assert_eq!(by_step(&last, "skein_http_requests_total"), expected);
    for metric in [
        "skein_http_request_duration_seconds_count",
        "skein_http_service_duration_seconds_count",
    ] {
        assert_eq!(by_step(&last, metric), expected, "{metric}");
    }
    let errors = by_step(&last, "skein_http_request_errors_total");
    assert!(errors.is_empty(), "{errors:?}");
    let products = expected
        .keys()
        .find(|k| k.contains("/api/products"))
        .unwrap()
        .clone();
    let n = expected[&products];
    for metric in [
        "skein_http_request_duration_seconds",
        "skein_http_service_duration_seconds",
    ] {
        let b = buckets(&last, metric, &products);
        let at = |le: f64| b.iter().find(|(l, _)| *l == le).unwrap().1;
        assert_eq!(b.len(), 14, "{b:?}");
        assert_eq!(at(f64::INFINITY), n, "{metric}: {b:?}");
        // A 20 ms route: none within 10 ms, most within 25 ms.
        assert_eq!(at(0.01), 0.0, "{metric}: {b:?}");
        assert!(at(0.025) >= n * 0.5, "{metric}: {b:?}");
        assert!(b.windows(2).all(|w| w[0].1 <= w[1].1), "{metric}: {b:?}");
    }
    let sums = by_step(&last, "skein_http_service_duration_seconds_sum");
    let mean = sums[&products] / n;
    assert!((0.02..0.5).contains(&mean), "mean service time {mean}");

    // Run facts and gauges.
    let info = last
        .samples
        .iter()
        .find(|s| s.metric == "skein_run_info")
        .expect("skein_run_info");
    assert_eq!(info.labels.get("name"), Some("scrape"));
    assert_eq!(info.labels.get("model"), Some("closed"));
    assert_eq!(info.labels.get("run_id"), result["run"]["id"].as_str());
    for metric in [
        "skein_users",
        "skein_generator_cpu_ratio",
        "skein_generator_scheduler_lag_seconds",
        "skein_iterations_scheduled_total",
    ] {
        assert!(
            last.samples.iter().any(|s| s.metric == metric),
            "{metric} missing:\n{classic}"
        );
    }

    // The OpenMetrics form: the same counters, `_total` on samples, and the end marker.
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE skein_http_requests counter\n"), "{om}");
    assert!(
        om.contains("# TYPE skein_http_request_duration_seconds histogram\n"),
        "{om}"
    );
    let om_requests = by_step(&parse(om), "skein_http_requests_total");
    assert_eq!(om_requests, expected);

    // Prometheus's own parser and linter, on what it would scrape.
    if let Some(promtool) = tool(&PROMTOOL) {
        promtool_check(&promtool, classic);
    }
    rt.block_on(server.shutdown());
}

/// A bad or taken address is the user's error: exit 2, naming the flag.
#[test]
fn a_bad_or_taken_address_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.yaml");
    fs::write(
        &scenario,
        "target: http://127.0.0.1:9\nscenarios: [{name: s, steps: [{get: /}]}]\nload: {users: 1, duration: 1s}\n",
    )
    .unwrap();
    let o = skein()
        .arg("run")
        .arg(&scenario)
        .args(["--metrics-listen", "not-an-address", "-o"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", common::text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--metrics-listen"));

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = skein()
        .arg("run")
        .arg(&scenario)
        .args(["--quiet", "--workers", "1", "--metrics-listen", &addr, "-o"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", common::text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("--metrics-listen {addr}")), "{err}");
    // Refused before anything ran: no results folder.
    assert!(
        fs::read_dir(dir.path())
            .unwrap()
            .all(|e| !e.unwrap().path().is_dir())
    );
}
