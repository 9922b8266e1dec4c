//! `skein validate FILE...`: every problem in every file, exit 2 if any.

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

pub fn validate(a: &ValidateArgs) -> u8 {
    let mut code = exit::OK;
    for f in &a.files {
        match scenario::load(f) {
            Ok(plan) => {
                let steps: usize = plan
                    .scenarios
                    .iter()
                    .map(|s| s.on_start.len() + s.steps.len() + s.on_stop.len())
                    .sum();
                println!(
                    "{}: ok ({} scenario{}, {} steps, up to {} users over {:.0}s)",
                    f.display(),
                    plan.scenarios.len(),
                    if plan.scenarios.len() == 1 { "" } else { "s" },
                    steps,
                    plan.load.max_users(),
                    plan.load.duration().as_secs_f64()
                );
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = exit::INVALID;
            }
        }
    }
    code
}
