//! HTTP for one user: its client, one step's request, and the outcome of sending it.
//!
//! Each user gets its own `reqwest::Client` (its own connections and cookie jar), but every
//! client shares one rustls configuration, so 10,000 users do not load the system's root
//! certificates 10,000 times.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::metrics::{ErrorKind, Protocol, ResponseMeta, ServerTimingNames};
use crate::scenario::check::Response;
use crate::scenario::template::{RenderError, Vars};
use crate::scenario::{
    Auth, Body, DEFAULT_MAX_REDIRECTS, HttpDefaults, HttpVersion, JsonTemplate, StepPlan,
};

use super::EngineError;

/// What every user's client shares.
#[derive(Clone)]
pub struct ClientFactory {
    tls: Arc<rustls::ClientConfig>,
    defaults: HttpDefaults,
    default_headers: HeaderMap,
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
        Ok(ClientFactory {
            tls,
            defaults: defaults.clone(),
            default_headers,
        })
    }

    /// A new client with its own connection pool and cookie jar.
    pub fn client(&self) -> Result<reqwest::Client, EngineError> {
        let d = &self.defaults;
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured((*self.tls).clone())
            .user_agent(d.user_agent.clone())
            .default_headers(self.default_headers.clone())
            .timeout(d.timeout)
            .connect_timeout(d.timeout.min(Duration::from_secs(10)))
            .tcp_nodelay(true)
            .no_proxy()
            .cookie_store(d.cookies)
            // Redirects are followed by `send`, which counts them and honours each step's
            // limit.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90));
        b = match d.http_version {
            HttpVersion::Http1 => b.http1_only(),
            HttpVersion::Http2 => b.http2_prior_knowledge(),
            HttpVersion::Auto => b,
        };
        b.build()
            .map_err(|e| EngineError::Config(format!("building the HTTP client: {e}")))
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

fn render_json(
    t: &JsonTemplate,
    vars: &Vars,
    rng: &mut dyn RngCore,
) -> Result<serde_json::Value, RenderError> {
    Ok(match t {
        JsonTemplate::Null => serde_json::Value::Null,
        JsonTemplate::Bool(b) => serde_json::Value::Bool(*b),
        JsonTemplate::Number(n) => serde_json::Value::Number(n.clone()),
        JsonTemplate::String(s) => serde_json::Value::String(s.render(vars, rng)?),
        JsonTemplate::Array(a) => serde_json::Value::Array(
            a.iter()
                .map(|x| render_json(x, vars, rng))
                .collect::<Result<_, _>>()?,
        ),
        JsonTemplate::Object(o) => serde_json::Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, vars, rng)?)))
                .collect::<Result<_, RenderError>>()?,
        ),
    })
}

