//! A user's connections: one per origin, opened, probed before reuse, sent a request on,
//! read a response head from, and kept (or dropped) after the body.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::Url;

use super::body::{Body, Framing};
use super::error::{H1Error, Stage};
use super::head::{Head, MAX_HEAD, framing, parse_head};

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
pub(super) struct Live {
    host: String,
    port: u16,
    io: TcpStream,
    pub(super) buf: BytesMut,
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
        method: &Method,
        head: &[u8],
        body: &[u8],
        deadline: Instant,
        connect_timeout: Duration,
    ) -> Result<(Head, Body), H1Error> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let head_request = method == Method::HEAD;
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
                Err(e) if reused && live.received == 0 && e.closed() => {
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
    ) -> Result<Live, H1Error> {
        let connect_by = deadline.min(Instant::now() + connect_timeout);
        let io = match tokio::time::timeout_at(connect_by, connect(url, port)).await {
            Ok(r) => r?,
            Err(_) => return Err(H1Error::TimedOut(Stage::Connecting)),
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

    /// Read more into the buffer: `false` when the server closed the connection. A read
    /// that fills what it was given doubles the next one (up to `MAX_READ`), so a large
    /// body takes few reads.
    pub(super) async fn fill(&mut self, deadline: Instant, stage: Stage) -> Result<bool, H1Error> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(self.read_size);
        }
        let room = self.buf.capacity() - self.buf.len();
        match tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.buf)).await {
            Err(_) => Err(H1Error::TimedOut(stage)),
            Ok(Err(source)) => Err(H1Error::Io { stage, source }),
            Ok(Ok(n)) => {
                if n == room {
                    self.read_size = (self.read_size * 2).min(MAX_READ);
                }
                self.received += n as u64;
                Ok(n > 0)
            }
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
) -> Result<(Head, Framing, bool), H1Error> {
    live.received = 0;
    // Head and body in one vectored write: the body (a shared `Bytes`) is not copied.
    let mut out = Buf::chain(head, body);
    let stage = Stage::Sending;
    match tokio::time::timeout_at(deadline, live.io.write_all_buf(&mut out)).await {
        Err(_) => return Err(H1Error::TimedOut(stage)),
        Ok(Err(source)) => return Err(H1Error::Io { stage, source }),
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
) -> Result<(Head, Framing, bool), H1Error> {
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
                return Err(H1Error::HeadTooLong(MAX_HEAD));
            }
        }
        if !live.fill(deadline, Stage::Waiting).await? {
            return Err(H1Error::ClosedEarly);
        }
    }
}

/// Open a connection to `url`'s host.
async fn connect(url: &Url, port: u16) -> Result<TcpStream, H1Error> {
    let stream = match url.host() {
        Some(url::Host::Ipv4(ip)) => TcpStream::connect((ip, port)).await,
        Some(url::Host::Ipv6(ip)) => TcpStream::connect((ip, port)).await,
        Some(url::Host::Domain(d)) => TcpStream::connect((d, port)).await,
        None => return Err(H1Error::NoHost(url.clone())),
    }
    .map_err(|source| H1Error::Io {
        stage: Stage::Connecting,
        source,
    })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
