//! The load profile: stages of users (closed model), an arrival-rate schedule (open model),
//! a step test's levels, and a worker's share of it all.
//!
//! Only maths on the plan's own numbers lives here: users active at an instant and when
//! they get there, arrivals due by an instant and when each is due, scaling and shortening a
//! profile while keeping its shape, and dealing users or rates out to workers so that the
//! shares add up to the whole.

use std::time::Duration;

/// The load profile, normalised to stages whatever the file said.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    /// Ramps and holds, in order: users change linearly to `users` over `over`.
    /// `users, ramp, duration` becomes `[{users, ramp_time}, {users, duration}]`.
    pub stages: Vec<Stage>,
    /// After the last stage, how long in-flight requests may finish before they are
    /// cancelled (and counted as interrupted, not as errors).
    pub graceful_stop: Duration,
    /// The open model (`arrival_rate`, or stages of `rate`): iterations start on this
    /// schedule, whatever the responses do. `stages` then holds one stage of `max_users`
    /// users over the whole run (the pool goose launches).
    pub open: Option<OpenLoad>,
    /// A step test: the levels and their timing (the stages above already hold them).
    pub steps: Option<StepLoad>,
    /// Which part of the plan this process runs ([`LoadPlan::shard`]): shard `index` of
    /// `count` (of a `--shard` run, a `--workers` run, or both). Closed model: the stages
    /// stay those of the whole plan and this shard runs every `count`-th user from `index`
    /// on. Open model: the schedule stays the whole plan's and this shard starts every
    /// `count`-th iteration from `index` on. Either way the shards add up to the whole plan
    /// exactly, at every instant.
    pub shard: Shard,
    /// A count of iterations instead of a duration (`iterations_per_user`, `iterations`):
    /// the stages then start the users (all at once, or on the `ramp`) and hold them for
    /// the `max_duration` bound; the run ends when the iterations are done.
    pub iterations: Option<Iterations>,
}

/// How many iterations a run of counted iterations runs (k6's `per-vu-iterations` and
/// `shared-iterations`), in the whole plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iterations {
    /// Each user runs this many (`iterations_per_user`): a shard's users run them whatever
    /// the shard, so the shards add up to `users × n`.
    PerUser(u64),
    /// This many in all, shared by the users (`iterations`): each takes the next while any
    /// remain. A shard runs its part ([`Shard::part`] of the whole count, among the shards
    /// that have users), so the shards' parts add up to the whole.
    Shared(u64),
}

impl Iterations {
    /// The key it was written with.
    pub fn key(self) -> &'static str {
        match self {
            Iterations::PerUser(_) => "iterations_per_user",
            Iterations::Shared(_) => "iterations",
        }
    }
}

/// Default bound on a run of counted iterations (k6's `maxDuration` default).
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(600);

impl LoadPlan {
    /// Iterations this process plans: every user's count (per user) or this shard's part
    /// of the shared count. `None` for a timed run.
    pub fn planned_iterations(&self) -> Option<u64> {
        Some(match self.iterations? {
            Iterations::PerUser(n) => n.saturating_mul(self.max_users() as u64),
            Iterations::Shared(n) => {
                // Dealt among the shards that have users (shard `i` has one when `i` is
                // below the plan's users), so none plans iterations it cannot run.
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                let live = self.shard.count.max(1).min(self.whole_max_users());
                if self.shard.index >= live {
                    return Some(0);
                }
                Shard {
                    index: self.shard.index,
                    count: live,
                }
                .part(n) as u64
            }
        })
    }
}

