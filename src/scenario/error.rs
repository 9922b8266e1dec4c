//! Errors of scenario files, each naming where and what.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line and column of the offending node (0 when unknown).
    pub line: usize,
    pub column: usize,
    /// Key path such as `scenarios[0].steps[2].method`.
    pub key: String,
    /// What was found, as written.
    pub found: String,
    /// What was expected.
    pub expected: String,
    /// A suggestion (e.g. the key that a misspelt one was probably meant to be).
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        write!(f, "found {}, expected {}", self.found, self.expected)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("reading scenario {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_all(.diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
}

fn render_all(d: &[Diagnostic]) -> String {
    let mut s = format!(
        "{} problem{} in the scenario:",
        d.len(),
        if d.len() == 1 { "" } else { "s" }
    );
    for x in d {
        s.push('\n');
        s.push_str(&x.to_string());
    }
    s
}
