//! A step test from what its run recorded: each level's hold placed in the run's time, the
//! run's seconds and interval histograms cut to those windows and analysed
//! ([`analyze_step_test`]), and the rule that stops a test early once a level is far past
//! its limits ([`early_stop`]).
//!
//! The test as planned is a [`StepTest`], in this module's own terms (levels, hold
//! windows, think time, the `capacity:` block): the scenario's plan describes itself as one,
//! so this module reads the plan's numbers without knowing the scenario.

use std::collections::HashSet;
use std::time::Duration;

use super::bottleneck::ComponentTime;
use super::{
    CapacityReport, CapacitySpec, LoadModel, StabilityRules, StepRun, StepWindow, analyze_run,
};
use crate::metrics::store::{HistKind, HlogEntry, SERVICE_SUFFIX, split_tag};
use crate::metrics::{Hist, RunResult, StopReason, TimePoint, saturation};

/// A step test as planned.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTest {
    pub model: LoadModel,
    /// Users (closed model) or arrival rates per second (open model), in the order run.
    pub levels: Vec<f64>,
    /// Start and end of each level's hold, from the start of the load (the ramps excluded).
    pub holds: Vec<(Duration, Duration)>,
    /// Mean think time per request over the scenarios' mix (Little's law, closed model).
    pub think_per_request: Duration,
    pub spec: CapacitySpec,
}

/// The step windows of a step test as it ran: each level's hold, in the run's time (the
/// open model's schedule starts once its users are set up), without the levels the run
/// never reached; a window whose seconds had the generator saturated
/// ([`saturation::saturated`]) says so.
pub fn windows(test: &StepTest, result: &RunResult) -> Vec<StepWindow> {
    let offset = result
        .run
        .open_model
        .as_ref()
        .map_or(0, |o| o.schedule_offset_us);
    let measured = result.run.duration_us;
    test.holds
        .iter()
        .zip(&test.levels)
        .map(|((a, b), &level)| {
            let start_us = offset + a.as_micros() as u64;
            let end_us = (offset + b.as_micros() as u64).min(measured);
            let inside: Vec<TimePoint> = result
                .timeseries
                .iter()
                .filter(|p| p.t_us >= start_us && p.t_us + p.duration_us <= end_us)
                .cloned()
                .collect();
            StepWindow {
                load: level,
                start_us,
                end_us,
                offered_rate: (test.model == LoadModel::Open).then_some(level),
                generator_saturated: saturation::saturated(&inside).saturated,
            }
        })
        .filter(|w| w.end_us > w.start_us + 1_000_000)
        .collect()
}

/// Analyse each level's steady part (histograms merged from the run's interval log
/// `hlog`), fit the model and plan. A test that stopped early says why first.
pub fn analyze_step_test(
    test: &StepTest,
    result: &RunResult,
    hlog: &[HlogEntry],
) -> CapacityReport {
    let windows = windows(test, result);
    // Each level's latency from the request cells (page views are counted apart). In the
    // open model the response time (from the intended start); in the closed model the
    // service time, one sample per response: the USL's N = X x R and the Little's-law
    // check need the responses' own times (a timed-out wait is not a response).
    let suffix = match test.model {
        LoadModel::Open => "",
        LoadModel::Closed => SERVICE_SUFFIX,
    };
    let tags: HashSet<String> = result
        .cells
        .iter()
        .filter(|c| c.is_request())
        .map(|c| format!("{}{suffix}", c.tag))
        .collect();
    let entries: Vec<&HlogEntry> = hlog
        .iter()
        .filter(|e| e.tag.as_deref().is_some_and(|t| tags.contains(t)))
        .collect();
    let run = StepRun {
        model: test.model,
        points: &result.timeseries,
        steps: &windows,
        think_us: (test.model == LoadModel::Closed)
            .then_some(test.think_per_request.as_secs_f64() * 1e6),
        rules: StabilityRules::default(),
    };
    let hist = |_: usize, from_us: u64, to_us: u64| {
        let mut h = Hist::new();
        for e in &entries {
            let start = e.start.as_micros() as u64;
            let end = start + e.duration.as_micros() as u64;
            // Interval-log times have millisecond resolution.
            if start + 1_000 >= from_us && end <= to_us + 1_000 {
                h.add(&e.hist);
            }
        }
        (!h.is_empty()).then_some(h)
    };
    let mut r = analyze_run(&result.run.id, &run, hist, &test.spec.options);
    r.bottleneck = server_timing_breakdown(&r, result, hlog, test.model);
    if let Some(reason @ StopReason::EarlyStop { .. }) = &result.run.stop_reason {
        r.warnings.insert(0, reason.to_string());
    }
    r
}

