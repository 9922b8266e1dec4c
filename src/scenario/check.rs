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
    /// The status is one of these inclusive ranges (`200` is 200..=200, `2xx` is 200..=299).
    Status(Vec<(u16, u16)>),
}

impl Check {
    /// Does the response pass?
    pub fn passes(&self, r: &Response<'_>) -> bool {
        match &self.kind {
            CheckKind::Status(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&r.status)),
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
    /// A response header's value.
    Header(String),
}

impl Extract {
    /// The extracted value, or `None` when the response does not have it.
    pub fn extract(&self, r: &Response<'_>) -> Option<String> {
        match &self.source {
            ExtractSource::Header(h) => r.headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_string),
        }
    }
}
