//! The live web dashboard (`--dashboard [ADDR]`): one self-contained page (inline CSS and
//! JS, SVG charts drawn by its own script, nothing loaded from the network), fed by
//! server-sent events, with a Stop button.
//!
//! [`Dashboard::start`] binds the address and serves:
//! - `GET /`: the page;
//! - `GET /events`: `history` on connect (every second so far, so a page opened mid-run has
//!   the whole chart), then one `snapshot` a second, then `end` when the run finishes;
//! - `POST /stop` (with the header `X-Skein-Stop: 1`, which a cross-site form cannot send
//!   without a CORS preflight this server never answers): stops the run gracefully, like
//!   Ctrl-C, with [`StopReason::Dashboard`].
//!
//! The [`DashboardFeed`] subscriber turns each harvested [`Second`] into a snapshot. The
//! server never keeps a finished run alive: after `finish` (or [`DashboardServer::close`])
//! it sends `end`, gives the pages a short grace to read it, and shuts down.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::engine::{EngineError, Second, StopHandle, Subscriber};
use crate::metrics::verdict::{Target, TargetStatus, evaluate};
use crate::metrics::{CellData, ErrorKind, RunResult, RunStatus, StopReason, WindowData};

/// The page, served as is.
pub const PAGE: &str = include_str!("dashboard.html");

/// The header `POST /stop` needs.
pub const STOP_HEADER: &str = "x-skein-stop";

/// How long the server stays up after `end`, so open pages read it.
const GRACE: Duration = Duration::from_millis(300);
/// How long a graceful shutdown may take before the server is dropped.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(1);

/// One event of the stream.
#[derive(Clone, Debug)]
enum Ev {
    Snapshot(Arc<str>),
    End(Arc<str>),
}

/// What the server and the subscriber share.
struct Shared {
    /// Every snapshot so far (JSON), and the `end` event once sent. Sending to `tx` happens
    /// under this lock, and a stream subscribes under it, so a page sees each second once.
    log: Mutex<Log>,
    tx: broadcast::Sender<Ev>,
    /// `None`: a `--workers` parent, which has no stop handle to give.
    stop: Option<StopHandle>,
    /// Set to true to shut the server down.
    closing: watch::Sender<bool>,
}

#[derive(Default)]
struct Log {
    history: Vec<Arc<str>>,
    end: Option<Arc<str>>,
}

impl Shared {
    fn push(&self, ev: Ev) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.end.is_some() {
            return;
        }
        match &ev {
            Ev::Snapshot(s) => log.history.push(s.clone()),
            Ev::End(s) => log.end = Some(s.clone()),
        }
        let _ = self.tx.send(ev);
    }

    fn ended(&self) -> bool {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .end
            .is_some()
    }

    /// Send `end` (once), then shut the server down after the grace.
    fn end(self: &Arc<Self>, end: EndEvent) {
        if self.ended() {
            return;
        }
        let json = serde_json::to_string(&end).unwrap_or_else(|_| "{}".into());
        self.push(Ev::End(json.into()));
        let shared = self.clone();
        // The subscriber runs inside the run's runtime; without one (a test), shut at once.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    tokio::time::sleep(GRACE).await;
                    let _ = shared.closing.send(true);
                });
            }
            Err(_) => {
                let _ = shared.closing.send(true);
            }
        }
    }
}

/// The dashboard's server: its address, and [`DashboardServer::close`] for the end.
pub struct DashboardServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The subscriber that feeds the dashboard.
pub struct DashboardFeed {
    shared: Arc<Shared>,
    targets: Vec<Target>,
}

