//! Whole-load benchmarks of the engine: how soon the first request goes out, how much memory
//! 10,000 users take, and what recording every request costs in throughput.
//!
//! Not criterion: each measurement is a complete, bounded load over loopback. Each runs in
//! its own child process (this binary re-executed with `--skein-child NAME`), so the peak RSS
//! it reports (`VmHWM`, read inside the child at the end) belongs to that measurement alone.
//! The demo target runs in a further child process (`--skein-demo`), so the generator's
//! memory is measured without the server's and no baseline is subtracted. Every child has a
//! hard timeout (a watchdog inside it, and a kill from its parent).
//!
//! The demo child polls its own counters: it notes the monotonic time (CLOCK_MONOTONIC is
//! shared by all processes) of the first response, and counts its accepted connections (open
//! descriptors) to tell when every user has sent its first request.
//!
//! Run: `cargo bench --bench core`, or `cargo bench --bench core -- startup|memory|recording`
//! for one measurement; `cargo bench --bench core -- soak` (1,000 users for 10 minutes,
//! `SKEIN_SOAK_SECS` to change) runs only when named.
//! Needs `[[bench]] name = "core" harness = false` in Cargo.toml.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use skein::demo::{DemoConfig, serve};
use skein::engine::{self, RunOptions};
use skein::metrics::RunResult;
use skein::scenario;

/// Key-value pairs a child reports on its `RESULT` lines.
type Fields = BTreeMap<String, String>;

const CHILD: &str = "--skein-child";
const DEMO: &str = "--skein-demo";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(DEMO) => demo_child(&args[1..]),
        Some(CHILD) => generator_child(&args[1..]),
        // cargo passes `--bench`; anything else that is not a flag selects measurements.
        _ => {
            let only: Vec<&str> = args
                .iter()
                .filter(|a| !a.starts_with('-'))
                .map(String::as_str)
                .collect();
            parent(&only);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parent: runs each measurement in a child and prints one line per figure.

fn parent(only: &[&str]) {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o));
    println!(
        "skein core bench: {} CPUs, each measurement in its own process, demo target in another",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if wanted("startup") {
        startup();
    }
    if wanted("memory") {
        memory_10k();
    }
    if wanted("recording") {
        recording_cost();
    }
    // Ten minutes: only when asked for by name.
    if only.contains(&"soak") {
        soak();
    }
}

