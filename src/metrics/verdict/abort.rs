//! Targets with `abort_on_fail`, judged while the run goes on: the engine hands the run so
//! far to [`AbortOnFail::check`] each second, and once a target has been lost for its whole
//! grace the run stops with [`StopReason::TargetFailed`]. How long each target has been
//! lost is the state this type keeps; the judgement is the verdict's own ([`evaluate`]).

use super::{Target, TargetStatus, WindowData, evaluate};
use crate::metrics::result::{RunResult, StopReason};

/// The targets with `abort_on_fail` of a run, and since when each has been lost.
#[derive(Debug, Clone)]
pub struct AbortOnFail {
    watched: Vec<Target>,
    /// The run's time (µs) at which each watched target was last seen lost after being
    /// met (or first judged), `None` while it is met.
    lost_since: Vec<Option<u64>>,
}

impl AbortOnFail {
    /// The check for `targets`' entries with `abort_on_fail`; `None` when none has it.
    pub fn new(targets: &[Target]) -> Option<AbortOnFail> {
        let watched: Vec<Target> = targets
            .iter()
            // Lighthouse's audits are judged once, at the end (a targets file's
            // `abort_on_fail` on one is not watched).
            .filter(|t| t.abort_on_fail && !matches!(t.metric, super::Metric::Lighthouse(_)))
            .cloned()
            .collect();
        if watched.is_empty() {
            return None;
        }
        Some(AbortOnFail {
            lost_since: vec![None; watched.len()],
            watched,
        })
    }

    /// Judge the run so far (`so_far.run.duration_us` is now): each target on the totals so
    /// far; a target with a window (`after:`) is not judged before the window has begun,
    /// and then on the whole run so far. The first target lost for its whole `grace` (0 by
    /// default) stops the run, in the order the targets were written.
    pub fn check(&mut self, so_far: &RunResult) -> Option<StopReason> {
        let now = so_far.run.duration_us;
        for (t, lost) in self.watched.iter().zip(self.lost_since.iter_mut()) {
            if now < t.after_us.unwrap_or(0) {
                continue;
            }
            let whole_run = Target {
                after_us: None,
                ..t.clone()
            };
            let v = evaluate(so_far, &WindowData::default(), &[whole_run]);
            let Some(outcome) = v.targets.first() else {
                continue;
            };
            if outcome.status != TargetStatus::Fail {
                *lost = None;
                continue;
            }
            let since = *lost.get_or_insert(now);
            if now - since >= t.grace_us.unwrap_or(0) {
                return Some(StopReason::TargetFailed {
                    target: outcome.expression.clone(),
                    detail: outcome.detail.clone(),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::accumulate::Accumulator;
    use crate::metrics::recorder::{CellData, ErrorKind};
    use crate::metrics::result::{CellInfo, RunInfo};
    use crate::metrics::verdict::{Metric, Op, Scope, Unit};

    const S: u64 = 1_000_000;

    /// `error_rate < {pct}%`, with `abort_on_fail` and the grace as given.
    fn error_rate_below(pct: u32, abort_on_fail: bool, grace_s: Option<u64>) -> Target {
        Target {
            expression: format!("error_rate < {pct}%"),
            source: "scenario".into(),
            metric: Metric::ErrorRate,
            aggregate: None,
            scope: Scope::Overall,
            after_us: None,
            op: Op::Lt,
            threshold: f64::from(pct) / 100.0,
            unit: Unit::Ratio,
            abort_on_fail,
            grace_us: grace_s.map(|s| s * S),
            baseline: None,
            improvement_goal_pct: None,
        }
    }

    fn info() -> RunInfo {
        RunInfo {
            response_time_basis: "corrected".into(),
            planned_duration_us: 60 * S,
            max_users: 2,
            ..RunInfo::blank()
        }
    }

    /// Feed a run one second at a time (10 requests each, `errors[i]` of them refused in
    /// the i-th) to `check`, as the engine does: the second (from 1) at which it stopped
    /// the run, and why.
    fn stops_at(check: &mut AbortOnFail, errors: &[u64]) -> Option<(u64, StopReason)> {
        let mut acc = Accumulator::new(vec![CellInfo {
            id: 0,
            scenario: "s".into(),
            step: "GET /".into(),
            method: "GET".into(),
            tag: "s/0".into(),
            checks: Vec::new(),
            tags: Vec::new(),
        }]);
        for (i, &e) in (0u64..).zip(errors) {
            let mut d = CellData::new(0);
            for _ in 0..10 - e {
                d.hist.record(20_000);
                d.service.record(20_000);
            }
            d.requests = 10;
            d.ok = 10 - e;
            d.errors[ErrorKind::ConnectionRefused as usize] = e;
            acc.add_interval(i * S, S, 2, &vec![d]);
            let so_far = acc.finish(info(), serde_json::Value::Null, Vec::new());
            assert_eq!(so_far.run.duration_us, (i + 1) * S);
            if let Some(r) = check.check(&so_far) {
                return Some((i + 1, r));
            }
        }
        None
    }

    #[test]
    fn only_targets_with_abort_on_fail_are_watched() {
        assert!(AbortOnFail::new(&[]).is_none());
        assert!(AbortOnFail::new(&[error_rate_below(1, false, None)]).is_none());
        // Of two targets, the one without `abort_on_fail` never stops the run.
        let mut a = AbortOnFail::new(&[
            error_rate_below(1, false, None),
            error_rate_below(50, true, None),
        ])
        .unwrap();
        assert_eq!(stops_at(&mut a, &[4; 10]), None);
    }

    #[test]
    fn a_target_lost_stops_the_run_at_once_without_grace() {
        let mut a = AbortOnFail::new(&[error_rate_below(1, true, None)]).unwrap();
        let (at, reason) = stops_at(&mut a, &[0, 0, 10, 0]).unwrap();
        assert_eq!(at, 3);
        assert_eq!(
            reason,
            StopReason::TargetFailed {
                target: "error_rate < 1%".into(),
                detail: "error rate of all requests is 33.333 % (limit < 1 %)".into(),
            }
        );
        assert_eq!(
            reason.to_string(),
            "aborted: target `error_rate < 1%` failed (error rate of all requests is \
             33.333 % (limit < 1 %))"
        );
    }

    #[test]
    fn a_target_must_stay_lost_for_its_whole_grace() {
        // Lost from the 1st second: the 3rd is 2 s later.
        let mut a = AbortOnFail::new(&[error_rate_below(50, true, Some(2))]).unwrap();
        assert_eq!(stops_at(&mut a, &[10; 6]).map(|(at, _)| at), Some(3));
        // Lost in the 1st and 2nd seconds (100 %, then 50 %), met in the 3rd (33 %): the
        // grace starts over when it is lost again in the 4th (50 %), and ends in the 6th.
        let mut a = AbortOnFail::new(&[error_rate_below(50, true, Some(2))]).unwrap();
        assert_eq!(
            stops_at(&mut a, &[10, 0, 0, 10, 10, 10, 10]).map(|(at, _)| at),
            Some(6)
        );
    }

    #[test]
    fn a_window_delays_the_check_until_it_has_begun() {
        let mut t = error_rate_below(1, true, None);
        t.after_us = Some(3 * S);
        let mut a = AbortOnFail::new(&[t]).unwrap();
        // Lost from the start; judged from the 3rd second on, on the whole run so far.
        let (at, reason) = stops_at(&mut a, &[10, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(at, 3);
        assert!(reason.to_string().contains("is 33.333 %"), "{reason}");
    }
}
