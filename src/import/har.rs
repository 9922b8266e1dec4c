//! `skein import har`: a browser recording (HAR 1.2) into a scenario.
//!
//! The rules, in the order they apply:
//!
//! - **Which requests.** Documents and XHR/fetch requests are kept; static assets
//!   (stylesheets, scripts, images, fonts, media: by Chrome's `_resourceType`, else by the
//!   response's MIME type, else by the path's extension) are dropped, or with
//!   [`Assets::Page`] folded into the document before them, which becomes a `page:` step
//!   with `assets: auto`. Preflights, pings, WebSocket and event streams, requests that got
//!   no response (status 0) and other schemes (`data:`, `chrome-extension:`) are dropped.
//! - **Which hosts.** The first document's origin is the scenario's `target` (or
//!   [`Options::target`]) and its requests get relative paths; other hosts are dropped
//!   unless listed in [`Options::hosts`] or [`Options::all_hosts`], and then keep their
//!   absolute URL.
//! - **Which headers.** Cookies (each user has its own jar), `content-length`, `host`,
//!   `connection`, `accept-encoding`, HTTP/2 pseudo-headers (`:authority`...), browser
//!   noise (`sec-ch-*`, `sec-fetch-*`, `user-agent`, `referer`, `origin`, cache
//!   validators...) are dropped, unless named in [`Options::keep_headers`].
//! - **Correlation.** A value a response carried (a JSON string, a `Set-Cookie` value, a
//!   `Location` header, a hidden form input) that reappears verbatim in a later request (its
//!   path, query, headers or body), and that was not sent before the response came (the
//!   user typed it), becomes an `extract:` on the response's step and `${var}` in the later
//!   requests. Short or common values (under 6 characters, words without digits under 16
//!   characters, anything with spaces) are left alone, and a value only matches as a whole
//!   token (not inside a longer run of letters and digits).
//! - **Credentials.** `Authorization` headers, other credential headers, passwords and
//!   tokens in JSON, form and query fields (`password`, `passwd`, `secret`, `token`...) and
//!   `user:password@` in URLs become `${env.NAME}` references (`auth:` for bearer and basic
//!   credentials), unless correlation already replaced them; the recorded value is never
//!   written.
//! - **Think times** from the gaps between pages: the time from the end of what a page
//!   loaded to the next document's start, rounded (100 ms under a second, half seconds under
//!   10 s, whole seconds above, at most 30 s), after the step before the next document.
//! - **Checks**: the recorded status; a redirect (3xx) is not followed (`follow_redirects:
//!   false`), so the request after it replays as recorded and its `Location` can be
//!   correlated; a recorded `304` accepts `200` too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

/// A HAR file that cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum HarError {
    #[error("{}:{line}:{column}: not JSON: {msg}\n  hint: a HAR file is JSON, as a browser's developer tools save it (Network tab, \"Save all as HAR\")", .file.display())]
    NotJson {
        file: PathBuf,
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("{}:{line}:{column}: not a HAR file: {msg}\n  hint: a HAR 1.2 file is an object {{\"log\": {{\"entries\": [...]}}}} whose entries have a `request` and a `response`", .file.display())]
    NotHar {
        file: PathBuf,
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("{}: the recording is empty: `log.entries` has no requests\n  hint: open the developer tools' Network tab (with \"Preserve log\") before loading the page, then save all as HAR", .file.display())]
    Empty { file: PathBuf },
    #[error("{}: nothing to import: {why}\n  hint: {hint}", .file.display())]
    NothingKept {
        file: PathBuf,
        why: String,
        hint: String,
    },
}

/// What happens to static assets (stylesheets, scripts, images, fonts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assets {
    /// Dropped (the default): the scenario sends what the application asked for.
    #[default]
    Drop,
    /// Each document becomes a `page:` step with `assets: auto`, which fetches what its HTML
    /// links (the assets recorded after it are not written).
    Page,
    /// Kept as steps of their own, as recorded.
    Keep,
}

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    pub assets: Assets,
    /// Other hosts to keep (`cdn.example.com` or `host:port`), besides the first document's.
    pub hosts: Vec<String>,
    /// Keep every host.
    pub all_hosts: bool,
    /// Header names kept although dropped by default (`user-agent`, `origin`), any case.
    pub keep_headers: Vec<String>,
    /// The scenario's `target` (a base URL or `embedded:phase9`) instead of the first
    /// document's origin.
    pub target: Option<String>,
    /// The run's name; default: the HAR file's name without its extension.
    pub name: Option<String>,
    /// `load.users`.
    pub users: usize,
    /// `load.duration`.
    pub duration: String,
    /// When the import was made, for the header comment.
    pub date: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            assets: Assets::Drop,
            hosts: Vec::new(),
            all_hosts: false,
            keep_headers: Vec::new(),
            target: None,
            name: None,
            users: 1,
            duration: "10s".into(),
            date: String::new(),
        }
    }
}

/// The scenario written, and what was done to get it.
#[derive(Debug, Clone)]
pub struct Import {
    /// The scenario file, with a header comment.
    pub yaml: String,
    pub summary: Summary,
}

/// What the import kept, correlated, dropped and turned into environment references.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Requests in the recording.
    pub entries: usize,
    /// Steps written.
    pub steps: usize,
    pub correlated: Vec<Correlated>,
    pub env: Vec<EnvRef>,
    /// One line per reason (`12 static assets (image 7, script 3, stylesheet 2)`).
    pub dropped: Vec<String>,
    /// Request headers dropped, lower case.
    pub dropped_headers: BTreeSet<String>,
    /// Anything else worth a look (a body kept raw, a capped think time).
    pub notes: Vec<String>,
}

