//! Feeders at run time: which row of test data each user takes, and when.
//!
//! A user takes a row from every feeder its scenario reads when it is set up (before its
//! `on_start` steps and the `variables:`); that row serves `on_start` and the first
//! iteration. In the closed model it is the row of the user's rank among the feeder's
//! readers in the whole plan ([`super::slots`]), the same for any number of workers; in
//! the open model, the next row of this process. `sequential` and `random` feeders then give it a new row at the start of each
//! later iteration (before the first of `steps`); a `unique` feeder's row stays with the
//! user for its whole life. A row's fields are copied into the user's `feeder.field`
//! variable slots; the rows themselves are shared by every user.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;
use rand::rngs::SmallRng;

use super::slots::{Slot, Slots};
use crate::scenario::template::Vars;
use crate::scenario::{FeedOrder, FeederPlan, Plan, WhenExhausted};

/// Every feeder of a run, with its position.
pub(super) struct Feeds {
    feeders: Vec<Feed>,
}

/// Which rows this process hands out besides the users' first rows: in worker `index` of
/// `count`, the k-th row taken is row `offset + k * count + index`, so workers never share
/// a row. `offset`: the rows the whole plan's users take as their first (closed model).
#[derive(Clone, Copy)]
struct Stride {
    index: usize,
    count: usize,
    offset: usize,
}

struct Feed {
    plan: FeederPlan,
    /// Its index in the plan's feeders.
    index: usize,
    /// Rows handed out so far (`sequential`, `unique`).
    next: AtomicUsize,
    stride: Stride,
}

