//! WebSocket steps (`ws:`): connect (an HTTP/1.1 upgrade carrying the user's cookies,
//! headers and credentials), send the step's messages in order, wait for the replies they
//! expect, pause where they say, and close.
//!
//! The socket is Skein's own: a TCP connection, TLS with the run's rustls configuration
//! for `wss://` (so `tls_verify`, `insecure` and `ca_file` apply as to HTTPS), and the
//! upgrade and framing of `tokio-tungstenite`.
//!
//! Each WebSocket step has three cells, laid out together ([`add_cells`]):
//!
//! - `NAME` ([`WS_SESSION_METHOD`]): one sample per session, from the connect to the end
//!   of the close (from the intended start in the open model), carrying the step's tags;
//!   its error is the session's first.
//! - `NAME (connect)` (`GET`): the upgrade, a request like any other: its time is the TCP
//!   connect, the TLS handshake and the upgrade; its failures sort like HTTP's (`connect`,
//!   `timeout`, `tls`, a status other than 101 as `4xx`/`5xx`).
//! - `NAME (message)` ([`WS_MESSAGE_METHOD`]): one sample per message that waits for a
//!   reply: the round trip from its send to the reply that passed its `expect`; a reply
//!   that never came (or never passed) within the timeout is a `timeout` error there.

use std::time::{Duration, Instant};

use ::http::HeaderMap;
use ::http::header::{COOKIE, HeaderValue};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use url::Url;

use crate::metrics::{CellInfo, ErrorKind, Sample, WS_MESSAGE_METHOD, WS_SESSION_METHOD};
use crate::scenario::check::Response;
use crate::scenario::template::Vars;
use crate::scenario::{StepPlan, WsExpect, WsMessage, WsPayload, WsPlan, sub_ws_names};

use super::page::{cell_for, cell_pairs};
use super::user::{StepEnd, Timing, UserState, co_interval_us, micros, note_wait};
use super::{RunCtx, StopLevel, http};

/// The connect and message cells of a WebSocket step's session cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WsCells {
    pub connect: usize,
    pub message: usize,
}

/// Lay out a WebSocket step's cells (session, connect, message, in that order); returns
/// the session cell's id. Steps of the same name in one scenario share them.
pub(super) fn add_cells(cells: &mut Vec<CellInfo>, scenario: &str, step: &StepPlan) -> usize {
    let session = cell_for(
        cells,
        scenario,
        step.name.clone(),
        WS_SESSION_METHOD,
        Vec::new(),
        &step.tags,
    );
    let [connect, message] = sub_ws_names(&step.name);
    cell_for(cells, scenario, connect, "GET", Vec::new(), &[]);
    let id = cell_for(cells, scenario, message, WS_MESSAGE_METHOD, Vec::new(), &[]);
    // The message cell's checks are the extracts of every message (in order, once each).
    for name in extract_labels(step) {
        if !cells[id].checks.contains(&name) {
            cells[id].checks.push(name);
        }
    }
    session
}

/// `extract NAME` for each name the step's messages extract, once each, in order.
fn extract_labels(step: &StepPlan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in step
        .ws
        .iter()
        .flat_map(|w| &w.messages)
        .flat_map(|m| &m.extracts)
    {
        let label = format!("extract {}", x.name);
        if !out.contains(&label) {
            out.push(label);
        }
    }
    out
}

/// The connect and message cells of every WebSocket session cell, by cell id.
pub(super) fn sub_cells(cells: &[CellInfo]) -> Vec<Option<WsCells>> {
    let is_session = |c: &CellInfo| c.method == WS_SESSION_METHOD;
    cell_pairs(cells, is_session, sub_ws_names)
        .into_iter()
        .map(|p| p.map(|[connect, message]| WsCells { connect, message }))
        .collect()
}

/// The cell a step's request counts in: a WebSocket step's connect cell, else `cell`.
pub(super) fn request_cell(ctx: &RunCtx, cell: usize) -> usize {
    ctx.ws_cells
        .get(cell)
        .copied()
        .flatten()
        .map_or(cell, |w| w.connect)
}

