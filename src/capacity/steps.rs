//! One step of a step test at a time: where its warm-up ends, what it measured in its
//! steady part, and whether that part is stable enough to stand for the load level.
//!
//! Input is what a run records anyway: its one-second [`TimePoint`]s, the window of each
//! step (load level, start, end), and optionally the step's response-time histogram over
//! the steady part (exact percentiles; without it they are the request-weighted means of
//! the per-second percentiles, an approximation that is said so in `latency_source`).
//!
//! A step is **stable** when, after the MSER-5 warm-up cut on throughput and p95:
//! the coefficient of variation of interval throughput is at most `max_cv`; the trend
//! `slope * window / mean` of interval throughput (Theil–Sen slope: one disturbed second is
//! not a trend) is within `max_trend` (or the least-squares slope is within twice its
//! standard error: counting noise at a low rate, not a trend); in a closed model
//! Little's law `users = X * (R + Z)` holds within `little_tolerance` (when the think time
//! `Z` is known); in an open model the achieved rate is at least `min_achieved` of the
//! offered rate; the generator was not saturated; and enough intervals remain. Each failed
//! rule is a reason, kept with the step.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::mser;
use crate::metrics::{Hist, TimePoint};

/// How the load of a step test is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadModel {
    /// A number of users, each waiting for its response before the next request; the
    /// load level is users.
    #[default]
    Closed,
    /// Requests arrive on a schedule whatever the responses do; the load level is the
    /// offered arrival rate per second.
    Open,
}

impl LoadModel {
    /// `users` or `rps`: the unit of a load level.
    pub fn unit(self) -> &'static str {
        match self {
            LoadModel::Closed => "users",
            LoadModel::Open => "rps",
        }
    }
}

/// One step of the plan as it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct StepWindow {
    /// Users (closed) or offered arrivals per second (open).
    pub load: f64,
    /// Start and end of the step's hold, from the start of the run (the ramp to the step
    /// excluded).
    pub start_us: u64,
    pub end_us: u64,
    /// Offered arrival rate per second when it differs from `load` (open model).
    pub offered_rate: Option<f64>,
    /// The engine saw its own generator saturated (CPU, late starts) during the step.
    pub generator_saturated: bool,
}

/// When a step counts as stable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StabilityRules {
    /// Largest coefficient of variation of interval throughput.
    pub max_cv: f64,
    /// Largest `|slope * window| / mean` of interval throughput (Theil–Sen slope).
    pub max_trend: f64,
    /// Largest relative gap between `X * (R + Z)` and the users (closed model).
    pub little_tolerance: f64,
    /// Smallest achieved share of the offered rate (open model).
    pub min_achieved: f64,
    /// Fewest intervals left after the warm-up cut.
    pub min_intervals: usize,
    /// Count a warm-up that did not settle in the first half (MSER-5) as unstable. Off by
    /// default: the trend of what remains is judged anyway, and MSER-5 calls pure noise
    /// unsettled now and then (see [`mser`]).
    pub reject_unsettled: bool,
}

impl Default for StabilityRules {
    fn default() -> Self {
        StabilityRules {
            max_cv: 0.10,
            max_trend: 0.05,
            little_tolerance: 0.10,
            min_achieved: 0.95,
            min_intervals: 5,
            reject_unsettled: false,
        }
    }
}

/// A run's steps to analyse.
#[derive(Debug, Clone, Copy)]
pub struct StepRun<'a> {
    pub model: LoadModel,
    /// The run's one-second points, in time order.
    pub points: &'a [TimePoint],
    pub steps: &'a [StepWindow],
    /// Mean think time per request in µs (closed model), for the Little's law check;
    /// `None` skips the check.
    pub think_us: Option<f64>,
    pub rules: StabilityRules,
}

