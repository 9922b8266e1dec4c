//! Lighthouse audits of the target's pages (`lighthouse:` in the scenario): what each run
//! of the real `lighthouse` measured, and the median of the runs per page and per moment
//! (`before` the load, `during` its hold at full load), as `result.json` keeps them.
//!
//! Scores are Lighthouse's own, in [0, 1] (Lighthouse shows them ×100); times are in
//! milliseconds as Lighthouse reports them (`audits.<id>.numericValue`); CLS is unitless.
//! Also here: reading those figures out of Lighthouse's JSON report ([`parse_report`]),
//! and the value a target on them reads ([`measure`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every Lighthouse audit of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LighthouseResult {
    /// The `lighthouse` that ran (`lighthouse --version`), empty when none ran.
    pub version: String,
    /// `mobile` or `desktop`.
    pub form_factor: String,
    /// Runs asked for per page and moment; each row's figures are their median.
    pub runs: u32,
    /// One row per page and moment (`before`, then `during`), pages in the file's order.
    pub pages: Vec<PageAudit>,
    /// Why nothing was measured (Lighthouse or Chromium not found and `required: false`),
    /// with what to install; absent when the audits ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_measured: Option<String>,
}

/// The audits of one page at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageAudit {
    /// The page's path, as written (`/`, `/slow-page`).
    pub page: String,
    /// `before` (the target idle, before the load) or `during` (the hold at full load).
    pub when: String,
    /// Median category scores in [0, 1] by Lighthouse's category id (`performance`,
    /// `accessibility`, `best-practices`, `seo`), over the runs that succeeded.
    pub scores: BTreeMap<String, f64>,
    /// Median metrics over the runs that succeeded.
    pub metrics: Vitals,
    /// Every run, in order, failed ones with their error.
    pub runs: Vec<AuditRun>,
}

/// Lighthouse's page metrics (`audits.<id>.numericValue`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vitals {
    /// Largest Contentful Paint, ms.
    pub lcp_ms: Option<f64>,
    /// First Contentful Paint, ms.
    pub fcp_ms: Option<f64>,
    /// Total Blocking Time, ms.
    pub tbt_ms: Option<f64>,
    /// Cumulative Layout Shift (unitless).
    pub cls: Option<f64>,
    /// Speed Index, ms.
    pub speed_index_ms: Option<f64>,
    /// Time to Interactive, ms.
    pub tti_ms: Option<f64>,
}

/// One run of `lighthouse` on one page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRun {
    /// When it started, ms from the start of the load (negative: before the load).
    pub started_ms: i64,
    /// How long it took, ms (Chromium's start included).
    pub took_ms: u64,
    /// Category scores in [0, 1]; empty when the run failed.
    pub scores: BTreeMap<String, f64>,
    pub metrics: Vitals,
    /// Lighthouse's own HTML report, relative to the run folder
    /// (`lighthouse/<page>-<when>-<run>.html`), when it wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Why the run gave no figures (a timeout, a crash, a page that did not load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The page metrics, in the order reports show them: key (as targets name it), label,
/// Lighthouse's audit id.
pub const METRICS: [(&str, &str, &str); 6] = [
    ("lcp", "LCP", "largest-contentful-paint"),
    ("fcp", "FCP", "first-contentful-paint"),
    ("tbt", "TBT", "total-blocking-time"),
    ("cls", "CLS", "cumulative-layout-shift"),
    ("speed_index", "Speed Index", "speed-index"),
    ("tti", "TTI", "interactive"),
];

/// Lighthouse's categories, by id.
pub const CATEGORIES: [&str; 4] = ["performance", "accessibility", "best-practices", "seo"];

impl Vitals {
    /// The metric named `key` (`lcp`, `cls`, ...), as stored.
    pub fn get(&self, key: &str) -> Option<f64> {
        match key {
            "lcp" => self.lcp_ms,
            "fcp" => self.fcp_ms,
            "tbt" => self.tbt_ms,
            "cls" => self.cls,
            "speed_index" => self.speed_index_ms,
            "tti" => self.tti_ms,
            _ => None,
        }
    }