/// A byte stream, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Socket = WebSocketStream<Box<dyn Io>>;

/// Why a session went wrong: the kind and the example's words.
struct Fail {
    kind: ErrorKind,
    detail: String,
}

impl Fail {
    fn new(kind: ErrorKind, detail: impl Into<String>) -> Fail {
        Fail {
            kind,
            detail: detail.into(),
        }
    }
}

/// Run one WebSocket session of `step`, recording the connect, each answered message and
/// the session (which is what the step's `timing` applies to).
pub(super) async fn run(
    ctx: &RunCtx,
    cell: usize,
    step: &StepPlan,
    plan: &WsPlan,
    st: &mut UserState,
    timing: Timing,
) -> StepEnd {
    let Some(cells) = ctx.ws_cells.get(cell).copied().flatten() else {
        return StepEnd::Gone;
    };
    let start = Instant::now();
    let deadline = plan.session_timeout.map(|d| start + d);
    let timeout = step.timeout.unwrap_or(ctx.plan.defaults.timeout);
    let session = Session {
        cell,
        cells,
        start,
        deadline,
        timeout,
        timing,
    };
    let mut ws = match open(ctx, &session, step, st).await {
        Ok(ws) => ws,
        Err(end) => return end,
    };
    let mut error = None;
    let mut end = StepEnd::Done;
    for m in &plan.messages {
        match exchange(ctx, &session, step, m, &mut ws, st).await {
            Ok(()) => {}
            Err(Stop::Failed(kind)) => {
                error = Some(kind);
                break;
            }
            Err(Stop::NotBuilt) => {
                error = Some(ErrorKind::Template);
                end = StepEnd::NotBuilt;
                break;
            }
            Err(Stop::Cut) => return cut_off(ctx),
            Err(Stop::OutOfTime) => {
                let detail = "the session's `session_timeout` ran out during a pause";
                ctx.note_error(cell, ErrorKind::Timeout, detail);
                error = Some(ErrorKind::Timeout);
                break;
            }
        }
    }
    // Close cleanly: our close frame, then the server's answer (bounded).
    let close_by = earliest(
        Instant::now() + timeout.min(Duration::from_secs(2)),
        deadline,
    );
    let closing = async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    };
    tokio::select! {
        _ = tokio::time::timeout_at(close_by.into(), closing) => {}
        _ = ctx.wait_for(StopLevel::Hard) => return cut_off(ctx),
    }
    record_session(ctx, cell, st, timing, start, Took::Whole, error);
    note_wait(ctx, cell, timing, start, micros(start.elapsed()));
    end
}

/// What one session runs with: its cells, its start, its bounds, its timing.
#[derive(Clone, Copy)]
struct Session {
    cell: usize,
    cells: WsCells,
    start: Instant,
    deadline: Option<Instant>,
    timeout: Duration,
    timing: Timing,
}

