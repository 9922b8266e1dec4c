//! The capacity plan: from the load one instance sustains within the SLO and a `planning`
//! block (expected peak, growth, headroom, redundancy, price), the instances needed, the
//! headroom today, the runway, the cost, and the load at which to scale out.
//!
//! Formulas (`notes/measurement.md` section 3), with `C1` the sustainable load of one
//! instance (the step test's maximum sustainable load divided by the instances that served
//! it), `C = C1 * instances_tested`, `D` the expected peak, `g` growth per month, `h` the
//! headroom wanted and `m` the horizon in months:
//!
//! - headroom now = `1 - D / C`
//! - instances = `ceil(D * (1 + g)^m / (C1 * (1 - h))) + redundancy`
//! - runway (months) = `ln(C / D) / ln(1 + g)`: when the peak reaches today's capacity
//! - scale out at `(1 - h) * C1` per instance, in users and in requests per second
//! - cost per million requests = `instances * price * 1e6 / (3600 * peak rps at the horizon)`
//!
//! The peak may be given in users (compared with the users the test sustained, a closed
//! model) or in requests per second (compared with the throughput); a figure whose input
//! the block lacks is left out and named in [`CapacityPlan::missing`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Hours in an average month (8,766 h a year / 12), for monthly cost.
pub const HOURS_PER_MONTH: f64 = 730.5;
/// The largest peak (users or requests per second), given or grown to at the horizon, that
/// a plan is worked out for: beyond it the inputs are a mistake, not a forecast.
pub const MAX_PEAK: f64 = 1e12;
/// The most instances a plan names (tested, needed, or for 1000 users).
pub const MAX_INSTANCES: u32 = 1_000_000;
/// The longest planning horizon, in months (ten years).
pub const MAX_MONTHS: f64 = 120.0;
/// The largest growth of the peak per month, as a share (100 %: doubling every month).
pub const MAX_GROWTH: f64 = 1.0;
/// The most spare instances.
pub const MAX_REDUNDANCY: u32 = 100;
/// The highest price of one instance for one hour, in any currency.
pub const MAX_PRICE: f64 = 1e6;
/// The Phase 9 requirement checked by [`ThousandUsers`].
pub const REQUIRED_USERS: f64 = 1000.0;

/// The `planning` block: what the business expects and wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Planning {
    /// Expected peak concurrent users.
    pub peak_users: Option<f64>,
    /// Expected peak requests per second.
    pub peak_rps: Option<f64>,
    /// Growth of the peak per month, as a share (0.05 = 5 %).
    pub growth_per_month: f64,
    /// Share of capacity to keep unused at the peak (0.3 = 30 %).
    pub headroom: f64,
    /// Spare instances on top of those the load needs (1 for N+1).
    pub redundancy: u32,
    /// Price of one instance for one hour, in any currency.
    pub cost_per_instance_hour: Option<f64>,
    /// Instances that served the test.
    pub instances_tested: u32,
    /// Planning horizon in months.
    pub months: f64,
}

impl Default for Planning {
    fn default() -> Self {
        Planning {
            peak_users: None,
            peak_rps: None,
            growth_per_month: 0.0,
            headroom: 0.3,
            redundancy: 0,
            cost_per_instance_hour: None,
            instances_tested: 1,
            months: 12.0,
        }
    }
}

