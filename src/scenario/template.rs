//! `${...}` templates: compiled once when the plan is built, rendered per request.
//!
//! CONTRACT (filled in by the template helper): parse resolves variable names to slots at
//! plan time; render never allocates more than the output string.

use rand::Rng;

/// Per-user variable values, indexed by the slots in [`super::Plan::variables`].
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: Vec<Option<String>>,
}

impl Vars {
    pub fn new(slots: usize) -> Vars {
        Vars { values: vec![None; slots] }
    }
    pub fn get(&self, slot: usize) -> Option<&str> {
        self.values.get(slot).and_then(|v| v.as_deref())
    }
    pub fn set(&mut self, slot: usize, value: String) {
        if let Some(v) = self.values.get_mut(slot) {
            *v = Some(value);
        }
    }
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
}

/// Why a template did not parse; `offset` is a byte offset into the template text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// Why a template could not be rendered for this user right now.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("variable `{0}` is not set (no initial value, and no extract has set it yet)")]
    Unset(String),
}

impl Template {
    /// Compile `src`. `resolve` maps a variable name to its slot (None: unknown name);
    /// `env` reads an environment variable for `${env.NAME}`.
    pub fn parse(
        src: &str,
        _resolve: &mut dyn FnMut(&str) -> Option<usize>,
        _env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Template, TemplateError> {
        Ok(Template { source: src.to_string() })
    }

    /// A template with no `${}` in it.
    pub fn literal(s: &str) -> Template {
        Template { source: s.to_string() }
    }

    /// The text as written in the scenario file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `Some(text)` when rendering always gives the same text.
    pub fn as_literal(&self) -> Option<&str> {
        Some(&self.source)
    }

    /// Values substituted from the environment (secrets to mask).
    pub fn env_values(&self) -> Vec<String> {
        Vec::new()
    }

    /// Append the rendered text to `out`.
    pub fn render_into(
        &self,
        _vars: &Vars,
        _rng: &mut dyn rand::RngCore,
        out: &mut String,
    ) -> Result<(), RenderError> {
        out.push_str(&self.source);
        Ok(())
    }

    /// Render into a new string.
    pub fn render(&self, vars: &Vars, rng: &mut dyn rand::RngCore) -> Result<String, RenderError> {
        let mut s = String::new();
        self.render_into(vars, rng, &mut s)?;
        Ok(s)
    }
}

#[allow(dead_code)]
fn _uses_rng(r: &mut dyn rand::RngCore) -> u32 {
    r.random_range(0..1)
}
