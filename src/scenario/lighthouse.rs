//! `lighthouse:`: audits of the target's pages by the real Lighthouse, before the load and
//! during its hold at full load; its targets (`lighthouse.performance >= 90`,
//! `lcp(page="/") < 2.5s`, ...), and the Lighthouse KPI `preset: phase9` adds.
//!
//! Only the plan is made here; finding the tools and running them is the engine's
//! (`engine::lighthouse`).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::compile::Compiler;
use super::error::Diagnostic;
use super::node::KeyPath;
use super::plan::{LoadPlan, TargetPlan, TargetSource};
use super::raw::{Dur, RawFile, RawPreset, RawThreshold};
use super::target_expr::{Expr, ExprError, fail};
use super::units;
use crate::metrics::lighthouse::{CATEGORIES, LighthouseQuery, METRICS};
use crate::metrics::verdict::{Metric, Op, Scope, Target, Unit};

/// Lighthouse audits of the target's pages, by the real `lighthouse` (npm) on headless
/// Chromium: `{pages: [/], runs: 3, when: both}`. Scores and page metrics (LCP, FCP, TBT,
/// CLS, Speed Index, TTI) go into `result.json` and every report, and targets such as
/// `lighthouse.performance >= 90` or `lcp(page="/") < 2.5s` judge them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Lighthouse")]
pub struct RawLighthouse {
    /// Pages to audit, as paths on the run's target, e.g. `[/, /slow-page]`. Default `[/]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Vec<String>>,
    /// Runs of each page at each moment; the median of the runs is kept. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub runs: Option<u32>,
    /// `mobile` (Lighthouse's default: a phone's screen, slow 4G and a 4x slower CPU,
    /// simulated) or `desktop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_factor: Option<String>,
    /// Lighthouse categories to score: `performance`, `accessibility`, `best-practices`,
    /// `seo`. Default: all four.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// When to audit: `before` the load (the target idle), `during` the hold at full load,
    /// or `both` (the default: idle and under load side by side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The longest one run of `lighthouse` may take before it is killed (with its
    /// Chromium) and counted as failed, e.g. `90s`. Default `120s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    /// Whether the run needs Lighthouse: `true` (the default) fails `skein validate` and
    /// `skein run` (exit 2, with the install commands) where `lighthouse` or Chromium is
    /// missing; `false` runs the load anyway, with a warning, the audits shown as not
    /// measured and Lighthouse targets left out of the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// What the engine audits.
#[derive(Debug, Clone, PartialEq)]
pub struct LighthousePlan {
    /// Paths on the run's target, each starting with `/`.
    pub pages: Vec<String>,
    pub runs: u32,
    /// `mobile` or `desktop`.
    pub form_factor: String,
    /// Category ids.
    pub categories: Vec<String>,
    /// Audit the target idle, before the load starts.
    pub before: bool,
    /// Audit the target during the hold at full load ([`full_load_hold`]).
    pub during: bool,
    pub timeout: Duration,
    /// Fail validation where the tools are missing (else: warn and leave the audits out).
    pub required: bool,
}

/// Runs when `runs:` is not written (Lighthouse CI's default).
pub const DEFAULT_RUNS: u32 = 3;
/// A run's limit when `timeout:` is not written.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// About how long one audit takes on a small page (Chromium's start included), for the
/// warning that the hold is too short for the audits planned in it.
pub const TYPICAL_AUDIT: Duration = Duration::from_secs(15);
/// The `when:` values.
const WHEN: [&str; 3] = ["before", "during", "both"];

/// The hold at full load: start and end, from the start of the load. The first stretch in
/// which the users (closed model) or the arrival rate (open model) stay at their peak; a
/// profile that only touches its peak gives the instant it does (start = end).
pub fn full_load_hold(load: &LoadPlan) -> (Duration, Duration) {
    let (start_level, levels): (f64, Vec<(f64, Duration)>) = match &load.open {
        Some(o) => (
            o.start_rate,
            o.stages.iter().map(|s| (s.rate, s.over)).collect(),
        ),
        None => (
            0.0,
            load.stages
                .iter()
                .map(|s| (s.users as f64, s.over))
                .collect(),
        ),
    };
    let peak = levels.iter().map(|(l, _)| *l).fold(start_level, f64::max);
    let mut at = Duration::ZERO;
    let mut from = start_level;
    let mut reached = None;
    for (level, over) in &levels {
        if from == peak && *level == peak && !over.is_zero() {
            return (at, at + *over);
        }
        at += *over;
        if *level == peak && reached.is_none() {
            reached = Some(at);
        }
        from = *level;
    }
    let t = reached.unwrap_or(Duration::ZERO);
    (t, t)
}

impl Compiler<'_> {
    /// The `lighthouse:` block, its targets checked against it, and the preset's KPI
    /// added to `targets` when `preset: phase9` is used.
    pub(super) fn lighthouse(
        &mut self,
        raw: &RawFile,
        load: Option<&LoadPlan>,
        targets: &mut Vec<TargetPlan>,
    ) -> Option<LighthousePlan> {
        let path = KeyPath::root().key("lighthouse");
        let plan = raw
            .lighthouse
            .as_ref()
            .map(|l| self.lighthouse_block(l, &path));
        self.lighthouse_targets(raw, plan.as_ref());
        if let (Some(p), Some(load)) = (&plan, load) {
            self.hold_long_enough(p, load, &path);
        }
        if let Some(p) = &plan
            && p.categories.iter().any(|c| c == "performance")
            && uses_phase9(raw)
        {
            targets.push(phase9_kpi());
        }
        plan
    }

