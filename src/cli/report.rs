//! `skein report RUN_DIR`: every report of a saved run regenerated from its folder alone
//! (no re-run), and its targets judged again. A run whose process died is rebuilt from its
//! interval journal and its `result.json` rewritten. A step test's `capacity.json` joins the
//! reports; one that cannot be read stops the command (exit 2) rather than vanish.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::{Invalid, exit};
use crate::capacity::{self, CapacityReport};
use crate::metrics::{self, MetricsError, RunResult, store};
use crate::report;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A results folder written by `skein run` or `skein quick`.
    pub dir: PathBuf,
    /// An earlier run's folder: the "before" of the before/after table (each target's
    /// metric measured there) instead of the plan's figures.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
}

/// Read the run folder `dir` for `report`, `compare` and `run --baseline`: one loader
/// ([`metrics::load_result`]) with one validation. Anything that makes the folder unusable
/// (no `result.json`, bytes that are not UTF-8 JSON, another schema, a stored histogram
/// that does not decode, a damaged journal or interval log of a run rebuilt from them) is
/// an input error (exit 2): `cannot read DIR as a run: REASON`. What is missing short of
/// that ([`store::folder_notes`]) is printed as a `warning:` line.
pub(super) fn read_run(dir: &Path) -> Result<RunResult, Invalid> {
    let r = metrics::load_result(dir).map_err(|e| not_a_run(dir, e))?;
    for n in store::folder_notes(dir, &r) {
        eprintln!("warning: {n}");
    }
    Ok(r)
}

fn not_a_run(dir: &Path, e: MetricsError) -> Invalid {
    Invalid(format!(
        "cannot read {} as a run: {:#}",
        dir.display(),
        anyhow::Error::new(e)
    ))
}

/// The folder's `capacity.json`, when a step test wrote one. A file that is there but
/// cannot be read as one is the folder's fault (exit 2, naming the file): its capacity
/// section would otherwise vanish from the reports without a word.
fn read_capacity(dir: &Path) -> Result<Option<CapacityReport>, Invalid> {
    let path = dir.join(report::capacity::JSON_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Invalid(format!("cannot read {}: {e}", path.display()))),
    };
    let c: CapacityReport = serde_json::from_slice(&bytes).map_err(|e| {
        Invalid(format!(
            "cannot read {} as a capacity analysis: {e}",
            path.display()
        ))
    })?;
    if c.schema_version != capacity::SCHEMA_VERSION {
        return Err(Invalid(format!(
            "cannot read {}: layout version {} (this skein reads version {})",
            path.display(),
            c.schema_version,
            capacity::SCHEMA_VERSION
        )));
    }
    Ok(Some(c))
}

pub fn report(a: &ReportArgs) -> anyhow::Result<u8> {
    let result = read_run(&a.dir)?;
    let capacity = read_capacity(&a.dir)?;
    // A recovered run gets its totals written back, so every later reader sees them.
    let raw = std::fs::read_to_string(a.dir.join(store::RESULT_FILE)).unwrap_or_default();
    if raw.contains("\"status\": \"running\"") {
        let bytes = serde_json::to_vec_pretty(&result)?;
        store::write_atomic(&a.dir.join(store::RESULT_FILE), &bytes)
            .context("rewriting the recovered result.json")?;
    }
    super::console::print_summary(&result, &a.dir);
    let targets =
        store::read_targets(&a.dir).map_err(|e| Invalid(format!("{:#}", anyhow::Error::new(e))))?;
    // A damaged journal or interval log read for targets over a window: the folder's
    // fault (exit 2), as when it is loaded.
    let before = match &a.baseline {
        Some(d) => Some((
            d.as_path(),
            read_run(d).map_err(|e| Invalid(format!("baseline: {}", e.0)))?,
        )),
        None => None,
    };
    let verdict = super::run::judge_and_report_with(
        &a.dir,
        &result,
        &targets,
        capacity.as_ref(),
        before.as_ref().map(|(d, r)| (*d, r)),
    )
    .map_err(|e| {
        let damaged = matches!(
            e.downcast_ref::<MetricsError>(),
            Some(
                MetricsError::Schema { .. }
                    | MetricsError::Json { .. }
                    | MetricsError::Histogram(_)
            )
        );
        if !damaged {
            return e;
        }
        match e.downcast::<MetricsError>() {
            Ok(m) => not_a_run(&a.dir, m).into(),
            Err(e) => e,
        }
    })?;
    Ok(if verdict.passed {
        exit::OK
    } else {
        exit::TARGETS_FAILED
    })
}
