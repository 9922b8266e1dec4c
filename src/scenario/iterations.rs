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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::super::{Iterations, Plan, ScenarioError, Shard, parse_with_env};

    fn load(text: &str) -> Plan {
        match parse_with_env(text, Path::new("t.yaml"), &|_| None) {
            Ok(p) => p,
            Err(ScenarioError::Invalid { diagnostics }) => panic!("{diagnostics:?}"),
            Err(e) => panic!("{e}"),
        }
    }

    fn with_load(l: &str) -> Plan {
        load(&format!(
            "target: http://127.0.0.1:1\nscenarios: [{{name: s, steps: [{{get: /}}]}}]\nload: {l}\n"
        ))
    }

    #[test]
    fn counts_compile_to_users_held_for_max_duration() {
        let p = with_load("{users: 10, iterations: 200}");
        assert_eq!(p.load.iterations, Some(Iterations::Shared(200)));
        assert_eq!(p.load.max_users(), 10);
        assert_eq!(p.load.duration(), Duration::from_secs(600));
        assert_eq!(p.load.users_at(Duration::ZERO), 10);
        assert_eq!(p.load.planned_iterations(), Some(200));
        let p = with_load("{users: 4, iterations_per_user: 5, ramp: 2s, max_duration: 1m}");
        assert_eq!(p.load.iterations, Some(Iterations::PerUser(5)));
        assert_eq!(p.load.duration(), Duration::from_secs(60));
        assert_eq!(p.load.users_at(Duration::from_secs(1)), 2);
        assert_eq!(p.load.planned_iterations(), Some(20));
        assert_eq!(with_load("{users: 4, duration: 1s}").load.iterations, None);
    }

    #[test]
    fn shards_add_up_to_the_whole_count() {
        for users in [1usize, 3, 10] {
            for total in [1u64, 2, 7, 200, 1001] {
                for (kind, whole) in [
                    (Iterations::Shared(total), total),
                    (Iterations::PerUser(total), total * users as u64),
                ] {
                    let l = with_load(&format!("{{users: {users}, {}: {total}}}", kind.key())).load;
                    assert_eq!(l.planned_iterations(), Some(whole));
                    for n in 1..=7 {
                        let sum: u64 = (0..n)
                            .map(|i| {
                                l.shard(Shard { index: i, count: n })
                                    .planned_iterations()
                                    .unwrap()
                            })
                            .sum();
                        assert_eq!(sum, whole, "{kind:?} {users} users over {n}");
                        // A shard without users plans none.
                        for i in users..n {
                            let s = l.shard(Shard { index: i, count: n });
                            assert_eq!(s.max_users(), 0);
                            assert_eq!(s.planned_iterations(), Some(0));
                        }
                        // `--shard 1/2 --workers 3`: a shard of a shard composes.
                        let nested: u64 = (0..2)
                            .flat_map(|o| {
                                let outer = l.shard(Shard { index: o, count: 2 });
                                (0..3).map(move |j| {
                                    outer
                                        .shard(Shard { index: j, count: 3 })
                                        .planned_iterations()
                                        .unwrap()
                                })
                            })
                            .sum();
                        assert_eq!(nested, whole, "{kind:?} nested");
                    }
                }
            }
        }
    }
}