    fn lighthouse_block(&mut self, l: &RawLighthouse, path: &KeyPath) -> LighthousePlan {
        let pages = match &l.pages {
            None => vec!["/".to_string()],
            Some(list) => {
                if list.is_empty() {
                    self.bad(
                        &path.key("pages"),
                        "at least one page, e.g. `pages: [/]`",
                        None,
                    );
                }
                let mut out: Vec<String> = Vec::new();
                for (i, p) in list.iter().enumerate() {
                    let at = path.key("pages").idx(i);
                    if !p.starts_with('/')
                        || p.starts_with("//")
                        || p.chars().any(char::is_whitespace)
                    {
                        self.bad(
                            &at,
                            "a path on the run's target, starting with `/`, e.g. `/` or `/products?page=2`",
                            Some(
                                "Lighthouse audits pages of the run's own target only; the target's \
                                 base URL is put in front"
                                    .into(),
                            ),
                        );
                    } else if out.contains(p) {
                        self.bad(&at, "each page once", None);
                    } else {
                        out.push(p.clone());
                    }
                }
                out
            }
        };
        let runs = l.runs.unwrap_or(DEFAULT_RUNS);
        if !(1..=20).contains(&runs) {
            self.bad(
                &path.key("runs"),
                "a number of runs from 1 to 20",
                Some("the median of the runs is kept; 3 is Lighthouse CI's default".into()),
            );
        }
        let form_factor = match l.form_factor.as_deref().map(str::trim) {
            None => "mobile".to_string(),
            Some(f @ ("mobile" | "desktop")) => f.to_string(),
            Some(_) => {
                self.bad(&path.key("form_factor"), "`mobile` or `desktop`", None);
                "mobile".to_string()
            }
        };
        let categories = match &l.categories {
            None => CATEGORIES.iter().map(|c| c.to_string()).collect(),
            Some(list) => {
                let mut out: Vec<String> = Vec::new();
                if list.is_empty() {
                    self.bad(
                        &path.key("categories"),
                        "at least one category, e.g. `categories: [performance]`",
                        None,
                    );
                }
                for (i, c) in list.iter().enumerate() {
                    let id = c.trim().replace('_', "-");
                    if CATEGORIES.contains(&id.as_str()) {
                        if !out.contains(&id) {
                            out.push(id);
                        }
                    } else {
                        let hint = match super::suggest::closest(&id, &CATEGORIES) {
                            Some(s) => format!("did you mean \"{s}\"?"),
                            None => format!("the categories are: {}", CATEGORIES.join(", ")),
                        };
                        self.bad(
                            &path.key("categories").idx(i),
                            "a Lighthouse category: performance, accessibility, best-practices or seo",
                            Some(hint),
                        );
                    }
                }
                out
            }
        };
        let (before, during) = match l.when.as_deref().map(str::trim) {
            None | Some("both") => (true, true),
            Some("before") => (true, false),
            Some("during") => (false, true),
            Some(w) => {
                let hint = super::suggest::closest(w, &WHEN)
                    .map(|s| format!("did you mean \"{s}\"?"))
                    .unwrap_or_else(|| {
                        "before: the target idle; during: the hold at full load".into()
                    });
                self.bad(
                    &path.key("when"),
                    "`before`, `during` or `both`",
                    Some(hint),
                );
                (true, true)
            }
        };
        let timeout = match &l.timeout {
            None => DEFAULT_TIMEOUT,
            Some(d) => match self.duration(d, &path.key("timeout")) {
                Some(t) if t < Duration::from_secs(10) => {
                    self.bad(
                        &path.key("timeout"),
                        "a timeout of at least 10s",
                        Some("Chromium's start and one page load take several seconds".into()),
                    );
                    DEFAULT_TIMEOUT
                }
                Some(t) => t,
                None => DEFAULT_TIMEOUT,
            },
        };
        LighthousePlan {
            pages,
            runs,
            form_factor,
            categories,
            before,
            during,
            timeout,
            required: l.required.unwrap_or(true),
        }
    }

