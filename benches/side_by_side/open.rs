//! `--open RATE[,RATE...]` and `--open max`: the open model, skein against oha.
//!
//! At each rate, `skein quick URL --rate R/s -u USERS` against `oha -q R
//! --latency-correction -c USERS` (both time a request from its intended start; USERS is
//! `--open-users`, 500 by default: skein's pool, oha's connections), each for `--seconds`.
//! A row shows the achieved rate (skein: iterations started a second of the schedule,
//! `run.open_model.achieved_rate`; oha: responses a second), skein's dropped iterations (never
//! started: result.json's `run.open_model.dropped`), p50 and p99 response time, the
//! process's CPU (percent of one core, start-up included) and skein's own generator
//! threads' CPU and saturation verdict (`run.generator_health`).
//!
//! `max` searches, for each tool, the highest rate one generator sustains under the rule of
//! issue 18: achieved ≥ 99 % of offered, response p99 under 10 ms, and generator not
//! saturated (skein: its own verdict; oha, which has none: its process CPU at 90 % or more
//! of the generator cores, skein's per-second threshold). It doubles from 5000/s until a
//! rate fails, then bisects between the last rate that held and the first that failed, at
//! most [`TRIALS`] runs of `--seconds` each.

use crate::procs::Nginx;
use crate::{Ctx, Figures, base_bin, count_cpus, oha_run, skein_bin, skein_exec};

/// Runs per tool in a `max` search.
const TRIALS: usize = 7;
/// Where a `max` search starts, requests a second.
const START: u64 = 5_000;

