//! What every user of a run shares ([`RunCtx`]), and setting it up from a plan: the cells
//! the run records into, the facts `result.json` starts with, the open model's pool.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use tokio::sync::watch;

use super::examples::ErrorExamples;
use super::stop::{StopHandle, StopLevel};
use super::{blocked, feed, http, open, page, slots, ws};
use crate::metrics::{CellInfo, ErrorKind, Generator, Recorder, RunInfo, RunStatus, store};
use crate::scenario::Plan;

/// State shared by every user of a run, and what a [`Driver`](super::Driver) runs them
/// with.
pub struct RunCtx {
    pub(super) plan: Plan,
    pub(super) base_url: String,
    pub(super) factory: Arc<http::ClientFactory>,
    pub(super) recorder: Recorder,
    /// cell id by [scenario][phase][step].
    pub(super) cells: Vec<[Vec<usize>; 3]>,
    /// When the run starts: when it was set up, or the common `--start-at`, which may be
    /// ahead (users wait for it) or behind (a late shard: users already due start at once).
    pub(super) start: Instant,
    pub(super) fixed_start: bool,
    pub(super) stop: StopHandle,
    stop_rx: watch::Receiver<StopLevel>,
    pub(super) active: AtomicU64,
    pub(super) peak: AtomicU64,
    pub(super) next_slot: AtomicUsize,
    pub(super) cut_off: AtomicU64,
    pub(super) seed: u64,
    pub(super) record: bool,
    pub(super) examples: ErrorExamples,
    /// The open model's schedule and pool; `None` in the closed model.
    pub(super) open: Option<open::Open>,
    /// Closed model: each cell's median service time so far, µs (0 until the first
    /// second is in), for the coordinated-omission correction.
    pub(super) median_service: Vec<AtomicU64>,
    /// Page steps: the document and assets cells of each page cell, by cell id.
    pub(super) page_cells: Vec<Option<page::PageCells>>,
    /// The feeders' rows and positions.
    pub(super) feeds: feed::Feeds,
    /// Which scenario each user runs, and its first feeder rows.
    pub(super) slots: slots::Slots,
    /// Closed model: waits far beyond the steps' usual time, by second.
    pub(super) blocked: blocked::Blocked,
    /// Flow control: the GROUP cell of each group, by [scenario][group].
    pub(super) group_cells: Vec<Vec<Option<usize>>>,
    /// A run of counted iterations: who has run how many; `None` for a timed run.
    pub(super) counted: Option<super::iterations::Counted>,
    /// What `setup:` extracted, by slot: copied into every user before its variables.
    pub(super) setup_values: std::sync::OnceLock<Vec<(usize, String)>>,
    /// By scenario index: the cells of its requests by step name (a batch's requests)
    /// and of its custom metrics by metric name.
    pub(super) named: super::record::NamedCells,
    /// WebSocket steps: the connect and message cells of each session cell, by cell id.
    pub(super) ws_cells: Vec<Option<ws::WsCells>>,
}

/// What a run is set up with besides the plan.
pub(super) struct Setup<'a> {
    pub base_url: &'a str,
    pub factory: Arc<http::ClientFactory>,
    pub stop: &'a StopHandle,
    pub seed: u64,
    pub record: bool,
    /// The run's start: now, or the common `--start-at` (which may be ahead or behind).
    pub start: Instant,
    /// The start is a common one (`--start-at`): the open model's schedule starts at it
    /// rather than when its pool is ready.
    pub fixed_start: bool,
}

impl RunCtx {
    /// The context of a run of `plan` laid out as `cells` (by [`layout`]) that starts at
    /// `s.start`.
    pub(super) fn new(
        plan: &Plan,
        cells: &[CellInfo],
        index: Vec<[Vec<usize>; 3]>,
        recorder: Recorder,
        s: Setup<'_>,
    ) -> RunCtx {
        let slots = slots::Slots::new(plan);
        RunCtx {
            plan: plan.clone(),
            base_url: s.base_url.to_string(),
            factory: s.factory,
            recorder,
            cells: index,
            start: s.start,
            fixed_start: s.fixed_start,
            stop_rx: s.stop.subscribe(),
            stop: s.stop.clone(),
            active: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            next_slot: AtomicUsize::new(0),
            cut_off: AtomicU64::new(0),
            seed: s.seed,
            record: s.record,
            examples: ErrorExamples::new(&plan.secrets),
            open: plan
                .load
                .open
                .as_ref()
                .map(|o| open::Open::new(o, slots.pool().1, plan.defaults.timeout)),
            median_service: cells.iter().map(|_| AtomicU64::new(0)).collect(),
            page_cells: page::sub_cells(cells),
            feeds: feed::Feeds::new(plan, &slots),
            slots,
            blocked: blocked::Blocked::default(),
            group_cells: super::flow::group_cells(plan, cells),
            counted: super::iterations::Counted::new(&plan.load),
            setup_values: std::sync::OnceLock::new(),
            named: super::record::NamedCells::new(plan, cells),
            ws_cells: ws::sub_cells(cells),
        }
    }

