//! Skein's throughput, memory and added latency side by side with wrk, oha and a bare goose
//! attack, against one loopback nginx, in the same run.
//!
//! This machine (like most CI machines) is shared and noisy, so absolute figures drift from
//! run to run; only ratios measured side by side mean anything. The bench therefore starts
//! nginx (`nginx.conf` here, a `return 200` route) pinned with `taskset` to the server
//! cores and runs each generator in turn, pinned to the generator cores, against the same URL
//! at the same concurrency for the same time:
//!
//! - `wrk` and `oha`, when installed (said when they are not);
//! - a bare goose 0.19 attack built here, the floor Skein builds on: one closure transaction
//!   that GETs the URL and reads the body, one client per user (goose's default), goose's own
//!   metrics off, users = connections (`goose_floor.rs`, in a child process);
//! - `skein quick URL -u CONNS -d SECONDS -q` (the release binary cargo builds for benches);
//! - `base`: the same with the binary `SKEIN_BASE_BIN` names, when set (an earlier build, so a
//!   change is measured before and after in the same rounds: ratio `skein/base`);
//! - `shards`: the same load as `--shards N` processes (`skein quick URL --shard i/N
//!   --workers 1` with one `--start-at`), as a run split across machines would be, then
//!   `skein merge`: requests/s is the merged run's, CPU the shards' together, RSS the largest
//!   shard's (ratio `skein/shards`: what splitting one machine's load into shards costs).
//!
//! For each it prints requests/s, peak RSS (of the largest single process), CPU time and CPU
//! per request (from `wait4`'s rusage of the child, `procs.rs`), then the ratios
//! skein/goose, skein/oha and skein/wrk. CPU per request is the figure least disturbed by
//! other load on the machine. `--latency` adds a low-load
//! comparison (10 users, 100 requests/s): wrk with a per-connection delay (Debian's wrk is not
//! wrk2 and has no `-R`), oha `-q`, skein's open model (`--rate`) and closed model
//! (`--think`), each one's p50 and p99, and skein's p50 minus wrk's.
//!
//! `--tls` (`tls.rs`) adds rows `https/1.1` and `https/2`: nginx also serves the route over
//! TLS (a self-signed certificate made with `openssl` at start) and wrk (HTTP/1.1 only, when
//! its build has TLS), oha (`--insecure`, `--http2`) and skein (`skein run` of a scenario
//! with `defaults: {insecure: true}` and `http_version`) run against it, with the same
//! figures and ratios as the plain rows. `--open RATE[,RATE...]` (`open.rs`) compares the open
//! model at each rate, skein `quick --rate` against `oha -q R --latency-correction`: achieved
//! rate, skein's dropped iterations, p50/p99, generator CPU; `--open max` searches each one's
//! highest rate sustained on the generator cores (achieved ≥ 99 % of offered, p99 under
//! 10 ms, generator not saturated). `--memory USERS` (`memory.rs`) measures skein's peak
//! memory with USERS users holding kept-alive connections (think time 1 s), plain and, with
//! `--tls`, HTTPS. `--no-plain` leaves out the plain closed-model rounds.
//!
//! Every child has a hard time limit and is killed if the bench dies (`PR_SET_PDEATHSIG`);
//! nginx is stopped at the end, on error and on SIGINT/SIGTERM/SIGHUP. Only 127.0.0.1 is used.
//!
//! Run: `cargo bench --bench side_by_side -- [--conns 64] [--seconds 5] [--rounds 1]
//! [--cores-server 0 --cores-gen 1] [--latency] [--tools wrk,oha,goose,skein,base] [--tls]
//! [--open 10000,50000|max] [--open-users 500] [--memory 10000] [--no-plain]`.
//! Needs `[[bench]] name = "side_by_side" harness = false` in Cargo.toml, and Debian's
//! `nginx-light` (or `nginx`); `wrk` and `oha` are optional, `openssl` is needed for `--tls`.

mod goose_floor;
mod memory;
mod open;
mod procs;
mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use procs::{Exited, Nginx, pinned};

/// The skein binary cargo built with this bench; `SKEIN_BIN` names another (a copy of both
/// carried to a bigger machine).
fn skein_bin() -> std::ffi::OsString {
    std::env::var_os("SKEIN_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_skein").into())
}

