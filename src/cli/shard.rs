//! `--shard I/N` and its companions across machines: which shard this process is (given, or
//! read from the engine that started it), the run's id shared by every shard, the common
//! start time, and where a shard's folder goes.
//!
//! The split itself is [`crate::scenario::Shard`]'s, the same one `--workers` uses.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Invalid;
use crate::scenario::Shard;

/// `--shard`: a shard given (`1/3`), or its index read from the environment (`auto/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    Fixed(Shard),
    Auto { count: usize },
}

/// Where `--shard auto/N` reads the index, first found first: Skein's own, a Kubernetes
/// Indexed Job's, Slurm's (`srun`).
pub const INDEX_VARS: [&str; 3] = ["SKEIN_SHARD_INDEX", "JOB_COMPLETION_INDEX", "SLURM_PROCID"];

/// clap's parser of `--shard`.
pub fn parse_shard_arg(s: &str) -> Result<ShardArg, String> {
    if let Some(n) = s.strip_prefix("auto/") {
        let count: usize = n.trim().parse().map_err(|_| {
            format!("`{s}`: the count `{n}` is not a whole number (expected auto/N, e.g. auto/4)")
        })?;
        if count == 0 {
            return Err(format!("`{s}`: the count must be at least 1"));
        }
        return Ok(ShardArg::Auto { count });
    }
    s.parse::<Shard>()
        .map(ShardArg::Fixed)
        .map_err(|e| format!("{e}, or auto/N to read the index from the environment"))
}

/// The shard this process runs: the one given, or with `auto/N` the index from the first of
/// [`INDEX_VARS`] that is set. Under Slurm, `SLURM_NTASKS` must be N.
pub fn resolve(arg: ShardArg, env: impl Fn(&str) -> Option<String>) -> Result<Shard, Invalid> {
    let count = match arg {
        ShardArg::Fixed(s) => return Ok(s),
        ShardArg::Auto { count } => count,
    };
    if let Some(tasks) = env("SLURM_NTASKS")
        && env("SKEIN_SHARD_INDEX").is_none()
        && env("JOB_COMPLETION_INDEX").is_none()
        && tasks.trim() != count.to_string()
    {
        return Err(Invalid(format!(
            "--shard auto/{count}: Slurm started {} tasks (SLURM_NTASKS={tasks}), not {count}\n  \
             hint: run `srun -n {count} ...`, or give --shard auto/$SLURM_NTASKS",
            tasks.trim()
        )));
    }
    for var in INDEX_VARS {
        let Some(v) = env(var) else { continue };
        let index: usize = v.trim().parse().map_err(|_| {
            Invalid(format!(
                "--shard auto/{count}: {var}={v:?} is not a shard index (expected a whole \
                 number from 0 to {})",
                count - 1
            ))
        })?;
        if index >= count {
            return Err(Invalid(format!(
                "--shard auto/{count}: {var}={index} is not below the count {count} (shards \
                 are numbered from 0 to {})",
                count - 1
            )));
        }
        return Ok(Shard { index, count });
    }
    Err(Invalid(format!(
        "--shard auto/{count}: no shard index in the environment (looked for {})\n  hint: \
         start it as a Kubernetes Indexed Job or with Slurm's srun, set SKEIN_SHARD_INDEX, or \
         give the index: --shard 0/{count}",
        INDEX_VARS.join(", ")
    )))
}

/// The id every shard of a run shares: `--run-id`, else `SKEIN_RUN_ID`, else Slurm's job
/// (`slurm-<job>[.<step>]`), else the run's name and its absolute `--start-at`.
pub fn run_id(
    given: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    name: &str,
    start_at: Option<&StartAt>,
) -> Result<String, Invalid> {
    let (id, from) = if let Some(id) = given {
        (id.to_string(), "--run-id")
    } else if let Some(id) = env("SKEIN_RUN_ID") {
        (id, "SKEIN_RUN_ID")
    } else if let Some(job) = env("SLURM_JOB_ID") {
        (format!("slurm-{}", job.trim()), "SLURM_JOB_ID")
    } else if let Some(StartAt::Absolute(at)) = start_at {
        let stamp = chrono::DateTime::<chrono::Utc>::from(*at).format("%Y%m%dt%H%M%Sz");
        (
            format!("{}-{stamp}", dns_label(name)),
            "the run's name and --start-at",
        )
    } else {
        return Err(Invalid(
            "--shard: the shards of a run need one run id to be merged by\n  hint: give \
             --run-id ID (the same on every shard), set SKEIN_RUN_ID, or give an absolute \
             --start-at (the id is then the run's name and that time)"
                .into(),
        ));
    };
    check_run_id(&id).map_err(|e| Invalid(format!("{from}: {e}")))?;
    Ok(id)
}

/// A run id names folders and Kubernetes objects: a DNS-1123 label (lower-case letters,
/// digits and `-`, starting and ending with a letter or digit, at most 63 characters).
pub fn check_run_id(id: &str) -> Result<(), String> {
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if id.is_empty()
        || id.len() > 63
        || !ok_chars
        || !ends(id.as_bytes().first())
        || !ends(id.as_bytes().last())
    {
        return Err(format!(
            "run id `{id}` is not a DNS-1123 label: expected at most 63 lower-case letters, \
             digits and `-`, starting and ending with a letter or digit (e.g. checkout-0412)"
        ));
    }
    Ok(())
}

/// `name` as a DNS-1123 label's start: lower case, other characters as `-`, at most 40.
fn dns_label(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-');
    let s: String = s.chars().take(40).collect();
    let s = s.trim_end_matches('-');
    if s.is_empty() { "run".into() } else { s.into() }
}

