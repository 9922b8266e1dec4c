//! A page's assets: found in its HTML (a WHATWG tokenizer, `html5gum`), kept to the hosts
//! the step allows, and fetched concurrently as browsers do: over the user's client, at
//! most [`MAX_PER_HOST`] at a time per host (HTTP/1.1), or as streams of the user's one
//! HTTP/2 connection per host, as many at a time as the server allows.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use http::Method;
use http::header::{CACHE_CONTROL, ETAG, HeaderMap, LAST_MODIFIED};
use tokio::sync::Semaphore;
use url::Url;

use crate::engine::http::{Concurrent, Req, fetch, status_detail, status_error};
use crate::engine::{RunCtx, StopLevel};
use crate::metrics::{ErrorKind, ResponseMeta, ServerTimingNames};
use crate::scenario::{DEFAULT_MAX_REDIRECTS, OtherHosts, StepPlan};

/// Requests a user has in flight to one host while loading a page, as browsers allow
/// over HTTP/1.1.
const MAX_PER_HOST: usize = 6;
/// Over HTTP/2 a browser sends them all at once; the server's `SETTINGS_MAX_CONCURRENT_STREAMS`
/// holds back the rest (the connection waits for a free stream). This only bounds a page
/// with thousands of assets.
const MAX_STREAMS_PER_HOST: usize = 256;

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
        if name == b"base" {
            base = base.or_else(|| attr("href"));
        } else if let Some(url) = asset_of(name, attr) {
            raw.push(url);
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

/// The asset URL (as written) a start tag named `name` links, given its attributes:
/// a stylesheet, icon or preload `<link>`, a JavaScript `<script src>` (not `nomodule`),
/// an `<img>` (its `src`, else its first `srcset` candidate).
fn asset_of(name: &[u8], attr: impl Fn(&str) -> Option<String>) -> Option<String> {
    match name {
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
            attr("href").filter(|_| wanted)
        }
        b"script" => {
            let ty = attr("type").unwrap_or_default().trim().to_ascii_lowercase();
            let js = ty.is_empty()
                || ty == "module"
                || ty.contains("javascript")
                || ty.contains("ecmascript");
            attr("src").filter(|_| js && attr("nomodule").is_none())
        }
        b"img" => attr("src").filter(|s| !s.trim().is_empty()).or_else(|| {
            attr("srcset").and_then(|s| {
                s.split_ascii_whitespace()
                    .next()
                    .map(|c| c.trim_end_matches(',').to_string())
            })
        }),
        _ => None,
    }
}

/// An asset to request: its URL and conditional headers from the cache.
pub(super) struct AssetReq {
    pub url: Url,
    pub conditional: HeaderMap,
}

/// How one asset request ended.
pub(super) struct AssetDone {
    pub sent: Instant,
    pub end: Instant,
    pub status: Option<u16>,
    /// The headers the cache keeps an asset by.
    pub headers: HeaderMap,
    pub error: Option<ErrorKind>,
    pub detail: Option<String>,
    pub bytes: u64,
    /// Server-Timing entries, redirects and HTTP version.
    pub meta: ResponseMeta,
}

/// Fetch `reqs` concurrently the user's way (`via`: its client, at most [`MAX_PER_HOST`]
/// at a time per host, or streams of its HTTP/2 connections), following redirects as the
/// step does: how each ended, in order, or `None` when the run stops hard first.
pub(super) async fn fetch_all(
    ctx: &RunCtx,
    via: Concurrent<'_>,
    reqs: &[AssetReq],
    step: &StepPlan,
) -> Option<Vec<AssetDone>> {
    // One set of connection slots per host for this view: a user loads one page at a
    // time, so these are the user's (its client reuses the connections next time).
    let mut hosts: HashMap<String, Semaphore> = HashMap::new();
    let per_host = match via.multiplexed() {
        true => MAX_STREAMS_PER_HOST,
        false => MAX_PER_HOST,
    };
    for r in reqs {
        let key = host_keys(&r.url).map(|k| k.1).unwrap_or_default();
        hosts.entry(key).or_insert_with(|| Semaphore::new(per_host));
    }
    let names = ctx.recorder.server_timing_names();
    let fetches = reqs.iter().map(|r| {
        let key = host_keys(&r.url).map(|k| k.1).unwrap_or_default();
        fetch_asset(via, r, &hosts[&key], step, names)
    });
    tokio::select! {
        d = futures::future::join_all(fetches) => Some(d),
        _ = ctx.wait_for(StopLevel::Hard) => None,
    }
}

/// Send one asset request (after taking a connection slot of its host), following
/// redirects as the step does, and read its body.
async fn fetch_asset(
    via: Concurrent<'_>,
    req: &AssetReq,
    slots: &Semaphore,
    step: &StepPlan,
    names: &ServerTimingNames,
) -> AssetDone {
    let _slot = slots.acquire().await;
    let sent = Instant::now();
    let mut meta = ResponseMeta::default();
    let mut bytes = 0u64;
    let mut built = Req {
        method: Method::GET,
        url: req.url.clone(),
        headers: req.conditional.clone(),
        body: None,
        timeout: step.timeout,
    };
    let redirects = step.follow_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS);
    let mut via = via.via();
    let got = fetch(
        &mut via, &mut built, redirects, false, names, &mut meta, &mut bytes,
    )
    .await;
    let f = match got {
        Ok(f) => f,
        Err(e) => {
            return AssetDone {
                sent,
                end: Instant::now(),
                status: None,
                headers: HeaderMap::new(),
                error: Some(e.kind),
                detail: Some(format!("GET {}: {}", req.url, e.detail)),
                bytes,
                meta,
            };
        }
    };
    let mut headers = HeaderMap::new();
    for name in [CACHE_CONTROL, ETAG, LAST_MODIFIED] {
        for v in f.headers.get_all(&name) {
            headers.append(name.clone(), v.clone());
        }
    }
    let status = f.status.as_u16();
    let error = status_error(status, false);
    AssetDone {
        sent,
        end: f.end,
        status: Some(status),
        headers,
        error,
        detail: error.map(|_| format!("GET {}: {}", req.url, status_detail(status))),
        bytes,
        meta,
    }
}

/// Is `ct` (a `Content-Type` value) HTML?
pub(super) fn is_html(ct: &str) -> bool {
    let ct = ct.trim().to_ascii_lowercase();
    ct.starts_with("text/html") || ct.starts_with("application/xhtml+xml")
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
}
