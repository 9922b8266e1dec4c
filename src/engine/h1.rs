//! A user's own HTTP/1.1 connection over plain TCP: the fast path for `http://` requests.
//!
//! reqwest puts a pool, a cookie layer, a redirect layer, a decompression layer and a
//! timeout layer around every request and parses the URL again in three of them; measured
//! with perf on one generator core, those layers cost more than HTTP itself. hyper's own
//! connection API (`client::conn::http1`) needs a task, a channel and two 8 KB buffers per
//! connection: about 25 KB per user, too much for 10,000 users. A load test's user sends one
//! request at a time over its own connection, so it needs neither: Skein writes the request
//! head itself, parses the response head with `httparse` (the parser hyper uses) and reads
//! the body by its framing (RFC 9112 section 6: no body, `Content-Length`, chunked, or until
//! the server closes), straight from the user's task, with one read buffer per user.
//!
//! Cookies, redirects, decompression and deadlines are done once per request in `http.rs`.
//! HTTPS, HTTP/2 and a page's concurrent assets go through the user's reqwest client, which
//! shares the same cookie jar.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::metrics::ErrorKind;

use super::http::{SendError, error_chain};

/// Longest response head accepted (status line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed without allocating a bigger list.
const HEADERS: usize = 64;
/// A read buffer larger than this is not kept between requests.
const KEEP_BUF: usize = 16 * 1024;
/// The first read of a connection, and the most one read may take.
const MIN_READ: usize = 4 * 1024;
const MAX_READ: usize = 64 * 1024;
/// A server that closes a kept-alive connection without saying so, or sends bytes nobody
/// asked for on it, this soon after a response does so by habit; later, it is an idle
/// timeout (and the bytes its parting words, a `408`).
const SOON: Duration = Duration::from_secs(1);

/// Origins a user keeps a connection to at once (a step on another host does not close
/// the connection to the first).
const MAX_ORIGINS: usize = 4;

/// The connections of one user, at most one per origin, most recently used last. A clone
/// has none (goose clones a user's data only before the user starts).
#[derive(Default)]
pub struct Conn {
    live: Vec<Live>,
    /// Origins that sent bytes nobody asked for (beyond a response, or soon after one):
    /// responses out of step with requests. Their connections are not kept alive, so no
    /// response is taken for the answer to a later request.
    out_of_step: Origins,
    /// Origins that closed a kept-alive connection without saying so, soon after a
    /// response or under a request. Their kept-alive connections carry no request that
    /// may not be sent twice (POST, PATCH): those go on a new connection.
    closes_early: Origins,
}

/// The few origins (host, port) a user has learnt something about, the most recent last
/// (at most `MAX_ORIGINS`).
#[derive(Default)]
struct Origins(Vec<(String, u16)>);

impl Origins {
    fn has(&self, host: &str, port: u16) -> bool {
        self.0.iter().any(|(h, p)| *p == port && h == host)
    }

    fn add(&mut self, host: &str, port: u16) {
        if self.has(host, port) {
            return;
        }
        if self.0.len() >= MAX_ORIGINS {
            self.0.remove(0);
        }
        self.0.push((host.to_string(), port));
    }
}

impl Clone for Conn {
    fn clone(&self) -> Conn {
        Conn::default()
    }
}

/// An open connection and what was read past the last response.
pub struct Live {
    host: String,
    port: u16,
    io: TcpStream,
    buf: BytesMut,
    /// How much the next read may take: doubled while reads fill it, up to `MAX_READ`.
    read_size: usize,
    /// Bytes read since the request was sent (none: the server may never have seen it).
    received: u64,
    /// When the last response was read to its end.
    idle_since: Instant,
}

/// What a kept-alive connection shows before it is used again.
enum Probe {
    /// Open, nothing to read: usable.
    Quiet,
    /// Closed by the server (or broken).
    Closed,
    /// Bytes nobody asked for.
    Stray,
}

/// The head of a response.
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// The request was sent again on a new connection: the kept-alive one it was sent on
    /// closed before a byte of response came.
    pub retried: bool,
}

