//! A YAML (or JSON) document as a tree of nodes that remember where they were written.
//!
//! serde loses positions, so the file is first read into this tree with `saphyr-parser`'s
//! events. Plain scalars are resolved by the YAML 1.2 core schema; quoted and block scalars
//! are strings. Anchors, aliases and `<<` merge keys are expanded here, so the later passes
//! see plain data. Every later message points back into the file through [`Node::line`],
//! [`Node::col`] and a [`KeyPath`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::error::Diagnostic;

/// Nesting deeper than this is refused (it keeps every recursive pass off the stack's edge).
const MAX_DEPTH: usize = 64;
/// Nodes an alias may expand to, in all; stops "billion laughs" documents.
const MAX_ALIAS_NODES: usize = 100_000;
/// Bytes of text aliases may expand to, in all: one alias of a large string is few nodes.
pub const MAX_ALIAS_BYTES: usize = 16 * 1024 * 1024;
/// Nodes in a document, aliases expanded (about 120 bytes of memory each).
pub const MAX_NODES: usize = 1_000_000;

/// One node of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    /// 1-based line and column where the node starts.
    pub line: usize,
    pub col: usize,
    /// For scalars: the text as parsed, before resolution (`~`, `0x1f`, `1.50`).
    pub text: String,
    /// For scalars: quoted or block style, so always a string.
    pub quoted: bool,
    /// For scalars: 1-based column where `text` sits verbatim on the node's line, when it
    /// does (one line, no escapes), so offsets into the text map to columns.
    pub verbatim_col: Option<usize>,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn collection(kind: Kind, line: usize, col: usize) -> Node {
        Node {
            kind,
            line,
            col,
            text: String::new(),
            quoted: false,
            verbatim_col: None,
        }
    }

    /// JSON-ish name of the node's type.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "boolean",
            Kind::Int(_) => "integer",
            Kind::Float(_) => "number",
            Kind::Str(_) => "string",
            Kind::Seq(_) => "array",
            Kind::Map(_) => "object",
        }
    }

    /// The node as it reads in a message: scalars as written, strings quoted.
    pub fn found(&self) -> String {
        match &self.kind {
            Kind::Null if self.text.is_empty() => "nothing".to_string(),
            Kind::Str(s) => format!("{s:?}"),
            Kind::Seq(v) if v.is_empty() => "an empty list".to_string(),
            Kind::Seq(_) => "a list".to_string(),
            Kind::Map(m) if m.is_empty() => "an empty mapping".to_string(),
            Kind::Map(_) => "a mapping".to_string(),
            _ => self.text.clone(),
        }
    }

    /// The key's text, when this node is a scalar usable as a key.
    pub fn key_text(&self) -> Option<&str> {
        match self.kind {
            Kind::Seq(_) | Kind::Map(_) => None,
            _ => Some(&self.text),
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(m) => m
                .iter()
                .find(|(k, _)| k.key_text() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at `path`, or the deepest node on the way there.
    pub fn locate(&self, path: &KeyPath) -> &Node {
        let mut n = self;
        for seg in &path.0 {
            let next = match (seg, &n.kind) {
                (Seg::Key(k), _) => n.get(k),
                (Seg::Index(i), Kind::Seq(v)) => v.get(*i),
                _ => None,
            };
            match next {
                Some(x) => n = x,
                None => break,
            }
        }
        n
    }

    /// The node as JSON: keys as their text, non-finite floats as strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(self.text.clone())),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(v) => Value::Array(v.iter().map(Node::to_json).collect()),
            Kind::Map(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.key_text().unwrap_or_default().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Column of byte `offset` inside this scalar's text: exact when the text sits verbatim
    /// on one line, else the node's own column.
    pub fn col_at(&self, offset: usize) -> usize {
        match self.verbatim_col {
            Some(c) => c + self.text.get(..offset).map_or(0, |s| s.chars().count()),
            None => self.col,
        }
    }

    /// Nodes and bytes of text in this subtree (what a copy of it costs).
    fn weight(&self) -> (usize, usize) {
        // A string's value is its text again: counted once.
        let own = self.text.len();
        let add = |(n, b): (usize, usize), (m, c): (usize, usize)| (n + m, b + c);
        match &self.kind {
            Kind::Seq(v) => v.iter().map(Node::weight).fold((1, own), add),
            Kind::Map(m) => m
                .iter()
                .map(|(k, v)| add(k.weight(), v.weight()))
                .fold((1, own), add),
            _ => (1, own),
        }
    }
}

/// A path of keys and indexes such as `scenarios[0].steps[2].check.status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyPath(pub Vec<Seg>);

/// One step of a [`KeyPath`].
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }
    pub fn key(&self, k: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }
    pub fn idx(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) if is_plain_key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Key(k) => write!(f, "[{k:?}]")?,
            }
        }
        Ok(())
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

