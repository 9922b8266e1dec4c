//! Measurements: HDR histograms in microseconds, per-thread recording, one-second
//! intervals, run totals and the results folder.
//!
//! [`saturation`] is the one rule for a generator that limited the load itself; [`stats`]
//! holds the statistics a comparison rests on.
//!
//! Uses nothing else in the crate. Everything a report or comparison shows is a serde type
//! here ([`RunResult`]), so a saved `result.json` alone is enough to work from.

pub mod accumulate;
pub mod availability;
pub mod compare;
pub mod custom;
pub mod histogram;
pub mod lighthouse;
pub mod live;
pub mod merge;
pub mod recorder;
pub mod result;
pub mod saturation;
pub mod server_timing;
pub mod stats;
pub mod store;
pub mod verdict;
pub mod window;

pub use accumulate::Accumulator;
pub use availability::{Availability, Outage};
pub use compare::{CompareOptions, Comparison};
pub use histogram::Hist;
pub use recorder::{CellData, ErrorKind, IntervalData, Protocol, Recorder, ResponseMeta, Sample};
pub use result::*;
pub use server_timing::{ServerTimingNames, ServerTimings};
pub use store::{RunWriter, load_result, new_run_dir, read_hlog, read_journal};
pub use verdict::{
    RunFailure, RunFailureKind, TargetOutcome, TargetStatus, Unit, Verdict, evaluate, evaluate_dir,
};
pub use window::WindowData;

use std::path::PathBuf;

/// Format µs for people: `850µs`, `12.3ms`, `1.52s` (as every report writes them).
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

/// A count and its noun, singular for exactly one: `1 user`, `2 users`, `0 targets`,
/// `3 entries`. `word` is the singular; its last word takes the plural (`s`, `es` after
/// `s`/`x`/`ch`/`sh`, `ies` for a `y` after a consonant): `1 failed check`, `2 failed
/// checks`.
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        return format!("1 {word}");
    }
    let consonant_y = word.ends_with('y')
        && !word
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|c| "aeiou".contains(c));
    if consonant_y {
        format!("{n} {}ies", &word[..word.len() - 1])
    } else if ["s", "x", "ch", "sh"].iter().any(|e| word.ends_with(e)) {
        format!("{n} {word}es")
    } else {
        format!("{n} {word}s")
    }
}

/// Why reading or writing measurements failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("{}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid JSON for this purpose", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: missing {what}", .path.display())]
    Missing { path: PathBuf, what: &'static str },
    #[error("{}: {detail}", .path.display())]
    Schema { path: PathBuf, detail: String },
    #[error("histogram: {0}")]
    Histogram(String),
}
