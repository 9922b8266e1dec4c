//! A user's asset cache (`cache: true`), as a browser keeps one: fresh for `max-age`, then
//! revalidated with the validators it was given (`ETag`, `Last-Modified`), never kept with
//! `no-store`, and bounded in size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use http::header::{
    CACHE_CONTROL, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};

/// Assets a user's cache holds at most; past that an entry is dropped for each new one.
const CACHE_ENTRIES: usize = 512;

/// One user's asset cache (`cache: true`), by absolute URL.
#[derive(Debug, Clone, Default)]
pub(in crate::engine) struct AssetCache {
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
pub(super) enum Lookup {
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
    pub(super) fn lookup(&self, url: &str, now: Instant) -> Lookup {
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
    pub(super) fn store(&mut self, url: &str, status: u16, headers: &HeaderMap, now: Instant) {
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

#[cfg(test)]
mod tests {
    use http::header::HeaderName;

    use super::*;

    #[test]
    fn cache_follows_max_age_no_store_and_validators() {
        let t0 = Instant::now();
        let mut c = AssetCache::default();
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
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
}
