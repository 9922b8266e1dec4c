//! A step's request as Skein builds it for one user: URL, query, headers (the scenario's
//! defaults, the step's own, credentials), and body, rendered from the user's variables.
//! The same request goes out on either path.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use rand::RngCore;
use url::Url;

use crate::scenario::template::Vars;
use crate::scenario::{Auth, Body, HttpDefaults, StepPlan};

/// A request as Skein builds it, sent over either path (and rebuilt for each redirect).
pub struct Req {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// The step's own timeout (else the scenario's).
    pub timeout: Option<Duration>,
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
    let mut headers = request_headers(defaults, step, vars, rng)?;
    let body = request_body(defaults, step, vars, rng, &mut headers)?;
    Ok(Req {
        method,
        url,
        headers,
        body,
        timeout: step.timeout,
    })
}

/// A step's headers: the scenario's default headers that the client does not send itself
/// (templated ones, credentials) unless the step sets the same name, the step's own, and
/// its `auth`.
fn request_headers(
    defaults: &HttpDefaults,
    step: &StepPlan,
    vars: &Vars,
    rng: &mut dyn RngCore,
) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: String| -> Result<(), String> {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid HTTP header name"))?;
        let v = HeaderValue::try_from(value)
            .map_err(|_| format!("the value of header `{name}` is not valid in HTTP"))?;
        headers.append(n, v);
        Ok(())
    };
    // A step's own header (or credentials) replaces a default one of the same name; literal
    // defaults are the client's, which only fills in what a request leaves out.
    for (name, value) in defaults
        .headers
        .iter()
        .filter(|(n, v)| {
            (v.as_literal().is_none() || is_credential(n))
                && !step_sets(step, n)
                && !(step.auth.is_some() && n.eq_ignore_ascii_case("authorization"))
        })
        .chain(step.headers.iter())
    {
        add(name, value.render(vars, rng).map_err(|e| e.to_string())?)?;
    }
    if let Some(auth) = &step.auth {
        headers.append(AUTHORIZATION, authorization(auth, vars, rng)?);
    }
    Ok(headers)
}

/// The headers of a WebSocket step's upgrade request: those [`build_request`] sends
/// (templated and credential defaults, the step's own, its `auth`) and those the client
/// would add (literal defaults, the user agent), but not the upgrade's own.
pub fn upgrade_headers(
    defaults: &HttpDefaults,
    step: &StepPlan,
    vars: &Vars,
    rng: &mut dyn RngCore,
) -> Result<HeaderMap, String> {
    let mut headers = request_headers(defaults, step, vars, rng)?;
    for (name, value) in &defaults.headers {
        if let Some(v) = value.as_literal()
            && !is_credential(name)
            && !step_sets(step, name)
            && let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(v),
            )
        {
            headers.entry(n).or_insert(v);
        }
    }
    if let Ok(ua) = HeaderValue::from_str(&defaults.user_agent) {
        headers.entry(http::header::USER_AGENT).or_insert(ua);
    }
    Ok(headers)
}

/// Whether the step sets header `name` itself.
fn step_sets(step: &StepPlan, name: &str) -> bool {
    step.headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// A step's body, rendered, with its content type added to `headers` unless a header
/// written in the scenario gives one.
fn request_body(
    defaults: &HttpDefaults,
    step: &StepPlan,
    vars: &Vars,
    rng: &mut dyn RngCore,
    headers: &mut HeaderMap,
) -> Result<Option<Bytes>, String> {
    // The body's content type, unless a header written in the scenario says otherwise.
    let typed = step_sets(step, "content-type")
        || defaults
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let mut content_type = |ct: &'static str| {
        if !typed {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
    };
    Ok(match &step.body {
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
        Body::Multipart(m) => {
            let mut values = Vec::with_capacity(m.fields.len());
            for (_, v) in &m.fields {
                values.push(v.render(vars, rng).map_err(|e| e.to_string())?);
            }
            let body = m.encode(&values)?;
            if !typed {
                let ct = crate::scenario::multipart::MultipartBody::content_type();
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_str(&ct).map_err(|e| e.to_string())?,
                );
            }
            Some(Bytes::from(body))
        }
    })
}

/// Headers that carry credentials: sent per request, never as a client default, and dropped
/// when a redirect leaves the origin. The same list the redaction of reports uses
/// (Authorization, cookies, API keys, anything named like a token, secret or password).
pub(super) fn is_credential(name: &str) -> bool {
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
