//! The command line: parse arguments, run a subcommand, map the outcome to an exit code.
//!
//! The only module that prints or exits. Exit codes: 0 success; 1 the run finished but a
//! target failed, a run without targets had no request succeed, or `compare` /
//! `--baseline` found a regression; 2 invalid input or usage (a results folder that cannot
//! be read included); 3 the run could not be carried out (I/O, TLS set-up, a worker
//! process that died); 130 stopped by Ctrl-C (SIGINT), 143 by SIGTERM, 129 by SIGHUP
//! (results, reports and the verdict still written).

mod capacity;
mod compare;
mod console;
mod import;
pub mod k8s;
mod lighthouse;
mod merge;
mod report;
mod run;
mod serve;
mod shard;
mod validate;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit codes, as documented in the README.
pub mod exit {
    use crate::metrics::{StopReason, StopSignal};

    pub const OK: u8 = 0;
    /// A target failed or was not measured, a run without targets had no request succeed
    /// (`Verdict::run_failed`), a regression, or a saturated generator under
    /// `--fail-on-saturation`.
    pub const TARGETS_FAILED: u8 = 1;
    pub const INVALID: u8 = 2;
    pub const RUNTIME: u8 = 3;
    /// Stopped by Ctrl-C (SIGINT): 128 + 2.
    pub const INTERRUPTED: u8 = 130;
    /// Stopped by SIGTERM: 128 + 15, what a shell reports for a process SIGTERM killed.
    pub const TERMINATED: u8 = 143;
    /// Stopped by SIGHUP (the terminal closed): 128 + 1.
    pub const HUNG_UP: u8 = 129;