    /// A warning when the audits planned during the hold would outlast it.
    fn hold_long_enough(&mut self, p: &LighthousePlan, load: &LoadPlan, path: &KeyPath) {
        if !p.during {
            return;
        }
        let (start, end) = full_load_hold(load);
        let audits = u32::try_from(p.pages.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(p.runs);
        let need = TYPICAL_AUDIT.saturating_mul(audits);
        if end - start >= need {
            return;
        }
        let n = self.root.locate(path);
        self.warns.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: n.line,
            column: n.col,
            key: path.to_string(),
            found: format!(
                "{audits} audit{} during a hold at full load of {}",
                if audits == 1 { "" } else { "s" },
                units::show_duration(end - start)
            ),
            expected: format!(
                "a hold of about {} or more (some {} an audit)",
                units::show_duration(need),
                units::show_duration(TYPICAL_AUDIT)
            ),
            hint: Some(
                "audits still running when the hold ends finish at a lower load; lengthen the \
                 hold, or audit fewer pages or runs"
                    .into(),
            ),
        });
    }

    /// Each Lighthouse target of the scenario's `targets:` names what the block audits.
    fn lighthouse_targets(&mut self, raw: &RawFile, plan: Option<&LighthousePlan>) {
        let Some(list) = &raw.targets else {
            return;
        };
        for (i, item) in list.iter().enumerate() {
            let (text, at, o) = match item {
                RawThreshold::Expr(e) => (e, KeyPath::root().key("targets").idx(i), None),
                RawThreshold::Options(o) => (
                    &o.expr,
                    KeyPath::root().key("targets").idx(i).key("expr"),
                    Some(o),
                ),
                RawThreshold::Preset(_) => continue,
            };
            let Some(Ok(x)) = parse_target(text) else {
                continue;
            };
            let Metric::Lighthouse(q) = &x.metric else {
                continue;
            };
            let problem = match plan {
                None => Some((
                    format!(
                        "a Lighthouse target without a `lighthouse:` block: `{}`",
                        text.trim()
                    ),
                    "a `lighthouse:` block that audits the pages it names".to_string(),
                    Some("e.g. `lighthouse: {pages: [/], runs: 3}`".to_string()),
                    None,
                )),
                Some(p) => query_problem(q, p),
            };
            if let Some((found, expected, hint, part)) = problem {
                // At the selector at fault (`page=`, `when=`), else the expression's start.
                let n = self.root.locate(&at);
                let offset = part
                    .and_then(|needle| text.find(needle))
                    .unwrap_or(text.len() - text.trim_start().len());
                let (line, column) = (n.line, n.col_at(offset));
                self.err_at(line, column, &at, found, expected, hint);
                continue;
            }
            if let Some(o) = o
                && (o.after.is_some() || o.abort_on_fail == Some(true))
            {
                self.err(
                    &at,
                    format!("`after` or `abort_on_fail` on `{}`", text.trim()),
                    "a Lighthouse target without `after` and `abort_on_fail`",
                    Some("Lighthouse targets are judged once, on the audits' medians".into()),
                );
            }
        }
    }
}

