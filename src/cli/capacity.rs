//! `skein capacity fit FILE.csv`: the capacity analysis of figures measured elsewhere
//! (production monitoring, another load tool): the same USL fit, knee, maximum
//! sustainable load and plan as a step test, printed and written as `capacity.json`,
//! `capacity.md`, `capacity.html` and the charts.
//!
//! The table's layout is in [`crate::capacity::table`]: a header row, then `load`,
//! `throughput` and optionally `p95_ms` (or `p95`, milliseconds) or `p95_us`. Every row is
//! taken as a stable step. A table with fewer than 4 rows is analysed and written without
//! a fit (exit 0, with a warning), as the report of a step test with too few stable steps
//! is; a table that cannot be read exits 2 naming the line, the column, what was found and
//! what was expected.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::{Invalid, exit, parse_duration};
use crate::capacity::{self, CapacityOptions, CapacityReport, LoadModel, Planning, StepAnalysis};
use crate::metrics::store;
use crate::report;

#[derive(Args, Debug)]
pub struct CapacityArgs {
    #[command(subcommand)]
    pub command: CapacityCommand,
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
    #[arg(long, value_name = "DURATION")]
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

pub fn capacity(a: &CapacityArgs) -> anyhow::Result<u8> {
    match &a.command {
        CapacityCommand::Fit(f) => fit(f),
    }
}

fn fit(a: &FitArgs) -> anyhow::Result<u8> {
    let opts = options(a)?;
    let steps = read_table(&a.file)?;
    if opts.slo_p95_us.is_some() && steps.iter().all(|s| s.p95_us.is_none()) {
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
    let r = capacity::analyze(&source, LoadModel::Closed, steps, &opts);
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
fn read_table(path: &Path) -> anyhow::Result<Vec<StepAnalysis>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Invalid(format!("reading {}: {e}", path.display())))?;
    let rows = capacity::table::parse(&text).map_err(|e| match e.line() {
        Some(_) => Invalid(format!("{}:{e}", path.display())),
        None => Invalid(format!("{}: {e}", path.display())),
    })?;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, row)| StepAnalysis::from_figures(i, row.load, row.throughput, row.p95_us))
        .collect())
}

/// The options and the planning block from the flags, every value checked.
fn options(a: &FitArgs) -> Result<CapacityOptions, Invalid> {
    let slo_p95_us = match &a.slo_p95 {
        Some(s) => {
            let d = parse_duration(s).map_err(|e| Invalid(format!("--slo-p95 {e}")))?;
            if d.is_zero() {
                return Err(Invalid(format!(
                    "--slo-p95 `{s}`: expected a duration above 0"
                )));
            }
            Some(d.as_micros().min(u64::MAX as u128) as u64)
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

/// `5%`, `5` (a percentage) or `-2%` -> 0.05, 0.05, -0.02.
fn parse_share(s: &str) -> Result<f64, String> {
    let n = s.trim().strip_suffix('%').unwrap_or(s.trim()).trim();
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v / 100.0),
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
