//! The W3C `Server-Timing` response header: a hand-written parser, the run's table of entry
//! names, and the entries of one response ready to record.
//!
//! ```text
//! Server-Timing: db;dur=23.4, cache;desc="hit";dur=0.2
//! Server-Timing: app;dur=80
//! ```
//!
//! Each entry is a metric name (an HTTP token) with parameters; the `dur` parameter is a
//! duration in milliseconds. An entry without `dur` gives no sample. An entry that breaks
//! the grammar (no name, a parameter without a name, an unterminated quoted string, a `dur`
//! that is not a non-negative number, junk after the parameters) is counted as malformed and
//! skipped up to the next comma; the other entries of the header still count. Nothing here
//! panics or allocates on any input.
//!
//! A run records at most [`MAX_NAMES`] distinct names (the first ones seen); samples of
//! later names are counted as overflow. Names are interned once, so recording a known
//! name takes no lock and no allocation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Distinct `Server-Timing` names a run keeps a histogram for; later names are counted as
/// overflow.
pub const MAX_NAMES: usize = 16;
/// Entries with a duration kept from one response; further ones are counted as overflow.
pub const MAX_PER_RESPONSE: usize = 16;

/// `tchar` of RFC 9110: the characters of a token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A cursor over one header value.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    /// A quoted string starting at the opening `"`: its content (escapes left as written),
    /// or `None` when it is not terminated (the cursor is then at the end).
    fn quoted(&mut self) -> Option<&'a [u8]> {
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    let s = &self.b[start..self.i];
                    self.i += 1;
                    return Some(s);
                }
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
        self.i = self.b.len();
        None
    }

    /// Skip to the next comma outside a quoted string (or the end).
    fn skip_entry(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b',' => return,
                b'"' => {
                    let _ = self.quoted();
                }
                _ => self.i += 1,
            }
        }
    }
}

/// A `dur` value: a finite, non-negative number of milliseconds.
fn parse_dur(v: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(v).ok()?;
    // Rust's float syntax also takes `inf` and `NaN`: refused below.
    let d: f64 = s.trim().parse().ok()?;
    (d.is_finite() && d >= 0.0).then_some(d)
}

/// Parse one `Server-Timing` header value, calling `f(name, dur_ms)` for each well-formed
/// entry in order (`dur_ms` is `None` when the entry has no `dur`; of several, the first
/// counts). Returns the number of malformed entries skipped. Empty list elements
/// (`a, , b`) are allowed, as in every HTTP list.
pub fn parse(value: &[u8], mut f: impl FnMut(&str, Option<f64>)) -> u32 {
    let mut c = Cursor { b: value, i: 0 };
    let mut malformed = 0u32;
    loop {
        while c.peek().is_some_and(|b| is_ows(b) || b == b',') {
            c.i += 1;
        }
        if c.peek().is_none() {
            return malformed;
        }
        let name = c.token();
        let mut ok = !name.is_empty();
        let mut dur: Option<f64> = None;
        let mut dur_seen = false;
        c.skip_ows();
        while ok && c.peek() == Some(b';') {
            c.i += 1;
            c.skip_ows();
            let param = c.token();
            if param.is_empty() {
                ok = false;
                break;
            }
            let is_dur = param.eq_ignore_ascii_case(b"dur");
            c.skip_ows();
            if c.peek() == Some(b'=') {
                c.i += 1;
                c.skip_ows();
                let value = if c.peek() == Some(b'"') {
                    c.quoted()
                } else {
                    Some(c.token()).filter(|t| !t.is_empty())
                };
                let Some(value) = value else {
                    ok = false;
                    break;
                };
                if is_dur && !dur_seen {
                    dur_seen = true;
                    match parse_dur(value) {
                        Some(d) => dur = Some(d),
                        None => ok = false,
                    }
                }
            } else if is_dur && !dur_seen {
                // `dur` without a value.
                ok = false;
            }
            c.skip_ows();
        }
        if ok && c.peek().is_some_and(|b| b != b',') {
            ok = false;
        }
        if !ok {
            malformed = malformed.saturating_add(1);
            c.skip_entry();
            continue;
        }
        // Tokens are ASCII, so this cannot fail.
        if let Ok(name) = std::str::from_utf8(name) {
            f(name, dur);
        }
    }
}

/// The `Server-Timing` names of one run, each with a small id: the first [`MAX_NAMES`]
/// seen. Cheap to clone (shared); safe to use from every thread.
#[derive(Clone)]
pub struct ServerTimingNames {
    inner: Arc<Names>,
}

struct Names {
    slots: [OnceLock<Box<str>>; MAX_NAMES],
    /// Slots filled, in order; a slot is set before `len` counts it.
    len: AtomicUsize,
    add: Mutex<()>,
}

impl Default for ServerTimingNames {
    fn default() -> Self {
        ServerTimingNames::new()
    }
}

impl std::fmt::Debug for ServerTimingNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl ServerTimingNames {
    /// An empty table.
    pub fn new() -> ServerTimingNames {
        ServerTimingNames {
            inner: Arc::new(Names {
                slots: std::array::from_fn(|_| OnceLock::new()),
                len: AtomicUsize::new(0),
                add: Mutex::new(()),
            }),
        }
    }

