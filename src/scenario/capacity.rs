//! The step test (`load.steps`) and the `capacity:` block: levels in stairs become the
//! plan's stages, and the capacity block becomes the capacity analysis' [`CapacitySpec`].

use std::time::Duration;

use super::compile::{Compiler, MAX_RUN};
use super::node::KeyPath;
use super::plan::{LoadPlan, OpenLoad, RateStage, Shard, Stage, StepLoad, TargetPlan};
use super::raw::{RawFile, RawLoad, RawSteps, Text};
use super::units::{self, micros};
use crate::capacity::{CapacityOptions, CapacitySpec, EarlyStop, LoadModel, Planning, StepTest};
use crate::metrics::verdict::{Aggregate, Metric, Op, Scope, Unit};

/// More levels than this is surely a typo (and a report nobody can read).
const MAX_LEVELS: usize = 100;

/// Default bounds of the capacity block.
const DEFAULT_MAX_ERROR_RATE: f64 = 0.01;
const DEFAULT_STOP_AT_SLO_TIMES: f64 = 3.0;
const DEFAULT_STOP_AT_ERROR_RATE: f64 = 0.10;

/// A staircase from the command line: `FROM:TO:STEP` or `FROM:TO:xFACTOR` (e.g. `8:64:8`,
/// `4:256:x2`; rates per second, `/s` allowed: `100/s:2000/s:100/s`).
pub fn parse_stairs(spec: &str, users: bool) -> Result<Vec<f64>, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [from, to, by] = parts.as_slice() else {
        return Err(format!(
            "`{spec}`: expected FROM:TO:STEP or FROM:TO:xFACTOR, e.g. 8:64:8 or 4:256:x2"
        ));
    };
    let num = |s: &str| -> Result<f64, String> {
        let t = s.trim();
        let v = if users {
            t.parse::<u64>().ok().map(|v| v as f64)
        } else if t.contains('/') {
            units::parse_rate(t).ok()
        } else {
            t.parse::<f64>().ok()
        };
        v.filter(|v| v.is_finite() && *v > 0.0).ok_or_else(|| {
            format!(
                "`{t}` in `{spec}`: expected {} above 0",
                if users {
                    "a whole number of users"
                } else {
                    "a rate such as 100 or 100/s"
                }
            )
        })
    };
    let (from, to) = (num(from)?, num(to)?);
    if to < from {
        return Err(format!("`{spec}`: TO is below FROM"));
    }
    let (step, factor) = match by.trim().strip_prefix('x') {
        Some(f) => match f.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 1.0 => (None, Some(f)),
            _ => {
                return Err(format!(
                    "`{spec}`: the factor after x must be above 1, e.g. x2"
                ));
            }
        },
        None => (Some(num(by)?), None),
    };
    let levels = stairs(from, to, step, factor, users);
    if levels.len() > MAX_LEVELS {
        return Err(format!("`{spec}`: more than {MAX_LEVELS} levels"));
    }
    Ok(levels)
}

impl super::Plan {
    /// The plan's step test as the capacity analysis takes it; `None` for a plan that is
    /// not one.
    pub fn step_test(&self) -> Option<StepTest> {
        let (Some(steps), Some(spec)) = (&self.load.steps, &self.capacity) else {
            return None;
        };
        Some(StepTest {
            model: if self.load.open.is_some() {
                LoadModel::Open
            } else {
                LoadModel::Closed
            },
            levels: steps.levels.clone(),
            holds: steps.windows(),
            think_per_request: self.mean_think_per_request(),
            spec: spec.clone(),
        })
    }

