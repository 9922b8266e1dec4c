//! Heads: the request head Skein writes, and the response head it parses (with `httparse`)
//! and reads the body's framing from (RFC 9112 section 6.3).

use http::header::{
    CONNECTION, CONTENT_LENGTH, COOKIE, HOST, HeaderMap, HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use http::{Method, StatusCode, Version};
use url::Url;

use super::body::{Chunk, Framing};
use super::error::H1Error;

/// Longest response head accepted (status line and headers); also the longest chunk line.
pub const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed without allocating a bigger list.
const HEADERS: usize = 64;

/// The head of a response.
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// The request was sent again on a new connection: the kept-alive one it was sent on
    /// closed before a byte of response came.
    pub retried: bool,
}

/// Parse a complete head at the start of `buf`: the head and its length, `None` when more
/// bytes are needed.
pub(super) fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, H1Error> {
    let mut few = [httparse::EMPTY_HEADER; HEADERS];
    let mut many;
    let mut resp = httparse::Response::new(&mut few);
    let parsed = match resp.parse(buf) {
        Err(httparse::Error::TooManyHeaders) => {
            many = vec![httparse::EMPTY_HEADER; 1024];
            resp = httparse::Response::new(&mut many);
            resp.parse(buf)
        }
        r => r,
    };
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(H1Error::Parse(e)),
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or(0))
        .map_err(|_| H1Error::Invalid("status code"))?;
    let version = match resp.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| H1Error::Invalid("header name"))?;
        let value =
            HeaderValue::from_bytes(h.value).map_err(|_| H1Error::Invalid("header value"))?;
        headers.append(name, value);
    }
    let head = Head {
        status,
        version,
        headers,
        retried: false,
    };
    Ok(Some((head, len)))
}

/// Whether a header of `name` lists `token` (comma-separated, any case): `Connection: close`.
pub fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// How the body of `head` is framed (RFC 9112 section 6.3), and whether the connection
/// stays open after it. A body framed both ways (`Transfer-Encoding` and `Content-Length`)
/// is an error: it may be a smuggled or split response, and the connection is not used
/// again.
pub(super) fn framing(head: &Head, head_request: bool) -> Result<(Framing, bool), H1Error> {
    let has = |name: HeaderName, token: &str| has_token(&head.headers, name, token);
    let code = head.status.as_u16();
    let mut keep_alive = code != 101
        && match head.version {
            Version::HTTP_10 => has(CONNECTION, "keep-alive"),
            _ => !has(CONNECTION, "close"),
        };
    let framing = if head_request || code == 204 || code == 304 || (100..200).contains(&code) {
        Framing::Done
    } else if head.headers.contains_key(TRANSFER_ENCODING) {
        if head.headers.contains_key(CONTENT_LENGTH) {
            return Err(H1Error::Invalid(
                "both transfer-encoding and content-length (RFC 9112 section 6.3)",
            ));
        }
        // Chunked only when it is the last coding; otherwise the body runs to the close.
        let last = head
            .headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|t| !t.is_empty());
        if last.is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
            Framing::Chunked(Chunk::Size)
        } else {
            keep_alive = false;
            Framing::UntilClose
        }
    } else if head.headers.contains_key(CONTENT_LENGTH) {
        Framing::Length(content_length(&head.headers)?)
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    Ok((framing, keep_alive))
}

/// The `Content-Length` of a response: every value (and every item of a list) must be the
/// same number.
fn content_length(headers: &HeaderMap) -> Result<u64, H1Error> {
    let bad = || H1Error::Invalid("content-length");
    let mut length = None;
    for v in headers.get_all(CONTENT_LENGTH) {
        for item in v.to_str().map_err(|_| bad())?.split(',') {
            let item = item.trim();
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n = item.parse::<u64>().map_err(|_| bad())?;
            if length.is_some_and(|l| l != n) {
                return Err(bad());
            }
            length = Some(n);
        }
    }
    length.ok_or_else(bad)
}

/// What goes into a request head besides the request line.
pub struct HeadParts<'a> {
    pub headers: &'a HeaderMap,
    /// Sent unless `headers` has the same name.
    pub defaults: &'a HeaderMap,
    /// The cookie jar's `Cookie`, unless `headers` has one.
    pub cookie: Option<&'a HeaderValue>,
    pub body_len: Option<usize>,
}

