//! Redirects, followed by Skein itself on both paths (the clients never follow them), so
//! both count them, honour each step's limit and rewrite the next request the same way,
//! as browsers do.

use http::header::{self, HeaderName, LOCATION};
use http::{Method, StatusCode};
use url::Url;

use crate::metrics::{ErrorKind, ResponseMeta};

use super::error::SendError;
use super::request::{Req, is_credential};
use super::response::Resp;
use super::user::{Client, UserHttp, client_hop};

/// How a request goes out.
pub enum Via<'a> {
    /// A user's HTTP: http and https over its own connection, the rest over its client.
    User(&'a mut UserHttp),
    /// A client shared by concurrent requests (a page's assets).
    Client(&'a Client),
    /// A user's own HTTP/2 connections, shared by concurrent requests as streams.
    H2(&'a UserHttp),
}

/// Send `req`, following at most `max_redirects` redirects (301, 302, 303, 307, 308 with an
/// http(s) `Location`; 0: none, the 3xx is the answer), each counted in `meta.redirects`
/// and its body's bytes in `bytes`; `req` ends as the request of the last hop (its URL is
/// the response's). More redirects than allowed is an error
/// ([`ErrorKind::TooManyRedirects`]). The clients never follow redirects themselves: use
/// this for every request that should.
pub async fn send(
    via: &mut Via<'_>,
    req: &mut Req,
    max_redirects: u32,
    meta: &mut ResponseMeta,
    bytes: &mut u64,
) -> Result<Resp, SendError> {
    loop {
        let resp = match via {
            Via::User(u) => u.hop(req).await?,
            Via::Client(c) => client_hop(c, req).await?,
            Via::H2(u) => u.h2_hop(req).await?,
        };
        meta.retries += u32::from(resp.retried);
        if max_redirects == 0 || !is_redirect(resp.status) {
            return Ok(resp);
        }
        let Some(to) = location(&resp, &req.url) else {
            return Ok(resp);
        };
        if meta.redirects >= max_redirects {
            return Err(SendError {
                kind: ErrorKind::TooManyRedirects,
                detail: format!(
                    "more than {max_redirects} redirect{}: HTTP {} to {to}",
                    if max_redirects == 1 { "" } else { "s" },
                    resp.status.as_u16()
                ),
            });
        }
        let status = resp.status;
        let mut resp = resp;
        resp.drain(bytes).await?;
        resp.recycle(via);
        meta.redirects += 1;
        redirect_request(req, status, to);
    }
}

/// The statuses that redirect (with a `Location`).
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Where a redirect points: its `Location` resolved against the URL it answered, when it is
/// an http(s) URL.
fn location(resp: &Resp, from: &Url) -> Option<Url> {
    let loc = resp.headers.get(LOCATION)?.to_str().ok()?;
    let url = from.join(loc.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// Turn `req` into the request of the next hop, as browsers make it: a 303, or a 301/302
/// after a POST, becomes a GET without a body; leaving the origin drops credentials and
/// cookies set by hand (the user's cookie jar still adds those of the new URL).
fn redirect_request(req: &mut Req, status: StatusCode, to: Url) {
    let to_get = (status.as_u16() == 303 && req.method != Method::HEAD)
        || (matches!(status.as_u16(), 301 | 302) && req.method == Method::POST);
    if to_get {
        req.method = Method::GET;
        req.body = None;
        for h in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
            header::TRANSFER_ENCODING,
        ] {
            req.headers.remove(h);
        }
    }
    if req.url.origin() != to.origin() {
        for h in [
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
            header::WWW_AUTHENTICATE,
        ] {
            req.headers.remove(h);
        }
        // And every other header that carries credentials (API keys, tokens).
        let secret: Vec<HeaderName> = req
            .headers
            .keys()
            .filter(|n| is_credential(n.as_str()))
            .cloned()
            .collect();
        for h in secret {
            req.headers.remove(h);
        }
    }
    req.url = to;
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn leaving_the_origin_drops_every_credential_header() {
        let mut headers = HeaderMap::new();
        for (n, v) in [
            ("authorization", "Bearer t"),
            ("x-api-key", "k"),
            ("cookie", "a=1"),
            ("x-team", "perf"),
        ] {
            headers.insert(n, HeaderValue::from_static(v));
        }
        let req = |headers: &HeaderMap| Req {
            method: Method::POST,
            url: Url::parse("http://127.0.0.1:1/a").unwrap(),
            headers: headers.clone(),
            body: Some(Bytes::from_static(b"x")),
            timeout: None,
        };
        let mut same = req(&headers);
        redirect_request(
            &mut same,
            StatusCode::TEMPORARY_REDIRECT,
            Url::parse("http://127.0.0.1:1/b").unwrap(),
        );
        assert_eq!(same.headers.len(), 4);
        assert_eq!(same.method, Method::POST);
        let mut other = req(&headers);
        redirect_request(
            &mut other,
            StatusCode::SEE_OTHER,
            Url::parse("http://127.0.0.1:2/b").unwrap(),
        );
        let left: Vec<&str> = other.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-team"]);
        assert_eq!((other.method, other.body), (Method::GET, None));
    }
}