    /// Make the plan a step test (`skein capacity --users/--rate`): `levels` of users
    /// (closed) or arrival rates (open), each reached over `ramp` and held for `hold`. The
    /// capacity block stays if the file has one; otherwise the defaults apply.
    pub fn make_step_test(&mut self, levels: Vec<f64>, open: bool, hold: Duration, ramp: Duration) {
        let total = (ramp + hold) * levels.len() as u32;
        let steps = StepLoad {
            levels: levels.clone(),
            hold,
            ramp,
        };
        let peak = levels.iter().copied().fold(0.0, f64::max);
        self.load = if open {
            let stages = rate_steps(&steps);
            let max_users = super::compile::default_max_users(peak, &self.scenarios);
            LoadPlan {
                stages: vec![Stage {
                    users: max_users,
                    over: total,
                }],
                graceful_stop: self.load.graceful_stop,
                open: Some(OpenLoad {
                    start_rate: if ramp.is_zero() { levels[0] } else { 0.0 },
                    stages,
                    max_users,
                    pre_allocated: super::compile::default_pre_allocated(
                        peak,
                        &self.scenarios,
                        max_users,
                    ),
                }),
                steps: Some(steps),
                shard: Shard::WHOLE,
                iterations: None,
            }
        } else {
            closed_steps(steps, self.load.graceful_stop)
        };
        if self.capacity.is_none() {
            self.capacity = Some(default_spec(&self.targets));
        }
    }
}

/// A step test in users as stages: each level reached over the ramp, then held.
fn closed_steps(steps: StepLoad, graceful_stop: Duration) -> LoadPlan {
    let mut stages = Vec::new();
    for &users in &steps.levels {
        let users = users as usize;
        stages.push(Stage {
            users,
            over: steps.ramp,
        });
        stages.push(Stage {
            users,
            over: steps.hold,
        });
    }
    LoadPlan {
        stages,
        graceful_stop,
        open: None,
        steps: Some(steps),
        shard: Shard::WHOLE,
        iterations: None,
    }
}

/// The arrival-rate stages of a step test in rates: each level reached over the ramp,
/// then held.
fn rate_steps(steps: &StepLoad) -> Vec<RateStage> {
    let mut stages = Vec::new();
    for &rate in &steps.levels {
        stages.push(RateStage {
            rate,
            over: steps.ramp,
        });
        stages.push(RateStage {
            rate,
            over: steps.hold,
        });
    }
    stages
}

/// `from`, `from + step`, ... (or `from * factor`, ...) up to `to`, which is always the last
/// level. `round` keeps user counts whole.
fn stairs(from: f64, to: f64, step: Option<f64>, factor: Option<f64>, round: bool) -> Vec<f64> {
    let mut out = Vec::new();
    let mut v = from;
    while v < to - 1e-9 && out.len() <= MAX_LEVELS {
        let level = if round { v.round() } else { v };
        if out.last() != Some(&level) {
            out.push(level);
        }
        v = match (step, factor) {
            (Some(s), _) => v + s,
            (None, Some(f)) => v * f,
            (None, None) => to,
        };
    }
    if out.last() != Some(&to) {
        out.push(to);
    }
    out
}