/// Seconds the soak runs (`SKEIN_SOAK_SECS`, default 600).
fn soak_secs() -> u64 {
    std::env::var("SKEIN_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600)
}

fn soak() {
    let secs = soak_secs();
    let Some(r) = run_child("soak", Duration::from_secs(secs + 120)) else {
        println!("soak: no result (goal: memory flat after the first minute, not met)");
        return;
    };
    let samples: Vec<(f64, f64)> = r
        .get("rss_series")
        .map(|s| {
            s.split(',')
                .filter_map(|p| {
                    let (t, kb) = p.split_once(':')?;
                    Some((t.parse().ok()?, kb.parse::<f64>().ok()? / 1000.0))
                })
                .collect()
        })
        .unwrap_or_default();
    let after: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| *t >= 60.0)
        .collect();
    if after.len() < 3 {
        println!(
            "soak: too few RSS samples after the first minute ({})",
            after.len()
        );
        return;
    }
    let at_1min = after[0].1;
    let end = after[after.len() - 1].1;
    let max = after.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    // Least-squares slope over the samples after the first minute, MB per minute.
    let n = after.len() as f64;
    let (mt, mr) = (
        after.iter().map(|s| s.0).sum::<f64>() / n,
        after.iter().map(|s| s.1).sum::<f64>() / n,
    );
    let slope = after.iter().map(|s| (s.0 - mt) * (s.1 - mr)).sum::<f64>()
        / after.iter().map(|s| (s.0 - mt).powi(2)).sum::<f64>()
        * 60.0;
    println!(
        "  soak run: {} requests, {} errors ({}), {:.0} requests/s; RSS every 10 s (MB): {}",
        int(&r, "requests"),
        int(&r, "errors"),
        r.get("errors_by_kind").map_or("-", String::as_str),
        num(&r, "result_rps"),
        samples
            .iter()
            .map(|s| format!("{:.0}", s.1))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let flat = max <= at_1min * 1.05 + 2.0 && slope.abs() < 0.5;
    println!(
        "soak (1000 users, think 1s, {secs} s, GET /health): generator RSS {at_1min:.1} MB at \
         1 min, {end:.1} MB at the end, {max:.1} MB at most after the first minute, slope \
         {slope:+.2} MB/min (goal: flat after the first minute, within 5 % and 0.5 MB/min, {})",
        met(flat)
    );
}

fn startup() {
    let mut firsts = Vec::new();
    for i in 0..3 {
        let Some(r) = run_child("startup", Duration::from_secs(60)) else {
            println!("startup: run {} failed", i + 1);
            continue;
        };
        let first = ms(&r, "first_ms");
        println!(
            "  startup run {}: first request {first:.1} ms; {} requests, {} errors, peak users {}, \
             generator peak RSS {:.1} MB",
            i + 1,
            int(&r, "requests"),
            int(&r, "errors"),
            int(&r, "peak_users"),
            mb(&r, "hwm_kb"),
        );
        firsts.push(first);
    }
    if firsts.is_empty() {
        println!("startup: no result (goal: first request within 1 s, not met)");
        return;
    }
    let worst = firsts.iter().cloned().fold(f64::MIN, f64::max);
    println!(
        "startup (1000 users, ramp 1000/s, GET /health): first request {:.1} ms median, \
         {worst:.1} ms worst of {} (goal: first request within 1 s, {})",
        median(&mut firsts),
        firsts.len(),
        met(worst <= 1000.0)
    );
}

fn memory_10k() {
    let Some(r) = run_child("memory", Duration::from_secs(120)) else {
        println!("10k memory: no result (goal: < 300 MB, not met)");
        return;
    };
    let hwm = mb(&r, "hwm_kb");
    println!(
        "  10k run: {} requests, {} errors ({}), peak users {}, demo saw {} connections at most; \
         generator RSS {:.1} MB before the run, {:.1} MB at the end; demo peak RSS {:.1} MB",
        int(&r, "requests"),
        int(&r, "errors"),
        r.get("errors_by_kind").map_or("-", String::as_str),
        int(&r, "peak_users"),
        int(&r, "max_conns"),
        mb(&r, "rss_before_kb"),
        mb(&r, "rss_end_kb"),
        mb(&r, "demo_hwm_kb"),
    );
    if let Some(series) = r.get("rss_series") {
        let mb: Vec<String> = series
            .split(',')
            .filter_map(|p| p.split_once(':'))
            .map(|(t, kb)| format!("{t}s:{:.0}", kb.parse::<f64>().unwrap_or(0.0) / 1000.0))
            .collect();
        println!("  10k RSS while running (MB): {}", mb.join(" "));
    }
    println!(
        "10k memory (10,000 users, ramp 5000/s, think 1s, hold 10s, GET /health): generator \
         peak RSS {hwm:.1} MB = {:.1} KB per user (goal: < 300 MB, {})",
        hwm * 1000.0 / 10_000.0,
        met(hwm < 300.0)
    );
    println!(
        "10k first request: {:.1} ms after engine::run (goal: within 1 s, {})",
        ms(&r, "first_ms"),
        met(ms(&r, "first_ms") <= 1000.0)
    );
    let conns = r.get("all_conns_ms").and_then(|v| v.parse::<f64>().ok());
    println!(
        "10k all active: result.json timeseries reaches 10,000 users in the interval ending at \
         {} s; every user's connection accepted by {} (plan: 2.0 s ramp; goal: none, info)",
        r.get("all_users_s").map_or("never", String::as_str),
        conns.map_or("never".to_string(), |v| format!("{:.2} s", v / 1000.0)),
    );
}

fn recording_cost() {
    let (mut on, mut off) = (Vec::new(), Vec::new());
    let (mut cpu_on, mut cpu_off) = (Vec::new(), Vec::new());
    for round in 1..=3 {
        for (kind, into, cpu) in [
            ("record-on", &mut on, &mut cpu_on),
            ("record-off", &mut off, &mut cpu_off),
        ] {
            let Some(r) = run_child(kind, Duration::from_secs(60)) else {
                println!("  {kind} round {round}: failed");
                continue;
            };
            let rps = num(&r, "window_rps");
            println!(
                "  {kind} round {round}: {rps:.0} rps (demo count, 1.0-4.8 s); whole run {:.0} \
                 rps by the demo, {} by result.json; generator CPU {:.2} us per request; peak RSS \
                 {:.1} MB",
                num(&r, "run_rps"),
                r.get("result_rps").map_or("-", String::as_str),
                num(&r, "cpu_us_per_req"),
                mb(&r, "hwm_kb"),
            );
            into.push(rps);
            cpu.push(num(&r, "cpu_us_per_req"));
        }
    }
    if on.is_empty() || off.is_empty() {
        println!("recording cost: no result (goal: at most 10% of throughput, not met)");
        return;
    }
    let spread = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
        format!("{lo:.0}-{hi:.0}")
    };
    let (spread_on, spread_off) = (spread(&on), spread(&off));
    let (a, b) = (median(&mut on), median(&mut off));
    let cost = 1.0 - a / b;
    println!(
        "recording on (64 users, no think time, 5 s, GET /health): {a:.0} rps median \
         (range {spread_on})"
    );
    println!("recording off: {b:.0} rps median (range {spread_off})");
    let (ca, cb) = (median(&mut cpu_on), median(&mut cpu_off));
    println!(
        "recording CPU: {ca:.2} us per request on, {cb:.2} off: {:+.1}% generator CPU per \
         request (less sensitive to other load on the machine than rps; info)",
        (ca / cb - 1.0) * 100.0
    );
    println!(
        "recording cost: on/off = {:.3}, {:.1}% of throughput (goal: at most 10%, {})",
        a / b,
        cost * 100.0,
        met(cost <= 0.10)
    );
}