/// Start the dashboard on `addr`: the server, and the subscriber to hand the run.
pub async fn start(
    addr: SocketAddr,
    targets: Vec<Target>,
    stop: Option<StopHandle>,
) -> std::io::Result<(DashboardServer, DashboardFeed)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, _) = broadcast::channel(64);
    let (closing, mut closed) = watch::channel(false);
    let shared = Arc::new(Shared {
        log: Mutex::default(),
        tx,
        stop,
        closing,
    });
    let app = Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/stop", post(stop_run))
        .with_state(shared.clone());
    let mut deadline = closed.clone();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = closed.wait_for(|c| *c).await;
        });
        tokio::select! {
            r = serve.into_future() => r,
            // Connections that do not close in time (a page that keeps its stream) are
            // dropped with the server.
            _ = async {
                let _ = deadline.wait_for(|c| *c).await;
                tokio::time::sleep(SHUTDOWN_LIMIT).await;
            } => Ok(()),
        }
    });
    Ok((
        DashboardServer {
            addr,
            shared: shared.clone(),
            task: Some(task),
        },
        DashboardFeed { shared, targets },
    ))
}

impl DashboardServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// After the run: send `end` if the subscriber did not (the run failed, or this process
    /// did not run the engine), let the grace pass, and wait for the server to be gone (at
    /// most a second more).
    pub async fn close(mut self) {
        self.shared.end(EndEvent {
            status: "ended",
            stop_reason: None,
            requests: 0,
            errors: 0,
            duration_s: 0.0,
        });
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(GRACE + SHUTDOWN_LIMIT * 2, task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for DashboardServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(PAGE),
    )
        .into_response()
}

async fn stop_run(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !headers.contains_key(STOP_HEADER) {
        return (
            StatusCode::FORBIDDEN,
            format!("POST /stop needs the header {STOP_HEADER}: 1\n"),
        )
            .into_response();
    }
    if shared.ended() {
        return (StatusCode::CONFLICT, "the run has ended\n").into_response();
    }
    let Some(stop) = &shared.stop else {
        return (
            StatusCode::NOT_IMPLEMENTED,
            "a --workers run cannot be stopped from the dashboard yet: press Ctrl-C\n",
        )
            .into_response();
    };
    stop.stop(StopReason::Dashboard);
    (StatusCode::ACCEPTED, "stopping\n").into_response()
}

/// What a stream still has to send.
enum Phase {
    History(broadcast::Receiver<Ev>, String, Option<Arc<str>>),
    Live(broadcast::Receiver<Ev>),
    End(Arc<str>),
    Done,
}

