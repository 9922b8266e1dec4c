//! Feeders (`feeders:`): rows of test data read from CSV or JSON files when the plan is
//! built, and the `${feeder.field}` names that templates read them by.
//!
//! Every field of a feeder gets a per-user variable slot named `feeder.field`, so a
//! template reads a row's value like any variable; the engine copies the row a user draws
//! into those slots. The rows themselves are loaded once and shared (`Arc`). Every problem
//! with a file (missing, empty, a ragged row, a bad column name) is a [`Diagnostic`] that
//! names the data file and its line, with the scenario key that declared the feeder in the
//! hint; a template that names a column the file lacks is reported where it is written.

use std::path::{Path, PathBuf};

use super::compile::Compiler;
use super::error::Diagnostic;
use super::node::{self, KeyPath, Kind, Node};
use super::plan::{FeedOrder, FeederPlan, WhenExhausted};
use super::raw::{self, RawFeeder, RawFile};
use super::suggest;
use super::template::Template;
use super::units;

/// Ragged rows reported per file before the rest are summed up in one line.
const MAX_ROW_PROBLEMS: usize = 10;
/// The most rows a feeder's file may hold (every row is kept in memory).
pub const MAX_FEEDER_ROWS: usize = 10_000_000;

/// What the compiler knows about the feeders while it compiles templates.
#[derive(Default)]
pub(super) struct FeedState {
    feeders: Vec<FeederPlan>,
    /// Where each feeder was declared (`scenario.yaml:12:5`), for hints.
    declared_at: Vec<String>,
    /// The scenario whose steps are being compiled; `None`: top-level templates
    /// (`variables:`, `defaults:`), which every scenario renders.
    pub scenario: Option<usize>,
    /// Per feeder: the scenarios whose templates read it (`None`: all of them).
    used: Vec<Vec<Option<usize>>>,
    /// Feeders whose file could not be read (reported once, not again at each template).
    failed: Vec<String>,
}

impl FeedState {
    /// The feeders, each with the scenarios that take its rows.
    pub fn finish(mut self, scenarios: usize) -> Vec<FeederPlan> {
        for (f, used) in self.feeders.iter_mut().zip(&self.used) {
            f.scenarios = if used.contains(&None) {
                (0..scenarios).collect()
            } else {
                let mut v: Vec<usize> = used.iter().flatten().copied().collect();
                v.sort_unstable();
                v.dedup();
                v
            };
        }
        self.feeders
    }
}

