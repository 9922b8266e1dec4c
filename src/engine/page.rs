//! Page steps (`page:`): the HTML document, then its assets, fetched like a browser does.
//!
//! A page view is one `GET` of the document (an ordinary step request: checks, extracts,
//! `Server-Timing`), then its assets: the ones the step lists, or with `assets: auto` the
//! stylesheets, scripts, images and icons the HTML links, found with a WHATWG HTML
//! tokenizer (`html5gum`) and resolved against the document's URL (or its `<base href>`).
//! The assets go out concurrently, at most [`MAX_PER_HOST`] at a time per host (as
//! browsers do; the user's client keeps those connections for the next view), with the
//! user's cookies. With `cache: true` each user keeps its assets in a browser-like cache.
//!
//! Each page step has three cells: the page itself (one sample per view: from the start of
//! the document to the end of the last asset; method [`PAGE_METHOD`], carrying the step's
//! tags), `NAME (document)` (the document's request, with the step's checks) and
//! `NAME (assets)` (one sample per asset request).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED,
};
use tokio::sync::Semaphore;

use crate::metrics::{
    CellInfo, ErrorKind, PAGE_METHOD, ResponseMeta, Sample, ServerTimingNames, store,
};
use crate::scenario::{DEFAULT_MAX_REDIRECTS, OtherHosts, PageAssets, PagePlan, StepPlan};

use super::http::{Req, Via, send, status_detail, status_error};
use super::user::{NotSent, StepEnd, Timing, UserState, co_interval_us, note_wait, send_step};
use super::{RunCtx, StopLevel};

/// Requests a user has in flight to one host while loading a page, as browsers allow.
pub const MAX_PER_HOST: usize = 6;
/// Assets a user's cache holds at most; past that an entry is dropped for each new one.
const CACHE_ENTRIES: usize = 512;

/// The cells of a page step besides its page-load cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PageCells {
    pub document: usize,
    pub assets: usize,
}

fn document_name(step: &str) -> String {
    format!("{step} (document)")
}

fn assets_name(step: &str) -> String {
    format!("{step} (assets)")
}

/// The cell named `name` in `scenario`, or a new one.
fn cell_for(
    cells: &mut Vec<CellInfo>,
    scenario: &str,
    name: String,
    method: &str,
    checks: Vec<String>,
    tags: &[String],
) -> usize {
    if let Some(c) = cells
        .iter_mut()
        .find(|c| c.scenario == scenario && c.step == name)
    {
        for t in tags {
            if !c.tags.contains(t) {
                c.tags.push(t.clone());
            }
        }
        return c.id;
    }
    let id = cells.len();
    let mut tag = store::sanitize(&format!("{scenario}/{name}"));
    if cells.iter().any(|c| c.tag == tag) {
        tag = format!("{tag}.{id}");
    }
    cells.push(CellInfo {
        id,
        scenario: scenario.to_string(),
        step: name,
        method: method.to_string(),
        tag,
        checks,
        tags: tags.to_vec(),
    });
    id
}

/// Lay out a page step's cells (page, document, assets, in that order); returns the page
/// cell's id. Steps of the same name in one scenario share them.
pub(super) fn add_cells(cells: &mut Vec<CellInfo>, scenario: &str, step: &StepPlan) -> usize {
    let page = cell_for(
        cells,
        scenario,
        step.name.clone(),
        PAGE_METHOD,
        Vec::new(),
        &step.tags,
    );
    let mut checks: Vec<String> = step.checks.iter().map(|c| c.label.clone()).collect();
    checks.extend(step.extracts.iter().map(|x| format!("extract {}", x.name)));
    let method = step.method.as_str();
    cell_for(
        cells,
        scenario,
        document_name(&step.name),
        method,
        checks,
        &[],
    );
    cell_for(
        cells,
        scenario,
        assets_name(&step.name),
        method,
        Vec::new(),
        &[],
    );
    page
}

