//! The demo's WebSocket endpoints, for `ws:` steps and their tests:
//!
//! - `GET /ws/echo`: sends back every text or binary message it gets; with
//!   `?delay_ms=N` (0 to 10,000) after N ms, so a round trip's time is known.
//! - `GET /ws/session`: the same for a logged-in user only: the upgrade must carry a
//!   token from `POST /api/login`, as `Authorization: Bearer TOKEN` or a `token` cookie
//!   (else 401, no upgrade); each reply is `{"echo": MESSAGE, "cart": CART}` with the
//!   user's cart.
//!
//! They hold no worker of the pool (a socket is held for long, not served), and end when
//! the server closes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::shop::Sessions;

#[derive(Clone)]
struct WsState {
    sessions: Arc<Sessions>,
    closing: watch::Receiver<bool>,
}

/// Longest `delay_ms` the echo accepts.
const MAX_DELAY_MS: u64 = 10_000;

pub(crate) fn router(sessions: Arc<Sessions>, closing: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/ws/echo", get(echo))
        .route("/ws/session", get(session))
        .with_state(WsState { sessions, closing })
}

#[derive(Deserialize)]
struct EchoParams {
    delay_ms: Option<u64>,
}

async fn echo(
    State(s): State<WsState>,
    params: Result<Query<EchoParams>, axum::extract::rejection::QueryRejection>,
    ws: WebSocketUpgrade,
) -> Response {
    let delay = match params {
        Ok(Query(EchoParams { delay_ms: None })) => 0,
        Ok(Query(EchoParams { delay_ms: Some(d) })) if d <= MAX_DELAY_MS => d,
        _ => {
            let msg = format!("`delay_ms` must be a whole number from 0 to {MAX_DELAY_MS}");
            return error(StatusCode::BAD_REQUEST, &msg);
        }
    };
    let delay = Duration::from_millis(delay);
    ws.on_upgrade(move |socket| serve(socket, s.closing, Some, delay))
}

async fn session(State(s): State<WsState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let token = token(&headers).filter(|t| s.sessions.cart(t).is_some());
    let Some(token) = token else {
        let msg = "missing or unknown token: POST /api/login first, then connect with \
                   `Authorization: Bearer <token>` or a `token` cookie";
        return error(StatusCode::UNAUTHORIZED, msg);
    };
    let sessions = s.sessions.clone();
    let answer = move |m: Message| {
        let text = match &m {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => return None,
        };
        let cart = sessions.cart(&token).unwrap_or_default();
        Some(Message::Text(
            json!({ "echo": text, "cart": cart }).to_string().into(),
        ))
    };
    ws.on_upgrade(move |socket| serve(socket, s.closing, answer, Duration::ZERO))
}

/// Answer each text or binary message with `answer` after `delay`, until the client
/// closes or the server does.
async fn serve(
    mut socket: WebSocket,
    mut closing: watch::Receiver<bool>,
    answer: impl Fn(Message) -> Option<Message> + Send + 'static,
    delay: Duration,
) {
    loop {
        let m = tokio::select! {
            m = socket.recv() => m,
            _ = closing.wait_for(|c| *c) => return,
        };
        let m = match m {
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => m,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            Some(Ok(_)) => continue,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(reply) = answer(m)
            && socket.send(reply).await.is_err()
        {
            return;
        }
    }
}

/// The token of `Authorization: Bearer TOKEN`, else of a `token` cookie.
fn token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_string())
    })
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({ "error": msg }))).into_response()
}
