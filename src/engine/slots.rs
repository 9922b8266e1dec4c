//! Which user is which: the scenario each user runs and the feeder rows it starts with.
//!
//! goose is told about one scenario only; Skein decides which of the plan's scenarios each
//! user runs, from its place in the order the plan starts users, so the split does not
//! depend on how many processes run the plan.
//!
//! - **Closed model.** The whole plan's users get scenarios by smooth weighted round robin
//!   (nginx's: weights 3:1 give A A B A A A B A ...), so any number of users, and every
//!   moment of a ramp, has the scenarios in proportion. A worker of a `--workers` run runs
//!   every `count`-th of those users ([`Shard`]), each with the scenario it has in a run of
//!   one process, and takes the feeder rows it would take there: the k-th user (in start
//!   order) of the scenarios that read a feeder starts with its row k. So per-scenario
//!   user counts and `unique` rows are exactly those of one process for any worker count.
//! - **Open model.** Each process serves its share of every scenario's arrival rate, so its
//!   pool holds every scenario in proportion to the weights (at least one user each):
//!   its own users are dealt out by the same round robin over the pool's sizes.

use crate::scenario::{Plan, Shard};

/// The scenario of every user of this process, and the feeder rows they start with.
pub(super) struct Slots {
    /// Closed model: the scenario of each of the whole plan's users, in start order. Open
    /// model: of each user of this process's pool.
    scenario: Vec<u32>,
    /// Closed model, per feeder: each whole-plan user's rank among the users that read the
    /// feeder (`u32::MAX`: does not read it), and how many read it in all.
    ranks: Vec<(Vec<u32>, usize)>,
    shard: Shard,
    /// Open model: the pool's users of each scenario, and how many of them are set up
    /// before the schedule starts.
    pool: Vec<usize>,
    pre_allocated: Vec<usize>,
}

/// One user of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot {
    pub scenario: usize,
    /// Its number in the whole plan (closed model) or in this process's pool (open model).
    pub global: usize,
}

impl Slots {
    pub fn new(plan: &Plan) -> Slots {
        let weights: Vec<u64> = plan
            .scenarios
            .iter()
            .map(|s| u64::from(s.weight.max(1)))
            .collect();
        match &plan.load.open {
            None => {
                let users = plan.load.whole_max_users();
                let scenario = dealt(&weights, users);
                let ranks = plan
                    .feeders
                    .iter()
                    .map(|f| {
                        let mut n = 0usize;
                        let ranks = scenario
                            .iter()
                            .map(|&s| {
                                if f.scenarios.contains(&(s as usize)) {
                                    n += 1;
                                    (n - 1).min(u32::MAX as usize - 1) as u32
                                } else {
                                    u32::MAX
                                }
                            })
                            .collect();
                        (ranks, n)
                    })
                    .collect();
                Slots {
                    scenario,
                    ranks,
                    shard: plan.load.shard,
                    pool: Vec::new(),
                    pre_allocated: Vec::new(),
                }
            }
            Some(open) => {
                let pool = apportion(&weights, open.max_users);
                let pre_allocated = apportion(&weights, open.pre_allocated)
                    .into_iter()
                    .zip(&pool)
                    .map(|(p, &n)| p.clamp(n.min(1), n))
                    .collect();
                let as_weights: Vec<u64> = pool.iter().map(|&n| n as u64).collect();
                Slots {
                    scenario: dealt(&as_weights, open.max_users),
                    ranks: Vec::new(),
                    shard: Shard::WHOLE,
                    pool,
                    pre_allocated,
                }
            }
        }
    }

    /// This process's user `local` (in the order goose starts them, from 0).
    pub fn user(&self, local: usize) -> Slot {
        let global = self.shard.global(local);
        let scenario = self
            .scenario
            .get(global)
            .or(self.scenario.last())
            .copied()
            .unwrap_or(0) as usize;
        Slot { scenario, global }
    }

    /// Closed model: the row of feeder `feeder` the whole plan's user `global` starts with
    /// (its rank among the feeder's readers); `None` in the open model.
    pub fn first_row(&self, feeder: usize, global: usize) -> Option<usize> {
        let (ranks, _) = self.ranks.get(feeder)?;
        ranks
            .get(global)
            .filter(|r| **r != u32::MAX)
            .map(|r| *r as usize)
    }

    /// Closed model: rows of feeder `feeder` that the users' first rows take (later rows
    /// of `sequential` feeders follow them); 0 in the open model.
    pub fn first_rows(&self, feeder: usize) -> usize {
        self.ranks.get(feeder).map_or(0, |(_, n)| *n)
    }

    /// Open model: users of each scenario in the pool, and of those, set up before the
    /// schedule starts.
    pub fn pool(&self) -> (&[usize], &[usize]) {
        (&self.pool, &self.pre_allocated)
    }
}