/// A second skein binary to measure beside the first in every round (`base` in the tables,
/// ratio `skein/base`): an earlier build, to tell a change's effect from the machine's noise.
fn base_bin() -> Option<std::ffi::OsString> {
    std::env::var_os("SKEIN_BASE_BIN")
}
const TOOLS: [&str; 6] = ["wrk", "oha", "goose", "skein", "base", "shards"];

fn main() {
    if let Ok(spec) = std::env::var(goose_floor::ENV) {
        goose_floor::child(&spec);
        return;
    }
    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("side_by_side: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    // `cargo bench NAME` passes NAME to every bench: run only when it names this one.
    if !opts.filters.is_empty() && !opts.filters.iter().any(|f| "side_by_side".contains(f)) {
        return;
    }
    let Some(nginx) = procs::find_nginx() else {
        // A bench, not a test: say what is missing and leave `cargo bench` to the others.
        println!("side_by_side: skipped: nginx not found (apt-get install nginx-light)");
        return;
    };
    raise_nofile_limit();
    if let Err(e) = run(&opts, &nginx) {
        eprintln!("side_by_side: {e}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: cargo bench --bench side_by_side -- [--conns N] [--seconds S] \
[--rounds N] [--cores-server CPUS] [--cores-gen CPUS] [--tools wrk,oha,goose,skein,base,shards] \
[--shards N] [--latency] [--latency-only] [--rate N] [--latency-users N] [--tls] \
[--open RATE[,RATE...]|max] [--open-users N] [--memory USERS] [--no-plain]";

// ---------------------------------------------------------------------------------------
// Options

struct Opts {
    conns: usize,
    seconds: u64,
    rounds: usize,
    cores_server: String,
    cores_gen: String,
    tools: Vec<String>,
    throughput: bool,
    latency: bool,
    /// Low-load comparison: requests per second, and users (connections).
    rate: u64,
    latency_users: usize,
    /// The `shards` tool's number of shard processes.
    shards: usize,
    /// `--tls`: the closed-model rounds again over HTTPS, HTTP/1.1 and HTTP/2.
    tls: bool,
    /// `--open`: open-model rates to compare (requests a second), and whether to search for
    /// the highest sustainable one (`max`); the pool's users and oha's connections.
    open_rates: Vec<u64>,
    open_max: bool,
    open_users: usize,
    /// `--memory USERS`: peak memory with this many users, plain and (with `--tls`) HTTPS.
    memory_users: Option<usize>,
    /// Names given without a dash, as `cargo bench NAME` passes them to every bench.
    filters: Vec<String>,
}

impl Opts {
    fn parse(args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut o = Opts {
            conns: 64,
            seconds: 5,
            rounds: 1,
            cores_server: "0".into(),
            cores_gen: if cpus >= 2 { "1" } else { "0" }.into(),
            tools: TOOLS.iter().map(|t| t.to_string()).collect(),
            throughput: true,
            latency: false,
            rate: 100,
            latency_users: 10,
            shards: 2,
            tls: false,
            open_rates: Vec::new(),
            open_max: false,
            open_users: 500,
            memory_users: None,
            filters: Vec::new(),
        };
        let mut args = args.peekable();
        while let Some(a) = args.next() {
            let mut value =
                |name: &str| args.next().ok_or_else(|| format!("`{name}` needs a value"));
            let number = |name: &str, v: String| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("`{name} {v}`: expected a whole number above 0"))
            };
            match a.as_str() {
                // cargo passes `--bench` to every bench target.
                "--bench" => {}
                "--conns" | "-c" => o.conns = number(&a, value(&a)?)? as usize,
                "--seconds" | "-d" => o.seconds = number(&a, value(&a)?)?,
                "--rounds" => o.rounds = number(&a, value(&a)?)? as usize,
                "--rate" => o.rate = number(&a, value(&a)?)?,
                "--latency-users" => o.latency_users = number(&a, value(&a)?)? as usize,
                "--shards" => o.shards = number(&a, value(&a)?)? as usize,
                "--cores-server" => o.cores_server = cpu_list(&a, value(&a)?)?,
                "--cores-gen" => o.cores_gen = cpu_list(&a, value(&a)?)?,
                "--latency" => o.latency = true,
                "--tls" => o.tls = true,
                "--no-plain" => o.throughput = false,
                "--open-users" => o.open_users = number(&a, value(&a)?)? as usize,
                "--memory" => o.memory_users = Some(number(&a, value(&a)?)? as usize),
                "--open" => {
                    for r in value(&a)?.split(',').map(str::trim) {
                        match r {
                            "max" => o.open_max = true,
                            _ => o.open_rates.push(number(&a, r.to_string())?),
                        }
                    }
                }
                "--latency-only" => (o.latency, o.throughput) = (true, false),
                "--tools" => {
                    o.tools = value(&a)?
                        .split(',')
                        .map(|t| t.trim().to_string())
                        .collect();
                    if let Some(bad) = o.tools.iter().find(|t| !TOOLS.contains(&t.as_str())) {
                        return Err(format!(
                            "`--tools`: unknown tool `{bad}` (one of {TOOLS:?})"
                        ));
                    }
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                _ if !a.starts_with('-') => o.filters.push(a),
                _ => return Err(format!("unknown argument `{a}`")),
            }
        }
        Ok(o)
    }

    fn wants(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }
}

/// Check a taskset CPU list (`1`, `8-15`, `0,2`) and return it.
fn cpu_list(name: &str, v: String) -> Result<String, String> {
    match count_cpus(&v) {
        Some(n) if n > 0 => Ok(v),
        _ => Err(format!(
            "`{name} {v}`: expected a CPU list such as 1, 8-15 or 0,2"
        )),
    }
}

/// How many CPUs a taskset list names.
fn count_cpus(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.split(',') {
        n += match part.split_once('-') {
            Some((a, b)) => b.trim().parse::<usize>().ok()? + 1 - a.trim().parse::<usize>().ok()?,
            None => part.trim().parse::<usize>().map(|_| 1).ok()?,
        };
    }
    Some(n)
}

// ---------------------------------------------------------------------------------------
// The runs

fn run(opts: &Opts, nginx: &Path) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("creating a temporary folder: {e}"))?;
    procs::stop_nginx_on_signals();
    let mut nginx = Nginx::start(nginx, &opts.cores_server, tmp.path(), opts.tls)?;
    let url = nginx.url.clone();
    let installed: BTreeMap<&str, Option<PathBuf>> =
        [("wrk", which("wrk")), ("oha", which("oha"))].into();
    println!(
        "side by side: {url} (nginx {}, {} worker(s) on CPUs {}); generators on CPUs {}; \
         machine: {} CPUs, load average {}",
        nginx.version,
        count_cpus(&opts.cores_server).unwrap_or(1),
        opts.cores_server,
        opts.cores_gen,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
    );
    for (tool, path) in &installed {
        if opts.wants(tool) && path.is_none() {
            println!(
                "{tool}: not installed, skipped (Debian: apt-get install wrk; oha: cargo install oha)"
            );
        }
    }
    let ctx = Ctx {
        opts,
        url,
        tls_url: nginx.tls_url.clone(),
        tmp: tmp.path().to_path_buf(),
        wrk: installed["wrk"].clone().filter(|_| opts.wants("wrk")),
        oha: installed["oha"].clone().filter(|_| opts.wants("oha")),
    };
    if opts.throughput {
        let mut rounds = Vec::new();
        for round in 0..opts.rounds {
            rounds.push(throughput_round(&ctx, round, &mut nginx)?);
        }
        if rounds.len() > 1 {
            print_medians(&rounds);
        }
    }
    if opts.tls {
        tls::rounds(&ctx, &mut nginx)?;
    }
    if !opts.open_rates.is_empty() || opts.open_max {
        open::compare(&ctx, &mut nginx)?;
    }
    if let Some(users) = opts.memory_users {
        memory::compare(&ctx, &mut nginx, users)?;
    }
    if opts.latency {
        latency_round(&ctx, &mut nginx)?;
    }
    nginx.stop();
    Ok(())
}

struct Ctx<'a> {
    opts: &'a Opts,
    url: String,
    /// With `--tls`: nginx's HTTPS port (HTTP/1.1 and HTTP/2).
    tls_url: Option<String>,
    tmp: PathBuf,
    wrk: Option<PathBuf>,
    oha: Option<PathBuf>,
}