/// What is wrong with a Lighthouse target: found, expected, hint, and the part of the
/// expression at fault (`page=`, `when=`; none: its start).
type Problem = (String, String, Option<String>, Option<&'static str>);

/// What is wrong with a Lighthouse target for the block `p`.
fn query_problem(q: &LighthouseQuery, p: &LighthousePlan) -> Option<Problem> {
    if let Some(page) = &q.page
        && !p.pages.contains(page)
    {
        let pages: Vec<String> = p.pages.iter().map(|p| format!("\"{p}\"")).collect();
        return Some((
            format!("page \"{page}\", which `lighthouse.pages` does not audit"),
            "a page of `lighthouse.pages`".into(),
            Some(format!("the pages are: {}", pages.join(", "))),
            Some("page="),
        ));
    }
    match q.when.as_deref() {
        Some("before") if !p.before => {
            return Some((
                "when=\"before\" with `lighthouse.when: during`".into(),
                "a moment the block audits".into(),
                Some("write `when: both` in the block, or drop when=\"before\"".into()),
                Some("when="),
            ));
        }
        Some("during") if !p.during => {
            return Some((
                "when=\"during\" with `lighthouse.when: before`".into(),
                "a moment the block audits".into(),
                Some("write `when: both` in the block, or drop when=\"during\"".into()),
                Some("when="),
            ));
        }
        _ => {}
    }
    if q.score && !p.categories.contains(&q.name) {
        return Some((
            format!("lighthouse.{}, a category the block does not score", q.name),
            "a category of `lighthouse.categories`".into(),
            Some(format!("the categories are: {}", p.categories.join(", "))),
            None,
        ));
    }
    if !q.score && !p.categories.iter().any(|c| c == "performance") {
        return Some((
            format!("{} without the performance category", q.name),
            "`performance` in `lighthouse.categories` (the page metrics are its)".into(),
            None,
            None,
        ));
    }
    None
}

/// Whether the scenario's targets use `preset: phase9`.
fn uses_phase9(raw: &RawFile) -> bool {
    raw.targets.iter().flatten().any(|t| match t {
        RawThreshold::Preset(p) => match &p.preset {
            RawPreset::Name(n) => n.trim() == "phase9",
            RawPreset::Options(o) => o.name.trim() == "phase9",
        },
        _ => false,
    })
}

/// The Phase 9 plan's "Lighthouse score 90+": the performance score of every page audited,
/// at every moment, at least 90.
pub const PHASE9_KPI: &str = "lighthouse.performance >= 90";

fn phase9_kpi() -> TargetPlan {
    let mut t = target_of(PHASE9_KPI);
    t.improvement_goal_pct = None;
    TargetPlan::new(
        t,
        TargetSource::Preset {
            name: "phase9".into(),
            kpi: "Lighthouse score".into(),
        },
        None,
    )
}

/// A Lighthouse expression known to parse, as a verdict target.
fn target_of(text: &str) -> Target {
    let x = match parse_target(text) {
        Some(Ok(x)) => x,
        // Only called with the constant above, which parses.
        _ => unreachable!("a Lighthouse expression that does not parse: {text}"),
    };
    Target {
        expression: text.to_string(),
        source: String::new(),
        metric: x.metric,
        aggregate: None,
        scope: Scope::Overall,
        after_us: None,
        op: x.op,
        threshold: x.threshold,
        unit: x.unit,
        abort_on_fail: false,
        grace_us: None,
        baseline: None,
        improvement_goal_pct: None,
    }
}

/// Whether a verdict target reads Lighthouse's audits.
pub fn is_lighthouse_target(t: &Target) -> bool {
    matches!(t.metric, Metric::Lighthouse(_))
}

const LH_METRIC_EXPECTED: &str = "lighthouse.CATEGORY (performance, accessibility, best-practices, seo) \
     or a page metric: lcp, fcp, tbt, cls, speed_index, tti";

/// A Lighthouse target expression, or `None` when `text` names no Lighthouse metric (the
/// general parser then reads it):
///
/// ```text
/// lighthouse.performance >= 90             lighthouse.seo(page="/") >= 80
/// lcp(page="/") < 2.5s                     tbt(when="during") < 200ms
/// cls < 0.1                                speed_index < 3.4s       tti < 3.8s
/// ```
///
/// Scores are written 0 to 100, as Lighthouse shows them; times with a unit; CLS as a
/// plain number.
pub(super) fn parse_target(text: &str) -> Option<Result<Expr, ExprError>> {
    let lead = text.len() - text.trim_start().len();
    let rest = &text[lead..];
    let word_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .unwrap_or(rest.len());
    let word = &rest[..word_len];
    let (name, score) = if let Some(cat) = word.strip_prefix("lighthouse.") {
        (cat.replace('_', "-"), true)
    } else if word == "lighthouse" {
        return Some(fail(
            lead,
            "lighthouse without a category",
            LH_METRIC_EXPECTED,
            Some("e.g. `lighthouse.performance >= 90`".into()),
        ));
    } else if METRICS.iter().any(|(k, _, _)| *k == word) {
        (word.to_string(), false)
    } else {
        return None;
    };
    Some(parse_rest(text, lead, word_len, name, score))
}

fn parse_rest(
    text: &str,
    lead: usize,
    word_len: usize,
    name: String,
    score: bool,
) -> Result<Expr, ExprError> {
    if score && !CATEGORIES.contains(&name.as_str()) {
        let hint = match super::suggest::closest(&name, &CATEGORIES) {
            Some(s) => format!("did you mean lighthouse.{s}?"),
            None => format!("the categories are: {}", CATEGORIES.join(", ")),
        };
        return fail(
            lead,
            format!("unknown Lighthouse category {name:?}"),
            LH_METRIC_EXPECTED,
            Some(hint),
        );
    }
    let mut pos = lead + word_len;
    let skip_ws = |pos: &mut usize| {
        let r = &text[*pos..];
        *pos += r.len() - r.trim_start().len();
    };
    skip_ws(&mut pos);
    let mut page = None;
    let mut when = None;
    if text[pos..].starts_with('(') {
        pos += 1;
        loop {
            skip_ws(&mut pos);
            if text[pos..].starts_with(')') {
                pos += 1;
                break;
            }
            let key_at = pos;
            let klen = text[pos..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - pos);
            let key = &text[pos..pos + klen];
            pos += klen;
            skip_ws(&mut pos);
            if !text[pos..].starts_with('=') {
                return fail(
                    key_at,
                    format!(
                        "{:?}",
                        text[key_at..].split_whitespace().next().unwrap_or("")
                    ),
                    "page=\"PATH\" or when=\"before|during\"",
                    None,
                );
            }
            pos += 1;
            skip_ws(&mut pos);
            let v_at = pos;
            if !text[pos..].starts_with('"') {
                return fail(
                    v_at,
                    "a value without quotes",
                    "a quoted value, e.g. page=\"/\"",
                    None,
                );
            }
            let Some(end) = text[pos + 1..].find('"') else {
                return fail(
                    v_at,
                    "an unclosed quote",
                    "a quoted value, e.g. page=\"/\"",
                    None,
                );
            };
            let value = text[pos + 1..pos + 1 + end].to_string();
            pos += end + 2;
            match key {
                "page" if value.starts_with('/') => page = Some(value),
                "page" => {
                    return fail(
                        v_at,
                        format!("page {value:?}"),
                        "a path starting with /",
                        None,
                    );
                }
                "when" if value == "before" || value == "during" => when = Some(value),
                "when" => {
                    return fail(
                        v_at,
                        format!("when {value:?}"),
                        "when=\"before\" (the target idle) or when=\"during\" (the hold at full load)",
                        None,
                    );
                }
                _ => {
                    return fail(
                        key_at,
                        format!("selector {key:?} on a Lighthouse metric"),
                        "page=\"PATH\" or when=\"before|during\"",
                        None,
                    );
                }
            }
            skip_ws(&mut pos);
            if text[pos..].starts_with(',') {
                pos += 1;
            } else if !text[pos..].starts_with(')') {
                return fail(pos, format!("{:?}", &text[pos..]), "`,` or `)`", None);
            }
        }
        skip_ws(&mut pos);
    }
    let op_at = pos;
    let (op, len) = match &text[pos..] {
        r if r.starts_with("<=") => (Op::Le, 2),
        r if r.starts_with(">=") => (Op::Ge, 2),
        r if r.starts_with('<') => (Op::Lt, 1),
        r if r.starts_with('>') => (Op::Gt, 1),
        r => {
            return fail(
                op_at,
                format!("{:?}", r.split_whitespace().next().unwrap_or("the end")),
                "one of <, <=, >, >=",
                None,
            );
        }
    };
    pos += len;
    skip_ws(&mut pos);
    let v_at = pos;
    let value = text[pos..].trim();
    let (threshold, unit) = if score {
        match value.parse::<f64>() {
            Ok(n) if (0.0..=100.0).contains(&n) => (n, Unit::Count),
            _ => {
                return fail(
                    v_at,
                    format!("{value:?}"),
                    "a score from 0 to 100, as Lighthouse shows it, e.g. `>= 90`",
                    None,
                );
            }
        }
    } else if name == "cls" {
        match value.parse::<f64>() {
            Ok(n) if n >= 0.0 && n.is_finite() => (n * 1000.0, Unit::Thousandths),
            _ => {
                return fail(
                    v_at,
                    format!("{value:?}"),
                    "a layout shift score (a plain number), e.g. `cls < 0.1`",
                    None,
                );
            }
        }
    } else {
        match units::parse_duration(value) {
            Ok(d) => (d.as_nanos() as f64 / 1000.0, Unit::Us),
            Err(_) => {
                return fail(
                    v_at,
                    format!("{value:?}"),
                    format!("a time, e.g. `{name} < 2.5s` or `{name} < 200ms`"),
                    None,
                );
            }
        }
    };
    Ok(Expr {
        metric: Metric::Lighthouse(LighthouseQuery {
            name,
            score,
            page,
            when,
        }),
        aggregate: None,
        scope: Scope::Overall,
        scope_offset: None,
        op,
        threshold,
        unit,
        bare: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::plan::Stage;

    fn q(text: &str) -> (LighthouseQuery, Op, f64, Unit) {
        let x = parse_target(text).unwrap().unwrap();
        match x.metric {
            Metric::Lighthouse(q) => (q, x.op, x.threshold, x.unit),
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn lighthouse_expressions_parse() {
        let (lq, op, t, u) = q("lighthouse.performance >= 90");
        assert!(lq.score && lq.name == "performance" && lq.page.is_none());
        assert_eq!((op, t, u), (Op::Ge, 90.0, Unit::Count));
        let (lq, op, t, u) = q(r#"lcp(page="/", when="during") < 2.5s"#);
        assert_eq!(lq.page.as_deref(), Some("/"));
        assert_eq!(lq.when.as_deref(), Some("during"));
        assert_eq!((op, t, u), (Op::Lt, 2_500_000.0, Unit::Us));
        let (_, _, t, u) = q("cls < 0.1");
        assert_eq!((t, u), (100.0, Unit::Thousandths));
        let (lq, ..) = q("lighthouse.best_practices >= 90");
        assert_eq!(lq.name, "best-practices");
        assert!(parse_target("p95 < 100ms").is_none());
        assert!(parse_target("lcpx < 1s").is_none());
    }

    #[test]
    fn bad_lighthouse_expressions_say_where() {
        let e = |t: &str| parse_target(t).unwrap().unwrap_err();
        let x = e("lighthouse.perfomance >= 90");
        assert_eq!(x.offset, 0);
        assert!(x.hint.unwrap().contains("performance"));
        let x = e("lighthouse.performance >= 0.9x");
        assert_eq!(x.offset, 26);
        let x = e("lighthouse.performance >= 190");
        assert!(x.expected.contains("0 to 100"), "{x:?}");
        let x = e(r#"lcp(step="/") < 1s"#);
        assert_eq!(x.offset, 4);
        let x = e(r#"lcp(when="after") < 1s"#);
        assert!(x.expected.contains("during"), "{x:?}");
        let x = e("lcp < fast");
        assert_eq!(x.offset, 6);
        assert!(
            e("lighthouse >= 90")
                .expected
                .contains("lighthouse.CATEGORY")
        );
    }

    fn plan(extra: &str) -> Result<crate::scenario::Plan, String> {
        let text = format!(
            "target: http://127.0.0.1:1\nscenarios:\n  - name: s\n    steps:\n      - get: /\n\
             load: {{users: 5, ramp: 1s, duration: 20s}}\n{extra}"
        );
        crate::scenario::parse_str(&text, std::path::Path::new("t.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_block_and_its_defaults() {
        let p = plan("lighthouse: {}\n").unwrap();
        let lh = p.lighthouse.unwrap();
        assert_eq!(lh.pages, ["/"]);
        assert_eq!(
            (lh.runs, lh.before, lh.during, lh.required),
            (3, true, true, true)
        );
        assert_eq!(lh.form_factor, "mobile");
        assert_eq!(lh.categories, CATEGORIES);
        assert_eq!(lh.timeout, DEFAULT_TIMEOUT);
        let p = plan(
            "lighthouse: {pages: [/a, /b], runs: 1, when: during, form_factor: desktop, \
             categories: [performance, best_practices], timeout: 30s, required: false}\n",
        )
        .unwrap();
        let lh = p.lighthouse.unwrap();
        assert_eq!(lh.pages, ["/a", "/b"]);
        assert_eq!((lh.before, lh.during, lh.required), (false, true, false));
        assert_eq!(lh.categories, ["performance", "best-practices"]);
        assert_eq!(lh.timeout, Duration::from_secs(30));
        assert!(plan("").unwrap().lighthouse.is_none());
    }

    #[test]
    fn a_hold_too_short_for_its_audits_is_a_warning() {
        let p = plan("lighthouse: {pages: [/a, /b], runs: 3}\n").unwrap();
        let w: Vec<String> = p.warnings.iter().map(|d| d.to_string()).collect();
        assert!(
            w.iter()
                .any(|w| w.contains("6 audits during a hold at full load of 20s")),
            "{w:?}"
        );
        let p = plan("lighthouse: {pages: [/a], runs: 1}\n").unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn preset_phase9_adds_the_lighthouse_kpi_with_a_block() {
        let with = plan("lighthouse: {runs: 1}\ntargets: [{preset: phase9}]\n").unwrap();
        let kpi: Vec<&TargetPlan> = with
            .targets
            .iter()
            .filter(|t| is_lighthouse_target(&t.target))
            .collect();
        assert_eq!(kpi.len(), 1);
        let t = &kpi[0].target;
        assert_eq!(t.expression, PHASE9_KPI);
        assert_eq!(t.source, "preset phase9: Lighthouse score");
        assert_eq!((t.op, t.threshold, t.unit), (Op::Ge, 90.0, Unit::Count));
        let without = plan("targets: [{preset: phase9}]\n").unwrap();
        assert!(
            !without
                .targets
                .iter()
                .any(|t| is_lighthouse_target(&t.target))
        );
        assert_eq!(without.targets.len() + 1, with.targets.len());
    }

    #[test]
    fn a_targets_file_keeps_a_score_a_score() {
        let t = crate::scenario::parse_targets_str(
            "targets:\n  - lighthouse.performance >= 90\n  - lcp < 2.5s\n  - cls < 0.1\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap();
        let units: Vec<(f64, Unit)> = t
            .iter()
            .map(|t| (t.target.threshold, t.target.unit))
            .collect();
        assert_eq!(
            units,
            [
                (90.0, Unit::Count),
                (2_500_000.0, Unit::Us),
                (100.0, Unit::Thousandths)
            ]
        );
    }

    #[test]
    fn the_hold_at_full_load() {
        let load = |stages: Vec<(usize, u64)>| LoadPlan {
            stages: stages
                .into_iter()
                .map(|(users, s)| Stage {
                    users,
                    over: Duration::from_secs(s),
                })
                .collect(),
            graceful_stop: Duration::from_secs(5),
            open: None,
            steps: None,
            shard: Default::default(),
            iterations: None,
        };
        let s = Duration::from_secs;
        assert_eq!(
            full_load_hold(&load(vec![(10, 2), (10, 30)])),
            (s(2), s(32))
        );
        assert_eq!(
            full_load_hold(&load(vec![(5, 2), (5, 10), (20, 5), (20, 20), (0, 5)])),
            (s(17), s(37))
        );
        // All users at once: the hold is the whole stage.
        assert_eq!(full_load_hold(&load(vec![(10, 0), (10, 8)])), (s(0), s(8)));
        // Only touching the peak.
        assert_eq!(full_load_hold(&load(vec![(10, 4), (0, 4)])), (s(4), s(4)));
    }
}
