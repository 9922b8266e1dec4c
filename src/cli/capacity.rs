//! `skein capacity fit FILE.csv`: the capacity analysis of figures measured elsewhere
//! (production monitoring, another load tool): the same USL fit, knee, maximum
//! sustainable load and plan as a step test, printed and written as `capacity.json`,
//! `capacity.md`, `capacity.html` and the charts.
//!
//! The table's layout is in [`crate::capacity::table`]: a header row, then `load`,
//! `throughput` and optionally `p95_ms` (or `p95`, milliseconds) or `p95_us`. The rows of
//! each load level are taken together as one stable step ([`capacity::analyze_table`]), in
//! time proportional to the rows. Every option is checked (finite, in range: exit 2 naming
//! it), and a plan those options make absurd (over a million instances, a peak past `1e12`)
//! is refused. A table with fewer than 4 levels is analysed and written without
//! a fit (exit 0, with a warning), as the report of a step test with too few stable steps
//! is; a table that cannot be read exits 2 naming the line, the column, what was found and
//! what was expected.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use std::time::Duration;

use super::{Invalid, exit, parse_duration};
use crate::capacity::{self, CapacityOptions, CapacityReport, Planning};
use crate::engine::AbortCheck;
use crate::metrics::{self, RunResult, store};
use crate::report;
use crate::scenario::{self, Plan};

/// `skein capacity SCENARIO` runs a step test; `skein capacity fit FILE.csv` fits figures
/// measured elsewhere.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CapacityArgs {
    #[command(subcommand)]
    pub command: Option<CapacityCommand>,
    #[command(flatten)]
    pub run: StepArgs,
}

/// Run a scenario as a step test.
#[derive(Args, Debug)]
pub struct StepArgs {
    /// Scenario file to run as a step test: its `load.steps`, or the levels given by
    /// `--users` or `--rate`.
    #[arg(required = true)]
    pub scenario: Option<PathBuf>,
    /// Closed model: users in stairs, FROM:TO:STEP or FROM:TO:xFACTOR (e.g. 8:64:8).
    #[arg(long, value_name = "FROM:TO:STEP", conflicts_with = "rate")]
    pub users: Option<String>,
    /// Open model: arrival rates per second in stairs (e.g. 100:2000:100).
    #[arg(long, value_name = "FROM:TO:STEP")]
    pub rate: Option<String>,
    /// How long each level is held (default: the file's, else 30s).
    #[arg(long, value_name = "DURATION", value_parser = super::duration_arg)]
    pub hold: Option<String>,
    /// How long the load takes to move to each next level (default: the file's, else 0s).
    #[arg(long, value_name = "DURATION", value_parser = super::duration_arg)]
    pub ramp: Option<String>,
    /// The p95 response time a sustainable step keeps, e.g. 200ms.
    #[arg(long, value_name = "DURATION", value_parser = super::pause_arg)]
    pub slo_p95: Option<String>,
    /// Send the load here instead of the file's target (a base URL).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    #[command(flatten)]
    pub common: super::CommonRunArgs,
}

#[derive(Subcommand, Debug)]
pub enum CapacityCommand {
    /// Fit the scalability model to a CSV of load, throughput and optionally p95, and
    /// print and write the capacity plan.
    Fit(FitArgs),
}

#[derive(Args, Debug)]
pub struct FitArgs {
    /// CSV with a header row: `load,throughput` and optionally `p95_ms` (or `p95`, in
    /// milliseconds) or `p95_us`; load in users, throughput in requests per second.
    pub file: PathBuf,
    /// Folder to write capacity.json, capacity.md, capacity.html and the charts into
    /// [default: a new folder under reports/].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// The p95 response-time SLO, e.g. 200ms (needs a p95 column).
    #[arg(long, value_name = "DURATION", value_parser = super::pause_arg)]
    pub slo_p95: Option<String>,
    /// Expected peak requests per second, for the plan.
    #[arg(long, value_name = "N", conflicts_with = "peak_users")]
    pub peak_rps: Option<f64>,
    /// Expected peak concurrent users, for the plan.
    #[arg(long, value_name = "N")]
    pub peak_users: Option<f64>,
    /// Growth of the peak per month, e.g. 5%.
    #[arg(long, default_value = "0%", value_name = "PERCENT")]
    pub growth: String,
    /// Share of capacity to keep unused at the peak, e.g. 30%.
    #[arg(long, default_value = "30%", value_name = "PERCENT")]
    pub headroom: String,
    /// Planning horizon in months.
    #[arg(long, default_value_t = 12.0, value_name = "MONTHS")]
    pub months: f64,
    /// Price of one instance for one hour, for the cost figures.
    #[arg(long, value_name = "PRICE")]
    pub cost_per_hour: Option<f64>,
    /// Instances that served the measured load.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub instances: u32,
    /// Spare instances on top of those the load needs (1 for N+1).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub redundancy: u32,
}

