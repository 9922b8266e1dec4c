//! What the person at the terminal sees: a live line on stderr while the run goes (only
//! when stderr is a terminal and not `--quiet`; `merge --watch`'s, which follows shards
//! running elsewhere, is a plain line every few seconds in a log), the per-endpoint table on
//! stdout at the end, and on stderr any warning about the numbers (a saturated generator,
//! dropped or late iterations) before the table and, for saturation, again at the very end.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use crate::engine::Progress;
use crate::metrics::saturation::Busy;
use crate::metrics::{RunResult, TimePoint};
use crate::report::SATURATION_HEADLINE;
use crate::report::text::{
    endpoint_table, fmt_pct, fmt_us, run_facts, server_timing_table, warning_lines,
};
use crate::scenario::Plan;

pub struct Live {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl Live {
    pub fn start(rx: watch::Receiver<Progress>, quiet: bool, plan: &Plan, target: &str) -> Live {
        if quiet || !std::io::stderr().is_terminal() {
            return Live {
                task: None,
                bar: None,
            };
        }
        let planned = plan.load.duration();
        let bar = bar(planned, format!("{} -> {target}", plan.name));
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let mut rx = rx;
            while rx.changed().await.is_ok() {
                let p = rx.borrow_and_update().clone();
                b.set_position(p.elapsed.as_secs().min(planned.as_secs()));
                b.set_message(status(&p));
            }
        });
        Live {
            task: Some(task),
            bar: Some(bar),
        }
    }

    /// The live line of progress that is not this process's run (`skein merge --watch`:
    /// shards running elsewhere), headed `name -> target`, each update's note after the
    /// figures ("2 of 3 shards running"). When stderr is not a terminal (a Kubernetes
    /// pod's log, a Slurm job's output) it is a plain line instead, printed when the note
    /// changes and every [`PLAIN_EVERY`]: following the shards is all this process does.
    pub fn start_named(
        rx: watch::Receiver<(Progress, String)>,
        quiet: bool,
        name: &str,
        planned: Duration,
        target: &str,
    ) -> Live {
        let head = format!("{name} -> {target}");
        if quiet {
            return Live {
                task: None,
                bar: None,
            };
        }
        if !std::io::stderr().is_terminal() {
            let task = tokio::spawn(plain_lines(rx, head));
            return Live {
                task: Some(task),
                bar: None,
            };
        }
        let bar = bar(planned, head);
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let mut rx = rx;
            while rx.changed().await.is_ok() {
                let (p, note) = rx.borrow_and_update().clone();
                b.set_position(p.elapsed.as_secs().min(planned.as_secs()));
                b.set_message(format!("{}; {note}", status(&p)));
            }
        });
        Live {
            task: Some(task),
            bar: Some(bar),
        }
    }

    pub async fn finish(self) {
        if let Some(t) = self.task {
            t.abort();
        }
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// How often a live line is printed when stderr is not a terminal (besides each change of
/// its note).
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// A progress bar on stderr for `planned`, headed `prefix`.
fn bar(planned: Duration, prefix: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(planned.as_secs().max(1)),
        ProgressDrawTarget::stderr_with_hz(4),
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:24.cyan/blue}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}

/// [`Live::start_named`] without a terminal: `head: status; note` on stderr when the note
/// changes, and every [`PLAIN_EVERY`].
async fn plain_lines(mut rx: watch::Receiver<(Progress, String)>, head: String) {
    let mut last: Option<(std::time::Instant, String)> = None;
    while rx.changed().await.is_ok() {
        let (p, note) = rx.borrow_and_update().clone();
        let due = last
            .as_ref()
            .is_none_or(|(at, n)| *n != note || at.elapsed() >= PLAIN_EVERY);
        if due {
            eprintln!("{head}: {}; {note}", status(&p));
            last = Some((std::time::Instant::now(), note));
        }
    }
}

/// The live figures: `0:12/1:00 users 40 rps 812 p95 21.3ms errors 0 (0.00%)`, and what
/// [`live_extras`] adds.
fn status(p: &Progress) -> String {
    let err = if p.requests > 0 {
        p.errors as f64 / p.requests as f64
    } else {
        0.0
    };
    format!(
        "{}/{} users {} rps {:.0} p95 {} errors {} ({}){}{}",
        clock(p.elapsed),
        clock(p.planned),
        p.users,
        p.last.rps,
        // No response in the last second: no latency to show, not 0µs.
        if p.last.max_us > 0 {
            fmt_us(p.last.p95_us)
        } else {
            "-".to_string()
        },
        p.errors,
        fmt_pct(err),
        live_extras(&p.last),
        if p.stopping { " stopping..." } else { "" }
    )
}