/// A value in the planning block that cannot be planned with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("planning: `{key}` = {value}: expected {expected}")]
pub struct PlanError {
    pub key: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Planning {
    /// Check every value (all problems are reported, first one first).
    pub fn validate(&self) -> Result<(), Vec<PlanError>> {
        let mut errs = Vec::new();
        let mut check = |ok: bool, key, value: String, expected| {
            if !ok {
                errs.push(PlanError {
                    key,
                    value,
                    expected,
                });
            }
        };
        for (key, v) in [("peak_users", self.peak_users), ("peak_rps", self.peak_rps)] {
            if let Some(v) = v {
                check(
                    v.is_finite() && v > 0.0 && v <= MAX_PEAK,
                    key,
                    number_text(v),
                    "a number above 0 and at most 1e12",
                );
            }
        }
        let g = self.growth_per_month;
        check(
            g.is_finite() && g > -1.0 && g <= MAX_GROWTH,
            "growth_per_month",
            share_text(g),
            "a share above -100% and at most 100% a month, such as 5%",
        );
        let h = self.headroom;
        check(
            h.is_finite() && (0.0..1.0).contains(&h),
            "headroom",
            share_text(h),
            "a share from 0% to below 100% such as 30%",
        );
        check(
            self.redundancy <= MAX_REDUNDANCY,
            "redundancy",
            self.redundancy.to_string(),
            "at most 100 spare instances",
        );
        if let Some(c) = self.cost_per_instance_hour {
            check(
                c.is_finite() && (0.0..=MAX_PRICE).contains(&c),
                "cost_per_instance_hour",
                number_text(c),
                "a price from 0 to 1,000,000 an hour",
            );
        }
        check(
            (1..=MAX_INSTANCES).contains(&self.instances_tested),
            "instances_tested",
            self.instances_tested.to_string(),
            "from 1 to 1,000,000 instances",
        );
        let m = self.months;
        check(
            m.is_finite() && (0.0..=MAX_MONTHS).contains(&m),
            "months",
            number_text(m),
            "from 0 to 120 months",
        );
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

/// A number as a person reads it: `1500`, `0.25`, or `1e300` rather than 301 digits.
fn number_text(v: f64) -> String {
    if v.is_finite() && v != 0.0 && !(1e-6..1e15).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// A share as the user wrote it: `0.05` is `5%`.
fn share_text(v: f64) -> String {
    let pct = v * 100.0;
    if pct.is_finite() && pct.abs() < 1e9 {
        format!("{}%", (pct * 1e6).round() / 1e6)
    } else {
        format!("{}%", number_text(pct))
    }
}

/// A plan whose figures would be absurd even though every input is in range: the inputs
/// together are a mistake (a peak grown for years at a steep rate, a headroom of nearly
/// 100 %, a table with a tiny sustained load).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what}: check the inputs ({inputs})")]
pub struct PlanLimit {
    /// The figure past its limit, in a few words.
    pub what: String,
    /// The inputs that make it.
    pub inputs: &'static str,
}

/// What the test showed the tested instances sustain within the SLO.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sustained {
    /// Requests per second.
    pub rps: f64,
    /// Concurrent users, when the load was users (closed model).
    pub users: Option<f64>,
}

/// A figure left out of the plan, and the key the planning block would need for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Missing {
    pub figure: String,
    /// The `planning` key (or other input) it needs.
    pub needs: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} needs {}", self.figure, self.needs)
    }
}

/// Is the Phase 9 requirement of 1000+ concurrent users met?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThousandUsers {
    /// Users the tested instances sustain within the SLO.
    pub users_sustained: f64,
    /// Whether that is at least 1000.
    pub met: bool,
    /// Instances that sustain 1000 users within the SLO (no headroom, no redundancy).
    pub instances_for_1000: u32,
}

/// The plan. Figures whose input is missing are `null`, listed in `missing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityPlan {
    /// The block planned with.
    pub planning: Planning,
    /// `rps` or `users`: what the peak is given in (rps when both are).
    pub basis: Option<String>,
    /// Sustainable requests per second of one instance.
    pub rps_per_instance: f64,
    /// Sustainable users of one instance (closed model only).
    pub users_per_instance: Option<f64>,
    /// The expected peak now and at the horizon, in the basis' unit.
    pub peak_now: Option<f64>,
    pub peak_at_horizon: Option<f64>,
    /// Instances needed at the horizon, redundancy included.
    pub instances_needed: Option<u32>,
    /// `1 - peak / capacity of the tested instances`; negative when already short.
    pub headroom_now: Option<f64>,
    /// Months until the peak reaches the tested instances' capacity (0 when it already
    /// has; `null` without growth, or without a peak).
    pub runway_months: Option<f64>,
    /// The share of the sustainable load at which to scale out (`1 - headroom`).
    pub scale_out_share: f64,
    /// Scale out when one instance carries this many users (closed model).
    pub scale_out_users: Option<f64>,
    /// Scale out when one instance serves this many requests per second.
    pub scale_out_rps: f64,
    /// The planned instances for a month.
    pub cost_per_month: Option<f64>,
    /// Cost per million requests with the planned instances serving the peak at the horizon.
    pub cost_per_million_requests: Option<f64>,
    /// Cost per million requests of one instance at its sustainable load (the floor).
    pub cost_per_million_at_capacity: Option<f64>,
    /// The 1000+ concurrent users requirement.
    pub thousand_users: Option<ThousandUsers>,
    /// Figures left out for lack of input.
    pub missing: Vec<Missing>,
}