/// A value correlated from a response into later requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlated {
    pub var: String,
    /// The 1-based step whose response carries it.
    pub step: usize,
    /// That step, `POST /api/login`.
    pub step_label: String,
    /// Where it is extracted from: `json $.token`, `header location`, `cookie sid`,
    /// `hidden input csrf`.
    pub source: String,
    /// Where it is used: `step 3 (GET /api/cart): header Authorization`.
    pub used_in: Vec<String>,
}

/// A credential replaced by `${env.NAME}`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvRef {
    pub name: String,
    /// Where it was: `json field password of step 2 (POST /api/login)`.
    pub what: String,
}

impl Summary {
    /// The summary as lines of text, for the terminal and the file's header comment.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} of {} recorded requests kept as {} steps",
            self.steps, self.entries, self.steps
        )];
        if self.correlated.is_empty() {
            out.push("correlated: nothing".into());
        } else {
            out.push("correlated (extract on one step, ${var} in later ones):".into());
            for c in &self.correlated {
                out.push(format!(
                    "  {}: {} of step {} ({}), used in {}",
                    c.var,
                    c.source,
                    c.step,
                    c.step_label,
                    c.used_in.join("; ")
                ));
            }
        }
        if !self.env.is_empty() {
            out.push(
                "environment variables to set before running (the recorded values are not written):"
                    .into(),
            );
            for e in &self.env {
                out.push(format!("  {}: {}", e.name, e.what));
            }
        }
        if !self.dropped.is_empty() {
            out.push(format!("dropped: {}", self.dropped.join("; ")));
        }
        if !self.dropped_headers.is_empty() {
            let names: Vec<&str> = self.dropped_headers.iter().map(String::as_str).collect();
            out.push(format!("headers dropped: {}", names.join(", ")));
        }
        for n in &self.notes {
            out.push(format!("note: {n}"));
        }
        out
    }
}

// ---- HAR 1.2 ----------------------------------------------------------------------------

#[derive(Deserialize)]
struct HarFile {
    log: HarLog,
}

#[derive(Deserialize)]
struct HarLog {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "startedDateTime", default)]
    started: String,
    #[serde(default)]
    time: Option<f64>,
    request: Request,
    response: Response,
    #[serde(rename = "_resourceType", default)]
    resource_type: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<NameValue>,
    #[serde(rename = "postData", default)]
    post_data: Option<PostData>,
}

#[derive(Deserialize)]
struct PostData {
    #[serde(rename = "mimeType", default)]
    mime_type: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    params: Vec<NameValue>,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    status: i64,
    #[serde(default)]
    headers: Vec<NameValue>,
    #[serde(default)]
    content: Content,
}