/// The document and assets cells of every page cell, by cell id.
pub(super) fn sub_cells(cells: &[CellInfo]) -> Vec<Option<PageCells>> {
    let find = |scenario: &str, name: String| {
        cells
            .iter()
            .find(|c| c.scenario == scenario && c.step == name)
            .map(|c| c.id)
    };
    cells
        .iter()
        .map(|c| {
            if !c.is_page() {
                return None;
            }
            Some(PageCells {
                document: find(&c.scenario, document_name(&c.step))?,
                assets: find(&c.scenario, assets_name(&c.step))?,
            })
        })
        .collect()
}

/// The cell a step's request counts in: a page step's document cell (a page view is not a
/// request), else `cell` itself.
pub(super) fn request_cell(ctx: &RunCtx, cell: usize) -> usize {
    ctx.page_cells
        .get(cell)
        .copied()
        .flatten()
        .map_or(cell, |p| p.document)
}

/// One user's asset cache (`cache: true`), by absolute URL.
#[derive(Debug, Clone, Default)]
pub(super) struct AssetCache {
    entries: HashMap<String, CacheEntry>,
}

#[derive(Debug, Clone)]
struct CacheEntry {
    /// Until when the asset may be used without asking (`max-age`); `None`: ask every time.
    fresh_until: Option<Instant>,
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

/// What the cache says about an asset a page needs.
#[derive(Debug, PartialEq)]
enum Lookup {
    /// Fresh: no request.
    Fresh,
    /// Stale but with validators: ask with these conditional headers (a 304 keeps it).
    Revalidate(HeaderMap),
    /// Not cached: fetch it.
    Miss,
}

/// `max-age` in seconds, and whether `no-store` / `no-cache` were given.
fn cache_control(headers: &HeaderMap) -> (Option<u64>, bool, bool) {
    let (mut max_age, mut no_store, mut no_cache) = (None, false, false);
    for v in headers.get_all(CACHE_CONTROL) {
        let Ok(v) = v.to_str() else { continue };
        for d in v.split(',') {
            let d = d.trim();
            let (name, value) = match d.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (d, None),
            };
            if name.eq_ignore_ascii_case("no-store") {
                no_store = true;
            } else if name.eq_ignore_ascii_case("no-cache") {
                no_cache = true;
            } else if name.eq_ignore_ascii_case("max-age")
                && let Some(n) = value.and_then(|v| v.parse::<u64>().ok())
            {
                // The first max-age counts; a huge one is as good as a year.
                max_age.get_or_insert(n.min(366 * 24 * 3600));
            }
        }
    }
    (max_age, no_store, no_cache)
}

impl AssetCache {
    fn lookup(&self, url: &str, now: Instant) -> Lookup {
        let Some(e) = self.entries.get(url) else {
            return Lookup::Miss;
        };
        if e.fresh_until.is_some_and(|t| now < t) {
            return Lookup::Fresh;
        }
        let mut h = HeaderMap::new();
        if let Some(v) = &e.etag {
            h.insert(IF_NONE_MATCH, v.clone());
        }
        if let Some(v) = &e.last_modified {
            h.insert(IF_MODIFIED_SINCE, v.clone());
        }
        if h.is_empty() {
            Lookup::Miss
        } else {
            Lookup::Revalidate(h)
        }
    }

