//! One user's HTTP: its cookie jar, its own HTTP/1.1 connections for `http://` and
//! `https://`, and its reqwest client for the rest (HTTP/2, a page's assets); one hop of a request (no redirect followed) over
//! whichever path the URL takes, with what each path adds (default headers, cookies, one
//! deadline, decoding) made the same.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::{CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue, SET_COOKIE};
use reqwest::cookie::CookieStore as _;
use url::Url;

use crate::engine::EngineError;
use crate::engine::h1;
use crate::metrics::ErrorKind;

use super::client::ClientFactory;
use super::decode::{self, Decoder};
use super::error::SendError;
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

    /// Send one hop of `req` (no redirects followed) and wait for the response's head.
    pub(super) async fn hop(&mut self, req: &Req) -> Result<Resp, SendError> {
        if self.factory.fast_path(&req.url) {
            return self.fast_hop(req).await;
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
        let encoding = match head.status.as_u16() {
            204 | 304 => None,
            _ if req.method == Method::HEAD => None,
            _ => head
                .headers
                .get(CONTENT_ENCODING)
                .and_then(|v| decode::Encoding::from_header(v.as_bytes())),
        };
        if encoding.is_some() {
            // As reqwest: the body is decoded, so these no longer describe it.
            head.headers.remove(CONTENT_ENCODING);
            head.headers.remove(CONTENT_LENGTH);
        }
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
