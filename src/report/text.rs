//! Plain-text tables for the terminal.

use crate::metrics::{RunResult, RunStatus, Summary, TargetStatus, Verdict};

/// Format µs for people: `850µs`, `12.3ms`, `1.52s`.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 10_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

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

fn row(name: &str, s: &Summary) -> [String; 8] {
    let r = &s.response_time;
    [
        name.to_string(),
        s.requests.to_string(),
        format!("{:.1}", s.rps),
        fmt_pct(s.error_rate),
        fmt_us(r.p50_us),
        fmt_us(r.p95_us),
        fmt_us(r.p99_us),
        fmt_us(r.max_us),
    ]
}

/// The per-endpoint table printed at the end of a run.
pub fn endpoint_table(r: &RunResult) -> String {
    let header = [
        "endpoint", "requests", "rps", "errors", "p50", "p95", "p99", "max",
    ]
    .map(String::from);
    let mut rows = vec![header];
    for s in &r.steps {
        rows.push(row(&s.name, &s.summary));
    }
    rows.push(row("all", &r.overall));
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        if i == rows.len() - 1 {
            let total: usize = widths.iter().sum::<usize>() + 2 * 7;
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

/// One paragraph about the run: status, duration, users, and errors by kind.
pub fn run_facts(r: &RunResult) -> String {
    let status = match r.run.status {
        RunStatus::Complete => "complete".to_string(),
        RunStatus::Running => "running (or its process died)".to_string(),
        RunStatus::Interrupted => format!(
            "interrupted: {}",
            r.run.stop_reason.as_deref().unwrap_or("stopped early")
        ),
    };
    let mut s = format!(
        "run {} ({status}): {:.1}s against {}, peak {} users, {} requests, {} ok, {} errors, {} failed checks\n",
        r.run.id,
        r.run.duration_us as f64 / 1e6,
        r.run.target,
        r.run.peak_users,
        r.overall.requests,
        r.overall.ok,
        r.overall.errors,
        r.overall.check_failed
    );
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
            "{} requests in flight at the end were cut off (not counted)\n",
            r.run.cut_off
        ));
    }
    s
}

/// The verdict for the terminal: one line per target, then the outcome.
pub fn verdict_lines(v: &Verdict) -> String {
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
    if v.passed {
        s.push_str(&format!("verdict: passed ({} targets)\n", v.targets.len()));
    } else {
        s.push_str(&format!(
            "verdict: FAILED ({failed} of {} targets)\n",
            v.targets.len()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
