//! Checks (assertions on a response) and extractions (values taken from a response into
//! per-user variables). Compiled at plan time; evaluated per response.
//!
//! CONTRACT (filled in by the check helper).

use std::cell::OnceCell;

/// What a check or extract sees of a response.
pub struct Response<'a> {
    pub status: u16,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    json: OnceCell<Option<serde_json::Value>>,
}

impl<'a> Response<'a> {
    pub fn new(status: u16, headers: &'a http::HeaderMap, body: &'a [u8]) -> Response<'a> {
        Response { status, headers, body, json: OnceCell::new() }
    }

    /// The body parsed as JSON, once; `None` when it is not JSON.
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.json.get_or_init(|| serde_json::from_slice(self.body).ok()).as_ref()
    }
}

/// One assertion on a response; a failed check is counted under its label.
#[derive(Debug, Clone)]
pub struct Check {
    /// Short human label, e.g. `status in [200]`, `json $.items exists`.
    pub label: String,
    pub kind: CheckKind,
}

/// What a check looks at.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// The status is in one of these inclusive ranges (`200` is 200..=200, `2xx` is 200..=299).
    Status(Vec<(u16, u16)>),
    /// A response header (name matched case-insensitively).
    Header { name: String, op: StrOp },
    /// The body contains this text.
    BodyContains(String),
    /// The body matches this regex.
    BodyMatches(regex::Regex),
    /// A JSON path into the body.
    Json { path: JsonPath, op: JsonOp },
}

/// A test on a text value.
#[derive(Debug, Clone)]
pub enum StrOp {
    Exists,
    Equals(String),
    Contains(String),
    Matches(regex::Regex),
}

/// A test on the value(s) a JSON path selects.
#[derive(Debug, Clone)]
pub enum JsonOp {
    /// `exists: true` passes when the path selects something; `exists: false` when it does not.
    Exists(bool),
    /// The first selected value equals this JSON value.
    Equals(serde_json::Value),
    /// The first selected value is a number (or a numeric string) that compares so.
    Compare(CmpOp, f64),
    /// The first selected value is a string containing this text, or an array containing
    /// this string.
    Contains(String),
}

/// Numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A compiled RFC 9535 JSONPath (`$.items[0].id`).
#[derive(Debug, Clone)]
pub struct JsonPath {
    source: String,
    path: serde_json_path::JsonPath,
}

impl JsonPath {
    /// Compile a JSONPath; the error says what is wrong with it.
    pub fn parse(s: &str) -> Result<JsonPath, String> {
        serde_json_path::JsonPath::parse(s)
            .map(|path| JsonPath { source: s.to_string(), path })
            .map_err(|e| e.to_string())
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first value the path selects in `v`.
    pub fn first<'v>(&self, v: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        self.path.query(v).first()
    }
}

impl Check {
    /// Does the response pass?
    pub fn passes(&self, r: &Response<'_>) -> bool {
        match &self.kind {
            CheckKind::Status(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&r.status)),
            _ => true,
        }
    }
}

/// One value taken from a response into a per-user variable.
#[derive(Debug, Clone)]
pub struct Extract {
    /// Slot of the variable written.
    pub var: usize,
    /// Name of the variable written (for messages).
    pub name: String,
    pub source: ExtractSource,
}

/// Where an extract reads from.
#[derive(Debug, Clone)]
pub enum ExtractSource {
    /// The first value a JSON path selects (strings unquoted, other values as JSON text).
    Json(JsonPath),
    /// A regex capture group (0 = the whole match).
    Regex { re: regex::Regex, group: usize },
    /// A response header's value.
    Header(String),
    /// The value of a cookie set by this response (`Set-Cookie`).
    Cookie(String),
}

impl Extract {
    /// The extracted value, or `None` when the response does not have it.
    pub fn extract(&self, r: &Response<'_>) -> Option<String> {
        match &self.source {
            ExtractSource::Header(h) => r.headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_string),
            _ => None,
        }
    }
}