/// The scenario of each of `n` users by smooth weighted round robin.
fn dealt(weights: &[u64], n: usize) -> Vec<u32> {
    let mut rr = RoundRobin::new(weights);
    (0..n).map(|_| rr.next() as u32).collect()
}

/// `n` split in proportion to `weights` by largest remainder, at least 1 each while `n`
/// allows (so every scenario of an open-model pool has a user).
fn apportion(weights: &[u64], n: usize) -> Vec<usize> {
    let k = weights.len();
    if k == 0 {
        return Vec::new();
    }
    let total: u64 = weights.iter().sum::<u64>().max(1);
    let floor_one = n >= k;
    let rest = if floor_one { n - k } else { n };
    let exact: Vec<f64> = weights
        .iter()
        .map(|&w| rest as f64 * w as f64 / total as f64)
        .collect();
    let mut out: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut left = rest - out.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle().take(k * 2) {
        if left == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    if floor_one {
        for o in &mut out {
            *o += 1;
        }
    }
    out
}

/// Smooth weighted round robin (nginx's): picks in proportion to the weights, evenly
/// interleaved.
pub(super) struct RoundRobin {
    weights: Vec<i128>,
    current: Vec<i128>,
    total: i128,
}

impl RoundRobin {
    pub fn new(weights: &[u64]) -> RoundRobin {
        let weights: Vec<i128> = weights.iter().map(|&w| i128::from(w)).collect();
        RoundRobin {
            total: weights.iter().sum(),
            current: vec![0; weights.len()],
            weights,
        }
    }

    pub fn next(&mut self) -> usize {
        let mut best = 0;
        for i in 0..self.weights.len() {
            self.current[i] += self.weights[i];
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        if let Some(c) = self.current.get_mut(best) {
            *c -= self.total;
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_follows_the_weights_evenly() {
        let mut rr = RoundRobin::new(&[5, 1, 1]);
        let picks: Vec<usize> = (0..7).map(|_| rr.next()).collect();
        // nginx's example order: a a b a c a a.
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(dealt(&[3, 1], 4), vec![0, 0, 1, 0]);
    }

    #[test]
    fn apportion_is_exact_and_gives_everyone_a_user() {
        assert_eq!(apportion(&[3, 1], 4), vec![3, 1]);
        assert_eq!(apportion(&[100, 1], 2), vec![1, 1]);
        assert_eq!(apportion(&[1, 1, 1], 10).iter().sum::<usize>(), 10);
        assert_eq!(apportion(&[2, 1], 1), vec![1, 0]);
        for n in 0..50 {
            assert_eq!(apportion(&[7, 3, 1], n).iter().sum::<usize>(), n);
        }
    }

    fn plan(yaml: &str) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("name\n");
        for i in 0..100 {
            csv.push_str(&format!("u{i}\n"));
        }
        std::fs::write(dir.path().join("d.csv"), csv).unwrap();
        crate::scenario::parse_str(yaml, &dir.path().join("s.yaml")).unwrap()
    }

    const WEIGHTED: &str = "target: http://127.0.0.1:1\n\
        feeders: {d: {file: d.csv, order: unique}}\n\
        scenarios:\n  - {name: a, weight: 3, steps: [{get: /a}]}\n  \
        - {name: b, weight: 1, steps: [{get: \"/b/${d.name}\"}]}\n\
        load: {users: 10, duration: 1s}\n";

    /// Issue 12: the scenarios and `unique` rows of a run's users do not depend on how many
    /// workers run it.
    #[test]
    fn issue12_every_worker_count_gives_the_users_of_one_process() {
        let whole = plan(WEIGHTED);
        let one = Slots::new(&whole);
        let expect: Vec<(usize, Option<usize>)> = (0..10)
            .map(|g| (one.user(g).scenario, one.first_row(0, g)))
            .collect();
        // 3:1 over 10 users: a a b a a a b a a a.
        let b: Vec<usize> = (0..10).filter(|&g| expect[g].0 == 1).collect();
        assert_eq!(b, [2, 6]);
        assert_eq!(expect[6].1, Some(1));
        for n in [1, 2, 3, 7] {
            let mut got = vec![None; 10];
            for i in 0..n {
                let mut p = whole.clone();
                p.shard(crate::scenario::Shard { index: i, count: n });
                let s = Slots::new(&p);
                for local in 0..p.load.max_users() {
                    let u = s.user(local);
                    assert!(got[u.global].is_none(), "user {} twice", u.global);
                    got[u.global] = Some((u.scenario, s.first_row(0, u.global)));
                }
            }
            let got: Vec<_> = got.into_iter().map(Option::unwrap).collect();
            assert_eq!(got, expect, "{n} workers");
        }
    }
}