    fn slot(&mut self, key: &str) -> Option<&mut Option<f64>> {
        Some(match key {
            "lcp" => &mut self.lcp_ms,
            "fcp" => &mut self.fcp_ms,
            "tbt" => &mut self.tbt_ms,
            "cls" => &mut self.cls,
            "speed_index" => &mut self.speed_index_ms,
            "tti" => &mut self.tti_ms,
            _ => return None,
        })
    }
}

/// What one Lighthouse JSON report (`--output=json`) says: the category scores and the
/// metrics. An error when it is no Lighthouse report, or Lighthouse says the run failed
/// (`runtimeError`, e.g. the page did not load) or gave no performance score.
pub fn parse_report(json: &str) -> Result<(BTreeMap<String, f64>, Vitals), String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("its JSON report is unreadable: {e}"))?;
    if v.get("lighthouseVersion").is_none() {
        return Err("its JSON report is not a Lighthouse report (no lighthouseVersion)".into());
    }
    if let Some(err) = v.get("runtimeError") {
        let code = err.get("code").and_then(|c| c.as_str()).unwrap_or("?");
        let msg = err.get("message").and_then(|c| c.as_str()).unwrap_or("");
        return Err(format!(
            "Lighthouse could not audit the page: {code}: {msg}"
        ));
    }
    let mut scores = BTreeMap::new();
    if let Some(cats) = v.get("categories").and_then(|c| c.as_object()) {
        for (id, c) in cats {
            // A category whose score Lighthouse could not work out has `score: null`.
            if let Some(s) = c.get("score").and_then(|s| s.as_f64()) {
                scores.insert(id.clone(), s);
            }
        }
    }
    let mut vitals = Vitals::default();
    for (key, _, audit) in METRICS {
        let a = v.get("audits").and_then(|a| a.get(audit));
        let n = a
            .and_then(|a| a.get("numericValue"))
            .and_then(|n| n.as_f64());
        if let (Some(slot), Some(n)) = (vitals.slot(key), n) {
            *slot = Some(n);
        }
    }
    if scores.is_empty() {
        let warning = v
            .get("runWarnings")
            .and_then(|w| w.as_array())
            .and_then(|w| w.first())
            .and_then(|w| w.as_str())
            .unwrap_or("no category was scored");
        return Err(format!("Lighthouse gave no score: {warning}"));
    }
    Ok((scores, vitals))
}

/// The median of `values` (the mean of the middle two for an even count), `None` for none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

impl PageAudit {
    /// The row of `runs`: medians over those that succeeded.
    pub fn of_runs(page: &str, when: &str, runs: Vec<AuditRun>) -> PageAudit {
        let ok: Vec<&AuditRun> = runs.iter().filter(|r| r.error.is_none()).collect();
        let mut scores = BTreeMap::new();
        let ids: std::collections::BTreeSet<&String> =
            ok.iter().flat_map(|r| r.scores.keys()).collect();
        for id in ids {
            let mut v: Vec<f64> = ok
                .iter()
                .filter_map(|r| r.scores.get(id).copied())
                .collect();
            if let Some(m) = median(&mut v) {
                scores.insert(id.clone(), m);
            }
        }
        let mut metrics = Vitals::default();
        for (key, _, _) in METRICS {
            let mut v: Vec<f64> = ok.iter().filter_map(|r| r.metrics.get(key)).collect();
            if let Some(slot) = metrics.slot(key) {
                *slot = median(&mut v);
            }
        }
        PageAudit {
            page: page.to_string(),
            when: when.to_string(),
            scores,
            metrics,
            runs,
        }
    }

    /// Runs that gave figures.
    pub fn ok_runs(&self) -> usize {
        self.runs.iter().filter(|r| r.error.is_none()).count()
    }
}

/// What a Lighthouse target reads: a category score (`lighthouse.performance`) or a metric
/// (`lcp`, `fcp`, `tbt`, `cls`, `speed_index`, `tti`), of one page or all, at one moment or
/// both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LighthouseQuery {
    /// A category id (`performance`, `best-practices`, ...) when `score`, else a metric key.
    pub name: String,
    /// A category score (true) or a metric (false).
    pub score: bool,
    /// `page="/"`: that page only; none: the worst page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// `when="during"` or `"before"`; none: the worst of both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

