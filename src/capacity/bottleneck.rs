//! Bottleneck analysis from the `Server-Timing` header: per load level, the mean time of
//! each named component (`app`, `db`, `cache`, ...) beside the mean response time, the time
//! outside every named component (network, queueing in front of the application), and which
//! part grows fastest as load rises, with its share of the growth in response time:
//! "db: 18 ms at 8 users → 61 ms at 56 users, 74 % of the growth in response time".
//!
//! The growth is taken between the lowest and the highest load level that both have
//! component timings. The time outside is the response time less the sum of the components;
//! when the components overlap (a server that reports `app` as its whole time and `db` as a
//! part of it, as the demo does without a database pool), that sum exceeds the response
//! time, and the time outside is the response time less the largest component instead.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::StepAnalysis;

/// The name of the time outside every named component, in the report.
pub const OUTSIDE: &str = "outside named components";

/// One load level's breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelBreakdown {
    /// Index of the step.
    pub step: usize,
    pub load: f64,
    /// Mean response time of the level (µs).
    pub response_us: f64,
    /// Mean time of each named component (µs) over the responses that reported it.
    pub components: Vec<ComponentTime>,
    /// Response time less the sum of the components (µs): network, queueing in front of
    /// the application, anything the server did not name; when the components overlap,
    /// less the largest of them.
    pub outside_us: f64,
}

/// One component's mean time at a level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentTime {
    pub name: String,
    pub mean_us: f64,
    /// Responses that reported it.
    pub count: u64,
}

/// How one part grew from the lowest to the highest level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Growth {
    /// A component's name, or [`OUTSIDE`].
    pub name: String,
    pub from_us: f64,
    pub to_us: f64,
    /// `(to - from) / (growth of the response time)`, a share; `null` when the response
    /// time did not grow.
    pub share: Option<f64>,
}

/// The bottleneck analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bottleneck {
    /// Every level with component timings, lowest load first.
    pub levels: Vec<LevelBreakdown>,
    /// The levels compared, and the response time there.
    pub from_load: f64,
    pub to_load: f64,
    pub response_from_us: f64,
    pub response_to_us: f64,
    /// Each component and the time outside them, fastest growing first.
    pub growth: Vec<Growth>,
    /// The part whose time grew most: a component's name or [`OUTSIDE`]; `null` when the
    /// response time did not grow.
    pub bottleneck: Option<String>,
    /// Whether the components add up to more than the response time at some level (they
    /// overlap, e.g. `app` includes `db`).
    pub overlapping: bool,
    /// The finding in a sentence.
    pub summary: String,
}