/// The body of a response still to read, and the connection it arrives on (given back to
/// the user with [`Conn::put_back`] once read to its end, unless the server closes it).
pub struct Body {
    live: Option<Live>,
    framing: Framing,
    deadline: Instant,
    /// The connection can take the next request once this body is read.
    keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    /// `Content-Length`: bytes left.
    Length(u64),
    Chunked(Chunk),
    /// Until the server closes the connection.
    UntilClose,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Bytes left of the current chunk.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

impl Conn {
    /// Send a request (its serialized `head`, then `body`) to the origin of `url` (an
    /// `http://` URL) over the user's connection, and read the response's head.
    ///
    /// A kept-alive connection is used again only when it is still open and quiet (one
    /// non-blocking read: the server may have closed it, or sent bytes nobody asked for,
    /// since the last response); otherwise, or for another origin, a new one is opened
    /// before anything is sent. The server can still close a kept-alive connection just as
    /// the request leaves (a race no client wins, RFC 9112 section 9.3.1): then an
    /// idempotent request (RFC 9110 section 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE)
    /// that got no byte of response is sent again, once, on a new connection, and the
    /// response says so ([`Head::retried`]). Any other failure is this request's error:
    /// a POST is never sent twice. Once an origin has closed a kept-alive connection
    /// without saying so, soon after a response or under a request, the user sends the
    /// requests that may not be sent twice (POST, PATCH) to it on new connections.
    pub async fn send(
        &mut self,
        url: &Url,
        method: &reqwest::Method,
        head: &[u8],
        body: &[u8],
        deadline: Instant,
        connect_timeout: Duration,
    ) -> Result<(Head, Body), SendError> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let head_request = method == reqwest::Method::HEAD;
        let once = !method.is_idempotent();
        let kept = self
            .live
            .iter()
            .position(|l| l.port == port && l.host == host)
            .map(|i| self.live.remove(i));
        let kept = match kept.map(|l| (l.probe(), l)) {
            Some((Probe::Quiet, l)) if !(once && self.closes_early.has(host, port)) => Some(l),
            Some((probe, l)) => {
                if l.idle_since.elapsed() < SOON {
                    match probe {
                        Probe::Stray => self.out_of_step.add(host, port),
                        Probe::Closed => self.closes_early.add(host, port),
                        Probe::Quiet => {}
                    }
                }
                None
            }
            None => None,
        };
        let reused = kept.is_some();
        let open = || Live::open(url, host, port, deadline, connect_timeout);
        let mut live = match kept {
            Some(l) => l,
            None => open().await?,
        };
        let mut retried = false;
        let (mut head, framing, keep_alive) =
            match exchange(&mut live, head, body, head_request, deadline).await {
                // Closed under the request, before a byte of response.
                Err(e) if reused && live.received == 0 && e.kind == ErrorKind::ConnectionReset => {
                    self.closes_early.add(host, port);
                    if once || Instant::now() >= deadline {
                        return Err(e);
                    }
                    retried = true;
                    live = open().await?;
                    exchange(&mut live, head, body, head_request, deadline).await?
                }
                r => r?,
            };
        head.retried = retried;
        let body = Body {
            live: Some(live),
            framing,
            deadline,
            keep_alive,
        };
        Ok((head, body))
    }

    /// Take back the connection of a body read to its end (dropped otherwise: a body left
    /// unread, a server that closes, a broken exchange, a request that said `Connection:
    /// close`, an origin out of step). Bytes beyond the response put its origin out of
    /// step. The least recently used of more than `MAX_ORIGINS` is closed.
    pub fn put_back(&mut self, body: Body) {
        let Some(mut live) = body.live else {
            return;
        };
        if body.framing != Framing::Done || !body.keep_alive {
            return;
        }
        if !live.buf.is_empty() {
            self.out_of_step.add(&live.host, live.port);
            return;
        }
        if self.out_of_step.has(&live.host, live.port) {
            return;
        }
        if self.live.len() >= MAX_ORIGINS {
            self.live.remove(0);
        }
        if live.buf.capacity() > KEEP_BUF {
            live.buf = BytesMut::new();
            live.read_size = MIN_READ;
        }
        live.idle_since = Instant::now();
        self.live.push(live);
    }
}

impl Live {
    /// A new connection to `url`'s host, opened by `deadline` and within `connect_timeout`.
    async fn open(
        url: &Url,
        host: &str,
        port: u16,
        deadline: Instant,
        connect_timeout: Duration,
    ) -> Result<Live, SendError> {
        let connect_by = deadline.min(Instant::now() + connect_timeout);
        let io = match tokio::time::timeout_at(connect_by, connect(url, port)).await {
            Ok(r) => r?,
            Err(_) => return Err(timed_out("connecting")),
        };
        Ok(Live {
            host: host.to_string(),
            port,
            io,
            buf: BytesMut::new(),
            read_size: MIN_READ,
            received: 0,
            idle_since: Instant::now(),
        })
    }