/// Connect: build the upgrade (URL, headers, the jar's cookies), open the socket, record
/// the connect (and, when it fails, the session); the socket, or how the step ended.
async fn open(
    ctx: &RunCtx,
    session: &Session,
    step: &StepPlan,
    st: &mut UserState,
) -> Result<Socket, StepEnd> {
    let Some(user_http) = st.http.as_ref() else {
        return Err(StepEnd::Gone);
    };
    let Session {
        cell,
        cells,
        start,
        deadline,
        timeout,
        timing,
    } = *session;
    // The upgrade request: URL, headers, cookies.
    let built = upgrade_url(&ctx.base_url, step, &st.vars, &mut st.rng).and_then(|url| {
        let headers = http::upgrade_headers(&ctx.plan.defaults, step, &st.vars, &mut st.rng)?;
        let cookie = user_http.cookies(&http_url(&url));
        Ok((url, headers, cookie))
    });
    let (url, headers, cookie) = match built {
        Ok(b) => b,
        Err(detail) => {
            let t = Times::default();
            record(ctx, cells.connect, t, Some(ErrorKind::Template), &[]);
            ctx.note_error(cells.connect, ErrorKind::Template, &detail);
            let e = Some(ErrorKind::Template);
            record_session(ctx, cell, st, timing, start, Took::Nothing, e);
            return Err(StepEnd::NotBuilt);
        }
    };
    let connect_by = earliest(Instant::now() + timeout, deadline);
    let connected = tokio::select! {
        c = tokio::time::timeout_at(connect_by.into(), connect(ctx, &url, headers, cookie)) => {
            c.unwrap_or_else(|_| Err(Fail::new(
                ErrorKind::Timeout,
                format!("connecting to {url}: no upgrade within {}", show(connect_by - start)),
            )))
        }
        _ = ctx.wait_for(StopLevel::Hard) => return Err(cut_off(ctx)),
    };
    let took = micros(start.elapsed());
    // In the open model the connect, the session's first request, runs from the intended
    // start, as the first request of any iteration does.
    let late = timing
        .intended()
        .map_or(0, |t| micros(start.saturating_duration_since(t)));
    match connected {
        Ok((ws, resp_headers)) => {
            record(ctx, cells.connect, Times::answered(took, late), None, &[]);
            if let Some(h) = st.http.as_ref() {
                h.store_cookies(&http_url(&url), &resp_headers);
            }
            Ok(ws)
        }
        Err(f) => {
            let timed_out = f.kind == ErrorKind::Timeout;
            let t = match timed_out {
                true => Times::timed_out(took, late),
                false => Times::default(),
            };
            record(ctx, cells.connect, t, Some(f.kind), &[]);
            ctx.note_error(cells.connect, f.kind, &f.detail);
            let took = if timed_out {
                Took::Waited
            } else {
                Took::Nothing
            };
            record_session(ctx, cell, st, timing, start, took, Some(f.kind));
            Err(StepEnd::Done)
        }
    }
}

/// Why a session stopped before its last message.
enum Stop {
    /// A message failed (recorded in the message cell).
    Failed(ErrorKind),
    /// A message could not be built (recorded as a `template` error).
    NotBuilt,
    /// A hard stop.
    Cut,
    /// `session_timeout` ran out during a pause.
    OutOfTime,
}

/// One message: send it, wait for the reply it expects (recording the round trip), take
/// its extracts, pause.
async fn exchange(
    ctx: &RunCtx,
    session: &Session,
    step: &StepPlan,
    m: &WsMessage,
    ws: &mut Socket,
    st: &mut UserState,
) -> Result<(), Stop> {
    let (cells, deadline, timeout) = (session.cells, session.deadline, session.timeout);
    let fail = |f: Fail, us: Option<u64>| {
        let t = us.map_or(Times::default(), |us| Times::timed_out(us, 0));
        record(ctx, cells.message, t, Some(f.kind), &[]);
        ctx.note_error(cells.message, f.kind, &f.detail);
        Stop::Failed(f.kind)
    };
    let sent = Instant::now();
    if let Some(payload) = &m.send {
        let text = match render(payload, &st.vars, &mut st.rng) {
            Ok(t) => t,
            Err(detail) => {
                let t = Times::default();
                record(ctx, cells.message, t, Some(ErrorKind::Template), &[]);
                ctx.note_error(cells.message, ErrorKind::Template, &detail);
                return Err(Stop::NotBuilt);
            }
        };
        let by = earliest(sent + timeout, deadline);
        tokio::select! {
            r = tokio::time::timeout_at(by.into(), ws.send(Message::text(text))) => match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(fail(ws_fail(e, "sending a message"), None)),
                Err(_) => return Err(fail(Fail::new(ErrorKind::Timeout, "sending a message: the socket did not take it in time"), None)),
            },
            _ = ctx.wait_for(StopLevel::Hard) => return Err(Stop::Cut),
        }
    }
    if let Some(expect) = &m.expect {
        let wait = m.timeout.unwrap_or(timeout);
        let by = earliest(sent + wait, deadline);
        let got = tokio::select! {
            r = tokio::time::timeout_at(by.into(), reply(ws, expect, &st.vars, &mut st.rng)) => r,
            _ = ctx.wait_for(StopLevel::Hard) => return Err(Stop::Cut),
        };
        let took = micros(sent.elapsed());
        match got {
            Ok(Ok(body)) => {
                let headers = HeaderMap::new();
                let view = Response::new(101, &headers, &body);
                let mut failed = Vec::new();
                for x in &m.extracts {
                    match x.extract(&view) {
                        Some(v) => st.vars.set(x.var, v),
                        None => {
                            // Its place among the message cell's checks.
                            let label = format!("extract {}", x.name);
                            let labels = extract_labels(step);
                            let i = labels.iter().position(|l| *l == label).unwrap_or(0);
                            failed.push(i as u16);
                        }
                    }
                }
                record(ctx, cells.message, Times::answered(took, 0), None, &failed);
            }
            Ok(Err(f)) => return Err(fail(f, None)),
            Err(_) => {
                let why = if deadline == Some(by) && by < sent + wait {
                    "the session's `session_timeout` ran out"
                } else {
                    "no reply passed `expect`"
                };
                let detail = format!("waiting {} for a reply: {why}", show(by - sent));
                return Err(fail(Fail::new(ErrorKind::Timeout, detail), Some(took)));
            }
        }
    }
    if let Some(p) = m.pause {
        let until = Instant::now() + p;
        let by = earliest(until, deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(by.into()) => {}
            // Part of the session, like a slow reply: a graceful stop lets it finish.
            _ = ctx.wait_for(StopLevel::Hard) => return Err(Stop::Cut),
        }
        if by < until {
            return Err(Stop::OutOfTime);
        }
    }
    Ok(())
}