/// Build the request of `step` for a user (templates rendered with its variables).
pub fn build_request(
    client: &reqwest::Client,
    base_url: &str,
    defaults: &HttpDefaults,
    step: &StepPlan,
    vars: &Vars,
    rng: &mut dyn RngCore,
    buf: &mut String,
) -> Result<reqwest::Request, String> {
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
    let url = reqwest::Url::parse(buf).map_err(|e| format!("bad URL {buf:?}: {e}"))?;
    let method =
        reqwest::Method::from_bytes(step.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut rb = client.request(method, url);
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
        rb = rb.header(
            name.as_str(),
            value.render(vars, rng).map_err(|e| e.to_string())?,
        );
    }
    if let Some(auth) = &step.auth {
        rb = rb.header(
            reqwest::header::AUTHORIZATION,
            authorization(auth, vars, rng)?,
        );
    }
    if let Some(t) = step.timeout {
        rb = rb.timeout(t);
    }
    // The body's content type, unless a header written in the scenario says otherwise.
    let typed = step_sets("content-type")
        || defaults
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let content_type = |rb: reqwest::RequestBuilder, ct: &'static str| {
        if typed {
            rb
        } else {
            rb.header(reqwest::header::CONTENT_TYPE, ct)
        }
    };
    rb = match &step.body {
        Body::None => rb,
        Body::Raw(t) => rb.body(t.render(vars, rng).map_err(|e| e.to_string())?),
        Body::Json(j) => {
            let v = render_json(j, vars, rng).map_err(|e| e.to_string())?;
            content_type(rb, "application/json").body(v.to_string())
        }
        Body::Form(fields) => {
            let mut pairs = Vec::with_capacity(fields.len());
            for (k, v) in fields {
                pairs.push((k.clone(), v.render(vars, rng).map_err(|e| e.to_string())?));
            }
            content_type(rb, "application/x-www-form-urlencoded").body(encode_pairs(&pairs))
        }
        Body::File(f) => {
            let rb = match f.content_type {
                Some(ct) => content_type(rb, ct),
                None => rb,
            };
            rb.body(f.bytes.clone())
        }
    };
    rb.build().map_err(|e| e.to_string())
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
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return ErrorKind::ConnectionRefused,
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return ErrorKind::ConnectionReset;
                }
                K::TimedOut => return ErrorKind::Timeout,
                _ => {}
            }
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
fn is_redirect(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Where a redirect points: its `Location` resolved against the response's URL, when it is
/// an http(s) URL.
fn location(resp: &reqwest::Response) -> Option<reqwest::Url> {
    let loc = resp
        .headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    let url = resp.url().join(loc.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The request of the next hop, as browsers make it: a 303, or a 301/302 after a POST,
/// becomes a GET without a body; leaving the origin drops credentials and cookies set by
/// hand (the user's cookie jar still adds those of the new URL).
fn redirect_request(
    mut req: reqwest::Request,
    status: reqwest::StatusCode,
    from: &reqwest::Url,
    to: reqwest::Url,
) -> reqwest::Request {
    use reqwest::Method;
    use reqwest::header;
    let method = req.method().clone();
    let to_get = (status.as_u16() == 303 && method != Method::HEAD)
        || (matches!(status.as_u16(), 301 | 302) && method == Method::POST);
    if to_get {
        *req.method_mut() = Method::GET;
        *req.body_mut() = None;
        for h in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
            header::TRANSFER_ENCODING,
        ] {
            req.headers_mut().remove(h);
        }
    }
    if from.origin() != to.origin() {
        for h in [
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
            header::WWW_AUTHENTICATE,
        ] {
            req.headers_mut().remove(h);
        }
    }
    *req.url_mut() = to;
    req
}

/// Read and drop a body, counting its bytes (a redirect's, so its connection can be reused).
async fn drain(mut resp: reqwest::Response, bytes: &mut u64) -> Result<(), SendError> {
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => *bytes += c.len() as u64,
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(SendError {
                    kind: match classify(&e) {
                        ErrorKind::Request | ErrorKind::Connect => ErrorKind::Body,
                        k => k,
                    },
                    detail: error_chain(&e),
                });
            }
        }
    }
}

/// The HTTP version of a response.
pub fn protocol(v: reqwest::Version) -> Protocol {
    match v {
        reqwest::Version::HTTP_09 => Protocol::Http09,
        reqwest::Version::HTTP_10 => Protocol::Http10,
        reqwest::Version::HTTP_2 => Protocol::Http2,
        reqwest::Version::HTTP_3 => Protocol::Http3,
        _ => Protocol::Http11,
    }
}