#[derive(Deserialize, Default)]
struct Content {
    #[serde(rename = "mimeType", default)]
    mime_type: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

#[derive(Deserialize)]
struct NameValue {
    name: String,
    #[serde(default)]
    value: String,
}

fn base_mime(m: &str) -> String {
    m.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl Entry {
    fn start_ms(&self) -> Option<f64> {
        chrono::DateTime::parse_from_rfc3339(self.started.trim())
            .ok()
            .map(|t| {
                t.timestamp_millis() as f64 + f64::from(t.timestamp_subsec_micros() % 1000) / 1000.0
            })
    }

    fn response_text(&self) -> Option<String> {
        let text = self.response.content.text.as_deref()?;
        if text.len() > MAX_BODY {
            return None;
        }
        match self.response.content.encoding.as_deref() {
            Some(e) if e.eq_ignore_ascii_case("base64") => {
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
            }
            _ => Some(text.to_string()),
        }
    }
}

/// Response bodies longer than this are not searched for values to correlate.
const MAX_BODY: usize = 8 << 20;

// ---- classification ---------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Document,
    Api,
    Asset(&'static str),
    /// Dropped whatever the options: preflight, ping, websocket...
    Other(String),
}

fn classify(e: &Entry, url: &Url) -> Kind {
    let method = e.request.method.to_ascii_uppercase();
    if method == "OPTIONS" {
        return Kind::Other("preflight".into());
    }
    if !matches!(
        method.as_str(),
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD"
    ) {
        return Kind::Other(format!("method {method}"));
    }
    let rt = e
        .resource_type
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    match rt.as_str() {
        "document" => return Kind::Document,
        "xhr" | "fetch" => return Kind::Api,
        "stylesheet" => return Kind::Asset("stylesheet"),
        "script" => return Kind::Asset("script"),
        "image" | "imageset" => return Kind::Asset("image"),
        "font" => return Kind::Asset("font"),
        "media" => return Kind::Asset("media"),
        "manifest" | "texttrack" => return Kind::Asset("other asset"),
        "websocket"
        | "eventsource"
        | "ping"
        | "preflight"
        | "csp_violation_report"
        | "signed_exchange"
        | "prefetch"
        | "cspviolationreport"
        | "webbundle" => {
            return Kind::Other(rt);
        }
        _ => {}
    }
    let mime = base_mime(&e.response.content.mime_type);
    let by_mime = match mime.as_str() {
        "text/html" | "application/xhtml+xml" => Some(Kind::Document),
        "text/css" => Some(Kind::Asset("stylesheet")),
        m if m.contains("javascript") || m.contains("ecmascript") => Some(Kind::Asset("script")),
        m if m.starts_with("image/") => Some(Kind::Asset("image")),
        m if m.starts_with("font/") || m.contains("font-") || m.contains("woff") => {
            Some(Kind::Asset("font"))
        }
        m if m.starts_with("audio/") || m.starts_with("video/") => Some(Kind::Asset("media")),
        "text/event-stream" => Some(Kind::Other("eventsource".into())),
        _ => None,
    };
    if let Some(k) = by_mime {
        // An XHR that fetches a fragment of HTML is still the application's request.
        return match (k, e.request.method.eq_ignore_ascii_case("GET")) {
            (Kind::Document, false) => Kind::Document,
            (k, _) => k,
        };
    }
    let path = url.path().to_ascii_lowercase();
    let ext = path.rsplit_once('.').map(|(_, x)| x).unwrap_or("");
    match ext {
        "css" => Kind::Asset("stylesheet"),
        "js" | "mjs" => Kind::Asset("script"),
        "png" | "jpg" | "jpeg" | "gif" | "svg" | "webp" | "ico" | "avif" | "bmp" => {
            Kind::Asset("image")
        }
        "woff" | "woff2" | "ttf" | "otf" | "eot" => Kind::Asset("font"),
        "mp4" | "webm" | "mp3" | "ogg" | "wav" => Kind::Asset("media"),
        "html" | "htm" => Kind::Document,
        _ => Kind::Api,
    }
}

/// `host` or `host:port` as `--hosts` names them.
fn host_matches(url: &Url, wanted: &str) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let wanted = wanted.trim().to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    match url.port_or_known_default() {
        Some(p) => wanted == host || wanted == format!("{host}:{p}"),
        None => wanted == host,
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

// ---- headers ----------------------------------------------------------------------------

/// Request headers dropped by default: what the user's client sets itself, what its cookie
/// jar sends, and the browser's own noise.
fn dropped_by_default(lower: &str) -> bool {
    lower.starts_with(':')
        || lower.starts_with("sec-ch-")
        || lower.starts_with("sec-fetch-")
        || matches!(
            lower,
            "cookie"
                | "content-length"
                | "host"
                | "connection"
                | "keep-alive"
                | "proxy-connection"
                | "accept-encoding"
                | "te"
                | "transfer-encoding"
                | "upgrade"
                | "upgrade-insecure-requests"
                | "user-agent"
                | "referer"
                | "origin"
                | "dnt"
                | "sec-gpc"
                | "priority"
                | "purpose"
                | "cache-control"
                | "pragma"
                | "if-none-match"
                | "if-modified-since"
                | "accept-language"
        )
}

// ---- correlation and credentials -----------------------------------------------------------

/// A value that later requests may refer to: `${var}` for a correlated value, `${env.NAME}`
/// for a credential.
struct Sub {
    value: String,
    template: String,
    /// Index into `dynamics` (correlated) or `None` (a credential).
    dynamic: Option<usize>,
}

struct Dynamic {
    var: String,
    step: usize,
    extract: Value,
    source: String,
    used_in: Vec<String>,
}

/// Common words never correlated, whatever their length.
const COMMON: &[&str] = &[
    "true",
    "false",
    "null",
    "undefined",
    "success",
    "active",
    "enabled",
    "disabled",
    "application/json",
    "bearer",
    "pending",
    "completed",
];

/// Whether a value from a response looks like it was made for this session: long enough,
/// no spaces, not a common word, and with a digit unless it is long.
fn dynamic_enough(v: &str) -> bool {
    let n = v.chars().count();
    (6..=4096).contains(&n)
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && !COMMON.iter().any(|w| w.eq_ignore_ascii_case(v))
        && (v.chars().any(|c| c.is_ascii_digit()) || n >= 16)
}

/// Fields whose value is a credential.
fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password", "passwd", "secret", "token", "api_key", "apikey", "api-key",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// An environment variable name from a field or header name: `password` -> `PASSWORD`.
fn env_base(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    s = s.trim_matches('_').to_string();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "SECRET_");
    }
    s
}

/// A variable name from a JSON key, cookie or input name: letters, digits, `_`, `-`,
/// starting with a letter or `_`, never `env`.
fn var_base(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s = s.trim_matches('_').to_string();
    if s.is_empty() {
        s = "value".into();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if s == "env" {
        s = "env_value".into();
    }
    s
}

fn unique(base: &str, taken: &mut BTreeSet<String>) -> String {
    let mut name = base.to_string();
    let mut i = 2;
    while taken.contains(&name) {
        name = format!("{base}_{i}");
        i += 1;
    }
    taken.insert(name.clone());
    name
}

/// The importer's state while it walks the kept requests in order.
struct Correlator {
    subs: Vec<Sub>,
    dynamics: Vec<Dynamic>,
    vars: BTreeSet<String>,
    envs: BTreeSet<String>,
    /// Credentials by recorded value: its environment variable name.
    secrets: Vec<(String, String)>,
    env_refs: Vec<EnvRef>,
}

impl Correlator {
    fn new() -> Self {
        Correlator {
            subs: Vec::new(),
            dynamics: Vec::new(),
            vars: BTreeSet::new(),
            envs: BTreeSet::new(),
            secrets: Vec::new(),
            env_refs: Vec::new(),
        }
    }

    /// `s` as a template: `${` escaped, known values replaced by their references. The
    /// second value says whether any was.
    fn templatize(&mut self, s: &str, used_in: &str) -> (String, bool) {
        let mut out = String::with_capacity(s.len());
        let mut hit = false;
        let mut i = 0;
        'outer: while i < s.len() {
            let rest = &s[i..];
            for sub in &self.subs {
                if rest.starts_with(&sub.value) && on_boundary(s, i, sub.value.len()) {
                    out.push_str(&sub.template);
                    if let Some(d) = sub.dynamic {
                        let d = &mut self.dynamics[d];
                        if !d.used_in.iter().any(|u| u == used_in) {
                            d.used_in.push(used_in.to_string());
                        }
                    }
                    hit = true;
                    i += sub.value.len();
                    continue 'outer;
                }
            }
            if rest.starts_with("${") {
                out.push_str("$${");
                i += 2;
                continue;
            }
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
        (out, hit)
    }

    fn add_sub(&mut self, value: String, template: String, dynamic: Option<usize>) {
        self.subs.push(Sub {
            value,
            template,
            dynamic,
        });
        // Longest first, so that a value containing another is replaced whole.
        self.subs.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
    }

    /// The environment variable for a credential, `${env.NAME}`: the same value gets the
    /// same name.
    fn secret(&mut self, value: &str, base: &str, what: String) -> String {
        if let Some((_, name)) = self.secrets.iter().find(|(v, _)| v == value) {
            let name = name.clone();
            if let Some(r) = self.env_refs.iter_mut().find(|r| r.name == name)
                && !r.what.contains(&what)
            {
                r.what.push_str(&format!("; {what}"));
            }
            return format!("${{env.{name}}}");
        }
        let name = unique(&env_base(base), &mut self.envs);
        self.secrets.push((value.to_string(), name.clone()));
        self.env_refs.push(EnvRef {
            name: name.clone(),
            what,
        });
        let template = format!("${{env.{name}}}");
        // Elsewhere too, where it is long enough not to match by chance.
        if value.chars().count() >= 6 {
            self.add_sub(value.to_string(), template.clone(), None);
        }
        template
    }

    /// Values of the response of `step` that a later request sends back: found in `after`
    /// (the raw text of the requests after it) and not in `before` (the requests up to it:
    /// what the user typed, which a response may echo).
    fn learn(&mut self, e: &Entry, step: usize, before: &str, after: &str) {
        let mut found: Vec<(String, String, Value, String)> = Vec::new();
        let mime = base_mime(&e.response.content.mime_type);
        let body = e.response_text();
        if let Some(body) = &body {
            let t = body.trim_start();
            if (mime.contains("json") || t.starts_with('{') || t.starts_with('['))
                && let Ok(v) = serde_json::from_str::<Value>(body)
            {
                let mut budget = 10_000;
                json_strings(&v, "$", None, &mut found, &mut budget);
            }
            if mime.contains("html") {
                hidden_inputs(body, &mut found);
            }
        }
        for h in &e.response.headers {
            if h.name.eq_ignore_ascii_case("set-cookie") {
                for line in h.value.lines() {
                    let pair = line.split(';').next().unwrap_or("");
                    if let Some((name, value)) = pair.split_once('=') {
                        let name = name.trim();
                        found.push((
                            value.trim().trim_matches('"').to_string(),
                            name.to_string(),
                            json!({ "cookie": name }),
                            format!("cookie {name}"),
                        ));
                    }
                }
            } else if h.name.eq_ignore_ascii_case("location") {
                found.push((
                    h.value.trim().to_string(),
                    "location".into(),
                    json!({ "header": "location" }),
                    "header location".into(),
                ));
            }
        }
        for (value, name, extract, source) in found {
            if !dynamic_enough(&value)
                || before.contains(&value)
                || !after.contains(&value)
                || self.subs.iter().any(|s| s.value == value)
            {
                continue;
            }
            let var = unique(&var_base(&name), &mut self.vars);
            self.dynamics.push(Dynamic {
                var: var.clone(),
                step,
                extract,
                source,
                used_in: Vec::new(),
            });
            let d = self.dynamics.len() - 1;
            self.add_sub(value, format!("${{{var}}}"), Some(d));
        }
    }
}

/// Whether `s[i..i + len]` stands on its own: no letter or digit glued to either end of a
/// value that itself starts or ends with one.
fn on_boundary(s: &str, i: usize, len: usize) -> bool {
    let v = &s[i..i + len];
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let before = s[..i].chars().next_back();
    let after = s[i + len..].chars().next();
    let glued_before = alnum(v.chars().next()) && alnum(before);
    let glued_after = alnum(v.chars().next_back()) && alnum(after);
    !glued_before && !glued_after
}

/// Every string of a JSON document with its JSONPath, at most `budget` of them.
fn json_strings(
    v: &Value,
    path: &str,
    key: Option<&str>,
    out: &mut Vec<(String, String, Value, String)>,
    budget: &mut usize,
) {
    if *budget == 0 {
        return;
    }
    match v {
        Value::String(s) => {
            *budget -= 1;
            out.push((
                s.clone(),
                key.unwrap_or("value").to_string(),
                json!({ "json": path }),
                format!("json {path}"),
            ));
        }
        Value::Object(m) => {
            for (k, v) in m {
                let p = if k
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    format!("{path}.{k}")
                } else {
                    format!("{path}['{}']", k.replace('\\', "\\\\").replace('\'', "\\'"))
                };
                json_strings(v, &p, Some(k), out, budget);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                json_strings(v, &format!("{path}[{i}]"), key, out, budget);
            }
        }
        _ => {}
    }
}

/// `<input type=hidden name=N value=V>`: (value, name, a regex extract, source).
fn hidden_inputs(html: &str, out: &mut Vec<(String, String, Value, String)>) {
    let tag = regex::Regex::new(r"(?is)<input\b[^>]*>").expect("a valid regex");
    let attr = regex::Regex::new(
        r#"(?s)([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"#,
    )
    .expect("a valid regex");
    for m in tag.find_iter(html).take(1000) {
        let mut name = None;
        let mut value = None;
        let mut hidden = false;
        let mut name_first = false;
        for c in attr.captures_iter(m.as_str()) {
            let a = c[1].to_ascii_lowercase();
            let v = c
                .get(2)
                .or_else(|| c.get(3))
                .or_else(|| c.get(4))
                .map_or("", |m| m.as_str());
            match a.as_str() {
                "type" => hidden = v.eq_ignore_ascii_case("hidden"),
                "name" => {
                    name = Some(v.to_string());
                    name_first = value.is_none();
                }
                "value" => value = Some(v.to_string()),
                _ => {}
            }
        }
        let (Some(name), Some(value)) = (name, value) else {
            continue;
        };
        // A value with entities would be extracted encoded: leave it to the user.
        if !hidden || value.contains('&') || name.is_empty() {
            continue;
        }
        let n = regex::escape(&name);
        let re = if name_first {
            format!(r#"<input[^>]*name=["']?{n}["'\s][^>]*value=["']?([^"'>\s]*)"#)
        } else {
            format!(r#"<input[^>]*value=["']?([^"'>\s]*)["']?[^>]*name=["']?{n}["'\s>/]"#)
        };
        out.push((
            value,
            name.clone(),
            json!({ "regex": re }),
            format!("hidden input {name}"),
        ));
    }
}

// ---- the import -------------------------------------------------------------------------

/// Import the HAR text `text` (read from `file`, which names it in messages).
pub fn import(text: &str, file: &Path, opts: &Options) -> Result<Import, HarError> {
    let har: HarFile = serde_json::from_str(text).map_err(|e| {
        let (line, column, msg) = (e.line(), e.column(), strip_position(&e.to_string()));
        match e.classify() {
            serde_json::error::Category::Data => HarError::NotHar {
                file: file.to_path_buf(),
                line,
                column,
                msg,
            },
            _ => HarError::NotJson {
                file: file.to_path_buf(),
                line,
                column,
                msg,
            },
        }
    })?;
    let mut entries = har.log.entries;
    if entries.is_empty() {
        return Err(HarError::Empty {
            file: file.to_path_buf(),
        });
    }
    let total = entries.len();
    // In the order they started (HAR writers usually keep it; a stable sort keeps ties).
    entries.sort_by(|a, b| {
        a.start_ms()
            .partial_cmp(&b.start_ms())
            .unwrap_or(std::cmp::Ordering::Equal)
    });

    let mut summary = Summary {
        entries: total,
        ..Summary::default()
    };
    let mut dropped: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut note_drop = |why: &str, detail: &str| {
        *dropped
            .entry(why.to_string())
            .or_default()
            .entry(detail.to_string())
            .or_default() += 1;
    };

    // Parse and classify.
    let mut recs: Vec<(usize, Url, Kind)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let url = match Url::parse(&e.request.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(u) => {
                note_drop("not HTTP", u.scheme());
                continue;
            }
            Err(_) => {
                note_drop("bad URL", "");
                continue;
            }
        };
        if e.response.status <= 0 {
            note_drop("no response recorded (status 0: blocked or cancelled)", "");
            continue;
        }
        let kind = classify(e, &url);
        recs.push((i, url, kind));
    }
    let main = recs
        .iter()
        .find(|(_, _, k)| *k == Kind::Document)
        .or_else(|| recs.first())
        .map(|(_, u, _)| u.clone());
    let Some(main) = main else {
        return Err(HarError::NothingKept {
            file: file.to_path_buf(),
            why: format!("none of the {total} requests is an HTTP request with a response"),
            hint: "record http:// or https:// pages".into(),
        });
    };
    let main_origin = origin(&main);

    // Keep or drop each request; fold assets into the page before them.
    struct Kept {
        entry: usize,
        url: Url,
        kind: Kind,
        page: bool,
        other_hosts: bool,
    }
    let mut kept: Vec<Kept> = Vec::new();
    let mut other_kept_hosts = BTreeSet::new();
    for (i, url, kind) in recs {
        let same = origin(&url) == main_origin;
        if !same && !opts.all_hosts && !opts.hosts.iter().any(|h| host_matches(&url, h)) {
            note_drop(
                "requests to other hosts",
                url.host_str().unwrap_or_default(),
            );
            continue;
        }
        match &kind {
            Kind::Other(what) => {
                note_drop("not replayable", what);
                continue;
            }
            Kind::Asset(what) => match opts.assets {
                Assets::Drop => {
                    note_drop("static assets", what);
                    continue;
                }
                Assets::Page => {
                    match kept.iter_mut().rev().find(|k| k.page) {
                        Some(p) => {
                            if origin(&url) != origin(&p.url) {
                                p.other_hosts = true;
                            }
                            note_drop("static assets folded into a page step", what);
                        }
                        None => note_drop("static assets before any page", what),
                    }
                    continue;
                }
                Assets::Keep => {}
            },
            Kind::Document | Kind::Api => {}
        }
        if !same {
            other_kept_hosts.insert(origin(&url));
        }
        let page = opts.assets == Assets::Page
            && kind == Kind::Document
            && entries[i].request.method.eq_ignore_ascii_case("GET");
        kept.push(Kept {
            entry: i,
            url,
            kind,
            page,
            other_hosts: false,
        });
    }
    summary.dropped = dropped
        .iter()
        .map(|(why, details)| {
            let n: usize = details.values().sum();
            let parts: Vec<String> = details
                .iter()
                .filter(|(d, _)| !d.is_empty())
                .map(|(d, c)| format!("{d} {c}"))
                .collect();
            if parts.is_empty() {
                format!("{n} {why}")
            } else {
                format!("{n} {why} ({})", parts.join(", "))
            }
        })
        .collect();
    if kept.is_empty() {
        return Err(HarError::NothingKept {
            file: file.to_path_buf(),
            why: format!(
                "all {total} requests were dropped: {}",
                summary.dropped.join("; ")
            ),
            hint: "keep assets with --assets keep, other hosts with --hosts or --all-hosts".into(),
        });
    }

    // Think times: the gap before each document after the first, from the end of what
    // was loaded before it.
    let mut think: Vec<Option<u64>> = vec![None; kept.len()];
    let mut capped = false;
    for k in 1..kept.len() {
        if kept[k].kind != Kind::Document {
            continue;
        }
        let Some(start) = entries[kept[k].entry].start_ms() else {
            continue;
        };
        let end = entries
            .iter()
            .filter_map(|e| {
                let s = e.start_ms()?;
                (s < start).then(|| s + e.time.unwrap_or(0.0).max(0.0))
            })
            .fold(f64::NEG_INFINITY, f64::max);
        if end.is_finite() {
            let (ms, cap) = round_think(start - end);
            capped |= cap;
            think[k - 1] = ms;
        }
    }
    if capped {
        summary
            .notes
            .push("think times over 30 s were cut to 30 s".into());
    }

    // The steps, in order, with correlation.
    let keep_headers: Vec<String> = opts
        .keep_headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let mut cor = Correlator::new();
    // Every kept request as raw text, in order: where values are looked for.
    let mut sent = String::new();
    let mut ends = Vec::with_capacity(kept.len());
    for k in &kept {
        raw_request(&entries[k.entry], &mut sent);
        ends.push(sent.len());
    }
    let mut steps: Vec<Map<String, Value>> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for (n, k) in kept.iter().enumerate() {
        let e = &entries[k.entry];
        let method = e.request.method.to_ascii_uppercase();
        let mut url = k.url.clone();
        url.set_fragment(None);
        let mut auth: Option<Value> = None;
        let step_no = n + 1;
        // `user:password@` in the URL: basic credentials.
        let userinfo = (!url.username().is_empty() || url.password().is_some()).then(|| {
            let user = percent_decode(url.username());
            let pass = url.password().map(percent_decode).unwrap_or_default();
            (user, pass)
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let shown_path = if origin(&url) == main_origin {
            url.path().to_string()
        } else {
            let mut u = url.clone();
            u.set_query(None);
            u.to_string()
        };
        let label = format!("{method} {shown_path}");
        let at = format!("step {step_no} ({label})");
        let here = |what: &str| format!("{at}: {what}");

        // Path and query.
        let (path, _) = cor.templatize(&shown_path, &here("path"));
        let mut path = path;
        let mut query: Option<Map<String, Value>> = None;
        if let Some(q) = url.query() {
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            let mut names = BTreeSet::new();
            if pairs.iter().all(|(k, _)| names.insert(k.clone())) && !pairs.is_empty() {
                let mut m = Map::new();
                for (name, value) in pairs {
                    let (t, hit) = cor.templatize(&value, &here(&format!("query {name}")));
                    let t = if !hit && is_secret_field(&name) && !value.is_empty() {
                        cor.secret(&value, &name, format!("query parameter `{name}` of {at}"))
                    } else {
                        t
                    };
                    m.insert(name, Value::String(t));
                }
                query = Some(m);
            } else {
                let (t, _) = cor.templatize(q, &here("query"));
                path = format!("{path}?{t}");
            }
        }

        // Headers.
        let mut headers = Map::new();
        let mut content_type: Option<String> = None;
        for h in &e.request.headers {
            let lower = h.name.to_ascii_lowercase();
            if lower == "content-type" {
                content_type = Some(h.value.clone());
            }
            if dropped_by_default(&lower) && !keep_headers.contains(&lower) {
                summary.dropped_headers.insert(lower);
                continue;
            }
            if k.kind == Kind::Document && lower == "accept" && !keep_headers.contains(&lower) {
                summary.dropped_headers.insert(lower);
                continue;
            }
            if headers
                .keys()
                .any(|k: &String| k.eq_ignore_ascii_case(&h.name))
            {
                continue;
            }
            let (t, hit) = cor.templatize(&h.value, &here(&format!("header {}", h.name)));
            if !hit && lower == "authorization" {
                let where_ = here(&format!("header {}", h.name));
                let value = h.value.trim();
                match value.split_once(' ') {
                    Some((scheme, cred)) if scheme.eq_ignore_ascii_case("bearer") => {
                        let r = cor.secret(
                            cred.trim(),
                            "BEARER_TOKEN",
                            format!("bearer token in the Authorization header of {at}"),
                        );
                        auth = Some(json!({ "bearer": r }));
                        continue;
                    }
                    Some((scheme, cred)) if scheme.eq_ignore_ascii_case("basic") => {
                        if let Some((user, pass)) = decode_basic(cred.trim()) {
                            let (user, _) = cor.templatize(&user, &where_);
                            let r = cor.secret(
                                &pass,
                                "PASSWORD",
                                format!("basic password in the Authorization header of {at}"),
                            );
                            auth = Some(json!({ "basic": { "username": user, "password": r } }));
                            continue;
                        }
                    }
                    _ => {}
                }
                let r = cor.secret(
                    value,
                    "AUTHORIZATION",
                    format!("Authorization header of {at}"),
                );
                headers.insert(h.name.clone(), Value::String(r));
                continue;
            }
            if !hit && crate::scenario::is_secret_header(&h.name) && !h.value.is_empty() {
                let r = cor.secret(&h.value, &h.name, format!("header {} of {at}", h.name));
                headers.insert(h.name.clone(), Value::String(r));
                continue;
            }
            headers.insert(h.name.clone(), Value::String(t));
        }
        if let Some((user, pass)) = userinfo
            && auth.is_none()
        {
            let (user, _) = cor.templatize(&user, &here("user name"));
            let r = cor.secret(
                &pass,
                "PASSWORD",
                format!("password of the URL (user:password@) of {at}"),
            );
            auth = Some(json!({ "basic": { "username": user, "password": r } }));
        }

        // Body.
        let mut body: Option<(&str, Value)> = None;
        if let Some(pd) = &e.request.post_data {
            let mut mime = base_mime(if pd.mime_type.is_empty() {
                content_type.as_deref().unwrap_or("")
            } else {
                &pd.mime_type
            });
            // Parameters without a text are a form, whatever the type says.
            if mime.is_empty() && pd.text.is_none() && !pd.params.is_empty() {
                mime = "application/x-www-form-urlencoded".into();
            }
            let text = pd.text.clone().unwrap_or_else(|| {
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pd.params.iter().map(|p| (&p.name, &p.value)))
                    .finish()
            });
            if mime.contains("json")
                && let Ok(mut v) = serde_json::from_str::<Value>(&text)
            {
                json_body(&mut v, &mut cor, &at, None);
                body = Some(("json", v));
            } else if mime == "application/x-www-form-urlencoded" {
                let pairs: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
                    .into_owned()
                    .collect();
                let mut names = BTreeSet::new();
                if pairs.iter().all(|(k, _)| names.insert(k.clone())) {
                    let mut m = Map::new();
                    for (name, value) in pairs {
                        let where_ = here(&format!("form field {name}"));
                        let (t, hit) = cor.templatize(&value, &where_);
                        let t = if !hit && is_secret_field(&name) && !value.is_empty() {
                            cor.secret(&value, &name, format!("form field `{name}` of {at}"))
                        } else {
                            t
                        };
                        m.insert(name, Value::String(t));
                    }
                    body = Some(("form", Value::Object(m)));
                } else {
                    let (t, _) = cor.templatize(&text, &here("body"));
                    body = Some(("body", Value::String(t)));
                }
            } else if !text.is_empty() {
                let (t, _) = cor.templatize(&text, &here("body"));
                let t = raw_secrets(&t, &mut cor, &at);
                body = Some(("body", Value::String(t)));
                summary.notes.push(format!(
                    "step {step_no} ({label}): the body ({}) is written raw (`body:`); check it for credentials",
                    if mime.is_empty() { "no content type" } else { &mime }
                ));
            }
        }
        // The content type a `json:` or `form:` body sets itself.
        if let Some((kind, _)) = &body {
            let ct = content_type.as_deref().map(base_mime).unwrap_or_default();
            let implied = match *kind {
                "json" => ct == "application/json",
                "form" => ct == "application/x-www-form-urlencoded",
                _ => false,
            };
            if implied {
                headers.retain(|k, _| !k.eq_ignore_ascii_case("content-type"));
            }
        }

        // The step.
        let mut step = Map::new();
        if k.page {
            step.insert("page".into(), Value::String(path));
            step.insert("assets".into(), json!("auto"));
            if k.other_hosts {
                step.insert("other_hosts".into(), json!(true));
            }
        } else {
            // `classify` kept only the methods a step has a key for.
            step.insert(method.to_ascii_lowercase(), Value::String(path));
        }
        if let Some(q) = query {
            step.insert("query".into(), Value::Object(q));
        }
        if !headers.is_empty() {
            step.insert("headers".into(), Value::Object(headers));
        }
        if let Some(a) = auth {
            step.insert("auth".into(), a);
        }
        if let Some((kind, v)) = body {
            step.insert(kind.into(), v);
        }
        let status = e.response.status;
        if (300..400).contains(&status) && status != 304 {
            step.insert("follow_redirects".into(), json!(false));
        }
        let check = if status == 304 {
            json!({ "status": [200, 304] })
        } else {
            json!({ "status": status })
        };
        // Skein checks statuses 100 to 599; another is an error whatever the check.
        if (100..600).contains(&status) {
            step.insert("check".into(), check);
        }
        steps.push(step);
        labels.push(label);

        cor.learn(e, n, &sent[..ends[n]], &sent[ends[n]..]);
    }

    // Extracts where a value was used later.
    for d in &cor.dynamics {
        if d.used_in.is_empty() {
            continue;
        }
        let step = &mut steps[d.step];
        let ex = step
            .entry("extract")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = ex {
            m.insert(d.var.clone(), d.extract.clone());
        }
        summary.correlated.push(Correlated {
            var: d.var.clone(),
            step: d.step + 1,
            step_label: labels[d.step].clone(),
            source: d.source.clone(),
            used_in: d.used_in.clone(),
        });
    }
    for (step, t) in steps.iter_mut().zip(&think) {
        if let Some(ms) = t {
            step.insert("think_time".into(), Value::String(format_think(*ms)));
        }
    }
    summary.env = cor.env_refs.clone();
    summary.steps = steps.len();
    if !other_kept_hosts.is_empty() {
        summary.notes.push(format!(
            "requests to {} keep their absolute URLs",
            other_kept_hosts.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }

    let name = opts.name.clone().unwrap_or_else(|| {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let s: String = stem
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if s.is_empty() { "recording".into() } else { s }
    });
    let target = opts.target.clone().unwrap_or(main_origin);
    let doc = json!({
        "name": name,
        "target": target,
        "scenarios": [{
            "name": "recorded",
            "steps": steps.into_iter().map(Value::Object).collect::<Vec<_>>(),
        }],
        "load": { "users": opts.users, "duration": opts.duration },
    });

    let mut yaml = String::new();
    let source = file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let date = if opts.date.is_empty() {
        String::new()
    } else {
        format!(" on {}", opts.date)
    };
    yaml.push_str(&comment(&format!(
        "Imported by `skein import har` from {source}{date}."
    )));
    for line in summary.lines() {
        yaml.push_str(&comment(&line));
    }
    yaml.push_str(&comment(
        "Review before a real run: the load below, the think times, and any value that stayed literal.",
    ));
    yaml.push_str(&super::yaml::to_yaml(&doc));
    Ok(Import { yaml, summary })
}

/// A raw body with `password=...`, `"token": "..."` (any field naming a credential) has the
/// value replaced by an environment reference.
fn raw_secrets(text: &str, cor: &mut Correlator, at: &str) -> String {
    let re = regex::Regex::new(
        r#"(?i)(["']?)([A-Za-z0-9_.-]*(?:password|passwd|secret|token|api_key|apikey)[A-Za-z0-9_.-]*)(["']?\s*[:=]\s*["']?)([^"'&\s,;}<]+)"#,
    )
    .expect("a valid regex");
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for c in re.captures_iter(text) {
        let value = c.get(4).expect("group 4");
        if value.as_str().starts_with("${") || value.as_str().starts_with("$${") {
            continue;
        }
        let field = &c[2];
        out.push_str(&text[last..value.start()]);
        out.push_str(&cor.secret(
            value.as_str(),
            field,
            format!("field `{field}` of the raw body of {at}"),
        ));
        last = value.end();
    }
    out.push_str(&text[last..]);
    out
}

/// A request's URL, header values and body, raw and decoded (query and form values), one per
/// line.
fn raw_request(e: &Entry, out: &mut String) {
    let mut push = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    push(&e.request.url);
    if let Ok(u) = Url::parse(&e.request.url) {
        for (_, v) in u.query_pairs() {
            push(&v);
        }
    }
    for h in &e.request.headers {
        push(&h.value);
    }
    if let Some(pd) = &e.request.post_data {
        let text = pd.text.as_deref().unwrap_or("");
        push(text);
        if base_mime(&pd.mime_type) == "application/x-www-form-urlencoded" {
            for (_, v) in url::form_urlencoded::parse(text.as_bytes()) {
                push(&v);
            }
        }
        for p in &pd.params {
            push(&p.value);
        }
    }
}

fn comment(line: &str) -> String {
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("# {}\n", clean.trim_end())
}

/// serde_json's message without its own ` at line L column C`.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn decode_basic(b64: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// A JSON body as a template: strings correlated, `${` escaped, credentials by field name
/// into the environment.
fn json_body(v: &mut Value, cor: &mut Correlator, at: &str, key: Option<&str>) {
    match v {
        Value::String(s) => {
            let (t, hit) = cor.templatize(s, &format!("{at}: json"));
            *s = match key {
                Some(k) if !hit && is_secret_field(k) && !s.is_empty() => {
                    let what = format!("json field `{k}` of {at}");
                    cor.secret(&s.clone(), k, what)
                }
                _ => t,
            };
        }
        Value::Array(a) => {
            for x in a {
                json_body(x, cor, at, key);
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                json_body(x, cor, at, Some(k));
            }
        }
        _ => {}
    }
}

/// A gap in milliseconds as a think time: none under 200 ms; 100 ms steps under a second,
/// half seconds under 10 s, whole seconds above, at most 30 s (the second value says if it
/// was cut).
fn round_think(gap_ms: f64) -> (Option<u64>, bool) {
    if gap_ms.is_nan() || gap_ms < 200.0 {
        return (None, false);
    }
    let ms = if gap_ms < 1000.0 {
        (gap_ms / 100.0).round() * 100.0
    } else if gap_ms < 10_000.0 {
        (gap_ms / 500.0).round() * 500.0
    } else {
        (gap_ms / 1000.0).round() * 1000.0
    } as u64;
    if ms > 30_000 {
        (Some(30_000), true)
    } else {
        (Some(ms), false)
    }
}

fn format_think(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    }
}

#[cfg(test)]
#[path = "har_tests.rs"]
mod tests;