pub fn capacity(a: CapacityArgs) -> anyhow::Result<u8> {
    match &a.command {
        Some(CapacityCommand::Fit(f)) => fit(f),
        None => super::runtime().and_then(|rt| rt.block_on(step_test(a.run))),
    }
}

/// `skein capacity SCENARIO`: the scenario's step test, or the levels on the command line.
async fn step_test(a: StepArgs) -> anyhow::Result<u8> {
    let Some(file) = &a.scenario else {
        return Err(Invalid("name a scenario file: skein capacity SCENARIO".into()).into());
    };
    let mut plan = scenario::load(file).map_err(super::run::invalid)?;
    let file_steps = plan.load.steps.clone();
    let hold = match &a.hold {
        Some(h) => parse_duration(h).map_err(|e| Invalid(format!("--hold {e}")))?,
        None => file_steps
            .as_ref()
            .map_or(Duration::from_secs(30), |s| s.hold),
    };
    if hold.is_zero() {
        return Err(Invalid("--hold: expected a duration above 0".into()).into());
    }
    let ramp = match &a.ramp {
        Some(r) => parse_duration(r).map_err(|e| Invalid(format!("--ramp {e}")))?,
        None => file_steps.as_ref().map_or(Duration::ZERO, |s| s.ramp),
    };
    let open_file = plan.load.open.is_some();
    let levels = match (&a.users, &a.rate) {
        (Some(u), _) => Some((
            scenario::parse_stairs(u, true).map_err(|e| Invalid(format!("--users {e}")))?,
            false,
        )),
        (None, Some(r)) => Some((
            scenario::parse_stairs(r, false).map_err(|e| Invalid(format!("--rate {e}")))?,
            true,
        )),
        (None, None) => file_steps
            .as_ref()
            .filter(|_| a.hold.is_some() || a.ramp.is_some())
            .map(|s| (s.levels.clone(), open_file)),
    };
    match levels {
        Some((levels, open)) => plan.make_step_test(levels, open, hold, ramp),
        None if file_steps.is_none() => {
            return Err(Invalid(format!(
                "{}: no step test: add `load: {{steps: {{users: {{from: 8, to: 64, step: 8}}, hold: 30s}}}}` \
                 or give the levels, e.g. --users 8:64:8 or --rate 100:2000:100",
                file.display()
            ))
            .into());
        }
        None => {}
    }
    if let Some(s) = &a.slo_p95 {
        let d = parse_duration(s).map_err(|e| Invalid(format!("--slo-p95 {e}")))?;
        if let Some(c) = plan.capacity.as_mut() {
            c.options.slo_p95_us = Some(d.as_micros() as u64);
        }
    }
    if let Some(t) = &a.target {
        if !(t.starts_with("http://") || t.starts_with("https://")) {
            return Err(Invalid(format!("`{t}` is not an http:// or https:// URL")).into());
        }
        plan.target = scenario::Target::Url(t.clone());
    }
    super::run::print_warnings(&plan);
    super::run::execute(plan, &a.common, None).await
}

/// After a step test: analyse it ([`capacity::analyze_step_test`] over the run's interval
/// log), write `capacity.json`, `capacity.md`, `capacity.html` and the charts into the
/// run's folder, and print the report. `None` for a run that is not a step test.
pub(super) fn analyze_step_test(
    plan: &Plan,
    result: &RunResult,
    dir: &Path,
) -> anyhow::Result<Option<CapacityReport>> {
    let Some(test) = plan.step_test() else {
        return Ok(None);
    };
    let hlog = metrics::read_hlog(&dir.join(store::HLOG_FILE))
        .with_context(|| format!("reading the interval log of {}", dir.display()))?;
    let r = capacity::analyze_step_test(&test, result, &hlog);
    report::capacity::write_all(dir, &r)
        .with_context(|| format!("writing the capacity report into {}", dir.display()))?;
    print_report(&r);
    Ok(Some(r))
}

/// The early-stop rule of the plan's step test ([`capacity::early_stop`]), for the engine
/// to check each second.
pub(super) fn early_stop(plan: &Plan) -> Option<AbortCheck> {
    let test = plan.step_test()?;
    let check = capacity::early_stop(&test)?;
    Some(Box::new(check))
}

