//! Plain-text tables for the terminal.
//!
//! The endpoint table shows the response time (p50 to max) and, for runs that recorded it,
//! the service time beside it (`svc p50` ...), with a line above saying which is which.

use super::{SERVICE_TIME_LABEL, has_service_time, plural, response_time_label, warnings};
use crate::metrics::{Latency, RunResult, RunStatus, Summary, TargetStatus, Verdict};

pub use crate::metrics::fmt_us;

/// Format a share as a percentage with sensible precision.
pub fn fmt_pct(rate: f64) -> String {
    let p = rate * 100.0;
    if p == 0.0 {
        "0%".into()
    } else if p < 0.01 {
        "<0.01%".into()
    } else if p < 10.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

fn row(name: &str, s: &Summary, service: bool) -> Vec<String> {
    let r = &s.response_time;
    let mut row = vec![
        name.to_string(),
        s.requests.to_string(),
        format!("{:.1}", s.rps),
        fmt_pct(s.error_rate),
    ];
    row.extend(latency_cells(
        r,
        &[r.p50_us, r.p95_us, r.p99_us, r.max_us],
        "-",
    ));
    if service {
        let v = &s.service_time;
        row.extend(latency_cells(v, &[v.p50_us, v.p95_us, v.p99_us], "-"));
    }
    row
}

/// The `values` of a latency for a table row, or `none` in each cell when it has no
/// sample (every request of the row failed without a response): never a made-up `0µs`.
pub(crate) fn latency_cells(l: &Latency, values: &[u64], none: &str) -> Vec<String> {
    if l.count == 0 {
        vec![none.to_string(); values.len()]
    } else {
        values.iter().map(|v| fmt_us(*v)).collect()
    }
}

/// The per-endpoint table printed at the end of a run. When the run recorded service times,
/// a first line names the two latencies and three `svc` columns follow the response time.
pub fn endpoint_table(r: &RunResult) -> String {
    let service = has_service_time(r);
    let mut header = vec![
        "endpoint", "requests", "rps", "errors", "p50", "p95", "p99", "max",
    ];
    if service {
        header.extend(["svc p50", "svc p95", "svc p99"]);
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for s in r.steps.iter().filter(|s| !super::custom::is_metric_row(s)) {
        rows.push(row(&s.name, &s.summary, service));
    }
    rows.push(row("all", &r.overall, service));
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    if service {
        out.push_str(&format!(
            "p50-max: {}; svc: {SERVICE_TIME_LABEL}\n",
            response_time_label(r)
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        if i == rows.len() - 1 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (cols - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

/// The responses' `Server-Timing` entries beside the response time, step by step (mean of
/// each entry over the responses that sent it, and its share of the mean service time),
/// with a note when a share is above 100 %. Empty when no response sent one.
pub fn server_timing_table(r: &RunResult) -> String {
    let Some(t) = super::timing::server_timing_table(r) else {
        return String::new();
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["Server-Timing (mean)".to_string(), t.basis.to_string()];
    header.extend(t.names.iter().cloned());
    rows.push(header);
    for row in &t.rows {
        let mut cells = vec![row.name.clone(), fmt_us(row.mean_us)];
        cells.extend(row.entries.iter().map(|e| super::timing::fmt_entry(*e)));
        rows.push(cells);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (c, cell) in r.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c == 0 {
                out.push_str(cell);
                out.push_str(&pad);
            } else {
                out.push_str("  ");
                out.push_str(&pad);
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    if super::timing::has_over(&t) {
        out.push_str(super::timing::OVER_NOTE);
        out.push('\n');
    }
    if t.malformed > 0 {
        out.push_str(&format!(
            "{} skipped\n",
            plural(t.malformed, "malformed Server-Timing entry")
        ));
    }
    out
}

/// One paragraph about the run: status, duration, users, and errors by kind.
pub fn run_facts(r: &RunResult) -> String {
    let status = match r.run.status {
        RunStatus::Complete => "complete".to_string(),
        RunStatus::Running => "running (or its process died)".to_string(),
        RunStatus::Interrupted => format!(
            "interrupted: {}",
            r.run
                .stop_reason
                .as_ref()
                .map_or_else(|| "stopped early".into(), ToString::to_string)
        ),
    };
    let mut s = format!(
        "run {} ({status}): {:.1}s against {}, peak {}, {}, {} ok, {}, {}\n",
        r.run.id,
        r.run.duration_us as f64 / 1e6,
        r.run.target,
        plural(r.run.peak_users, "user"),
        plural(r.overall.requests, "request"),
        r.overall.ok,
        plural(r.overall.errors, "error"),
        plural(r.overall.check_failed, "failed check")
    );
    if let Some(it) = &r.run.iterations {
        s.push_str(&format!(
            "iterations ({}): {} of {} completed ({} started)\n",
            it.mode.replace('_', " "),
            it.completed,
            it.planned,
            it.started
        ));
    }
    // `setup:` and `teardown:` are out of the totals above: their own line.
    let once: Vec<String> = r
        .scenarios
        .iter()
        .filter(|sc| {
            sc.name == crate::metrics::SETUP_SCENARIO
                || sc.name == crate::metrics::TEARDOWN_SCENARIO
        })
        .map(|sc| {
            format!(
                "{} {}, {}, {}",
                sc.name,
                plural(sc.summary.requests, "request"),
                plural(sc.summary.errors, "error"),
                plural(sc.summary.check_failed, "failed check")
            )
        })
        .collect();
    if !once.is_empty() {
        s.push_str(&format!(
            "once per run, apart from these totals: {}\n",
            once.join("; ")
        ));
    }
    if !r.overall.errors_by_kind.is_empty() {
        let kinds: Vec<String> = r
            .overall
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        s.push_str(&format!("errors by kind: {}\n", kinds.join(", ")));
    }
    for c in r.failed_checks() {
        s.push_str(&format!(
            "failed check: {} / {}: {} of {}\n",
            c.0.name,
            c.1.label,
            c.1.failed,
            c.1.failed + c.1.passed
        ));
    }
    for e in r.error_examples.iter().take(5) {
        s.push_str(&format!(
            "example {} at {}: {}\n",
            e.kind, e.step, e.message
        ));
    }
    if r.run.cut_off > 0 {
        s.push_str(&format!(
            "{} in flight at the end {} cut off (not counted)\n",
            plural(r.run.cut_off, "request"),
            if r.run.cut_off == 1 { "was" } else { "were" }
        ));
    }
    for (k, v) in super::timing::http_facts(r) {
        match k {
            "TLS verification" => s.push_str(
                "WARNING: TLS certificates were NOT verified (tls_verify: false / insecure: true)\n",
            ),
            // Said under the Server-Timing table.
            "Server-Timing" => {}
            // Only worth a line when something other than HTTP/1.1 answered.
            "HTTP versions" if v.split(", ").all(|x| x.starts_with("HTTP/1.1 ")) => {}
            _ => s.push_str(&format!("{}: {v}\n", k.to_lowercase())),
        }
    }
    s.push_str(&model_line(r));
    s.push_str(&health_line(r));
    s
}

/// The load model in one line: `open model: intended 1000.0/s, achieved ...; 10000
/// scheduled, ... late, ... dropped; ...` or the closed model's correction. Empty for a run
/// from before these were recorded.
pub fn model_line(r: &RunResult) -> String {
    if let Some(o) = &r.run.open_model {
        return format!(
            "open model: intended {:.1}/s, achieved {:.1}/s; {} scheduled, {} started, {} late \
             (> {}), {} dropped; max lateness {}; pool: peak {} busy of {} (pre-allocated {}), \
             exhausted {} s\n",
            o.intended_rate,
            o.achieved_rate,
            o.scheduled,
            o.started,
            o.late,
            super::trim_zeros(&fmt_us(o.late_after_us)),
            o.dropped,
            fmt_us(o.max_lateness_us),
            o.peak_busy,
            o.max_users,
            o.pre_allocated,
            o.pool_exhausted_seconds
        );
    }
    if r.run.model != "closed" || r.run.response_time_basis.is_empty() {
        return String::new();
    }
    format!("closed model: {}\n", super::facts::closed_model_fact(r))
}

/// The generator's health in one line, or nothing when it was not measured.
pub fn health_line(r: &RunResult) -> String {
    let Some(h) = &r.run.generator_health else {
        return String::new();
    };
    format!(
        "generator: {}, CPU mean {:.0}% max {:.0}%, scheduler lag p99 {} max {}, {}\n",
        plural(h.cores, "core"),
        h.cpu_pct_mean,
        h.cpu_pct_max,
        fmt_us(h.sched_lag_p99_us),
        fmt_us(h.sched_lag_max_us),
        if h.saturated {
            "SATURATED"
        } else {
            "not saturated"
        }
    )
}

/// The run's [`warnings`] for the terminal, to print before anything else: `WARNING:` and
/// the headline, then the detail indented. Empty when there is nothing to warn about.
pub fn warning_lines(r: &RunResult) -> String {
    let mut s = String::new();
    for w in warnings(r) {
        s.push_str(&format!("WARNING: {}\n  {}\n", w.headline, w.detail));
    }
    s
}

/// The verdict for the terminal: one line per target, then the outcome.
pub fn verdict_lines(v: &Verdict) -> String {
    if let Some(f) = &v.run_failed
        && v.targets.is_empty()
    {
        return format!(
            "verdict: FAILED: {}; without targets, a run fails only when no request \
             succeeds\n",
            f.detail
        );
    }
    if v.targets.is_empty() {
        return "verdict: no targets\n".into();
    }
    let mut s = String::new();
    for t in &v.targets {
        let mark = match t.status {
            TargetStatus::Pass => "pass",
            TargetStatus::Fail => "FAIL",
            TargetStatus::NotMeasured => "NOT MEASURED",
        };
        s.push_str(&format!("{mark:>12}  {}  ({})\n", t.expression, t.detail));
    }
    let failed = v.failed().count();
    let n = plural(v.targets.len() as u64, "target");
    if v.passed {
        s.push_str(&format!("verdict: passed ({n})\n"));
    } else if let Some(f) = &v.run_failed {
        s.push_str(&format!("verdict: FAILED: {}\n", f.detail));
    } else {
        s.push_str(&format!("verdict: FAILED ({failed} of {n})\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn an_older_run_prints_the_table_as_before() {
        let (r, _) = fixtures::old();
        let t = endpoint_table(&r);
        let first = t.lines().next().unwrap();
        assert!(first.starts_with("endpoint"), "{t}");
        assert!(first.ends_with("max"), "{t}");
        assert!(!t.contains("svc"));
        assert_eq!(model_line(&r), "");
        assert_eq!(health_line(&r), "");
        assert_eq!(warning_lines(&r), "");
    }

    #[test]
    fn service_time_sits_beside_the_response_time() {
        let (r, _) = fixtures::closed();
        let t = endpoint_table(&r);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "p50-max: response time (corrected for coordinated omission); svc: service time \
             (send to last byte)"
        );
        assert!(lines[1].ends_with("max  svc p50  svc p95  svc p99"), "{t}");
        let all = lines.last().unwrap();
        assert!(all.starts_with("all"), "{t}");
        // all: p99 175.5ms, service p99 a third of it.
        assert!(all.ends_with(&fmt_us(175_500 / 3)), "{all}");
        assert!(lines[lines.len() - 2].chars().all(|c| c == '-'));
        assert_eq!(
            lines[lines.len() - 2].chars().count(),
            all.chars().count(),
            "{t}"
        );
        let facts = run_facts(&r);
        assert!(
            facts.contains(
                "closed model: response times corrected (think time plus median service time): \
                 321 synthetic samples added for the requests users would have sent while they \
                 waited\n"
            ),
            "{facts}"
        );
        assert!(
            facts.contains(
                "generator: 4 cores, CPU mean 35% max 52%, scheduler lag p99 \
                                1.20ms max 4.80ms, not saturated\n"
            ),
            "{facts}"
        );
    }

    #[test]
    fn an_open_run_says_late_and_dropped() {
        let (r, _) = fixtures::open();
        assert!(endpoint_table(&r).starts_with("p50-max: response time (from intended start)"));
        let facts = run_facts(&r);
        assert!(
            facts.contains(
                "open model: intended 130.0/s, achieved 127.2/s; 7800 scheduled, 7630 started, 412 \
             late (> 10ms), 170 dropped; max lateness 2.35s;"
            ),
            "{facts}"
        );
        let w = warning_lines(&r);
        assert!(
            w.starts_with("WARNING: 170 of 7800 scheduled iterations"),
            "{w}"
        );
        assert!(!w.contains("lower bound"));
    }

    #[test]
    fn a_saturated_generator_is_the_first_warning() {
        let (r, _) = fixtures::saturated();
        let w = warning_lines(&r);
        assert!(
            w.starts_with(
                "WARNING: numbers are a lower bound: the generator, not the target, was the \
             bottleneck\n  saturated for 12 seconds: CPU"
            ),
            "{w}"
        );
        assert!(run_facts(&r).contains(", SATURATED\n"));
    }

    /// Issue 12, defect 11: a row whose every request failed without a response (refused
    /// connections) has no latency sample; it used to read `0µs` under p50 to max while
    /// the service columns read `-`. Every latency column says `-` in every format.
    #[test]
    fn issue_12_a_row_without_latency_samples_shows_dashes_not_zero() {
        let (mut r, v) = fixtures::closed();
        let s = &mut r.steps[0].summary;
        s.ok = 0;
        s.errors = s.requests;
        s.check_failed = 0;
        s.error_rate = 1.0;
        s.response_time = Latency::default();
        s.service_time = Latency::default();
        let name = r.steps[0].name.clone();
        let t = endpoint_table(&r);
        let row = t.lines().find(|l| l.starts_with(&name)).unwrap();
        let cells: Vec<&str> = row[name.len()..].split_whitespace().collect();
        assert_eq!(cells[3..], ["-"; 7], "{t}");
        assert!(!row.contains("0µs"), "{row}");
        let md = crate::report::markdown::render(&r, &v);
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap();
        assert!(row.ends_with(" | – | – | – | – | – | – | – |"), "{row}");
        let html = crate::report::html::render_with_charts(&r, &v, &[]);
        let at = html.find(&format!("<tr><td>{name}</td>")).unwrap();
        let row = &html[at..at + html[at..].find("</tr>").unwrap()];
        assert_eq!(row.matches(">–</td>").count(), 7, "{row}");
        // The other rows keep their numbers.
        assert!(endpoint_table(&r).lines().last().unwrap().contains("ms"));
    }

    /// Issue 12, defect 11: `peak 1 users`, `1 targets`: counts agree with their nouns.
    #[test]
    fn issue_12_one_of_a_thing_is_singular() {
        assert_eq!(plural(1, "user"), "1 user");
        assert_eq!(plural(0, "user"), "0 users");
        assert_eq!(plural(2, "failed check"), "2 failed checks");
        assert_eq!(plural(3, "entry"), "3 entries");
        assert_eq!(plural(2, "day"), "2 days");
        assert_eq!(plural(2, "process"), "2 processes");
        let (mut r, _) = fixtures::closed();
        r.run.peak_users = 1;
        r.overall.requests = 1;
        r.overall.ok = 0;
        r.overall.errors = 1;
        r.overall.check_failed = 1;
        let facts = run_facts(&r);
        assert!(
            facts.contains(", peak 1 user, 1 request, 0 ok, 1 error, 1 failed check\n"),
            "{facts}"
        );
        let (mut r, mut v) = fixtures::closed();
        r.run.peak_users = 1;
        v.targets.truncate(1);
        v.targets[0].status = TargetStatus::Pass;
        v.passed = true;
        assert!(verdict_lines(&v).ends_with("verdict: passed (1 target)\n"));
        v.targets[0].status = TargetStatus::Fail;
        v.passed = false;
        assert!(verdict_lines(&v).ends_with("verdict: FAILED (1 of 1 target)\n"));
        let md = crate::report::markdown::render(&r, &v);
        assert!(md.contains("**1 of 1 target not met**"), "{md}");
        assert!(md.contains(" · peak 1 user · "), "{md}");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_us(850), "850µs");
        assert_eq!(fmt_us(2_345), "2.35ms");
        assert_eq!(fmt_us(20_100), "20.1ms");
        assert_eq!(fmt_us(1_520_000), "1.52s");
        assert_eq!(fmt_pct(0.0), "0%");
        assert_eq!(fmt_pct(0.001), "0.10%");
        assert_eq!(fmt_pct(0.5), "50.0%");
    }
}