/// Work out the plan. `planning` should have passed [`Planning::validate`]; values it
/// rejects give `null` figures, never a panic. A plan that would need more than
/// [`MAX_INSTANCES`] instances, or a peak above [`MAX_PEAK`] at the horizon, is refused:
/// such figures come from mistaken inputs, and no figure of a plan is infinite.
pub fn plan(planning: &Planning, sustained: Sustained) -> Result<CapacityPlan, PlanLimit> {
    let p = plan_unchecked(planning, sustained);
    let peak_inputs = "the peak, --growth and --months";
    if let Some(h) = p.peak_at_horizon
        && !(h.is_finite() && h <= MAX_PEAK)
    {
        return Err(PlanLimit {
            what: "a peak above 1e12 at the horizon".into(),
            inputs: peak_inputs,
        });
    }
    if p.instances_needed.is_some_and(|n| n > MAX_INSTANCES) {
        return Err(PlanLimit {
            what: "more than 1,000,000 instances".into(),
            inputs: "the peak, --growth, --months, --headroom and --redundancy, and the measured load",
        });
    }
    if p.thousand_users
        .as_ref()
        .is_some_and(|k| k.instances_for_1000 > MAX_INSTANCES)
    {
        return Err(PlanLimit {
            what: "more than 1,000,000 instances for 1000 users".into(),
            inputs: "the measured load and --instances",
        });
    }
    Ok(p)
}

