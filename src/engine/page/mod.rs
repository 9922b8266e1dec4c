//! Page steps (`page:`): the HTML document, then its assets, fetched like a browser does.
//!
//! A page view is one `GET` of the document (an ordinary step request: checks, extracts,
//! `Server-Timing`), then its assets: the ones the step lists, or with `assets: auto` the
//! stylesheets, scripts, images and icons the HTML links, found with a WHATWG HTML
//! tokenizer (`html5gum`) and resolved against the document's URL (or its `<base href>`).
//! The assets go out concurrently, at most six at a time per host (as browsers do; the
//! user's client keeps those connections for the next view), with the user's cookies.
//! With `cache: true` each user keeps its assets in a browser-like cache.
//!
//! Each page step has three cells: the page itself (one sample per view: from the start of
//! the document to the end of the last asset; method [`PAGE_METHOD`], carrying the step's
//! tags), `NAME (document)` (the document's request, with the step's checks) and
//! `NAME (assets)` (one sample per asset request).
//!
//! `cells.rs` lays those cells out, `assets.rs` finds and fetches the assets, `cache.rs`
//! is the user's cache; this file loads one page view and records it.

mod assets;
mod cache;
mod cells;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::header::{CONTENT_TYPE, HeaderMap};
use url::Url;

use crate::metrics::{ErrorKind, ResponseMeta, Sample};
use crate::scenario::{PageAssets, PagePlan, StepPlan};

use super::RunCtx;
use super::http::{Concurrent, Document};
use super::user::{
    NotSent, StepEnd, Timing, UserState, co_interval_us, micros, note_wait, send_step,
};
use assets::{AssetDone, AssetReq, fetch_all, find_assets, is_html};
use cache::Lookup;

pub(super) use cache::AssetCache;
pub(super) use cells::{PageCells, add_cells, cell_for, cell_pairs, request_cell, sub_cells};

/// Load one page: the document (recorded in its cell like any step), its assets (each
/// recorded in the assets cell), then the page view itself in `cell` (which is what the
/// page step's `timing` applies to).
pub(super) async fn run(
    ctx: &RunCtx,
    cell: usize,
    step: &StepPlan,
    page: &PagePlan,
    st: &mut UserState,
    timing: Timing,
) -> StepEnd {
    let Some(cells) = ctx.page_cells.get(cell).copied().flatten() else {
        return StepEnd::Gone;
    };
    // The document is timed like the page in the open model (from the intended start);
    // in the closed model the page view carries the user's pace.
    let doc_timing = match timing {
        Timing::Open(_) => timing,
        _ => Timing::Once,
    };
    let doc = match send_step(ctx, cells.document, step, st, doc_timing).await {
        Ok(doc) => doc,
        Err(NotSent::NotBuilt) => {
            // Recorded on the document; the page view failed with it.
            if ctx.record {
                record_page(ctx, cell, st, timing, None, Some(ErrorKind::Template), 0);
            }
            return StepEnd::NotBuilt;
        }
        Err(NotSent::Gone) => return StepEnd::Gone,
    };
    let intended = timing.intended();
    let start = intended.unwrap_or(doc.sent);
    let mut view = View {
        end: doc.sent + Duration::from_micros(doc.elapsed_us),
        bytes: doc.bytes,
        error: doc.error,
    };
    let document = doc
        .document
        .as_ref()
        .filter(|d| (200..300).contains(&d.status));
    // The assets go out at once: as streams of the user's own HTTP/2 connection, or over
    // the user's client (several HTTP/1.1 connections), sharing the user's cookie jar.
    let multiplex = st.http.as_ref().is_some_and(|h| h.multiplexes());
    let client = match st.http.as_mut().filter(|_| !multiplex).map(|h| h.client()) {
        None if multiplex && st.http.is_some() => Some(None),
        Some(Ok(c)) => Some(Some(c)),
        Some(Err(e)) => {
            ctx.note_error(cells.assets, ErrorKind::Request, &e.to_string());
            view.error.get_or_insert(ErrorKind::Request);
            None
        }
        None => None,
    };
    if let (None, Some(d), Some(client)) = (view.error, document, client) {
        let urls = asset_urls(ctx, (cell, cells), page, d, st, &mut view.error);
        let reqs = ask_cache(page, st, urls);
        let via = match (&client, st.http.as_ref()) {
            (Some(c), _) => Concurrent::Client(c),
            (None, Some(h)) => Concurrent::H2(h),
            (None, None) => return StepEnd::Gone,
        };
        let Some(done) = fetch_all(ctx, via, &reqs, step).await else {
            ctx.cut_off.fetch_add(1, Ordering::Relaxed);
            return StepEnd::Gone;
        };
        for (r, a) in reqs.iter().zip(&done) {
            view.add_asset(ctx, cells.assets, a);
            if page.cache
                && let Some(status) = a.status
            {
                st.cache.store(r.url.as_str(), status, &a.headers, a.end);
            }
        }
    }
    let service = doc
        .service_us
        .map(|_| micros(view.end.saturating_duration_since(doc.sent)));
    if ctx.record {
        let times = service.map(|s| (micros(view.end.saturating_duration_since(start)), s));
        record_page(ctx, cell, st, timing, times, view.error, view.bytes);
    }
    if let Some(service) = service {
        note_wait(ctx, cell, timing, doc.sent, service);
    } else if doc.error == Some(ErrorKind::Timeout) {
        note_wait(ctx, cell, timing, doc.sent, doc.elapsed_us);
    }
    StepEnd::Done
}

