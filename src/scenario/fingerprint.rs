//! The plan's fingerprint: a hash that is the same for every shard of a run only if each
//! ran the same plan, so `skein merge` can refuse folders that do not belong together.
//!
//! It covers what changes the load or its judgement: the scenario as written (less its
//! target URL, which shards in separate networks reach by different addresses), the load
//! after the command line's changes (`--users`, `--rate`, `--duration`), every feeder's rows
//! (`unique` rows stay disjoint across shards only if every shard has the same file) and
//! the targets judged. Environment values never enter it: the scenario copy holds them
//! redacted.

use sha2::{Digest as _, Sha256};

use super::{Plan, Shard};

impl Plan {
    /// `sha256:<hex>` of this plan as the whole run runs it (computed before
    /// [`Plan::shard`]; a shard's own part is left out).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |name: &str, bytes: &[u8]| {
            // Each field with its name and length, so no two layouts hash alike.
            h.update(name.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        let mut copy = self.scenario_copy.clone();
        if let Some(map) = copy.as_object_mut() {
            map.remove("target");
        }
        field("scenario", copy.to_string().as_bytes());
        let mut load = self.load.clone();
        load.shard = Shard::WHOLE;
        field("load", format!("{load:?}").as_bytes());
        for f in &self.feeders {
            let header = format!(
                "{}|{:?}|{:?}|{}|{}",
                f.name,
                f.order,
                f.when_exhausted,
                f.fields.join(","),
                f.rows.len()
            );
            field("feeder", header.as_bytes());
            let mut rows = Sha256::new();
            for row in f.rows.iter() {
                for v in row.iter() {
                    rows.update((v.len() as u64).to_le_bytes());
                    rows.update(v.as_bytes());
                }
            }
            field("rows", &rows.finalize());
        }
        let targets: Vec<_> = self.verdict_targets();
        let targets = serde_json::to_string(&targets).unwrap_or_default();
        field("targets", targets.as_bytes());
        let digest = h.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::scenario::{Shard, parse_targets_str};

    fn plan(yaml: &str) -> crate::scenario::Plan {
        crate::scenario::parse_str(yaml, Path::new("f.yaml")).unwrap()
    }

    const BASE: &str = "name: t\ntarget: http://127.0.0.1:1\nscenarios:\n  - name: a\n    \
                        steps: [{get: /a}]\nload: {users: 4, duration: 2s}\ntargets: [\"p95 < 1s\"]\n";

    #[test]
    fn issue15_the_hash_follows_the_plan_not_the_url_nor_the_shard() {
        let base = plan(BASE);
        let h = base.fingerprint();
        assert!(h.starts_with("sha256:") && h.len() == 7 + 64, "{h}");
        // The same plan hashes alike; the target URL and the shard do not count.
        assert_eq!(plan(BASE).fingerprint(), h);
        let elsewhere = plan(&BASE.replace("127.0.0.1:1", "10.0.0.1:8080"));
        assert_eq!(elsewhere.fingerprint(), h);
        let mut shard = plan(BASE);
        shard.shard(Shard { index: 1, count: 3 });
        assert_eq!(shard.fingerprint(), h);
        // The load, the steps and the targets do.
        let mut more = plan(BASE);
        more.load.scale_users(8);
        assert_ne!(more.fingerprint(), h);
        assert_ne!(plan(&BASE.replace("/a}", "/b}")).fingerprint(), h);
        assert_ne!(plan(&BASE.replace("p95 < 1s", "p95 < 2s")).fingerprint(), h);
        let mut extra = plan(BASE);
        extra
            .add_targets(
                parse_targets_str("targets: [\"p99 < 3s\"]\n", Path::new("t.yaml")).unwrap(),
            )
            .unwrap();
        assert_ne!(extra.fingerprint(), h);
    }
}
