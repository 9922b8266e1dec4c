//! What the person at the terminal sees: a live line on stderr while the run goes (only
//! when stderr is a terminal and not `--quiet`), the per-endpoint table on stdout at the end.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use crate::engine::Progress;
use crate::metrics::RunResult;
use crate::report::text::{endpoint_table, fmt_pct, fmt_us, run_facts};
use crate::scenario::Plan;

pub struct Live {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl Live {
    pub fn start(
        mut rx: watch::Receiver<Progress>,
        quiet: bool,
        plan: &Plan,
        target: &str,
    ) -> Live {
        let tty = std::io::stderr().is_terminal();
        if quiet || !tty {
            return Live {
                task: None,
                bar: None,
            };
        }
        let planned = plan.load.duration();
        let bar = ProgressBar::with_draw_target(
            Some(planned.as_secs().max(1)),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:24.cyan/blue}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{} -> {target}", plan.name));
        let b = bar.clone();
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let p = rx.borrow_and_update().clone();
                b.set_position(p.elapsed.as_secs().min(planned.as_secs()));
                let err = if p.requests > 0 {
                    p.errors as f64 / p.requests as f64
                } else {
                    0.0
                };
                b.set_message(format!(
                    "{}/{} users {} rps {:.0} p95 {} errors {} ({}){}",
                    clock(p.elapsed),
                    clock(p.planned),
                    p.users,
                    p.last.rps,
                    fmt_us(p.last.p95_us),
                    p.errors,
                    fmt_pct(err),
                    if p.stopping { " stopping..." } else { "" }
                ));
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

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// The final table on stdout, facts and the folder on stderr. A closed stdout is fine.
pub fn print_summary(r: &RunResult, dir: &Path) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(endpoint_table(r).as_bytes());
    let _ = out.flush();
    eprint!("{}", run_facts(r));
    eprintln!("results: {}", dir.display());
}
