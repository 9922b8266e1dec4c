//! Batch steps (`batch:`): several requests sent at once over the user's client (its
//! connections and cookie jar, as a page's assets go), or with `http_version: 2` as
//! streams of the user's own HTTP/2 connection, like k6's `http.batch`.
//!
//! Each request is built first (with the user's variables as they are before the batch),
//! then all go out together; once every one has ended they are judged in the order
//! written (checks, extracts into the user's variables, custom metrics), each recorded
//! in its own cell (its step name's). The batch's own cell (method [`BATCH_METHOD`],
//! carrying the step's tags) gets one sample per batch: from the first send to the end
//! of the last response (from the iteration's intended start in the open model), failed
//! with the first error of its requests.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::metrics::{ErrorKind, Sample};
use crate::scenario::BatchPlan;

use super::http::{self, Concurrent};
use super::user::{StepEnd, Timing, UserState, co_interval_us, micros, note_wait};
use super::{RunCtx, StopLevel};

/// Lay out a batch step's own cell; its id.
pub(super) fn add_cell(
    cells: &mut Vec<crate::metrics::CellInfo>,
    tags: &mut std::collections::HashSet<String>,
    scenario: &str,
    step: &crate::scenario::StepPlan,
) -> usize {
    super::context::other_cell(
        cells,
        tags,
        scenario,
        &step.name,
        crate::metrics::BATCH_METHOD,
        &step.tags,
    )
}

/// Send a batch's requests at once, record each and the whole (in `cell`).
pub(super) async fn run(
    ctx: &RunCtx,
    cell: usize,
    batch: &BatchPlan,
    st: &mut UserState,
    timing: Timing,
) -> StepEnd {
    let scenario = st.scenario;
    let multiplex = st.http.as_ref().is_some_and(|h| h.multiplexes());
    // No client when the requests are streams of the user's HTTP/2 connection.
    let client = st.http.as_mut().map(|h| {
        if multiplex {
            Ok(None)
        } else {
            h.client().map(Some)
        }
    });
    let client = match client {
        None => return StepEnd::Gone,
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            if ctx.record {
                ctx.recorder
                    .record(&Sample::failed(cell, ErrorKind::Request));
            }
            ctx.note_error(cell, ErrorKind::Request, &e.to_string());
            return StepEnd::Done;
        }
    };
    let mut reqs = Vec::with_capacity(batch.requests.len());
    for r in &batch.requests {
        let rcell = ctx.named.request(scenario, &r.name).unwrap_or(cell);
        match http::build_request(
            &ctx.base_url,
            &ctx.plan.defaults,
            r,
            &st.vars,
            &mut st.rng,
            &mut st.buf,
        ) {
            Ok(req) => reqs.push((r, rcell, req)),
            Err(detail) => {
                if ctx.record {
                    ctx.recorder
                        .record(&Sample::failed(rcell, ErrorKind::Template));
                    ctx.recorder
                        .record(&Sample::failed(cell, ErrorKind::Template));
                }
                ctx.note_error(rcell, ErrorKind::Template, &detail);
                return StepEnd::NotBuilt;
            }
        }
    }
    let names = ctx.recorder.server_timing_names();
    let start = Instant::now();
    let via = match (&client, st.http.as_ref()) {
        (Some(c), _) => Concurrent::Client(c),
        (None, Some(h)) => Concurrent::H2(h),
        (None, None) => return StepEnd::Gone,
    };
    let sends = reqs.into_iter().map(|(r, rcell, req)| async move {
        let x = http::exchange(&mut via.via(), req, r, names).await;
        (r, rcell, x)
    });
    let done = tokio::select! {
        d = futures::future::join_all(sends) => d,
        _ = ctx.wait_for(StopLevel::Hard) => {
            ctx.cut_off.fetch_add(1, Ordering::Relaxed);
            return StepEnd::Gone;
        }
    };
    let mut end = start;
    let mut error: Option<ErrorKind> = None;
    let mut answered = true;
    for (r, rcell, x) in done {
        let o = http::conclude(x, r, &mut st.vars);
        end = end.max(o.sent + std::time::Duration::from_micros(o.elapsed_us));
        answered &= o.service_us.is_some();
        if error.is_none() {
            error = o.error;
        }
        if ctx.record {
            let response_us = match (o.service_us, o.error) {
                (Some(_), _) | (None, Some(ErrorKind::Timeout)) => Some(o.elapsed_us),
                _ => None,
            };
            ctx.recorder.record(&Sample {
                cell: rcell,
                response_us,
                service_us: o.service_us,
                co_interval_us: None,
                error: o.error,
                failed_checks: &o.failed_checks,
                bytes: o.bytes,
                meta: Some(&o.meta),
            });
        }
        if let (Some(kind), Some(detail)) = (o.error, o.detail.as_deref()) {
            ctx.note_error(rcell, kind, detail);
        }
        super::record::record_values(ctx, scenario, r, &o.records);
    }
    let service = micros(end.saturating_duration_since(start));
    if ctx.record {
        let waited = service
            + timing
                .intended()
                .map_or(0, |t| micros(start.saturating_duration_since(t)));
        let took = (answered || error == Some(ErrorKind::Timeout)).then_some(waited);
        ctx.recorder.record(&Sample {
            cell,
            response_us: took,
            service_us: answered.then_some(service),
            co_interval_us: co_interval_us(ctx, st, timing),
            error,
            failed_checks: &[],
            bytes: 0,
            meta: None,
        });
    }
    note_wait(ctx, cell, timing, start, service);
    StepEnd::Done
}
