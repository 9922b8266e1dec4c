//! Counted iterations (`load: {users: 10, iterations_per_user: 5}` and
//! `load: {users: 10, iterations: 200}`, k6's `per-vu-iterations` and `shared-iterations`):
//! the users start (at once, or on the `ramp`) and the run ends when the iterations are
//! done, or at the `max_duration` bound.

use std::time::Duration;

use super::compile::{Compiler, MAX_RUN};
use super::load::{DEFAULT_MAX_DURATION, Iterations, LoadPlan, Shard, Stage};
use super::node::KeyPath;
use super::raw::RawLoad;
use super::units::{self, RAMP_EXPECTED};

/// Does the load count iterations (or say `max_duration`, which only such a load takes)?
pub(super) fn counted(l: &RawLoad) -> bool {
    l.iterations.is_some() || l.iterations_per_user.is_some() || l.max_duration.is_some()
}

const EXPECTED: &str =
    "`users` with `iterations_per_user` or `iterations`, and optionally `ramp` and `max_duration`";

impl Compiler<'_> {
    /// A load of counted iterations: `users`, one count, an optional `ramp` and
    /// `max_duration`; nothing of the timed or open models beside them.
    pub(super) fn iterations_load(
        &mut self,
        l: &RawLoad,
        path: &KeyPath,
        graceful_stop: Duration,
    ) -> Option<LoadPlan> {
        let mut ok = true;
        let count = match (l.iterations_per_user, l.iterations) {
            (Some(_), Some(_)) => {
                self.err(
                    &path.key("iterations"),
                    "both `iterations_per_user` and `iterations`",
                    "one of them",
                    Some("`iterations_per_user: N`: each user runs N; `iterations: N`: N in all, shared by the users".into()),
                );
                None
            }
            (Some(n), None) => self.count(n, &path.key("iterations_per_user"), Iterations::PerUser),
            (None, Some(n)) => self.count(n, &path.key("iterations"), Iterations::Shared),
            (None, None) => {
                self.err(
                    &path.key("max_duration"),
                    "`max_duration` without a count of iterations",
                    "`iterations_per_user` or `iterations` beside it",
                    Some("`max_duration` bounds a run of counted iterations; a timed run takes `duration`".into()),
                );
                None
            }
        };
        let word = count.map_or("iterations", Iterations::key);
        for (key, given) in [
            ("duration", l.duration.is_some()),
            ("stages", l.stages.is_some()),
            ("arrival_rate", l.arrival_rate.is_some()),
            ("start_rate", l.start_rate.is_some()),
            ("max_users", l.max_users.is_some()),
            ("pre_allocated", l.pre_allocated.is_some()),
            ("steps", l.steps.is_some()),
        ] {
            if given {
                let hint = if key == "duration" {
                    format!(
                        "a run of `{word}` ends when they are done; write `max_duration: {}` to bound it in time",
                        l.duration.as_ref().map_or("10m", |d| d.0.as_str())
                    )
                } else {
                    format!(
                        "`{word}` counts the iterations of a fixed number of `users`; `{key}` belongs to a run that lasts a time"
                    )
                };
                self.err(
                    &path.key(key),
                    format!("`{key}` beside `{word}`"),
                    EXPECTED,
                    Some(hint),
                );
                ok = false;
            }
        }
        let Some(users) = l.users else {
            self.err(
                path,
                format!("`{word}` without `users`"),
                EXPECTED,
                Some(format!("e.g. `load: {{users: 10, {word}: 5}}`")),
            );
            return None;
        };
        let max = match &l.max_duration {
            None => Some(DEFAULT_MAX_DURATION),
            Some(d) => self.positive_duration(d, &path.key("max_duration")),
        };
        let ramp = match &l.ramp {
            None => Some(Duration::ZERO),
            Some(r) => match units::parse_ramp(&r.0) {
                Ok(spec) => Some(spec.time_for(users)),
                Err(hint) => {
                    self.bad(&path.key("ramp"), RAMP_EXPECTED, Some(hint));
                    None
                }
            },
        };
        let (count, max, ramp) = (count?, max?, ramp?);
        if ramp >= max || max > MAX_RUN {
            let at = if l.ramp.is_some() && ramp >= max {
                path.key("ramp")
            } else {
                path.key("max_duration")
            };
            self.err(
                &at,
                format!(
                    "a ramp of {} within a `max_duration` of {}",
                    units::show_duration(ramp),
                    units::show_duration(max)
                ),
                "a ramp shorter than `max_duration`, which bounds the whole run (at most a year)",
                Some("raise `max_duration` (default 10m) or ramp faster".into()),
            );
            return None;
        }
        if !ok {
            return None;
        }
        let n = usize::try_from(users).unwrap_or(usize::MAX);
        Some(LoadPlan {
            stages: vec![
                Stage {
                    users: n,
                    over: ramp,
                },
                Stage {
                    users: n,
                    over: max - ramp,
                },
            ],
            graceful_stop,
            open: None,
            steps: None,
            shard: Shard::WHOLE,
            iterations: Some(count),
        })
    }

    /// A count of at least 1.
    fn count(&mut self, n: u64, path: &KeyPath, of: fn(u64) -> Iterations) -> Option<Iterations> {
        if n == 0 {
            self.bad(
                path,
                "a count of at least 1",
                Some("a run of 0 iterations would do nothing".into()),
            );
            return None;
        }
        Some(of(n))
    }
}