/// Run `--skein-child kind`, kill it after `limit`, and collect its `RESULT` fields. Its
/// other output is echoed, indented.
fn run_child(kind: &str, limit: Duration) -> Option<Fields> {
    let exe = std::env::current_exe().expect("path of the bench binary");
    let mut child = Command::new(exe)
        .args([CHILD, kind, &limit.as_secs().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn a bench child");
    let out = child.stdout.take().expect("piped stdout");
    let tag = kind.to_string();
    let reader = std::thread::spawn(move || {
        let mut fields = Fields::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            match line.strip_prefix("RESULT ") {
                Some(rest) => fields.extend(parse_fields(rest)),
                None => println!("    [{tag}] {line}"),
            }
        }
        fields
    });
    let deadline = Instant::now() + limit + Duration::from_secs(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                println!("    [{kind}] hard timeout: killing pid {}", child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                println!("    [{kind}] wait: {e}");
                break None;
            }
        }
    };
    let fields = reader.join().unwrap_or_default();
    match status {
        Some(s) if s.success() && !fields.is_empty() => Some(fields),
        Some(s) => {
            println!("    [{kind}] child exited with {s}");
            None
        }
        None => None,
    }
}

fn parse_fields(s: &str) -> Fields {
    s.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn num(r: &Fields, k: &str) -> f64 {
    r.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

fn ms(r: &Fields, k: &str) -> f64 {
    num(r, k)
}

fn int(r: &Fields, k: &str) -> String {
    r.get(k).cloned().unwrap_or_else(|| "-".into())
}

/// kB (as /proc writes them: KiB) to MB (10^6 bytes).
fn mb(r: &Fields, k: &str) -> f64 {
    num(r, k) * 1024.0 / 1e6
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

// ---------------------------------------------------------------------------------------
// Generator child: starts the demo child, runs one load, reports.

fn generator_child(args: &[String]) {
    let kind = args.first().map(String::as_str).unwrap_or("");
    let limit = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    watchdog(Duration::from_secs(limit));
    let rss_before = proc_status_kb("VmRSS");
    // `memory:N` runs the 10k load with N users (for profiling by hand).
    let (kind, n) = kind.split_once(':').unwrap_or((kind, ""));
    let (users, yaml, window) = match kind {
        "startup" => (1000, STARTUP_YAML.to_string(), None),
        "memory" => {
            let n = n.parse().unwrap_or(10_000);
            (n, MEMORY_YAML.replace("10000", &n.to_string()), None)
        }
        "record-on" | "record-off" => (64, RECORDING_YAML.to_string(), Some((1.0, 4.8))),
        "soak" => (
            1000,
            SOAK_YAML.replace("SECS", &soak_secs().to_string()),
            None,
        ),
        _ => {
            eprintln!("unknown measurement {kind:?}");
            std::process::exit(2);
        }
    };
    let demo = Arc::new(Mutex::new(DemoProc::spawn(users, limit)));
    let url = demo.lock().unwrap().url.clone();
    let yaml = yaml.replace("TARGET", &url);
    let plan = scenario::parse_str(&yaml, Path::new("bench.yaml")).expect("bench scenario");
    let dir = tempfile::tempdir().expect("temporary results folder");
    let mut opts = RunOptions::new(dir.path().to_path_buf(), &url);
    opts.record = kind != "record-off";

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (t0, cpu0) = (mono_ns(), cpu_s());
    // Counts seen by the demo at two instants of the run, for a throughput without the ramp.
    let sampler = window.map(|(a, b): (f64, f64)| {
        let demo = demo.clone();
        std::thread::spawn(move || {
            let at = |s: f64| {
                sleep_until_ns(t0 + (s * 1e9) as u64);
                (mono_ns(), num(&demo.lock().unwrap().stats(), "total"))
            };
            (at(a), at(b))
        })
    });
    // The generator's RSS while it runs: every 10 s in the soak, every 0.5 s at 10k users.
    let rss_stop = Arc::new(AtomicBool::new(false));
    let period_ms = match kind {
        "soak" => Some(10_000u64),
        "memory" => Some(500),
        _ => None,
    };
    let rss_series = period_ms.map(|period_ms| {
        let stop = rss_stop.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                sleep_until_ns(t0 + k * period_ms * 1_000_000);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let t = (k * period_ms) as f64 / 1000.0;
                out.push(format!("{t}:{}", proc_status_kb("VmRSS")));
                k += 1;
            }
            out.join(",")
        })
    });
    let result = rt.block_on(engine::run(&plan, opts));
    rss_stop.store(true, Ordering::Relaxed);
    let (t_end, cpu) = (mono_ns(), cpu_s() - cpu0);
    let stats = demo.lock().unwrap().stats();
    let mut out = Fields::new();
    let mut put = |k: &str, v: String| {
        out.insert(k.to_string(), v);
    };
    let first = num(&stats, "first_ns");
    if first > 0.0 {
        put("first_ms", format!("{:.3}", (first - t0 as f64) / 1e6));
    }
    let conns = num(&stats, "all_conns_ns");
    if conns > 0.0 {
        put("all_conns_ms", format!("{:.1}", (conns - t0 as f64) / 1e6));
    }
    put("max_conns", int(&stats, "max_conns"));
    put("demo_hwm_kb", int(&stats, "hwm_kb"));
    let total = num(&stats, "total");
    put("cpu_us_per_req", format!("{:.2}", cpu * 1e6 / total));
    put(
        "run_rps",
        format!("{:.1}", total / ((t_end - t0) as f64 / 1e9)),
    );
    if let Some(s) = sampler {
        let ((ta, na), (tb, nb)) = s.join().expect("sampler thread");
        put(
            "window_rps",
            format!("{:.1}", (nb - na) / ((tb - ta) as f64 / 1e9)),
        );
    }
    if let Some(h) = rss_series {
        put("rss_series", h.join().expect("RSS sampler"));
    }
    match &result {
        Ok(r) => describe(r, users as u64, &mut put),
        Err(e) => {
            eprintln!("engine::run failed: {e}");
            std::process::exit(1);
        }
    }
    put("rss_before_kb", rss_before.to_string());
    put("rss_end_kb", proc_status_kb("VmRSS").to_string());
    put("hwm_kb", proc_status_kb("VmHWM").to_string());
    let line: Vec<String> = out.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
    // Closing the demo's stdin ends it.
    drop(demo);
    std::process::exit(0);
}