impl Compiler<'_> {
    /// Read every feeder's file and give each field a variable slot `feeder.field`.
    pub(super) fn load_feeders(&mut self, raw: &RawFile) {
        let top = KeyPath::root().key("feeders");
        for (name, f) in raw.feeders.iter().flat_map(|m| &m.0) {
            let path = top.key(name);
            if !units::is_identifier(name) || name == "env" {
                let hint = if name == "env" {
                    "`env` is reserved for `${env.NAME}`".to_string()
                } else {
                    "templates read it as `${NAME.field}`".to_string()
                };
                self.err(
                    &path,
                    format!("the feeder name `{name}`"),
                    "letters, digits, `_` and `-`, starting with a letter or `_`",
                    Some(hint),
                );
                continue;
            }
            let Some((fields, rows, file)) = self.read_feeder(f, &path) else {
                self.feed.failed.push(name.clone());
                continue;
            };
            let slots = fields
                .iter()
                .map(|field| {
                    self.slots.push(format!("{name}.{field}"));
                    self.slots.len() - 1
                })
                .collect();
            let (order, when_exhausted) = modes(f);
            let at = self.root.locate(&path);
            self.feed
                .declared_at
                .push(format!("{}:{}:{}", self.file.display(), at.line, at.col));
            self.feed.used.push(Vec::new());
            self.feed.feeders.push(FeederPlan {
                name: name.clone(),
                file,
                order,
                when_exhausted,
                fields,
                slots,
                rows: rows.into(),
                scenarios: Vec::new(),
            });
        }
    }

    /// Note which feeders a compiled template reads, for the scenario being compiled.
    pub(super) fn note_feeder_use(&mut self, t: &Template) {
        let scenario = self.feed.scenario;
        for (slot, _) in t.variables() {
            if let Some(i) = self
                .feed
                .feeders
                .iter()
                .position(|f| f.slots.contains(&slot))
                && !self.feed.used[i].contains(&scenario)
            {
                self.feed.used[i].push(scenario);
            }
        }
    }

    /// Warn about feeders no template reads (their rows would never be taken).
    pub(super) fn unused_feeders(&mut self) {
        for (i, f) in self.feed.feeders.iter().enumerate() {
            if self.feed.used[i].is_empty() {
                let path = KeyPath::root().key("feeders").key(&f.name);
                let n = self.root.locate(&path);
                self.warns.push(Diagnostic {
                    file: self.file.to_path_buf(),
                    line: n.line,
                    column: n.col,
                    key: path.to_string(),
                    found: format!("feeder `{}`, which no template reads", f.name),
                    expected: format!(
                        "a template such as `${{{}.{}}}` that uses it",
                        f.name,
                        f.fields.first().map_or("field", String::as_str)
                    ),
                    hint: Some("users take no rows from it".into()),
                });
            }
        }
    }

    /// Is `name` (`feeder.field`) a field of a feeder whose file could not be read?
    pub(super) fn feeder_failed(&self, name: &str) -> bool {
        name.split_once('.')
            .is_some_and(|(f, _)| self.feed.failed.iter().any(|x| x == f))
    }

    /// For an unknown `${a.b}`: what was expected and a hint, when `a` is a feeder (or
    /// looks like one was meant).
    pub(super) fn feeder_name_problem(&self, name: &str) -> Option<(String, Option<String>)> {
        let (feeder, field) = name.split_once('.')?;
        let Some(i) = self.feed.feeders.iter().position(|f| f.name == feeder) else {
            let names: Vec<&str> = self.feed.feeders.iter().map(|f| f.name.as_str()).collect();
            let hint = match suggest::closest(feeder, &names) {
                Some(s) => format!("did you mean `${{{s}.{field}}}`?"),
                None if names.is_empty() => {
                    "declare the feeder under `feeders:`, e.g. `feeders: {users: {file: data/users.csv}}`"
                        .to_string()
                }
                None => format!("the feeders are: {}", names.join(", ")),
            };
            return Some((format!("a feeder named `{feeder}`"), Some(hint)));
        };
        let f = &self.feed.feeders[i];
        let fields: Vec<&str> = f.fields.iter().map(String::as_str).collect();
        let expected = format!(
            "a column of feeder `{}`: {} line 1 names {}",
            f.name,
            f.file.display(),
            fields.join(", ")
        );
        let hint = suggest::closest(field, &fields)
            .map(|s| format!("did you mean `${{{}.{s}}}`?", f.name))
            .or_else(|| Some(format!("add a `{field}` column to {}", f.file.display())));
        Some((expected, hint))
    }

    /// The fields and rows of one feeder's file, or `None` after reporting why not.
    #[allow(clippy::type_complexity)]
    fn read_feeder(
        &mut self,
        f: &RawFeeder,
        path: &KeyPath,
    ) -> Option<(Vec<String>, Vec<Box<[String]>>, PathBuf)> {
        let file_path = path.key("file");
        if f.file.trim().is_empty() {
            self.bad(&file_path, "a file such as data/users.csv", None);
            return None;
        }
        let file = match self.file.parent() {
            Some(dir) => dir.join(&f.file),
            None => PathBuf::from(&f.file),
        };
        let bytes = match super::files::read_regular(&file, super::files::MAX_FEEDER_BYTES) {
            Ok(b) => b,
            Err(why) => {
                let expected = match why {
                    super::files::FileProblem::TooBig { .. } => format!(
                        "a CSV or JSON file of at most {}",
                        super::files::show_bytes(super::files::MAX_FEEDER_BYTES)
                    ),
                    _ => "a readable CSV or JSON file (a regular file)".to_string(),
                };
                self.bad(
                    &file_path,
                    expected,
                    Some(format!(
                        "{}: {why} (a feeder's file is relative to the scenario file's folder)",
                        file.display()
                    )),
                );
                return None;
            }
        };
        let at = self.root.locate(path);
        let declared = format!(
            "the feeder `{}` is declared at {}:{}:{}",
            path.to_string().trim_start_matches("feeders."),
            self.file.display(),
            at.line,
            at.col
        );
        let json = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let parsed = if json {
            read_json(&bytes, &file)
        } else {
            read_csv(&bytes, &file)
        };
        match parsed {
            Ok((fields, rows)) => Some((fields, rows, file)),
            Err(mut problems) => {
                for p in &mut problems {
                    p.key = path.to_string();
                    p.hint = Some(match p.hint.take() {
                        Some(h) => format!("{h}; {declared}"),
                        None => declared.clone(),
                    });
                }
                self.diags.extend(problems);
                None
            }
        }
    }
}

