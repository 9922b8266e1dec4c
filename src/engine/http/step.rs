//! One step's exchange from end to end: send the request (following redirects), read the
//! whole response, and judge it (the step's checks and extracts, the status): the
//! [`Outcome`] a sample is made of.

use std::time::Instant;

use http::{HeaderMap, StatusCode, Version};
use url::Url;

use crate::metrics::{ErrorKind, Protocol, ResponseMeta, ServerTimingNames};
use crate::scenario::check::{CheckKind, Response};
use crate::scenario::template::Vars;
use crate::scenario::{DEFAULT_MAX_REDIRECTS, StepPlan};

use super::error::SendError;
use super::redirect::{Via, send};
use super::request::Req;
use super::user::UserHttp;

/// How one step's request ended.
pub struct Outcome {
    /// When the request was handed to the client.
    pub sent: Instant,
    /// Send to the end (last body byte, error or timeout), µs.
    pub elapsed_us: u64,
    /// Send to last body byte, µs, when a whole response arrived.
    pub service_us: Option<u64>,
    pub error: Option<ErrorKind>,
    /// Detail of the error, for the log of example errors.
    pub detail: Option<String>,
    pub failed_checks: Vec<u16>,
    pub bytes: u64,
    /// Server-Timing entries, redirects followed and HTTP version of the response.
    pub meta: ResponseMeta,
    /// A page step's document (whatever its status), for finding its assets.
    pub document: Option<Document>,
    /// The final response's status; `None` when no response came.
    pub status: Option<u16>,
    /// The step's custom metrics' values (`record:`), in stored units, in the order of
    /// `step.records`, or why one could not be read; empty when no good response came.
    pub records: Vec<Result<u64, String>>,
}

/// The HTML document of a page step, as received.
pub struct Document {
    /// The URL it came from (after redirects): relative asset URLs resolve against it.
    pub url: Url,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The HTTP version of a response.
pub fn protocol(v: Version) -> Protocol {
    match v {
        Version::HTTP_09 => Protocol::Http09,
        Version::HTTP_10 => Protocol::Http10,
        Version::HTTP_2 => Protocol::Http2,
        Version::HTTP_3 => Protocol::Http3,
        _ => Protocol::Http11,
    }
}

/// The error a final status is: a 4xx or 5xx the step does not check, a final 1xx, and
/// always a status outside 100-599 (RFC 9110 section 15: invalid; no `status` check can
/// expect one).
pub fn status_error(status: u16, has_status_check: bool) -> Option<ErrorKind> {
    match status {
        100..=599 if has_status_check => None,
        400..=499 => Some(ErrorKind::Http4xx),
        500..=599 => Some(ErrorKind::Http5xx),
        200..=399 => None,
        _ => Some(ErrorKind::HttpOther),
    }
}

/// The example error of a status that is an error.
pub fn status_detail(status: u16) -> String {
    if (100..=599).contains(&status) {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: not a valid status (HTTP's are 100 to 599)")
    }
}

/// A whole response: its final status and headers, and its body read to the end.
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body, decoded, when it was kept (else empty).
    pub body: Vec<u8>,
    /// When its last byte came.
    pub end: Instant,
}

/// Send `req` via `via`, following at most `max_redirects` redirects ([`send`]), note the
/// response's HTTP version and `Server-Timing` entries (with the run's `names`) in `meta`,
/// and read its body to the end: kept when `keep`, else only counted into `bytes`. The
/// connection goes back to the user once the body is read; `req` ends as the last hop's.
pub async fn fetch(
    via: &mut Via<'_>,
    req: &mut Req,
    max_redirects: u32,
    keep: bool,
    names: &ServerTimingNames,
    meta: &mut ResponseMeta,
    bytes: &mut u64,
) -> Result<Fetched, SendError> {
    let mut resp = send(via, req, max_redirects, meta, bytes).await?;
    meta.protocol = Some(protocol(resp.version));
    for v in resp.headers.get_all("server-timing") {
        meta.server_timing.add_header(v.as_bytes(), names);
    }
    let body = resp.read_to_end(keep, bytes, &req.url).await?;
    let end = Instant::now();
    let fetched = Fetched {
        status: resp.status,
        headers: std::mem::take(&mut resp.headers),
        body,
        end,
    };
    resp.recycle(via);
    Ok(fetched)
}

/// Send `req` over the user's HTTP, read the whole body, run the step's checks and
/// extractions (writing extracted values into `vars`). Redirects are followed up to the
/// step's limit; the response's `Server-Timing` entries are collected with the run's
/// `names`.
pub async fn execute(
    http: &mut UserHttp,
    req: Req,
    step: &StepPlan,
    vars: &mut Vars,
    names: &ServerTimingNames,
) -> Outcome {
    let x = exchange(&mut Via::User(http), req, step, names).await;
    conclude(x, step, vars)
}

/// One request's exchange, before its checks: what [`conclude`] judges. Several can be in
/// flight at once over a shared client (a batch step), then judged one by one.
pub struct Exchange {
    t0: Instant,
    meta: ResponseMeta,
    bytes: u64,
    url: Url,
    got: Result<Fetched, SendError>,
}

/// Send `req` via `via` as `step` says (redirects, whether the body is kept) and read
/// the whole response.
pub async fn exchange(
    via: &mut Via<'_>,
    mut req: Req,
    step: &StepPlan,
    names: &ServerTimingNames,
) -> Exchange {
    let t0 = Instant::now();
    let mut meta = ResponseMeta::default();
    let mut bytes = 0u64;
    let max_redirects = step.follow_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS);
    let needs_body = step
        .checks
        .iter()
        .any(|c| !matches!(c.kind, CheckKind::Status(_)))
        || !step.extracts.is_empty()
        || !step.records.is_empty()
        || step.page.is_some();
    let got = fetch(
        via,
        &mut req,
        max_redirects,
        needs_body,
        names,
        &mut meta,
        &mut bytes,
    )
    .await;
    Exchange {
        t0,
        meta,
        bytes,
        url: req.url,
        got,
    }
}

