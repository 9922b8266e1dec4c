//! A user's HTTP/2 connections: at most one per origin, opened when first needed (TCP,
//! TLS offering `h2`, the HTTP/2 preface and settings), driven by a task of their own,
//! shared by every stream the user has open at once, and opened again once the server
//! has said `GOAWAY` or the connection broke.

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use url::Url;

use super::body::Body;
use super::error::{H2Error, Stage};

/// Origins a user keeps a connection to at once.
const MAX_ORIGINS: usize = 4;
/// Flow-control windows offered to the server, per stream and for the connection
/// (hyper's defaults): a large body arrives without waiting for window updates.
const STREAM_WINDOW: u32 = 2 << 20;
const CONN_WINDOW: u32 = 5 << 20;
/// The most a stream's request body may buffer before the connection takes it.
const MAX_SEND_BUF: usize = 400 << 10;

/// The head of a response.
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// The request was sent again on a new connection: the server did not process it
    /// (`GOAWAY`, `REFUSED_STREAM`), or the kept connection closed under it.
    pub retried: bool,
}

/// How a new connection is opened: within `timeout` (and the exchange's deadline), and
/// for an `https://` origin over TLS made with `tls` (the run's configuration offering
/// `h2`).
#[derive(Clone, Copy)]
pub struct Dial<'a> {
    pub timeout: Duration,
    pub tls: &'a TlsConnector,
}

/// The HTTP/2 connections of one user. Used through a shared reference, so that a page's
/// assets go out at once as streams of one connection; a new connection is opened under a
/// lock, so concurrent requests to a new origin share one. A clone has none (goose clones
/// a user's data only before the user starts).
#[derive(Default)]
pub struct Conn {
    state: tokio::sync::Mutex<State>,
}

impl Clone for Conn {
    fn clone(&self) -> Conn {
        Conn::default()
    }
}

#[derive(Default)]
struct State {
    live: Vec<Live>,
    /// The next connection's number.
    next_id: u64,
}

/// An open connection: a handle on its driver task.
struct Live {
    id: u64,
    host: String,
    port: u16,
    tls: bool,
    send: ::h2::client::SendRequest<Bytes>,
}

impl Live {
    fn is(&self, host: &str, port: u16, tls: bool) -> bool {
        self.port == port && self.tls == tls && self.host == host
    }

    /// Still able to open a stream: no `GOAWAY` received, not broken.
    fn usable(&mut self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        !matches!(self.send.poll_ready(&mut cx), Poll::Ready(Err(_)))
    }
}

/// A connection to send on: its handle, number, and whether it had been used before.
struct Picked {
    send: ::h2::client::SendRequest<Bytes>,
    id: u64,
    reused: bool,
}

impl Conn {
    /// Send the request `make` builds (and `body`) to the origin of `url` as a stream of
    /// the user's connection to it (opened first when there is none, or it can take no
    /// more streams), and wait for the response's head, all by `deadline`. A request the
    /// server did not process, or an idempotent one whose kept connection closed under it,
    /// is sent again once on a new connection. With `close_after`, the connection is not
    /// used again (it closes once its streams end).
    pub async fn send<F>(
        &self,
        url: &Url,
        make: F,
        body: Option<&Bytes>,
        deadline: Instant,
        dial: Dial<'_>,
        close_after: bool,
    ) -> Result<(Head, Body), H2Error>
    where
        F: Fn() -> Result<Request<()>, H2Error>,
    {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let tls = (url.scheme() == "https").then_some(dial.tls);
        let key = (host, port, tls.is_some());
        let req = make()?;
        let idempotent = req.method().is_idempotent();
        let picked = self.pick(url, key, tls, deadline, dial.timeout).await?;
        let mut id = picked.id;
        let (mut head, body) = match exchange(picked.send, req, body, deadline).await {
            Err(e)
                if picked.reused
                    && (e.unprocessed() || (idempotent && e.closed()))
                    && Instant::now() < deadline =>
            {
                self.forget(key, picked.id).await;
                let again = self.pick(url, key, tls, deadline, dial.timeout).await?;
                id = again.id;
                let (mut head, body) = exchange(again.send, make()?, body, deadline).await?;
                head.retried = true;
                (head, body)
            }
            r => r?,
        };
        if close_after {
            self.forget(key, id).await;
        }
        head.version = Version::HTTP_2;
        Ok((head, body))
    }

    /// The user's connection to an origin, opened when there is none usable.
    async fn pick(
        &self,
        url: &Url,
        (host, port, https): (&str, u16, bool),
        tls: Option<&TlsConnector>,
        deadline: Instant,
        connect_timeout: Duration,
    ) -> Result<Picked, H2Error> {
        let mut st = self.state.lock().await;
        if let Some(i) = st.live.iter().position(|l| l.is(host, port, https)) {
            if st.live[i].usable() {
                let l = &st.live[i];
                return Ok(Picked {
                    send: l.send.clone(),
                    id: l.id,
                    reused: true,
                });
            }
            st.live.remove(i);
        }
        let send = open(url, port, tls, deadline, connect_timeout).await?;
        let id = st.next_id;
        st.next_id += 1;
        if st.live.len() >= MAX_ORIGINS {
            st.live.remove(0);
        }
        st.live.push(Live {
            id,
            host: host.to_string(),
            port,
            tls: https,
            send: send.clone(),
        });
        Ok(Picked {
            send,
            id,
            reused: false,
        })
    }