    /// A table holding `names` in order (the first [`MAX_NAMES`] distinct ones).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> ServerTimingNames {
        let t = ServerTimingNames::new();
        for n in names {
            let _ = t.id(n);
        }
        t
    }

    /// The id of `name`, adding it when it is new and the table has room; `None` when the
    /// table is full. A known name costs a few comparisons: no lock, no allocation.
    pub fn id(&self, name: &str) -> Option<usize> {
        if let Some(id) = self.find(name) {
            return Some(id);
        }
        let _guard = self.inner.add.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = self.find(name) {
            return Some(id);
        }
        let n = self.inner.len.load(Ordering::Acquire);
        if n >= MAX_NAMES {
            return None;
        }
        let _ = self.inner.slots[n].set(name.into());
        self.inner.len.store(n + 1, Ordering::Release);
        Some(n)
    }

    /// The id of `name` if it is in the table.
    pub fn find(&self, name: &str) -> Option<usize> {
        let n = self.inner.len.load(Ordering::Acquire);
        self.inner.slots[..n]
            .iter()
            .position(|s| s.get().is_some_and(|s| &**s == name))
    }

    /// The name with id `id`.
    pub fn get(&self, id: usize) -> Option<&str> {
        let n = self.inner.len.load(Ordering::Acquire);
        if id >= n {
            return None;
        }
        self.inner.slots[id].get().map(|s| &**s)
    }

    /// Names in the table.
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Acquire)
    }

    /// Whether no name was seen yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every name, by id.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// The `Server-Timing` entries of one response, as (name id, µs): what the recorder takes.
/// A fixed-size value, so collecting one allocates nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerTimings {
    len: u8,
    entries: [(u8, u64); MAX_PER_RESPONSE],
    /// Malformed entries skipped.
    pub malformed: u32,
    /// Entries with a duration not kept: a name past the run's first [`MAX_NAMES`], or past
    /// [`MAX_PER_RESPONSE`] entries in this response.
    pub overflow: u32,
}

impl ServerTimings {
    /// Add the entries of one header value (call once per `Server-Timing` header).
    pub fn add_header(&mut self, value: &[u8], names: &ServerTimingNames) {
        let bad = parse(value, |name, dur| {
            let Some(ms) = dur else { return };
            let id = names.id(name);
            match id {
                Some(id) if (self.len as usize) < MAX_PER_RESPONSE => {
                    // Milliseconds with decimals to whole microseconds (`as` saturates).
                    let us = (ms * 1000.0).round() as u64;
                    self.entries[self.len as usize] = (id as u8, us);
                    self.len += 1;
                }
                _ => self.overflow = self.overflow.saturating_add(1),
            }
        });
        self.malformed = self.malformed.saturating_add(bad);
    }