/// What one generator did.
#[derive(Default, Clone)]
struct Figures {
    rps: f64,
    requests: f64,
    errors: f64,
    rss_kb: u64,
    cpu_s: f64,
    /// Wall time of the whole process (start-up and shutdown included).
    wall_s: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    /// Skein: its service time (send to last byte) next to its response time.
    svc_p50_us: Option<f64>,
    /// Skein's open model (result.json's `run.open_model`): iterations started a second of
    /// the scheduled time (`rps` divides by the whole run), and those never started.
    achieved: Option<f64>,
    dropped: Option<f64>,
    /// Skein: its generator threads' CPU, percent of their cores, and whether it judged
    /// itself saturated (result.json's `run.generator_health`).
    gen_cpu_pct: Option<f64>,
    saturated: Option<bool>,
    note: String,
}

type Round = BTreeMap<&'static str, Figures>;

impl Figures {
    /// The process's CPU time over its wall time, percent of one core.
    fn cpu_pct(&self) -> f64 {
        if self.wall_s > 0.0 {
            100.0 * self.cpu_s / self.wall_s
        } else {
            0.0
        }
    }
}

impl Exited {
    /// `f` with this process's peak RSS, CPU time and wall time.
    fn fill(&self, mut f: Figures) -> Figures {
        f.rss_kb = self.rss_kb;
        f.cpu_s = self.cpu_s;
        f.wall_s = self.wall_s;
        f
    }
}