    /// Whether the connection is still open and the server has sent nothing since the
    /// last response: no end of stream, no error, no stray bytes (one non-blocking read;
    /// tokio answers it without a system call while the socket has not been readable
    /// since). Checked before every reuse, however short the idle time: a server that
    /// closes after each response without saying so has usually closed by the time the
    /// next request is ready, and one that answers before reading a request has usually
    /// sent its extra response.
    fn probe(&self) -> Probe {
        let mut probe = [0u8; 1];
        match self.io.try_read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Probe::Quiet,
            Ok(n) if n > 0 => Probe::Stray,
            _ => Probe::Closed,
        }
    }
}

/// Write a request on `live` and read the response's head.
async fn exchange(
    live: &mut Live,
    head: &[u8],
    body: &[u8],
    head_request: bool,
    deadline: Instant,
) -> Result<(Head, Framing, bool), SendError> {
    live.received = 0;
    // Head and body in one vectored write: the body (a shared `Bytes`) is not copied.
    let mut out = Buf::chain(head, body);
    match tokio::time::timeout_at(deadline, live.io.write_all_buf(&mut out)).await {
        Err(_) => return Err(timed_out("sending the request")),
        Ok(Err(e)) => return Err(io_error(&e, "sending the request")),
        Ok(Ok(())) => {}
    }
    read_head(live, head_request, deadline).await
}

/// Read a response head (skipping `1xx` interim responses); its framing and whether the
/// connection stays open after it.
async fn read_head(
    live: &mut Live,
    head_request: bool,
    deadline: Instant,
) -> Result<(Head, Framing, bool), SendError> {
    loop {
        if !live.buf.is_empty() {
            if let Some((head, len)) = parse_head(&live.buf)? {
                live.buf.advance(len);
                let code = head.status.as_u16();
                if (100..200).contains(&code) && code != 101 {
                    continue;
                }
                let (framing, keep_alive) = framing(&head, head_request)?;
                return Ok((head, framing, keep_alive));
            }
            if live.buf.len() > MAX_HEAD {
                return Err(SendError {
                    kind: ErrorKind::Request,
                    detail: format!("the response head is longer than {MAX_HEAD} bytes"),
                });
            }
        }
        if !fill(live, deadline, "waiting for the response").await? {
            return Err(closed_early());
        }
    }
}

/// Parse a complete head at the start of `buf`: the head and its length, `None` when more
/// bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, SendError> {
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
        Err(e) => {
            return Err(SendError {
                kind: ErrorKind::Request,
                detail: format!("invalid HTTP response: {e}"),
            });
        }
    };
    let bad = |what: &str| SendError {
        kind: ErrorKind::Request,
        detail: format!("invalid HTTP response: {what}"),
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(|_| bad("status code"))?;
    let version = match resp.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad("header name"))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| bad("header value"))?;
        headers.append(name, value);
    }
    Ok(Some((
        Head {
            status,
            version,
            headers,
            retried: false,
        },
        len,
    )))
}

/// Whether a header of `name` lists `token` (comma-separated, any case): `Connection: close`.
pub fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// How the body of `head` is framed (RFC 9112 section 6.3), and whether the connection
/// stays open after it.
fn framing(head: &Head, head_request: bool) -> Result<(Framing, bool), SendError> {
    use reqwest::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
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
        // Every value (and every item of a list) must be the same number.
        let bad = || SendError {
            kind: ErrorKind::Request,
            detail: "invalid HTTP response: content-length".into(),
        };
        let mut length = None;
        for v in head.headers.get_all(CONTENT_LENGTH) {
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
        Framing::Length(length.ok_or_else(bad)?)
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    Ok((framing, keep_alive))
}

impl Body {
    /// Close the connection after this body (the request said `Connection: close`).
    pub fn close_after(&mut self) {
        self.keep_alive = false;
    }

    /// The exchange's deadline has passed.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// The next piece of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        let Some(live) = self.live.as_mut() else {
            return Ok(None);
        };
        loop {
            match self.framing {
                Framing::Done => return Ok(None),
                Framing::Length(0) => self.framing = Framing::Done,
                Framing::Length(left) => {
                    let data = take_counted(live, left, self.deadline).await?;
                    self.framing = Framing::Length(left - data.len() as u64);
                    return Ok(Some(data));
                }
                Framing::UntilClose => {
                    if live.buf.is_empty() && !fill_body(live, self.deadline).await? {
                        self.framing = Framing::Done;
                        return Ok(None);
                    }
                    return Ok(Some(live.buf.split().freeze()));
                }
                Framing::Chunked(Chunk::Data(0)) => {
                    self.framing = Framing::Chunked(Chunk::DataEnd);
                }
                Framing::Chunked(Chunk::Data(left)) => {
                    let data = take_counted(live, left, self.deadline).await?;
                    self.framing = Framing::Chunked(Chunk::Data(left - data.len() as u64));
                    return Ok(Some(data));
                }
                Framing::Chunked(state) => {
                    if let Some(next) = chunk_line(&mut live.buf, state)? {
                        self.framing = next;
                        continue;
                    }
                    if live.buf.len() > MAX_HEAD {
                        return Err(bad_chunk("a chunk line is too long"));
                    }
                    if !fill_body(live, self.deadline).await? {
                        return Err(closed_early());
                    }
                }
            }
        }
    }
}