/// Read until a text or binary message passes `expect`; its bytes.
async fn reply(
    ws: &mut Socket,
    expect: &WsExpect,
    vars: &Vars,
    rng: &mut rand::rngs::SmallRng,
) -> Result<Vec<u8>, Fail> {
    loop {
        let body: Vec<u8> = match ws.next().await {
            Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map_or(String::new(), |f| format!(" ({} {})", f.code, f.reason));
                return Err(Fail::new(
                    ErrorKind::ConnectionReset,
                    format!("the server closed the WebSocket{why} before a reply passed `expect`"),
                ));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ws_fail(e, "reading a reply")),
            None => {
                return Err(Fail::new(
                    ErrorKind::ConnectionReset,
                    "the WebSocket ended before a reply passed `expect`",
                ));
            }
        };
        if passes(expect, &body, vars, rng) {
            return Ok(body);
        }
    }
}

/// Whether a reply passes every test of `expect`.
fn passes(expect: &WsExpect, body: &[u8], vars: &Vars, rng: &mut rand::rngs::SmallRng) -> bool {
    if let Some(t) = &expect.equals {
        match t.render(vars, rng) {
            Ok(want) if want.as_bytes() == body => {}
            _ => return false,
        }
    }
    let headers = HeaderMap::new();
    let view = Response::new(101, &headers, body);
    expect.checks.iter().all(|c| c.passes(&view, vars))
}

/// A message's text, rendered.
fn render(p: &WsPayload, vars: &Vars, rng: &mut rand::rngs::SmallRng) -> Result<String, String> {
    match p {
        WsPayload::Text(t) => t.render(vars, rng).map_err(|e| e.to_string()),
        WsPayload::Json(j) => j
            .render("send_json", vars, rng)
            .map(|v| v.to_string())
            .map_err(|e| e.to_string()),
    }
}

/// The step's WebSocket URL: its path joined to the target, or its URL; `http` becomes
/// `ws` and `https` `wss`.
fn upgrade_url(
    base: &str,
    step: &StepPlan,
    vars: &Vars,
    rng: &mut rand::rngs::SmallRng,
) -> Result<Url, String> {
    let path = step.path.render(vars, rng).map_err(|e| e.to_string())?;
    let absolute = ["ws://", "wss://", "http://", "https://"].iter().any(|p| {
        path.get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    });
    let full = if absolute {
        path
    } else {
        let sep = if path.starts_with('/') { "" } else { "/" };
        format!("{}{sep}{path}", base.trim_end_matches('/'))
    };
    let mut url = Url::parse(&full).map_err(|e| format!("bad URL {full:?}: {e}"))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => return Err(format!("{full}: `{other}:` is not a WebSocket scheme")),
    };
    let _ = url.set_scheme(scheme);
    url.set_fragment(None);
    Ok(url)
}

