//! HTTP for one user: its connections, one step's request, and the outcome of sending it.
//!
//! Each user has its own cookie jar and its own connections. A plain `http://` request goes
//! over the user's own HTTP/1.1 connection (`h1.rs`: Skein's own framing over `httparse`,
//! the fast path); HTTPS, HTTP/2 and a page's concurrent assets go through the user's
//! `reqwest::Client`, built the first time the user needs it and sharing the same jar.
//! Every client shares one rustls configuration, so 10,000 users do not load the system's
//! root certificates 10,000 times. Skein follows redirects itself ([`send`]), on either
//! path, so both count them and honour each step's limit the same way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::RngCore;
use reqwest::cookie::CookieStore as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url, Version};

use crate::metrics::{ErrorKind, Protocol, ResponseMeta, ServerTimingNames};
use crate::scenario::check::Response;
use crate::scenario::template::Vars;
use crate::scenario::{Auth, Body, DEFAULT_MAX_REDIRECTS, HttpDefaults, HttpVersion, StepPlan};

use super::EngineError;
use super::decode::{self, Decoder};
use super::h1;

/// What every user's HTTP shares.
pub struct ClientFactory {
    tls: Arc<rustls::ClientConfig>,
    defaults: HttpDefaults,
    /// The scenario's literal default headers (credentials aside): the client's defaults.
    default_headers: HeaderMap,
    /// What the fast path adds to a request that lacks it: the default headers and what
    /// reqwest adds (user agent, `accept`, `accept-encoding`).
    fast_headers: HeaderMap,
    /// The default headers say `Connection: close`.
    defaults_close: bool,
    /// Plain-http requests go over the user's own HTTP/1.1 connection (unless the scenario
    /// asks for HTTP/2).
    fast: bool,
}

/// A certificate verifier that accepts anything (`tls_verify: false`, said in the report).
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config(defaults: &HttpDefaults, https: bool) -> Result<rustls::ClientConfig, EngineError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::Tls(e.to_string()))?;
    let mut cfg = if !defaults.tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else if let Some(ca) = &defaults.ca_file {
        // The system's roots and the file's certificates (checked when it was loaded).
        let extra = ca
            .certs
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.clone()));
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
            .map_err(|e| {
                EngineError::Tls(format!(
                    "trusting the certificates of {}: {e}",
                    ca.path.display()
                ))
            })?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    } else {
        use rustls_platform_verifier::BuilderVerifierExt;
        match builder.clone().with_platform_verifier() {
            Ok(b) => b.with_no_client_auth(),
            // Without system roots plain HTTP still works; HTTPS cannot be verified.
            Err(e) if https => {
                return Err(EngineError::Tls(format!(
                    "loading the system's root certificates: {e}"
                )));
            }
            Err(_) => builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        }
    };
    cfg.alpn_protocols = match defaults.http_version {
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(cfg)
}