/// Up to `left` (> 0) bytes of a body whose length is known (`Content-Length`, a chunk):
/// what is buffered, or the next read. The server closing first is an error.
async fn take_counted(live: &mut Live, left: u64, deadline: Instant) -> Result<Bytes, SendError> {
    if live.buf.is_empty() && !fill_body(live, deadline).await? {
        return Err(closed_early());
    }
    let n = (live.buf.len() as u64).min(left) as usize;
    Ok(live.buf.split_to(n).freeze())
}

/// Consume one line of chunked framing from `buf` in `state` (a chunk size, the CRLF after
/// a chunk, a trailer line): the state after it, `None` when the line is not all there.
fn chunk_line(buf: &mut BytesMut, state: Chunk) -> Result<Option<Framing>, SendError> {
    match state {
        // httparse takes a line with no digits as size 0: a size needs one.
        Chunk::Size if buf.first().is_some_and(|b| !b.is_ascii_hexdigit()) => {
            Err(bad_chunk("invalid chunk size"))
        }
        Chunk::Size => match httparse::parse_chunk_size(buf) {
            Ok(httparse::Status::Complete((len, 0))) => {
                buf.advance(len);
                Ok(Some(Framing::Chunked(Chunk::Trailers)))
            }
            Ok(httparse::Status::Complete((len, size))) => {
                buf.advance(len);
                Ok(Some(Framing::Chunked(Chunk::Data(size))))
            }
            Ok(httparse::Status::Partial) => Ok(None),
            Err(_) => Err(bad_chunk("invalid chunk size")),
        },
        Chunk::DataEnd => {
            if buf.len() < 2 {
                return Ok(None);
            }
            if &buf[..2] != b"\r\n" {
                return Err(bad_chunk("no CRLF after a chunk"));
            }
            buf.advance(2);
            Ok(Some(Framing::Chunked(Chunk::Size)))
        }
        Chunk::Trailers => {
            let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            buf.advance(end + 2);
            // An empty line ends the trailers, and the body.
            Ok(Some(if end == 0 {
                Framing::Done
            } else {
                Framing::Chunked(Chunk::Trailers)
            }))
        }
        Chunk::Data(_) => unreachable!("data is read, not parsed"),
    }
}

fn bad_chunk(what: &str) -> SendError {
    SendError {
        kind: ErrorKind::Body,
        detail: format!("invalid chunked body: {what}"),
    }
}

/// Read more into the connection's buffer: `false` when the server closed it. A read that
/// fills what it was given doubles the next one (up to `MAX_READ`), so a large body takes
/// few reads.
async fn fill(live: &mut Live, deadline: Instant, what: &str) -> Result<bool, SendError> {
    if live.buf.capacity() - live.buf.len() < 1024 {
        live.buf.reserve(live.read_size);
    }
    let room = live.buf.capacity() - live.buf.len();
    match tokio::time::timeout_at(deadline, live.io.read_buf(&mut live.buf)).await {
        Err(_) => Err(timed_out(what)),
        Ok(Err(e)) => Err(io_error(&e, what)),
        Ok(Ok(n)) => {
            if n == room {
                live.read_size = (live.read_size * 2).min(MAX_READ);
            }
            live.received += n as u64;
            Ok(n > 0)
        }
    }
}