/// A seed every shard of a run derives alike from its id (FNV-1a), when none is given:
/// the closed model's users then draw what they would in one process.
pub fn seed_of(run_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in run_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `--start-at`: an RFC 3339 time, or `+DURATION` from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Absolute(SystemTime),
    In(Duration),
}

impl StartAt {
    /// The instant it names, `now` being this process's start.
    pub fn at(self, now: SystemTime) -> SystemTime {
        match self {
            StartAt::Absolute(t) => t,
            StartAt::In(d) => now + d,
        }
    }
}

/// clap's parser of `--start-at`.
pub fn parse_start_at(s: &str) -> Result<StartAt, String> {
    if let Some(rest) = s.strip_prefix('+') {
        return crate::scenario::parse_duration(rest)
            .map(StartAt::In)
            .map_err(|e| format!("`{s}`: {e} (expected +DURATION, e.g. +90s)"));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| StartAt::Absolute(SystemTime::from(t)))
        .map_err(|e| {
            format!(
                "`{s}`: not an RFC 3339 time ({e}); expected e.g. 2026-12-07T17:00:00Z, or \
                 +DURATION from now, e.g. +90s"
            )
        })
}

/// The folder of shard `index` of run `run_id` under `output`: `<output>/<run-id>/shard-<i>/`,
/// new. A folder that already holds a result is refused (the same index twice, or a run id
/// used again).
pub fn shard_dir(output: &Path, run_id: &str, index: usize) -> anyhow::Result<PathBuf> {
    let dir = output.join(run_id).join(format!("{SHARD_PREFIX}{index}"));
    if dir.join(crate::metrics::store::RESULT_FILE).exists() {
        return Err(Invalid(format!(
            "{} already holds a shard's results: shard {index} of run `{run_id}` ran before\n  \
             hint: give each run its own --run-id, and each shard its own index",
            dir.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A shard's folder is named `shard-<index>` under its run's folder.
pub const SHARD_PREFIX: &str = "shard-";

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn issue15_shard_args_parse_and_auto_reads_the_engine() {
        let fixed = |i, n| ShardArg::Fixed(Shard { index: i, count: n });
        assert_eq!(parse_shard_arg("1/3"), Ok(fixed(1, 3)));
        assert_eq!(parse_shard_arg("auto/4"), Ok(ShardArg::Auto { count: 4 }));
        for bad in ["3/3", "x", "auto/0", "auto/x", "1/0", "-1/2"] {
            assert!(parse_shard_arg(bad).is_err(), "{bad}");
        }
        let auto = ShardArg::Auto { count: 3 };
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Vars, Result<usize, &str>)] = &[
            (&[("SKEIN_SHARD_INDEX", "2")], Ok(2)),
            (&[("JOB_COMPLETION_INDEX", "1")], Ok(1)),
            (&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "3")], Ok(0)),
            // Skein's own variable wins over an engine's.
            (
                &[("SKEIN_SHARD_INDEX", "0"), ("JOB_COMPLETION_INDEX", "2")],
                Ok(0),
            ),
            (
                &[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "4")],
                Err("SLURM_NTASKS=4"),
            ),
            (
                &[("JOB_COMPLETION_INDEX", "3")],
                Err("not below the count 3"),
            ),
            (&[("SLURM_PROCID", "x")], Err("is not a shard index")),
            (&[], Err("no shard index in the environment")),
        ];
        for (vars, want) in cases {
            let got = resolve(auto, env(vars));
            match (got, want) {
                (Ok(s), Ok(i)) => assert_eq!(
                    s,
                    Shard {
                        index: *i,
                        count: 3
                    },
                    "{vars:?}"
                ),
                (Err(e), Err(text)) => assert!(e.0.contains(text), "{vars:?}: {}", e.0),
                (got, want) => panic!("{vars:?}: {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn issue15_run_ids_come_from_the_flag_the_env_slurm_or_the_start() {
        let at = parse_start_at("2026-12-07T17:00:30Z").unwrap();
        assert_eq!(run_id(Some("t-1"), env(&[]), "x", None).unwrap(), "t-1");
        let e = [("SKEIN_RUN_ID", "ci-42"), ("SLURM_JOB_ID", "7")];
        assert_eq!(run_id(None, env(&e), "x", None).unwrap(), "ci-42");
        assert_eq!(
            run_id(None, env(&[("SLURM_JOB_ID", "7")]), "x", None).unwrap(),
            "slurm-7"
        );
        assert_eq!(
            run_id(None, env(&[]), "Phase 9: API", Some(&at)).unwrap(),
            "phase-9--api-20261207t170030z"
        );
        let relative = StartAt::In(Duration::from_secs(30));
        assert!(run_id(None, env(&[]), "x", Some(&relative)).is_err());
        for bad in ["Upper", "-a", "a-", "a_b", "", &"a".repeat(64)] {
            let e = run_id(Some(bad), env(&[]), "x", None).unwrap_err();
            assert!(e.0.starts_with("--run-id: run id"), "{bad}: {}", e.0);
        }
        assert_eq!(seed_of("t-1"), seed_of("t-1"));
        assert_ne!(seed_of("t-1"), seed_of("t-2"));
    }

    #[test]
    fn issue15_start_at_is_a_time_or_a_delay() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            parse_start_at("+90s").unwrap().at(now),
            now + Duration::from_secs(90)
        );
        let abs = parse_start_at("1970-01-01T00:20:00+00:00").unwrap();
        assert_eq!(
            abs.at(now),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1200)
        );
        assert!(parse_start_at("tomorrow").unwrap_err().contains("RFC 3339"));
        assert!(parse_start_at("+5").is_err());
    }
}