/// Each level's `Server-Timing` components over its steady part (the request cells'
/// `TAG~st:NAME` histograms of the interval log merged), and the bottleneck they show.
fn server_timing_breakdown(
    r: &CapacityReport,
    result: &RunResult,
    hlog: &[HlogEntry],
    model: LoadModel,
) -> Option<super::Bottleneck> {
    let cells: HashSet<&str> = result
        .cells
        .iter()
        .filter(|c| c.is_request())
        .map(|c| c.tag.as_str())
        .collect();
    let timed: Vec<(&str, &HlogEntry)> = hlog
        .iter()
        .filter_map(|e| {
            let (cell, kind) = split_tag(e.tag.as_deref()?)?;
            match kind {
                HistKind::ServerTiming(name) if cells.contains(cell) => Some((name, e)),
                _ => None,
            }
        })
        .collect();
    if timed.is_empty() {
        return None;
    }
    let per_step: Vec<Vec<ComponentTime>> = r
        .steps
        .iter()
        .map(|s| {
            let mut by_name: Vec<(&str, Hist)> = Vec::new();
            for (name, e) in &timed {
                let start = e.start.as_micros() as u64;
                let end = start + e.duration.as_micros() as u64;
                if start + 1_000 >= s.steady_start_us && end <= s.end_us + 1_000 {
                    match by_name.iter_mut().find(|(n, _)| n == name) {
                        Some((_, h)) => h.add(&e.hist),
                        None => {
                            let mut h = Hist::new();
                            h.add(&e.hist);
                            by_name.push((name, h));
                        }
                    }
                }
            }
            by_name
                .into_iter()
                .filter(|(_, h)| !h.is_empty())
                .map(|(n, h)| ComponentTime {
                    name: n.to_string(),
                    mean_us: h.mean(),
                    count: h.count(),
                })
                .collect()
        })
        .collect();
    super::bottleneck::analyze(&r.steps, &per_step, model.unit())
}

/// The early-stop rule of a step test, checked each second on the run so far: once the
/// level under way has run 3 s of its hold, its p95 beyond the spec's factor x the SLO or
/// its error rate beyond the spec's bound stops the run (the later levels would only be
/// further past the limit), with [`StopReason::EarlyStop`]. `None` when the spec
/// never stops early.
pub fn early_stop(
    test: &StepTest,
) -> Option<impl FnMut(&RunResult) -> Option<StopReason> + Send + use<>> {
    let rule = test.spec.early_stop?;
    let slo = test.spec.options.slo_p95_us;
    let holds = test.holds.clone();
    let levels = test.levels.clone();
    let unit = match test.model {
        LoadModel::Open => "/s",
        LoadModel::Closed => " users",
    };
    Some(move |so_far: &RunResult| {
        let (k, inside) = level_under_way(so_far, &holds)?;
        if inside.len() < 3 {
            return None;
        }
        let requests: u64 = inside.iter().map(|p| p.requests).sum();
        let failed: u64 = inside.iter().map(|p| p.errors + p.check_failed).sum();
        let weighted: f64 = inside
            .iter()
            .map(|p| p.p95_us as f64 * p.requests as f64)
            .sum();
        let p95 = if requests > 0 {
            (weighted / requests as f64) as u64
        } else {
            0
        };
        let error_rate = if requests > 0 {
            failed as f64 / requests as f64
        } else {
            0.0
        };
        rule.check(slo, p95, error_rate, requests)
            .map(|why| StopReason::EarlyStop {
                detail: format!(
                    "at level {} of {} ({}{unit}): {why}",
                    k + 1,
                    holds.len(),
                    levels[k]
                ),
            })
    })
}

