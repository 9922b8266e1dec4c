//! Outage windows against a real server: nginx (from `/usr/sbin/nginx`, `SKEIN_NGINX`, or
//! `PATH`) on a free loopback port, under a steady open-model load. Stopped with SIGTERM
//! and started again at known instants, the measured outage must match the real
//! stop-to-ready window; reloaded with `nginx -s reload` (a zero-downtime reload), the run
//! must show no outage. Skips with a message when nginx is absent, unless
//! `SKEIN_REQUIRE_TOOLS=1`.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use skein::engine::{self, RunOptions};
use skein::metrics::RunResult;
use skein::scenario;

static ONE_RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NGINX: common::Tool = common::Tool {
    name: "nginx",
    purpose: "stop and reload a real server during a run",
    path_var: "SKEIN_NGINX",
    commands: &["nginx"],
    install: "apt-get install -y nginx",
};

/// nginx: `SKEIN_NGINX`, else `/usr/sbin/nginx` (not on a user's PATH), else PATH.
fn nginx() -> Option<PathBuf> {
    let sbin = Path::new("/usr/sbin/nginx");
    if std::env::var_os(NGINX.path_var).is_none() && sbin.is_file() {
        return Some(sbin.to_path_buf());
    }
    common::tool(&NGINX)
}

/// A free loopback port (bound, then released for nginx to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An nginx answering 200 at every path on `127.0.0.1:port`, its files in `dir`.
struct Nginx {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Nginx {
    fn new(bin: PathBuf, dir: &Path) -> Nginx {
        let port = free_port();
        let conf = format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             server {{\n    listen 127.0.0.1:{port};\n    \
             location / {{ default_type text/plain; return 200 'ok'; }}\n  }}\n}}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        Nginx {
            bin,
            dir: dir.to_path_buf(),
            port,
            child: None,
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .arg("-e")
            .arg(self.dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Start it; returns when its port accepts connections, with the instant of the first
    /// connection attempt that succeeded (polled every millisecond).
    fn start(&mut self) -> Instant {
        self.child = Some(self.command().spawn().expect("nginx starts"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let at = Instant::now();
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return at;
            }
            assert!(
                at < deadline,
                "nginx did not listen on {} in 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGTERM (nginx's fast shutdown); returns the instant it was sent, once it exited.
    fn stop(&mut self) -> Instant {
        let mut child = self.child.take().expect("running");
        let at = Instant::now();
        // SAFETY: kill(2) on the pid of our own child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        child.wait().unwrap();
        at
    }

    /// `nginx -s reload`: new workers with the configuration read again, the old ones end
    /// gracefully.
    fn reload(&self) {
        let st = self.command().args(["-s", "reload"]).status().unwrap();
        assert!(st.success(), "nginx -s reload failed");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: as in `stop`.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }
}

/// A steady open-model load of `rate`/s for `secs` against `url`.
async fn run_load(url: &str, out: &Path, rate: u32, secs: u32) -> RunResult {
    let text = format!(
        "target: {url}\nname: availability\ndefaults: {{timeout: 2s}}\n\
         scenarios:\n  - name: steady\n    steps:\n      - {{name: GET /, get: /, check: {{status: 200}}}}\n\
         load: {{arrival_rate: {rate}/s, duration: {secs}s}}\n"
    );
    let plan = scenario::parse_str(&text, Path::new("availability.yaml")).unwrap();
    let dir = engine::results_dir(out, &plan).unwrap();
    engine::run(&plan, RunOptions::new(dir, url)).await.unwrap()
}

/// Converts an [`Instant`] to µs on a run's timeline (from its `started_at`).
struct Clock {
    sys: SystemTime,
    at: Instant,
}

impl Clock {
    fn now() -> Clock {
        Clock {
            sys: SystemTime::now(),
            at: Instant::now(),
        }
    }

    fn run_us(&self, r: &RunResult, i: Instant) -> i64 {
        let started: SystemTime = chrono::DateTime::parse_from_rfc3339(&r.run.started_at)
            .unwrap()
            .into();
        let wall = self.sys + i.duration_since(self.at);
        match wall.duration_since(started) {
            Ok(d) => d.as_micros() as i64,
            Err(e) => -(e.duration().as_micros() as i64),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue19_nginx_stopped_and_started_mid_run_measures_the_real_outage() {
    let Some(bin) = nginx() else { return };
    let _one = ONE_RUN.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Nginx::new(bin, tmp.path());
    server.start();
    let clock = Clock::now();
    let url = server.url();
    // Stop at about 1.5 s into the run, start again at about 3 s; the run lasts 4.5 s.
    let chaos = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let stopped = server.stop();
        std::thread::sleep(Duration::from_millis(1500));
        let ready = server.start();
        (server, stopped, ready)
    });
    let out = tempfile::tempdir().unwrap();
    let r = run_load(&url, out.path(), 200, 4).await;
    // The run may end a little before the thread: 4 s of load, stop at 1.5 s, ready ~3 s.
    let (server, stopped, ready) = chaos.join().unwrap();
    drop(server);
    let a = r.availability.as_ref().expect("availability measured");
    let (stop_us, ready_us) = (clock.run_us(&r, stopped), clock.run_us(&r, ready));
    assert_eq!(
        a.outages.len(),
        1,
        "one outage expected (real {stop_us}..{ready_us} µs): {:?}",
        a.outages
    );
    let o = a.outages[0];
    let real = ready_us - stop_us;
    eprintln!(
        "real outage {:.1} ms ({:.1}..{:.1}), measured {:.1} ms ({:.1}..{:.1}), {} failures",
        real as f64 / 1e3,
        stop_us as f64 / 1e3,
        ready_us as f64 / 1e3,
        o.duration_us as f64 / 1e3,
        o.start_us as f64 / 1e3,
        o.end_us as f64 / 1e3,
        o.failures
    );
    let close = |m: u64, t: i64| (m as i64 - t).abs() <= 100_000;
    assert!(
        close(o.start_us, stop_us),
        "start {} µs, SIGTERM at {stop_us}",
        o.start_us
    );
    assert!(
        close(o.end_us, ready_us),
        "end {} µs, ready at {ready_us}",
        o.end_us
    );
    assert!(
        close(o.duration_us, real),
        "measured {} µs, real {real}",
        o.duration_us
    );
    assert!(!o.open_at_end);
    assert!(o.failures > 100, "{} failures", o.failures);
    assert_eq!(a.max_outage_us, o.duration_us);
    // Availability: about (4 - 1.5) / 4 of the requests succeeded, per second too.
    assert!(
        (0.45..0.8).contains(&a.availability),
        "availability {}",
        a.availability
    );
    let dip = r
        .timeseries
        .iter()
        .filter_map(|p| p.availability)
        .fold(1.0f64, f64::min);
    assert!(dip < 0.05, "the second fully down shows availability {dip}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue19_nginx_reload_mid_run_is_no_outage() {
    let Some(bin) = nginx() else { return };
    let _one = ONE_RUN.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Nginx::new(bin, tmp.path());
    server.start();
    let url = server.url();
    let reloads = std::thread::spawn(move || {
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(1000));
            server.reload();
        }
        server
    });
    let out = tempfile::tempdir().unwrap();
    let r = run_load(&url, out.path(), 200, 3).await;
    drop(reloads.join().unwrap());
    let a = r.availability.as_ref().expect("availability measured");
    assert!(a.requests > 500, "{} requests", a.requests);
    assert_eq!(a.outages, vec![], "a graceful reload is no outage");
    assert_eq!(a.max_outage_us, 0);
    assert_eq!(a.availability, 1.0, "{:?}", r.overall.errors_by_kind);
}

/// Write `yaml` as a scenario file in `dir` and run it with the `skein` binary and `args`;
/// returns the run folder and the process output.
fn skein_run(dir: &Path, yaml: &str, args: &[&str]) -> (PathBuf, std::process::Output) {
    let file = dir.join("scenario.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = dir.join("out");
    let o = common::skein()
        .arg("run")
        .arg(&file)
        .arg("--quiet")
        .arg("--output")
        .arg(&out)
        .args(args)
        .output()
        .unwrap();
    (common::only_dir(&out), o)
}

#[test]
fn issue19_workers_merge_the_outage_each_one_saw() {
    let Some(bin) = nginx() else { return };
    let _one = ONE_RUN.blocking_lock();
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Nginx::new(bin, tmp.path());
    server.start();
    let yaml = format!(
        "name: workers\ntarget: {}\ndefaults: {{timeout: 2s}}\n\
         scenarios:\n  - name: steady\n    steps:\n      - {{name: GET /, get: /, check: {{status: 200}}}}\n\
         load: {{arrival_rate: 200/s, duration: 5s}}\n\
         targets:\n  - max_outage < 2s\n  - availability >= 99.9%\n",
        server.url()
    );
    let clock = Clock::now();
    let chaos = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2000));
        let stopped = server.stop();
        std::thread::sleep(Duration::from_millis(1200));
        let ready = server.start();
        (server, stopped, ready)
    });
    let (dir, o) = skein_run(tmp.path(), &yaml, &["--workers", "2"]);
    let (server, stopped, ready) = chaos.join().unwrap();
    drop(server);
    // availability >= 99.9% fails (exit 1); max_outage < 2s passes.
    assert_eq!(o.status.code(), Some(1), "{}", common::text(&o));
    let r = skein::metrics::load_result(&dir).unwrap();
    assert_eq!(r.run.workers, Some(2));
    let parts = skein::metrics::merge::worker_folders(&dir);
    assert_eq!(parts.len(), 2);
    for p in &parts {
        let part = skein::metrics::load_result(p).unwrap();
        let a = part.availability.unwrap();
        assert_eq!(
            a.outages.len(),
            1,
            "each worker saw the outage: {:?}",
            a.outages
        );
    }
    let a = r.availability.as_ref().expect("merged availability");
    assert_eq!(a.outages.len(), 1, "{:?}", a.outages);
    let o = a.outages[0];
    let (stop_us, ready_us) = (clock.run_us(&r, stopped), clock.run_us(&r, ready));
    eprintln!(
        "--workers 2: real outage {:.1} ms ({:.1}..{:.1}), merged {:.1} ms ({:.1}..{:.1})",
        (ready_us - stop_us) as f64 / 1e3,
        stop_us as f64 / 1e3,
        ready_us as f64 / 1e3,
        o.duration_us as f64 / 1e3,
        o.start_us as f64 / 1e3,
        o.end_us as f64 / 1e3,
    );
    let close = |m: u64, t: i64| (m as i64 - t).abs() <= 100_000;
    assert!(
        close(o.start_us, stop_us),
        "start {} µs, SIGTERM at {stop_us}",
        o.start_us
    );
    assert!(
        close(o.end_us, ready_us),
        "end {} µs, ready at {ready_us}",
        o.end_us
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let t = &summary["targets"][0];
    assert_eq!(t["metric"], "max_outage");
    assert_eq!(t["status"], "pass");
    assert_eq!(t["measured"].as_f64().unwrap(), o.duration_us as f64);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("### Availability") && md.contains("| 1 | "),
        "{md}"
    );
}

/// Two real runs against the demo: the second, with `--baseline` the first, takes each
/// target's "before" from the first run's measurement; without it, the plan's figures.
#[test]
fn issue19_before_after_from_the_plan_and_from_an_earlier_run() {
    let yaml = "name: phase9-small\ntarget: embedded:phase9\n\
                scenarios:\n  - name: browse\n    steps:\n      \
                - {name: home, page: /, tags: [page], check: {status: 200}}\n      \
                - {name: products, get: /api/products, tags: [api], check: {status: 200}}\n\
                load: {arrival_rate: 10/s, duration: 2s}\n\
                targets:\n  - preset: phase9\n  - max_outage < 1s\n";
    let a_tmp = tempfile::tempdir().unwrap();
    let (a_dir, o) = skein_run(a_tmp.path(), yaml, &[]);
    // `users >= 1000` of the preset fails at 10 iterations a second.
    assert_eq!(o.status.code(), Some(1), "{}", common::text(&o));
    let before = common::result_json(&a_dir);
    let a_summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a_dir.join("summary.json")).unwrap()).unwrap();
    let api = |s: &serde_json::Value| {
        s["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["source"] == "preset phase9: API response time")
            .cloned()
            .unwrap()
    };
    // The plan's figure: API 200-300 ms, so 250 ms.
    assert_eq!(api(&a_summary)["baseline"].as_f64(), Some(250_000.0));
    let md = std::fs::read_to_string(a_dir.join("report.md")).unwrap();
    assert!(md.contains("### Before / after"), "{md}");
    assert!(md.contains("the plan's pre-optimisation figures"), "{md}");
    assert!(
        md.contains("| API response time | `mean(tag=\"api\") < 100ms` | 250.0ms |"),
        "{md}"
    );

    let b_tmp = tempfile::tempdir().unwrap();
    let (b_dir, o) = skein_run(b_tmp.path(), yaml, &["--baseline", a_dir.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(2), "{}", common::text(&o));
    let b_summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b_dir.join("summary.json")).unwrap()).unwrap();
    let (a_api, b_api) = (api(&a_summary), api(&b_summary));
    // The before is what the first run measured, the same metric over the same requests.
    assert_eq!(b_api["baseline"], a_api["measured"]);
    assert_eq!(b_api["baseline_run"], before["run"]["id"]);
    let (b, m) = (
        b_api["baseline"].as_f64().unwrap(),
        b_api["measured"].as_f64().unwrap(),
    );
    let imp = b_api["improvement_pct"].as_f64().unwrap();
    assert!((imp - (b - m) / b * 100.0).abs() < 1e-9, "{imp}");
    let md = std::fs::read_to_string(b_dir.join("report.md")).unwrap();
    let id = before["run"]["id"].as_str().unwrap();
    assert!(md.contains(&format!("run {id} (--baseline)")), "{md}");
    // Every target gets a before from the earlier run, max_outage included.
    let rows = md.split("### Before / after").nth(1).unwrap();
    assert!(rows.contains("`max_outage < 1s`"), "{md}");

    // `skein report --baseline` fills it the same way; without, the plan's figures again.
    let o = common::skein()
        .arg("report")
        .arg(&b_dir)
        .arg("--baseline")
        .arg(&a_dir)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(2), "{}", common::text(&o));
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(api(&again)["baseline"], a_api["measured"]);
    assert!(
        common::text(&o).contains("before / after"),
        "{}",
        common::text(&o)
    );
    let o = common::skein().arg("report").arg(&b_dir).output().unwrap();
    assert_ne!(o.status.code(), Some(2), "{}", common::text(&o));
    let plain: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(api(&plain)["baseline"].as_f64(), Some(250_000.0));
    assert!(api(&plain).get("baseline_run").is_none());
}
