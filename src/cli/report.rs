//! `skein report RUN_DIR`: every report of a saved run regenerated from its folder alone
//! (no re-run), and its targets judged again. A run whose process died is rebuilt from its
//! interval journal and its `result.json` rewritten.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::{Invalid, exit};
use crate::metrics::{self, MetricsError, store};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A results folder written by `skein run` or `skein quick`.
    pub dir: PathBuf,
}

pub fn report(a: &ReportArgs) -> anyhow::Result<u8> {
    let result = match metrics::load_result(&a.dir) {
        Ok(r) => r,
        Err(
            e @ (MetricsError::Missing { .. }
            | MetricsError::Schema { .. }
            | MetricsError::Json { .. }),
        ) => {
            return Err(Invalid(format!("{:#}", anyhow::Error::new(e))).into());
        }
        Err(e) => return Err(e.into()),
    };
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
    let verdict = super::run::judge_and_report(&a.dir, &result, &targets)?;
    Ok(if verdict.passed {
        exit::OK
    } else {
        exit::TARGETS_FAILED
    })
}