/// The level whose hold is under way in the run so far, and its seconds.
fn level_under_way<'a>(
    so_far: &'a RunResult,
    holds: &[(Duration, Duration)],
) -> Option<(usize, Vec<&'a TimePoint>)> {
    // The open model's schedule starts with its first due iteration.
    let offset = if so_far.run.model == "open" {
        so_far
            .timeseries
            .iter()
            .find(|p| p.scheduled > 0)
            .map_or(0, |p| p.t_us)
    } else {
        0
    };
    let now = so_far.run.duration_us.saturating_sub(offset);
    let k = holds
        .iter()
        .position(|(a, b)| now >= a.as_micros() as u64 && now < b.as_micros() as u64)?;
    let start = offset + holds[k].0.as_micros() as u64;
    let inside = so_far
        .timeseries
        .iter()
        .filter(|p| p.t_us >= start)
        .collect();
    Some((k, inside))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Accumulator, OpenModelStats, RunInfo, RunStatus};

    const S: u64 = 1_000_000;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn test_of(model: LoadModel, holds: &[(u64, u64)]) -> StepTest {
        StepTest {
            model,
            levels: (1..=holds.len()).map(|k| 10.0 * k as f64).collect(),
            holds: holds.iter().map(|&(a, b)| (secs(a), secs(b))).collect(),
            think_per_request: Duration::ZERO,
            spec: CapacitySpec::default(),
        }
    }

    /// A run of `seconds` whole seconds (measured that long), the generator busy (CPU at
    /// 95 %) in the seconds starting at `busy` s and idle (CPU at 20 %) in the others.
    fn run(model: LoadModel, seconds: u64, busy: &[u64]) -> RunResult {
        let info = RunInfo {
            status: RunStatus::Complete,
            model: match model {
                LoadModel::Open => "open",
                LoadModel::Closed => "closed",
            }
            .into(),
            planned_duration_us: seconds * S,
            max_users: 10,
            ..RunInfo::blank()
        };
        let mut r = Accumulator::new(Vec::new()).finish(info, serde_json::Value::Null, Vec::new());
        r.timeseries = (0..seconds)
            .map(|t| TimePoint {
                t_us: t * S,
                duration_us: S,
                cpu_pct: if busy.contains(&t) { 95.0 } else { 20.0 },
                ..TimePoint::default()
            })
            .collect();
        r.run.duration_us = seconds * S;
        r
    }

    /// Whether each window's generator was saturated.
    fn saturated(test: &StepTest, result: &RunResult) -> Vec<bool> {
        windows(test, result)
            .iter()
            .map(|w| w.generator_saturated)
            .collect()
    }

    /// The run-level rule (2 busy seconds, and a tenth of them), not the rule before it
    /// (more than a fifth of the hold's seconds busy).
    #[test]
    fn a_hold_is_saturated_by_the_run_level_rule() {
        let t = test_of(LoadModel::Closed, &[(0, 30)]);
        // 3 busy seconds of 30: a tenth (the rule before wanted more than 6).
        assert_eq!(
            saturated(&t, &run(LoadModel::Closed, 30, &[4, 17, 29])),
            [true]
        );
        // 1 busy second of 30.
        assert_eq!(saturated(&t, &run(LoadModel::Closed, 30, &[17])), [false]);
        // 2 busy seconds of 30: not a tenth.
        assert_eq!(
            saturated(&t, &run(LoadModel::Closed, 30, &[4, 17])),
            [false]
        );
        // 1 busy second of a 3 s hold: a third of it, but a single second (the rule before
        // said saturated).
        let short = test_of(LoadModel::Closed, &[(0, 3)]);
        assert_eq!(saturated(&short, &run(LoadModel::Closed, 3, &[1])), [false]);
        assert_eq!(
            saturated(&short, &run(LoadModel::Closed, 3, &[0, 2])),
            [true]
        );
    }

    /// A hold from 10 s to 20 s is the seconds starting at 10 to 19: the one before and the
    /// one after do not count.
    #[test]
    fn a_hold_is_the_seconds_between_its_start_and_end() {
        let t = test_of(LoadModel::Closed, &[(10, 20), (30, 40)]);
        let at = |busy: &[u64]| saturated(&t, &run(LoadModel::Closed, 45, busy));
        assert_eq!(at(&[10, 19]), [true, false]);
        assert_eq!(at(&[9, 20]), [false, false]);
        assert_eq!(at(&[9, 19]), [false, false]);
        assert_eq!(at(&[10, 20]), [false, false]);
        assert_eq!(at(&[29, 30, 39, 40]), [false, true]);
        let w = windows(&t, &run(LoadModel::Closed, 45, &[]));
        assert_eq!(
            w.iter()
                .map(|w| (w.load, w.start_us, w.end_us, w.offered_rate))
                .collect::<Vec<_>>(),
            [(10.0, 10 * S, 20 * S, None), (20.0, 30 * S, 40 * S, None)]
        );
    }

    /// The open model's holds count from the start of its schedule.
    #[test]
    fn an_open_models_holds_start_with_its_schedule() {
        let t = test_of(LoadModel::Open, &[(10, 20)]);
        let at = |busy: &[u64]| {
            let mut r = run(LoadModel::Open, 30, busy);
            r.run.open_model = Some(OpenModelStats {
                schedule_offset_us: 2 * S,
                ..OpenModelStats::default()
            });
            r
        };
        let w = windows(&t, &at(&[]));
        assert_eq!(
            w.iter()
                .map(|w| (w.start_us, w.end_us, w.offered_rate))
                .collect::<Vec<_>>(),
            [(12 * S, 22 * S, Some(10.0))]
        );
        assert_eq!(saturated(&t, &at(&[10, 11])), [false]);
        assert_eq!(saturated(&t, &at(&[12, 21])), [true]);
        assert_eq!(saturated(&t, &at(&[11, 22])), [false]);
    }

    /// A run stopped early: the hold under way ends with the run, and is left out when less
    /// than a second of it ran (as is every hold not reached).
    #[test]
    fn holds_the_run_did_not_finish_are_cut_or_left_out() {
        let t = test_of(LoadModel::Closed, &[(10, 20), (30, 40), (50, 60)]);
        let w = windows(&t, &run(LoadModel::Closed, 35, &[33, 34]));
        assert_eq!(
            w.iter()
                .map(|w| (w.start_us, w.end_us, w.generator_saturated))
                .collect::<Vec<_>>(),
            [(10 * S, 20 * S, false), (30 * S, 35 * S, true)]
        );
        let w = windows(&t, &run(LoadModel::Closed, 31, &[]));
        assert_eq!(w.len(), 1);
        assert!(windows(&t, &run(LoadModel::Closed, 0, &[])).is_empty());
    }
}