impl LighthouseQuery {
    /// `lighthouse.performance`, `lcp`, with `(page="/", when="during")` when written.
    pub fn label(&self) -> String {
        let base = if self.score {
            format!("lighthouse.{}", self.name)
        } else {
            self.name.clone()
        };
        let mut sel = Vec::new();
        if let Some(p) = &self.page {
            sel.push(format!("page={p}"));
        }
        if let Some(w) = &self.when {
            sel.push(format!("when={w}"));
        }
        if sel.is_empty() {
            base
        } else {
            format!("{base}[{}]", sel.join(","))
        }
    }

    /// Whether a smaller value is better: every metric; not a score.
    pub fn lower_is_better(&self) -> bool {
        !self.score
    }
}

/// The value a target on `q` reads, in the target's unit: a score ×100 (as Lighthouse shows
/// it), a time in µs, CLS in thousandths. The worst of the rows selected (lowest score,
/// highest metric). An error says why there is none.
pub fn measure(result: Option<&LighthouseResult>, q: &LighthouseQuery) -> Result<f64, String> {
    let Some(lh) = result else {
        return Err("the run made no Lighthouse audit".into());
    };
    if let Some(why) = &lh.not_measured {
        return Err(why.clone());
    }
    let rows: Vec<&PageAudit> = lh
        .pages
        .iter()
        .filter(|p| q.page.as_ref().is_none_or(|w| &p.page == w))
        .filter(|p| q.when.as_ref().is_none_or(|w| &p.when == w))
        .collect();
    if rows.is_empty() {
        return Err(format!(
            "no Lighthouse audit of {}{}",
            q.page
                .as_deref()
                .map_or("any page".into(), |p| format!("page {p}")),
            q.when
                .as_deref()
                .map_or(String::new(), |w| format!(" {w} the load"))
        ));
    }
    let values: Vec<f64> = rows
        .iter()
        .filter_map(|p| {
            if q.score {
                // Rounded to 9 decimals: a median of 0.85 and 0.95 is 0.8999999999999999,
                // which must meet `>= 90` as the report's "90" says it does.
                p.scores
                    .get(&q.name)
                    .map(|s| (s * 100.0 * 1e9).round() / 1e9)
            } else if q.name == "cls" {
                p.metrics.cls.map(|c| c * 1000.0)
            } else {
                p.metrics.get(&q.name).map(|ms| ms * 1000.0)
            }
        })
        .collect();
    // Every selected row must have a value: a failed audit must not turn a gate green.
    if values.len() < rows.len() {
        let missing: Vec<String> = rows
            .iter()
            .filter(|p| {
                if q.score {
                    !p.scores.contains_key(&q.name)
                } else {
                    p.metrics.get(&q.name).is_none()
                }
            })
            .map(|p| {
                let why = p
                    .runs
                    .iter()
                    .find_map(|r| r.error.clone())
                    .unwrap_or_else(|| "no value".into());
                format!("{} {}: {why}", p.page, p.when)
            })
            .collect();
        return Err(format!(
            "Lighthouse measured no {}: {}",
            q.label(),
            missing.join("; ")
        ));
    }
    let worst = if q.score {
        values.iter().copied().fold(f64::INFINITY, f64::min)
    } else {
        values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    };
    Ok(worst)
}

/// What a target's sentence names: `Lighthouse performance score`, `Lighthouse LCP`.
pub fn detail_what(q: &LighthouseQuery) -> String {
    if q.score {
        format!("Lighthouse {} score", q.name)
    } else {
        let label = METRICS
            .iter()
            .find(|(k, _, _)| *k == q.name)
            .map_or(q.name.as_str(), |(_, l, _)| l);
        format!("Lighthouse {label}")
    }
}