/// [`plan`] without its limits; figures past `u32` are clamped, never wrapped.
fn plan_unchecked(planning: &Planning, sustained: Sustained) -> CapacityPlan {
    let p = planning;
    let tested = p.instances_tested.max(1) as f64;
    let rps1 = sustained.rps / tested;
    let users1 = sustained.users.map(|u| u / tested);
    let share = 1.0 - p.headroom;
    let mut missing = Vec::new();
    let mut miss = |figure: &str, needs: &str| {
        missing.push(Missing {
            figure: figure.into(),
            needs: needs.into(),
        })
    };

    // The peak, in the unit of a sustained figure.
    let basis = match (p.peak_rps, p.peak_users, users1) {
        (Some(r), _, _) => Some(("rps", r, rps1)),
        (None, Some(u), Some(c1)) => Some(("users", u, c1)),
        (None, Some(_), None) => {
            miss(
                "planning from peak users",
                "a test whose load is users (closed model); give `peak_rps` instead",
            );
            None
        }
        (None, None, _) => None,
    };
    if basis.is_none() {
        for figure in ["instances needed", "headroom now", "runway"] {
            miss(figure, "`peak_rps` or `peak_users`");
        }
    }
    let growth = (1.0 + p.growth_per_month).powf(p.months);
    let usable = |c1: f64| c1 > 0.0 && c1.is_finite() && share > 0.0;
    let instances_needed = basis.and_then(|(_, d, c1)| {
        usable(c1).then(|| {
            let n = (d * growth / (c1 * share)).ceil();
            // NaN (an infinite peak over an infinite capacity) counts as too many.
            let n = if n.is_nan() { f64::INFINITY } else { n };
            (n.clamp(1.0, u32::MAX as f64) as u32).saturating_add(p.redundancy)
        })
    });
    let headroom_now = basis.and_then(|(_, d, c1)| {
        (c1 > 0.0)
            .then(|| 1.0 - d / (c1 * tested))
            .filter(|h| h.is_finite())
    });
    let runway_months = basis.and_then(|(_, d, c1)| {
        let cap = c1 * tested;
        if d >= cap {
            Some(0.0)
        } else if p.growth_per_month > 0.0 {
            Some((cap / d).ln() / (1.0 + p.growth_per_month).ln()).filter(|m| m.is_finite())
        } else {
            None
        }
    });

    // Requests per second at the peak, for cost: given, or users times the rate per user
    // the test showed.
    let peak_rps_now = p.peak_rps.or_else(|| {
        let u = p.peak_users?;
        let per_user = sustained.rps / sustained.users.filter(|u| *u > 0.0)?;
        Some(u * per_user)
    });
    let price = p.cost_per_instance_hour;
    if price.is_none() {
        for figure in ["cost per month", "cost per million requests"] {
            miss(figure, "`cost_per_instance_hour`");
        }
    }
    let cost_per_month = price
        .zip(instances_needed)
        .map(|(c, n)| c * n as f64 * HOURS_PER_MONTH)
        .filter(|c| c.is_finite());
    let cost_per_million_requests = match (price, instances_needed, peak_rps_now) {
        (Some(c), Some(n), Some(r)) if r > 0.0 => Some(n as f64 * c * 1e6 / (3600.0 * r * growth)),
        _ => None,
    }
    .filter(|c| c.is_finite());
    let cost_per_million_at_capacity = price
        .and_then(|c| (rps1 > 0.0).then(|| c * 1e6 / (3600.0 * rps1)))
        .filter(|c| c.is_finite());

    let thousand_users = match users1 {
        Some(u1) if u1 > 0.0 => Some(ThousandUsers {
            users_sustained: u1 * tested,
            met: u1 * tested >= REQUIRED_USERS,
            instances_for_1000: (REQUIRED_USERS / u1).ceil().min(u32::MAX as f64) as u32,
        }),
        _ => {
            miss(
                "the 1000+ concurrent users check",
                "a test whose load is users (closed model) that sustained some",
            );
            None
        }
    };

    CapacityPlan {
        planning: p.clone(),
        basis: basis.map(|b| b.0.to_string()),
        rps_per_instance: rps1,
        users_per_instance: users1,
        peak_now: basis.map(|b| b.1),
        peak_at_horizon: basis.map(|b| b.1 * growth),
        instances_needed,
        headroom_now,
        runway_months,
        scale_out_share: share,
        scale_out_users: users1.map(|u| u * share),
        scale_out_rps: rps1 * share,
        cost_per_month,
        cost_per_million_requests,
        cost_per_million_at_capacity,
        thousand_users,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn a_plan_by_requests_per_second_matches_hand_figures() {
        // Two instances sustained 1,600 rps (800 each) with 64 users (32 each).
        let planning = Planning {
            peak_rps: Some(1_000.0),
            growth_per_month: 0.05,
            headroom: 0.3,
            redundancy: 1,
            cost_per_instance_hour: Some(0.5),
            instances_tested: 2,
            months: 12.0,
            ..Planning::default()
        };
        assert_eq!(planning.validate(), Ok(()));
        let p = plan(
            &planning,
            Sustained {
                rps: 1_600.0,
                users: Some(64.0),
            },
        )
        .unwrap();
        assert_eq!(p.basis.as_deref(), Some("rps"));
        assert_eq!(p.rps_per_instance, 800.0);
        // 1000 * 1.05^12 = 1795.856; / (800 * 0.7 = 560) = 3.207 -> 4, + 1 spare.
        assert!(close(p.peak_at_horizon.unwrap(), 1_795.856, 1e-3));
        assert_eq!(p.instances_needed, Some(5));
        // 1 - 1000/1600.
        assert!(close(p.headroom_now.unwrap(), 0.375, 1e-12));
        // ln(1.6)/ln(1.05) = 0.4700036/0.0487902 = 9.633.
        assert!(close(p.runway_months.unwrap(), 9.633, 1e-3));
        assert!(close(p.scale_out_rps, 560.0, 1e-9));
        assert!(close(p.scale_out_users.unwrap(), 22.4, 1e-9));
        // 5 * 0.5 * 730.5.
        assert!(close(p.cost_per_month.unwrap(), 1_826.25, 1e-9));
        // 5 * 0.5 * 1e6 / (3600 * 1795.856) = 0.38670.
        assert!(close(p.cost_per_million_requests.unwrap(), 0.38670, 1e-5));
        // 0.5 * 1e6 / (3600 * 800) = 0.17361.
        assert!(close(
            p.cost_per_million_at_capacity.unwrap(),
            0.17361,
            1e-5
        ));
        let k = p.thousand_users.unwrap();
        assert_eq!(
            (k.users_sustained, k.met, k.instances_for_1000),
            (64.0, false, 32)
        );
        assert!(p.missing.is_empty(), "{:?}", p.missing);
    }

    #[test]
    fn a_plan_by_users_and_the_thousand_user_check() {
        let planning = Planning {
            peak_users: Some(1_200.0),
            headroom: 0.25,
            instances_tested: 1,
            months: 6.0,
            ..Planning::default()
        };
        let p = plan(
            &planning,
            Sustained {
                rps: 2_000.0,
                users: Some(400.0),
            },
        )
        .unwrap();
        assert_eq!(p.basis.as_deref(), Some("users"));
        // No growth: 1200 / (400 * 0.75 = 300) = 4.
        assert_eq!(p.instances_needed, Some(4));
        // 1 - 1200/400: three times over capacity already.
        assert!(close(p.headroom_now.unwrap(), -2.0, 1e-12));
        assert_eq!(p.runway_months, Some(0.0));
        assert_eq!(p.scale_out_users, Some(300.0));
        let k = p.thousand_users.unwrap();
        assert_eq!((k.met, k.instances_for_1000), (false, 3));
        // No price: both cost figures are named as missing.
        assert_eq!(p.cost_per_month, None);
        let needs: Vec<String> = p.missing.iter().map(|m| m.to_string()).collect();
        assert!(
            needs.contains(&"cost per month needs `cost_per_instance_hour`".to_string()),
            "{needs:?}"
        );
    }

    #[test]
    fn without_growth_the_runway_is_open_ended_and_a_big_test_meets_the_requirement() {
        let planning = Planning {
            peak_rps: Some(500.0),
            instances_tested: 4,
            ..Planning::default()
        };
        let p = plan(
            &planning,
            Sustained {
                rps: 4_000.0,
                users: Some(1_600.0),
            },
        )
        .unwrap();
        assert_eq!(p.runway_months, None);
        assert!(p.thousand_users.as_ref().unwrap().met);
        assert_eq!(p.thousand_users.unwrap().instances_for_1000, 3);
        // 500 / (1000 * 0.7) -> 1 instance.
        assert_eq!(p.instances_needed, Some(1));
    }

    #[test]
    fn missing_inputs_are_named() {
        let p = plan(
            &Planning::default(),
            Sustained {
                rps: 1_000.0,
                users: None,
            },
        )
        .unwrap();
        assert_eq!(p.instances_needed, None);
        let needs: Vec<String> = p.missing.iter().map(|m| m.to_string()).collect();
        let all = needs.join("\n");
        assert!(
            all.contains("instances needed needs `peak_rps` or `peak_users`"),
            "{all}"
        );
        assert!(all.contains("1000+ concurrent users check"), "{all}");
        // Peak users against an open-model test.
        let p = plan(
            &Planning {
                peak_users: Some(100.0),
                ..Planning::default()
            },
            Sustained {
                rps: 1_000.0,
                users: None,
            },
        )
        .unwrap();
        assert!(
            p.missing
                .iter()
                .any(|m| m.needs.contains("give `peak_rps` instead"))
        );
    }

    #[test]
    fn invalid_values_are_rejected_with_their_key() {
        let bad = Planning {
            peak_rps: Some(-5.0),
            headroom: 1.0,
            instances_tested: 0,
            ..Planning::default()
        };
        let errs = bad.validate().unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key).collect();
        assert_eq!(keys, ["peak_rps", "headroom", "instances_tested"]);
        assert_eq!(
            errs[1].to_string(),
            "planning: `headroom` = 100%: expected a share from 0% to below 100% such as 30%"
        );
        // Still no panic when planned with.
        let p = plan(
            &bad,
            Sustained {
                rps: 0.0,
                users: None,
            },
        )
        .unwrap();
        assert_eq!(p.instances_needed, None);
    }
}