/// Shard `index` of `count`: the plan's user `g` (closed model, in the order the whole plan
/// starts them, from 0) or iteration `g` (open model, in the order they are due) belongs to
/// shard `g % count`, as its local user or iteration `g / count`.
///
/// It is written `I/N` (`1/3`), from 0, on the command line (`--shard`) and in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole plan in one process.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// How many of the whole plan's first `n` users are this shard's.
    pub fn part(self, n: usize) -> usize {
        let count = self.count.max(1);
        n / count + usize::from(self.index < n % count)
    }

    /// The whole plan's number for this shard's user `local` (both from 0).
    pub fn global(self, local: usize) -> usize {
        local
            .saturating_mul(self.count.max(1))
            .saturating_add(self.index)
    }

    /// Shard `inner` of this shard: `--shard 1/3 --workers 4` makes worker `j` of shard 1
    /// the shard `1 + 3j` of 12, which deals `g % 3` and then `local % 4`, exactly as
    /// dealing `g % 12` does.
    pub fn compose(self, inner: Shard) -> Shard {
        let outer_count = self.count.max(1);
        Shard {
            index: self.index + outer_count * inner.index,
            count: outer_count * inner.count.max(1),
        }
    }

    /// Is this the whole plan?
    pub fn is_whole(self) -> bool {
        self.count <= 1
    }

    /// The seed this shard's users draw from, given the run's. Closed model: every shard
    /// takes the run's seed, since a user's numbers come from the seed and its number in
    /// the whole plan, so each user draws what it would in one process. Open model: pool
    /// users are numbered per shard, so each shard gets a seed of its own.
    pub fn seed(self, base: u64, open: bool) -> u64 {
        if open {
            base.wrapping_add(self.index as u64)
        } else {
            base
        }
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, with `0 <= I < N`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected INDEX/COUNT, e.g. 0/4"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: the index `{i}` is not a whole number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: the count `{n}` is not a whole number"))?;
        if count == 0 {
            return Err(format!("`{s}`: the count must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "`{s}`: the index must be below the count (shards are numbered from 0: \
                 0/{count} to {}/{count})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

/// A step test's levels: users (closed model) or arrival rates per second (open model),
/// each reached over `ramp` and then held for `hold`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLoad {
    pub levels: Vec<f64>,
    pub hold: Duration,
    pub ramp: Duration,
}

impl StepLoad {
    /// Start and end of each level's hold, from the start of the load (the ramps excluded).
    pub fn windows(&self) -> Vec<(Duration, Duration)> {
        let each = self.ramp + self.hold;
        (0..self.levels.len())
            .map(|k| {
                let start = each * k as u32 + self.ramp;
                (start, start + self.hold)
            })
            .collect()
    }
}

/// The open model: an arrival-rate schedule and the pool of users that serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLoad {
    /// Rate at the start of the first stage, iterations per second.
    pub start_rate: f64,
    /// The rate changes linearly to `rate` over `over`, stage after stage.
    pub stages: Vec<RateStage>,
    /// Most users (each with its own connections and cookies) the pool may hold.
    pub max_users: usize,
    /// Users set up before the first iteration; the pool grows to `max_users` when no
    /// user is free for an iteration that is due.
    pub pre_allocated: usize,
}

/// One ramp or hold of the arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    /// Iterations per second at the end of the stage.
    pub rate: f64,
    pub over: Duration,
}

