//! Issue 16: `--remote-write URL` against the real Prometheus (Debian's, started here with
//! its remote-write receiver and native histograms on a free loopback port): the counters
//! it stores are result.json's, and its quantiles over the native histograms are
//! result.json's within a schema-3 bucket (about 9 %). A remote that is down or failing
//! costs the load nothing, and the run reports what it could not send.
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Tool, only_dir, result_json, skein, text, tool};
use skein::demo::{self, DemoConfig, RouteConfig};

const PROMETHEUS: Tool = Tool {
    name: "prometheus",
    purpose: "receive skein's remote write and query it back",
    path_var: "SKEIN_PROMETHEUS",
    commands: &["prometheus"],
    install: "apt-get install -y prometheus",
};

/// One load test at a time: the runs compare request counts on a 2-core machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A free loopback port (nothing listens on it once this returns).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Prometheus, killed (by its pid) when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(bin: &Path) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("prometheus.yml");
        fs::write(&conf, "global: {}\n").unwrap();
        let port = free_port();
        let log = fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--enable-feature=native-histograms")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Prometheus {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = get(port, "/-/ready")
                && r.starts_with("HTTP/1.0 200")
            {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready after 60 s: {}",
                fs::read_to_string(p._dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// An instant query's result vector.
    fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", encode(q));
        let r = get(self.port, &path).unwrap();
        let body = r.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let v: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("query {q}: {e}: {r}"));
        assert_eq!(v["status"], "success", "query {q}: {v}");
        v["data"]["result"].as_array().unwrap().clone()
    }
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A plain HTTP/1.0 GET on loopback: the whole response, head and body.
fn get(port: u16, path: &str) -> std::io::Result<String> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// `products` takes exactly 20 ms.
fn demo_server(rt: &tokio::runtime::Runtime) -> demo::DemoServer {
    let config = DemoConfig::default()
        .without_jitter()
        .with_route("products", RouteConfig::fixed(Duration::from_millis(20)));
    rt.block_on(demo::serve("127.0.0.1:0".parse().unwrap(), config))
        .unwrap()
}

/// One step, GET /api/products, 20 iterations a second for `seconds`.
fn scenario(dir: &Path, url: &str, seconds: u64) -> PathBuf {
    let path = dir.join("rw.yaml");
    fs::write(
        &path,
        format!(
            "name: rw\ntarget: {url}\nscenarios:\n  - {{name: a, steps: [{{get: /api/products}}]}}\n\
             load: {{arrival_rate: 20/s, duration: {seconds}s, max_users: 10}}\n"
        ),
    )
    .unwrap();
    path
}

