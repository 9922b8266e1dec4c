//! `skein validate FILE...`: every problem in every file, exit 2 if any.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::scenario;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

pub fn validate(a: &ValidateArgs) -> u8 {
    let mut code = exit::OK;
    let mut out = std::io::stdout().lock();
    for f in &a.files {
        match scenario::load(f) {
            Ok(mut plan) => {
                for w in &plan.warnings {
                    eprintln!("warning: {w}");
                }
                // `lighthouse:` needs the tools on this machine (issue 19).
                if let Err(e) = super::lighthouse::check(&mut plan, f) {
                    eprintln!("error: {e}");
                    code = exit::INVALID;
                    continue;
                }
                let steps: usize = plan
                    .scenarios
                    .iter()
                    .map(|s| s.on_start.len() + s.steps.len() + s.on_stop.len())
                    .sum();
                // A closed stdout (`| head`) is not an error.
                let load = match &plan.load.open {
                    Some(o) => format!(
                        "open model, up to {:.0}/s by a pool of {}",
                        o.peak_rate(),
                        plural(o.max_users, "user")
                    ),
                    None => format!("up to {}", plural(plan.load.max_users(), "user")),
                };
                // Counted iterations: how many, within the `max_duration` bound.
                let (load, over) = match plan.load.iterations {
                    Some(scenario::Iterations::PerUser(n)) => (
                        format!("{load}, {} each", plural(n as usize, "iteration")),
                        "within",
                    ),
                    Some(scenario::Iterations::Shared(n)) => (
                        format!("{load}, {} shared", plural(n as usize, "iteration")),
                        "within",
                    ),
                    None => (load, "over"),
                };
                let _ = writeln!(
                    out,
                    "{}: ok ({}, {}, {load} {over} {:?}, {})",
                    f.display(),
                    plural(plan.scenarios.len(), "scenario"),
                    plural(steps, "step"),
                    plan.load.duration(),
                    plural(plan.targets.len(), "target"),
                );
            }
            Err(e) => {
                // The cause too (a missing file, a folder, not UTF-8), as `run` prints it.
                let mut msg = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    msg.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                eprintln!("error: {msg}");
                code = exit::INVALID;
            }
        }
    }
    code
}