    /// The entries kept, as (name id, µs), in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.entries[..self.len as usize]
            .iter()
            .map(|&(id, us)| (id as usize, us))
    }

    /// Whether there is nothing to record (no entry, nothing malformed or overflowing).
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.malformed == 0 && self.overflow == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(v: &str) -> (Vec<(String, Option<f64>)>, u32) {
        let mut out = Vec::new();
        let bad = parse(v.as_bytes(), |n, d| out.push((n.to_string(), d)));
        (out, bad)
    }

    fn e(n: &str, d: Option<f64>) -> (String, Option<f64>) {
        (n.to_string(), d)
    }

    #[test]
    fn the_w3c_examples_parse() {
        assert_eq!(
            entries(r#"db;dur=23.4, cache;desc="hit";dur=0.2"#),
            (vec![e("db", Some(23.4)), e("cache", Some(0.2))], 0)
        );
        assert_eq!(
            entries(r#"miss, db;dur=53, app;dur=47.2"#),
            (
                vec![e("miss", None), e("db", Some(53.0)), e("app", Some(47.2))],
                0
            )
        );
        assert_eq!(
            entries(r#"customView, dc;desc=atl"#),
            (vec![e("customView", None), e("dc", None)], 0)
        );
        assert_eq!(
            entries(r#"cache;desc="Cache Read";dur=23.2"#),
            (vec![e("cache", Some(23.2))], 0)
        );
        assert_eq!(
            entries(r#"total;dur=123.4"#),
            (vec![e("total", Some(123.4))], 0)
        );
    }

    #[test]
    fn whitespace_case_quotes_and_repeats() {
        // OWS around `;` and `=`, `DUR` in any case, a quoted dur, the first dur wins.
        assert_eq!(
            entries("  db ; DUR = 5 ;desc=x ,\tsql;dur=\"7.5\";dur=9 , , "),
            (vec![e("db", Some(5.0)), e("sql", Some(7.5))], 0)
        );
        // Commas and semicolons inside a quoted description, escaped quotes.
        assert_eq!(
            entries(r#"a;desc="x, y; \"z\"";dur=1, b;dur=2"#),
            (vec![e("a", Some(1.0)), e("b", Some(2.0))], 0)
        );
        // Flags without a value are allowed; the same name twice gives two entries.
        assert_eq!(
            entries("db;hit;dur=1, db;dur=2"),
            (vec![e("db", Some(1.0)), e("db", Some(2.0))], 0)
        );
        assert_eq!(entries(""), (vec![], 0));
        assert_eq!(entries(" , ,"), (vec![], 0));
    }

    #[test]
    fn malformed_entries_are_counted_and_skipped() {
        // No name; junk after the name; a bad dur; a negative dur; `dur` without a value;
        // a parameter without a name; an empty value; a non-finite dur.
        for (v, good) in [
            (";dur=1, ok;dur=2", 1),
            ("db dur=1, ok;dur=2", 1),
            ("db;dur=abc, ok;dur=2", 1),
            ("db;dur=-1, ok;dur=2", 1),
            ("db;dur, ok;dur=2", 1),
            ("db;=5, ok;dur=2", 1),
            ("db;dur=, ok;dur=2", 1),
            ("db;dur=inf, ok;dur=2", 1),
            ("db;dur=NaN, ok;dur=2", 1),
            ("db;dur=\"\", ok;dur=2", 1),
            ("\"db\";dur=1, ok;dur=2", 1),
        ] {
            let (got, bad) = entries(v);
            assert_eq!(bad, 1, "{v}");
            assert_eq!(got.len(), good, "{v}");
            assert_eq!(got[0], e("ok", Some(2.0)), "{v}");
        }
        // An unterminated quote swallows the rest of the header: one malformed entry.
        assert_eq!(
            entries(r#"ok;dur=1, a;desc="open, b;dur=2"#),
            (vec![e("ok", Some(1.0))], 1)
        );
        // Junk that is not a token at all.
        assert_eq!(entries("@@@, {}"), (vec![], 2));
    }

    #[test]
    fn fuzzish_garbage_never_panics() {
        // A small deterministic generator over the characters that matter to the grammar.
        let alphabet = b"ab;=,\" \t\\d.u-r9eE+\x00\xff\xc3";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let names = ServerTimingNames::new();
        for len in 0..64 {
            for _ in 0..300 {
                let mut v = Vec::with_capacity(len);
                for _ in 0..len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    v.push(alphabet[(x % alphabet.len() as u64) as usize]);
                }
                let mut seen = 0;
                let _ = parse(&v, |name, dur| {
                    assert!(!name.is_empty());
                    assert!(name.bytes().all(is_tchar));
                    assert!(dur.is_none_or(|d| d.is_finite() && d >= 0.0));
                    seen += 1;
                });
                let mut t = ServerTimings::default();
                t.add_header(&v, &names);
                assert!(t.iter().count() <= seen);
            }
        }
        assert!(names.len() <= MAX_NAMES);
    }

    #[test]
    fn names_are_bounded_and_stable() {
        let names = ServerTimingNames::new();
        for i in 0..40 {
            let id = names.id(&format!("n{i}"));
            if i < MAX_NAMES {
                assert_eq!(id, Some(i));
            } else {
                assert_eq!(id, None);
            }
        }
        assert_eq!(names.id("n3"), Some(3));
        assert_eq!(names.get(3), Some("n3"));
        assert_eq!(names.get(MAX_NAMES), None);
        assert_eq!(names.len(), MAX_NAMES);
        let again = ServerTimingNames::from_names(["b", "a", "b"]);
        assert_eq!(again.iter().collect::<Vec<_>>(), vec!["b", "a"]);
    }

    #[test]
    fn timings_of_a_response_in_microseconds() {
        let names = ServerTimingNames::from_names(["app"]);
        let mut t = ServerTimings::default();
        t.add_header(b"db;dur=12.0, app;dur=20.0", &names);
        t.add_header(b"cache;desc=hit, x;dur=bad, q;dur=0.2004", &names);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            vec![(1, 12_000), (0, 20_000), (2, 200)]
        );
        assert_eq!(names.iter().collect::<Vec<_>>(), vec!["app", "db", "q"]);
        assert_eq!((t.malformed, t.overflow), (1, 0));
        // Past the per-response capacity: overflow.
        let mut many = String::new();
        for i in 0..(MAX_PER_RESPONSE + 3) {
            many.push_str(&format!("app;dur={i},"));
        }
        let mut t = ServerTimings::default();
        t.add_header(many.as_bytes(), &names);
        assert_eq!(t.iter().count(), MAX_PER_RESPONSE);
        assert_eq!(t.overflow, 3);
        // Names past the run's table: overflow.
        let first: Vec<String> = (0..MAX_NAMES).map(|i| format!("n{i}")).collect();
        let full = ServerTimingNames::from_names(first.iter().map(String::as_str));
        let mut t = ServerTimings::default();
        t.add_header(b"n0;dur=1, zzz;dur=2", &full);
        assert_eq!((t.iter().count(), t.overflow), (1, 1));
        assert!(!t.is_empty());
        assert!(ServerTimings::default().is_empty());
    }
}
