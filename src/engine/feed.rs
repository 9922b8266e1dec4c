//! Feeders at run time: which row of test data each user takes, and when.
//!
//! A user takes a row from every feeder its scenario reads when it is set up (before its
//! `on_start` steps and the `variables:`); that row serves `on_start` and the first
//! iteration. `sequential` and `random` feeders then give it a new row at the start of each
//! later iteration (before the first of `steps`); a `unique` feeder's row stays with the
//! user for its whole life. A row's fields are copied into the user's `feeder.field`
//! variable slots; the rows themselves are shared by every user.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;
use rand::rngs::SmallRng;

use crate::scenario::template::Vars;
use crate::scenario::{FeedOrder, FeederPlan, Plan, WhenExhausted};

/// Every feeder of a run, with its position.
pub(super) struct Feeds {
    feeders: Vec<Feed>,
}

/// Which rows this process hands out: in worker `index` of `count`, the k-th row taken is
/// row `k * count + index`, so workers never share a `unique` row.
#[derive(Clone, Copy)]
struct Stride {
    index: usize,
    count: usize,
}

struct Feed {
    plan: FeederPlan,
    /// Rows handed out so far (`sequential`, `unique`).
    next: AtomicUsize,
    stride: Stride,
}

impl Feeds {
    pub fn new(plan: &Plan) -> Feeds {
        let (index, count) = plan.worker;
        Feeds {
            feeders: plan
                .feeders
                .iter()
                .map(|f| Feed {
                    plan: f.clone(),
                    next: AtomicUsize::new(0),
                    stride: Stride {
                        index,
                        count: count.max(1),
                    },
                })
                .collect(),
        }
    }

    /// The feeders a user of `scenario` takes rows from.
    fn of(&self, scenario: usize) -> impl Iterator<Item = &Feed> {
        self.feeders
            .iter()
            .filter(move |f| f.plan.scenarios.contains(&scenario))
    }

    /// Does a user of `scenario` take a new row for each iteration?
    pub fn per_iteration(&self, scenario: usize) -> bool {
        self.of(scenario).any(|f| f.plan.order != FeedOrder::Unique)
    }

    /// A user of `scenario` is set up: a row from every feeder it reads. `Err` says why
    /// the user cannot start (a feeder ran out of rows).
    pub fn setup(
        &self,
        scenario: usize,
        vars: &mut Vars,
        rng: &mut SmallRng,
    ) -> Result<(), String> {
        for f in self.of(scenario) {
            f.take(vars, rng)?;
        }
        Ok(())
    }

    /// A later iteration starts: new rows from the `sequential` and `random` feeders.
    pub fn iteration(
        &self,
        scenario: usize,
        vars: &mut Vars,
        rng: &mut SmallRng,
    ) -> Result<(), String> {
        for f in self
            .of(scenario)
            .filter(|f| f.plan.order != FeedOrder::Unique)
        {
            f.take(vars, rng)?;
        }
        Ok(())
    }
}

