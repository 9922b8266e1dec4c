//! One user's HTTP: its cookie jar, its own connections for `http://` and `https://`
//! (HTTP/1.1, or HTTP/2 when the scenario asks for it), and its reqwest client for the rest
//! (a page's assets over HTTP/1.1, other schemes); one hop of a request (no redirect
//! followed) over whichever path the URL takes, with what each path adds (default headers,
//! cookies, one deadline, decoding) made the same.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::{CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue, SET_COOKIE};
use reqwest::cookie::CookieStore as _;
use url::Url;

use crate::engine::EngineError;
use crate::engine::h1;
use crate::engine::h2;
use crate::metrics::ErrorKind;

use super::client::ClientFactory;
use super::decode::{self, Decoder};
use super::error::SendError;
use super::redirect::Via;
use super::request::Req;
use super::response::{Resp, RespBody};

/// A user's reqwest client (it shares the user's cookie jar), for requests that go out
/// concurrently: a page's assets. A clone shares its connection pool.
#[derive(Clone)]
pub struct Client(reqwest::Client);

/// One user's HTTP: its cookie jar, its HTTP/1.1 connections (http and https), and its
/// reqwest client for the rest (built when first needed). goose clones a user's data only
/// before the user starts; a clone shares the jar and has no connection.
#[derive(Clone)]
pub struct UserHttp {
    factory: Arc<ClientFactory>,
    jar: Option<Arc<reqwest::cookie::Jar>>,
    client: Option<Client>,
    pub(super) conn: h1::Conn,
    /// The request being written (kept between requests).
    wbuf: Vec<u8>,
    /// Its HTTP/2 connections (`http_version: 2`), shared by its concurrent requests.
    h2: h2::Conn,
}

/// How a user sends requests concurrently (a page's assets, a batch): as streams of its
/// own HTTP/2 connection, or over its reqwest client (several HTTP/1.1 connections).
#[derive(Clone, Copy)]
pub enum Concurrent<'a> {
    Client(&'a Client),
    H2(&'a UserHttp),
}

impl<'a> Concurrent<'a> {
    /// How one of the concurrent requests goes out.
    pub fn via(self) -> Via<'a> {
        match self {
            Concurrent::Client(c) => Via::Client(c),
            Concurrent::H2(u) => Via::H2(u),
        }
    }

    /// Whether the requests are streams of one HTTP/2 connection (which a browser does
    /// not limit to six at a time per host: the server's stream limit does).
    pub fn multiplexed(self) -> bool {
        matches!(self, Concurrent::H2(_))
    }
}

impl UserHttp {
    /// A user with its own cookie jar (when the scenario keeps cookies) and no connection.
    pub(super) fn new(factory: Arc<ClientFactory>) -> UserHttp {
        let jar = factory
            .defaults
            .cookies
            .then(|| Arc::new(reqwest::cookie::Jar::default()));
        UserHttp {
            factory,
            jar,
            client: None,
            conn: h1::Conn::default(),
            wbuf: Vec::new(),
            h2: h2::Conn::default(),
        }
    }

    /// The cookies the user's jar sends to `url` (a `Cookie` header's value).
    pub fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        self.jar.as_ref().and_then(|j| j.cookies(url))
    }

    /// Keep the cookies that a response from `url` sets (a WebSocket upgrade's).
    pub fn store_cookies(&self, url: &Url, headers: &http::HeaderMap) {
        if let Some(jar) = &self.jar
            && headers.contains_key(SET_COOKIE)
        {
            jar.set_cookies(&mut headers.get_all(SET_COOKIE).iter(), url);
        }
    }

    /// The user's reqwest client (shares its cookie jar), built on first use.
    pub fn client(&mut self) -> Result<Client, EngineError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let c = Client(self.factory.client(self.jar.clone())?);
        self.client = Some(c.clone());
        Ok(c)
    }

    /// Whether the user's requests are streams of its own HTTP/2 connections, so that its
    /// concurrent requests go out together on one ([`Concurrent::H2`]).
    pub fn multiplexes(&self) -> bool {
        self.factory.multiplexes()
    }

    /// Send one hop of `req` (no redirects followed) and wait for the response's head.
    pub(super) async fn hop(&mut self, req: &Req) -> Result<Resp, SendError> {
        if self.factory.fast_path(&req.url) {
            return self.fast_hop(req).await;
        }
        if self.factory.h2_path(&req.url) {
            return self.h2_hop(req).await;
        }
        let client = self.client().map_err(|e| SendError {
            kind: ErrorKind::Request,
            detail: e.to_string(),
        })?;
        client_hop(&client, req).await
    }

    /// One hop over the user's own HTTP/1.1 connection: the headers reqwest would add, the
    /// jar's cookies, one deadline for the whole exchange (as reqwest's timeout).
    async fn fast_hop(&mut self, req: &Req) -> Result<Resp, SendError> {
        let f = &*self.factory;
        let timeout = req.timeout.unwrap_or(f.defaults.timeout);
        let deadline = tokio::time::Instant::now() + timeout;
        let cookie = self.cookies(&req.url);
        let body = req.body.as_deref();
        h1::write_head(
            &mut self.wbuf,
            &req.method,
            &req.url,
            h1::HeadParts {
                headers: &req.headers,
                defaults: &f.fast_headers,
                cookie: cookie.as_ref(),
                body_len: body.map(<[u8]>::len),
            },
        );
        let dial = h1::Dial {
            timeout: timeout.min(Duration::from_secs(10)),
            tls: &f.h1_connector,
        };
        let sent = self
            .conn
            .send(
                &req.url,
                &req.method,
                &self.wbuf,
                body.unwrap_or_default(),
                deadline,
                dial,
            )
            .await;
        let (mut head, mut body) = sent.map_err(|e| {
            let mut e = SendError::from(e);
            // As reqwest says it: the example errors name the URL.
            e.detail = format!("error sending request for url ({}): {}", req.url, e.detail);
            e
        })?;
        if let Some(jar) = &self.jar
            && head.headers.contains_key(SET_COOKIE)
        {
            jar.set_cookies(&mut head.headers.get_all(SET_COOKIE).iter(), &req.url);
        }
        // A request that says `Connection: close` ends its connection, whether or not the
        // server says so too.
        let asks_close = match req.headers.contains_key(CONNECTION) {
            true => h1::has_token(&req.headers, CONNECTION, "close"),
            false => f.defaults_close,
        };
        if asks_close {
            body.close_after();
        }
        let encoding = response_encoding(&req.method, head.status, &mut head.headers);
        Ok(Resp {
            status: head.status,
            version: head.version,
            headers: head.headers,
            retried: head.retried,
            body: RespBody::H1 {
                body,
                decoder: encoding.map(Decoder::new),
            },
        })
    }
}

