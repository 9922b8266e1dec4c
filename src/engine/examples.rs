//! The error examples of `result.json`: the first message of each error kind at each step,
//! with the plan's secrets masked, kept while the run goes (a bounded number of them).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::metrics::{CellInfo, ErrorExample, ErrorKind};

/// At most this many (cell, kind) examples are kept.
const MAX_EXAMPLES: usize = 1000;

/// The first message of each (cell, error kind); `usize::MAX` as the cell: a user's start.
pub(super) struct ErrorExamples {
    secrets: Vec<String>,
    first: Mutex<HashMap<(usize, ErrorKind), String>>,
}

impl ErrorExamples {
    pub fn new(secrets: &[String]) -> ErrorExamples {
        ErrorExamples {
            secrets: secrets.to_vec(),
            first: Mutex::default(),
        }
    }

    /// Keep `detail` (masked) if it is the first of its kind at `cell`.
    pub fn note(&self, cell: usize, kind: ErrorKind, detail: &str) {
        let mut ex = self.first.lock().unwrap_or_else(|p| p.into_inner());
        if ex.len() < MAX_EXAMPLES {
            ex.entry((cell, kind))
                .or_insert_with(|| mask(detail, &self.secrets));
        }
    }

    /// The examples, named by the cells' scenario and step, in order.
    pub fn finish(&self, cells: &[CellInfo]) -> Vec<ErrorExample> {
        let ex = self.first.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<ErrorExample> = ex
            .iter()
            .map(|((cell, kind), msg)| {
                let c = cells.get(*cell);
                ErrorExample {
                    scenario: c.map(|c| c.scenario.clone()).unwrap_or_default(),
                    step: c
                        .map(|c| c.step.clone())
                        .unwrap_or_else(|| "(user start)".into()),
                    kind: kind.as_str().into(),
                    message: msg.clone(),
                }
            })
            .collect();
        v.sort_by(|a, b| (&a.scenario, &a.step, &a.kind).cmp(&(&b.scenario, &b.step, &b.kind)));
        v
    }
}

/// Replace every secret value in `s`.
pub fn mask(s: &str, secrets: &[String]) -> String {
    let mut out = s.to_string();
    for sec in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(sec.as_str(), "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_example_of_each_kind_is_kept_masked() {
        let ex = ErrorExamples::new(&["hunter2".into(), String::new()]);
        ex.note(0, ErrorKind::Timeout, "timed out with hunter2");
        ex.note(0, ErrorKind::Timeout, "a second one");
        ex.note(usize::MAX, ErrorKind::Request, "no client");
        let cells = vec![CellInfo {
            id: 0,
            scenario: "s".into(),
            step: "GET /".into(),
            method: "GET".into(),
            tag: "s/GET_".into(),
            checks: Vec::new(),
            tags: Vec::new(),
        }];
        let v = ex.finish(&cells);
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].step.as_str(), v[0].kind.as_str()),
            ("(user start)", "request")
        );
        assert_eq!(v[1].message, "timed out with [redacted]");
    }
}