pub fn compare(ctx: &Ctx, nginx: &mut Nginx) -> Result<(), String> {
    let users = ctx.opts.open_users;
    let s = ctx.opts.seconds;
    if !ctx.opts.open_rates.is_empty() {
        println!(
            "\nopen model: {s} s each; skein quick --rate R/s -u {users}; \
             oha -q R --latency-correction -c {users}; response times from the intended start"
        );
        header();
        for &rate in &ctx.opts.open_rates {
            let mut got = Vec::new();
            for tool in tools(ctx) {
                nginx.check_alive()?;
                match run(ctx, tool, rate) {
                    Ok(f) => {
                        row(tool, rate, &f);
                        got.push((tool, f));
                    }
                    Err(e) => println!("  {tool:<5} {rate:>8}  failed: {}", e.trim_end()),
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            let of = |name: &str| got.iter().find(|(t, _)| *t == name).map(|(_, f)| f);
            for other in ["oha", "base"] {
                if let (Some(o), Some(k)) = (of(other), of("skein")) {
                    println!(
                        "  ratios at {rate}/s: achieved skein/{other} {:.3}; p50 skein/{other} \
                         {}; CPU per request skein/{other} {}",
                        achieved(k) / achieved(o).max(1e-9),
                        ratio(k.p50_us, o.p50_us),
                        ratio(cpu_per_request(k), cpu_per_request(o))
                    );
                }
            }
        }
    }
    if ctx.opts.open_max {
        println!(
            "\nopen model, highest sustained rate: achieved ≥ 99 % of offered, p99 < 10 ms, \
             generator not saturated; {s} s a try, at most {TRIALS} tries each"
        );
        let mut best = Vec::new();
        for tool in tools(ctx) {
            header();
            best.push((tool, search(ctx, nginx, tool)?));
        }
        let line: Vec<String> = best
            .iter()
            .map(|(t, r)| match r {
                Some(r) => format!("{t} {r}/s"),
                None => format!("{t}: no rate held"),
            })
            .collect();
        println!("  highest sustained: {}", line.join(", "));
        if let [(_, Some(o)), (_, Some(k))] = best.as_slice() {
            println!("  ratio skein/oha {:.3}", *k as f64 / *o as f64);
        }
    }
    Ok(())
}

/// The tools of the comparison, oha first (when installed and wanted).
fn tools(ctx: &Ctx) -> Vec<&'static str> {
    if ctx.oha.is_none() && ctx.opts.wants("oha") {
        println!("  oha: not installed, skipped");
    }
    let mut t = Vec::new();
    if ctx.oha.is_some() {
        t.push("oha");
    }
    if ctx.opts.wants("skein") {
        t.push("skein");
    }
    if ctx.opts.wants("base") && base_bin().is_some() {
        t.push("base");
    }
    t
}

fn run(ctx: &Ctx, tool: &str, rate: u64) -> Result<Figures, String> {
    let users = ctx.opts.open_users;
    match (tool, &ctx.oha) {
        ("oha", Some(oha)) => oha_run(
            ctx,
            oha,
            &ctx.url,
            users,
            Some(rate),
            &["--latency-correction"],
        ),
        _ => {
            let dir = ctx.tmp.join(format!("{tool}-open-{rate}"));
            let args = [
                "quick".to_string(),
                ctx.url.clone(),
                "--rate".into(),
                format!("{rate}/s"),
                "-u".into(),
                users.to_string(),
                "-d".into(),
                format!("{}s", ctx.opts.seconds),
                "-q".into(),
                "-o".into(),
                dir.display().to_string(),
            ];
            let bin = match tool {
                "base" => base_bin().unwrap_or_else(skein_bin),
                _ => skein_bin(),
            };
            let f = skein_exec(ctx, &bin, &args, &dir);
            // Each try writes its own folder; the next try at this rate starts afresh.
            let _ = std::fs::remove_dir_all(&dir);
            f
        }
    }
}

/// Why `f`, offered `rate`, does not count as sustained; `None`: it does.
fn falls_short(ctx: &Ctx, f: &Figures, rate: u64) -> Option<String> {
    let cores = count_cpus(&ctx.opts.cores_gen).unwrap_or(1) as f64;
    if achieved(f) < 0.99 * rate as f64 {
        Some(format!("achieved {:.0}/s < 99 %", achieved(f)))
    } else if f.p99_us.is_none_or(|p| p >= 10_000.0) {
        Some(format!("p99 {} µs ≥ 10 ms", us(f.p99_us)))
    } else if f.saturated == Some(true) {
        Some("saturated (its own verdict)".into())
    } else if f.saturated.is_none() && f.cpu_pct() >= 90.0 * cores {
        Some(format!("CPU {:.0} % ≥ 90 % of its cores", f.cpu_pct()))
    } else {
        None
    }
}

/// The highest rate `tool` sustains, to within the tries: doubling, then bisection.
fn search(ctx: &Ctx, nginx: &mut Nginx, tool: &str) -> Result<Option<u64>, String> {
    let (mut held, mut failed): (Option<u64>, Option<u64>) = (None, None);
    let mut rate = START;
    for _ in 0..TRIALS {
        nginx.check_alive()?;
        let verdict = match run(ctx, tool, rate) {
            Ok(f) => {
                row(tool, rate, &f);
                falls_short(ctx, &f, rate)
            }
            Err(e) => Some(format!("failed: {}", e.trim_end())),
        };
        match &verdict {
            None => held = Some(rate),
            Some(why) => {
                println!("        {rate}/s not sustained: {why}");
                failed = Some(rate);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        rate = match (held, failed) {
            (Some(h), None) => h * 2,
            (None, Some(f)) => f / 2,
            (Some(h), Some(f)) => round_rate((h + f) / 2),
            (None, None) => unreachable!("each try either held or failed"),
        };
        // Close enough: the next try would differ from a known one by under 2 %.
        let near = |known: Option<u64>| known.is_some_and(|k| rate.abs_diff(k) * 50 < k);
        if near(held) || near(failed) {
            break;
        }
    }
    Ok(held)
}

/// A rate to two significant figures, so that the tries read well.
fn round_rate(r: u64) -> u64 {
    let mut step = 1;
    while r / step >= 100 {
        step *= 10;
    }
    (r / step).max(1) * step
}

fn header() {
    println!(
        "  {:<5} {:>8} {:>9} {:>8} {:>8} {:>8} {:>6} {:>8} {:>8} {:>5}  note",
        "tool",
        "offered",
        "achieved",
        "dropped",
        "p50 µs",
        "p99 µs",
        "CPU %",
        "µs/req",
        "gen CPU",
        "sat"
    );
}

fn row(tool: &str, rate: u64, f: &Figures) {
    let opt = |v: Option<f64>, d: usize| v.map_or("-".into(), |v| format!("{v:.d$}"));
    println!(
        "  {tool:<5} {rate:>8} {:>9.0} {:>8} {:>8} {:>8} {:>6.0} {:>8} {:>8} {:>5}  {}",
        achieved(f),
        opt(f.dropped, 0),
        us(f.p50_us),
        us(f.p99_us),
        f.cpu_pct(),
        opt(cpu_per_request(f), 1),
        opt(f.gen_cpu_pct.map(|p| p.min(999.0)), 0),
        f.saturated.map_or("-", |s| if s { "yes" } else { "no" }),
        f.note
    );
}

/// The process's CPU time (start-up included) per request it completed, µs: the figure
/// least disturbed by other load on a shared machine.
fn cpu_per_request(f: &Figures) -> Option<f64> {
    (f.requests > 0.0).then(|| f.cpu_s * 1e6 / f.requests)
}

/// Skein's started iterations a second of the schedule; oha's responses a second.
fn achieved(f: &Figures) -> f64 {
    f.achieved.unwrap_or(f.rps)
}

fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".into(),
    }
}