/// The order and exhaustion policy, with their defaults.
fn modes(f: &RawFeeder) -> (FeedOrder, WhenExhausted) {
    let order = match f.order.unwrap_or(raw::FeederOrder::Sequential) {
        raw::FeederOrder::Sequential => FeedOrder::Sequential,
        raw::FeederOrder::Random => FeedOrder::Random,
        raw::FeederOrder::Unique => FeedOrder::Unique,
    };
    let when = match f.when_exhausted {
        Some(raw::WhenExhausted::Recycle) => WhenExhausted::Recycle,
        Some(raw::WhenExhausted::Error) => WhenExhausted::Error,
        None if order == FeedOrder::Unique => WhenExhausted::Error,
        None => WhenExhausted::Recycle,
    };
    (order, when)
}

/// A problem in a data file (key and the declaration's hint are added by the caller).
fn problem(file: &Path, line: usize, column: usize, found: String, expected: String) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line,
        column,
        key: String::new(),
        found,
        expected,
        hint: None,
    }
}

/// A field name templates can write after the dot: `${users.first_name}`.
fn field_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

type Rows = (Vec<String>, Vec<Box<[String]>>);

/// Check the header's names: usable in templates, no duplicates.
fn check_fields(fields: &[String], file: &Path, line: usize) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let again = !seen.insert(f.as_str());
        if !field_name_ok(f) {
            out.push(problem(
                file,
                line,
                1,
                format!("the column name {f:?} (column {})", i + 1),
                "column names of letters, digits, `_` and `-`, as templates read them: `${feeder.name}`"
                    .into(),
            ));
        } else if again {
            out.push(problem(
                file,
                line,
                1,
                format!("the column name `{f}` twice"),
                "each column named once".into(),
            ));
        }
    }
    out
}

/// A CSV file whose first row names the fields.
fn read_csv(bytes: &[u8], file: &Path) -> Result<Rows, Vec<Diagnostic>> {
    let empty = || {
        vec![problem(
            file,
            1,
            1,
            "an empty file".into(),
            "a header row naming the fields (e.g. `username,password`), then one row per record"
                .into(),
        )]
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(empty());
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header_line = 1;
    let fields: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(e) => return Err(vec![csv_problem(&e, file)]),
    };
    let mut problems = check_fields(&fields, file, header_line);
    let mut rows: Vec<Box<[String]>> = Vec::new();
    let mut ragged = 0usize;
    let mut last_line = header_line;
    for rec in rdr.records() {
        match rec {
            Ok(r) => {
                last_line = r.position().map_or(last_line + 1, |p| p.line() as usize);
                if rows.len() == MAX_FEEDER_ROWS {
                    problems.push(problem(
                        file,
                        last_line,
                        1,
                        format!("more than {MAX_FEEDER_ROWS} rows"),
                        format!("at most {MAX_FEEDER_ROWS} rows (the rows are kept in memory)"),
                    ));
                    break;
                }
                rows.push(r.iter().map(str::to_string).collect());
            }
            Err(e) => {
                if matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    ragged += 1;
                    if ragged > MAX_ROW_PROBLEMS {
                        continue;
                    }
                }
                problems.push(csv_problem(&e, file));
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
            }
        }
    }
    if ragged > MAX_ROW_PROBLEMS {
        problems.push(problem(
            file,
            last_line,
            1,
            format!("{} more ragged rows", ragged - MAX_ROW_PROBLEMS),
            format!("{} fields in every row", fields.len()),
        ));
    }
    if problems.is_empty() && rows.is_empty() {
        problems.push(problem(
            file,
            2,
            1,
            "a header row and no data rows".into(),
            "at least one row after the header".into(),
        ));
    }
    if problems.is_empty() {
        Ok((fields, rows))
    } else {
        Err(problems)
    }
}

fn csv_problem(e: &csv::Error, file: &Path) -> Diagnostic {
    let line = |p: Option<&csv::Position>| p.map_or(1, |p| p.line() as usize);
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => problem(
            file,
            line(pos.as_ref()),
            1,
            format!("a row of {len} field{}", if *len == 1 { "" } else { "s" }),
            format!("{expected_len} fields, as in the header row (line 1)"),
        ),
        csv::ErrorKind::Utf8 { pos, err } => problem(
            file,
            line(pos.as_ref()),
            1,
            format!("bytes that are not UTF-8 in field {}", err.field() + 1),
            "UTF-8 text".into(),
        ),
        _ => problem(
            file,
            line(e.position()),
            1,
            e.to_string(),
            "a CSV file".into(),
        ),
    }
}