    /// The exit code of a run that was interrupted, from its stop reason: the signal that
    /// stopped it (first), or [`RUNTIME`] when a `--workers` run lost a worker or a shard
    /// started later than `--strict-start` allows.
    pub fn interrupted(stop_reason: Option<&StopReason>) -> u8 {
        match stop_reason.map(|r| (r.signal(), r)) {
            Some((Some(StopSignal::Terminate), _)) => TERMINATED,
            Some((Some(StopSignal::HangUp), _)) => HUNG_UP,
            Some((None, StopReason::WorkerDied { .. } | StopReason::LateStart { .. })) => RUNTIME,
            _ => INTERRUPTED,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_first_signal_picks_the_exit_code_and_a_lost_worker_fails() {
            let died = |signal| StopReason::WorkerDied {
                signal,
                detail: "worker 0 of 2 was killed by signal 9 (SIGKILL)".into(),
            };
            let cases = [
                (StopReason::Signal(StopSignal::Interrupt), INTERRUPTED),
                (StopReason::Signal(StopSignal::Terminate), TERMINATED),
                (StopReason::Signal(StopSignal::HangUp), HUNG_UP),
                (died(None), RUNTIME),
                (died(Some(StopSignal::Terminate)), TERMINATED),
                (died(Some(StopSignal::Interrupt)), INTERRUPTED),
                (StopReason::Other("a test".into()), INTERRUPTED),
                // The dashboard's Stop button: a person's decision, like Ctrl-C.
                (StopReason::Dashboard, INTERRUPTED),
                (
                    StopReason::LateStart {
                        detail: "2 s after --start-at".into(),
                    },
                    RUNTIME,
                ),
            ];
            for (reason, code) in cases {
                assert_eq!(interrupted(Some(&reason)), code, "{reason}");
            }
            assert_eq!(interrupted(None), INTERRUPTED);
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "skein",
    version,
    about = "Declarative load testing with HDR histograms, on a goose swarm"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run a scenario file and write a results folder.
    Run(RunArgs),
    /// Load-test one URL with GET requests, no scenario file needed.
    Quick(QuickArgs),
    /// Check scenario files and report every problem (exit 2 if any).
    Validate(validate::ValidateArgs),
    /// Regenerate every report of a results folder and judge its targets again.
    Report(report::ReportArgs),
    /// Compare two results folders: exit 1 when the candidate regressed against the baseline.
    Compare(compare::CompareArgs),
    /// Capacity planning: fit the scalability model to measured figures, write a plan.
    Capacity(capacity::CapacityArgs),
    /// Serve the embedded Phase 9 demo target until Ctrl-C.
    ServeDemo(serve::ServeArgs),
    /// Merge the shard folders of a run (`run --shard`) into one results folder, judge its
    /// targets once and write every report; the exit code is the merged verdict's.
    Merge(merge::MergeArgs),
    /// Kubernetes: render the manifests of a run sharded across pods.
    K8s(k8s::K8sArgs),
    /// Turn a recording into a scenario file: `skein import har RECORDING.har -o FILE`.
    Import(import::ImportArgs),
}

/// Options shared by `run` and `quick`.
#[derive(Args, Debug, Clone)]
pub struct CommonRunArgs {
    /// Folder under which the run's results folder is created.
    #[arg(long, short = 'o', default_value = "reports", value_name = "DIR")]
    pub output: PathBuf,
    /// No live progress line (CI logs); the final table is still printed.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Seed for random think times and template functions (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A file with a `targets:` list, judged on top of the scenario's own (repeatable).
    #[arg(long, value_name = "FILE")]
    pub targets: Vec<PathBuf>,
    /// Split the load across N worker processes (each with a share of the users or of the
    /// arrival rate) and merge their measurements exactly [default: one per available
    /// core, at most the users].
    #[arg(long, short = 'w', value_name = "N")]
    pub workers: Option<usize>,
    /// Run shard I of N of a run split across processes or machines, and write a shard
    /// folder (`<output>/<run-id>/shard-<I>/`) for `skein merge`; `auto/N` reads I from
    /// SKEIN_SHARD_INDEX, JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or SLURM_PROCID.
    #[arg(long, value_name = "I/N|auto/N", value_parser = shard::parse_shard_arg)]
    pub shard: Option<shard::ShardArg>,
    /// The id shared by every shard of the run [default: SKEIN_RUN_ID, `slurm-$SLURM_JOB_ID`
    /// under Slurm, or the run's name and an absolute --start-at].
    #[arg(long, value_name = "ID", requires = "shard")]
    pub run_id: Option<String>,
    /// Start the load at this time, so that shards on several machines ramp together: an
    /// RFC 3339 time (2026-12-07T17:00:00Z) or +DURATION from now (+90s). A process that
    /// gets there late starts at once on the common clock and records how late.
    #[arg(long, value_name = "TIME", value_parser = shard::parse_start_at)]
    pub start_at: Option<shard::StartAt>,
    /// With --start-at: a process later than this (default 1s) starts no user and exits 3.
    #[arg(
        long,
        value_name = "TOLERANCE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1s",
        requires = "start_at",
        value_parser = pause_arg
    )]
    pub strict_start: Option<String>,
    /// Run as worker I of N of a `--workers` run (set by the parent).
    #[arg(long, hide = true, value_name = "I/N")]
    pub as_worker: Option<crate::scenario::Shard>,
    /// A worker's start: the parent's --start-at, as a time.
    #[arg(long, hide = true, requires = "as_worker", value_parser = shard::parse_start_at)]
    pub worker_start_at: Option<shard::StartAt>,
    /// A worker's target (the parent's, demo included).
    #[arg(long, hide = true, requires = "as_worker")]
    pub worker_target: Option<String>,
    /// A worker's results folder.
    #[arg(long, hide = true, requires = "as_worker")]
    pub worker_output: Option<PathBuf>,
    /// The run's seed, which each worker derives its own from.
    #[arg(long, hide = true, requires = "as_worker")]
    pub worker_seed: Option<u64>,
    /// Exit 1, like a failed target, when the load generator itself was saturated (its
    /// numbers are then a lower bound); without it, a saturated run only warns.
    #[arg(long)]
    pub fail_on_saturation: bool,
    /// Push the live figures to a Prometheus remote-write receiver every 5 s (counters,
    /// gauges, native histograms); credentials from SKEIN_REMOTE_WRITE_BEARER or
    /// SKEIN_REMOTE_WRITE_USER and SKEIN_REMOTE_WRITE_PASSWORD.
    #[arg(long, value_name = "URL")]
    pub remote_write: Option<String>,
    /// Serve the run's live figures for Prometheus at http://ADDR/metrics (OpenMetrics text)
    /// while it runs: HOST:PORT, or only a port (`9464`, `:9464`) for 127.0.0.1.
    #[arg(long, value_name = "ADDR", value_parser = crate::observe::prometheus::parse_listen)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Serve a live web dashboard while the run goes (charts, errors, targets so far, a Stop
    /// button) and print its URL: `--dashboard` alone listens on 127.0.0.1 on a free port,
    /// `--dashboard 8080` on 127.0.0.1:8080, or give HOST:PORT. Put it after the scenario,
    /// or write `--dashboard=ADDR`.
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:0",
        value_parser = crate::observe::prometheus::parse_listen
    )]
    pub dashboard: Option<std::net::SocketAddr>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario file (YAML or JSON).
    pub scenario: PathBuf,
    /// Send the load here instead of the file's target (a base URL).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Peak number of users (stages are scaled to it); in the open model, the most users
    /// the pool may grow to (`max_users`).
    #[arg(long, short = 'u', value_name = "N")]
    pub users: Option<usize>,
    /// Open model: start this many iterations a second (`500/s`, `600/m`) for the run's
    /// duration, whatever the responses do; an open plan's rates are scaled to peak here.
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
    /// Length of the run at full load, e.g. 30s or 5m (stages are scaled to it).
    #[arg(long, short = 'd', value_name = "DURATION", value_parser = duration_arg)]
    pub duration: Option<String>,
    /// Compare with this earlier run's folder afterwards; a regression fails the run (exit 1).
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonRunArgs,
}