    /// Keep (or drop) an asset after a response with `status` and `headers`.
    fn store(&mut self, url: &str, status: u16, headers: &HeaderMap, now: Instant) {
        let (max_age, no_store, no_cache) = cache_control(headers);
        if no_store || !matches!(status, 200 | 203 | 304) {
            self.entries.remove(url);
            return;
        }
        let fresh_until = max_age
            .filter(|_| !no_cache)
            .map(|s| now + Duration::from_secs(s));
        let etag = headers.get(ETAG).cloned();
        let last_modified = headers.get(LAST_MODIFIED).cloned();
        if status == 304 {
            // The stored copy is still good: refresh what the 304 says.
            if let Some(e) = self.entries.get_mut(url) {
                if max_age.is_some() || no_cache {
                    e.fresh_until = fresh_until;
                }
                if etag.is_some() {
                    e.etag = etag;
                }
                if last_modified.is_some() {
                    e.last_modified = last_modified;
                }
            }
            return;
        }
        if fresh_until.is_none() && etag.is_none() && last_modified.is_none() {
            // Nothing to reuse it by (no heuristic freshness).
            self.entries.remove(url);
            return;
        }
        if self.entries.len() >= CACHE_ENTRIES
            && !self.entries.contains_key(url)
            && let Some(k) = self.entries.keys().next().cloned()
        {
            self.entries.remove(&k);
        }
        self.entries.insert(
            url.to_string(),
            CacheEntry {
                fresh_until,
                etag,
                last_modified,
            },
        );
    }
}

/// `host` and `host:port` of a URL, lower case.
fn host_keys(u: &Url) -> Option<(String, String)> {
    let host = u.host_str()?.to_ascii_lowercase();
    let port = u.port_or_known_default().unwrap_or(0);
    Some((host.clone(), format!("{host}:{port}")))
}

/// May an asset at `u` be fetched for a document at `doc`?
fn host_allowed(u: &Url, doc: &Url, other: &OtherHosts) -> bool {
    let (Some(a), Some(d)) = (host_keys(u), host_keys(doc)) else {
        return false;
    };
    if a.1 == d.1 {
        return true;
    }
    match other {
        OtherHosts::None => false,
        OtherHosts::Any => true,
        OtherHosts::Only(list) => list.iter().any(|h| *h == a.0 || *h == a.1),
    }
}