impl OpenLoad {
    /// Length of the schedule.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.over).sum()
    }

    /// Highest rate of the schedule, per second.
    pub fn peak_rate(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.rate)
            .fold(self.start_rate, f64::max)
    }

    /// The rate `t` after the start (0 after the end).
    pub fn rate_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let mut start = 0.0;
        let mut from = self.start_rate;
        for s in &self.stages {
            let len = s.over.as_secs_f64();
            if t < start + len {
                return from + (s.rate - from) * (t - start) / len;
            }
            start += len;
            from = s.rate;
        }
        0.0
    }

    /// Iterations due by `t` after the start (the integral of the rate).
    pub fn arrivals_by(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let mut start = 0.0;
        let mut from = self.start_rate;
        let mut total = 0.0;
        for s in &self.stages {
            let len = s.over.as_secs_f64();
            if t <= start {
                break;
            }
            let span = (t - start).min(len);
            let slope = if len > 0.0 {
                (s.rate - from) / len
            } else {
                0.0
            };
            total += from * span + 0.5 * slope * span * span;
            start += len;
            from = s.rate;
        }
        total
    }

    /// When iteration `i` (counting from 0) is due: the instant the arrivals reach `i`.
    /// `None` when the schedule ends first.
    pub fn time_of(&self, i: u64) -> Option<Duration> {
        let target = i as f64;
        let mut start = 0.0;
        let mut from = self.start_rate;
        let mut done = 0.0;
        for s in &self.stages {
            let len = s.over.as_secs_f64();
            let a = if len > 0.0 {
                (s.rate - from) / len
            } else {
                0.0
            };
            let in_stage = from * len + 0.5 * a * len * len;
            if len > 0.0 && done + in_stage > target {
                let need = target - done;
                // Solve from*x + a/2*x^2 = need for the smallest x in [0, len].
                let x = if a.abs() < 1e-12 {
                    if from > 0.0 { need / from } else { len }
                } else {
                    let disc = (from * from + 2.0 * a * need).max(0.0);
                    (disc.sqrt() - from) / a
                };
                return Duration::try_from_secs_f64(start + x.clamp(0.0, len)).ok();
            }
            done += in_stage;
            start += len;
            from = s.rate;
        }
        None
    }

    /// Iterations the whole schedule holds.
    pub fn total_iterations(&self) -> u64 {
        self.arrivals_by(self.duration()).ceil() as u64
    }

    /// Iterations of shard `shard` due by `t` after the start: its part of the whole
    /// schedule's first `ceil(arrivals_by(t))` (each scenario's iterations are dealt out in
    /// turn, so a shard's count is this within the number of scenarios).
    pub fn shard_arrivals_by(&self, shard: Shard, t: Duration) -> f64 {
        if shard.is_whole() {
            return self.arrivals_by(t);
        }
        let whole = self.arrivals_by(t).ceil().max(0.0) as usize;
        shard.part(whole) as f64
    }
}

/// One ramp or hold of the closed model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub users: usize,
    pub over: Duration,
}

impl LoadPlan {
    /// Largest number of users at any time (of this shard, see [`LoadPlan::shard`]).
    pub fn max_users(&self) -> usize {
        self.user_shard().part(self.whole_max_users())
    }

    /// The shard of the users the stages count: this shard in the closed model; the whole
    /// in the open model, whose stages hold this shard's own pool already.
    fn user_shard(&self) -> Shard {
        match self.open {
            None => self.shard,
            Some(_) => Shard::WHOLE,
        }
    }

    /// Largest number of users at any time, in the whole plan.
    pub fn whole_max_users(&self) -> usize {
        self.stages.iter().map(|s| s.users).max().unwrap_or(0)
    }

    /// Planned length of the run (sum of the stages).
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.over).sum()
    }

    /// Users of this share that should be active `t` after the start: its part of the
    /// whole plan's [`LoadPlan::whole_users_at`].
    pub fn users_at(&self, t: Duration) -> usize {
        self.user_shard().part(self.whole_users_at(t))
    }

    /// Users of the whole plan that should be active `t` after the start (linear ramps,
    /// starting from 0). Fractional values round up, so a ramp to N starts its first user
    /// at t = 0.
    pub fn whole_users_at(&self, t: Duration) -> usize {
        let mut start = Duration::ZERO;
        let mut from = 0usize;
        for s in &self.stages {
            let end = start + s.over;
            if t < end {
                let frac = (t - start).as_secs_f64() / s.over.as_secs_f64();
                let v = from as f64 + (s.users as f64 - from as f64) * frac;
                return if s.users >= from {
                    v.ceil() as usize
                } else {
                    v.floor() as usize
                };
            }
            start = end;
            from = s.users;
        }
        from
    }

    /// The earliest time at or after `t` when at least `n` users of this share should be
    /// active, or `None` if that never happens again.
    pub fn time_when_users_reach(&self, n: usize, t: Duration) -> Option<Duration> {
        if n == 0 {
            return Some(t);
        }
        // This share's n-th user is the whole plan's user `global(n - 1)`.
        self.whole_time_when_users_reach(self.user_shard().global(n - 1) + 1, t)
    }

    /// The earliest time at or after `t` when at least `n` users of the whole plan should
    /// be active, or `None` if that never happens again.
    fn whole_time_when_users_reach(&self, n: usize, t: Duration) -> Option<Duration> {
        let mut start = Duration::ZERO;
        let mut from = 0usize;
        for s in &self.stages {
            let end = start + s.over;
            if end > t {
                let seg_start = start.max(t);
                if self.whole_users_at(seg_start) >= n {
                    return Some(seg_start);
                }
                if s.users >= n && s.users > from {
                    // Linear ramp from `from` to `s.users`: first instant where ceil(v) >= n.
                    let need = (n - 1).saturating_sub(from) as f64;
                    let frac = need / (s.users - from) as f64;
                    let at = start + s.over.mul_f64(frac.clamp(0.0, 1.0));
                    let at = at.max(seg_start);
                    if at < end {
                        return Some(at + Duration::from_micros(1));
                    }
                }
            }
            start = end;
            from = s.users;
        }
        None
    }
}

