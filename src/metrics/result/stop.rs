//! Why a run stopped before its planned end, as a type: the command line picks its exit
//! code and its reports' wording from the variant, never from the text.
//!
//! `result.json` keeps the sentence it has always held (`"stop_reason": "terminated
//! (SIGTERM)"`): a reason is written as its [`Display`](std::fmt::Display) text, and a
//! text read back becomes the variant that writes exactly that text, or
//! [`StopReason::Other`] (a reason of an older or newer Skein, or a caller's own words),
//! so every file round-trips byte for byte.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A signal that stops a run: the first one gracefully, the next one hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopSignal {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM (`kill`, `docker stop`, Kubernetes, CI cancellation, `timeout`).
    Terminate,
    /// SIGHUP (the terminal closed).
    HangUp,
}

impl StopSignal {
    const ALL: [StopSignal; 3] = [
        StopSignal::Interrupt,
        StopSignal::Terminate,
        StopSignal::HangUp,
    ];

    /// The words a stop reason uses for it: `interrupted (SIGINT)`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "interrupted (SIGINT)",
            StopSignal::Terminate => "terminated (SIGTERM)",
            StopSignal::HangUp => "hung up (SIGHUP)",
        }
    }
}

/// Why a run stopped early (`RunInfo::stop_reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum StopReason {
    /// A signal reached the run.
    Signal(StopSignal),
    /// A target with `abort_on_fail` was lost for its whole grace.
    TargetFailed {
        /// The target as written (`error_rate < 1%`).
        target: String,
        /// What was measured against it.
        detail: String,
    },
    /// A step test stopped past its limit, on purpose (`detail`: at which level, and why).
    EarlyStop { detail: String },
    /// `--workers`: a worker died or failed (`detail`: which, and how); the others were
    /// stopped and merged. `signal`: one that had reached the parent before.
    WorkerDied {
        signal: Option<StopSignal>,
        detail: String,
    },
    /// The parent of a `--workers` run ended before merging its workers' folders.
    ParentEnded,
    /// The run's process ended before writing its totals, which were rebuilt from the
    /// journal; `latencies`: the interval log was there too.
    Rebuilt { latencies: bool },
    /// A shard started later than `--strict-start` allows after the common `--start-at`,
    /// so it started no user (`detail`: how late, and the tolerance).
    LateStart { detail: String },
    /// The Stop button of the live dashboard (`--dashboard`): a person's decision, like
    /// Ctrl-C (the same exit code).
    Dashboard,
    /// Any other reason, in its own words.
    Other(String),
}

const ABORTED: &str = "aborted: target `";
const EARLY_STOP: &str = "capacity: stopped early";
const WORKER_DIED: &str = "a worker died: ";
const OTHERS_MERGED: &str = "; the others were stopped, and what each wrote merged";
const PARENT_ENDED: &str =
    "the parent of the workers ended before merging them; merged from their folders";
const REBUILT: &str =
    "the run's process ended before writing its totals; rebuilt from the interval journal";
const LATE_START: &str = "started late: ";
const DASHBOARD: &str = "stopped from the dashboard";
/// How a run rebuilt without its interval log is described (also in the folder's notes).
pub const NO_LATENCIES: &str = "no latencies (the interval log latency.hlog is missing)";

impl StopReason {
    /// The signal that stopped the run first, if one did.
    pub fn signal(&self) -> Option<StopSignal> {
        match self {
            StopReason::Signal(s) => Some(*s),
            StopReason::WorkerDied { signal, .. } => *signal,
            _ => None,
        }
    }

    /// The reason whose text is `s`: the variant that writes exactly `s`, or `Other`.
    pub fn parse(s: &str) -> StopReason {
        match parse_variant(s) {
            Some(r) if r.to_string() == s => r,
            _ => StopReason::Other(s.to_string()),
        }
    }
}