fn fit(a: &FitArgs) -> anyhow::Result<u8> {
    let opts = options(a)?;
    let rows = read_table(&a.file)?;
    if opts.slo_p95_us.is_some() && rows.iter().all(|r| r.p95_us.is_none()) {
        return Err(Invalid(format!(
            "--slo-p95 needs a p95 column in {} (p95_ms, p95 or p95_us)",
            a.file.display()
        ))
        .into());
    }
    let source = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| a.file.display().to_string());
    let r = capacity::analyze_table(&source, &rows, &opts);
    // Every option is in range; together they may still ask for an absurd plan: refused
    // here (exit 2), where a step test's report only warns.
    if let (Some(p), Some(m)) = (&opts.planning, &r.max_sustainable) {
        capacity::plan_for(p, r.model, m).map_err(|e| Invalid(e.to_string()))?;
    }
    let out = match &a.output {
        Some(d) => d.clone(),
        None => {
            let stem = a
                .file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "table".into());
            store::new_run_dir(
                Path::new("reports"),
                &format!("capacity-{stem}"),
                chrono::Utc::now(),
            )
            .context("creating the results folder")?
        }
    };
    print_report(&r);
    report::capacity::write_all(&out, &r)
        .with_context(|| format!("writing the capacity report into {}", out.display()))?;
    eprintln!("results: {}", out.display());
    Ok(exit::OK)
}

/// Print the report on stdout (a closed stdout is fine), with the command-line names of
/// the planning keys it lacks.
fn print_report(r: &CapacityReport) {
    let mut text = report::capacity::text(r);
    if r.plan.as_ref().is_some_and(|p| !p.missing.is_empty()) {
        text.push_str(
            "  (on the command line: peak_rps is --peak-rps, peak_users --peak-users, \
             cost_per_instance_hour --cost-per-hour)\n",
        );
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Read and parse the table; anything wrong with it is an input error naming the file.
fn read_table(path: &Path) -> anyhow::Result<Vec<capacity::table::Row>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Invalid(format!("reading {}: {e}", path.display())))?;
    let rows = capacity::table::parse(&text).map_err(|e| match e.line() {
        Some(_) => Invalid(format!("{}:{e}", path.display())),
        None => Invalid(format!("{}: {e}", path.display())),
    })?;
    Ok(rows)
}

/// The longest p95 SLO `capacity fit` takes.
const MAX_SLO: Duration = Duration::from_secs(3600);

/// The options and the planning block from the flags, every value checked: finite and in
/// range (see the limits in [`crate::capacity::plan`]), or exit 2 naming the flag.
fn options(a: &FitArgs) -> Result<CapacityOptions, Invalid> {
    let slo_p95_us = match &a.slo_p95 {
        Some(s) => {
            let d = parse_duration(s).map_err(|e| Invalid(format!("--slo-p95 {e}")))?;
            if d.is_zero() {
                return Err(Invalid(format!(
                    "--slo-p95 `{s}`: expected a duration above 0"
                )));
            }
            if d > MAX_SLO {
                return Err(Invalid(format!(
                    "--slo-p95 `{s}`: expected a duration of at most 1h"
                )));
            }
            Some(d.as_micros() as u64)
        }
        None => None,
    };
    let planning = Planning {
        peak_users: a.peak_users,
        peak_rps: a.peak_rps,
        growth_per_month: parse_share(&a.growth)
            .map_err(|e| Invalid(format!("--growth `{}`: {e}", a.growth)))?,
        headroom: parse_share(&a.headroom)
            .map_err(|e| Invalid(format!("--headroom `{}`: {e}", a.headroom)))?,
        redundancy: a.redundancy,
        cost_per_instance_hour: a.cost_per_hour,
        instances_tested: a.instances,
        months: a.months,
    };
    if let Err(errs) = planning.validate() {
        let lines: Vec<String> = errs
            .iter()
            .map(|e| format!("{} {}: expected {}", flag(e.key), e.value, e.expected))
            .collect();
        return Err(Invalid(lines.join("\n")));
    }
    Ok(CapacityOptions {
        slo_p95_us,
        planning: Some(planning),
        ..CapacityOptions::default()
    })
}

/// The flag that sets a planning key.
fn flag(key: &str) -> &'static str {
    match key {
        "peak_users" => "--peak-users",
        "peak_rps" => "--peak-rps",
        "growth_per_month" => "--growth",
        "headroom" => "--headroom",
        "redundancy" => "--redundancy",
        "cost_per_instance_hour" => "--cost-per-hour",
        "instances_tested" => "--instances",
        _ => "--months",
    }
}

/// `5%`, `5` (a percentage) or `-2%` -> 0.05, 0.05, -0.02. Only digits, a sign and a
/// decimal point: `inf`, `NaN` and `1e400` are not percentages.
fn parse_share(s: &str) -> Result<f64, String> {
    let n = s.trim().strip_suffix('%').unwrap_or(s.trim()).trim();
    let plain = n
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
    match n.parse::<f64>() {
        Ok(v) if plain && v.is_finite() => Ok(v / 100.0),
        _ => Err("expected a percentage such as 5%".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_parse_as_percentages() {
        assert_eq!(parse_share("5%"), Ok(0.05));
        assert_eq!(parse_share(" 30 "), Ok(0.30));
        assert_eq!(parse_share("-2%"), Ok(-0.02));
        assert!(parse_share("five").is_err());
        assert!(parse_share("inf").is_err());
    }
}