/// The breakdown of `steps` given each step's component means (`per_step[i]` for
/// `steps[i]`, empty when it had none). `None` when fewer than two levels have both a mean
/// response time and component timings.
pub fn analyze(
    steps: &[StepAnalysis],
    per_step: &[Vec<ComponentTime>],
    unit: &str,
) -> Option<Bottleneck> {
    let mut levels: Vec<LevelBreakdown> = steps
        .iter()
        .zip(per_step)
        .filter_map(|(s, comps)| {
            let r = s.mean_us? as f64;
            if comps.is_empty() {
                return None;
            }
            let sum: f64 = comps.iter().map(|c| c.mean_us).sum();
            Some(LevelBreakdown {
                step: s.index,
                load: s.load,
                response_us: r,
                components: comps.clone(),
                outside_us: r - sum,
            })
        })
        .collect();
    levels.sort_by(|a, b| a.load.total_cmp(&b.load).then(a.step.cmp(&b.step)));
    if levels.len() < 2 {
        return None;
    }
    // Components that add up to more than the response time overlap: the usual case is
    // nesting (`app` the whole time, `db` a part of it), so the time outside is then the
    // response time less the largest component.
    let overlapping = levels.iter().any(|l| l.outside_us < -0.02 * l.response_us);
    if overlapping {
        for l in &mut levels {
            let largest = l.components.iter().map(|c| c.mean_us).fold(0.0, f64::max);
            l.outside_us = l.response_us - largest;
        }
    }
    let lo = &levels[0];
    let hi = &levels[levels.len() - 1];
    let dr = hi.response_us - lo.response_us;
    let mut names: Vec<String> = Vec::new();
    for l in &levels {
        for c in &l.components {
            if !names.contains(&c.name) {
                names.push(c.name.clone());
            }
        }
    }
    let at = |l: &LevelBreakdown, name: &str| {
        l.components
            .iter()
            .find(|c| c.name == name)
            .map_or(0.0, |c| c.mean_us)
    };
    let share = |d: f64| (dr > 0.0).then(|| d / dr);
    let mut growth: Vec<Growth> = names
        .iter()
        .map(|n| Growth {
            name: n.clone(),
            from_us: at(lo, n),
            to_us: at(hi, n),
            share: share(at(hi, n) - at(lo, n)),
        })
        .collect();
    growth.push(Growth {
        name: OUTSIDE.into(),
        from_us: lo.outside_us,
        to_us: hi.outside_us,
        share: share(hi.outside_us - lo.outside_us),
    });
    growth.sort_by(|a, b| (b.to_us - b.from_us).total_cmp(&(a.to_us - a.from_us)));
    let bottleneck = (dr > 0.0).then(|| growth[0].name.clone());
    let load = |v: f64| {
        if (v - v.round()).abs() < 1e-9 {
            format!("{} {unit}", v.round())
        } else {
            format!("{v:.1} {unit}")
        }
    };
    let ms = |us: f64| format!("{:.1} ms", us / 1000.0);
    let summary = match &bottleneck {
        Some(name) => {
            let g = &growth[0];
            let what = if name == OUTSIDE {
                "time outside every named component (network, queueing in front of the \
                 application)"
                    .to_string()
            } else {
                name.clone()
            };
            format!(
                "{what}: {} at {} → {} at {}, {:.0} % of the growth in response time ({} → {})",
                ms(g.from_us),
                load(lo.load),
                ms(g.to_us),
                load(hi.load),
                g.share.unwrap_or(0.0) * 100.0,
                ms(lo.response_us),
                ms(hi.response_us)
            )
        }
        None => format!(
            "the response time did not grow from {} to {} ({} → {}): no bottleneck shows",
            load(lo.load),
            load(hi.load),
            ms(lo.response_us),
            ms(hi.response_us)
        ),
    };
    Some(Bottleneck {
        from_load: lo.load,
        to_load: hi.load,
        response_from_us: lo.response_us,
        response_to_us: hi.response_us,
        levels,
        growth,
        bottleneck,
        overlapping,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(i: usize, load: f64, mean_ms: u64) -> StepAnalysis {
        let mut s = StepAnalysis::from_figures(i, load, 100.0, None);
        s.mean_us = Some(mean_ms * 1000);
        s
    }

    fn comp(name: &str, ms: f64) -> ComponentTime {
        ComponentTime {
            name: name.into(),
            mean_us: ms * 1000.0,
            count: 100,
        }
    }

    #[test]
    fn the_fastest_growing_component_is_named_with_its_share() {
        let steps = [step(0, 8.0, 30), step(1, 32.0, 50), step(2, 56.0, 80)];
        let per = vec![
            vec![comp("app", 8.0), comp("db", 18.0)],
            vec![comp("app", 8.0), comp("db", 36.0)],
            vec![comp("app", 9.0), comp("db", 55.0)],
        ];
        let b = analyze(&steps, &per, "users").unwrap();
        assert_eq!(b.bottleneck.as_deref(), Some("db"));
        let db = &b.growth[0];
        assert!((db.share.unwrap() - 37.0 / 50.0).abs() < 1e-9);
        assert!(
            b.summary
                .starts_with("db: 18.0 ms at 8 users → 55.0 ms at 56 users, 74 %"),
            "{}",
            b.summary
        );
        let out = b.growth.iter().find(|g| g.name == OUTSIDE).unwrap();
        assert!((out.from_us - 4000.0).abs() < 1e-9 && (out.to_us - 16000.0).abs() < 1e-9);
        assert!(!b.overlapping);
    }

    #[test]
    fn queueing_in_front_of_the_app_is_the_time_outside() {
        let steps = [step(0, 8.0, 20), step(1, 56.0, 35)];
        // `app` includes `db` (they overlap); neither grows.
        let per = vec![
            vec![comp("db", 12.0), comp("app", 20.0)],
            vec![comp("db", 12.0), comp("app", 20.0)],
        ];
        let b = analyze(&steps, &per, "users").unwrap();
        assert_eq!(b.bottleneck.as_deref(), Some(OUTSIDE));
        assert!(b.overlapping);
        // Nested: outside is the response less `app`, 0 → 15 ms, all of the growth.
        let out = b.growth.iter().find(|g| g.name == OUTSIDE).unwrap();
        assert_eq!((out.from_us, out.to_us), (0.0, 15_000.0));
        assert_eq!(out.share, Some(1.0));
        assert!(analyze(&steps[..1], &per[..1], "users").is_none());
    }
}
