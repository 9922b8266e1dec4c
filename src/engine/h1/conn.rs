//! A user's connections: one per origin, opened, probed before reuse, sent a request on,
//! read a response head from, and kept (or dropped) after the body.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::Method;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
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

/// A connection's byte stream: plain TCP, or TLS over TCP (boxed: rustls's state is a few
/// hundred bytes, and a plain connection need not carry room for it).
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// An open connection and what was read past the last response.
pub(super) struct Live {
    host: String,
    port: u16,
    /// Over TLS (an `https://` origin): not the same origin as plain http on that port.
    tls: bool,
    io: Stream,
    pub(super) buf: BytesMut,
    /// How much the next read may take: doubled while reads fill it, up to `MAX_READ`.
    read_size: usize,
    /// Bytes read since the request was sent (none: the server may never have seen it).
    received: u64,
    /// When the last response was read to its end.
    idle_since: Instant,
}

/// How a new connection is opened: within `timeout` (and the exchange's deadline), and
/// for an `https://` origin over TLS made with `tls` (the run's one configuration).
#[derive(Clone, Copy)]
pub struct Dial<'a> {
    pub timeout: Duration,
    pub tls: &'a TlsConnector,
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
    /// `http://` URL, or an `https://` one over TLS made with `dial.tls`: SNI from the URL's
    /// host, none for an IP address) over the user's connection, and read the response's
    /// head.
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
        dial: Dial<'_>,
    ) -> Result<(Head, Body), H1Error> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let https = url.scheme() == "https";
        let tls = https.then_some(dial.tls);
        let connect_timeout = dial.timeout;
        let head_request = method == Method::HEAD;
        let once = !method.is_idempotent();
        let kept = self
            .live
            .iter()
            .position(|l| l.port == port && l.tls == https && l.host == host)
            .map(|i| self.live.remove(i));
        let kept = match kept.map(|mut l| (l.probe(), l)) {
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
        let open = || Live::open(url, host, port, tls, deadline, connect_timeout);
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
    /// A new connection to `url`'s host (and its TLS handshake, with `tls`), opened by
    /// `deadline` and within `connect_timeout`.
    async fn open(
        url: &Url,
        host: &str,
        port: u16,
        tls: Option<&TlsConnector>,
        deadline: Instant,
        connect_timeout: Duration,
    ) -> Result<Live, H1Error> {
        let connect_by = deadline.min(Instant::now() + connect_timeout);
        let io = match tokio::time::timeout_at(connect_by, connect(url, port, tls)).await {
            Ok(r) => r?,
            Err(_) => return Err(H1Error::TimedOut(Stage::Connecting)),
        };
        Ok(Live {
            host: host.to_string(),
            port,
            tls: tls.is_some(),
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
    ///
    /// Over TLS the read is one poll of the TLS stream: rustls takes in whatever records
    /// arrived (session tickets, a `close_notify` alert, application data) and answers
    /// with plaintext (stray bytes), the end of the stream (closed) or nothing to read.
    fn probe(&mut self) -> Probe {
        let mut probe = [0u8; 1];
        let read = match &mut self.io {
            Stream::Plain(s) => s.try_read(&mut probe),
            Stream::Tls(s) => {
                let mut cx = Context::from_waker(std::task::Waker::noop());
                let mut buf = ReadBuf::new(&mut probe);
                match Pin::new(&mut **s).poll_read(&mut cx, &mut buf) {
                    Poll::Pending => Err(std::io::ErrorKind::WouldBlock.into()),
                    Poll::Ready(r) => r.map(|()| buf.filled().len()),
                }
            }
        };
        match read {
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
    // Over TLS, a write can leave records in rustls's buffer: the flush sends them (on
    // plain TCP it does nothing).
    let write = async {
        live.io.write_all_buf(&mut out).await?;
        live.io.flush().await
    };
    match tokio::time::timeout_at(deadline, write).await {
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

/// Open a connection to `url`'s host, over TLS with `tls`.
async fn connect(url: &Url, port: u16, tls: Option<&TlsConnector>) -> Result<Stream, H1Error> {
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
    let Some(tls) = tls else {
        return Ok(Stream::Plain(stream));
    };
    use rustls::pki_types::ServerName;
    // An IP address is verified against the certificate's IP names and sent no SNI.
    let name = match url.host() {
        Some(url::Host::Ipv4(ip)) => ServerName::from(std::net::IpAddr::from(ip)),
        Some(url::Host::Ipv6(ip)) => ServerName::from(std::net::IpAddr::from(ip)),
        Some(url::Host::Domain(d)) => ServerName::try_from(d.to_string())
            .map_err(|_| H1Error::BadServerName(d.to_string()))?,
        None => return Err(H1Error::NoHost(url.clone())),
    };
    // A refused certificate or a failed handshake is an `io::Error` that wraps the
    // `rustls::Error`: the run's error kinds call it a TLS error.
    let stream = tls
        .connect(name, stream)
        .await
        .map_err(|source| H1Error::Io {
            stage: Stage::Connecting,
            source,
        })?;
    Ok(Stream::Tls(Box::new(stream)))
}