impl Feeds {
    pub fn new(plan: &Plan, slots: &Slots) -> Feeds {
        let crate::scenario::Shard { index, count } = plan.load.shard;
        Feeds {
            feeders: plan
                .feeders
                .iter()
                .enumerate()
                .map(|(i, f)| Feed {
                    plan: f.clone(),
                    index: i,
                    next: AtomicUsize::new(0),
                    stride: Stride {
                        index,
                        count: count.max(1),
                        offset: slots.first_rows(i),
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

    /// The user `slot` is set up: a row from every feeder its scenario reads. `Err` says
    /// why the user cannot start (a feeder ran out of rows).
    pub fn setup(
        &self,
        slot: Slot,
        slots: &Slots,
        vars: &mut Vars,
        rng: &mut SmallRng,
    ) -> Result<(), String> {
        for f in self.of(slot.scenario) {
            f.take(slots.first_row(f.index, slot.global), vars, rng)?;
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
            f.take(None, vars, rng)?;
        }
        Ok(())
    }
}

impl Feed {
    /// Copy a row into the user's slots: row `rank` (a closed-model user's first row), or
    /// the next one.
    fn take(&self, rank: Option<usize>, vars: &mut Vars, rng: &mut SmallRng) -> Result<(), String> {
        let p = &self.plan;
        let n = p.rows.len();
        if n == 0 {
            return Err(format!("feeder `{}` has no rows", p.name));
        }
        let i = match p.order {
            FeedOrder::Random => rng.random_range(0..n),
            FeedOrder::Sequential | FeedOrder::Unique => {
                let i = rank.unwrap_or_else(|| {
                    let k = self.next.fetch_add(1, Ordering::Relaxed);
                    k.saturating_mul(self.stride.count)
                        .saturating_add(self.stride.index)
                        .saturating_add(self.stride.offset)
                });
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
        plan_users(order, when, rows, 1)
    }

    fn plan_users(order: FeedOrder, when: WhenExhausted, rows: usize, users: usize) -> Plan {
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
            "target: http://h\nfeeders: {{d: {{file: d.csv, order: {order}, when_exhausted: {when}}}}}\nscenarios:\n  - name: a\n    steps: [{{get: \"/${{d.name}}\"}}]\n  - name: b\n    steps: [{{get: /}}]\nload: {{users: {users}, duration: 1s}}\n"
        );
        crate::scenario::parse_str(&yaml, &dir.path().join("s.yaml")).unwrap()
    }

    fn name(p: &Plan, vars: &Vars) -> String {
        vars.get(p.feeders[0].slots[0]).unwrap_or("-").to_string()
    }

    /// Set up every user of scenario `a` (the feeder's reader) in start order: their rows,
    /// or why they could not start.
    fn set_up_readers(p: &Plan) -> Vec<Result<String, String>> {
        let mut rng = SmallRng::seed_from_u64(1);
        let slots = Slots::new(p);
        let feeds = Feeds::new(p, &slots);
        (0..p.load.max_users())
            .map(|local| slots.user(local))
            .filter(|u| u.scenario == 0)
            .map(|u| {
                let mut v = Vars::new(p.variables.len());
                feeds
                    .setup(u, &slots, &mut v, &mut rng)
                    .map(|()| name(p, &v))
            })
            .collect()
    }

    #[test]
    fn unique_rows_run_out_or_recycle() {
        // 8 users, a and b taking turns: 4 of scenario a read the feeder of 3 rows.
        let p = plan_users(FeedOrder::Unique, WhenExhausted::Error, 3, 8);
        let feeds = Feeds::new(&p, &Slots::new(&p));
        assert!(!feeds.per_iteration(0));
        assert_eq!(p.feeders[0].scenarios, [0]);
        let got = set_up_readers(&p);
        assert_eq!(
            got[..3],
            [Ok("u0".into()), Ok("u1".into()), Ok("u2".into())]
        );
        let e = got[3].clone().unwrap_err();
        assert!(e.contains("exhausted") && e.contains("all 3 rows"), "{e}");
        // Scenario b reads no feeder: it takes nothing.
        let slots = Slots::new(&p);
        let b = slots.user(1);
        assert_eq!(b.scenario, 1);
        let mut v = Vars::new(p.variables.len());
        let mut rng = SmallRng::seed_from_u64(1);
        feeds.setup(b, &slots, &mut v, &mut rng).unwrap();

        let p = plan_users(FeedOrder::Unique, WhenExhausted::Recycle, 2, 10);
        let names: Vec<String> = set_up_readers(&p).into_iter().map(Result::unwrap).collect();
        assert_eq!(names, ["u0", "u1", "u0", "u1", "u0"]);
    }

    /// Issue 12: workers give out exactly the rows of one process, whichever worker runs
    /// the readers, and never one row twice.
    #[test]
    fn workers_deal_unique_rows_out_as_one_process_does() {
        let whole = plan_users(FeedOrder::Unique, WhenExhausted::Error, 5, 10);
        let one: Vec<_> = set_up_readers(&whole);
        assert_eq!(one.iter().filter(|r| r.is_ok()).count(), 5);
        for n in [2, 3, 7] {
            let mut all = Vec::new();
            for index in 0..n {
                let mut p = whole.clone();
                p.shard(crate::scenario::Shard { index, count: n });
                all.extend(set_up_readers(&p));
            }
            let mut ok: Vec<String> = all.into_iter().map(Result::unwrap).collect();
            ok.sort();
            assert_eq!(ok, ["u0", "u1", "u2", "u3", "u4"], "{n} workers");
        }
    }

    #[test]
    fn sequential_and_random_take_a_row_per_iteration() {
        let mut rng = SmallRng::seed_from_u64(1);
        let p = plan(FeedOrder::Sequential, WhenExhausted::Recycle, 3);
        let slots = Slots::new(&p);
        let feeds = Feeds::new(&p, &slots);
        assert!(feeds.per_iteration(0));
        let mut v = Vars::new(p.variables.len());
        let u = slots.user(0);
        feeds.setup(u, &slots, &mut v, &mut rng).unwrap();
        let mut names = vec![name(&p, &v)];
        for _ in 0..4 {
            feeds.iteration(0, &mut v, &mut rng).unwrap();
            names.push(name(&p, &v));
        }
        // The one user's first row, then the rows after every user's first.
        assert_eq!(names, ["u0", "u1", "u2", "u0", "u1"]);

        let p = plan(FeedOrder::Sequential, WhenExhausted::Error, 2);
        let slots = Slots::new(&p);
        let feeds = Feeds::new(&p, &slots);
        let mut v = Vars::new(p.variables.len());
        feeds
            .setup(slots.user(0), &slots, &mut v, &mut rng)
            .unwrap();
        feeds.iteration(0, &mut v, &mut rng).unwrap();
        assert!(feeds.iteration(0, &mut v, &mut rng).is_err());

        let p = plan(FeedOrder::Random, WhenExhausted::Error, 4);
        let feeds = Feeds::new(&p, &Slots::new(&p));
        let mut v = Vars::new(p.variables.len());
        let mut seen = HashSet::new();
        for _ in 0..100 {
            feeds.iteration(0, &mut v, &mut rng).unwrap();
            seen.insert(name(&p, &v));
        }
        assert_eq!(seen.len(), 4);
    }
}