fn throughput_round(ctx: &Ctx, round: usize, nginx: &mut Nginx) -> Result<Round, String> {
    let (c, s) = (ctx.opts.conns, ctx.opts.seconds);
    println!(
        "\nround {}/{}: {c} connections, {s} s, no think time",
        round + 1,
        ctx.opts.rounds
    );
    let mut order: Vec<&'static str> = TOOLS.to_vec();
    // A different tool goes first each round, so none always meets a cold or warm machine.
    let n = order.len();
    order.rotate_left(round % n);
    let mut figures = Round::new();
    for tool in order {
        nginx.check_alive()?;
        let got = match tool {
            "wrk" => ctx.wrk.as_ref().map(|w| wrk_throughput(ctx, w, &ctx.url)),
            "oha" => ctx
                .oha
                .as_ref()
                .map(|o| oha_run(ctx, o, &ctx.url, c, None, &[])),
            "goose" => ctx.opts.wants("goose").then(|| goose_run(ctx)),
            "base" => base_bin()
                .filter(|_| ctx.opts.wants("base"))
                .map(|bin| skein_run(ctx, &bin, 200 + round, &[])),
            "shards" => ctx.opts.wants("shards").then(|| shards_run(ctx, round)),
            _ => ctx
                .opts
                .wants("skein")
                .then(|| skein_run(ctx, &skein_bin(), round, &[])),
        };
        match got {
            Some(Ok(f)) => {
                figures.insert(tool, f);
            }
            Some(Err(e)) => println!("  {tool}: failed: {e}"),
            None => {}
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    print_table(&figures, false);
    print_ratios(&figures);
    Ok(figures)
}

fn print_table(figures: &Round, latency: bool) {
    if latency {
        println!(
            "  {:<13} {:>9} {:>9} {:>9} {:>10} {:>9}  note",
            "tool", "req/s", "p50 µs", "p99 µs", "svc p50", "peak RSS"
        );
    } else {
        println!(
            "  {:<6} {:>9} {:>9} {:>6} {:>9} {:>6} {:>6} {:>10}  note",
            "tool", "req/s", "requests", "errors", "peak RSS", "CPU s", "CPU %", "CPU µs/req"
        );
    }
    // Run order (wrk, oha, goose, skein; then skein's two low-load forms), not by name.
    let order = TOOLS.iter().chain(&["skein closed", "skein open"]);
    for (tool, f) in order.filter_map(|t| Some((t, figures.get(t)?))) {
        let rss = format!("{:.1} MB", f.rss_kb as f64 * 1024.0 / 1e6);
        let us = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
        if latency {
            println!(
                "  {tool:<13} {:>9.1} {:>9} {:>9} {:>10} {rss:>9}  {}",
                f.rps,
                us(f.p50_us),
                us(f.p99_us),
                us(f.svc_p50_us),
                f.note
            );
        } else {
            let per_req = if f.requests > 0.0 {
                format!("{:.2}", f.cpu_s * 1e6 / f.requests)
            } else {
                "-".into()
            };
            // CPU time over the process's wall time: near 100 % per generator core means the
            // generator, not the server, was the limit.
            let busy = if f.wall_s > 0.0 {
                100.0 * f.cpu_s / f.wall_s
            } else {
                0.0
            };
            println!(
                "  {tool:<6} {:>9.0} {:>9.0} {:>6.0} {rss:>9} {:>6.2} {busy:>6.0} {per_req:>10}  {}",
                f.rps, f.requests, f.errors, f.cpu_s, f.note
            );
        }
    }
}

fn print_ratios(figures: &Round) {
    let Some(skein) = figures.get("skein") else {
        println!("  ratios: no skein figure");
        return;
    };
    let parts: Vec<String> = ["goose", "oha", "wrk", "base", "shards"]
        .iter()
        .map(|t| match figures.get(t) {
            Some(f) if f.rps > 0.0 => format!("skein/{t} {:.3}", skein.rps / f.rps),
            _ => format!("skein/{t} n/a"),
        })
        .collect();
    println!("  ratios (throughput): {}", parts.join(", "));
}

fn print_medians(rounds: &[Round]) {
    println!("\nmedians of {} rounds:", rounds.len());
    for tool in TOOLS {
        let mut v: Vec<f64> = rounds
            .iter()
            .filter_map(|r| r.get(tool))
            .map(|f| f.rps)
            .collect();
        if !v.is_empty() {
            let (lo, hi) = min_max(&v);
            println!(
                "  {tool:<6} {:>9.0} req/s (range {lo:.0}-{hi:.0})",
                median(&mut v)
            );
        }
    }
    for other in ["goose", "oha", "wrk", "base", "shards"] {
        let mut v: Vec<f64> = rounds
            .iter()
            .filter_map(|r| Some(r.get("skein")?.rps / r.get(other).filter(|f| f.rps > 0.0)?.rps))
            .collect();
        if !v.is_empty() {
            let (lo, hi) = min_max(&v);
            println!(
                "  skein/{other:<5} {:.3} (range {lo:.3}-{hi:.3})",
                median(&mut v)
            );
        }
    }
}

fn latency_round(ctx: &Ctx, nginx: &mut Nginx) -> Result<(), String> {
    let (users, rate, s) = (ctx.opts.latency_users, ctx.opts.rate, ctx.opts.seconds);
    let gap_ms = (users as u64 * 1000 / rate).max(1);
    println!(
        "\nlatency at low load: {users} users, about {rate} requests/s, {s} s \
         (wrk: each connection waits {gap_ms} ms before each request; oha: -q {rate}; \
         skein open: --rate {rate}/s; skein closed: --think {gap_ms}ms)"
    );
    let mut figures = Round::new();
    let mut add = |name: &'static str, got: Result<Figures, String>| match got {
        Ok(f) => {
            figures.insert(name, f);
        }
        Err(e) => println!("  {name}: failed: {e}"),
    };
    if let Some(w) = &ctx.wrk {
        nginx.check_alive()?;
        add("wrk", wrk_latency(ctx, w, users, gap_ms));
    }
    if let Some(o) = &ctx.oha {
        nginx.check_alive()?;
        add("oha", oha_run(ctx, o, &ctx.url, users, Some(rate), &[]));
    }
    if ctx.opts.wants("skein") {
        nginx.check_alive()?;
        let rate_arg = format!("{rate}/s");
        add(
            "skein open",
            skein_run(ctx, &skein_bin(), 100, &["--rate", &rate_arg]),
        );
        nginx.check_alive()?;
        let think = format!("{gap_ms}ms");
        add(
            "skein closed",
            skein_run(ctx, &skein_bin(), 101, &["--think", &think]),
        );
    }
    print_table(&figures, true);
    if let Some(w) = figures.get("wrk").and_then(|f| f.p50_us) {
        for (name, f) in &figures {
            if name.starts_with("skein") {
                let d = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:+.0} µs", v - w));
                println!(
                    "  {name} p50 minus wrk p50: response time {}, service time {}",
                    d(f.p50_us),
                    d(f.svc_p50_us)
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The generators

fn wrk_throughput(ctx: &Ctx, wrk: &Path, url: &str) -> Result<Figures, String> {
    let (c, s) = (ctx.opts.conns, ctx.opts.seconds);
    let threads = count_cpus(&ctx.opts.cores_gen).unwrap_or(1).min(c);
    let args = [
        format!("-t{threads}"),
        format!("-c{c}"),
        format!("-d{s}s"),
        "--latency".into(),
        url.to_string(),
    ];
    let out = pinned(&ctx.opts.cores_gen, wrk.as_os_str(), &args, &[], s + 30)?;
    let mut f = parse_wrk(&out.stdout)?;
    f.note = format!("-t{threads}");
    Ok(out.fill(f))
}

/// wrk at low load: a Lua `delay()` spaces each connection's requests (wrk times a request
/// from its write, so the delay is not in its latency).
fn wrk_latency(ctx: &Ctx, wrk: &Path, users: usize, gap_ms: u64) -> Result<Figures, String> {
    let s = ctx.opts.seconds;
    let script = ctx.tmp.join("delay.lua");
    std::fs::write(&script, format!("function delay() return {gap_ms} end\n"))
        .map_err(|e| format!("writing {}: {e}", script.display()))?;
    let args = [
        "-t1".to_string(),
        format!("-c{users}"),
        format!("-d{s}s"),
        "--latency".into(),
        "-s".into(),
        script.display().to_string(),
        ctx.url.clone(),
    ];
    let out = pinned(&ctx.opts.cores_gen, wrk.as_os_str(), &args, &[], s + 30)?;
    let mut f = parse_wrk(&out.stdout)?;
    f.note = "from write to response".into();
    Ok(out.fill(f))
}

fn parse_wrk(text: &str) -> Result<Figures, String> {
    let mut f = Figures::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => f.rps = v.parse().unwrap_or(0.0),
            [n, "requests", "in", ..] => f.requests = n.parse().unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => f.errors += n.parse().unwrap_or(0.0),
            ["Socket", "errors:", rest @ ..] => {
                f.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<f64>().ok())
                    .sum::<f64>()
            }
            ["50%", v] => f.p50_us = wrk_us(v),
            ["99%", v] => f.p99_us = wrk_us(v),
            _ => {}
        }
    }
    if f.rps > 0.0 {
        Ok(f)
    } else {
        Err(format!("no `Requests/sec` in wrk's output:\n{text}"))
    }
}

/// A wrk duration (`233.00us`, `1.41ms`, `2.00s`) in µs.
fn wrk_us(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60e6)
    } else {
        (v.strip_suffix('s')?, 1e6)
    };
    num.parse::<f64>().ok().map(|n| n * scale)
}