impl Feed {
    /// Copy the next row into the user's slots.
    fn take(&self, vars: &mut Vars, rng: &mut SmallRng) -> Result<(), String> {
        let p = &self.plan;
        let n = p.rows.len();
        if n == 0 {
            return Err(format!("feeder `{}` has no rows", p.name));
        }
        let i = match p.order {
            FeedOrder::Random => rng.random_range(0..n),
            FeedOrder::Sequential | FeedOrder::Unique => {
                let k = self.next.fetch_add(1, Ordering::Relaxed);
                let i = k
                    .saturating_mul(self.stride.count)
                    .saturating_add(self.stride.index);
                match p.when_exhausted {
                    WhenExhausted::Recycle => i % n,
                    WhenExhausted::Error if i < n => i,
                    WhenExhausted::Error => {
                        let order = match p.order {
                            FeedOrder::Unique => "unique",
                            _ => "sequential",
                        };
                        return Err(format!(
                            "feeder `{}` ({}) is exhausted: all {n} rows were taken (order: {order}, when_exhausted: error), so this user stopped",
                            p.name,
                            p.file.display()
                        ));
                    }
                }
            }
        };
        for (slot, value) in p.slots.iter().zip(p.rows[i].iter()) {
            vars.set(*slot, value.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn plan(order: FeedOrder, when: WhenExhausted, rows: usize) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("name,n\n");
        for i in 0..rows {
            csv.push_str(&format!("u{i},{i}\n"));
        }
        std::fs::write(dir.path().join("d.csv"), csv).unwrap();
        let order = match order {
            FeedOrder::Sequential => "sequential",
            FeedOrder::Random => "random",
            FeedOrder::Unique => "unique",
        };
        let when = match when {
            WhenExhausted::Recycle => "recycle",
            WhenExhausted::Error => "error",
        };
        let yaml = format!(
            "target: http://h\nfeeders: {{d: {{file: d.csv, order: {order}, when_exhausted: {when}}}}}\nscenarios:\n  - name: a\n    steps: [{{get: \"/${{d.name}}\"}}]\n  - name: b\n    steps: [{{get: /}}]\nload: {{users: 1, duration: 1s}}\n"
        );
        crate::scenario::parse_str(&yaml, &dir.path().join("s.yaml")).unwrap()
    }

    fn name(p: &Plan, vars: &Vars) -> String {
        vars.get(p.feeders[0].slots[0]).unwrap_or("-").to_string()
    }

    #[test]
    fn unique_rows_run_out_or_recycle() {
        let mut rng = SmallRng::seed_from_u64(1);
        let p = plan(FeedOrder::Unique, WhenExhausted::Error, 3);
        let feeds = Feeds::new(&p);
        assert!(!feeds.per_iteration(0));
        assert_eq!(p.feeders[0].scenarios, [0]);
        let mut seen = HashSet::new();
        for _ in 0..3 {
            let mut v = Vars::new(p.variables.len());
            feeds.setup(0, &mut v, &mut rng).unwrap();
            seen.insert(name(&p, &v));
        }
        assert_eq!(seen.len(), 3);
        let mut v = Vars::new(p.variables.len());
        let e = feeds.setup(0, &mut v, &mut rng).unwrap_err();
        assert!(e.contains("exhausted") && e.contains("all 3 rows"), "{e}");
        // Scenario b reads no feeder: it takes nothing.
        feeds.setup(1, &mut v, &mut rng).unwrap();

        let p = plan(FeedOrder::Unique, WhenExhausted::Recycle, 2);
        let feeds = Feeds::new(&p);
        let names: Vec<String> = (0..5)
            .map(|_| {
                let mut v = Vars::new(p.variables.len());
                feeds.setup(0, &mut v, &mut rng).unwrap();
                name(&p, &v)
            })
            .collect();
        assert_eq!(names, ["u0", "u1", "u0", "u1", "u0"]);
    }

    #[test]
    fn workers_deal_unique_rows_out_without_sharing() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut all = Vec::new();
        for index in 0..2 {
            let mut p = plan(FeedOrder::Unique, WhenExhausted::Error, 5);
            p.share(index, 2);
            let feeds = Feeds::new(&p);
            loop {
                let mut v = Vars::new(p.variables.len());
                if feeds.setup(0, &mut v, &mut rng).is_err() {
                    break;
                }
                all.push((index, name(&p, &v)));
            }
        }
        // Worker 0 takes rows 0, 2, 4; worker 1 rows 1, 3: every row once.
        assert_eq!(
            all,
            [
                (0, "u0".to_string()),
                (0, "u2".to_string()),
                (0, "u4".to_string()),
                (1, "u1".to_string()),
                (1, "u3".to_string()),
            ]
        );
    }

    #[test]
    fn sequential_and_random_take_a_row_per_iteration() {
        let mut rng = SmallRng::seed_from_u64(1);
        let p = plan(FeedOrder::Sequential, WhenExhausted::Recycle, 3);
        let feeds = Feeds::new(&p);
        assert!(feeds.per_iteration(0));
        let mut v = Vars::new(p.variables.len());
        feeds.setup(0, &mut v, &mut rng).unwrap();
        let mut names = vec![name(&p, &v)];
        for _ in 0..4 {
            feeds.iteration(0, &mut v, &mut rng).unwrap();
            names.push(name(&p, &v));
        }
        assert_eq!(names, ["u0", "u1", "u2", "u0", "u1"]);

        let p = plan(FeedOrder::Sequential, WhenExhausted::Error, 2);
        let feeds = Feeds::new(&p);
        let mut v = Vars::new(p.variables.len());
        feeds.setup(0, &mut v, &mut rng).unwrap();
        feeds.iteration(0, &mut v, &mut rng).unwrap();
        assert!(feeds.iteration(0, &mut v, &mut rng).is_err());

        let p = plan(FeedOrder::Random, WhenExhausted::Error, 4);
        let feeds = Feeds::new(&p);
        let mut v = Vars::new(p.variables.len());
        let mut seen = HashSet::new();
        for _ in 0..100 {
            feeds.iteration(0, &mut v, &mut rng).unwrap();
            seen.insert(name(&p, &v));
        }
        assert_eq!(seen.len(), 4);
    }
}