/// The HTTP URL of a WebSocket URL: the one whose cookies the upgrade sends.
fn http_url(ws: &Url) -> Url {
    let mut u = ws.clone();
    let _ = u.set_scheme(if ws.scheme() == "wss" {
        "https"
    } else {
        "http"
    });
    u
}

/// Open the socket: TCP, TLS for `wss`, then the upgrade with `headers` and the jar's
/// `cookie`. The upgrade's response headers come back (for the cookies it sets).
async fn connect(
    ctx: &RunCtx,
    url: &Url,
    headers: HeaderMap,
    cookie: Option<HeaderValue>,
) -> Result<(Socket, HeaderMap), Fail> {
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(Fail::new(ErrorKind::Request, format!("{url}: no host"))),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectionRefused,
                std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
                _ => ErrorKind::Connect,
            };
            Fail::new(kind, format!("connecting to {url}: {e}"))
        })?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if url.scheme() == "wss" {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| Fail::new(ErrorKind::Tls, format!("{url}: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(ctx.factory.ws_tls())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                let tls = e.get_ref().is_some_and(|i| i.is::<rustls::Error>());
                let kind = if tls {
                    ErrorKind::Tls
                } else {
                    io_kind(e.kind())
                };
                Fail::new(kind, format!("TLS with {url}: {e}"))
            })?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| Fail::new(ErrorKind::Request, format!("{url}: {e}")))?;
    for (name, value) in &headers {
        req.headers_mut().append(name, value.clone());
    }
    if let Some(c) = cookie {
        req.headers_mut().insert(COOKIE, c);
    }
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((ws, resp)) => Ok((ws, resp.headers().clone())),
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let kind = http::status_error(status, false).unwrap_or(ErrorKind::Request);
            Err(Fail::new(
                kind,
                format!(
                    "GET {url}: HTTP {status} to a WebSocket upgrade (expected 101 Switching Protocols)"
                ),
            ))
        }
        Err(e) => Err(ws_fail(e, &format!("upgrading {url}"))),
    }
}

/// The kind a socket error names.
fn io_kind(kind: std::io::ErrorKind) -> ErrorKind {
    use std::io::ErrorKind as K;
    match kind {
        K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::NotConnected => ErrorKind::ConnectionReset,
        K::TimedOut => ErrorKind::Timeout,
        K::ConnectionRefused => ErrorKind::ConnectionRefused,
        _ => ErrorKind::Request,
    }
}

/// A tungstenite error, sorted.
fn ws_fail(e: tungstenite::Error, doing: &str) -> Fail {
    use tungstenite::Error as E;
    let kind = match &e {
        E::Io(io) => io_kind(io.kind()),
        E::ConnectionClosed | E::AlreadyClosed => ErrorKind::ConnectionReset,
        E::Tls(_) => ErrorKind::Tls,
        _ => ErrorKind::Request,
    };
    Fail::new(kind, format!("{doing}: {e}"))
}

/// The earlier of `t` and the session's deadline.
fn earliest(t: Instant, deadline: Option<Instant>) -> Instant {
    deadline.map_or(t, |d| d.min(t))
}

