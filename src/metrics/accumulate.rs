//! Folding one-second intervals into run totals and time series.
//!
//! The live run and the recovery of a crashed run's journal go through the same fold, so
//! the totals in `result.json` always equal the sum of the intervals on disk.

use super::histogram::Hist;
use super::recorder::{CellData, IntervalData};
use super::result::{
    CellInfo, CheckResult, ErrorExample, Latency, RunInfo, RunResult, SCHEMA_VERSION,
    ScenarioResult, StepPoint, StepResult, Summary, TimePoint, Tool,
};
use super::server_timing::ServerTimingNames;

/// What the generator observed in one interval besides the requests.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// Users active at the end of the interval (closed model); open model: the mean number
    /// of users busy with an iteration over the interval.
    pub users: u64,
    /// Open model: iterations due, started late, dropped.
    pub scheduled: u64,
    /// Open model: iterations started.
    pub started: u64,
    pub late: u64,
    pub dropped: u64,
    /// Generator CPU, percent of its cores.
    pub cpu_pct: f64,
    /// Largest timer lag of the generator, µs.
    pub sched_lag_us: u64,
}

impl Gauges {
    pub fn users(users: u64) -> Gauges {
        Gauges {
            users,
            ..Gauges::default()
        }
    }
}

/// Running totals of a run.
pub struct Accumulator {
    cells: Vec<CellInfo>,
    totals: IntervalData,
    /// Step names in order of first appearance, each with its cells.
    names: Vec<(String, Vec<usize>)>,
    /// Scenario names in order of first appearance, each with its cells.
    scenarios: Vec<(String, Vec<usize>)>,
    timeseries: Vec<TimePoint>,
    step_series: Vec<Vec<StepPoint>>,
    peak_users: u64,
    measured_us: u64,
    /// Names of the cells' `Server-Timing` histograms, by id.
    server_timing: ServerTimingNames,
}

fn group(cells: &[CellInfo], key: impl Fn(&CellInfo) -> &str) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for c in cells {
        match out.iter_mut().find(|(n, _)| n == key(c)) {
            Some((_, ids)) => ids.push(c.id),
            None => out.push((key(c).to_string(), vec![c.id])),
        }
    }
    out
}

/// The cells whose samples are requests: all but [`CellInfo::is_request`]'s others (a page
/// view is counted by its document's and assets' own requests).
fn request_cells(cells: &[CellInfo], n: usize) -> Vec<usize> {
    (0..n)
        .filter(|&i| cells.get(i).is_none_or(|c| c.is_request()))
        .collect()
}

fn merge(data: &[CellData], ids: &[usize]) -> CellData {
    let mut m = CellData::default();
    for &i in ids {
        if let Some(d) = data.get(i) {
            m.add(d);
        }
    }
    m
}

impl Accumulator {
    pub fn new(cells: Vec<CellInfo>) -> Accumulator {
        let totals = cells
            .iter()
            .map(|c| CellData::new(c.checks.len()))
            .collect();
        let names = group(&cells, |c| &c.step);
        let mut scenarios = group(&cells, |c| &c.scenario);
        // A scenario's totals count requests: page views, groups... stay out, as in `overall`.
        for (_, ids) in &mut scenarios {
            ids.retain(|&i| cells.get(i).is_none_or(|c| c.counts_in_scenario()));
        }
        let step_series = vec![Vec::new(); names.len()];
        Accumulator {
            cells,
            totals,
            names,
            scenarios,
            timeseries: Vec::new(),
            step_series,
            peak_users: 0,
            measured_us: 0,
            server_timing: ServerTimingNames::new(),
        }
    }

    /// Name the cells' `Server-Timing` histograms (by id) with the run's table (the
    /// recorder's, or one rebuilt from the interval log).
    pub fn set_server_timing_names(&mut self, names: ServerTimingNames) {
        self.server_timing = names;
    }

    pub fn cells(&self) -> &[CellInfo] {
        &self.cells
    }

    /// Add one interval with only its user count; returns its whole-run point.
    pub fn add_interval(
        &mut self,
        t_us: u64,
        duration_us: u64,
        users: u64,
        data: &IntervalData,
    ) -> TimePoint {
        self.add_interval_with(t_us, duration_us, &Gauges::users(users), data)
    }