/// A JSON array of objects; the first object's keys name the fields.
fn read_json(bytes: &[u8], file: &Path) -> Result<Rows, Vec<Diagnostic>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.strip_prefix('\u{feff}').unwrap_or(t),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            return Err(vec![problem(
                file,
                line,
                1,
                "bytes that are not UTF-8".into(),
                "UTF-8 text".into(),
            )]);
        }
    };
    const EXPECTED: &str =
        "a JSON array of objects, e.g. [{\"username\": \"ada\", \"password\": \"x\"}]";
    if text.trim().is_empty() {
        return Err(vec![problem(
            file,
            1,
            1,
            "an empty file".into(),
            EXPECTED.into(),
        )]);
    }
    let root = node::parse(text, file)?;
    let Kind::Seq(items) = &root.kind else {
        return Err(vec![problem(
            file,
            root.line,
            root.col,
            format!("a JSON {}", root.type_name()),
            EXPECTED.into(),
        )]);
    };
    if items.is_empty() {
        return Err(vec![problem(
            file,
            root.line,
            root.col,
            "an empty array".into(),
            "at least one object".into(),
        )]);
    }
    let mut problems = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut rows: Vec<Box<[String]>> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Kind::Map(pairs) = &item.kind else {
            problems.push(problem(
                file,
                item.line,
                item.col,
                format!("element {} is a {}", i + 1, item.type_name()),
                "an object".into(),
            ));
            continue;
        };
        if i == 0 {
            fields = pairs
                .iter()
                .map(|(k, _)| k.key_text().unwrap_or_default().to_string())
                .collect();
            problems.extend(check_fields(&fields, file, item.line));
        }
        let mut row = vec![String::new(); fields.len()];
        let mut seen = vec![false; fields.len()];
        for (k, v) in pairs {
            let key = k.key_text().unwrap_or_default();
            let Some(j) = fields.iter().position(|f| f == key) else {
                problems.push(problem(
                    file,
                    k.line,
                    k.col,
                    format!("the key `{key}`, which the first object lacks"),
                    format!("the keys of the first object: {}", fields.join(", ")),
                ));
                continue;
            };
            seen[j] = true;
            match scalar(v) {
                Some(s) => row[j] = s,
                None => problems.push(problem(
                    file,
                    v.line,
                    v.col,
                    format!("a {} under `{key}`", v.type_name()),
                    "a string, number, boolean or null".into(),
                )),
            }
        }
        let missing: Vec<&str> = fields
            .iter()
            .zip(&seen)
            .filter(|(_, s)| !**s)
            .map(|(f, _)| f.as_str())
            .collect();
        if !missing.is_empty() {
            problems.push(problem(
                file,
                item.line,
                item.col,
                format!(
                    "an object without {}",
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!("the keys of the first object: {}", fields.join(", ")),
            ));
        }
        rows.push(row.into_boxed_slice());
        if problems.len() > MAX_ROW_PROBLEMS {
            break;
        }
    }
    if problems.is_empty() {
        Ok((fields, rows))
    } else {
        Err(problems)
    }
}

