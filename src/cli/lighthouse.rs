//! `lighthouse:` needs the real `lighthouse` and Chromium on this machine. `validate` and
//! `run` look for them before anything starts: where they are missing, a block with
//! `required: true` (the default) makes the scenario invalid (exit 2, with the install
//! commands); `required: false` runs the load anyway, with a warning, the audits shown as
//! not measured and the Lighthouse targets left out of the verdict.

use std::path::Path;

use super::Invalid;
use crate::engine::lighthouse::find_tools;
use crate::scenario::Plan;
use crate::scenario::lighthouse::is_lighthouse_target;

/// Check `plan`'s `lighthouse:` block against this machine (see the module's comment).
/// Returns the warning printed for an optional block whose tools are missing.
pub fn check(plan: &mut Plan, file: &Path) -> Result<Option<String>, Invalid> {
    let Some(lh) = &plan.lighthouse else {
        return Ok(None);
    };
    let Err(why) = find_tools() else {
        return Ok(None);
    };
    if lh.required {
        return Err(Invalid(format!(
            "{}: `lighthouse:` needs Lighthouse and Chromium: {why}\n  hint: or write \
             `required: false` in the block to run the load without the audits",
            file.display()
        )));
    }
    let before = plan.targets.len();
    plan.targets.retain(|t| !is_lighthouse_target(&t.target));
    let dropped = before - plan.targets.len();
    let warning = format!(
        "{}: lighthouse: not measured (`required: false`), {}: {why}",
        file.display(),
        if dropped == 0 {
            "the load runs without the audits".to_string()
        } else {
            format!(
                "the load runs without the audits and {dropped} Lighthouse target{} {} not judged",
                if dropped == 1 { "" } else { "s" },
                if dropped == 1 { "is" } else { "are" }
            )
        }
    );
    eprintln!("warning: {warning}");
    Ok(Some(warning))
}

/// Say, before a run starts, that its `before` audits come first (they take a while, and
/// the live console starts with the load).
pub fn announce(plan: &Plan, quiet: bool) {
    let Some(lh) = &plan.lighthouse else {
        return;
    };
    if quiet || !lh.before {
        return;
    }
    let audits = lh.pages.len() as u32 * lh.runs;
    eprintln!(
        "lighthouse: {audits} audit{} of the idle target first (about {} s each), then the load",
        if audits == 1 { "" } else { "s" },
        crate::scenario::lighthouse::TYPICAL_AUDIT.as_secs()
    );
}