#[derive(Args, Debug)]
pub struct QuickArgs {
    /// The URL to GET.
    pub url: String,
    /// Concurrent users (default 10); with `--rate`, the most users the pool may grow to
    /// (default: enough for the rate at 1 s per request).
    #[arg(long, short = 'u', value_name = "N")]
    pub users: Option<usize>,
    /// Open model: start this many requests a second (`1000/s`, `600/m`) on a fixed
    /// schedule, whatever the responses do; latency runs from each intended start.
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
    /// How long, e.g. 10s.
    #[arg(long, short = 'd', default_value = "10s", value_name = "DURATION", value_parser = duration_arg)]
    pub duration: String,
    /// Pause after each request, e.g. 1s.
    #[arg(long, value_name = "DURATION", value_parser = pause_arg)]
    pub think: Option<String>,
    #[command(flatten)]
    pub common: CommonRunArgs,
}

/// Parse the arguments, run, print errors once, return the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::INVALID
            } else {
                exit::OK
            });
        }
    };
    ExitCode::from(dispatch(cli))
}

fn dispatch(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Validate(a) => return validate::validate(&a),
        Command::Report(a) => report::report(&a),
        Command::Compare(a) => compare::compare(&a),
        Command::Merge(a) => merge::merge(&a),
        Command::Capacity(a) => capacity::capacity(a),
        Command::Run(a) => runtime().and_then(|rt| rt.block_on(run::run(a))),
        Command::Quick(a) => runtime().and_then(|rt| rt.block_on(run::quick(a))),
        Command::ServeDemo(a) => runtime().and_then(|rt| rt.block_on(serve::serve(a))),
        Command::K8s(a) => k8s::k8s(&a),
        Command::Import(a) => import::import(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<Invalid>() {
                Some(_) => exit::INVALID,
                None => exit::RUNTIME,
            }
        }
    }
}

/// An error in what the user gave us (exit 2), as opposed to one while running (exit 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Parse a rate given on the command line (`500/s`, `600/m`), per second, above 0.
pub fn parse_rate(s: &str) -> Result<f64, Invalid> {
    match crate::scenario::parse_rate(s) {
        Ok(r) if r > 0.0 => Ok(r),
        Ok(_) => Err(Invalid(format!("`{s}`: a rate above 0, e.g. 100/s"))),
        Err(e) => Err(Invalid(format!("`{s}`: {e}"))),
    }
}

/// clap's check of a duration option, so that a mistake names the option: `-d 5` is
/// "invalid value '5' for '--duration <DURATION>': add a unit, e.g. 5s" (exit 2).
pub fn duration_arg(s: &str) -> Result<String, String> {
    crate::scenario::parse_duration(s).map(|_| s.to_string())
}

/// [`duration_arg`] for a pause or a latency (`--think`, `--slo-p95`): a bare number is
/// suggested in milliseconds.
pub fn pause_arg(s: &str) -> Result<String, String> {
    crate::scenario::parse_duration(s)
        .map(|_| s.to_string())
        .map_err(|e| {
            let bare = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if bare {
                crate::scenario::millisecond_hint(s)
            } else {
                e
            }
        })
}

/// Parse a duration given on the command line (`500ms`, `10s`, `1m30s`, `2h`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, Invalid> {
    crate::scenario::parse_duration(s).map_err(|e| Invalid(format!("`{s}`: {e}")))
}

#[cfg(test)]
mod dashboard_flag_tests {
    use super::*;

    /// `--dashboard` alone is loopback on a free port; a port alone is loopback too.
    #[test]
    fn dashboard_addresses() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["skein", "quick", "http://127.0.0.1:1/"].iter().chain(args)).map(
                |cli| match cli.command {
                    Command::Quick(q) => q.common.dashboard,
                    _ => unreachable!(),
                },
            )
        };
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(
            parse(&["--dashboard"]).unwrap(),
            Some("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse(&["--dashboard", "8089"]).unwrap(),
            Some("127.0.0.1:8089".parse().unwrap())
        );
        assert_eq!(
            parse(&["--dashboard=[::1]:9000"]).unwrap(),
            Some("[::1]:9000".parse().unwrap())
        );
        assert!(parse(&["--dashboard", "localhost"]).is_err());
    }
}