/// `skein run FILE -o OUT [extra]` (`--workers 1` unless `extra` says), at most 60 s.
fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut child = skein()
        .arg("run")
        .arg(scenario)
        .args(["--quiet", "--seed", "7", "-o"])
        .arg(out)
        .args(extra)
        .args(if extra.contains(&"--workers") {
            &[][..]
        } else {
            &["--workers", "1"][..]
        })
        .env_remove("SKEIN_REMOTE_WRITE_BEARER")
        .env_remove("SKEIN_REMOTE_WRITE_USER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("skein run still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn value(v: &serde_json::Value) -> f64 {
    v["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn issue16_remote_write_lands_in_prometheus_as_result_json_says() {
    let Some(bin) = tool(&PROMETHEUS) else { return };
    let _serial = serial();
    let prom = Prometheus::start(&bin);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = demo_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    // Long enough for a batch during the run (at 5 s) and one at the end.
    let scenario = scenario(dir.path(), &server.url(), 7);
    let out = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/api/v1/write", prom.port);
    // Two worker processes: the parent sends their merged seconds.
    let o = run(
        &scenario,
        out.path(),
        &["--remote-write", &url, "--workers", "2"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("not sent"), "{}", text(&o));
    let folder = only_dir(out.path());
    let run_id = folder.file_name().unwrap().to_str().unwrap().to_string();
    let r = result_json(&folder);
    let step = &r["steps"][0];
    let name = step["name"].as_str().unwrap();
    let requests = step["requests"].as_u64().unwrap();
    assert!(requests >= 130, "{requests} requests in 7 s at 20/s");

    // The counter's last value is the run's count, with the contract's labels.
    let sel = format!("{{run_id=\"{run_id}\"}}");
    let got = prom.query(&format!("skein_http_requests_total{sel}"));
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0]["metric"];
    assert_eq!(m["scenario"], "a");
    assert_eq!(m["step"], name);
    assert_eq!(m["shard"], "0/1");
    assert_eq!(m["job"], "skein");
    assert_eq!(value(&got[0]), requests as f64);
    // One sample at the end of each second, from both batches.
    let seconds = prom.query(&format!(
        "count_over_time(skein_http_requests_total{sel}[5m])"
    ));
    assert!((7.0..=9.0).contains(&value(&seconds[0])), "{seconds:?}");
    let hists = prom.query(&format!(
        "count_over_time(skein_http_request_duration_seconds{sel}[5m])"
    ));
    assert_eq!(value(&hists[0]), value(&seconds[0]), "{hists:?}");
    // No errors, and the gauges and the schedule are there.
    assert!(
        prom.query(&format!("skein_http_request_errors_total{sel}"))
            .is_empty()
    );
    let scheduled = prom.query(&format!("skein_iterations_scheduled_total{sel}"));
    assert_eq!(scheduled.len(), 1);
    assert!(
        (135.0..=145.0).contains(&value(&scheduled[0])),
        "{scheduled:?}"
    );
    for g in [
        "skein_users",
        "skein_generator_cpu_ratio",
        "skein_generator_scheduler_lag_seconds",
        "skein_check_failures_total",
        "skein_http_response_bytes_total",
    ] {
        assert_eq!(prom.query(&format!("{g}{sel}")).len(), 1, "{g}");
    }
    let info = prom.query(&format!("skein_run_info{sel}"));
    assert_eq!(info[0]["metric"]["name"], "rw");
    assert_eq!(info[0]["metric"]["model"], "open");

    // The native histograms: their count is the requests', their quantiles result.json's
    // within a bucket.
    let count = prom.query(&format!(
        "histogram_count(skein_http_service_duration_seconds{sel})"
    ));
    assert_eq!(value(&count[0]), requests as f64, "{count:?}");
    for (metric, field) in [
        ("skein_http_request_duration_seconds", "response_time"),
        ("skein_http_service_duration_seconds", "service_time"),
    ] {
        for q in ["p50", "p95", "p99"] {
            let want = step[field][format!("{q}_us")].as_u64().unwrap() as f64 / 1e6;
            let phi = format!("0.{}", &q[1..]);
            let got = prom.query(&format!("histogram_quantile({phi}, {metric}{sel})"));
            assert_eq!(got.len(), 1, "{metric} {q}: {got:?}");
            let got = value(&got[0]);
            // A schema-3 bucket is 2^(1/8) - 1 = 9.05 % wide.
            assert!(
                (got / want - 1.0).abs() <= 0.0906,
                "{metric} {q}: prometheus {got} s, result.json {want} s"
            );
        }
    }
    // The route takes 20 ms.
    let p50 = prom.query(&format!(
        "histogram_quantile(0.5, skein_http_service_duration_seconds{sel})"
    ));
    assert!((0.018..0.03).contains(&value(&p50[0])), "{p50:?}");
}

/// A remote-write endpoint that answers every request 500 after `delay`; returns its port.
fn failing_server(delay: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Bounded: enough for a run's few tries.
        for s in l.incoming().take(100) {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // The head, then as much body as it announced.
            let body_len = loop {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break Some((end + 4 + len).saturating_sub(buf.len()));
                }
            };
            let Some(mut left) = body_len else { continue };
            while left > 0 {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
            std::thread::sleep(delay);
            let _ = s.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\nboom",
            );
        }
    });
    port
}

#[test]
fn issue16_a_remote_that_is_down_or_failing_costs_the_load_nothing() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = demo_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path(), &server.url(), 3);
    let requests = |extra: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let o = run(&scenario, out.path(), extra);
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", text(&o));
        let r = result_json(&only_dir(out.path()));
        (r["overall"]["requests"].as_u64().unwrap(), o)
    };
    let (plain, o) = requests(&[]);
    assert!(!text(&o).contains("remote write"), "{}", text(&o));
    let closed = format!("http://user:secret@127.0.0.1:{}/api/v1/write", free_port());
    let failing = format!(
        "http://127.0.0.1:{}/api/v1/write",
        failing_server(Duration::ZERO)
    );
    // Slower than the run: its one try is still waiting when the run ends.
    let slow = format!(
        "http://127.0.0.1:{}/api/v1/write",
        failing_server(Duration::from_secs(8))
    );
    for (url, why) in [
        (closed.as_str(), "error"),
        (failing.as_str(), "500"),
        (slow.as_str(), ""),
    ] {
        let started = Instant::now();
        let (n, o) = requests(&["--remote-write", url]);
        // 3 s of load, and at most 5 s more waiting for the last batch.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{url}: {:?}",
            started.elapsed()
        );
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        // 20/s for 3 s: the open model starts the same iterations either way.
        assert!(
            n.abs_diff(plain) <= 3,
            "{url}: {n} requests, {plain} without remote write"
        );
        assert!(
            err.contains("samples not sent (0 sent)") && err.contains(why),
            "{url}: {err}"
        );
        assert!(!err.contains("secret"), "{err}");
    }
}

#[test]
fn issue16_a_bad_remote_write_url_exits_2_before_the_run_and_hides_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path(), "http://127.0.0.1:9", 1);
    let out = dir.path().join("out");
    let o = run(
        &scenario,
        &out,
        &["--remote-write", "ftp://user:secret@host/x"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("give an http:// or https:// URL"), "{err}");
    assert!(!err.contains("secret") && !err.contains("user"), "{err}");
    assert!(!out.exists(), "a results folder was made");
}
