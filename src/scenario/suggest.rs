//! "Did you mean ...?" for misspelt keys and names.

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

#[cfg(test)]
mod tests {
    use super::closest;

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