/// What result.json says: totals, errors by kind, and when the users reached `users`.
fn describe(r: &RunResult, users: u64, put: &mut impl FnMut(&str, String)) {
    put("requests", r.overall.requests.to_string());
    put("errors", r.overall.errors.to_string());
    put("peak_users", r.run.peak_users.to_string());
    put("result_rps", format!("{:.0}", r.overall.rps));
    let kinds: Vec<String> = r
        .overall
        .errors_by_kind
        .iter()
        .map(|(k, n)| format!("{k}:{n}"))
        .collect();
    put("errors_by_kind", format!("[{}]", kinds.join(",")));
    if let Some(p) = r.timeseries.iter().find(|p| p.users >= users) {
        put(
            "all_users_s",
            format!("{:.1}", (p.t_us + p.duration_us) as f64 / 1e6),
        );
    }
}

const STARTUP_YAML: &str = "
name: bench-startup
target: TARGET
scenarios:
  - name: health
    steps:
      - get: /health
load: {users: 1000, ramp: 1000/s, duration: 3s, graceful_stop: 1s}
";

const MEMORY_YAML: &str = "
name: bench-10k
target: TARGET
scenarios:
  - name: health
    think_time: 1s
    steps:
      - get: /health
load: {users: 10000, ramp: 5000/s, duration: 10s, graceful_stop: 2s}
";