impl Compiler<'_> {
    /// `load: {steps: {users|rate: {from, to, step|factor}, hold, ramp}}`.
    pub(super) fn step_load(
        &mut self,
        l: &RawLoad,
        st: &RawSteps,
        path: &KeyPath,
        graceful_stop: Duration,
    ) -> Option<LoadPlan> {
        for (key, given) in [
            ("users", l.users.is_some()),
            ("stages", l.stages.is_some()),
            ("arrival_rate", l.arrival_rate.is_some()),
            ("ramp", l.ramp.is_some()),
            ("duration", l.duration.is_some()),
            ("start_rate", l.start_rate.is_some()),
        ] {
            if given {
                self.err(
                    &path.key(key),
                    format!("`{key}` beside `steps`"),
                    "a step test alone: its levels, `hold` and `ramp` say how long it runs",
                    Some("write the ramp between levels as `steps.ramp`".into()),
                );
                return None;
            }
        }
        let sp = path.key("steps");
        let hold = self.duration(&st.hold, &sp.key("hold"));
        let ramp = match &st.ramp {
            Some(r) => self.duration(r, &sp.key("ramp")),
            None => Some(Duration::ZERO),
        };
        let (levels, open) = match (&st.users, &st.rate) {
            (Some(_), Some(_)) | (None, None) => {
                self.err(
                    &sp,
                    if st.users.is_some() {
                        "both `users` and `rate`"
                    } else {
                        "neither `users` nor `rate`"
                    },
                    "`users: {from, to, step}` (closed model) or `rate: {from, to, step}` (open model)",
                    Some("e.g. `steps: {users: {from: 8, to: 64, step: 8}, hold: 30s}`".into()),
                );
                return None;
            }
            (Some(u), None) => {
                let p = sp.key("users");
                let from = u.from as f64;
                let to = u.to as f64;
                let step = u.step.map(|s| s as f64);
                (self.levels(&p, from, to, step, u.factor, true)?, false)
            }
            (None, Some(r)) => {
                let p = sp.key("rate");
                let from = self.rate(&r.from, &p.key("from"), true);
                let to = self.rate(&r.to, &p.key("to"), true);
                let step = match &r.step {
                    Some(s) => Some(self.rate(s, &p.key("step"), true)?),
                    None => None,
                };
                (self.levels(&p, from?, to?, step, r.factor, false)?, true)
            }
        };
        let (hold, ramp) = (hold?, ramp?);
        if hold.is_zero() {
            self.bad(
                &sp.key("hold"),
                "a hold longer than 0s, e.g. 30s: each level is measured while it is held",
                None,
            );
            return None;
        }
        let total = (ramp + hold)
            .checked_mul(levels.len() as u32)
            .unwrap_or(Duration::MAX);
        if total > MAX_RUN {
            self.err(
                &sp,
                format!(
                    "{} levels of {} each",
                    levels.len(),
                    units::show_duration(ramp + hold)
                ),
                "a step test that ends within a year",
                None,
            );
            return None;
        }
        let steps = StepLoad {
            levels: levels.clone(),
            hold,
            ramp,
        };
        Some(if open {
            let stages = rate_steps(&steps);
            LoadPlan {
                stages: vec![Stage {
                    users: 0,
                    over: total,
                }],
                graceful_stop,
                open: Some(OpenLoad {
                    start_rate: if ramp.is_zero() { levels[0] } else { 0.0 },
                    stages,
                    max_users: l
                        .max_users
                        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
                    pre_allocated: l
                        .pre_allocated
                        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
                }),
                steps: Some(steps),
                shard: Shard::WHOLE,
                iterations: None,
            }
        } else {
            if l.max_users.is_some() || l.pre_allocated.is_some() {
                self.err(
                    &path.key(if l.max_users.is_some() {
                        "max_users"
                    } else {
                        "pre_allocated"
                    }),
                    "a pool size beside a step test in users",
                    "`steps.rate` (the open model), where the pool serves the arrival rate",
                    None,
                );
                return None;
            }
            closed_steps(steps, graceful_stop)
        })
    }

    /// Check a staircase and build its levels.
    fn levels(
        &mut self,
        path: &KeyPath,
        from: f64,
        to: f64,
        step: Option<f64>,
        factor: Option<f64>,
        round: bool,
    ) -> Option<Vec<f64>> {
        if to < from {
            self.err(
                &path.key("to"),
                format!("to {} below from {}", num(to), num(from)),
                "`to` at or above `from`",
                None,
            );
            return None;
        }
        match (step, factor) {
            (Some(_), Some(_)) => {
                self.err(
                    &path.key("factor"),
                    "both `step` and `factor`",
                    "one of them: `step` adds, `factor` multiplies",
                    None,
                );
                return None;
            }
            (None, None) if to > from => {
                self.err(
                    path,
                    "neither `step` nor `factor`",
                    "`step: N` (added each level) or `factor: 2` (multiplied)",
                    None,
                );
                return None;
            }
            (Some(s), None) if s <= 0.0 => {
                self.bad(&path.key("step"), "a step above 0", None);
                return None;
            }
            (None, Some(f)) if !(f.is_finite() && f > 1.0) => {
                self.bad(&path.key("factor"), "a factor above 1, e.g. 2", None);
                return None;
            }
            _ => {}
        }
        let levels = stairs(from, to, step, factor, round);
        if levels.len() > MAX_LEVELS {
            self.err(
                path,
                format!("more than {MAX_LEVELS} levels"),
                format!("at most {MAX_LEVELS} levels: a larger `step` or a `factor`"),
                None,
            );
            return None;
        }
        Some(levels)
    }

    /// A share written `5%` (or as a number in [0, 1]).
    fn share(&mut self, t: &Text, path: &KeyPath) -> Option<f64> {
        let s = t.0.trim();
        let v = match s.strip_suffix('%') {
            Some(n) => n.trim().parse::<f64>().ok().map(|v| v / 100.0),
            None => s.parse::<f64>().ok().filter(|v| *v <= 1.0),
        };
        match v {
            Some(v) if v.is_finite() && v >= 0.0 => Some(v),
            _ => {
                let hint = if s.parse::<f64>().is_ok_and(|v| v > 1.0) {
                    Some(format!("write {s}% (a bare number is a share: 0.05 is 5%)"))
                } else {
                    None
                };
                self.bad(path, "a percentage such as 5%", hint);
                None
            }
        }
    }

    /// The `capacity:` block; also the defaults a step test gets without one.
    pub(super) fn capacity(
        &mut self,
        raw: &RawFile,
        load: Option<&LoadPlan>,
        targets: &[TargetPlan],
        path: &KeyPath,
    ) -> Option<CapacitySpec> {
        let step_test = load.is_some_and(|l| l.steps.is_some());
        let Some(c) = &raw.capacity else {
            return step_test.then(|| default_spec(targets));
        };
        if load.is_some() && !step_test {
            self.err(
                path,
                "a `capacity:` block without a step test",
                "`load: {steps: ...}` beside it: capacity is planned from a step test",
                Some("e.g. `load: {steps: {users: {from: 8, to: 64, step: 8}, hold: 30s}}`".into()),
            );
        }
        let slo_p95 = match &c.slo_p95 {
            Some(d) => self.duration(d, &path.key("slo_p95")).map(micros),
            None => slo_from_targets(targets),
        };
        let max_error_rate = match &c.max_error_rate {
            Some(t) => self.share(t, &path.key("max_error_rate")),
            None => Some(DEFAULT_MAX_ERROR_RATE),
        };
        let stop_at_error_rate = match &c.stop_at_error_rate {
            Some(t) => self.share(t, &path.key("stop_at_error_rate")),
            None => Some(DEFAULT_STOP_AT_ERROR_RATE),
        };
        let stop_at_slo_times = c.stop_at_slo_times.unwrap_or(DEFAULT_STOP_AT_SLO_TIMES);
        let planning = c.planning.as_ref().map(|p| {
            let pp = path.key("planning");
            if p.peak_users.is_none() && p.peak_rps.is_none() {
                self.err(
                    &pp,
                    "neither `peak_users` nor `peak_rps`",
                    "the expected peak: `peak_users: 5000` or `peak_rps: 1200`",
                    Some("instances, headroom and runway are worked out from it".into()),
                );
            }
            let growth = match &p.growth_per_month {
                Some(t) => self.share(t, &pp.key("growth_per_month")),
                None => Some(0.0),
            };
            let headroom = match &p.headroom {
                Some(t) => self.share(t, &pp.key("headroom")),
                None => Some(0.3),
            };
            if headroom.is_some_and(|h| h >= 1.0) {
                self.bad(&pp.key("headroom"), "a headroom below 100%", None);
            }
            Planning {
                peak_users: p.peak_users,
                peak_rps: p.peak_rps,
                growth_per_month: growth.unwrap_or(0.0),
                headroom: headroom.unwrap_or(0.3),
                redundancy: p.redundancy.unwrap_or(0),
                cost_per_instance_hour: p.cost_per_instance_hour,
                instances_tested: p.instances_tested.unwrap_or(1).max(1),
                months: p.months.unwrap_or(12.0),
            }
        });
        Some(CapacitySpec {
            options: CapacityOptions {
                slo_p95_us: slo_p95,
                max_error_rate: max_error_rate?,
                planning,
            },
            early_stop: early_stop(
                (stop_at_slo_times > 0.0).then_some(stop_at_slo_times),
                stop_at_error_rate.filter(|v| *v > 0.0),
            ),
        })
    }
}