/// Judge an exchange: the step's checks, extracts (into `vars`) and custom metrics' values.
pub fn conclude(x: Exchange, step: &StepPlan, vars: &mut Vars) -> Outcome {
    let Exchange {
        t0,
        meta,
        bytes,
        url,
        got,
    } = x;
    let f = match got {
        Ok(f) => f,
        Err(e) => {
            return Outcome {
                sent: t0,
                elapsed_us: t0.elapsed().as_micros() as u64,
                service_us: None,
                error: Some(e.kind),
                detail: Some(e.detail),
                failed_checks: Vec::new(),
                bytes,
                meta,
                document: None,
                status: None,
                records: Vec::new(),
            };
        }
    };
    let latency_us = f.end.duration_since(t0).as_micros() as u64;
    let status = f.status.as_u16();
    let (error, failed_checks) = judge(step, status, &f.headers, &f.body, vars);
    let records = if step.records.is_empty() || error.is_some() {
        Vec::new()
    } else {
        let view = Response::new(status, &f.headers, &f.body);
        step.records.iter().map(|r| r.read(&view)).collect()
    };
    let document = step.page.as_ref().map(|_| Document {
        url,
        status,
        headers: f.headers,
        body: f.body,
    });
    Outcome {
        sent: t0,
        elapsed_us: latency_us,
        service_us: Some(latency_us),
        error,
        detail: error.map(|_| status_detail(status)),
        failed_checks,
        bytes,
        meta,
        document,
        status: Some(status),
        records,
    }
}

/// Run the step's checks and extracts on a response (extracted values go into `vars`): the
/// error its status is, and the failed checks (none when the status is an error).
fn judge(
    step: &StepPlan,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    vars: &mut Vars,
) -> (Option<ErrorKind>, Vec<u16>) {
    let view = Response::new(status, headers, body);
    let mut failed_checks = Vec::new();
    let mut has_status_check = false;
    for (i, c) in step.checks.iter().enumerate() {
        if matches!(c.kind, CheckKind::Status(_)) {
            has_status_check = true;
        }
        if !c.passes(&view, vars) {
            failed_checks.push(i as u16);
        }
    }
    for (i, x) in step.extracts.iter().enumerate() {
        match x.extract(&view) {
            Some(v) => vars.set(x.var, v),
            None => failed_checks.push((step.checks.len() + i) as u16),
        }
    }
    match status_error(status, has_status_check) {
        Some(e) => (Some(e), Vec::new()),
        None => (None, failed_checks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_outside_100_to_599_are_errors_even_with_a_status_check() {
        for (status, checked, want) in [
            (200, false, None),
            (304, false, None),
            (404, false, Some(ErrorKind::Http4xx)),
            (404, true, None),
            (503, false, Some(ErrorKind::Http5xx)),
            (101, false, Some(ErrorKind::HttpOther)),
            (600, false, Some(ErrorKind::HttpOther)),
            (600, true, Some(ErrorKind::HttpOther)),
            (999, false, Some(ErrorKind::HttpOther)),
        ] {
            assert_eq!(status_error(status, checked), want, "{status} {checked}");
        }
        assert_eq!(status_detail(503), "HTTP 503");
        assert!(status_detail(999).contains("not a valid status"));
    }
}