fn parse_variant(s: &str) -> Option<StopReason> {
    if let Some(sig) = StopSignal::ALL.into_iter().find(|g| g.as_str() == s) {
        return Some(StopReason::Signal(sig));
    }
    if let Some(rest) = s.strip_prefix(ABORTED) {
        let (target, detail) = rest.strip_suffix(')')?.split_once("` failed (")?;
        return Some(StopReason::TargetFailed {
            target: target.into(),
            detail: detail.into(),
        });
    }
    if let Some(rest) = s.strip_prefix(EARLY_STOP) {
        let detail = rest.strip_prefix(' ').unwrap_or(rest);
        return Some(StopReason::EarlyStop {
            detail: detail.into(),
        });
    }
    if let Some(detail) = s.strip_prefix(LATE_START) {
        return Some(StopReason::LateStart {
            detail: detail.into(),
        });
    }
    if s == DASHBOARD {
        return Some(StopReason::Dashboard);
    }
    if s == PARENT_ENDED {
        return Some(StopReason::ParentEnded);
    }
    if let Some(rest) = s.strip_prefix(REBUILT) {
        return Some(StopReason::Rebuilt {
            latencies: rest.is_empty(),
        });
    }
    let (signal, rest) = match StopSignal::ALL
        .into_iter()
        .find_map(|g| Some((g, s.strip_prefix(g.as_str())?.strip_prefix("; ")?)))
    {
        Some((g, rest)) => (Some(g), rest),
        None => (None, s),
    };
    let detail = rest
        .strip_prefix(WORKER_DIED)?
        .strip_suffix(OTHERS_MERGED)?;
    Some(StopReason::WorkerDied {
        signal,
        detail: detail.into(),
    })
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Signal(s) => f.write_str(s.as_str()),
            StopReason::TargetFailed { target, detail } => {
                write!(f, "{ABORTED}{target}` failed ({detail})")
            }
            StopReason::EarlyStop { detail } if detail.is_empty() => f.write_str(EARLY_STOP),
            StopReason::EarlyStop { detail } => write!(f, "{EARLY_STOP} {detail}"),
            StopReason::WorkerDied { signal, detail } => {
                if let Some(s) = signal {
                    write!(f, "{}; ", s.as_str())?;
                }
                write!(f, "{WORKER_DIED}{detail}{OTHERS_MERGED}")
            }
            StopReason::ParentEnded => f.write_str(PARENT_ENDED),
            StopReason::Dashboard => f.write_str(DASHBOARD),
            StopReason::LateStart { detail } => write!(f, "{LATE_START}{detail}"),
            StopReason::Rebuilt { latencies: true } => f.write_str(REBUILT),
            StopReason::Rebuilt { latencies: false } => {
                write!(f, "{REBUILT}, with counts but {NO_LATENCIES}")
            }
            StopReason::Other(s) => f.write_str(s),
        }
    }
}

impl From<StopReason> for String {
    fn from(r: StopReason) -> String {
        r.to_string()
    }
}

impl From<String> for StopReason {
    fn from(s: String) -> StopReason {
        StopReason::parse(&s)
    }
}

impl From<StopSignal> for StopReason {
    fn from(s: StopSignal) -> StopReason {
        StopReason::Signal(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason Skein has written reads back as its variant and writes the same text.
    #[test]
    fn reasons_round_trip_through_their_text() {
        let typed = [
            StopReason::Signal(StopSignal::Interrupt),
            StopReason::Signal(StopSignal::Terminate),
            StopReason::Signal(StopSignal::HangUp),
            StopReason::TargetFailed {
                target: "error_rate < 1%".into(),
                detail: "12.5% (3 of 24)".into(),
            },
            StopReason::EarlyStop {
                detail: "at level 3 of 5 (30 users): p99 over the limit".into(),
            },
            StopReason::WorkerDied {
                signal: None,
                detail: "worker 0 of 2 was killed by signal 9 (SIGKILL); 1 of 2 workers left \
                         no results folder: merged from the other 1"
                    .into(),
            },
            StopReason::WorkerDied {
                signal: Some(StopSignal::Terminate),
                detail: "worker 1 of 2 failed (exit 3): boom".into(),
            },
            StopReason::ParentEnded,
            StopReason::Dashboard,
            StopReason::Rebuilt { latencies: true },
            StopReason::Rebuilt { latencies: false },
        ];
        for r in typed {
            let text = r.to_string();
            assert_eq!(StopReason::parse(&text), r, "{text}");
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, serde_json::to_string(&text).unwrap());
            assert_eq!(serde_json::from_str::<StopReason>(&json).unwrap(), r);
        }
    }

    /// The variant's name, one arm each and no wildcard: a new variant does not compile
    /// until it is named here, and then fails the test below until its text is pinned.
    fn variant(r: &StopReason) -> &'static str {
        match r {
            StopReason::Signal(StopSignal::Interrupt) => "Signal(Interrupt)",
            StopReason::Signal(StopSignal::Terminate) => "Signal(Terminate)",
            StopReason::Signal(StopSignal::HangUp) => "Signal(HangUp)",
            StopReason::TargetFailed { .. } => "TargetFailed",
            StopReason::EarlyStop { .. } => "EarlyStop",
            StopReason::WorkerDied { signal: None, .. } => "WorkerDied",
            StopReason::WorkerDied {
                signal: Some(_), ..
            } => "WorkerDied(signal)",
            StopReason::ParentEnded => "ParentEnded",
            StopReason::Dashboard => "Dashboard",
            StopReason::LateStart { .. } => "LateStart",
            StopReason::Rebuilt { latencies: true } => "Rebuilt",
            StopReason::Rebuilt { latencies: false } => "Rebuilt(no latencies)",
            StopReason::Other(_) => "Other",
        }
    }