/// The capacity block of a step test whose file has none.
fn default_spec(targets: &[TargetPlan]) -> CapacitySpec {
    CapacitySpec {
        options: CapacityOptions {
            slo_p95_us: slo_from_targets(targets),
            max_error_rate: DEFAULT_MAX_ERROR_RATE,
            planning: None,
        },
        early_stop: early_stop(
            Some(DEFAULT_STOP_AT_SLO_TIMES),
            Some(DEFAULT_STOP_AT_ERROR_RATE),
        ),
    }
}

/// The early-stop rule of `stop_at_slo_times` and `stop_at_error_rate` (a bound not given
/// is never passed); `None` when neither is given.
fn early_stop(slo_times: Option<f64>, error_rate: Option<f64>) -> Option<EarlyStop> {
    if slo_times.is_none() && error_rate.is_none() {
        return None;
    }
    Some(EarlyStop {
        p95_factor: slo_times.unwrap_or(f64::INFINITY),
        max_error_rate: error_rate.unwrap_or(f64::INFINITY),
        ..EarlyStop::default()
    })
}

/// The bound of the tightest whole-run p95 response-time target, µs.
fn slo_from_targets(targets: &[TargetPlan]) -> Option<u64> {
    targets
        .iter()
        .map(|t| &t.target)
        .filter(|t| {
            t.metric == Metric::ResponseTime
                && t.scope == Scope::Overall
                && t.unit == Unit::Us
                && matches!(t.op, Op::Lt | Op::Le)
                && matches!(t.aggregate, Some(Aggregate::Percentile(p)) if (p - 95.0).abs() < 1e-9)
        })
        .map(|t| t.threshold)
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.min(v))))
        .map(|us| us.max(0.0) as u64)
}

fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_stairs, stairs};

    #[test]
    fn command_line_stairs() {
        assert_eq!(
            parse_stairs("8:32:8", true).unwrap(),
            vec![8.0, 16.0, 24.0, 32.0]
        );
        assert_eq!(
            parse_stairs("4:20:x2", true).unwrap(),
            vec![4.0, 8.0, 16.0, 20.0]
        );
        assert_eq!(
            parse_stairs("100/s:300/s:100/s", false).unwrap(),
            vec![100.0, 200.0, 300.0]
        );
        assert!(parse_stairs("8:4:1", true).unwrap_err().contains("below"));
        assert!(
            parse_stairs("8:64", true)
                .unwrap_err()
                .contains("FROM:TO:STEP")
        );
        assert!(
            parse_stairs("8:64:x1", true)
                .unwrap_err()
                .contains("above 1")
        );
        assert!(
            parse_stairs("1:1000000:1", true)
                .unwrap_err()
                .contains("levels")
        );
    }

    #[test]
    fn stairs_end_at_to() {
        assert_eq!(
            stairs(8.0, 64.0, Some(8.0), None, true),
            vec![8.0, 16.0, 24.0, 32.0, 40.0, 48.0, 56.0, 64.0]
        );
        assert_eq!(
            stairs(4.0, 100.0, None, Some(2.0), true),
            vec![4.0, 8.0, 16.0, 32.0, 64.0, 100.0]
        );
        assert_eq!(stairs(5.0, 5.0, None, None, true), vec![5.0]);
        assert_eq!(
            stairs(100.0, 250.0, Some(100.0), None, false),
            vec![100.0, 200.0, 250.0]
        );
    }
}