/// Where a step's latency figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LatencySource {
    /// The step's merged histogram over its steady part: exact to 0.1 %.
    Histogram,
    /// Request-weighted means of the per-second percentiles: an approximation.
    Intervals,
    /// Given in a table (`skein capacity fit`).
    Table,
    /// Not measured.
    None,
}

/// One step analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepAnalysis {
    /// Position of the step in the run (or row in the table), from 0.
    pub index: usize,
    /// Users (closed) or offered arrivals per second (open).
    pub load: f64,
    /// Offered arrival rate (open model).
    pub offered_rate: Option<f64>,
    pub start_us: u64,
    pub end_us: u64,
    /// Start of the steady part, after the warm-up cut.
    pub steady_start_us: u64,
    /// One-second intervals in the step, and those cut as warm-up.
    pub intervals: usize,
    pub warmup_intervals: usize,
    /// Whether the warm-up ended in the first half of the step (MSER-5); `null` when the
    /// step was too short to judge or came from a table.
    pub settled: Option<bool>,
    /// Requests per second over the steady part.
    pub throughput: f64,
    /// Coefficient of variation of interval throughput.
    pub throughput_cv: Option<f64>,
    /// Change of interval throughput over the steady part, as a share of its mean
    /// (`slope * window / mean`, the Theil–Sen slope: the median of the pairwise slopes).
    pub trend: Option<f64>,
    /// Mean active users over the steady part.
    pub users: Option<f64>,
    /// Mean requests in flight, `X * R` (Little's law): the N of the USL fit.
    pub concurrency: f64,
    pub requests: u64,
    /// Errors plus failed checks.
    pub errors: u64,
    pub error_rate: f64,
    pub mean_us: Option<u64>,
    pub p50_us: Option<u64>,
    pub p95_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub latency_source: LatencySource,
    /// The step's response-time histogram over its steady part, as base64 of HdrHistogram
    /// V2 + DEFLATE (as in `result.json`), when its latency came from one
    /// (`latency_source` `histogram`): its percentile spectrum is charted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
    /// `X * (R + Z) / users` (closed model, think time known): 1 when Little's law holds.
    pub little_ratio: Option<f64>,
    /// Achieved throughput / offered rate (open model).
    pub achieved_ratio: Option<f64>,
    pub generator_saturated: bool,
    pub stable: bool,
    /// Why the step is not stable.
    pub reasons: Vec<String>,
    /// Whether the step is within the SLO, the error bound and the offered rate, and
    /// stable (filled in by the capacity analysis).
    pub sustainable: bool,
    /// Why it is not sustainable.
    pub failures: Vec<String>,
}

impl StepAnalysis {
    /// A step known only by its figures (a row of `skein capacity fit`): taken as stable.
    pub fn from_figures(index: usize, load: f64, throughput: f64, p95_us: Option<u64>) -> Self {
        StepAnalysis {
            index,
            load,
            offered_rate: None,
            start_us: 0,
            end_us: 0,
            steady_start_us: 0,
            intervals: 0,
            warmup_intervals: 0,
            settled: None,
            throughput,
            throughput_cv: None,
            trend: None,
            users: Some(load),
            concurrency: load,
            requests: 0,
            errors: 0,
            error_rate: 0.0,
            mean_us: None,
            p50_us: None,
            p95_us,
            p99_us: None,
            latency_source: if p95_us.is_some() {
                LatencySource::Table
            } else {
                LatencySource::None
            },
            histogram: None,
            little_ratio: None,
            achieved_ratio: None,
            generator_saturated: false,
            stable: true,
            reasons: Vec::new(),
            sustainable: false,
            failures: Vec::new(),
        }
    }
}