/// Which audits a target's sentence speaks of: ` of page "/" during the load`, ` of the
/// worst page and moment`.
pub fn detail_of(q: &LighthouseQuery) -> String {
    let page = match &q.page {
        Some(p) => format!(" of page \"{p}\""),
        None => " of the worst page".into(),
    };
    let when = match q.when.as_deref() {
        Some("during") => " during the load".to_string(),
        Some(w) => format!(" {w} the load"),
        None if q.page.is_some() => " (worse of before and during the load)".into(),
        None => " (before and during the load)".into(),
    };
    format!("{page}{when}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/lighthouse/demo-home.json");

    #[test]
    fn a_real_report_gives_scores_and_metrics() {
        let (scores, v) = parse_report(FIXTURE).unwrap();
        for c in CATEGORIES {
            let s = scores[c];
            assert!((0.0..=1.0).contains(&s), "{c} {s}");
        }
        for (key, _, _) in METRICS {
            let m = v.get(key).unwrap_or_else(|| panic!("{key}"));
            assert!(m >= 0.0, "{key} {m}");
        }
        assert!(v.lcp_ms.unwrap() > 0.0 && v.fcp_ms.unwrap() > 0.0);
        assert!(v.lcp_ms.unwrap() >= v.fcp_ms.unwrap());
    }

    #[test]
    fn a_failed_report_says_why() {
        let mut v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        v["runtimeError"] =
            serde_json::json!({"code": "NO_FCP", "message": "The page did not paint"});
        let e = parse_report(&v.to_string()).unwrap_err();
        assert!(e.contains("NO_FCP"), "{e}");
        assert!(
            parse_report("{}")
                .unwrap_err()
                .contains("not a Lighthouse report")
        );
        assert!(parse_report("<html>").unwrap_err().contains("unreadable"));
    }

    #[test]
    fn medians_over_the_runs_that_succeeded() {
        let run = |perf: f64, lcp: f64| AuditRun {
            scores: [("performance".to_string(), perf)].into(),
            metrics: Vitals {
                lcp_ms: Some(lcp),
                ..Vitals::default()
            },
            ..AuditRun::default()
        };
        let failed = AuditRun {
            error: Some("timed out".into()),
            ..AuditRun::default()
        };
        let p = PageAudit::of_runs(
            "/",
            "before",
            vec![run(0.9, 800.0), failed, run(0.5, 2000.0), run(0.7, 900.0)],
        );
        assert_eq!(p.scores["performance"], 0.7);
        assert_eq!(p.metrics.lcp_ms, Some(900.0));
        assert_eq!(p.ok_runs(), 3);
        assert_eq!(median(&mut [1.0, 3.0]), Some(2.0));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn a_target_reads_the_worst_selected_row() {
        let row = |page: &str, when: &str, perf: f64, lcp: f64| PageAudit {
            page: page.into(),
            when: when.into(),
            scores: [("performance".to_string(), perf)].into(),
            metrics: Vitals {
                lcp_ms: Some(lcp),
                cls: Some(0.1),
                ..Vitals::default()
            },
            runs: vec![],
        };
        let lh = LighthouseResult {
            pages: vec![
                row("/", "before", 0.97, 800.0),
                row("/", "during", 0.81, 1900.0),
                row("/slow-page", "before", 0.4, 3000.0),
            ],
            ..LighthouseResult::default()
        };
        let q = |name: &str, score, page: Option<&str>, when: Option<&str>| LighthouseQuery {
            name: name.into(),
            score,
            page: page.map(Into::into),
            when: when.map(Into::into),
        };
        let m = |x| measure(Some(&lh), &x);
        assert_eq!(m(q("performance", true, None, None)), Ok(40.0));
        assert_eq!(m(q("performance", true, Some("/"), None)), Ok(81.0));
        let before = m(q("performance", true, Some("/"), Some("before"))).unwrap();
        assert_eq!(before, 97.0);
        // The median of two runs at 0.85 and 0.95 is 0.8999999999999999 in floating point:
        // it reads 90, and meets `>= 90`, as the report says.
        let mut two = [0.85, 0.95];
        let lh2 = LighthouseResult {
            pages: vec![row("/", "during", median(&mut two).unwrap(), 900.0)],
            ..LighthouseResult::default()
        };
        assert_eq!(
            measure(Some(&lh2), &q("performance", true, None, None)),
            Ok(90.0)
        );
        assert_eq!(m(q("lcp", false, Some("/"), None)), Ok(1_900_000.0));
        assert_eq!(m(q("cls", false, None, None)), Ok(100.0));
        assert!(
            m(q("tbt", false, None, None))
                .unwrap_err()
                .contains("measured no tbt")
        );
        assert!(
            m(q("lcp", false, Some("/x"), None))
                .unwrap_err()
                .contains("page /x")
        );
        assert!(measure(None, &q("lcp", false, None, None)).is_err());
    }
}