/// A JSON scalar as text (`null` as empty text).
fn scalar(n: &Node) -> Option<String> {
    match &n.kind {
        Kind::Null => Some(String::new()),
        Kind::Str(s) => Some(s.clone()),
        Kind::Bool(_) | Kind::Int(_) | Kind::Float(_) => Some(n.text.clone()),
        Kind::Seq(_) | Kind::Map(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Rows, Vec<Diagnostic>> {
        read_csv(text.as_bytes(), Path::new("data/users.csv"))
    }

    #[test]
    fn csv_reads_header_and_rows() {
        let (fields, rows) = csv("username,password\r\nada,a1\n\"bob, jr\",\"x\"\"y\"\n").unwrap();
        assert_eq!(fields, ["username", "password"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(&*rows[1], ["bob, jr", "x\"y"]);
        // A byte-order mark and a missing final newline are fine.
        let (fields, rows) = csv("\u{feff}a,b\n1,2").unwrap();
        assert_eq!((fields.len(), rows.len()), (2, 1));
    }

    #[test]
    fn csv_problems_name_the_line() {
        let e = csv("").unwrap_err();
        assert_eq!((e[0].line, e[0].found.as_str()), (1, "an empty file"));
        let e = csv("username,password\n").unwrap_err();
        assert_eq!(e[0].found, "a header row and no data rows");
        let e = csv("username,password\nada,x\nbob\ncy,z\ndee,1,2\n").unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].line, 3);
        assert_eq!(e[0].found, "a row of 1 field");
        assert!(e[0].expected.contains("2 fields"), "{}", e[0].expected);
        assert_eq!(e[1].line, 5);
        assert_eq!(e[0].file, Path::new("data/users.csv"));
        // A quoted field over two lines: the ragged row after it is still on its real line.
        let e = csv("a,b\n\"x\ny\",1\n2\n").unwrap_err();
        assert_eq!(e[0].line, 4, "{e:?}");
        let e = csv("user name,x,x\n1,2,3\n").unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e[0].found.contains("\"user name\""), "{}", e[0].found);
        assert!(e[1].found.contains("`x` twice"), "{}", e[1].found);
    }

    /// A plan with `data.csv` beside it.
    fn plan(yaml: &str) -> Result<crate::scenario::Plan, crate::scenario::ScenarioError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("data.csv"),
            "username,password\nada,1\nbob,2\n",
        )
        .unwrap();
        crate::scenario::parse_str(yaml, &dir.path().join("s.yaml"))
    }

    #[test]
    fn feeders_know_which_scenarios_read_them() {
        let head = "target: http://h\nfeeders:\n  u: {file: data.csv, order: unique}\n  v: {file: data.csv}\n";
        let tail = "load: {users: 1, duration: 1s}\n";
        let p = plan(&format!(
            "{head}scenarios:\n  - {{name: a, steps: [{{get: /}}]}}\n  - {{name: b, on_start: [{{get: \"/${{u.username}}\"}}], steps: [{{get: /}}]}}\n{tail}"
        ))
        .unwrap();
        assert_eq!(p.feeders.len(), 2);
        assert_eq!(p.feeders[0].scenarios, [1]);
        assert_eq!(p.feeders[0].fields, ["username", "password"]);
        assert_eq!(p.feeders[0].rows.len(), 2);
        assert_eq!(p.feeders[0].order, FeedOrder::Unique);
        assert_eq!(p.feeders[0].when_exhausted, WhenExhausted::Error);
        assert_eq!(p.feeders[1].when_exhausted, WhenExhausted::Recycle);
        let names: Vec<&str> = p.variables.iter().map(|v| v.name.as_str()).collect();
        assert!(
            names.contains(&"u.username") && names.contains(&"v.password"),
            "{names:?}"
        );
        // `v` is read by no template: a warning, and no scenario takes its rows.
        assert!(p.feeders[1].scenarios.is_empty());
        assert!(
            p.warnings.iter().any(|w| w.found.contains("feeder `v`")),
            "{:?}",
            p.warnings
        );
        // Read by `variables:`: every scenario takes rows.
        let p = plan(&format!(
            "{head}variables: {{who: \"${{v.username}}\"}}\nscenarios:\n  - {{name: a, steps: [{{get: \"/${{u.password}}\"}}]}}\n  - {{name: b, steps: [{{get: /}}]}}\n{tail}"
        ))
        .unwrap();
        assert_eq!(p.feeders[1].scenarios, [0, 1]);
        assert_eq!(p.feeders[0].scenarios, [0]);
        // A feeder of the wrong name, and one named `env`.
        let e = plan(&format!(
            "{head}scenarios:\n  - {{name: a, steps: [{{get: \"/${{w.username}}\"}}]}}\n{tail}"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("a feeder named `w`") && e.contains("did you mean"),
            "{e}"
        );
        let e = plan("target: http://h\nfeeders: {env: {file: data.csv}}\nscenarios: [{name: a, steps: [{get: /}]}]\nload: {users: 1, duration: 1s}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`env` is reserved"), "{e}");
    }

    #[test]
    fn json_reads_objects_and_reports_ragged_ones() {
        let f = Path::new("u.json");
        let (fields, rows) =
            read_json(br#"[{"u": "a", "n": 1}, {"n": 2.5, "u": null}]"#, f).unwrap();
        assert_eq!(fields, ["u", "n"]);
        assert_eq!(&*rows[1], ["", "2.5"]);
        let e = read_json(b"[\n {\"u\": 1},\n {\"v\": 2}\n]", f).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].line, 3);
        assert!(e[0].found.contains("`v`"), "{}", e[0].found);
        assert!(e[1].found.contains("without `u`"), "{}", e[1].found);
        assert_eq!(read_json(b"[]", f).unwrap_err()[0].found, "an empty array");
        assert_eq!(read_json(b" ", f).unwrap_err()[0].found, "an empty file");
        assert!(
            read_json(b"{\"a\": 1}", f).unwrap_err()[0]
                .found
                .contains("object")
        );
        assert!(
            read_json(b"[[1]]", f).unwrap_err()[0]
                .found
                .contains("array")
        );
    }
}