impl ClientFactory {
    pub fn new(defaults: &HttpDefaults, base_url: &str) -> Result<ClientFactory, EngineError> {
        let tls = Arc::new(tls_config(defaults, base_url.starts_with("https:"))?);
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
        fast_headers
            .entry(reqwest::header::USER_AGENT)
            .or_insert(ua);
        fast_headers
            .entry(reqwest::header::ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        // What reqwest's gzip, deflate and brotli features send, and what the fast path
        // decodes.
        fast_headers
            .entry(reqwest::header::ACCEPT_ENCODING)
            .or_insert(HeaderValue::from_static("gzip,deflate,br"));
        let defaults_close = h1::has_token(&fast_headers, reqwest::header::CONNECTION, "close");
        Ok(ClientFactory {
            tls,
            defaults: defaults.clone(),
            default_headers,
            fast_headers,
            defaults_close,
            fast: defaults.http_version != HttpVersion::Http2,
        })
    }

    /// A new user's HTTP: its own cookie jar, no connection yet. Its client is built now
    /// when `eager` (a target that needs it from the first request: HTTPS, HTTP/2; see
    /// [`ClientFactory::needs_client`]), else the first time a request needs it.
    pub fn user(self: &Arc<Self>, eager: bool) -> Result<UserHttp, EngineError> {
        let jar = self
            .defaults
            .cookies
            .then(|| Arc::new(reqwest::cookie::Jar::default()));
        let mut user = UserHttp {
            factory: self.clone(),
            jar,
            client: None,
            conn: h1::Conn::default(),
            wbuf: Vec::new(),
        };
        if eager {
            user.client()?;
        }
        Ok(user)
    }

    /// Whether requests to `url` take the fast path.
    fn fast_path(&self, url: &Url) -> bool {
        self.fast && url.scheme() == "http"
    }

    /// Whether the users' first requests (to the base URL) need their reqwest client.
    pub fn needs_client(&self, base_url: &str) -> bool {
        !self.fast || !base_url.starts_with("http:")
    }

    /// A new client with its own connection pool, and `jar` as its cookie jar.
    fn client(
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

/// One user's HTTP: its cookie jar, its HTTP/1.1 connection for plain http, and its
/// reqwest client for the rest (built when first needed). goose clones a user's data only
/// before the user starts; a clone shares the jar and has no connection.
#[derive(Clone)]
pub struct UserHttp {
    factory: Arc<ClientFactory>,
    jar: Option<Arc<reqwest::cookie::Jar>>,
    client: Option<reqwest::Client>,
    conn: h1::Conn,
    /// The request being written (kept between requests).
    wbuf: Vec<u8>,
}

impl UserHttp {
    /// The user's reqwest client (shares its cookie jar), built on first use.
    pub fn client(&mut self) -> Result<reqwest::Client, EngineError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let c = self.factory.client(self.jar.clone())?;
        self.client = Some(c.clone());
        Ok(c)
    }

    /// Send one hop of `req` (no redirects followed) and wait for the response's head.
    async fn hop(&mut self, req: &Req) -> Result<Resp, SendError> {
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
        use reqwest::header::{CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, SET_COOKIE};
        let f = &*self.factory;
        let timeout = req.timeout.unwrap_or(f.defaults.timeout);
        let deadline = tokio::time::Instant::now() + timeout;
        let cookie = self.jar.as_ref().and_then(|j| j.cookies(&req.url));
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
        let connect_timeout = timeout.min(Duration::from_secs(10));
        let sent = self
            .conn
            .send(
                &req.url,
                &req.method,
                &self.wbuf,
                body.unwrap_or_default(),
                deadline,
                connect_timeout,
            )
            .await;
        let (mut head, mut body) = sent.map_err(|mut e| {
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
async fn client_hop(client: &reqwest::Client, req: &Req) -> Result<Resp, SendError> {
    let mut r = reqwest::Request::new(req.method.clone(), req.url.clone());
    *r.headers_mut() = req.headers.clone();
    *r.body_mut() = req.body.clone().map(reqwest::Body::from);
    *r.timeout_mut() = req.timeout;
    let mut resp = client.execute(r).await.map_err(|e| SendError {
        kind: classify(&e),
        detail: error_chain(&e),
    })?;
    Ok(Resp {
        status: resp.status(),
        version: resp.version(),
        headers: std::mem::take(resp.headers_mut()),
        // hyper retries by itself only a request it never wrote, and says nothing.
        retried: false,
        body: RespBody::Client(resp),
    })
}

/// A request as Skein builds it, sent over either path (and rebuilt for each redirect).
pub struct Req {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// The step's own timeout (else the scenario's).
    pub timeout: Option<Duration>,
}

/// The most of a body that Skein keeps, decoded: the body a step's checks, extracts or page
/// read. A longer one is a [`ErrorKind::Body`] error ([`body_too_long`]); a body nothing
/// reads is discarded as it arrives, however long.
const MAX_BODY: usize = 256 << 20;

/// The error of a body longer than [`MAX_BODY`].
fn body_too_long(url: &Url) -> SendError {
    SendError {
        kind: ErrorKind::Body,
        detail: format!(
            "the body of {url} is longer than 256 MiB ({MAX_BODY} bytes), the most Skein keeps \
             for a step's checks, extracts or page; the rest was not read"
        ),
    }
}

/// A response's head, and its body still to read.
pub struct Resp {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// Sent again on a new connection (see [`h1::Conn::send`]).
    retried: bool,
    body: RespBody,
}

enum RespBody {
    Client(reqwest::Response),
    H1 {
        body: h1::Body,
        /// A compressed body is decoded as it arrives, in pieces.
        decoder: Option<Decoder>,
    },
}

impl Resp {
    /// The next piece of the body (decoded), `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        match &mut self.body {
            RespBody::Client(r) => r.chunk().await.map_err(|e| SendError {
                kind: match classify(&e) {
                    ErrorKind::Request | ErrorKind::Connect => ErrorKind::Body,
                    k => k,
                },
                detail: error_chain(&e),
            }),
            RespBody::H1 {
                body,
                decoder: None,
            } => body.chunk().await,
            RespBody::H1 {
                body,
                decoder: Some(dec),
            } => loop {
                let enc = dec.encoding();
                let bad = |e: std::io::Error| SendError {
                    kind: ErrorKind::Body,
                    detail: format!("error decoding response body ({enc:?}): {e}"),
                };
                if let Some(piece) = dec.next_piece().map_err(bad)? {
                    // A bomb decodes without waiting on the socket: let the other users of
                    // this thread run, and stop at the request's deadline.
                    tokio::task::coop::consume_budget().await;
                    if body.past_deadline() {
                        return Err(SendError {
                            kind: ErrorKind::Timeout,
                            detail: "operation timed out (decoding the body)".into(),
                        });
                    }
                    return Ok(Some(piece));
                }
                match body.chunk().await? {
                    Some(raw) => dec.push(&raw),
                    None => {
                        dec.finish().map_err(bad)?;
                        return Ok(None);
                    }
                }
            },
        }
    }

    /// Read and drop the rest of the body, counting its bytes (a redirect's, so its
    /// connection can be reused).
    async fn drain(&mut self, bytes: &mut u64) -> Result<(), SendError> {
        while let Some(c) = self.chunk().await? {
            *bytes += c.len() as u64;
        }
        Ok(())
    }

    /// Give the connection of a response read to its end back to its user.
    fn recycle(self, via: &mut Via<'_>) {
        if let (RespBody::H1 { body, .. }, Via::User(u)) = (self.body, via) {
            u.conn.put_back(body);
        }
    }
}

/// How one step's request ended.
pub struct Outcome {
    /// When the request was handed to the client.
    pub sent: Instant,
    /// Send to the end (last body byte, error or timeout), µs.
    pub elapsed_us: u64,
    /// Send to last body byte, µs, when a whole response arrived.
    pub service_us: Option<u64>,
    pub error: Option<ErrorKind>,
    /// Detail of the error, for the log of example errors.
    pub detail: Option<String>,
    pub failed_checks: Vec<u16>,
    pub bytes: u64,
    /// Server-Timing entries, redirects followed and HTTP version of the response.
    pub meta: ResponseMeta,
    /// A page step's document (whatever its status), for finding its assets.
    pub document: Option<Document>,
}

/// The HTML document of a page step, as received.
pub struct Document {
    /// The URL it came from (after redirects): relative asset URLs resolve against it.
    pub url: reqwest::Url,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

fn append_url(out: &mut String, base: &str, path: &str) {
    if path.starts_with("http://") || path.starts_with("https://") {
        out.push_str(path);
        return;
    }
    out.push_str(base.trim_end_matches('/'));
    if !path.starts_with('/') {
        out.push('/');
    }
    out.push_str(path);
}

/// Build the request of `step` for a user (templates rendered with its variables).
pub fn build_request(
    base_url: &str,
    defaults: &HttpDefaults,
    step: &StepPlan,
    vars: &Vars,
    rng: &mut dyn RngCore,
    buf: &mut String,
) -> Result<Req, String> {
    buf.clear();
    let mut path = String::new();
    step.path
        .render_into(vars, rng, &mut path)
        .map_err(|e| e.to_string())?;
    append_url(buf, base_url, &path);
    if !step.query.is_empty() {
        buf.push(if buf.contains('?') { '&' } else { '?' });
        let mut ser = Vec::with_capacity(step.query.len());
        for (k, v) in &step.query {
            ser.push((k.clone(), v.render(vars, rng).map_err(|e| e.to_string())?));
        }
        buf.push_str(&encode_pairs(&ser));
    }
    let url = Url::parse(buf).map_err(|e| format!("bad URL {buf:?}: {e}"))?;
    let method = Method::from_bytes(step.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: String| -> Result<(), String> {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid HTTP header name"))?;
        let v = HeaderValue::try_from(value)
            .map_err(|_| format!("the value of header `{name}` is not valid in HTTP"))?;
        headers.append(n, v);
        Ok(())
    };
    let step_sets = |name: &str| {
        step.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    // A step's own header (or credentials) replaces a default one of the same name; literal
    // defaults are the client's, which only fills in what a request leaves out.
    for (name, value) in defaults
        .headers
        .iter()
        .filter(|(n, v)| {
            (v.as_literal().is_none() || is_credential(n))
                && !step_sets(n)
                && !(step.auth.is_some() && n.eq_ignore_ascii_case("authorization"))
        })
        .chain(step.headers.iter())
    {
        add(name, value.render(vars, rng).map_err(|e| e.to_string())?)?;
    }
    if let Some(auth) = &step.auth {
        headers.append(
            reqwest::header::AUTHORIZATION,
            authorization(auth, vars, rng)?,
        );
    }
    // The body's content type, unless a header written in the scenario says otherwise.
    let typed = step_sets("content-type")
        || defaults
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let mut content_type = |ct: &'static str| {
        if !typed {
            headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
    };
    let body = match &step.body {
        Body::None => None,
        Body::Raw(t) => Some(Bytes::from(t.render(vars, rng).map_err(|e| e.to_string())?)),
        Body::Json(j) => {
            let v = j.render("json", vars, rng).map_err(|e| e.to_string())?;
            content_type("application/json");
            Some(Bytes::from(v.to_string()))
        }
        Body::Form(fields) => {
            let mut pairs = Vec::with_capacity(fields.len());
            for (k, v) in fields {
                pairs.push((k.clone(), v.render(vars, rng).map_err(|e| e.to_string())?));
            }
            content_type("application/x-www-form-urlencoded");
            Some(Bytes::from(encode_pairs(&pairs)))
        }
        Body::File(f) => {
            if let Some(ct) = f.content_type {
                content_type(ct);
            }
            Some(f.bytes.clone())
        }
    };
    Ok(Req {
        method,
        url,
        headers,
        body,
        timeout: step.timeout,
    })
}

/// Headers that carry credentials: sent per request, never as a client default, and dropped
/// when a redirect leaves the origin. The same list the redaction of reports uses
/// (Authorization, cookies, API keys, anything named like a token, secret or password).
fn is_credential(name: &str) -> bool {
    crate::scenario::is_secret_header(name)
}

/// The `Authorization` header of `auth` for this user, marked sensitive.
fn authorization(auth: &Auth, vars: &Vars, rng: &mut dyn RngCore) -> Result<HeaderValue, String> {
    use base64::Engine as _;
    let text = match auth {
        Auth::Bearer(t) => {
            let mut s = String::from("Bearer ");
            t.render_into(vars, rng, &mut s)
                .map_err(|e| e.to_string())?;
            s
        }
        Auth::Basic { username, password } => {
            let mut pair = username.render(vars, rng).map_err(|e| e.to_string())?;
            pair.push(':');
            password
                .render_into(vars, rng, &mut pair)
                .map_err(|e| e.to_string())?;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
    };
    // Never echo the value: it is a credential.
    let mut v = HeaderValue::from_str(&text)
        .map_err(|_| "the credentials of `auth` are not valid in an HTTP header".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}

/// `application/x-www-form-urlencoded` serialisation.
fn encode_pairs(pairs: &[(String, String)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// Sort a transport failure into a kind.
pub fn classify(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(kind) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io_kind(io.kind()))
        {
            return kind;
        }
        if s.downcast_ref::<rustls::Error>().is_some() {
            return ErrorKind::Tls;
        }
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("connection closed before message completed")
            || text.contains("connection reset")
        {
            return ErrorKind::ConnectionReset;
        }
        if text.contains("certificate") || text.contains("tls") {
            return ErrorKind::Tls;
        }
        src = s.source();
    }
    if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_body() || e.is_decode() {
        ErrorKind::Body
    } else {
        ErrorKind::Request
    }
}

/// The kind a socket error names, if it names one (refused, reset or closed, timed out);
/// both paths sort socket errors with it.
pub fn io_kind(kind: std::io::ErrorKind) -> Option<ErrorKind> {
    use std::io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => Some(ErrorKind::ConnectionRefused),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Some(ErrorKind::ConnectionReset)
        }
        K::TimedOut => Some(ErrorKind::Timeout),
        _ => None,
    }
}

/// The text of an error and its causes, one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = x.source();
    }
    s
}

/// Why [`send`] got no final response.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    pub kind: ErrorKind,
    /// The error and its causes, one line.
    pub detail: String,
}

/// The statuses that redirect (with a `Location`).
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Where a redirect points: its `Location` resolved against the URL it answered, when it is
/// an http(s) URL.
fn location(resp: &Resp, from: &Url) -> Option<Url> {
    let loc = resp.headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
    let url = from.join(loc.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// Turn `req` into the request of the next hop, as browsers make it: a 303, or a 301/302
/// after a POST, becomes a GET without a body; leaving the origin drops credentials and
/// cookies set by hand (the user's cookie jar still adds those of the new URL).
fn redirect_request(req: &mut Req, status: StatusCode, to: Url) {
    use reqwest::header;
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

/// The HTTP version of a response.
pub fn protocol(v: Version) -> Protocol {
    match v {
        Version::HTTP_09 => Protocol::Http09,
        Version::HTTP_10 => Protocol::Http10,
        Version::HTTP_2 => Protocol::Http2,
        Version::HTTP_3 => Protocol::Http3,
        _ => Protocol::Http11,
    }
}

/// How a request goes out.
pub enum Via<'a> {
    /// A user's HTTP: plain http over its own connection, the rest over its client.
    User(&'a mut UserHttp),
    /// A client shared by concurrent requests (a page's assets).
    Client(&'a reqwest::Client),
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

/// The error a final status is: a 4xx or 5xx the step does not check, a final 1xx, and
/// always a status outside 100-599 (RFC 9110 section 15: invalid; no `status` check can
/// expect one).
pub fn status_error(status: u16, has_status_check: bool) -> Option<ErrorKind> {
    match status {
        100..=599 if has_status_check => None,
        400..=499 => Some(ErrorKind::Http4xx),
        500..=599 => Some(ErrorKind::Http5xx),
        200..=399 => None,
        _ => Some(ErrorKind::HttpOther),
    }
}

/// The example error of a status that is an error.
pub fn status_detail(status: u16) -> String {
    if (100..=599).contains(&status) {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: not a valid status (HTTP's are 100 to 599)")
    }
}

/// Send `req` over the user's HTTP, read the whole body, run the step's checks and
/// extractions (writing extracted values into `vars`). Redirects are followed up to the
/// step's limit; the response's `Server-Timing` entries are collected with the run's
/// `names`.
pub async fn execute(
    http: &mut UserHttp,
    mut req: Req,
    step: &StepPlan,
    vars: &mut Vars,
    names: &ServerTimingNames,
) -> Outcome {
    let t0 = Instant::now();
    let mut meta = ResponseMeta::default();
    let mut bytes = 0u64;
    let max_redirects = step.follow_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS);
    let failed = |e: SendError, bytes: u64, meta: ResponseMeta| Outcome {
        sent: t0,
        elapsed_us: t0.elapsed().as_micros() as u64,
        service_us: None,
        error: Some(e.kind),
        detail: Some(e.detail),
        failed_checks: Vec::new(),
        bytes,
        meta,
        document: None,
    };
    let mut via = Via::User(http);
    let mut resp = match send(&mut via, &mut req, max_redirects, &mut meta, &mut bytes).await {
        Ok(r) => r,
        Err(e) => return failed(e, bytes, meta),
    };
    meta.protocol = Some(protocol(resp.version));
    for v in resp.headers.get_all("server-timing") {
        meta.server_timing.add_header(v.as_bytes(), names);
    }
    let status = resp.status.as_u16();
    let needs_body = step
        .checks
        .iter()
        .any(|c| !matches!(c.kind, crate::scenario::check::CheckKind::Status(_)))
        || !step.extracts.is_empty()
        || step.page.is_some();
    let mut body: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                bytes += c.len() as u64;
                if needs_body {
                    if body.len() + c.len() > MAX_BODY {
                        // Dropped, not recycled: its connection closes.
                        return failed(body_too_long(&req.url), bytes, meta);
                    }
                    body.extend_from_slice(&c);
                }
            }
            Ok(None) => break,
            Err(e) => return failed(e, bytes, meta),
        }
    }
    let latency_us = t0.elapsed().as_micros() as u64;
    let headers = std::mem::take(&mut resp.headers);
    resp.recycle(&mut via);
    let view = Response::new(status, &headers, &body);
    let mut failed_checks = Vec::new();
    let mut has_status_check = false;
    for (i, c) in step.checks.iter().enumerate() {
        if matches!(c.kind, crate::scenario::check::CheckKind::Status(_)) {
            has_status_check = true;
        }
        if !c.passes(&view, vars) {
            failed_checks.push(i as u16);
        }
    }
    for (i, x) in step.extracts.iter().enumerate() {
        match x.extract(&view) {
            Some(v) => vars.set(x.var, v),
            None => failed_checks.push((step.checks.len() + i) as u16),
        }
    }
    let error = status_error(status, has_status_check);
    let document = step.page.as_ref().map(|_| Document {
        url: req.url,
        status,
        headers,
        body,
    });
    Outcome {
        sent: t0,
        elapsed_us: latency_us,
        service_us: Some(latency_us),
        error,
        detail: error.map(|_| status_detail(status)),
        failed_checks: if error.is_some() {
            Vec::new()
        } else {
            failed_checks
        },
        bytes,
        meta,
        document,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_outside_100_to_599_are_errors_even_with_a_status_check() {
        for (status, checked, want) in [
            (200, false, None),
            (304, false, None),
            (404, false, Some(ErrorKind::Http4xx)),
            (404, true, None),
            (503, false, Some(ErrorKind::Http5xx)),
            (101, false, Some(ErrorKind::HttpOther)),
            (600, false, Some(ErrorKind::HttpOther)),
            (600, true, Some(ErrorKind::HttpOther)),
            (999, false, Some(ErrorKind::HttpOther)),
        ] {
            assert_eq!(status_error(status, checked), want, "{status} {checked}");
        }
        assert_eq!(status_detail(503), "HTTP 503");
        assert!(status_detail(999).contains("not a valid status"));
    }

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

    #[test]
    fn urls_join_and_encode() {
        let mut s = String::new();
        append_url(&mut s, "http://h:1/", "/a");
        assert_eq!(s, "http://h:1/a");
        s.clear();
        append_url(&mut s, "http://h:1", "a");
        assert_eq!(s, "http://h:1/a");
        s.clear();
        append_url(&mut s, "http://h:1", "https://x/y");
        assert_eq!(s, "https://x/y");
        assert_eq!(
            encode_pairs(&[("q".into(), "a b&c".into()), ("n".into(), "é".into())]),
            "q=a+b%26c&n=%C3%A9"
        );
    }
}