    /// The plan this process runs (its share of it, in a worker).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Where the users record what happened.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The cell of step `step` of scenario `scenario`'s iteration.
    pub fn step_cell(&self, scenario: usize, step: usize) -> usize {
        self.cell(scenario, 1, step)
    }

    pub(super) fn median_service_us(&self, cell: usize) -> u64 {
        self.median_service
            .get(cell)
            .map_or(0, |m| m.load(Ordering::Relaxed))
    }

    /// The cell of step `step` of `phase` (`on_start`, steps, `on_stop`) of a scenario.
    pub(super) fn cell(&self, scenario: usize, phase: usize, step: usize) -> usize {
        self.cells[scenario][phase][step]
    }

    pub fn stop_level(&self) -> StopLevel {
        *self.stop_rx.borrow()
    }

    /// Resolves once the stop reaches `level`.
    pub async fn wait_for(&self, level: StopLevel) {
        let mut rx = self.stop_rx.clone();
        let _ = rx.wait_for(|l| *l >= level).await;
    }

    /// A user became active (`true`) or inactive (closed model: the users gauge and peak).
    pub fn user_active(&self, active: bool) {
        if active {
            let n = self.active.fetch_add(1, Ordering::Relaxed) + 1;
            self.peak.fetch_max(n, Ordering::Relaxed);
        } else {
            self.active.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Keep the first example of each error kind at each cell (secrets masked).
    pub fn note_error(&self, cell: usize, kind: ErrorKind, detail: &str) {
        self.examples.note(cell, kind, detail);
    }
}

/// The cells a run of `plan` records (the interval log's tags), in order.
pub fn cells(plan: &Plan) -> Vec<CellInfo> {
    layout(plan).0
}

/// Lay out the cells of a plan: one per (scenario, step name), on_start and on_stop steps
/// included. Steps of the same name in one scenario share a cell. Returns the cells and the
/// cell of each step by [scenario][phase][step].
pub(super) fn layout(plan: &Plan) -> (Vec<CellInfo>, Vec<[Vec<usize>; 3]>) {
    // `setup:` and `teardown:` are laid out as two scenarios after the plan's own.
    let with_once = super::once::with_once_scenarios(plan);
    let plan = with_once.as_ref().unwrap_or(plan);
    let mut cells: Vec<CellInfo> = Vec::new();
    let mut index = Vec::new();
    // Cells by (scenario, step name), and the tags given out, so a plan of thousands of
    // steps is laid out in linear time.
    let mut by_name: HashMap<(String, String), usize> = HashMap::new();
    let mut tags: HashSet<String> = HashSet::new();
    for sc in &plan.scenarios {
        let mut phases: [Vec<usize>; 3] = Default::default();
        for (p, steps) in [&sc.on_start, &sc.steps, &sc.on_stop]
            .into_iter()
            .enumerate()
        {
            for step in steps {
                if let Some(b) = &step.batch {
                    // A batch step: its whole (BATCH), then its requests' cells (shared by
                    // name like any step's).
                    let id = super::batch::add_cell(&mut cells, &mut tags, &sc.name, step);
                    for r in &b.requests {
                        request_cell(&mut cells, &mut by_name, &mut tags, &sc.name, r);
                    }
                    phases[p].push(id);
                    continue;
                }
                if step.page.is_some() {
                    // A page step has three cells: the page, its document, its assets.
                    let before = cells.len();
                    phases[p].push(page::add_cells(&mut cells, &sc.name, step));
                    tags.extend(cells[before..].iter().map(|c| c.tag.clone()));
                    continue;
                }
                if step.ws.is_some() {
                    // A WebSocket step has three cells: the session, its connect, its messages.
                    let before = cells.len();
                    phases[p].push(ws::add_cells(&mut cells, &sc.name, step));
                    tags.extend(cells[before..].iter().map(|c| c.tag.clone()));
                    continue;
                }
                let id = request_cell(&mut cells, &mut by_name, &mut tags, &sc.name, step);
                phases[p].push(id);
            }
        }
        // Flow control's groups: a GROUP cell each, after the steps' cells.
        for g in sc.flow.iter().flat_map(|f| &f.groups) {
            let id = cells.len();
            let mut tag = store::sanitize(&format!("{}/{}", sc.name, g));
            if tags.contains(&tag) {
                tag = format!("{tag}.{id}");
            }
            tags.insert(tag.clone());
            cells.push(CellInfo {
                id,
                scenario: sc.name.clone(),
                step: g.clone(),
                method: crate::metrics::GROUP_METHOD.to_string(),
                tag,
                checks: Vec::new(),
                tags: Vec::new(),
            });
        }
        super::record::add_cells(&mut cells, &mut tags, sc);
        index.push(phases);
    }
    (cells, index)
}

/// The cell of an ordinary request step `step` of scenario `scenario`: the one of its name,
/// or a new one.
fn request_cell(
    cells: &mut Vec<CellInfo>,
    by_name: &mut HashMap<(String, String), usize>,
    tags: &mut HashSet<String>,
    scenario: &str,
    step: &crate::scenario::StepPlan,
) -> usize {
    let key = (scenario.to_string(), step.name.clone());
    match by_name.get(&key).and_then(|&i| cells.get_mut(i)) {
        Some(c) => {
            // Steps sharing a name share a cell, which carries all their tags.
            for t in &step.tags {
                if !c.tags.contains(t) {
                    c.tags.push(t.clone());
                }
            }
            c.id
        }
        None => {
            let id = cells.len();
            let mut tag = store::sanitize(&format!("{}/{}", scenario, step.name));
            if tags.contains(&tag) {
                tag = format!("{tag}.{id}");
            }
            tags.insert(tag.clone());
            by_name.insert(key, id);
            let mut checks: Vec<String> = step.checks.iter().map(|c| c.label.clone()).collect();
            checks.extend(step.extracts.iter().map(|x| format!("extract {}", x.name)));
            cells.push(CellInfo {
                id,
                scenario: scenario.to_string(),
                step: step.name.clone(),
                method: step.method.as_str().to_string(),
                tag,
                checks,
                tags: step.tags.clone(),
            });
            id
        }
    }
}

/// A new cell that is not a request (method `method`), tagged uniquely among `tags`.
pub(super) fn other_cell(
    cells: &mut Vec<CellInfo>,
    tags: &mut HashSet<String>,
    scenario: &str,
    name: &str,
    method: &str,
    step_tags: &[String],
) -> usize {
    if let Some(c) = cells
        .iter_mut()
        .find(|c| c.scenario == scenario && c.step == name && c.method == method)
    {
        for t in step_tags {
            if !c.tags.contains(t) {
                c.tags.push(t.clone());
            }
        }
        return c.id;
    }
    let id = cells.len();
    let mut tag = store::sanitize(&format!("{scenario}/{name}"));
    if tags.contains(&tag) {
        tag = format!("{tag}.{id}");
    }
    tags.insert(tag.clone());
    cells.push(CellInfo {
        id,
        scenario: scenario.to_string(),
        step: name.to_string(),
        method: method.to_string(),
        tag,
        checks: Vec::new(),
        tags: step_tags.to_vec(),
    });
    id
}

pub(super) fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The facts of a run of `plan` about to start (status `running`): the engine's own, and
/// the parent's of a `--workers` run.
pub fn run_info(plan: &Plan, id: &str, target: &str, started_at: SystemTime) -> RunInfo {
    let open = plan.load.open.is_some();
    RunInfo {
        id: id.to_string(),
        name: plan.name.clone(),
        status: RunStatus::Running,
        stop_reason: None,
        scenario_file: plan.source.as_ref().map(|p| p.display().to_string()),
        target: target.to_string(),
        model: if open { "open" } else { "closed" }.into(),
        response_time_basis: if open { "intended_start" } else { "measured" }.into(),
        started_at: rfc3339(started_at),
        ended_at: None,
        duration_us: 0,
        planned_duration_us: plan.load.duration().as_micros() as u64,
        max_users: plan.load.max_users() as u64,
        peak_users: 0,
        cut_off: 0,
        tls_verify: plan.defaults.tls_verify,
        generator: Generator::this_machine(),
        open_model: None,
        co_correction: None,
        generator_health: None,
        workers: None,
        shard: None,
        shards: None,
        start: None,
        iterations: super::iterations::planned(&plan.load),
    }
}

/// The open model serves every scenario's share of the arrival rate from a pool of users
/// of that scenario: a pool smaller than the number of scenarios would leave some with
/// none, and their iterations would all be dropped. Such a pool (a small `max_users`, or a
/// worker's share of one) grows to one user per scenario.
pub(super) fn with_a_user_per_scenario(plan: &Plan) -> std::borrow::Cow<'_, Plan> {
    let k = plan.scenarios.len();
    match &plan.load.open {
        Some(o) if o.max_users < k => {
            let mut p = plan.clone();
            if let Some(o) = p.load.open.as_mut() {
                o.max_users = k;
                o.pre_allocated = o.pre_allocated.max(k.min(o.max_users));
            }
            for s in &mut p.load.stages {
                s.users = k;
            }
            std::borrow::Cow::Owned(p)
        }
        _ => std::borrow::Cow::Borrowed(plan),
    }
}