/// Write the request head into `out` (cleared first): request line, `Host`, the headers,
/// the defaults the request does not override, cookies, and the body's length. The body
/// itself is not written.
pub fn write_head(out: &mut Vec<u8>, method: &Method, url: &Url, parts: HeadParts<'_>) {
    let HeadParts {
        headers,
        defaults,
        cookie,
        body_len,
    } = parts;
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(url[url::Position::BeforePath..url::Position::AfterQuery].as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    // The URL's host and port, unless the scenario sets `Host` (a virtual host on an IP).
    if !headers.contains_key(HOST) && !defaults.contains_key(HOST) {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(url.host_str().unwrap_or_default().as_bytes());
        if let Some(p) = url.port() {
            out.push(b':');
            out.extend_from_slice(p.to_string().as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    let mut line = |name: &HeaderName, value: &HeaderValue| {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    // Skein frames the body itself.
    let framed = |name: &HeaderName| name == CONTENT_LENGTH || name == TRANSFER_ENCODING;
    for (name, value) in headers {
        if !framed(name) {
            line(name, value);
        }
    }
    for (name, value) in defaults {
        if !framed(name) && !headers.contains_key(name) {
            line(name, value);
        }
    }
    if let Some(c) = cookie.filter(|_| !headers.contains_key(COOKIE)) {
        line(&COOKIE, c);
    }
    // A body's length; a method that usually has a body says it has none (nginx answers
    // 411 to a POST without a length).
    let len = match body_len {
        Some(n) => Some(n),
        None if matches!(method.as_str(), "POST" | "PUT" | "PATCH") => Some(0),
        None => None,
    };
    if let Some(n) = len {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(n.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Head {
        parse_head(raw.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let f = |raw: &str, head_req: bool| framing(&head(raw), head_req).unwrap();
        assert_eq!(
            f("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", false),
            (Framing::Length(5), true)
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", true),
            (Framing::Done, true)
        );
        assert_eq!(
            f(
                "HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n",
                false
            ),
            (Framing::Done, true)
        );
        assert_eq!(
            f(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
                false
            ),
            (Framing::Chunked(Chunk::Size), true)
        );
        // Framed both ways: an error (RFC 9112 section 6.3), whatever the coding.
        for te in ["chunked", "gzip, chunked", "gzip"] {
            let raw =
                format!("HTTP/1.1 200 OK\r\ntransfer-encoding: {te}\r\ncontent-length: 3\r\n\r\n");
            let e = framing(&head(&raw), false).unwrap_err();
            assert!(e.to_string().contains("content-length"), "{te}: {e}");
        }
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", false),
            (Framing::UntilClose, false)
        );
        assert_eq!(
            f("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", false),
            (Framing::Length(1), false)
        );
        assert_eq!(
            f(
                "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n",
                false
            ),
            (Framing::Length(1), true)
        );
        assert_eq!(
            f(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n",
                false
            ),
            (Framing::UntilClose, false)
        );
        assert_eq!(
            f(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
                false
            ),
            (Framing::Done, false)
        );
        assert_eq!(
            f(
                "HTTP/1.1 200 OK\r\ncontent-length: 7, 7\r\ncontent-length: 7\r\n\r\n",
                false
            ),
            (Framing::Length(7), true)
        );
        for bad in ["x", "+5", "5, 6", ""] {
            let raw = format!("HTTP/1.1 200 OK\r\ncontent-length: {bad}\r\n\r\n");
            assert!(framing(&head(&raw), false).is_err(), "{bad:?}");
        }
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-le")
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"HTTX/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn request_heads_carry_host_and_length() {
        let url = Url::parse("http://127.0.0.1:8080/a/b?q=1#frag").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-team", HeaderValue::from_static("perf"));
        headers.insert("content-length", HeaderValue::from_static("999"));
        let mut defaults = HeaderMap::new();
        defaults.insert("x-team", HeaderValue::from_static("default"));
        defaults.insert("accept", HeaderValue::from_static("*/*"));
        let jar = HeaderValue::from_static("sid=1");
        let parts = |headers, body_len| HeadParts {
            headers,
            defaults: &defaults,
            cookie: Some(&jar),
            body_len,
        };
        let mut out = Vec::new();
        write_head(&mut out, &Method::GET, &url, parts(&headers, None));
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "GET /a/b?q=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-team: perf\r\n\
             accept: */*\r\ncookie: sid=1\r\n\r\n"
        );
        let url = Url::parse("http://localhost/").unwrap();
        let none = HeaderMap::new();
        write_head(&mut out, &Method::POST, &url, parts(&none, None));
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST / HTTP/1.1\r\nhost: localhost\r\nx-team: default\r\naccept: */*\r\n\
             cookie: sid=1\r\ncontent-length: 0\r\n\r\n"
        );
        write_head(&mut out, &Method::PUT, &url, parts(&none, Some(3)));
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("content-length: 3\r\n\r\n")
        );
    }
}