    /// Every kind of reason as `result.json` holds it, written out as the code before the
    /// typed reason built it (the signal constants of `engine`, `format!("{ABORTED}: target
    /// `{}` failed ({})")` of `cli/run.rs` with `ABORTED = "aborted"`, `"{EARLY_STOP} at
    /// level {} of {} ({}{unit}): {why}"` of `cli/capacity.rs`, the worker failures of
    /// `cli/workers.rs` after the signal, joined by `"; "`, the merge's and the rebuild's
    /// sentences of `metrics`): each text reads back as its variant and that variant
    /// writes the text again, byte for byte.
    #[test]
    fn the_texts_are_those_result_files_hold() {
        let worker_died = |signal, detail: &str| StopReason::WorkerDied {
            signal,
            detail: detail.into(),
        };
        let cases: Vec<(&str, StopReason)> = vec![
            (
                "interrupted (SIGINT)",
                StopReason::Signal(StopSignal::Interrupt),
            ),
            (
                "terminated (SIGTERM)",
                StopReason::Signal(StopSignal::Terminate),
            ),
            ("hung up (SIGHUP)", StopReason::Signal(StopSignal::HangUp)),
            (
                "aborted: target `error_rate < 1%` failed (error rate of all requests is \
                 100 % (limit < 1 %))",
                StopReason::TargetFailed {
                    target: "error_rate < 1%".into(),
                    detail: "error rate of all requests is 100 % (limit < 1 %)".into(),
                },
            ),
            (
                "aborted: target `p99(step=\"GET /api/products/ID\") < 250ms` failed (p99 \
                 response time of step \"GET /api/products/ID\" after 30s is 412.3 ms \
                 (limit < 250 ms))",
                StopReason::TargetFailed {
                    target: "p99(step=\"GET /api/products/ID\") < 250ms".into(),
                    detail: "p99 response time of step \"GET /api/products/ID\" after 30s \
                             is 412.3 ms (limit < 250 ms)"
                        .into(),
                },
            ),
            (
                "capacity: stopped early at level 3 of 5 (30 users): p95 1.50s is beyond 3 x \
                 the SLO of 400.0ms",
                StopReason::EarlyStop {
                    detail: "at level 3 of 5 (30 users): p95 1.50s is beyond 3 x the SLO of \
                             400.0ms"
                        .into(),
                },
            ),
            (
                "capacity: stopped early at level 4 of 6 (80/s): error rate 23.4% is beyond \
                 the early-stop bound of 10.0%",
                StopReason::EarlyStop {
                    detail: "at level 4 of 6 (80/s): error rate 23.4% is beyond the \
                             early-stop bound of 10.0%"
                        .into(),
                },
            ),
            (
                "capacity: stopped early",
                StopReason::EarlyStop {
                    detail: String::new(),
                },
            ),
            (
                "a worker died: worker 0 of 2 was killed by signal 9 (SIGKILL); the others \
                 were stopped, and what each wrote merged",
                worker_died(None, "worker 0 of 2 was killed by signal 9 (SIGKILL)"),
            ),
            (
                "a worker died: worker 0 of 3 was killed by signal 9 (SIGKILL); worker 2 of 3 \
                 failed (exit 2): error: boom; 1 of 3 workers left no results folder: merged \
                 from the other 2; the others were stopped, and what each wrote merged",
                worker_died(
                    None,
                    "worker 0 of 3 was killed by signal 9 (SIGKILL); worker 2 of 3 failed \
                     (exit 2): error: boom; 1 of 3 workers left no results folder: merged \
                     from the other 2",
                ),
            ),
            (
                "interrupted (SIGINT); a worker died: worker 1 of 2 failed (exit 3); the \
                 others were stopped, and what each wrote merged",
                worker_died(Some(StopSignal::Interrupt), "worker 1 of 2 failed (exit 3)"),
            ),
            (
                "terminated (SIGTERM); a worker died: worker 1 of 2 ended (signal: 6 \
                 (SIGABRT)): panicked; the others were stopped, and what each wrote merged",
                worker_died(
                    Some(StopSignal::Terminate),
                    "worker 1 of 2 ended (signal: 6 (SIGABRT)): panicked",
                ),
            ),
            (
                "hung up (SIGHUP); a worker died: worker 0 of 4 could not be waited for \
                 (No child processes (os error 10)); the others were stopped, and what each \
                 wrote merged",
                worker_died(
                    Some(StopSignal::HangUp),
                    "worker 0 of 4 could not be waited for (No child processes (os error 10))",
                ),
            ),
            (
                "the parent of the workers ended before merging them; merged from their \
                 folders",
                StopReason::ParentEnded,
            ),
            (
                "the run's process ended before writing its totals; rebuilt from the \
                 interval journal",
                StopReason::Rebuilt { latencies: true },
            ),
            (
                "the run's process ended before writing its totals; rebuilt from the \
                 interval journal, with counts but no latencies (the interval log \
                 latency.hlog is missing)",
                StopReason::Rebuilt { latencies: false },
            ),
            (
                "started late: 2.345 s after --start-at 2026-12-07T17:00:00Z (--strict-start \
                 allows 1 s); no user was started",
                StopReason::LateStart {
                    detail: "2.345 s after --start-at 2026-12-07T17:00:00Z (--strict-start \
                             allows 1 s); no user was started"
                        .into(),
                },
            ),
            ("stopped from the dashboard", StopReason::Dashboard),
            (
                "stopped by the test harness",
                StopReason::Other("stopped by the test harness".into()),
            ),
        ];
        for (text, r) in &cases {
            assert_eq!(StopReason::parse(text), *r, "{text}");
            assert_eq!(r.to_string(), *text);
            let json = serde_json::to_string(text).unwrap();
            assert_eq!(serde_json::from_str::<StopReason>(&json).unwrap(), *r);
            assert_eq!(serde_json::to_string(r).unwrap(), json);
        }
        // Every variant (and each signal, each with and without one) is pinned above.
        let mut pinned: Vec<&str> = cases.iter().map(|(_, r)| variant(r)).collect();
        pinned.sort_unstable();
        pinned.dedup();
        let mut all = vec![
            "Signal(Interrupt)",
            "Signal(Terminate)",
            "Signal(HangUp)",
            "TargetFailed",
            "EarlyStop",
            "WorkerDied",
            "WorkerDied(signal)",
            "ParentEnded",
            "Dashboard",
            "LateStart",
            "Rebuilt",
            "Rebuilt(no latencies)",
            "Other",
        ];
        all.sort_unstable();
        assert_eq!(pinned, all);
    }

    /// Text that only looks like a known reason stays as it was written.
    #[test]
    fn other_texts_are_kept_as_written() {
        for s in [
            "",
            "test",
            "interrupted (SIGINT) twice",
            "aborted: target `x` failed",
            "capacity: stopped earlyish",
            "the run's process ended before writing its totals; rebuilt from the interval \
             journal, somehow",
            "a worker died: worker 0 of 2 failed",
        ] {
            let r = StopReason::parse(s);
            assert_eq!(r, StopReason::Other(s.into()), "{s}");
            assert_eq!(r.to_string(), s);
        }
        assert_eq!(
            StopReason::parse("aborted: target `a` failed (1)").signal(),
            None
        );
        let died = StopReason::parse(
            "hung up (SIGHUP); a worker died: w; the others were stopped, and what each \
             wrote merged",
        );
        assert_eq!(died.signal(), Some(StopSignal::HangUp));
    }
}
