//! "Did you mean ...?" for misspelt keys and names, and for the words of other tools.

/// The candidate closest to `word`, if it is close enough to be what was meant.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for &c in candidates {
        let cl = c.to_ascii_lowercase();
        if cl == lower {
            return Some(c);
        }
        let dist = strsim::damerau_levenshtein(&lower, &cl);
        let close =
            dist <= 1 || (dist <= 2 && cl.len() > 4) || dist * 3 <= cl.len().max(lower.len());
        let score = strsim::jaro_winkler(&lower, &cl);
        if (close || score >= 0.9) && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Keys people bring from k6 and Locust, by where they are written (`""`: the top level,
/// else the schema definition of the mapping, e.g. `Load` or `Stage`), with Skein's word.
const OTHER_TOOLS: &[(&str, &str, &str)] = &[
    ("", "vus", "`load: {users: N}` (k6's `vus`)"),
    (
        "",
        "duration",
        "`load: {users: N, duration: 1m}`: the profile goes under `load`",
    ),
    (
        "",
        "stages",
        "`load: {stages: [{users: 100, over: 30s}]}`: the profile goes under `load`",
    ),
    (
        "",
        "iterations",
        "`load: {users: N, iterations: M}` (M shared by the users) or `load: {users: N, iterations_per_user: M}`: the profile goes under `load`",
    ),
    (
        "",
        "thresholds",
        "`targets` (e.g. `targets: [p95 < 200ms, error_rate < 1%]`; k6's `thresholds`)",
    ),
    (
        "",
        "options",
        "the top-level keys `load`, `targets` and `defaults` (k6's `options`)",
    ),
    ("", "scenario", "`scenarios` (a list)"),
    ("", "host", "`target` (the base URL; Locust's `host`)"),
    ("", "base_url", "`target` (the base URL)"),
    ("", "baseurl", "`target` (the base URL)"),
    (
        "",
        "users",
        "`load: {users: N}`: the profile goes under `load`",
    ),
    ("Load", "vus", "`users` (k6's `vus`)"),
    (
        "Load",
        "vus_max",
        "`users` (closed model) or `max_users` (open model)",
    ),
    ("Load", "maxvus", "`max_users` (k6's `maxVUs`)"),
    ("Load", "max_vus", "`max_users` (k6's `maxVUs`)"),
    (
        "Load",
        "preallocatedvus",
        "`pre_allocated` (k6's `preAllocatedVUs`)",
    ),
    ("Load", "startrate", "`start_rate`, e.g. `start_rate: 10/s`"),
    (
        "Load",
        "rate",
        "`arrival_rate`, e.g. `arrival_rate: 100/s` (the open model)",
    ),
    (
        "Load",
        "rps",
        "`arrival_rate`, e.g. `arrival_rate: 100/s`: iterations started a second (the open model)",
    ),
    (
        "Load",
        "timeunit",
        "a rate with its unit: `arrival_rate: 100/s` or `600/m`",
    ),
    (
        "Load",
        "vu_iterations",
        "`iterations_per_user` (k6's `per-vu-iterations`)",
    ),
    ("Load", "maxduration", "`max_duration` (k6's `maxDuration`)"),
    (
        "Load",
        "spawn_rate",
        "`ramp`, e.g. `ramp: 10/s` for 10 users started a second (Locust's `spawn_rate`)",
    ),
    (
        "Load",
        "hatch_rate",
        "`ramp`, e.g. `ramp: 10/s` (Locust's `hatch_rate`)",
    ),
    ("Load", "run_time", "`duration` (Locust's `run_time`)"),
    (
        "Load",
        "executor",
        "the keys themselves: `users` (closed model) or `arrival_rate` / stages of `rate` (open model)",
    ),
    (
        "Stage",
        "target",
        "`users` (closed model) or `rate` (open model): where the stage ends, as in `{users: 100, over: 30s}` (k6's `target`)",
    ),
    (
        "Stage",
        "duration",
        "`over`: the stage's length, as in `{users: 100, over: 30s}` (k6's `duration`)",
    ),
    ("Stage", "vus", "`users` (k6's `vus`)"),
    (
        "Scenario",
        "wait_time",
        "`think_time`, e.g. `think_time: {min: 1s, max: 3s}` (Locust's `wait_time`)",
    ),
    ("Scenario", "tasks", "`steps` (Locust's `tasks`)"),
    ("Scenario", "exec", "`steps`: a scenario lists its requests"),
    (
        "Scenario",
        "setup",
        "`on_start` (steps run once when a user starts), or the top-level `setup:` (steps run once per run, before the load)",
    ),
    (
        "Scenario",
        "teardown",
        "`on_stop` (steps run once when a user stops), or the top-level `teardown:` (steps run once per run, after the load)",
    ),
    (
        "Scenario",
        "vus",
        "`weight` here, and the users under `load`",
    ),
    ("Step", "sleep", "`think_time` (the pause after this step)"),
    (
        "Step",
        "wait_time",
        "`think_time` (the pause after this step)",
    ),
    (
        "Step",
        "url",
        "a method with the URL, e.g. `get: https://example.com/path`",
    ),
    (
        "Step",
        "checks",
        "`check` (a mapping: `{status: 200, json: [...]}`)",
    ),
];

/// Skein's word for a key another tool uses there, as a hint; `within` as in
/// [`OTHER_TOOLS`], `None` when the place is not known.
pub fn other_tool(key: &str, within: Option<&str>) -> Option<String> {
    let within = within?;
    let norm = key.to_ascii_lowercase();
    let alt = norm.replace(['-', '_'], "");
    OTHER_TOOLS
        .iter()
        .find(|(at, k, _)| *at == within && (*k == norm || *k == alt))
        .map(|(_, _, word)| format!("did you mean {word}?"))
}

#[cfg(test)]
mod tests {
    use super::{closest, other_tool};

    #[test]
    fn issue12_k6_and_locust_words_get_skeins() {
        let hint = |k: &str, at: &str| other_tool(k, Some(at)).unwrap_or_default();
        assert!(
            hint("vus", "Load").contains("`users`"),
            "{}",
            hint("vus", "Load")
        );
        assert!(hint("target", "Stage").contains("`users`"));
        assert!(hint("duration", "Stage").contains("`over`"));
        assert!(hint("spawn_rate", "Load").contains("`ramp`"));
        assert!(hint("preAllocatedVUs", "Load").contains("`pre_allocated`"));
        assert!(hint("maxVUs", "Load").contains("`max_users`"));
        assert!(hint("wait_time", "Scenario").contains("`think_time`"));
        assert!(hint("thresholds", "").contains("`targets`"));
        assert_eq!(other_tool("vus", None), None);
        assert_eq!(other_tool("banana", Some("Load")), None);
    }

    #[test]
    fn suggests_near_misses_only() {
        let keys = [
            "name",
            "weight",
            "think_time",
            "on_start",
            "steps",
            "on_stop",
        ];
        assert_eq!(closest("stpes", &keys), Some("steps"));
        assert_eq!(closest("thinktime", &keys), Some("think_time"));
        assert_eq!(closest("Weight", &keys), Some("weight"));
        assert_eq!(closest("onstart", &keys), Some("on_start"));
        assert_eq!(closest("banana", &keys), None);
        assert_eq!(
            closest("usrs", &["users", "ramp", "duration", "stages"]),
            Some("users")
        );
        assert_eq!(closest("x", &["users", "ramp"]), None);
    }
}