/// Analyse every step of `run`. `hist(step, steady_start_us, end_us)` returns the step's
/// merged response-time histogram over its steady part, when the caller has one (from the
/// interval log, or precomputed); `None` falls back to the per-second percentiles.
pub fn analyze_steps<F>(run: &StepRun<'_>, mut hist: F) -> Vec<StepAnalysis>
where
    F: FnMut(usize, u64, u64) -> Option<Hist>,
{
    run.steps
        .iter()
        .enumerate()
        .map(|(i, w)| analyze_step(run, i, w, &mut hist))
        .collect()
}

fn analyze_step<F>(run: &StepRun<'_>, index: usize, w: &StepWindow, hist: &mut F) -> StepAnalysis
where
    F: FnMut(usize, u64, u64) -> Option<Hist>,
{
    let rules = &run.rules;
    let pts: Vec<&TimePoint> = run
        .points
        .iter()
        .filter(|p| p.duration_us > 0 && p.t_us >= w.start_us && p.t_us + p.duration_us <= w.end_us)
        .collect();
    let mut s = StepAnalysis::from_figures(index, w.load, 0.0, None);
    s.start_us = w.start_us;
    s.end_us = w.end_us;
    s.steady_start_us = w.start_us;
    s.users = None;
    s.concurrency = 0.0;
    s.stable = false;
    s.intervals = pts.len();
    s.generator_saturated = w.generator_saturated;
    s.offered_rate = match run.model {
        LoadModel::Open => Some(w.offered_rate.unwrap_or(w.load)),
        LoadModel::Closed => w.offered_rate,
    };

    // Warm-up: the later of the cuts on throughput and on p95.
    let rps: Vec<f64> = pts.iter().map(|p| p.rps).collect();
    // A second without requests has no p95: the series is then not judged (NaN).
    let p95: Vec<f64> = pts
        .iter()
        .map(|p| {
            if p.requests > 0 {
                p.p95_us as f64
            } else {
                f64::NAN
            }
        })
        .collect();
    let (cut_x, cut_r) = (mser::mser5(&rps), mser::mser5(&p95));
    let cut = cut_x.discard.max(cut_r.discard);
    if cut_x.evaluated || cut_r.evaluated {
        s.settled = Some(cut_x.settled && cut_r.settled);
    }
    s.warmup_intervals = cut;
    let steady = &pts[cut.min(pts.len())..];
    if let Some(first) = steady.first() {
        s.steady_start_us = first.t_us;
    }

    let secs: f64 = steady.iter().map(|p| p.duration_us as f64 / 1e6).sum();
    s.requests = steady.iter().map(|p| p.requests).sum();
    s.errors = steady.iter().map(|p| p.errors + p.check_failed).sum();
    s.error_rate = ratio(s.errors as f64, s.requests as f64).unwrap_or(0.0);
    s.throughput = ratio(s.requests as f64, secs).unwrap_or(0.0);
    let steady_rps: Vec<f64> = steady.iter().map(|p| p.rps).collect();
    s.throughput_cv = cv(&steady_rps);
    s.trend = trend(steady);
    if !steady.is_empty() {
        s.users = Some(steady.iter().map(|p| p.users as f64).sum::<f64>() / steady.len() as f64);
    }
    let h = hist(index, s.steady_start_us, w.end_us);
    latency(&mut s, steady, h);
    let r_secs = s.mean_us.map(|m| m as f64 / 1e6);
    s.concurrency = r_secs.map(|r| s.throughput * r).unwrap_or(0.0);

    // Stability.
    let mut reasons = Vec::new();
    if steady.len() < rules.min_intervals {
        reasons.push(format!(
            "too short: {} interval(s) after the warm-up, {} wanted",
            steady.len(),
            rules.min_intervals
        ));
    }
    if s.requests == 0 && !steady.is_empty() {
        reasons.push("no request completed".into());
    }
    if rules.reject_unsettled && s.settled == Some(false) {
        reasons.push(format!(
            "the warm-up did not settle in the first half of the step (MSER-5 cut {cut} of {} intervals)",
            pts.len()
        ));
    }
    if let Some(c) = s.throughput_cv
        && c > rules.max_cv
    {
        reasons.push(format!(
            "throughput varies: CV {:.1}% (at most {:.0}%)",
            c * 100.0,
            rules.max_cv * 100.0
        ));
    }
    if let Some(t) = s.trend
        && t.abs() > rules.max_trend
        && trend_significant(steady)
    {
        reasons.push(format!(
            "throughput {} by {:.1}% over the step (at most {:.0}%)",
            if t > 0.0 { "rose" } else { "fell" },
            t.abs() * 100.0,
            rules.max_trend * 100.0
        ));
    }
    match run.model {
        LoadModel::Closed => little(&mut s, run.think_us, r_secs, rules, &mut reasons),
        LoadModel::Open => {
            let offered = s.offered_rate.unwrap_or(w.load);
            // Iterations started per second against iterations offered; a run from before
            // `started` was recorded falls back to requests per second.
            let started: u64 = steady.iter().map(|p| p.started).sum();
            let achieved = if started > 0 {
                ratio(started as f64, secs).unwrap_or(0.0)
            } else {
                s.throughput
            };
            s.achieved_ratio = ratio(achieved, offered);
            if let Some(a) = s.achieved_ratio
                && a < rules.min_achieved
            {
                reasons.push(format!(
                    "achieved {:.1}/s of {:.1}/s offered ({:.1}%, at least {:.0}%)",
                    s.throughput,
                    offered,
                    a * 100.0,
                    rules.min_achieved * 100.0
                ));
            }
        }
    }
    if w.generator_saturated {
        reasons.push("the load generator was saturated".into());
    }
    s.stable = reasons.is_empty();
    s.reasons = reasons;
    s
}

/// Little's law in a closed model: users = X * (R + Z).
fn little(
    s: &mut StepAnalysis,
    think_us: Option<f64>,
    r_secs: Option<f64>,
    rules: &StabilityRules,
    reasons: &mut Vec<String>,
) {
    let (Some(z), Some(r), Some(users)) = (think_us, r_secs, s.users) else {
        return;
    };
    let expected = s.throughput * (r + z / 1e6);
    s.little_ratio = ratio(expected, users);
    let Some(q) = s.little_ratio else { return };
    if (q - 1.0).abs() > rules.little_tolerance {
        let why = if q < 1.0 {
            "the generator may be saturated, or users wait on untimed work"
        } else {
            "time is counted twice (retries, or intended-start timing)"
        };
        reasons.push(format!(
            "Little's law: X*(R+Z) = {expected:.1} users but {users:.1} were active ({:+.1}%): {why}",
            (q - 1.0) * 100.0
        ));
    }
}

/// Latency of the steady part: from the histogram when given, else request-weighted means
/// of the per-second figures.
fn latency(s: &mut StepAnalysis, steady: &[&TimePoint], h: Option<Hist>) {
    if let Some(h) = h.filter(|h| !h.is_empty()) {
        s.mean_us = Some(h.mean().round() as u64);
        s.p50_us = Some(h.quantile(0.50));
        s.p95_us = Some(h.quantile(0.95));
        s.p99_us = Some(h.quantile(0.99));
        s.latency_source = LatencySource::Histogram;
        s.histogram = Some(h.to_base64());
        return;
    }
    let n: u64 = steady.iter().map(|p| p.requests).sum();
    if n == 0 {
        s.latency_source = LatencySource::None;
        return;
    }
    let weighted = |f: fn(&TimePoint) -> u64| {
        let sum: f64 = steady.iter().map(|p| f(p) as f64 * p.requests as f64).sum();
        Some((sum / n as f64).round() as u64)
    };
    s.mean_us = weighted(|p| p.mean_us);
    s.p50_us = weighted(|p| p.p50_us);
    s.p95_us = weighted(|p| p.p95_us);
    s.p99_us = weighted(|p| p.p99_us);
    s.latency_source = LatencySource::Intervals;
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// Sample coefficient of variation; `None` under 2 values or a zero mean.
fn cv(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    ratio(var.sqrt(), mean)
}

/// The least-squares line of interval throughput against time (each interval at its
/// middle, seconds) over the steady part: the times, their mean, the mean throughput, the
/// spread of the times and the slope (requests/s per second). `None` for fewer than 3
/// points or no spread in time.
struct Line {
    t: Vec<f64>,
    tm: f64,
    ym: f64,
    sxx: f64,
    slope: f64,
}

fn line(steady: &[&TimePoint]) -> Option<Line> {
    if steady.len() < 3 {
        return None;
    }
    let n = steady.len() as f64;
    let t: Vec<f64> = steady
        .iter()
        .map(|p| (p.t_us as f64 + p.duration_us as f64 / 2.0) / 1e6)
        .collect();
    let tm = t.iter().sum::<f64>() / n;
    let ym = steady.iter().map(|p| p.rps).sum::<f64>() / n;
    let sxx: f64 = t.iter().map(|x| (x - tm).powi(2)).sum();
    let sxy: f64 = t
        .iter()
        .zip(steady)
        .map(|(x, p)| (x - tm) * (p.rps - ym))
        .sum();
    let slope = ratio(sxy, sxx)?;
    Some(Line {
        t,
        tm,
        ym,
        sxx,
        slope,
    })
}

/// The change of interval throughput across the steady part, as a share of its mean: the
/// Theil–Sen slope (the median of the slopes between every pair of seconds) times the
/// window, over the mean. The median keeps one disturbed second (a neighbour on the
/// machine, a pause) from passing for a trend: with 6 seconds, one second 10 % low at the
/// end moves a least-squares trend by about 9 % of the mean and this one by well under 1 %,
/// while a steady decline moves both alike.
fn trend(steady: &[&TimePoint]) -> Option<f64> {
    let l = line(steady)?;
    let first = steady.first()?;
    let last = steady.last()?;
    let window = (last.t_us + last.duration_us - first.t_us) as f64 / 1e6;
    ratio(theil_sen(&l.t, steady)? * window, l.ym)
}

/// The median of the pairwise slopes `(y_j - y_i) / (t_j - t_i)`, `i < j`; `None` when no
/// pair has a spread in time.
fn theil_sen(t: &[f64], steady: &[&TimePoint]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(t.len() * t.len().saturating_sub(1) / 2);
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            let dt = t[j] - t[i];
            if dt > 0.0 {
                slopes.push((steady[j].rps - steady[i].rps) / dt);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let m = slopes.len() / 2;
    Some(if slopes.len() % 2 == 1 {
        slopes[m]
    } else {
        (slopes[m - 1] + slopes[m]) / 2.0
    })
}

/// Whether the trend stands out of its noise: the least-squares slope is more than twice
/// its standard error, or the Mann–Kendall test (the signs of every pair of seconds,
/// robust like the Theil–Sen slope) finds a monotonic trend at the 5 % level. At 19
/// requests a second one request more or less is 5 % of a second's count, and a few such
/// seconds fake a 10 % "rise" that neither test finds; a clean ramp always stands out; and
/// a steady decline with one disturbed second against it, which the least-squares test
/// misses, the Mann–Kendall test finds.
fn trend_significant(steady: &[&TimePoint]) -> bool {
    if steady.len() <= 3 {
        return true;
    }
    let Some(l) = line(steady) else {
        return true;
    };
    let sse: f64 =
        l.t.iter()
            .zip(steady)
            .map(|(x, p)| (p.rps - l.ym - l.slope * (x - l.tm)).powi(2))
            .sum();
    let se = (sse / (steady.len() as f64 - 2.0) / l.sxx).sqrt();
    !(se.is_finite() && l.slope.abs() < 2.0 * se) || mann_kendall_z(steady).abs() > 1.96
}

/// The Mann–Kendall statistic of interval throughput in time order, as a standard normal
/// score: S (the sum of the signs of every later second against every earlier one) with the
/// continuity correction, over its standard deviation corrected for ties.
fn mann_kendall_z(steady: &[&TimePoint]) -> f64 {
    let y: Vec<f64> = steady.iter().map(|p| p.rps).collect();
    let n = y.len();
    let mut s = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            s += match y[j].total_cmp(&y[i]) {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
            };
        }
    }
    let mut sorted = y.clone();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut k = 0;
    while k < sorted.len() {
        let run = sorted[k..].iter().take_while(|v| **v == sorted[k]).count();
        let t = run as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        k += run;
    }
    let nf = n as f64;
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    if var <= 0.0 || s == 0 {
        return 0.0;
    }
    (s as f64 - s.signum() as f64) / var.sqrt()
}

/// Should a step test stop before its next step? Pure, for the engine to call with the
/// figures of the step that just ended (or of the last few seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStop {
    /// Stop when p95 exceeds this many times the SLO.
    pub p95_factor: f64,
    /// Stop when the error rate exceeds this share.
    pub max_error_rate: f64,
    /// Do not judge on fewer requests than this.
    pub min_requests: u64,
}

impl Default for EarlyStop {
    fn default() -> Self {
        EarlyStop {
            p95_factor: 3.0,
            max_error_rate: 0.10,
            min_requests: 20,
        }
    }
}

impl EarlyStop {
    /// Why to stop, or `None` to go on. `slo_p95_us` is the SLO (the p95 rule is off
    /// without one).
    pub fn check(
        &self,
        slo_p95_us: Option<u64>,
        p95_us: u64,
        error_rate: f64,
        requests: u64,
    ) -> Option<String> {
        if requests < self.min_requests {
            return None;
        }
        if error_rate > self.max_error_rate {
            return Some(format!(
                "error rate {:.1}% is beyond the early-stop bound of {:.1}%",
                error_rate * 100.0,
                self.max_error_rate * 100.0
            ));
        }
        let slo = slo_p95_us?;
        let limit = slo as f64 * self.p95_factor;
        (p95_us as f64 > limit).then(|| {
            format!(
                "p95 {} is beyond {} x the SLO of {}",
                crate::metrics::fmt_us(p95_us),
                self.p95_factor,
                crate::metrics::fmt_us(slo)
            )
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One second at `t` seconds with `users`, `rps` requests and every latency `lat_us`.
    pub(crate) fn point(t: u64, users: u64, rps: f64, lat_us: u64) -> TimePoint {
        TimePoint {
            t_us: t * 1_000_000,
            duration_us: 1_000_000,
            users,
            requests: rps.round() as u64,
            rps: rps.round(),
            mean_us: lat_us,
            p50_us: lat_us,
            p95_us: lat_us * 12 / 10,
            p99_us: lat_us * 15 / 10,
            ..TimePoint::default()
        }
    }

    fn run<'a>(model: LoadModel, points: &'a [TimePoint], steps: &'a [StepWindow]) -> StepRun<'a> {
        StepRun {
            model,
            points,
            steps,
            think_us: Some(0.0),
            rules: StabilityRules::default(),
        }
    }

    fn window(load: f64, from_s: u64, to_s: u64) -> StepWindow {
        StepWindow {
            load,
            start_us: from_s * 1_000_000,
            end_us: to_s * 1_000_000,
            offered_rate: None,
            generator_saturated: false,
        }
    }

    /// Issue 20: at 19 requests a second, one request more or less each second is noise,
    /// not a 10 % trend; a clean ramp of the same size still is one.
    #[test]
    fn counting_noise_at_a_low_rate_is_not_a_trend() {
        let noisy: Vec<TimePoint> = [18.0, 19.0, 20.0, 18.0, 20.0, 20.0]
            .iter()
            .enumerate()
            .map(|(i, &r)| point(i as u64, 1, r, 52_000))
            .collect();
        let refs: Vec<&TimePoint> = noisy.iter().collect();
        assert!(trend(&refs).unwrap() > 0.05, "the raw trend exceeds 5 %");
        assert!(!trend_significant(&refs));
        let ramp: Vec<TimePoint> = (0..6)
            .map(|i| point(i, 1, 18.0 + 0.4 * i as f64, 52_000))
            .collect();
        let refs: Vec<&TimePoint> = ramp.iter().collect();
        assert!(trend_significant(&refs));
    }

    /// One disturbed second (CI's neighbour took the core for a second at the end of a
    /// step) is not a trend; a steady decline of the same size over the step is one.
    #[test]
    fn one_disturbed_second_is_not_a_trend_but_a_steady_decline_is() {
        let series = |v: &[f64]| -> Vec<TimePoint> {
            v.iter()
                .enumerate()
                .map(|(i, &r)| point(i as u64, 32, r, 21_000))
                .collect()
        };
        for disturbed in [
            [1500.0, 1504.0, 1498.0, 1502.0, 1500.0, 1350.0],
            [1500.0, 1504.0, 1350.0, 1502.0, 1500.0, 1498.0],
        ] {
            let pts = series(&disturbed);
            let refs: Vec<&TimePoint> = pts.iter().collect();
            let t = trend(&refs).unwrap();
            assert!(t.abs() < 0.01, "{disturbed:?}: trend {t}");
            let out = analyze_steps(
                &run(LoadModel::Closed, &pts, &[window(32.0, 0, 6)]),
                |_, _, _| None,
            );
            assert!(
                !out[0].reasons.iter().any(|r| r.contains("throughput fell")),
                "{:?}",
                out[0].reasons
            );
        }
        // A 20 % decline with its last second high: the least-squares slope is lost in its
        // residuals, the Mann–Kendall test still finds it.
        let mut decline: Vec<f64> = (0..11).map(|i| 1500.0 - 30.0 * i as f64).collect();
        decline.push(1600.0);
        let pts = series(&decline);
        let out = analyze_steps(
            &run(LoadModel::Closed, &pts, &[window(32.0, 0, 12)]),
            |_, _, _| None,
        );
        assert!(
            out[0]
                .reasons
                .iter()
                .any(|r| r.contains("throughput fell by")),
            "{:?} (trend {:?})",
            out[0].reasons,
            out[0].trend
        );
        let pts = series(&[1500.0, 1490.0, 1470.0, 1440.0, 1410.0, 1380.0]);
        let refs: Vec<&TimePoint> = pts.iter().collect();
        let t = trend(&refs).unwrap();
        assert!((-0.12..-0.10).contains(&t), "trend {t}");
        let out = analyze_steps(
            &run(LoadModel::Closed, &pts, &[window(32.0, 0, 6)]),
            |_, _, _| None,
        );
        assert!(
            out[0]
                .reasons
                .iter()
                .any(|r| r.contains("throughput fell by 11.")),
            "{:?}",
            out[0].reasons
        );
    }

    #[test]
    fn a_steady_closed_step_is_stable_and_obeys_littles_law() {
        // 20 users at 20 ms: 1,000 rps, with a 10 s warm-up at half rate.
        let mut pts: Vec<TimePoint> = (0..10).map(|t| point(t, 20, 500.0, 40_000)).collect();
        pts.extend((10..60).map(|t| point(t, 20, 1_000.0 + (t % 3) as f64 * 5.0, 20_000)));
        let steps = [window(20.0, 0, 60)];
        let out = analyze_steps(&run(LoadModel::Closed, &pts, &steps), |_, _, _| None);
        let s = &out[0];
        assert_eq!(s.warmup_intervals, 10, "{s:?}");
        assert_eq!(s.steady_start_us, 10_000_000);
        assert!(s.stable, "{:?}", s.reasons);
        assert!((s.throughput - 1_005.0).abs() < 1.0, "{}", s.throughput);
        assert!((s.little_ratio.unwrap() - 1.005).abs() < 0.01);
        assert!((s.concurrency - 20.1).abs() < 0.1);
        assert_eq!(s.p95_us, Some(24_000));
        assert_eq!(s.latency_source, LatencySource::Intervals);
        assert_eq!(s.histogram, None);
    }

    #[test]
    fn a_histogram_gives_exact_percentiles() {
        let pts: Vec<TimePoint> = (0..30).map(|t| point(t, 10, 500.0, 20_000)).collect();
        let steps = [window(10.0, 0, 30)];
        let out = analyze_steps(&run(LoadModel::Closed, &pts, &steps), |i, from, to| {
            assert_eq!((i, from, to), (0, 0, 30_000_000));
            let mut h = Hist::new();
            for v in 1..=100 {
                h.record(v * 1_000);
            }
            Some(h)
        });
        assert_eq!(out[0].latency_source, LatencySource::Histogram);
        let p95 = out[0].p95_us.unwrap();
        assert!((95_000..=95_100).contains(&p95), "{p95}");
        // Kept, compressed, for the per-step spectrum chart.
        let stored = out[0].histogram.as_deref().expect("histogram kept");
        assert!(stored.len() < 1_000, "{} bytes", stored.len());
        let back = Hist::from_base64(stored).unwrap();
        assert_eq!(back.count(), 100);
        assert_eq!(back.quantile(0.95), p95);
    }

    #[test]
    fn unstable_steps_say_why() {
        // Throughput falling 30 % over the step, with Little's law off and a busy generator.
        let pts: Vec<TimePoint> = (0..40)
            .map(|t| point(t, 50, 1_000.0 - 7.5 * t as f64, 20_000))
            .collect();
        let mut w = window(50.0, 0, 40);
        w.generator_saturated = true;
        let out = analyze_steps(&run(LoadModel::Closed, &pts, &[w]), |_, _, _| None);
        let s = &out[0];
        assert!(!s.stable);
        let all = s.reasons.join("\n");
        assert!(all.contains("throughput fell by"), "{all}");
        assert!(all.contains("Little's law"), "{all}");
        assert!(all.contains("generator was saturated"), "{all}");
    }

    #[test]
    fn an_open_step_below_its_offered_rate_is_unstable() {
        let pts: Vec<TimePoint> = (0..30).map(|t| point(t, 80, 900.0, 50_000)).collect();
        let out = analyze_steps(
            &run(LoadModel::Open, &pts, &[window(1_000.0, 0, 30)]),
            |_, _, _| None,
        );
        let s = &out[0];
        assert_eq!(s.achieved_ratio, Some(0.9));
        assert!(
            s.reasons.iter().any(|r| r.contains("offered")),
            "{:?}",
            s.reasons
        );
        assert_eq!(s.little_ratio, None);
    }

    #[test]
    fn an_empty_window_is_unstable_not_a_panic() {
        let out = analyze_steps(
            &run(LoadModel::Closed, &[], &[window(5.0, 0, 10)]),
            |_, _, _| None,
        );
        assert!(!out[0].stable);
        assert_eq!(out[0].throughput, 0.0);
        assert!(out[0].reasons[0].contains("too short"));
    }

    #[test]
    fn early_stop_rules() {
        let rule = EarlyStop::default();
        assert_eq!(rule.check(Some(200_000), 500_000, 0.0, 1_000), None);
        let why = rule.check(Some(200_000), 700_000, 0.0, 1_000).unwrap();
        assert!(why.contains("3 x the SLO"), "{why}");
        assert!(
            rule.check(None, 9_000_000, 0.2, 1_000)
                .unwrap()
                .contains("error rate")
        );
        assert_eq!(rule.check(None, 9_000_000, 0.05, 1_000), None);
        assert_eq!(rule.check(Some(1), 9_000_000, 1.0, 5), None);
    }
}
