//! What every user's HTTP shares, and how a user's HTTP is made: the TLS configuration,
//! the scenario's default headers (as reqwest sends them, and as the fast path adds them),
//! which path a URL takes, and each user's reqwest client, built when first needed.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONNECTION, HeaderName, HeaderValue, USER_AGENT};
use url::Url;

use crate::engine::EngineError;
use crate::engine::h1;
use crate::scenario::{HttpDefaults, HttpVersion};

use super::request::is_credential;
use super::tls::tls_config;
use super::user::UserHttp;

/// What every user's HTTP shares.
pub struct ClientFactory {
    tls: Arc<rustls::ClientConfig>,
    /// The same trust offering HTTP/1.1 alone (ALPN), made once: for the fast path's
    /// `https://` connections and WebSockets over TLS. One configuration for the run, so
    /// its in-memory session cache resumes TLS sessions across users and connections.
    h1_tls: Arc<rustls::ClientConfig>,
    /// A connector around `h1_tls` (an `Arc` inside: cloned for nothing).
    pub(super) h1_connector: tokio_rustls::TlsConnector,
    /// The same trust offering `h2` alone, made once: for the users' own HTTP/2
    /// connections (`http_version: 2`), its session cache shared by all of them.
    pub(super) h2_connector: tokio_rustls::TlsConnector,
    pub(super) defaults: HttpDefaults,
    /// The scenario's literal default headers (credentials aside): the client's defaults.
    default_headers: HeaderMap,
    /// What the fast path adds to a request that lacks it: the default headers and what
    /// reqwest adds (user agent, `accept`, `accept-encoding`).
    pub(super) fast_headers: HeaderMap,
    /// The default headers say `Connection: close`.
    pub(super) defaults_close: bool,
    /// http and https requests go over the user's own connection (HTTP/1.1, or HTTP/2
    /// when the scenario asks for it), not its reqwest client.
    fast: bool,
    /// The scenario asks for HTTP/2: the users' own connections speak it.
    h2: bool,
}

impl ClientFactory {
    pub fn new(defaults: &HttpDefaults, base_url: &str) -> Result<ClientFactory, EngineError> {
        let tls = Arc::new(tls_config(defaults, base_url.starts_with("https:"))?);
        let mut h1_tls = (*tls).clone();
        h1_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let h1_tls = Arc::new(h1_tls);
        let h1_connector = tokio_rustls::TlsConnector::from(h1_tls.clone());
        let mut h2_tls = (*tls).clone();
        h2_tls.alpn_protocols = vec![b"h2".to_vec()];
        let h2_connector = tokio_rustls::TlsConnector::from(Arc::new(h2_tls));
        let mut default_headers = HeaderMap::new();
        for (name, value) in &defaults.headers {
            // Static default headers are set once on the client; templated ones and
            // credentials per request (so a redirect to another origin can drop them).
            if let Some(v) = value.as_literal().filter(|_| !is_credential(name)) {
                let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(v),
                ) else {
                    return Err(EngineError::Config(format!(
                        "default header `{name}` is not a valid HTTP header"
                    )));
                };
                default_headers.insert(n, v);
            }
        }
        let mut fast_headers = default_headers.clone();
        let ua = HeaderValue::from_str(&defaults.user_agent).map_err(|_| {
            EngineError::Config(format!(
                "the user agent {:?} is not a valid HTTP header value",
                defaults.user_agent
            ))
        })?;
        fast_headers.entry(USER_AGENT).or_insert(ua);
        fast_headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        // What reqwest's gzip, deflate and brotli features send, and what the fast path
        // decodes.
        fast_headers
            .entry(ACCEPT_ENCODING)
            .or_insert(HeaderValue::from_static("gzip,deflate,br"));
        let defaults_close = h1::has_token(&fast_headers, CONNECTION, "close");
        Ok(ClientFactory {
            tls,
            h1_tls,
            h1_connector,
            h2_connector,
            defaults: defaults.clone(),
            default_headers,
            fast_headers,
            defaults_close,
            fast: true,
            h2: defaults.http_version == HttpVersion::Http2,
        })
    }

    /// A new user's HTTP: its own cookie jar, no connection yet. Its client is built now
    /// when `eager` (a target that needs it from the first request: HTTP/2; see
    /// [`ClientFactory::needs_client`]), else the first time a request needs it.
    pub fn user(self: &Arc<Self>, eager: bool) -> Result<UserHttp, EngineError> {
        let mut user = UserHttp::new(self.clone());
        if eager {
            user.client()?;
        }
        Ok(user)
    }

    /// The run's TLS configuration for a WebSocket over TLS (`wss://`): the same trust
    /// (`tls_verify`, `ca_file`), offering HTTP/1.1 alone, which the upgrade needs.
    pub fn ws_tls(&self) -> Arc<rustls::ClientConfig> {
        self.h1_tls.clone()
    }

    /// Whether requests to `url` take the fast path: `http://` and `https://` (over TLS
    /// offering HTTP/1.1 alone), unless the scenario asks for HTTP/2.
    pub(super) fn fast_path(&self, url: &Url) -> bool {
        self.fast && !self.h2 && matches!(url.scheme(), "http" | "https")
    }

    /// Whether requests to `url` go over the user's own HTTP/2 connection: `http://` (h2c
    /// with prior knowledge) and `https://` (ALPN `h2`) when the scenario asks for HTTP/2.
    pub(super) fn h2_path(&self, url: &Url) -> bool {
        self.fast && self.h2 && matches!(url.scheme(), "http" | "https")
    }

    /// Whether the users' requests go over their own HTTP/2 connections, so that
    /// concurrent ones (a page's assets, a batch) are streams of one connection.
    pub(super) fn multiplexes(&self) -> bool {
        self.fast && self.h2
    }

    /// The same, with every request going through the users' reqwest clients, plain
    /// `http://` included: the other path, for tests that hold the two side by side.
    pub fn without_fast_path(mut self) -> ClientFactory {
        self.fast = false;
        self
    }

    /// Whether the users' first requests (to the base URL) need their reqwest client.
    pub fn needs_client(&self, base_url: &str) -> bool {
        !self.fast || !(base_url.starts_with("http:") || base_url.starts_with("https:"))
    }

    /// A new client with its own connection pool, and `jar` as its cookie jar.
    pub(super) fn client(
        &self,
        jar: Option<Arc<reqwest::cookie::Jar>>,
    ) -> Result<reqwest::Client, EngineError> {
        let d = &self.defaults;
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured((*self.tls).clone())
            .user_agent(d.user_agent.clone())
            .default_headers(self.default_headers.clone())
            .timeout(d.timeout)
            .connect_timeout(d.timeout.min(Duration::from_secs(10)))
            .tcp_nodelay(true)
            .no_proxy()
            // Redirects are followed by `send`, which counts them and honours each step's
            // limit.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90));
        if let Some(jar) = jar {
            b = b.cookie_provider(jar);
        }
        b = match d.http_version {
            HttpVersion::Http1 => b.http1_only(),
            HttpVersion::Http2 => b.http2_prior_knowledge(),
            HttpVersion::Auto => b,
        };
        b.build()
            .map_err(|e| EngineError::Config(format!("building the HTTP client: {e}")))
    }
}
