//! Whether two runs were set up alike before their numbers are compared: load model, users,
//! arrival rate, planned duration, and the targets each was judged by. Said as sentences
//! for the warnings above a comparison; nothing here decides a regression.

use super::RunResult;
use crate::metrics::verdict::Target;

/// How two runs were set up differently, one sentence each, for a warning before their
/// numbers are compared: the load model, the users (closed model), the arrival rate (open
/// model) and the planned duration. Empty when they were set up alike. (What the runs
/// measure, and whether a generator was saturated, are said by the report.)
pub fn setup_differences(base: &RunResult, cand: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    let open = |r: &RunResult| r.run.open_model.is_some() || r.run.model == "open";
    let rate = |r: &RunResult| r.run.open_model.as_ref().map(|o| o.peak_rate);
    let load = |r: &RunResult| match rate(r) {
        Some(x) if open(r) => format!("open, {}", per_second(x)),
        _ if open(r) => "open".to_string(),
        _ => format!("closed, {} users", r.run.max_users),
    };
    const NOT_ALIKE: &str = "latency and throughput depend on the load, so the deltas do not \
                             compare like for like";
    if open(base) != open(cand) {
        out.push(format!(
            "the runs used different load models: the baseline {}, the candidate {}; what \
             response time measures and the load the target saw differ, so the deltas mix the \
             two",
            load(base),
            load(cand)
        ));
    } else if !open(base) && base.run.max_users != cand.run.max_users {
        out.push(format!(
            "the runs had different numbers of users: {} in the baseline, {} in the candidate; \
             {NOT_ALIKE}",
            base.run.max_users, cand.run.max_users
        ));
    } else if let (Some(b), Some(c)) = (rate(base), rate(cand))
        && open(base)
        && per_second(b) != per_second(c)
    {
        out.push(format!(
            "the runs had different arrival rates: {} in the baseline, {} in the candidate; \
             {NOT_ALIKE}",
            per_second(b),
            per_second(c)
        ));
    }
    let (b, c) = (base.run.planned_duration_us, cand.run.planned_duration_us);
    if b > 0 && c > 0 && b != c {
        out.push(format!(
            "the runs were planned for different durations: {} in the baseline, {} in the \
             candidate; a longer run reaches further into the tail, so high percentiles do not \
             compare like for like",
            duration(b),
            duration(c)
        ));
    }
    out
}

/// When the two runs were judged by different targets (`targets.json` of each folder): the
/// expressions only one of them had, in a sentence. `None` when they had the same ones.
pub fn target_differences(base: &[Target], cand: &[Target]) -> Option<String> {
    let only = |a: &[Target], b: &[Target]| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for t in a {
            if !b.iter().any(|x| x.expression == t.expression) && !v.contains(&t.expression) {
                v.push(t.expression.clone());
            }
        }
        v
    };
    let list = |v: &[String]| -> String {
        const SHOWN: usize = 3;
        let mut s: Vec<String> = v.iter().take(SHOWN).map(|e| format!("`{e}`")).collect();
        if v.len() > SHOWN {
            s.push(format!("{} more", v.len() - SHOWN));
        }
        s.join(", ")
    };
    let (b, c) = (only(base, cand), only(cand, base));
    let mut parts = Vec::new();
    if base.is_empty() {
        parts.push("the baseline had none".to_string());
    } else if !b.is_empty() {
        parts.push(format!("only the baseline had {}", list(&b)));
    }
    if cand.is_empty() {
        parts.push("the candidate had none".to_string());
    } else if !c.is_empty() {
        parts.push(format!("only the candidate had {}", list(&c)));
    }
    if b.is_empty() && c.is_empty() {
        return None;
    }
    Some(format!(
        "the runs were judged by different targets: {}; their verdicts do not compare",
        parts.join("; ")
    ))
}

/// `100/s`, `12.5/s`.
fn per_second(r: f64) -> String {
    let s = format!("{r:.1}");
    format!("{}/s", s.strip_suffix(".0").unwrap_or(&s))
}

/// `45s`, `2m`, `1m30s`, `2.5s`.
fn duration(us: u64) -> String {
    if !us.is_multiple_of(1_000_000) {
        return format!("{:.1}s", us as f64 / 1e6);
    }
    let s = us / 1_000_000;
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}
