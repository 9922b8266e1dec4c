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
    /// The address it listens on (requests must name it, or loopback).
    bound: SocketAddr,
}

#[derive(Default)]
struct Log {
    /// The last [`HISTORY`] snapshots (a soak's page opened late gets its last hour).
    history: std::collections::VecDeque<Arc<str>>,
    end: Option<Arc<str>>,
}

/// Snapshots kept for a page that connects mid-run: an hour of seconds.
const HISTORY: usize = 3_600;

/// Judge the targets on the run so far every this many seconds (and on the last): judging
/// folds the whole run so far, which grows with it.
const JUDGE_EVERY: u64 = 5;

impl Shared {
    fn push(&self, ev: Ev) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.end.is_some() {
            return;
        }
        match &ev {
            Ev::Snapshot(s) => {
                if log.history.len() == HISTORY {
                    log.history.pop_front();
                }
                log.history.push_back(s.clone());
            }
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
    /// Seconds published, and the targets as last judged.
    seconds: u64,
    judged: Vec<TargetNow>,
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
        bound: addr,
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
        DashboardFeed {
            shared,
            targets,
            seconds: 0,
            judged: Vec::new(),
        },
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

/// Is the request for this server by a name it answers to? A page of another site whose
/// name was re-pointed at this machine (DNS rebinding) sends its own name as `Host`: it is
/// refused, so it can neither read the run nor stop it.
fn host_allowed(headers: &HeaderMap, bound: SocketAddr) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    matches!(name, "localhost" | "127.0.0.1" | "::1")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip == bound.ip() || ip.is_loopback())
}

fn wrong_host() -> Response {
    (
        StatusCode::MISDIRECTED_REQUEST,
        "this dashboard answers to its own address only\n",
    )
        .into_response()
}

async fn stop_run(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !host_allowed(&headers, shared.bound) {
        return wrong_host();
    }
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

async fn events(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !host_allowed(&headers, shared.bound) {
        return wrong_host();
    }
    event_stream(shared).into_response()
}

fn event_stream(
    shared: Arc<Shared>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    // Under the lock only what must be taken together (the snapshots so far and the
    // subscription): the harvest pushes under it. The page's copy is made after.
    let (rx, snapshots, end) = {
        let log = shared.log.lock().unwrap_or_else(|p| p.into_inner());
        let rx = shared.tx.subscribe();
        let snapshots: Vec<Arc<str>> = log.history.iter().cloned().collect();
        (rx, snapshots, log.end.clone())
    };
    let mut history = String::from("[");
    for (i, s) in snapshots.iter().enumerate() {
        if i > 0 {
            history.push(',');
        }
        history.push_str(s);
    }
    history.push(']');
    let first = Phase::History(rx, history, end);
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
#[derive(Serialize, Clone)]
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
            if c.is_request() {
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
            targets: {
                if self.seconds.is_multiple_of(JUDGE_EVERY) || s.stopping {
                    self.judged = self.judge(s);
                }
                self.seconds += 1;
                self.judged.clone()
            },
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

#[cfg(test)]
mod host_tests {
    use super::*;

    /// A page whose name was re-pointed at this machine (DNS rebinding) sends its own name:
    /// refused; the names this server answers to are accepted.
    #[test]
    fn issue16_only_the_dashboards_own_names_are_answered() {
        let bound: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let wide: SocketAddr = "10.1.2.3:4242".parse().unwrap();
        let with = |host: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, host.parse().unwrap());
            h
        };
        for ok in [
            "127.0.0.1:4242",
            "localhost:4242",
            "[::1]:4242",
            "localhost",
            "127.0.0.2:1",
        ] {
            assert!(host_allowed(&with(ok), bound), "{ok}");
        }
        for bad in [
            "evil.example:4242",
            "evil.example",
            "10.1.2.3:4242",
            "localhost.evil.example",
        ] {
            assert!(!host_allowed(&with(bad), bound), "{bad}");
        }
        assert!(host_allowed(&with("10.1.2.3:4242"), wide));
        assert!(!host_allowed(&HeaderMap::new(), bound));
    }
}