/// [`fill`] for a body: a socket error there is a body error, not a connection one.
async fn fill_body(live: &mut Live, deadline: Instant) -> Result<bool, SendError> {
    fill(live, deadline, "reading the body")
        .await
        .map_err(|mut e| {
            if e.kind == ErrorKind::Connect {
                e.kind = ErrorKind::Body;
            }
            e
        })
}

/// Open a connection to `url`'s host.
async fn connect(url: &Url, port: u16) -> Result<TcpStream, SendError> {
    let stream = match url.host() {
        Some(url::Host::Ipv4(ip)) => TcpStream::connect((ip, port)).await,
        Some(url::Host::Ipv6(ip)) => TcpStream::connect((ip, port)).await,
        Some(url::Host::Domain(d)) => TcpStream::connect((d, port)).await,
        None => {
            return Err(SendError {
                kind: ErrorKind::Request,
                detail: format!("{url} has no host"),
            });
        }
    }
    .map_err(|e| io_error(&e, "connecting"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn timed_out(what: &str) -> SendError {
    SendError {
        kind: ErrorKind::Timeout,
        detail: format!("operation timed out ({what})"),
    }
}

fn closed_early() -> SendError {
    SendError {
        kind: ErrorKind::ConnectionReset,
        detail: "connection closed before message completed".into(),
    }
}

/// A socket error while `what`.
fn io_error(e: &std::io::Error, what: &str) -> SendError {
    SendError {
        kind: super::http::io_kind(e.kind()).unwrap_or(ErrorKind::Connect),
        detail: format!("{what}: {}", error_chain(e)),
    }
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
pub fn write_head(out: &mut Vec<u8>, method: &reqwest::Method, url: &Url, parts: HeadParts<'_>) {
    let HeadParts {
        headers,
        defaults,
        cookie,
        body_len,
    } = parts;
    use reqwest::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
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
    if let Some(c) = cookie.filter(|_| !headers.contains_key(reqwest::header::COOKIE)) {
        line(&reqwest::header::COOKIE, c);
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
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 3\r\n\r\n",
                false
            ),
            (Framing::Chunked(Chunk::Size), true)
        );
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
    fn chunked_lines_parse_piece_by_piece() {
        let mut buf = BytesMut::from(&b"1a;ext=1\r\n"[..]);
        assert_eq!(
            chunk_line(&mut buf, Chunk::Size).unwrap(),
            Some(Framing::Chunked(Chunk::Data(26)))
        );
        assert!(buf.is_empty());
        let mut buf = BytesMut::from(&b"\r"[..]);
        assert_eq!(chunk_line(&mut buf, Chunk::DataEnd).unwrap(), None);
        buf.extend_from_slice(b"\n0\r\nx-t: 1\r\n\r\n");
        assert_eq!(
            chunk_line(&mut buf, Chunk::DataEnd).unwrap(),
            Some(Framing::Chunked(Chunk::Size))
        );
        assert_eq!(
            chunk_line(&mut buf, Chunk::Size).unwrap(),
            Some(Framing::Chunked(Chunk::Trailers))
        );
        assert_eq!(
            chunk_line(&mut buf, Chunk::Trailers).unwrap(),
            Some(Framing::Chunked(Chunk::Trailers))
        );
        assert_eq!(
            chunk_line(&mut buf, Chunk::Trailers).unwrap(),
            Some(Framing::Done)
        );
        for bad in [&b"zz\r\n"[..], b"\r\n", b";x\r\n"] {
            let mut bad = BytesMut::from(bad);
            assert!(chunk_line(&mut bad, Chunk::Size).is_err());
        }
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
        write_head(&mut out, &reqwest::Method::GET, &url, parts(&headers, None));
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "GET /a/b?q=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-team: perf\r\n\
             accept: */*\r\ncookie: sid=1\r\n\r\n"
        );
        let url = Url::parse("http://localhost/").unwrap();
        let none = HeaderMap::new();
        write_head(&mut out, &reqwest::Method::POST, &url, parts(&none, None));
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST / HTTP/1.1\r\nhost: localhost\r\nx-team: default\r\naccept: */*\r\n\
             cookie: sid=1\r\ncontent-length: 0\r\n\r\n"
        );
        write_head(&mut out, &reqwest::Method::PUT, &url, parts(&none, Some(3)));
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("content-length: 3\r\n\r\n")
        );
    }
}