    /// Use connection `id` to an origin no more.
    async fn forget(&self, (host, port, https): (&str, u16, bool), id: u64) {
        let mut st = self.state.lock().await;
        st.live.retain(|l| !(l.id == id && l.is(host, port, https)));
    }
}

/// Send a request as a new stream on `send` and wait for the response's head.
async fn exchange(
    mut send: ::h2::client::SendRequest<Bytes>,
    req: Request<()>,
    body: Option<&Bytes>,
    deadline: Instant,
) -> Result<(Head, Body), H2Error> {
    let proto = |stage| move |source| H2Error::Proto { stage, source };
    let body = body.filter(|b| !b.is_empty()).cloned();
    let sent = async {
        poll_fn(|cx| send.poll_ready(cx))
            .await
            .map_err(proto(Stage::Sending))?;
        let (resp, mut stream) = send
            .send_request(req, body.is_none())
            .map_err(proto(Stage::Sending))?;
        if let Some(mut rest) = body {
            while !rest.is_empty() {
                stream.reserve_capacity(rest.len());
                match poll_fn(|cx| stream.poll_capacity(cx)).await {
                    Some(Ok(0)) => continue,
                    Some(Ok(n)) => {
                        let piece = rest.split_to(n.min(rest.len()));
                        stream
                            .send_data(piece, rest.is_empty())
                            .map_err(proto(Stage::Sending))?;
                    }
                    Some(Err(e)) => return Err(proto(Stage::Sending)(e)),
                    // The stream ended (reset): the response says why.
                    None => break,
                }
            }
        }
        resp.await.map_err(proto(Stage::Waiting))
    };
    let resp = match tokio::time::timeout_at(deadline, sent).await {
        Err(_) => return Err(H2Error::TimedOut(Stage::Waiting)),
        Ok(r) => r?,
    };
    let (parts, recv) = resp.into_parts();
    let head = Head {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        retried: false,
    };
    Ok((head, Body { recv, deadline }))
}

/// Open a connection to `url`'s host (over TLS with `tls`) and start HTTP/2 on it, by
/// `deadline` and within `connect_timeout`; its driver task is spawned.
async fn open(
    url: &Url,
    port: u16,
    tls: Option<&TlsConnector>,
    deadline: Instant,
    connect_timeout: Duration,
) -> Result<::h2::client::SendRequest<Bytes>, H2Error> {
    let connect_by = deadline.min(Instant::now() + connect_timeout);
    let io = |source| H2Error::Io {
        stage: Stage::Connecting,
        source,
    };
    let opened = async {
        let tcp = match url.host() {
            Some(url::Host::Ipv4(ip)) => TcpStream::connect((ip, port)).await,
            Some(url::Host::Ipv6(ip)) => TcpStream::connect((ip, port)).await,
            Some(url::Host::Domain(d)) => TcpStream::connect((d, port)).await,
            None => return Err(H2Error::NoHost(url.clone())),
        }
        .map_err(io)?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = tls else {
            return handshake(tcp).await;
        };
        use rustls::pki_types::ServerName;
        // An IP address is verified against the certificate's IP names and sent no SNI.
        let name = match url.host() {
            Some(url::Host::Ipv4(ip)) => ServerName::from(std::net::IpAddr::from(ip)),
            Some(url::Host::Ipv6(ip)) => ServerName::from(std::net::IpAddr::from(ip)),
            Some(url::Host::Domain(d)) => ServerName::try_from(d.to_string())
                .map_err(|_| H2Error::BadServerName(d.to_string()))?,
            None => return Err(H2Error::NoHost(url.clone())),
        };
        // A refused certificate or a failed handshake is an `io::Error` that wraps the
        // `rustls::Error`. A server that picks no protocol by ALPN is spoken to in HTTP/2
        // all the same (prior knowledge).
        let stream = tls.connect(name, tcp).await.map_err(io)?;
        handshake(stream).await
    };
    match tokio::time::timeout_at(connect_by, opened).await {
        Ok(r) => r,
        Err(_) => Err(H2Error::TimedOut(Stage::Connecting)),
    }
}

/// The HTTP/2 preface and settings over `io`; the connection's driver is spawned.
async fn handshake<T>(io: T) -> Result<::h2::client::SendRequest<Bytes>, H2Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = ::h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_send_buffer_size(MAX_SEND_BUF)
        .enable_push(false)
        .handshake::<T, Bytes>(io)
        .await
        .map_err(|source| H2Error::Proto {
            stage: Stage::Connecting,
            source,
        })?;
    // Ends when the server closes the connection, or once every handle is dropped and
    // every stream is done.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}