/// The asset URLs an HTML document links, in document order, deduplicated: stylesheets
/// (`<link rel=stylesheet>`, not `alternate`), icons (`rel` `icon`, `shortcut icon`,
/// `apple-touch-icon`), preloads (`rel` `preload` and `modulepreload`), scripts
/// (`<script src>` of a JavaScript or module type, not `nomodule`), images (`<img src>`,
/// else the first `srcset` candidate). Nothing inside `<template>`; `<noscript>` is text,
/// as in a browser with scripts on. Relative URLs resolve against the first
/// `<base href>`, else `doc`; only http(s) URLs on `doc`'s host (or allowed `other`
/// hosts) are kept, without fragments.
pub(super) fn find_assets(html: &[u8], doc: &Url, other: &OtherHosts) -> Vec<Url> {
    use html5gum::{DefaultEmitter, Token, Tokenizer};
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut raw: Vec<String> = Vec::new();
    let mut base: Option<String> = None;
    let mut in_template = 0usize;
    for token in Tokenizer::new_with_emitter(html, emitter) {
        let tag = match token {
            Ok(Token::StartTag(t)) => t,
            Ok(Token::EndTag(t)) => {
                if &*t.name == b"template" {
                    in_template = in_template.saturating_sub(1);
                }
                continue;
            }
            _ => continue,
        };
        let name: &[u8] = &tag.name;
        if name == b"template" {
            if !tag.self_closing {
                in_template += 1;
            }
            continue;
        }
        if in_template > 0 {
            continue;
        }
        let attr = |k: &str| -> Option<String> {
            tag.attributes
                .get(k.as_bytes())
                .map(|v| String::from_utf8_lossy(&v.value).into_owned())
        };
        match name {
            b"base" if base.is_none() => base = attr("href"),
            b"link" => {
                let rel = attr("rel").unwrap_or_default().to_ascii_lowercase();
                let rels: Vec<&str> = rel.split_ascii_whitespace().collect();
                let wanted = (rels.contains(&"stylesheet") && !rels.contains(&"alternate"))
                    || rels.iter().any(|r| {
                        matches!(
                            *r,
                            "icon"
                                | "apple-touch-icon"
                                | "apple-touch-icon-precomposed"
                                | "preload"
                                | "modulepreload"
                        )
                    });
                if wanted && let Some(h) = attr("href") {
                    raw.push(h);
                }
            }
            b"script" => {
                let ty = attr("type").unwrap_or_default().trim().to_ascii_lowercase();
                let js = ty.is_empty()
                    || ty == "module"
                    || ty.contains("javascript")
                    || ty.contains("ecmascript");
                if js
                    && attr("nomodule").is_none()
                    && let Some(src) = attr("src")
                {
                    raw.push(src);
                }
            }
            b"img" => {
                let src = attr("src").filter(|s| !s.trim().is_empty()).or_else(|| {
                    attr("srcset").and_then(|s| {
                        s.split_ascii_whitespace()
                            .next()
                            .map(|c| c.trim_end_matches(',').to_string())
                    })
                });
                if let Some(src) = src {
                    raw.push(src);
                }
            }
            _ => {}
        }
    }
    let base = base
        .and_then(|b| doc.join(b.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .unwrap_or_else(|| doc.clone());
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in raw {
        let r = r.trim();
        if r.is_empty() {
            continue;
        }
        let Ok(mut u) = base.join(r) else { continue };
        if !matches!(u.scheme(), "http" | "https") || !host_allowed(&u, doc, other) {
            continue;
        }
        u.set_fragment(None);
        if seen.insert(u.as_str().to_string()) {
            out.push(u);
        }
    }
    out
}

/// An asset to request: its URL and conditional headers from the cache.
struct AssetReq {
    url: Url,
    conditional: HeaderMap,
}

/// How one asset request ended.
struct AssetDone {
    sent: Instant,
    end: Instant,
    status: Option<u16>,
    headers: HeaderMap,
    error: Option<ErrorKind>,
    detail: Option<String>,
    bytes: u64,
    /// Server-Timing entries, redirects and HTTP version.
    meta: ResponseMeta,
}

/// Send one asset request (after taking a connection slot of its host), following
/// redirects as the step does, and read its body.
async fn fetch(
    client: &reqwest::Client,
    req: &AssetReq,
    slots: &Semaphore,
    step: &StepPlan,
    names: &ServerTimingNames,
) -> AssetDone {
    let _slot = slots.acquire().await;
    let sent = Instant::now();
    let mut meta = ResponseMeta::default();
    let mut bytes = 0u64;
    let failed = |kind: ErrorKind, detail: String, bytes: u64, meta: ResponseMeta| AssetDone {
        sent,
        end: Instant::now(),
        status: None,
        headers: HeaderMap::new(),
        error: Some(kind),
        detail: Some(format!("GET {}: {detail}", req.url)),
        bytes,
        meta,
    };
    let mut built = Req {
        method: reqwest::Method::GET,
        url: req.url.clone(),
        headers: req.conditional.clone(),
        body: None,
        timeout: step.timeout,
    };
    let redirects = step.follow_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS);
    let mut via = Via::Client(client);
    let mut resp = match send(&mut via, &mut built, redirects, &mut meta, &mut bytes).await {
        Ok(r) => r,
        Err(e) => return failed(e.kind, e.detail, bytes, meta),
    };
    meta.protocol = Some(super::http::protocol(resp.version));
    for v in resp.headers.get_all("server-timing") {
        meta.server_timing.add_header(v.as_bytes(), names);
    }
    let status = resp.status.as_u16();
    let mut headers = HeaderMap::new();
    for name in [CACHE_CONTROL, ETAG, LAST_MODIFIED] {
        for v in resp.headers.get_all(&name) {
            headers.append(name.clone(), v.clone());
        }
    }
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => bytes += c.len() as u64,
            Ok(None) => break,
            Err(e) => return failed(e.kind, e.detail, bytes, meta),
        }
    }
    let error = status_error(status, false);
    AssetDone {
        sent,
        end: Instant::now(),
        status: Some(status),
        headers,
        error,
        detail: error.map(|_| format!("GET {}: {}", req.url, status_detail(status))),
        bytes,
        meta,
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// Is `ct` (a `Content-Type` value) HTML?
fn is_html(ct: &str) -> bool {
    let ct = ct.trim().to_ascii_lowercase();
    ct.starts_with("text/html") || ct.starts_with("application/xhtml+xml")
}

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
    let mut end = doc.sent + Duration::from_micros(doc.elapsed_us);
    let mut bytes = doc.bytes;
    let mut error = doc.error;
    let document = doc
        .document
        .as_ref()
        .filter(|d| (200..300).contains(&d.status));
    // The assets go over the user's client: several connections at once, sharing the
    // user's cookie jar.
    let client = match st.http.as_mut().map(|h| h.client()) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            ctx.note_error(cells.assets, ErrorKind::Request, &e.to_string());
            error.get_or_insert(ErrorKind::Request);
            None
        }
        None => None,
    };
    if let (None, Some(d), Some(client)) = (error, document, client) {
        let urls = match &page.assets {
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
                    error = Some(ErrorKind::Body);
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
        };
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
        // One set of connection slots per host for this view: a user loads one page at a
        // time, so these are the user's (its client reuses the connections next time).
        let mut hosts: HashMap<String, Semaphore> = HashMap::new();
        for r in &reqs {
            let key = host_keys(&r.url).map(|k| k.1).unwrap_or_default();
            hosts
                .entry(key)
                .or_insert_with(|| Semaphore::new(MAX_PER_HOST));
        }
        let names = ctx.recorder.server_timing_names();
        let fetches = reqs.iter().map(|r| {
            let key = host_keys(&r.url).map(|k| k.1).unwrap_or_default();
            fetch(&client, r, &hosts[&key], step, names)
        });
        let done = tokio::select! {
            d = futures::future::join_all(fetches) => d,
            _ = ctx.wait_for(StopLevel::Hard) => {
                ctx.cut_off.fetch_add(1, Ordering::Relaxed);
                return StepEnd::Gone;
            }
        };
        for (r, a) in reqs.iter().zip(&done) {
            end = end.max(a.end);
            bytes += a.bytes;
            if page.cache
                && let Some(status) = a.status
            {
                st.cache.store(r.url.as_str(), status, &a.headers, a.end);
            }
            if ctx.record {
                let us = micros(a.end.saturating_duration_since(a.sent));
                let took = a.status.map(|_| us);
                record_asset(ctx, cells.assets, took, a.error, a.bytes, Some(&a.meta));
            }
            if let (Some(kind), Some(detail)) = (a.error, a.detail.as_deref()) {
                ctx.note_error(cells.assets, kind, detail);
                error.get_or_insert(kind);
            }
        }
    }
    let service = doc
        .service_us
        .map(|_| micros(end.saturating_duration_since(doc.sent)));
    if ctx.record {
        let times = service.map(|s| (micros(end.saturating_duration_since(start)), s));
        record_page(ctx, cell, st, timing, times, error, bytes);
    }
    if let Some(service) = service {
        note_wait(ctx, cell, timing, doc.sent, service);
    } else if doc.error == Some(ErrorKind::Timeout) {
        note_wait(ctx, cell, timing, doc.sent, doc.elapsed_us);
    }
    StepEnd::Done
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn found(html: &str, doc: &str, other: &OtherHosts) -> Vec<String> {
        find_assets(html.as_bytes(), &url(doc), other)
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn finds_stylesheets_scripts_images_and_icons_in_order() {
        let html = r#"<!doctype html><html><head>
            <link rel="icon" href="/favicon.ico">
            <link rel="Stylesheet" href="css/app.css?v=1#x">
            <link rel="alternate stylesheet" href="/alt.css">
            <link rel="canonical" href="/other">
            <link rel="apple-touch-icon" href="/touch.png">
            <link rel="preload" href="/font.woff2" as="font">
            <script src="/js/app.js" defer></script>
            <script>var s = '<img src="/not-an-image.png">';</script>
            <script type="application/ld+json" src="/data.json"></script>
            <script nomodule src="/legacy.js"></script>
            <script type="module" src="./mod.js"></script>
            <style>.x { background: url(/bg.png) }</style>
            </head><body>
            <!-- <img src="/commented.png"> -->
            <img src="../img/logo.svg" alt="">
            <img srcset="/hero-1x.jpg 1x, /hero-2x.jpg 2x">
            <img src="/js/app.js">
            <noscript><img src="/pixel.gif"></noscript>
            <template><img src="/later.png"></template>
            <a href="/page2">not an asset</a>
            <img src="data:image/png;base64,AAAA">
            <IMG SRC = '/upper.png' >
            <img src="/a&amp;b.png">
            </body></html>"#;
        let got = found(html, "http://h:8080/shop/index.html", &OtherHosts::None);
        assert_eq!(
            got,
            [
                "http://h:8080/favicon.ico",
                "http://h:8080/shop/css/app.css?v=1",
                "http://h:8080/touch.png",
                "http://h:8080/font.woff2",
                "http://h:8080/js/app.js",
                "http://h:8080/shop/mod.js",
                "http://h:8080/img/logo.svg",
                "http://h:8080/hero-1x.jpg",
                "http://h:8080/upper.png",
                "http://h:8080/a&b.png",
            ]
        );
    }

    #[test]
    fn base_href_and_other_hosts() {
        let html = r#"<head><base href="https://cdn.example.com/v2/">
            <link rel=stylesheet href=site.css>
            <script src="//h/app.js"></script>
            <img src="http://img.example.com:8081/x.png">
            <base href="/ignored/"></head>"#;
        let doc = "https://h/";
        assert_eq!(found(html, doc, &OtherHosts::None), ["https://h/app.js"]);
        assert_eq!(
            found(html, doc, &OtherHosts::Any),
            [
                "https://cdn.example.com/v2/site.css",
                "https://h/app.js",
                "http://img.example.com:8081/x.png",
            ]
        );
        let only = OtherHosts::Only(vec!["cdn.example.com".into(), "img.example.com:9".into()]);
        assert_eq!(
            found(html, doc, &only),
            ["https://cdn.example.com/v2/site.css", "https://h/app.js"]
        );
        // Same host name on another port is another host.
        assert!(
            found(
                "<img src='http://h:81/a.png'>",
                "http://h/",
                &OtherHosts::None
            )
            .is_empty()
        );
    }

    #[test]
    fn garbage_and_empty_pages_find_nothing_without_panicking() {
        for html in [
            "",
            "<",
            "<<<>>>",
            "<img src=",
            "<link rel=stylesheet href",
            "\u{0}\u{ffff}<script src='/x.js'",
            "<template><template></template><img src=/a.png>",
        ] {
            let _ = found(html, "http://h/", &OtherHosts::None);
        }
        let bytes = [
            0xff, 0xfe, b'<', b'i', b'm', b'g', b' ', b's', b'r', b'c', b'=', b'/', b'a', b'>',
        ];
        // Bytes that are not UTF-8 are read as replacement characters, not refused.
        let got = find_assets(&bytes, &url("http://h/"), &OtherHosts::None);
        assert_eq!(got.len(), 1);
        // A tag cut off by the end of the document is dropped, as by a browser.
        assert!(found("<img src=/a.png", "http://h/", &OtherHosts::None).is_empty());
        // After the nested template closes, the image counts again.
        assert_eq!(
            found(
                "<template><template></template></template><img src=/b.png>",
                "http://h/",
                &OtherHosts::None
            ),
            ["http://h/b.png"]
        );
    }

    #[test]
    fn cache_follows_max_age_no_store_and_validators() {
        let t0 = Instant::now();
        let mut c = AssetCache::default();
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.append(
                    reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            m
        };
        let u = "http://h/a.css";
        assert_eq!(c.lookup(u, t0), Lookup::Miss);
        c.store(
            u,
            200,
            &h(&[("cache-control", "public, max-age=60"), ("etag", "\"v1\"")]),
            t0,
        );
        assert_eq!(c.lookup(u, t0 + Duration::from_secs(59)), Lookup::Fresh);
        let Lookup::Revalidate(cond) = c.lookup(u, t0 + Duration::from_secs(61)) else {
            panic!("stale entries revalidate");
        };
        assert_eq!(cond.get(IF_NONE_MATCH).unwrap(), "\"v1\"");
        // A 304 with a new max-age makes it fresh again.
        c.store(
            u,
            304,
            &h(&[("cache-control", "max-age=10")]),
            t0 + Duration::from_secs(61),
        );
        assert_eq!(c.lookup(u, t0 + Duration::from_secs(70)), Lookup::Fresh);
        // no-cache: always ask, with Last-Modified.
        let v = "http://h/b.js";
        c.store(
            v,
            200,
            &h(&[
                ("cache-control", "no-cache, max-age=600"),
                ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ]),
            t0,
        );
        let Lookup::Revalidate(cond) = c.lookup(v, t0) else {
            panic!("no-cache revalidates");
        };
        assert!(cond.get(IF_MODIFIED_SINCE).is_some() && cond.get(IF_NONE_MATCH).is_none());
        // no-store, errors and responses without anything to reuse are dropped.
        c.store(
            v,
            200,
            &h(&[("cache-control", "no-store"), ("etag", "\"x\"")]),
            t0,
        );
        assert_eq!(c.lookup(v, t0), Lookup::Miss);
        c.store(u, 404, &h(&[("cache-control", "max-age=60")]), t0);
        assert_eq!(c.lookup(u, t0), Lookup::Miss);
        c.store(u, 200, &HeaderMap::new(), t0);
        assert_eq!(c.lookup(u, t0), Lookup::Miss);
        assert_eq!(
            cache_control(&h(&[("cache-control", "max-age=\"5\", MAX-AGE=9")])),
            (Some(5), false, false)
        );
    }

    #[test]
    fn cache_stays_bounded() {
        let t0 = Instant::now();
        let mut c = AssetCache::default();
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
        for i in 0..CACHE_ENTRIES + 50 {
            c.store(&format!("http://h/{i}"), 200, &h, t0);
        }
        assert_eq!(c.entries.len(), CACHE_ENTRIES);
    }

    #[test]
    fn page_cells_are_laid_out_together_and_found_again() {
        let plan = crate::scenario::parse_str(
            "target: http://h\nscenarios:\n  - name: s\n    steps:\n      - get: /a\n      - name: home\n        page: /\n        tags: [page]\n        check: {status: 200}\n        assets: auto\n      - page: /\nload: {users: 1, duration: 1s}\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap();
        let mut cells = Vec::new();
        let steps = &plan.scenarios[0].steps;
        let home = add_cells(&mut cells, "s", &steps[1]);
        let again = add_cells(&mut cells, "s", &steps[1]);
        let other = add_cells(&mut cells, "s", &steps[2]);
        assert_eq!((home, again, other), (0, 0, 3));
        let names: Vec<&str> = cells.iter().map(|c| c.step.as_str()).collect();
        assert_eq!(
            names,
            [
                "home",
                "home (document)",
                "home (assets)",
                "page /",
                "page / (document)",
                "page / (assets)"
            ]
        );
        assert!(cells[0].is_page() && !cells[1].is_page());
        assert_eq!(cells[0].tags, ["page"]);
        assert!(cells[1].tags.is_empty());
        assert_eq!(cells[1].checks, ["status 200"]);
        let sub = sub_cells(&cells);
        assert_eq!(
            sub[0],
            Some(PageCells {
                document: 1,
                assets: 2
            })
        );
        assert_eq!(
            sub[3],
            Some(PageCells {
                document: 4,
                assets: 5
            })
        );
        assert_eq!(sub[1], None);
    }
}
