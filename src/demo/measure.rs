//! Demo routes with known answers, for custom metrics, uploads and batches (none goes
//! through the service-time model or its worker pool):
//!
//! - `GET /api/queue?ms=4.25&items=3`: `X-Queue-Time: 4.25` (header, milliseconds) and
//!   `{"queue_ms": 4.25, "items": 3}`; the defaults are those values. A test records the
//!   header and the JSON numbers and checks the exact means and sums.
//! - `ANY /api/slow?ms=20`: answers `{"slept_ms": 20}` after sleeping `ms` milliseconds
//!   (0 to 5000; default 20), whatever the method: a batch of them takes one sleep, not
//!   the sum.
//! - `POST /api/upload`: reads a `multipart/form-data` body and answers each part's name,
//!   file name, content type and size in bytes, in order:
//!   `{"parts": [{"name": "title", "size": 3}, {"name": "blob", "filename": "blob.bin",
//!   "content_type": "application/octet-stream", "size": 65536}], "bytes": N}`.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// Add the routes to the demo's router.
pub(super) fn add<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .route("/api/queue", get(queue))
        .route("/api/slow", any(slow))
        .route("/api/upload", post(upload))
}

/// Query parameter `name`: a number from 0 to `max`, `default` when absent; the error
/// says what was wrong.
fn param(q: &HashMap<String, String>, name: &str, default: f64, max: f64) -> Result<f64, String> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => match v.parse::<f64>() {
            Ok(x) if x.is_finite() && (0.0..=max).contains(&x) => Ok(x),
            _ => Err(format!("{name} must be a number from 0 to {max}")),
        },
    }
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}

async fn queue(Query(q): Query<HashMap<String, String>>) -> Response {
    let (ms, items) = match (param(&q, "ms", 4.25, 1e6), param(&q, "items", 3.0, 1e9)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let mut r = Json(json!({"queue_ms": ms, "items": items})).into_response();
    if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
        r.headers_mut().insert("x-queue-time", v);
    }
    r
}

async fn slow(Query(q): Query<HashMap<String, String>>) -> Response {
    let ms = match param(&q, "ms", 20.0, 5000.0) {
        Ok(ms) => ms,
        Err(e) => return bad_request(e),
    };
    tokio::time::sleep(Duration::from_secs_f64(ms / 1000.0)).await;
    Json(json!({"slept_ms": ms})).into_response()
}

async fn upload(headers: HeaderMap, body: Bytes) -> Response {
    let bad = |msg: String| (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = ct
        .strip_prefix("multipart/form-data")
        .and_then(|rest| {
            rest.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
        .map(|b| b.trim_matches('"').to_string())
    else {
        return bad(format!(
            "expected multipart/form-data with a boundary, got {ct:?}"
        ));
    };
    match parts(&body, &boundary) {
        Ok(parts) => Json(json!({"parts": parts, "bytes": body.len()})).into_response(),
        Err(e) => bad(e),
    }
}

/// The parts of a multipart body: name, file name, content type, size.
fn parts(body: &[u8], boundary: &str) -> Result<Vec<Value>, String> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let find = |from: usize, pat: &[u8]| {
        body.get(from..)
            .and_then(|b| b.windows(pat.len()).position(|w| w == pat))
            .map(|i| i + from)
    };
    let mut at = find(0, d).ok_or("no boundary in the body")? + d.len();
    let mut out = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(out);
        }
        if body.get(at..at + 2) != Some(b"\r\n") {
            return Err("a boundary not followed by CRLF".into());
        }
        let head_start = at + 2;
        let head_end = find(head_start, b"\r\n\r\n").ok_or("a part without headers' end")?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let content = head_end + 4;
        let next_delim = [b"\r\n".as_slice(), d].concat();
        let end = find(content, &next_delim).ok_or("a part without a closing boundary")?;
        let mut part = serde_json::Map::new();
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-disposition") {
                for p in v.split(';').skip(1) {
                    if let Some((pk, pv)) = p.trim().split_once('=') {
                        part.insert(pk.to_string(), pv.trim_matches('"').into());
                    }
                }
            } else if k.eq_ignore_ascii_case("content-type") {
                part.insert("content_type".into(), v.into());
            }
        }
        part.insert("size".into(), (end - content).into());
        out.push(Value::Object(part));
        at = end + next_delim.len();
    }
}