const RECORDING_YAML: &str = "
name: bench-recording
target: TARGET
scenarios:
  - name: health
    steps:
      - get: /health
load: {users: 64, duration: 5s, graceful_stop: 1s}
";

const SOAK_YAML: &str = "
name: bench-soak
target: TARGET
scenarios:
  - name: health
    think_time: 1s
    steps:
      - get: /health
load: {users: 1000, ramp: 1000/s, duration: SECSs, graceful_stop: 2s}
";

/// The demo target in its own process, spoken to over its stdin and stdout.
struct DemoProc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    url: String,
}

impl DemoProc {
    fn spawn(expect_conns: usize, limit_s: u64) -> DemoProc {
        let exe = std::env::current_exe().expect("path of the bench binary");
        let mut child = Command::new(exe)
            .args([DEMO, &expect_conns.to_string(), &limit_s.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the demo child");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("demo URL");
        let url = line
            .trim()
            .strip_prefix("URL ")
            .unwrap_or_else(|| panic!("demo child said {line:?}"))
            .to_string();
        DemoProc {
            child,
            stdin,
            stdout,
            url,
        }
    }

    fn stats(&mut self) -> Fields {
        let Some(stdin) = self.stdin.as_mut() else {
            return Fields::new();
        };
        if writeln!(stdin, "stats")
            .and_then(|_| stdin.flush())
            .is_err()
        {
            return Fields::new();
        }
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        line.trim()
            .strip_prefix("STATS ")
            .map(parse_fields)
            .unwrap_or_default()
    }
}

impl Drop for DemoProc {
    fn drop(&mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Demo child: serves, watches its own counters, answers `stats` on stdin until EOF.

fn demo_child(args: &[String]) {
    let expect: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(1);
    let limit = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    watchdog(Duration::from_secs(limit + 5));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = rt
        .block_on(serve("127.0.0.1:0".parse().unwrap(), DemoConfig::default()))
        .expect("demo target");
    let server = Arc::new(server);
    let base_fds = count_fds();
    let first_ns = Arc::new(AtomicU64::new(0));
    let all_conns_ns = Arc::new(AtomicU64::new(0));
    let max_conns = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    {
        let (server, first_ns, all_conns_ns, max_conns, done) = (
            server.clone(),
            first_ns.clone(),
            all_conns_ns.clone(),
            max_conns.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            // Fine polling until the first response, then a connection count now and then.
            while !done.load(Ordering::Relaxed) && first_ns.load(Ordering::Relaxed) == 0 {
                if server.stats().total() > 0 {
                    first_ns.store(mono_ns(), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            while !done.load(Ordering::Relaxed) {
                let conns = count_fds().saturating_sub(base_fds) as u64;
                max_conns.fetch_max(conns, Ordering::Relaxed);
                if conns >= expect && all_conns_ns.load(Ordering::Relaxed) == 0 {
                    all_conns_ns.store(mono_ns(), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }
    println!("URL {}", server.url());
    let _ = std::io::stdout().flush();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        if line.trim() == "stats" {
            println!(
                "STATS total={} first_ns={} all_conns_ns={} max_conns={} hwm_kb={}",
                server.stats().total(),
                first_ns.load(Ordering::Relaxed),
                all_conns_ns.load(Ordering::Relaxed),
                max_conns.load(Ordering::Relaxed),
                proc_status_kb("VmHWM"),
            );
            let _ = std::io::stdout().flush();
        }
    }
    done.store(true, Ordering::Relaxed);
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the children.

/// Ends this process after `limit`, whatever it is doing.
fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("bench child {}: hard timeout {limit:?}", std::process::id());
        std::process::exit(124);
    });
}

/// CLOCK_MONOTONIC in ns: comparable between the processes of this bench.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into a valid, local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn sleep_until_ns(t: u64) {
    let now = mono_ns();
    if t > now {
        std::thread::sleep(Duration::from_nanos(t - now));
    }
}

/// User plus system CPU time of this process, in seconds.
fn cpu_s() -> f64 {
    // SAFETY: rusage is plain integers (all-zero is valid); getrusage writes into it.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// A `kB` line of /proc/self/status (`VmHWM`, `VmRSS`), 0 if absent.
fn proc_status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of this process.
fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}