/// Resolve a plain scalar by the YAML 1.2 core schema.
pub fn resolve_plain(s: &str) -> Kind {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    if let Some(k) = resolve_int(s) {
        return k;
    }
    if is_core_float(s)
        && let Ok(f) = s.parse::<f64>()
    {
        return Kind::Float(f);
    }
    Kind::Str(s.to_string())
}

fn resolve_int(s: &str) -> Option<Kind> {
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = s.strip_prefix("0o") {
        (8, o)
    } else {
        let d = s.strip_prefix(['-', '+']).unwrap_or(s);
        if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some(match s.parse::<i64>() {
            Ok(i) => Kind::Int(i),
            // Too big for i64: still a number, but not an integer anyone can use.
            Err(_) => Kind::Float(s.parse::<f64>().ok()?),
        });
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(match i64::from_str_radix(digits, radix) {
        Ok(i) => Kind::Int(i),
        Err(_) => Kind::Float(f64::INFINITY),
    })
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s).as_bytes();
    let digits = |b: &[u8], i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let mut i = 0;
    let int = digits(b, &mut i);
    let mut frac = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac = digits(b, &mut i);
    }
    if int == 0 && frac == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(b, &mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Parse `text` into a node tree; a syntax error is one diagnostic at its position.
pub fn parse(text: &str, file: &Path) -> Result<Node, Vec<Diagnostic>> {
    let diag = |line: usize, column: usize, found: String, expected: &str, hint: Option<&str>| {
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            key: String::new(),
            found,
            expected: expected.to_string(),
            hint: hint.map(str::to_string),
        }
    };
    // The parser is not ours: a panic in it must not take the caller down.
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Builder::new(text).run()));
    match built {
        Ok(Ok(Some(node))) => Ok(node),
        Ok(Ok(None)) => Err(vec![diag(
            1,
            1,
            "an empty file".to_string(),
            "a mapping with `target`, `scenarios` and `load`",
            Some("start from one of the files in scenarios/"),
        )]),
        Ok(Err(e)) => Err(vec![diag(
            e.line,
            e.col,
            e.found,
            &e.expected,
            e.hint.as_deref(),
        )]),
        Err(_) => Err(vec![diag(
            1,
            1,
            "YAML the parser could not read".to_string(),
            "well-formed YAML or JSON",
            None,
        )]),
    }
}

/// Why the tree could not be built.
struct BuildError {
    line: usize,
    col: usize,
    found: String,
    expected: String,
    hint: Option<String>,
}

impl BuildError {
    fn at(line: usize, col: usize, found: impl Into<String>, expected: &str) -> BuildError {
        BuildError {
            line,
            col,
            found: found.into(),
            expected: expected.to_string(),
            hint: None,
        }
    }
}

/// A collection being filled.
struct Frame {
    node: Node,
    anchor: usize,
    /// In a mapping: the key waiting for its value.
    key: Option<Node>,
}

struct Builder<'a> {
    text: &'a str,
    /// Character positions (the parser's) to byte offsets.
    chars: CharIndex,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    alias_nodes: usize,
    alias_bytes: usize,
    /// Nodes so far, aliases expanded, and the most allowed ([`MAX_NODES`]).
    nodes: usize,
    max_nodes: usize,
    root: Option<Node>,
    documents: usize,
}

/// Byte offsets of character positions in O(1): the parser counts in characters, and
/// counting them again from the start of a line for every scalar made a long line (minified
/// JSON, a one-line flow sequence) quadratic.
struct CharIndex {
    /// The text is ASCII: a character position is a byte offset.
    ascii: bool,
    /// The byte offset of every [`CharIndex::STRIDE`]-th character.
    marks: Vec<usize>,
}

