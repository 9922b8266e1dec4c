//! HTTP for one user: its client, one step's request, and the outcome of sending it.
//!
//! Each user gets its own `reqwest::Client` (its own connections and cookie jar), but every
//! client shares one rustls configuration, so 10,000 users do not load the system's root
//! certificates 10,000 times.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::metrics::ErrorKind;
use crate::scenario::check::Response;
use crate::scenario::template::{RenderError, Vars};
use crate::scenario::{Body, HttpDefaults, HttpVersion, JsonTemplate, StepPlan};

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
            // Static default headers are set once on the client; templated ones per request.
            if let Some(v) = value.as_literal() {
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
    for (name, value) in defaults
        .headers
        .iter()
        .filter(|(_, v)| v.as_literal().is_none())
        .chain(step.headers.iter())
    {
        rb = rb.header(
            name.as_str(),
            value.render(vars, rng).map_err(|e| e.to_string())?,
        );
    }
    if let Some(t) = step.timeout {
        rb = rb.timeout(t);
    }
    rb = match &step.body {
        Body::None => rb,
        Body::Raw(t) => rb.body(t.render(vars, rng).map_err(|e| e.to_string())?),
        Body::Json(j) => {
            let v = render_json(j, vars, rng).map_err(|e| e.to_string())?;
            rb.header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(v.to_string())
        }
        Body::Form(fields) => {
            let mut pairs = Vec::with_capacity(fields.len());
            for (k, v) in fields {
                pairs.push((k.clone(), v.render(vars, rng).map_err(|e| e.to_string())?));
            }
            rb.header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encode_pairs(&pairs))
        }
    };
    rb.build().map_err(|e| e.to_string())
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

/// Send `req`, read the whole body, run the step's checks and extractions (writing extracted
/// values into `vars`).
pub async fn execute(
    client: &reqwest::Client,
    req: reqwest::Request,
    step: &StepPlan,
    vars: &mut Vars,
) -> Outcome {
    let t0 = Instant::now();
    let resp = match client.execute(req).await {
        Ok(r) => r,
        Err(e) => {
            return Outcome {
                sent: t0,
                elapsed_us: t0.elapsed().as_micros() as u64,
                service_us: None,
                error: Some(classify(&e)),
                detail: Some(error_chain(&e)),
                failed_checks: Vec::new(),
                bytes: 0,
            };
        }
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let needs_body = step
        .checks
        .iter()
        .any(|c| !matches!(c.kind, crate::scenario::check::CheckKind::Status(_)))
        || !step.extracts.is_empty();
    let mut resp = resp;
    let mut body: Vec<u8> = Vec::new();
    let mut bytes = 0u64;
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