impl LoadPlan {
    /// Scale every stage so the peak is `users` (the shape of the profile is kept).
    /// Open model: `users` becomes the pool's size (`max_users`).
    pub fn scale_users(&mut self, users: usize) {
        if let Some(open) = &mut self.open {
            open.max_users = users.max(1);
            open.pre_allocated = open.pre_allocated.min(open.max_users);
            for s in &mut self.stages {
                s.users = open.max_users;
            }
            return;
        }
        let max = self.max_users().max(1) as f64;
        for s in &mut self.stages {
            s.users = ((s.users as f64) * users as f64 / max).round() as usize;
        }
        if self.stages.is_empty() {
            self.stages.push(Stage {
                users,
                over: Duration::ZERO,
            });
        }
    }

    /// Set the length of the run. A ramp-then-hold profile keeps its ramp and holds for
    /// `d`; any other profile has every stage scaled so the total is `d`.
    pub fn set_duration(&mut self, d: Duration) {
        if let Some(open) = &mut self.open {
            set_duration(
                &mut open.stages,
                d,
                |s| &mut s.over,
                |a, b| a.rate == b.rate,
            );
            let total = open.duration();
            if let Some(pool) = self.stages.first_mut() {
                pool.over = total;
            }
            self.stages.truncate(1);
            return;
        }
        set_duration(
            &mut self.stages,
            d,
            |s| &mut s.over,
            |a, b| a.users == b.users,
        );
    }
}

/// `set_duration` for any list of stages: a ramp then a hold keeps its ramp.
fn set_duration<S>(
    stages: &mut [S],
    d: Duration,
    over: impl Fn(&mut S) -> &mut Duration,
    same_level: impl Fn(&S, &S) -> bool,
) {
    match stages {
        [ramp, hold] if same_level(ramp, hold) => *over(hold) = d,
        [only] => *over(only) = d,
        stages => {
            let total = stages
                .iter_mut()
                .map(|s| over(s).as_secs_f64())
                .sum::<f64>()
                .max(1e-9);
            for s in stages {
                let o = over(s);
                *o = o.mul_f64(d.as_secs_f64() / total);
            }
        }
    }
}

impl LoadPlan {
    /// Open model: scale every rate so the peak is `rate` per second (the shape is kept).
    pub fn scale_rate(&mut self, rate: f64) {
        if let Some(open) = &mut self.open {
            let peak = open.peak_rate().max(1e-9);
            let k = rate / peak;
            open.start_rate *= k;
            for s in &mut open.stages {
                s.rate *= k;
            }
        }
    }
}