impl CharIndex {
    const STRIDE: usize = 64;

    fn new(text: &str) -> CharIndex {
        if text.is_ascii() {
            return CharIndex {
                ascii: true,
                marks: Vec::new(),
            };
        }
        let marks = text
            .char_indices()
            .step_by(Self::STRIDE)
            .map(|(b, _)| b)
            .collect();
        CharIndex {
            ascii: false,
            marks,
        }
    }

    /// The byte offset of character `ch` of `text`, if there is one.
    fn byte(&self, text: &str, ch: usize) -> Option<usize> {
        if self.ascii {
            return (ch <= text.len()).then_some(ch);
        }
        let mut at = *self.marks.get(ch / Self::STRIDE)?;
        let mut rest = ch % Self::STRIDE;
        #[cfg(test)]
        tests::WALKED.with(|w| w.set(w.get() + rest));
        for c in text.get(at..)?.chars() {
            if rest == 0 {
                break;
            }
            at += c.len_utf8();
            rest -= 1;
        }
        (rest == 0).then_some(at)
    }
}

impl<'a> Builder<'a> {
    fn new(text: &'a str) -> Builder<'a> {
        Builder {
            text,
            chars: CharIndex::new(text),
            stack: Vec::new(),
            anchors: HashMap::new(),
            alias_nodes: 0,
            alias_bytes: 0,
            nodes: 0,
            max_nodes: MAX_NODES,
            root: None,
            documents: 0,
        }
    }

    fn run(mut self) -> Result<Option<Node>, BuildError> {
        let mut parser = Parser::new_from_str(self.text);
        while let Some(ev) = parser.next_event() {
            let (ev, span) = ev.map_err(|e| {
                let m = e.marker();
                BuildError {
                    line: m.line().max(1),
                    col: m.col() + 1,
                    found: format!("a YAML syntax error ({})", e.info()),
                    expected: "well-formed YAML or JSON".to_string(),
                    hint: Some(
                        "check the indentation, that brackets and quotes are closed, and that each `key: value` has a space after the colon"
                            .to_string(),
                    ),
                }
            })?;
            if !self.event(ev, span)? {
                break;
            }
        }
        Ok(self.root)
    }

    /// Handle one event; false when the document is complete.
    fn event(&mut self, ev: Event<'_>, span: Span) -> Result<bool, BuildError> {
        let (line, col) = (span.start.line().max(1), span.start.col() + 1);
        match ev {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(BuildError::at(
                        line,
                        col,
                        "a second YAML document",
                        "one document per file",
                    ));
                }
            }
            Event::StreamEnd => return Ok(false),
            Event::Scalar(value, style, anchor, tag) => {
                let node = self.scalar(&value, style, tag.as_deref(), span);
                self.finish(node, anchor)?;
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return Err(BuildError::at(
                        line,
                        col,
                        "an alias to an unknown anchor",
                        "an anchor defined above",
                    ));
                };
                let (nodes, bytes) = node.weight();
                self.alias_nodes += nodes;
                self.alias_bytes += bytes;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(BuildError::at(
                        line,
                        col,
                        format!("aliases that expand to more than {MAX_ALIAS_NODES} nodes"),
                        "a scenario of reasonable size",
                    ));
                }
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(BuildError {
                        line,
                        col,
                        found: format!(
                            "aliases that expand to more than {} of text in all (this one to {})",
                            super::files::show_bytes(MAX_ALIAS_BYTES as u64),
                            super::files::show_bytes(bytes as u64)
                        ),
                        expected: "a scenario of reasonable size".to_string(),
                        hint: Some(
                            "each alias is a copy of its anchor's value: send a large body from a file with `body_file` instead".to_string(),
                        ),
                    });
                }
                let node = node.clone();
                self.count(nodes - 1, line, col)?;
                self.finish(node, 0)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.open(Kind::Seq(Vec::new()), line, col, anchor)?
            }
            Event::MappingStart(anchor, _) => {
                self.open(Kind::Map(Vec::new()), line, col, anchor)?
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(BuildError::at(
                        line,
                        col,
                        "an unbalanced end of a collection",
                        "well-formed YAML",
                    ));
                };
                let mut node = frame.node;
                merge_keys(&mut node)?;
                self.finish(node, frame.anchor)?;
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
        }
        Ok(true)
    }

    fn open(
        &mut self,
        kind: Kind,
        line: usize,
        col: usize,
        anchor: usize,
    ) -> Result<(), BuildError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(BuildError::at(
                line,
                col,
                format!("nesting deeper than {MAX_DEPTH} levels"),
                "a flatter document",
            ));
        }
        self.stack.push(Frame {
            node: Node::collection(kind, line, col),
            anchor,
            key: None,
        });
        Ok(())
    }

    /// Count `n` more nodes against [`MAX_NODES`].
    fn count(&mut self, n: usize, line: usize, col: usize) -> Result<(), BuildError> {
        self.nodes += n;
        if self.nodes > self.max_nodes {
            return Err(BuildError {
                line,
                col,
                found: format!("more than {} values", self.max_nodes),
                expected: "a scenario of reasonable size".to_string(),
                hint: Some("split the test into several scenario files".to_string()),
            });
        }
        Ok(())
    }

    /// A complete node: remember its anchor, then put it into its parent.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), BuildError> {
        self.count(1, node.line, node.col)?;
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(top) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match &mut top.node.kind {
            Kind::Seq(items) => items.push(node),
            Kind::Map(pairs) => match top.key.take() {
                None => top.key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
            _ => {}
        }
        Ok(())
    }

    fn scalar(
        &self,
        value: &str,
        style: ScalarStyle,
        tag: Option<&saphyr_parser::Tag>,
        span: Span,
    ) -> Node {
        let quoted = !matches!(style, ScalarStyle::Plain);
        let forced_str = tag.is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
        let kind = if quoted || forced_str {
            Kind::Str(value.to_string())
        } else {
            resolve_plain(value)
        };
        Node {
            kind,
            line: span.start.line().max(1),
            col: span.start.col() + 1,
            text: value.to_string(),
            quoted,
            verbatim_col: self.verbatim_col(value, style, span),
        }
    }

    /// Where `value` sits verbatim in the source line, if it does.
    fn verbatim_col(&self, value: &str, style: ScalarStyle, span: Span) -> Option<usize> {
        if span.start.line() != span.end.line() || value.contains('\n') {
            return None;
        }
        let opening = match style {
            ScalarStyle::Plain => 0,
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => 1,
            _ => return None,
        };
        // `value` has no line break, so where it matches it lies on the node's line.
        let at = |ch: usize| {
            self.chars
                .byte(self.text, ch)
                .and_then(|b| self.text.get(b..b + value.len()))
                == Some(value)
        };
        // From the start (after an opening quote); in flow collections the span's end can
        // take in the blanks after a quoted scalar, so the end is only the fallback.
        if at(span.start.index() + opening) {
            return Some(span.start.col() + opening + 1);
        }
        let n = value.chars().count();
        let end = span.end.index().checked_sub(opening)?.checked_sub(n)?;
        let end_col = span.end.col().checked_sub(opening)?.checked_sub(n)?;
        at(end).then_some(end_col + 1)
    }
}