fn show(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn cut_off(ctx: &RunCtx) -> StepEnd {
    ctx.cut_off
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    StepEnd::Gone
}

/// The times of one sample, µs, as an HTTP request's: none when it failed without a
/// wait; a response time alone when it timed out.
#[derive(Clone, Copy, Default)]
struct Times {
    response: Option<u64>,
    service: Option<u64>,
}

impl Times {
    /// Answered after `us`, `late` after its intended start.
    fn answered(us: u64, late: u64) -> Times {
        Times {
            response: Some(us + late),
            service: Some(us),
        }
    }

    /// Timed out after waiting `us`, `late` after its intended start.
    fn timed_out(us: u64, late: u64) -> Times {
        Times {
            response: Some(us + late),
            service: None,
        }
    }
}

/// One sample of a connect or message cell.
fn record(ctx: &RunCtx, cell: usize, t: Times, error: Option<ErrorKind>, failed: &[u16]) {
    if !ctx.record {
        return;
    }
    ctx.recorder.record(&Sample {
        cell,
        response_us: t.response,
        service_us: t.service,
        co_interval_us: None,
        error,
        failed_checks: failed,
        bytes: 0,
        meta: None,
    });
}

/// What a session's time was, as an HTTP request's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Took {
    /// It ran to its close: a service time, and a response time.
    Whole,
    /// Its connect timed out: a response time (the wait), no service time.
    Waited,
    /// It failed before it began.
    Nothing,
}

/// The session's sample: response time from its intended start (open model) or its start,
/// service time from its start, to now (the end of the close).
fn record_session(
    ctx: &RunCtx,
    cell: usize,
    st: &UserState,
    timing: Timing,
    start: Instant,
    took: Took,
    error: Option<ErrorKind>,
) {
    if !ctx.record {
        return;
    }
    let service = micros(start.elapsed());
    let late = timing
        .intended()
        .map_or(0, |t| micros(start.saturating_duration_since(t)));
    let response = (took != Took::Nothing).then_some(service + late);
    ctx.recorder.record(&Sample {
        cell,
        response_us: response,
        service_us: (took == Took::Whole).then_some(service),
        co_interval_us: co_interval_us(ctx, st, timing),
        error,
        failed_checks: &[],
        bytes: 0,
        meta: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(path: &str) -> StepPlan {
        let yaml = format!(
            "target: http://h\nscenarios:\n  - name: s\n    steps:\n      - ws: {path}\n        messages: [{{send: hi, expect: any}}]\nload: {{users: 1, duration: 1s}}\n"
        );
        let plan = crate::scenario::parse_str(&yaml, std::path::Path::new("t.yaml")).unwrap();
        plan.scenarios[0].steps[0].clone()
    }

    #[test]
    fn upgrade_urls_resolve_against_the_target_with_ws_schemes() {
        let vars = Vars::new(0);
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
        let url = |base: &str, path: &str, rng: &mut rand::rngs::SmallRng| {
            upgrade_url(base, &step(path), &vars, rng)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            url("http://127.0.0.1:8080", "/ws/echo", &mut rng),
            "ws://127.0.0.1:8080/ws/echo"
        );
        assert_eq!(
            url("https://h.example/", "/ws?x=1", &mut rng),
            "wss://h.example/ws?x=1"
        );
        assert_eq!(
            url("http://h", "wss://other:9/x", &mut rng),
            "wss://other:9/x"
        );
        assert_eq!(
            url("http://h", "https://other/x", &mut rng),
            "wss://other/x"
        );
        assert_eq!(
            http_url(&Url::parse("wss://h/x").unwrap()).as_str(),
            "https://h/x"
        );
    }

    #[test]
    fn ws_cells_are_laid_out_together_and_found_again() {
        let s = step("/ws/echo");
        let mut cells = Vec::new();
        let a = add_cells(&mut cells, "s", &s);
        let b = add_cells(&mut cells, "s", &s);
        assert_eq!((a, b), (0, 0));
        let names: Vec<&str> = cells.iter().map(|c| c.step.as_str()).collect();
        assert_eq!(
            names,
            [
                "ws /ws/echo",
                "ws /ws/echo (connect)",
                "ws /ws/echo (message)"
            ]
        );
        let methods: Vec<&str> = cells.iter().map(|c| c.method.as_str()).collect();
        assert_eq!(methods, [WS_SESSION_METHOD, "GET", WS_MESSAGE_METHOD]);
        assert!(!cells[0].is_request() && cells[1].is_request() && !cells[2].is_request());
        assert_eq!(
            sub_cells(&cells)[0],
            Some(WsCells {
                connect: 1,
                message: 2
            })
        );
        assert_eq!(sub_cells(&cells)[1], None);
    }
}