/// Send `req` with the user's client, following at most `max_redirects` redirects (301,
/// 302, 303, 307, 308 with an http(s) `Location`; 0: none, the 3xx is the answer), each
/// counted in `meta.redirects` and its body's bytes in `bytes`. More redirects than allowed
/// is an error ([`ErrorKind::TooManyRedirects`]). The clients never follow redirects
/// themselves: use this for every request that should.
pub async fn send(
    client: &reqwest::Client,
    mut req: reqwest::Request,
    max_redirects: u32,
    meta: &mut ResponseMeta,
    bytes: &mut u64,
) -> Result<reqwest::Response, SendError> {
    loop {
        // The next hop repeats the request: keep a copy while hops are left.
        let again = if meta.redirects < max_redirects {
            req.try_clone()
        } else {
            None
        };
        let resp = client.execute(req).await.map_err(|e| SendError {
            kind: classify(&e),
            detail: error_chain(&e),
        })?;
        let status = resp.status();
        if max_redirects == 0 || !is_redirect(status) {
            return Ok(resp);
        }
        let Some(to) = location(&resp) else {
            return Ok(resp);
        };
        if meta.redirects >= max_redirects {
            return Err(SendError {
                kind: ErrorKind::TooManyRedirects,
                detail: format!(
                    "more than {max_redirects} redirect{}: HTTP {} to {to}",
                    if max_redirects == 1 { "" } else { "s" },
                    status.as_u16()
                ),
            });
        }
        let Some(again) = again else {
            return Ok(resp);
        };
        let from = resp.url().clone();
        drain(resp, bytes).await?;
        meta.redirects += 1;
        req = redirect_request(again, status, &from, to);
    }
}

/// Send `req`, read the whole body, run the step's checks and extractions (writing extracted
/// values into `vars`). Redirects are followed up to the step's limit; the response's
/// `Server-Timing` entries are collected with the run's `names`.
pub async fn execute(
    client: &reqwest::Client,
    req: reqwest::Request,
    step: &StepPlan,
    vars: &mut Vars,
    names: &ServerTimingNames,
) -> Outcome {
    let t0 = Instant::now();
    let mut meta = ResponseMeta::default();
    let mut bytes = 0u64;
    let max_redirects = step.follow_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS);
    let resp = match send(client, req, max_redirects, &mut meta, &mut bytes).await {
        Ok(r) => r,
        Err(e) => {
            return Outcome {
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
        }
    };
    meta.protocol = Some(protocol(resp.version()));
    for v in resp.headers().get_all("server-timing") {
        meta.server_timing.add_header(v.as_bytes(), names);
    }
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let needs_body = step
        .checks
        .iter()
        .any(|c| !matches!(c.kind, crate::scenario::check::CheckKind::Status(_)))
        || !step.extracts.is_empty()
        || step.page.is_some();
    let final_url = step.page.as_ref().map(|_| resp.url().clone());
    let mut resp = resp;
    let mut body: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                bytes += c.len() as u64;
                if needs_body {
                    body.extend_from_slice(&c);
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Outcome {
                    sent: t0,
                    elapsed_us: t0.elapsed().as_micros() as u64,
                    service_us: None,
                    error: Some(match classify(&e) {
                        ErrorKind::Request | ErrorKind::Connect => ErrorKind::Body,
                        k => k,
                    }),
                    detail: Some(error_chain(&e)),
                    failed_checks: Vec::new(),
                    bytes,
                    meta,
                    document: None,
                };
            }
        }
    }
    let latency_us = t0.elapsed().as_micros() as u64;
    let view = Response::new(status, &headers, &body);
    let mut failed_checks = Vec::new();
    let mut has_status_check = false;
    for (i, c) in step.checks.iter().enumerate() {
        if matches!(c.kind, crate::scenario::check::CheckKind::Status(_)) {
            has_status_check = true;
        }
        if !c.passes(&view) {
            failed_checks.push(i as u16);
        }
    }
    for (i, x) in step.extracts.iter().enumerate() {
        match x.extract(&view) {
            Some(v) => vars.set(x.var, v),
            None => failed_checks.push((step.checks.len() + i) as u16),
        }
    }
    let error = match status {
        _ if has_status_check => None,
        400..=499 => Some(ErrorKind::Http4xx),
        500..=599 => Some(ErrorKind::Http5xx),
        100..=199 => Some(ErrorKind::HttpOther),
        _ => None,
    };
    let document = final_url.map(|url| Document {
        url,
        status,
        headers,
        body,
    });
    Outcome {
        sent: t0,
        elapsed_us: latency_us,
        service_us: Some(latency_us),
        error,
        detail: error.map(|_| format!("HTTP {status}")),
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