impl LoadPlan {
    /// Shard `shard`'s part of the load (`--shard`, `--workers`), so that the shards add
    /// up to the whole plan exactly. Closed model: the whole plan's users are dealt out one
    /// by one in the order the plan starts them (shard `i` runs users `i`, `i + count`,
    /// ...), so at every instant the shards' users add up to the plan's (10 users over 4
    /// shards: 3, 3, 2, 2), and each user keeps the scenario it has in a run of one
    /// process. Open model: the schedule stays the whole plan's and each scenario's iterations
    /// are dealt out in turn (`engine::open::Tickets`), so the shards start the plan's
    /// iterations at the plan's instants, none twice; the pool is divided. The
    /// timing is the same in every shard. A shard of a shard composes ([`Shard::compose`]).
    pub fn shard(&self, inner: Shard) -> LoadPlan {
        let count = inner.count.max(1);
        // Pools and levels are this plan's (already an outer shard's part, if it is one):
        // dividing them by `inner` gives the composed shard's part.
        let part = |n: usize| inner.part(n);
        let mut out = self.clone();
        out.shard = self.shard.compose(inner);
        if let Some(open) = &mut out.open {
            open.max_users = inner.part(open.max_users).max(1);
            open.pre_allocated = inner.part(open.pre_allocated).clamp(1, open.max_users);
            for s in &mut out.stages {
                s.users = open.max_users;
            }
        }
        if let Some(steps) = &mut out.steps {
            let open = out.open.is_some();
            for l in &mut steps.levels {
                *l = if open {
                    *l / count as f64
                } else {
                    part(*l as usize) as f64
                };
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn users_at_follows_ramps_and_holds() {
        let l = LoadPlan {
            stages: vec![
                Stage {
                    users: 10,
                    over: ms(1000),
                },
                Stage {
                    users: 10,
                    over: ms(1000),
                },
                Stage {
                    users: 0,
                    over: ms(1000),
                },
            ],
            graceful_stop: ms(0),
            open: None,
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        };
        assert_eq!(l.users_at(ms(0)), 0);
        assert_eq!(l.users_at(ms(1)), 1);
        assert_eq!(l.users_at(ms(500)), 5);
        assert_eq!(l.users_at(ms(1500)), 10);
        assert_eq!(l.users_at(ms(2500)), 5);
        assert_eq!(l.users_at(ms(5000)), 0);
        assert_eq!(l.max_users(), 10);
        assert_eq!(l.duration(), ms(3000));
    }

    #[test]
    fn time_when_users_reach_inverts_the_ramp() {
        let l = LoadPlan {
            stages: vec![
                Stage {
                    users: 100,
                    over: ms(1000),
                },
                Stage {
                    users: 100,
                    over: ms(1000),
                },
            ],
            graceful_stop: ms(0),
            open: None,
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        };
        let t = l.time_when_users_reach(50, Duration::ZERO).unwrap();
        assert!(t > ms(489) && t <= ms(491), "{t:?}");
        assert!(l.users_at(t) >= 50);
        assert_eq!(
            l.time_when_users_reach(1, Duration::ZERO),
            Some(Duration::from_micros(1))
        );
        assert_eq!(l.time_when_users_reach(101, Duration::ZERO), None);
        // Immediate start: a zero-length ramp puts everyone on at t = 0.
        let l = LoadPlan {
            stages: vec![
                Stage {
                    users: 5,
                    over: ms(0),
                },
                Stage {
                    users: 5,
                    over: ms(1000),
                },
            ],
            graceful_stop: ms(0),
            open: None,
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        };
        assert_eq!(l.users_at(Duration::ZERO), 5);
        assert_eq!(
            l.time_when_users_reach(5, Duration::ZERO),
            Some(Duration::ZERO)
        );
    }

    fn open(start: f64, stages: &[(f64, u64)]) -> OpenLoad {
        OpenLoad {
            start_rate: start,
            stages: stages
                .iter()
                .map(|&(rate, ms)| RateStage {
                    rate,
                    over: Duration::from_millis(ms),
                })
                .collect(),
            max_users: 10,
            pre_allocated: 1,
        }
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let o = open(1000.0, &[(1000.0, 10_000)]);
        assert_eq!(o.time_of(0), Some(Duration::ZERO));
        assert_eq!(o.time_of(1), Some(Duration::from_millis(1)));
        assert_eq!(o.time_of(5000), Some(Duration::from_secs(5)));
        assert_eq!(o.time_of(10_000), None);
        assert_eq!(o.total_iterations(), 10_000);
        assert!((o.arrivals_by(Duration::from_millis(2500)) - 2500.0).abs() < 1e-6);
    }

    #[test]
    fn a_ramp_inverts_its_integral() {
        // 0 -> 100/s over 10 s (500 iterations), then 100/s for 5 s (500 more).
        let o = open(0.0, &[(100.0, 10_000), (100.0, 5_000)]);
        assert!((o.arrivals_by(Duration::from_secs(10)) - 500.0).abs() < 1e-6);
        assert_eq!(o.total_iterations(), 1000);
        for i in [1u64, 10, 125, 499, 500, 750, 999] {
            let t = o.time_of(i).unwrap();
            assert!((o.arrivals_by(t) - i as f64).abs() < 1e-6, "{i}: {t:?}");
        }
        // Quarter of the ramp's iterations by half its time.
        let t = o.time_of(125).unwrap().as_secs_f64();
        assert!((t - 5.0).abs() < 1e-9, "{t}");
        assert!((o.rate_at(Duration::from_secs(5)) - 50.0).abs() < 1e-9);
        assert_eq!(o.peak_rate(), 100.0);
    }

    #[test]
    fn a_spike_jumps_at_once() {
        // 10/s for 2 s, jump to 1000/s for 1 s, back to 10/s for 2 s.
        let o = open(
            10.0,
            &[
                (10.0, 2000),
                (1000.0, 0),
                (1000.0, 1000),
                (10.0, 0),
                (10.0, 2000),
            ],
        );
        assert!((o.arrivals_by(Duration::from_secs(5)) - 1040.0).abs() < 1e-6);
        let t = o.time_of(520).unwrap();
        assert!((t.as_secs_f64() - 2.5).abs() < 1e-9, "{t:?}");
        assert_eq!(o.rate_at(Duration::from_millis(2500)), 1000.0);
    }

    #[test]
    fn overrides_keep_the_shape() {
        let mut l = LoadPlan {
            stages: vec![
                Stage {
                    users: 100,
                    over: Duration::from_secs(10),
                },
                Stage {
                    users: 100,
                    over: Duration::from_secs(60),
                },
            ],
            graceful_stop: Duration::ZERO,
            open: None,
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        };
        l.set_duration(Duration::from_secs(5));
        assert_eq!(l.duration(), Duration::from_secs(15));
        l.scale_users(10);
        assert_eq!(l.max_users(), 10);
    }

    #[test]
    fn shares_add_up_to_the_whole() {
        let l = LoadPlan {
            stages: vec![
                Stage {
                    users: 10,
                    over: Duration::from_secs(1),
                },
                Stage {
                    users: 3,
                    over: Duration::from_secs(2),
                },
            ],
            graceful_stop: Duration::ZERO,
            open: None,
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        };
        for n in [1, 2, 3, 4, 7] {
            let shares: Vec<LoadPlan> = (0..n)
                .map(|i| l.shard(Shard { index: i, count: n }))
                .collect();
            // At every instant, ramp and ramp-down included, the shares add up exactly.
            for ms in (0..3100).step_by(7) {
                let t = Duration::from_millis(ms);
                let sum: usize = shares.iter().map(|s| s.users_at(t)).sum();
                assert_eq!(sum, l.users_at(t), "{n} workers at {ms} ms");
            }
            let peak: usize = shares.iter().map(LoadPlan::max_users).sum();
            assert_eq!(peak, 10);
            // Each share's k-th user starts when the whole plan's user i + k n does.
            for (i, s) in shares.iter().enumerate() {
                for k in 1..=s.max_users() {
                    let whole = l.time_when_users_reach(i + (k - 1) * n + 1, Duration::ZERO);
                    assert_eq!(s.time_when_users_reach(k, Duration::ZERO), whole);
                }
            }
        }
        let shares: Vec<LoadPlan> = (0..4)
            .map(|i| l.shard(Shard { index: i, count: 4 }))
            .collect();
        assert_eq!(shares[0].max_users(), 3);
        assert_eq!(shares[3].max_users(), 2);
        assert_eq!(shares[3].duration(), l.duration());
        let open = LoadPlan {
            stages: vec![Stage {
                users: 100,
                over: Duration::from_secs(10),
            }],
            graceful_stop: Duration::ZERO,
            open: Some(OpenLoad {
                start_rate: 0.0,
                stages: vec![RateStage {
                    rate: 1000.0,
                    over: Duration::from_secs(10),
                }],
                max_users: 100,
                pre_allocated: 10,
            }),
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        };
        let s = open.shard(Shard { index: 1, count: 2 });
        let o = s.open.as_ref().unwrap();
        // The schedule stays the whole plan's (its iterations are dealt out); the pool is
        // divided.
        assert_eq!(
            (o.peak_rate(), o.max_users, o.pre_allocated),
            (1000.0, 50, 5)
        );
        assert_eq!(s.shard, Shard { index: 1, count: 2 });
        assert_eq!(s.max_users(), 50);
    }

    /// A small deterministic generator for the shapes below (no dependency needed).
    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    fn random_closed(seed: u64) -> LoadPlan {
        let mut st = seed;
        let stages = (0..1 + lcg(&mut st) % 4)
            .map(|_| Stage {
                users: (lcg(&mut st) % 40) as usize,
                over: ms(lcg(&mut st) % 1500),
            })
            .collect();
        LoadPlan {
            stages,
            graceful_stop: Duration::ZERO,
            open: None,
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        }
    }

    #[test]
    fn issue15_shards_add_up_to_the_whole_for_any_count_and_shape() {
        for seed in 0..40 {
            let l = random_closed(seed);
            let end = l.duration().as_millis() as u64 + 20;
            for n in 1..=12 {
                let shards: Vec<LoadPlan> = (0..n)
                    .map(|i| l.shard(Shard { index: i, count: n }))
                    .collect();
                for t in (0..end).step_by(7).map(ms) {
                    let sum: usize = shards.iter().map(|s| s.users_at(t)).sum();
                    assert_eq!(sum, l.users_at(t), "shape {seed}, {n} shards at {t:?}");
                }
                let peak: usize = shards.iter().map(LoadPlan::max_users).sum();
                assert_eq!(peak, l.max_users(), "shape {seed}, {n} shards");
            }
        }
    }

    #[test]
    fn issue15_a_shard_of_a_shard_is_the_composed_shard() {
        // `--shard 1/3 --workers 4`: worker j of shard 1 runs what flat shard 1 + 3j of 12
        // runs, at every instant; and the twelve add up to the whole.
        for seed in 0..10 {
            let l = random_closed(seed);
            let end = l.duration().as_millis() as u64 + 20;
            for (outer_n, inner_n) in [(3, 4), (2, 5), (1, 3), (4, 1)] {
                for o in 0..outer_n {
                    let outer = l.shard(Shard {
                        index: o,
                        count: outer_n,
                    });
                    for j in 0..inner_n {
                        let nested = outer.shard(Shard {
                            index: j,
                            count: inner_n,
                        });
                        let flat = l.shard(Shard {
                            index: o + outer_n * j,
                            count: outer_n * inner_n,
                        });
                        assert_eq!(nested.shard, flat.shard);
                        for t in (0..end).step_by(11).map(ms) {
                            assert_eq!(
                                nested.users_at(t),
                                flat.users_at(t),
                                "{seed} {o} {j} {t:?}"
                            );
                        }
                    }
                }
            }
        }
        // The open model's pool is divided level by level, never to nothing.
        let open = LoadPlan {
            stages: vec![Stage {
                users: 10,
                over: Duration::from_secs(1),
            }],
            graceful_stop: Duration::ZERO,
            open: Some(OpenLoad {
                start_rate: 100.0,
                stages: vec![RateStage {
                    rate: 100.0,
                    over: Duration::from_secs(1),
                }],
                max_users: 10,
                pre_allocated: 4,
            }),
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        };
        let pools: usize = (0..2)
            .flat_map(|o| {
                let outer = open.shard(Shard { index: o, count: 2 });
                (0..3).map(move |j| outer.shard(Shard { index: j, count: 3 }).max_users())
            })
            .sum();
        assert_eq!(pools, 10);
    }
}