impl UserHttp {
    /// One hop as a stream of the user's own HTTP/2 connection to the URL's origin: the
    /// same headers, cookies, deadline and decoding as [`UserHttp::fast_hop`]. Through a
    /// shared reference: a page's assets go out at once on the one connection.
    pub(super) async fn h2_hop(&self, req: &Req) -> Result<Resp, SendError> {
        let f = &*self.factory;
        if !f.h2_path(&req.url) {
            return Err(SendError {
                kind: ErrorKind::Request,
                detail: format!("{}: HTTP/2 goes over http:// and https:// only", req.url),
            });
        }
        let timeout = req.timeout.unwrap_or(f.defaults.timeout);
        let deadline = tokio::time::Instant::now() + timeout;
        let cookie = self.cookies(&req.url);
        let body = req.body.as_ref();
        let make = || {
            h2::build(
                &req.method,
                &req.url,
                h2::RequestParts {
                    headers: &req.headers,
                    defaults: &f.fast_headers,
                    cookie: cookie.as_ref(),
                    body_len: body.map(|b| b.len()),
                },
            )
        };
        let dial = h2::Dial {
            timeout: timeout.min(Duration::from_secs(10)),
            tls: &f.h2_connector,
        };
        // A request that says `Connection: close` is the last on its connection.
        let asks_close = match req.headers.contains_key(CONNECTION) {
            true => h1::has_token(&req.headers, CONNECTION, "close"),
            false => f.defaults_close,
        };
        let sent = self
            .h2
            .send(&req.url, make, body, deadline, dial, asks_close)
            .await;
        let (mut head, body) = sent.map_err(|e| {
            let mut e = SendError::from(e);
            e.detail = format!("error sending request for url ({}): {}", req.url, e.detail);
            e
        })?;
        self.store_cookies(&req.url, &head.headers);
        let encoding = response_encoding(&req.method, head.status, &mut head.headers);
        Ok(Resp {
            status: head.status,
            version: head.version,
            headers: head.headers,
            retried: head.retried,
            body: RespBody::H2 {
                body,
                decoder: encoding.map(Decoder::new),
            },
        })
    }
}

/// How a response's body is encoded (none for a `HEAD`, a 204 or a 304); when it is, the
/// headers that describe the encoded body are removed, as reqwest does (the body is
/// decoded).
fn response_encoding(
    method: &Method,
    status: http::StatusCode,
    headers: &mut http::HeaderMap,
) -> Option<decode::Encoding> {
    let encoding = match status.as_u16() {
        204 | 304 => None,
        _ if *method == Method::HEAD => None,
        _ => headers
            .get(CONTENT_ENCODING)
            .and_then(|v| decode::Encoding::from_header(v.as_bytes())),
    };
    if encoding.is_some() {
        headers.remove(CONTENT_ENCODING);
        headers.remove(CONTENT_LENGTH);
    }
    encoding
}

/// One hop of `req` with a reqwest client.
pub(super) async fn client_hop(client: &Client, req: &Req) -> Result<Resp, SendError> {
    let mut r = reqwest::Request::new(req.method.clone(), req.url.clone());
    *r.headers_mut() = req.headers.clone();
    *r.body_mut() = req.body.clone().map(reqwest::Body::from);
    *r.timeout_mut() = req.timeout;
    let mut resp = client.0.execute(r).await.map_err(SendError::from)?;
    Ok(Resp {
        status: resp.status(),
        version: resp.version(),
        headers: std::mem::take(resp.headers_mut()),
        // hyper retries by itself only a request it never wrote, and says nothing.
        retried: false,
        body: RespBody::Client(resp),
    })
}
