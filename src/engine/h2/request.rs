//! A request as HTTP/2 carries it: the URL's scheme, authority and path as pseudo-headers,
//! the headers without the ones HTTP/2 forbids (RFC 9113 section 8.2.2).

use http::header::{
    CONNECTION, CONTENT_LENGTH, COOKIE, HOST, HeaderMap, HeaderName, HeaderValue, TE,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{Method, Request, Uri};
use url::Url;

use super::error::H2Error;

/// What goes into a request besides its method and URL.
pub struct RequestParts<'a> {
    pub headers: &'a HeaderMap,
    /// Sent unless `headers` has the same name.
    pub defaults: &'a HeaderMap,
    /// The cookie jar's `Cookie`, unless `headers` has one.
    pub cookie: Option<&'a HeaderValue>,
    pub body_len: Option<usize>,
}

/// Connection-specific headers, which HTTP/2 does not carry.
fn connection_specific(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name == HOST
        || name == CONTENT_LENGTH
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// The request for `method` and `url`: the headers, the defaults it does not override,
/// the cookies, the body's length. A `Host` header (a virtual host on an IP) becomes the
/// `:authority`; `TE` is kept only as `trailers`.
pub fn build(method: &Method, url: &Url, parts: RequestParts<'_>) -> Result<Request<()>, H2Error> {
    let RequestParts {
        headers,
        defaults,
        cookie,
        body_len,
    } = parts;
    let host = headers.get(HOST).or_else(|| defaults.get(HOST));
    let uri = match host.and_then(|h| h.to_str().ok()) {
        Some(h) => format!(
            "{}://{h}{}",
            url.scheme(),
            &url[url::Position::BeforePath..url::Position::AfterQuery]
        )
        .parse::<Uri>(),
        None => url[..url::Position::AfterQuery].parse::<Uri>(),
    }
    .map_err(|e| H2Error::BadRequest(format!("{url}: {e}")))?;
    let mut out = HeaderMap::with_capacity(headers.len() + defaults.len() + 2);
    let keep = |name: &HeaderName, value: &HeaderValue| {
        !connection_specific(name) && (name != TE || value.as_bytes() == b"trailers")
    };
    for (name, value) in headers {
        if keep(name, value) {
            out.append(name.clone(), value.clone());
        }
    }
    for (name, value) in defaults {
        if keep(name, value) && !headers.contains_key(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(c) = cookie.filter(|_| !headers.contains_key(COOKIE)) {
        out.insert(COOKIE, c.clone());
    }
    match body_len {
        Some(n) => {
            out.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        // As HTTP/1.1: a method that usually has a body says it has none.
        None if matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {
            out.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        None => {}
    }
    let mut req = Request::new(());
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_2;
    *req.headers_mut() = out;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_headers_go_defaults_fill_in_and_host_is_the_authority() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        headers.insert(TE, HeaderValue::from_static("gzip"));
        headers.insert("x-a", HeaderValue::from_static("mine"));
        let mut defaults = HeaderMap::new();
        defaults.insert("x-a", HeaderValue::from_static("default"));
        defaults.insert("x-b", HeaderValue::from_static("b"));
        let cookie = HeaderValue::from_static("s=1");
        let url = Url::parse("https://127.0.0.1:8443/p?q=1#frag").unwrap();
        let parts = |h: &HeaderMap| {
            let p = RequestParts {
                headers: h,
                defaults: &defaults,
                cookie: Some(&cookie),
                body_len: Some(3),
            };
            build(&Method::POST, &url, p).unwrap()
        };
        let r = parts(&headers);
        assert_eq!(r.uri(), "https://127.0.0.1:8443/p?q=1");
        let names: Vec<&str> = r.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-a", "x-b", "cookie", "content-length"]);
        assert_eq!(r.headers()["x-a"], "mine");
        assert_eq!(r.headers()[CONTENT_LENGTH], "3");
        headers.insert(HOST, HeaderValue::from_static("shop.example"));
        let r = parts(&headers);
        assert_eq!(r.uri(), "https://shop.example/p?q=1");
        assert!(!r.headers().contains_key(HOST));
    }
}