/// A page view so far: when its last response ended, its bytes, its first error.
struct View {
    end: Instant,
    bytes: u64,
    error: Option<ErrorKind>,
}

impl View {
    /// Count an asset's answer in the view, and record it in the assets cell.
    fn add_asset(&mut self, ctx: &RunCtx, assets_cell: usize, a: &AssetDone) {
        self.end = self.end.max(a.end);
        self.bytes += a.bytes;
        if ctx.record {
            let us = micros(a.end.saturating_duration_since(a.sent));
            let took = a.status.map(|_| us);
            record_asset(ctx, assets_cell, took, a.error, a.bytes, Some(&a.meta));
        }
        if let (Some(kind), Some(detail)) = (a.error, a.detail.as_deref()) {
            ctx.note_error(assets_cell, kind, detail);
            self.error.get_or_insert(kind);
        }
    }
}

/// The asset URLs of document `d`: the step's list (rendered with the user's variables)
/// or, with `assets: auto`, those its HTML links. An error (a document that is not HTML,
/// a URL that does not render) is noted in its cell (the page's, the assets') and kept in
/// `error`.
fn asset_urls(
    ctx: &RunCtx,
    (cell, cells): (usize, PageCells),
    page: &PagePlan,
    d: &Document,
    st: &mut UserState,
    error: &mut Option<ErrorKind>,
) -> Vec<Url> {
    match &page.assets {
        PageAssets::None => Vec::new(),
        PageAssets::Auto => {
            let ct = d.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if ct.is_some_and(|ct| !is_html(ct)) {
                let detail = format!(
                    "GET {}: not an HTML page (content-type {}): no assets to find",
                    d.url,
                    ct.unwrap_or_default()
                );
                ctx.note_error(cell, ErrorKind::Body, &detail);
                *error = Some(ErrorKind::Body);
                Vec::new()
            } else {
                find_assets(&d.body, &d.url, &page.other_hosts)
            }
        }
        PageAssets::List(list) => {
            let mut out: Vec<Url> = Vec::with_capacity(list.len());
            for t in list {
                let rendered = t
                    .render(&st.vars, &mut st.rng)
                    .map_err(|e| e.to_string())
                    .and_then(|s| d.url.join(&s).map_err(|e| format!("bad URL {s:?}: {e}")));
                match rendered {
                    Ok(mut u) => {
                        u.set_fragment(None);
                        if !out.contains(&u) {
                            out.push(u);
                        }
                    }
                    Err(detail) => {
                        if ctx.record {
                            let t = Some(ErrorKind::Template);
                            record_asset(ctx, cells.assets, None, t, 0, None);
                        }
                        ctx.note_error(cells.assets, ErrorKind::Template, &detail);
                        error.get_or_insert(ErrorKind::Template);
                    }
                }
            }
            out
        }
    }
}

/// The requests for `urls`: with `cache: true`, none for a fresh asset and a conditional
/// one for a stale asset with validators.
fn ask_cache(page: &PagePlan, st: &UserState, urls: Vec<Url>) -> Vec<AssetReq> {
    let now = Instant::now();
    let mut reqs = Vec::with_capacity(urls.len());
    for url in urls {
        let conditional = if page.cache {
            match st.cache.lookup(url.as_str(), now) {
                Lookup::Fresh => continue,
                Lookup::Revalidate(h) => h,
                Lookup::Miss => HeaderMap::new(),
            }
        } else {
            HeaderMap::new()
        };
        reqs.push(AssetReq { url, conditional });
    }
    reqs
}

/// One asset request's sample: response time = service time (the page carries the wait).
fn record_asset(
    ctx: &RunCtx,
    cell: usize,
    us: Option<u64>,
    error: Option<ErrorKind>,
    bytes: u64,
    meta: Option<&ResponseMeta>,
) {
    ctx.recorder.record(&Sample {
        cell,
        response_us: us,
        service_us: us,
        co_interval_us: None,
        error,
        failed_checks: &[],
        bytes,
        meta,
    });
}

/// The page view's sample: `times` are its response and service times, when the document
/// came.
fn record_page(
    ctx: &RunCtx,
    cell: usize,
    st: &UserState,
    timing: Timing,
    times: Option<(u64, u64)>,
    error: Option<ErrorKind>,
    bytes: u64,
) {
    ctx.recorder.record(&Sample {
        cell,
        response_us: times.map(|t| t.0),
        service_us: times.map(|t| t.1),
        co_interval_us: co_interval_us(ctx, st, timing),
        error,
        failed_checks: &[],
        bytes,
        meta: None,
    });
}