/// oha at `conns` connections to `url`, with `extra` arguments (`--insecure`, `--http2`,
/// `--latency-correction`); with `rate`, limited to that many requests a second.
fn oha_run(
    ctx: &Ctx,
    oha: &Path,
    url: &str,
    conns: usize,
    rate: Option<u64>,
    extra: &[&str],
) -> Result<Figures, String> {
    let s = ctx.opts.seconds;
    let mut args = vec![
        "-z".to_string(),
        format!("{s}s"),
        "-c".into(),
        conns.to_string(),
        "--no-tui".into(),
        "--output-format".into(),
        "json".into(),
    ];
    if let Some(r) = rate {
        args.extend(["-q".into(), r.to_string()]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(url.to_string());
    let out = pinned(&ctx.opts.cores_gen, oha.as_os_str(), &args, &[], s + 30)?;
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .map_err(|e| format!("oha's JSON: {e}\n{}", tail(&out.stdout)))?;
    let num = |p: &str| json.pointer(p).and_then(|v| v.as_f64());
    let rps = num("/summary/requestsPerSec").ok_or("oha's JSON has no requestsPerSec")?;
    let ok: f64 = json["statusCodeDistribution"].as_object().map_or(0.0, |m| {
        m.iter()
            .filter(|(k, _)| k.starts_with('2'))
            .filter_map(|(_, v)| v.as_f64())
            .sum()
    });
    let f = Figures {
        rps,
        requests: rps * num("/summary/total").unwrap_or(0.0),
        errors: (rps * num("/summary/total").unwrap_or(0.0) - ok)
            .max(0.0)
            .round(),
        p50_us: num("/metrics/latency_ms/p50").map(|v| v * 1e3),
        p99_us: num("/metrics/latency_ms/p99").map(|v| v * 1e3),
        note: match rate {
            Some(r) if extra.contains(&"--latency-correction") => {
                format!("-q {r} --latency-correction, from intended start")
            }
            Some(r) => format!("-q {r}, from send"),
            // oha counts the requests in flight at the deadline as errors.
            None => format!("errors: {}", json["errorDistribution"]),
        },
        ..Figures::default()
    };
    Ok(out.fill(f))
}

fn goose_run(ctx: &Ctx) -> Result<Figures, String> {
    let (c, s) = (ctx.opts.conns, ctx.opts.seconds);
    let exe = std::env::current_exe().map_err(|e| format!("path of the bench binary: {e}"))?;
    let spec = format!("{} {c} {s}", ctx.url);
    let out = pinned(
        &ctx.opts.cores_gen,
        exe.as_os_str(),
        &[],
        &[(goose_floor::ENV, &spec)],
        s + 60,
    )?;
    let line = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| {
            format!(
                "no RESULT line from the goose child:\n{}",
                tail(&out.stdout)
            )
        })?;
    let kv: BTreeMap<&str, f64> = line
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect();
    let f = Figures {
        rps: kv.get("rps").copied().unwrap_or(0.0),
        requests: kv.get("requests").copied().unwrap_or(0.0),
        errors: kv.get("errors").copied().unwrap_or(0.0),
        note: format!("{s} s from its first response; metrics off; per-user clients"),
        ..Figures::default()
    };
    Ok(out.fill(f))
}

/// `skein quick URL` at the bench's connections and duration, plus `extra` arguments
/// (`--rate` / `--think` switch to the low-load form with the latency users).
fn skein_run(
    ctx: &Ctx,
    bin: &std::ffi::OsStr,
    n: usize,
    extra: &[&str],
) -> Result<Figures, String> {
    let s = ctx.opts.seconds;
    let dir = ctx.tmp.join(format!("skein-{n}"));
    let users = if extra.is_empty() {
        ctx.opts.conns
    } else {
        ctx.opts.latency_users
    };
    let mut args = vec![
        "quick".to_string(),
        ctx.url.clone(),
        "-u".into(),
        users.to_string(),
        "-d".into(),
        format!("{s}s"),
        "-q".into(),
        "-o".into(),
        dir.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    skein_exec(ctx, bin, &args, &dir)
}

/// Run skein with `args` (which write its results under `dir`) on the generator cores, and
/// read its figures from the result.json it wrote there.
fn skein_exec(
    ctx: &Ctx,
    bin: &std::ffi::OsStr,
    args: &[String],
    dir: &Path,
) -> Result<Figures, String> {
    let out = pinned(&ctx.opts.cores_gen, bin, args, &[], ctx.opts.seconds + 60)?;
    let result = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}\n{}", dir.display(), tail(&out.stderr)))?
        .filter_map(Result::ok)
        .map(|e| e.path().join("result.json"))
        .find(|p| p.exists())
        .ok_or_else(|| {
            format!(
                "no result.json under {}\n{}",
                dir.display(),
                tail(&out.stderr)
            )
        })?;
    let text = std::fs::read_to_string(&result)
        .map_err(|e| format!("reading {}: {e}", result.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", result.display()))?;
    let num = |p: &str| json.pointer(p).and_then(|v| v.as_f64());
    // The generator threads' own CPU during the load (result.json's generator health), per
    // request: without start-up and without writing the reports, which the process's CPU
    // time above includes.
    let load_cpu = match (
        num("/run/generator_health/cpu_pct_mean"),
        num("/run/generator_health/cores"),
        num("/run/duration_us"),
        num("/overall/requests").filter(|n| *n > 0.0),
    ) {
        (Some(pct), Some(cores), Some(us), Some(n)) => {
            format!(
                "; generator threads {:.1} µs/req",
                pct / 100.0 * cores * us / n
            )
        }
        _ => String::new(),
    };
    let f = Figures {
        rps: num("/overall/rps").unwrap_or(0.0),
        requests: num("/overall/requests").unwrap_or(0.0),
        errors: num("/overall/errors").unwrap_or(0.0),
        p50_us: num("/overall/response_time/p50_us"),
        p99_us: num("/overall/response_time/p99_us"),
        svc_p50_us: num("/overall/service_time/p50_us"),
        achieved: num("/run/open_model/achieved_rate"),
        dropped: num("/run/open_model/dropped"),
        gen_cpu_pct: num("/run/generator_health/cpu_pct_mean"),
        saturated: json
            .pointer("/run/generator_health/saturated")
            .and_then(|v| v.as_bool()),
        note: format!(
            "{}exit {}; RSS includes writing the reports{load_cpu}",
            json.pointer("/run/model")
                .and_then(|v| v.as_str())
                .map_or(String::new(), |m| format!("{m} model; ")),
            out.code
        ),
        ..Figures::default()
    };
    Ok(out.fill(f))
}

/// The `shards` tool: `--shards N` processes of `skein quick` on the generator cores, each
/// shard `i/N` of the same load with one common start, then `skein merge` of their folders.
fn shards_run(ctx: &Ctx, round: usize) -> Result<Figures, String> {
    let (s, n) = (ctx.opts.seconds, ctx.opts.shards);
    let out = ctx.tmp.join(format!("shards-{round}"));
    let run_id = format!("bench-{round}");
    let start = chrono::DateTime::<chrono::Utc>::from(
        std::time::SystemTime::now() + Duration::from_millis(1_500),
    )
    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let bin = skein_bin();
    let exits: Vec<Result<Exited, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let args = vec![
                    "quick".to_string(),
                    ctx.url.clone(),
                    "-u".into(),
                    ctx.opts.conns.to_string(),
                    "-d".into(),
                    format!("{s}s"),
                    "-q".into(),
                    "--workers".into(),
                    "1".into(),
                    "--shard".into(),
                    format!("{i}/{n}"),
                    "--run-id".into(),
                    run_id.clone(),
                    "--start-at".into(),
                    start.clone(),
                    "-o".into(),
                    out.display().to_string(),
                ];
                let bin = bin.clone();
                let cores = ctx.opts.cores_gen.clone();
                scope.spawn(move || pinned(&cores, &bin, &args, &[], s + 60))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a shard's thread panicked".into()))
            })
            .collect()
    });
    let mut cpu_s = 0.0;
    let mut rss_kb = 0;
    let mut wall_s: f64 = 0.0;
    for (i, e) in exits.into_iter().enumerate() {
        let e = e.map_err(|e| format!("shard {i}: {e}"))?;
        if e.code != 0 {
            return Err(format!("shard {i}: exit {}\n{}", e.code, tail(&e.stderr)));
        }
        cpu_s += e.cpu_s;
        rss_kb = rss_kb.max(e.rss_kb);
        wall_s = wall_s.max(e.wall_s);
    }
    let run_dir = out.join(&run_id);
    let merged = std::process::Command::new(&bin)
        .arg("merge")
        .arg(&run_dir)
        .output()
        .map_err(|e| format!("skein merge: {e}"))?;
    if !merged.status.success() {
        return Err(format!(
            "skein merge: {}\n{}",
            merged.status,
            tail(&String::from_utf8_lossy(&merged.stderr))
        ));
    }
    let text = std::fs::read_to_string(run_dir.join("result.json"))
        .map_err(|e| format!("reading the merged result.json: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("the merged result.json: {e}"))?;
    let num = |p: &str| json.pointer(p).and_then(|v| v.as_f64());
    Ok(Figures {
        rps: num("/overall/rps").unwrap_or(0.0),
        requests: num("/overall/requests").unwrap_or(0.0),
        errors: num("/overall/errors").unwrap_or(0.0),
        p50_us: num("/overall/response_time/p50_us"),
        p99_us: num("/overall/response_time/p99_us"),
        rss_kb,
        cpu_s,
        wall_s,
        note: format!("{n} shard processes merged; CPU is theirs together, RSS the largest's"),
        ..Figures::default()
    })
}

// ---------------------------------------------------------------------------------------
// Small helpers

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Each connection is a descriptor: raise the soft limit to the hard one (children inherit it).
fn raise_nofile_limit() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut l: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
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

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)))
}
