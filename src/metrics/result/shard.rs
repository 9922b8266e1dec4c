//! A shard's marker and a merged run's record of its shards (`--shard`, `skein merge`):
//! what `skein merge` checks before it adds shards' folders together.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::metrics::histogram::{HIGH_US, LOW_US, SIGFIG};

/// This folder holds one shard of a run split across processes or machines (`--shard I/N`):
/// its figures are a part of the run's, and its targets were judged on that part only. The
/// run's verdict is `skein merge`'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// This shard's index, from 0.
    pub index: u64,
    /// How many shards the run has.
    pub count: u64,
    /// The run's id, the same in every shard (`--run-id`).
    pub run_id: String,
    /// A hash of the plan every shard runs (`sha256:<hex>`): the scenario after the command
    /// line's changes, its feeders' rows and its targets; not the target URL, which shards
    /// may reach by different addresses.
    pub scenario_hash: String,
    /// The histograms' settings: only histograms recorded alike add up exactly.
    pub histogram: HistogramSettings,
    /// The run's seed (each shard's users draw from it and their number in the whole plan).
    pub seed: u64,
    /// The length of the intervals in the interval log, µs.
    pub interval_us: u64,
}

/// How the latency histograms are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistogramSettings {
    /// Lowest value told apart, µs.
    pub lowest_us: u64,
    /// Highest value recorded, µs (longer ones are recorded as this).
    pub highest_us: u64,
    /// Significant decimal figures kept.
    pub significant_figures: u8,
}

impl HistogramSettings {
    /// The settings of this build's histograms.
    pub const CURRENT: HistogramSettings = HistogramSettings {
        lowest_us: LOW_US,
        highest_us: HIGH_US,
        significant_figures: SIGFIG,
    };
}

/// A run merged from shards' folders by `skein merge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergedShards {
    /// The run's id, shared by its shards.
    pub run_id: String,
    /// How many shards the run was split into.
    pub count: u64,
    /// The indices of the shards merged.
    pub merged: Vec<u64>,
    /// The indices of shards whose folders were missing (merged with `--allow-missing`): the
    /// run's figures lack their part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<u64>,
    /// Each merged shard's folder, as given to `skein merge`, in the order of `merged`.
    pub folders: Vec<String>,
    /// Each merged shard's machine (its hostname), in the order of `merged`.
    pub hosts: Vec<String>,
}

/// A start time shared by a run's shards (`--start-at`), and how late this process made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedStart {
    /// The common start, RFC 3339 (`started_at` is the same instant).
    pub at: String,
    /// How long after it this process was ready to start its users, µs (0 when on time).
    pub lateness_us: u64,
    /// `--strict-start`: the lateness allowed, µs; a later shard starts no user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_us: Option<u64>,
    /// A merged run: the shards' lateness, by index (µs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards_lateness_us: Vec<u64>,
}