/// Expand `<<: *base` (or a list of them): keys not already in the mapping are copied in.
fn merge_keys(node: &mut Node) -> Result<(), BuildError> {
    let Kind::Map(pairs) = &mut node.kind else {
        return Ok(());
    };
    if !pairs.iter().any(|(k, _)| is_merge_key(k)) {
        return Ok(());
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = std::mem::take(pairs)
        .into_iter()
        .partition(|(k, _)| is_merge_key(k));
    // The keys already there, by text (a set: a large mapping must not make this quadratic).
    let mut have: std::collections::HashSet<String> = own
        .iter()
        .filter_map(|(k, _)| k.key_text().map(str::to_string))
        .collect();
    for (_, v) in merges {
        let sources = match v.kind {
            Kind::Map(_) => vec![v],
            Kind::Seq(items) if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) => items,
            _ => {
                return Err(BuildError::at(
                    v.line,
                    v.col,
                    v.found(),
                    "a mapping (or list of mappings) to merge with `<<`",
                ));
            }
        };
        for src in sources {
            let Kind::Map(src_pairs) = src.kind else {
                continue;
            };
            for (k, val) in src_pairs {
                let new = match k.key_text() {
                    Some(t) => have.insert(t.to_string()),
                    None => true,
                };
                if new {
                    own.push((k, val));
                }
            }
        }
    }
    *pairs = own;
    Ok(())
}