    /// Add one interval; returns its whole-run point (for the console).
    pub fn add_interval_with(
        &mut self,
        t_us: u64,
        duration_us: u64,
        g: &Gauges,
        data: &IntervalData,
    ) -> TimePoint {
        let users = g.users;
        for (t, d) in self.totals.iter_mut().zip(data.iter()) {
            t.add(d);
        }
        for ((_, ids), series) in self.names.iter().zip(self.step_series.iter_mut()) {
            let m = merge(data, ids);
            series.push(StepPoint {
                t_us,
                requests: m.requests,
                errors: m.error_count(),
                p50_us: m.hist.quantile(0.5),
                p95_us: m.hist.quantile(0.95),
                p99_us: m.hist.quantile(0.99),
                max_us: m.hist.max(),
            });
        }
        let all = request_cells(&self.cells, data.len());
        let m = merge(data, &all);
        let point = TimePoint {
            t_us,
            duration_us,
            users,
            requests: m.requests,
            ok: m.ok,
            errors: m.error_count(),
            check_failed: m.check_failed,
            bytes: m.bytes,
            rps: if duration_us > 0 {
                m.requests as f64 * 1e6 / duration_us as f64
            } else {
                0.0
            },
            mean_us: m.hist.mean().round() as u64,
            p50_us: m.hist.quantile(0.5),
            p90_us: m.hist.quantile(0.9),
            p95_us: m.hist.quantile(0.95),
            p99_us: m.hist.quantile(0.99),
            max_us: m.hist.max(),
            service_p50_us: m.service.quantile(0.5),
            service_p99_us: m.service.quantile(0.99),
            scheduled: g.scheduled,
            started: g.started,
            late: g.late,
            dropped: g.dropped,
            cpu_pct: g.cpu_pct,
            sched_lag_us: g.sched_lag_us,
            availability: (m.requests > 0).then(|| m.ok as f64 / m.requests as f64),
        };
        self.peak_users = self.peak_users.max(users);
        self.measured_us = self.measured_us.max(t_us + duration_us);
        self.timeseries.push(point.clone());
        point
    }

    /// Time covered by the intervals so far.
    pub fn measured_us(&self) -> u64 {
        self.measured_us
    }

    pub fn peak_users(&self) -> u64 {
        self.peak_users
    }

    /// Totals per cell so far.
    pub fn totals(&self) -> &IntervalData {
        &self.totals
    }

    /// All requests so far, merged.
    pub fn overall(&self) -> CellData {
        let all = request_cells(&self.cells, self.totals.len());
        merge(&self.totals, &all)
    }

    /// Build the result document.
    pub fn finish(
        &self,
        mut run: RunInfo,
        scenario: serde_json::Value,
        error_examples: Vec<ErrorExample>,
    ) -> RunResult {
        let secs = self.measured_us as f64 / 1e6;
        run.duration_us = self.measured_us;
        run.peak_users = self.peak_users;
        let steps = self
            .names
            .iter()
            .zip(self.step_series.iter())
            .map(|((name, ids), series)| {
                let m = merge(&self.totals, ids);
                let mut scenarios: Vec<String> = Vec::new();
                let mut checks = Vec::new();
                for &i in ids {
                    let info = &self.cells[i];
                    if !scenarios.contains(&info.scenario) {
                        scenarios.push(info.scenario.clone());
                    }
                    let d = &self.totals[i];
                    for (label, failed) in info.checks.iter().zip(d.checks.iter()) {
                        checks.push(CheckResult {
                            scenario: info.scenario.clone(),
                            label: label.clone(),
                            // Checks run on responses without an error: ok + check_failed.
                            passed: (d.ok + d.check_failed).saturating_sub(*failed),
                            failed: *failed,
                        });
                    }
                }
                StepResult {
                    name: name.clone(),
                    method: self.cells[ids[0]].method.clone(),
                    scenarios,
                    summary: Summary::from_cell_named(&m, secs, &self.server_timing),
                    checks,
                    timeseries: series.clone(),
                }
            })
            .collect();
        let scenarios = self
            .scenarios
            .iter()
            .map(|(name, ids)| ScenarioResult {
                name: name.clone(),
                summary: Summary::from_cell_named(
                    &merge(&self.totals, ids),
                    secs,
                    &self.server_timing,
                ),
            })
            .collect();
        let mut result = RunResult {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            run,
            cells: self.cells.clone(),
            overall: Summary::from_cell_named(&self.overall(), secs, &self.server_timing),
            steps,
            scenarios,
            timeseries: self.timeseries.clone(),
            error_examples,
            scenario,
            custom_metrics: Vec::new(),
            availability: None,
            lighthouse: None,
        };
        result.custom_metrics = super::custom::custom_metrics(&result);
        result
    }
}

/// Merge the histograms of several latencies (e.g. per-worker results) exactly.
pub fn merge_latencies<'a>(
    ls: impl IntoIterator<Item = &'a Latency>,
) -> Result<Hist, super::MetricsError> {
    let mut h = Hist::new();
    for l in ls {
        h.add(&l.hist()?);
    }
    Ok(h)
}
