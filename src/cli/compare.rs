//! `skein compare BASELINE CANDIDATE`: is the candidate run slower, or failing more, than
//! the baseline beyond tolerance and noise? Prints a table, writes `compare.md`,
//! `compare.html`, `compare.json` and the charts, exits 1 on a regression. `skein run
//! --baseline DIR` uses the same [`load`] and [`report_comparison`] after its run.
//!
//! The rules are in [`crate::metrics::compare`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::{Invalid, exit, parse_duration};
use crate::metrics::compare::{self, CompareOptions, Comparison};
use crate::metrics::verdict::Target;
use crate::metrics::{RunResult, store};
use crate::report;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Results folder of the baseline run.
    pub baseline: PathBuf,
    /// Results folder of the candidate run.
    pub candidate: PathBuf,
    /// Relative change that counts, e.g. 10% (a bare number is a percentage too).
    #[arg(long, default_value = "10%", value_name = "PERCENT")]
    pub tolerance: String,
    /// Absolute latency change that counts, e.g. 2ms.
    #[arg(long, default_value = "2ms", value_name = "DURATION")]
    pub min_delta: String,
    /// Quantiles that can fail the comparison, e.g. p95 or p95,p99.
    #[arg(
        long,
        default_value = "p95",
        value_delimiter = ',',
        value_name = "QUANTILE"
    )]
    pub gate: Vec<String>,
    /// Folder for compare.md, compare.html and the charts [default: the candidate's folder].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
}

pub fn compare(a: &CompareArgs) -> anyhow::Result<u8> {
    let opts = options(a)?;
    let base = load("baseline", &a.baseline)?;
    let cand = load("candidate", &a.candidate)?;
    let out = a.output.as_deref().unwrap_or(&a.candidate);
    let targets = match (&base.targets, &cand.targets) {
        (Some(b), Some(c)) => Some((b.as_slice(), c.as_slice())),
        _ => None,
    };
    let c = report_comparison(&base.result, &cand.result, targets, &opts, out)?;
    Ok(if c.verdict.regressed {
        exit::TARGETS_FAILED
    } else {
        exit::OK
    })
}

fn options(a: &CompareArgs) -> Result<CompareOptions, Invalid> {
    Ok(CompareOptions {
        tolerance: parse_percent(&a.tolerance)
            .map_err(|e| Invalid(format!("--tolerance `{}`: {e}", a.tolerance)))?,
        min_delta_us: parse_duration(&a.min_delta)
            .map_err(|e| Invalid(format!("--min-delta {e}")))?
            .as_micros() as u64,
        gated: a
            .gate
            .iter()
            .map(|g| parse_quantile(g).map_err(|e| Invalid(format!("--gate `{g}`: {e}"))))
            .collect::<Result<_, _>>()?,
        ..CompareOptions::default()
    })
}

/// `10%` or `10` -> 0.10.
fn parse_percent(s: &str) -> Result<f64, String> {
    let n = s.trim().strip_suffix('%').unwrap_or(s.trim()).trim();
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v / 100.0),
        _ => Err("expected a percentage such as 10%".into()),
    }
}

/// `p95` -> 0.95, `p99.9` -> 0.999.
fn parse_quantile(s: &str) -> Result<f64, String> {
    let hint = "expected a percentile such as p95 or p99.9";
    let n = s.trim().strip_prefix(['p', 'P']).ok_or(hint)?;
    match n.parse::<f64>() {
        Ok(v) if v > 0.0 && v < 100.0 => Ok(v / 100.0),
        _ => Err(hint.into()),
    }
}

/// A run folder read for a comparison.
pub struct Loaded {
    pub result: RunResult,
    /// The targets it was judged by (`targets.json`); `None` when the folder has none (an
    /// older Skein) or it cannot be read, so that no difference is claimed.
    pub targets: Option<Vec<Target>>,
    /// Its folder (for its intervals: `--baseline` fills the before/after table from it).
    pub dir: std::path::PathBuf,
}

/// Read a run folder to compare, with the loader and the validation `skein report` uses
/// ([`super::report::read_run`]): anything wrong with it (no folder, no `result.json`, a
/// file from another tool or version, a crashed run that cannot be rebuilt, a histogram
/// that cannot be decoded) is an input error (exit 2) that says which run and names the
/// folder.
pub fn load(which: &str, dir: &Path) -> anyhow::Result<Loaded> {
    let r = super::report::read_run(dir).map_err(|e| Invalid(format!("{which}: {}", e.0)))?;
    let targets = dir
        .join(store::TARGETS_FILE)
        .is_file()
        .then(|| store::read_targets(dir).ok())
        .flatten();
    Ok(Loaded {
        result: r,
        targets,
        dir: dir.to_path_buf(),
    })
}

/// Compare `cand` with `base`, print the table (stdout) and the verdict (stderr), and write
/// every comparison file into `out`. `targets` are the targets each run was judged by, when
/// both are known; like every difference in how the runs were set up, different ones are a
/// `warning:` and a note atop `compare.md` and `compare.html`.
pub fn report_comparison(
    base: &RunResult,
    cand: &RunResult,
    targets: Option<(&[Target], &[Target])>,
    opts: &CompareOptions,
    out: &Path,
) -> anyhow::Result<Comparison> {
    let c = compare::compare(base, cand, opts);
    let caveats = report::compare::caveats(base, cand, targets);
    {
        // A closed stdout is fine.
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(report::compare::text(&c).as_bytes());
        let _ = stdout.flush();
    }
    report::compare::write_all(out, base, cand, &c, &caveats)
        .with_context(|| format!("writing the comparison into {}", out.display()))?;
    eprint!("{}", report::compare::verdict_lines(&c));
    for n in &caveats {
        eprintln!("warning: {n}");
    }
    eprintln!(
        "comparison: {}",
        out.join(report::compare::HTML_FILE).display()
    );
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_quantiles_parse() {
        assert_eq!(parse_percent("10%"), Ok(0.10));
        assert_eq!(parse_percent("5"), Ok(0.05));
        assert_eq!(parse_percent("2.5 %"), Ok(0.025));
        assert!(parse_percent("-1%").is_err());
        assert!(parse_percent("ten").is_err());
        assert_eq!(parse_quantile("p95"), Ok(0.95));
        assert!((parse_quantile("p99.9").unwrap() - 0.999).abs() < 1e-12);
        assert!(parse_quantile("95").is_err());
        assert!(parse_quantile("p100").is_err());
    }
}