async fn events(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let first = {
        let log = shared.log.lock().unwrap_or_else(|p| p.into_inner());
        let rx = shared.tx.subscribe();
        let mut history = String::from("[");
        for (i, s) in log.history.iter().enumerate() {
            if i > 0 {
                history.push(',');
            }
            history.push_str(s);
        }
        history.push(']');
        Phase::History(rx, history, log.end.clone())
    };
    let stream = futures::stream::unfold(first, |phase| async move {
        match phase {
            Phase::History(rx, history, end) => {
                let ev = Event::default().event("history").data(history);
                let next = match end {
                    Some(e) => Phase::End(e),
                    None => Phase::Live(rx),
                };
                Some((Ok(ev), next))
            }
            Phase::Live(mut rx) => loop {
                match rx.recv().await {
                    Ok(Ev::Snapshot(s)) => {
                        let ev = Event::default().event("snapshot").data(&*s);
                        return Some((Ok(ev), Phase::Live(rx)));
                    }
                    Ok(Ev::End(e)) => {
                        let ev = Event::default().event("end").data(&*e);
                        return Some((Ok(ev), Phase::Done));
                    }
                    // A page too slow for 64 seconds of snapshots misses some.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
            Phase::End(e) => {
                let ev = Event::default().event("end").data(&*e);
                Some((Ok(ev), Phase::Done))
            }
            Phase::Done => None,
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// One second, as the page reads it.
#[derive(Serialize)]
struct Snapshot {
    /// End of the second, seconds from the start.
    t: f64,
    duration_s: f64,
    users: u64,
    requests: u64,
    rps: f64,
    requests_total: u64,
    /// Errors by kind in the second, and so far (kinds with none are left out).
    errors: Vec<(&'static str, u64)>,
    errors_total: Vec<(&'static str, u64)>,
    check_failed: u64,
    check_failed_total: u64,
    /// Response time percentiles of the second, ms (exact, from the merged histograms).
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    targets: Vec<TargetNow>,
    cpu_pct: f64,
    lag_ms: f64,
    saturated: bool,
    stopping: bool,
}

/// A target judged on the run so far.
#[derive(Serialize)]
struct TargetNow {
    expression: String,
    /// `pass`, `fail`, `not_measured`, or `waiting` (its window has not begun).
    status: &'static str,
    detail: String,
}

#[derive(Serialize)]
struct EndEvent {
    /// `complete`, `interrupted`, or `ended` (the run ended without a result for the
    /// dashboard: it failed, or its figures came from elsewhere).
    status: &'static str,
    stop_reason: Option<String>,
    requests: u64,
    errors: u64,
    duration_s: f64,
}

fn by_kind(errors: &[u64; ErrorKind::COUNT]) -> Vec<(&'static str, u64)> {
    ErrorKind::ALL
        .into_iter()
        .zip(errors.iter())
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.as_str(), *n))
        .collect()
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl DashboardFeed {
    /// The targets on the run so far: a target with a window (`after:`) waits until its
    /// window begins, then is judged on the whole run so far (as `abort_on_fail` is).
    fn judge(&self, s: &Second<'_>) -> Vec<TargetNow> {
        if self.targets.is_empty() {
            return Vec::new();
        }
        let so_far = s.so_far();
        let now = so_far.run.duration_us;
        let whole: Vec<Target> = self
            .targets
            .iter()
            .map(|t| Target {
                after_us: None,
                ..t.clone()
            })
            .collect();
        let verdict = evaluate(&so_far, &WindowData::default(), &whole);
        self.targets
            .iter()
            .zip(verdict.targets)
            .map(|(t, o)| {
                let waiting = now < t.after_us.unwrap_or(0);
                TargetNow {
                    expression: o.expression,
                    status: match o.status {
                        _ if waiting => "waiting",
                        TargetStatus::Pass => "pass",
                        TargetStatus::Fail => "fail",
                        TargetStatus::NotMeasured => "not_measured",
                    },
                    detail: if waiting { String::new() } else { o.detail },
                }
            })
            .collect()
    }
}

impl Subscriber for DashboardFeed {
    fn second(&mut self, s: &Second<'_>) -> Result<(), EngineError> {
        let mut second = CellData::default();
        for (d, c) in s.cells.iter().zip(s.layout) {
            if !c.is_page() {
                second
                    .errors
                    .iter_mut()
                    .zip(d.errors)
                    .for_each(|(a, b)| *a += b);
                second.check_failed += d.check_failed;
            }
        }
        let all = s.totals.overall();
        let p = s.point;
        let snap = Snapshot {
            t: (s.t_us + s.duration_us) as f64 / 1e6,
            duration_s: s.duration_us as f64 / 1e6,
            users: s.gauges.users,
            requests: p.requests,
            rps: p.rps,
            requests_total: all.requests,
            errors: by_kind(&second.errors),
            errors_total: by_kind(&all.errors),
            check_failed: second.check_failed,
            check_failed_total: all.check_failed,
            p50_ms: ms(p.p50_us),
            p95_ms: ms(p.p95_us),
            p99_ms: ms(p.p99_us),
            targets: self.judge(s),
            cpu_pct: s.gauges.cpu_pct,
            lag_ms: ms(s.gauges.sched_lag_us),
            saturated: s.saturated,
            stopping: s.stopping,
        };
        if let Ok(json) = serde_json::to_string(&snap) {
            self.shared.push(Ev::Snapshot(json.into()));
        }
        Ok(())
    }

    fn finish(&mut self, result: &RunResult) -> Result<(), EngineError> {
        let o = &result.overall;
        self.shared.end(EndEvent {
            status: match result.run.status {
                RunStatus::Interrupted => "interrupted",
                _ => "complete",
            },
            stop_reason: result.run.stop_reason.as_ref().map(|r| r.to_string()),
            requests: o.requests,
            errors: o.errors,
            duration_s: result.run.duration_us as f64 / 1e6,
        });
        Ok(())
    }
}