/// The last second's open-model counts (when any) and a busy generator, for the live line:
/// ` late 12 dropped 3 GENERATOR BUSY (cpu 97%)`.
fn live_extras(p: &TimePoint) -> String {
    let mut s = String::new();
    if p.late > 0 || p.dropped > 0 {
        s.push_str(&format!(" late {} dropped {}", p.late, p.dropped));
    }
    if Busy::from(p).any() {
        s.push_str(&format!(
            " GENERATOR BUSY (cpu {:.0}%, timer lag {})",
            p.cpu_pct,
            fmt_us(p.sched_lag_us)
        ));
    }
    s
}

/// At the end of a run: whether the generator was saturated, on stderr. Returns `true` when
/// that fails the run (`fail`, from `--fail-on-saturation`).
pub fn print_saturation(r: &RunResult, fail: bool) -> bool {
    let Some(line) = saturation_line(r, fail) else {
        return false;
    };
    eprintln!("{line}");
    fail
}

/// The end-of-run line about a saturated generator, or `None` when it was not.
fn saturation_line(r: &RunResult, fail: bool) -> Option<String> {
    let h = r.run.generator_health.as_ref().filter(|h| h.saturated)?;
    let why = if h.reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", h.reasons.join("; "))
    };
    Some(if fail {
        format!("saturation: FAILED (--fail-on-saturation): {SATURATION_HEADLINE}{why}")
    } else {
        format!("warning: {SATURATION_HEADLINE}{why}; --fail-on-saturation makes this fail the run")
    })
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// Warnings on stderr, the final table on stdout, facts and the folder on stderr. A closed
/// stdout is fine.
pub fn print_summary(r: &RunResult, dir: &Path) {
    eprint!("{}", warning_lines(r));
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(endpoint_table(r).as_bytes());
    let _ = out.write_all(server_timing_table(r).as_bytes());
    let _ = out.write_all(crate::report::custom::text_table(r).as_bytes());
    let _ = out.write_all(crate::report::availability::text(r).as_bytes());
    let _ = out.write_all(crate::report::lighthouse::text(r).as_bytes());
    let _ = out.flush();
    eprint!("{}", run_facts(r));
    eprintln!("results: {}", dir.display());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::GeneratorHealth;

    fn saturated(reasons: &[&str]) -> RunResult {
        let mut r: RunResult = serde_json::from_str(include_str!(
            "../../tests/fixtures/results/report-fixture/result.json"
        ))
        .unwrap();
        r.run.generator_health = Some(GeneratorHealth {
            saturated: true,
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
            ..GeneratorHealth::default()
        });
        r
    }

    #[test]
    fn saturation_warns_or_fails_by_the_flag() {
        let r = saturated(&["CPU at 100 %"]);
        assert_eq!(
            saturation_line(&r, false).unwrap(),
            "warning: numbers are a lower bound: the generator, not the target, was the \
             bottleneck (CPU at 100 %); --fail-on-saturation makes this fail the run"
        );
        assert!(
            saturation_line(&r, true).unwrap().starts_with(
                "saturation: FAILED (--fail-on-saturation): numbers are a lower bound"
            )
        );
        let mut healthy = r.clone();
        healthy.run.generator_health = Some(GeneratorHealth::default());
        assert_eq!(saturation_line(&healthy, true), None);
        healthy.run.generator_health = None;
        assert_eq!(saturation_line(&healthy, true), None);
    }

    #[test]
    fn the_live_line_shows_late_dropped_and_a_busy_generator() {
        let quiet = TimePoint::default();
        assert_eq!(live_extras(&quiet), "");
        let busy = TimePoint {
            late: 12,
            dropped: 3,
            cpu_pct: 97.0,
            sched_lag_us: 1_000,
            ..TimePoint::default()
        };
        assert_eq!(
            live_extras(&busy),
            " late 12 dropped 3 GENERATOR BUSY (cpu 97%, timer lag 1.00ms)"
        );
    }
}