fn is_merge_key(k: &Node) -> bool {
    !k.quoted && k.text == "<<"
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Characters [`CharIndex::byte`] stepped over on this thread.
        pub(super) static WALKED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Issue 13, D6: every scalar's column used to be found by counting the characters of
    /// its line from the start, so a one-line file (minified JSON) took time quadratic in
    /// its length. Now each lookup steps over fewer than 64 characters, wherever it is.
    #[test]
    fn issue13_a_long_line_costs_a_bounded_walk_per_scalar() {
        let items: Vec<String> = (0..5_000).map(|i| format!("\"ä{i}\"")).collect();
        let text = format!("{{\"k\": [{}], \"last\": \"é ${{x}}\"}}", items.join(", "));
        WALKED.with(|w| w.set(0));
        let n = tree(&text);
        let walked = WALKED.with(std::cell::Cell::get);
        // Two lookups at most per scalar (its start, or else its end).
        let scalars = 5_000 + 3;
        assert!(
            walked < 2 * scalars * CharIndex::STRIDE,
            "{walked} characters walked for {scalars} scalars"
        );
        // The positions are still exact, far into the line and past non-ASCII text.
        let last = n.get("last").unwrap();
        let col = text.chars().count() - "é ${x}\"}".chars().count() + 1;
        assert_eq!((last.line, last.col_at(0)), (1, col));
        assert_eq!(last.col_at("é ".len()), col + 2);
        let k = n.get("k").unwrap();
        let Kind::Seq(v) = &k.kind else { panic!() };
        let at = text.find("\"ä4321\"").unwrap();
        assert_eq!(v[4321].col_at(0), text[..at].chars().count() + 2);
        // ASCII text needs no walk at all.
        WALKED.with(|w| w.set(0));
        tree("{\"a\": [1, 2, 3], \"b\": \"x\"}");
        assert_eq!(WALKED.with(std::cell::Cell::get), 0);
    }

    /// Issue 13, D3: 1,000 aliases of a 1 MB string took 1.97 GB; a 10 MB one aborted.
    /// What aliases copy is counted in bytes, and refused past 16 MiB at the alias's line.
    #[test]
    fn issue13_aliases_may_copy_at_most_16_mib_of_text() {
        let big = "x".repeat(1024 * 1024);
        let mut text = format!("big: &big \"{big}\"\nuses:\n");
        for _ in 0..40 {
            text.push_str("  - *big\n");
        }
        let d = parse(&text, Path::new("t.yaml")).unwrap_err();
        assert_eq!(d.len(), 1);
        // The 17th alias passes 16 MiB: line 3 is the first alias.
        assert_eq!((d[0].line, d[0].column), (3 + 16, 5), "{}", d[0]);
        assert!(
            d[0].found.contains("more than 16 MiB") && d[0].found.contains("this one to 1 MiB"),
            "{}",
            d[0]
        );
        // Sixteen copies are fine.
        let ok = text.lines().take(2 + 16).collect::<Vec<_>>().join("\n");
        assert!(parse(&ok, Path::new("t.yaml")).is_ok());
    }

    #[test]
    fn issue13_a_document_of_too_many_values_is_refused() {
        let text = format!("a: [{}]\nb: &b [1, 2]\nc: *b\n", "1,".repeat(95));
        let mut b = Builder::new(&text);
        b.max_nodes = 103;
        let Err(e) = b.run() else { panic!("accepted") };
        assert_eq!(
            (e.line, e.col, e.found.as_str()),
            (3, 4, "more than 103 values")
        );
        // Aliases count as what they copy: the same values without the alias fit.
        let mut b = Builder::new(&text[..text.find("c:").unwrap()]);
        b.max_nodes = 103;
        assert!(b.run().is_ok());
    }

    fn tree(s: &str) -> Node {
        parse(s, Path::new("t.yaml")).unwrap_or_else(|d| panic!("{}", d[0]))
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        assert_eq!(resolve_plain("~"), Kind::Null);
        assert_eq!(resolve_plain(""), Kind::Null);
        assert_eq!(resolve_plain("True"), Kind::Bool(true));
        assert_eq!(resolve_plain("yes"), Kind::Str("yes".into()));
        assert_eq!(resolve_plain("-42"), Kind::Int(-42));
        assert_eq!(resolve_plain("0x1f"), Kind::Int(31));
        assert_eq!(resolve_plain("0o17"), Kind::Int(15));
        assert_eq!(resolve_plain("1.5"), Kind::Float(1.5));
        assert_eq!(resolve_plain(".5e3"), Kind::Float(500.0));
        assert_eq!(resolve_plain("1e"), Kind::Str("1e".into()));
        assert_eq!(resolve_plain("."), Kind::Str(".".into()));
        assert_eq!(resolve_plain("30s"), Kind::Str("30s".into()));
        assert_eq!(resolve_plain("1.1.1"), Kind::Str("1.1.1".into()));
        assert!(matches!(resolve_plain(".inf"), Kind::Float(f) if f.is_infinite()));
        assert!(matches!(
            resolve_plain("99999999999999999999"),
            Kind::Float(_)
        ));
    }

    #[test]
    fn quoted_scalars_are_strings_and_positions_are_one_based() {
        let n = tree("a: '1'\nb: 2\nc:\n  - \"true\"\n");
        assert_eq!(n.get("a").map(|n| &n.kind), Some(&Kind::Str("1".into())));
        let b = n.get("b").unwrap();
        assert_eq!((b.kind.clone(), b.line, b.col), (Kind::Int(2), 2, 4));
        let c0 = n.locate(&KeyPath::root().key("c").idx(0));
        assert_eq!(
            (c0.kind.clone(), c0.line, c0.col),
            (Kind::Str("true".into()), 4, 5)
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        let n = tree("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nsame: *b\n");
        let u = n.get("use").unwrap();
        assert_eq!(u.get("x").unwrap().kind, Kind::Int(1));
        assert_eq!(u.get("y").unwrap().kind, Kind::Int(3));
        assert_eq!(n.get("same").unwrap().get("y").unwrap().kind, Kind::Int(2));
    }

    #[test]
    fn json_goes_through_the_same_path() {
        let n = tree("{\"a\": [1, 2.5, null, \"s\"], \"b\": {\"c\": true}}");
        assert_eq!(
            n.to_json(),
            serde_json::json!({"a": [1, 2.5, null, "s"], "b": {"c": true}})
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let d = parse("a: 1\nb: [1, 2\n", Path::new("t.yaml")).unwrap_err();
        assert_eq!(d.len(), 1);
        assert!(d[0].line >= 2, "{}", d[0]);
        assert!(d[0].found.contains("syntax"));
    }

    #[test]
    fn offsets_map_to_columns_only_when_verbatim() {
        let n = tree("a: x ${y}\nb: \"x ${y}\"\nc: \"\\tx ${y}\"\nd: |\n  x ${y}\n");
        assert_eq!(n.get("a").unwrap().col_at(2), 6);
        assert_eq!(n.get("b").unwrap().col_at(2), 7);
        assert_eq!(n.get("c").unwrap().col_at(3), 4);
        assert_eq!(n.get("d").unwrap().col_at(2), n.get("d").unwrap().col);
    }

    #[test]
    fn hostile_input_is_refused_not_panicked_on() {
        let deep = "[".repeat(10_000);
        assert!(parse(&deep, Path::new("t.yaml")).is_err());
        let laughs = "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n";
        assert!(parse(laughs, Path::new("t.yaml")).is_err());
        assert!(parse("- a\nb: c\n", Path::new("t.yaml")).is_err());
        assert!(parse("a: 1\n---\nb: 2\n", Path::new("t.yaml")).is_err());
        assert!(parse("", Path::new("t.yaml")).is_err());
    }
}
