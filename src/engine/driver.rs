//! The seam between the engine and what runs the users. The engine sets a run up, harvests
//! it each second and decides when it stops; a [`Driver`] starts the users of this
//! process's share of the plan and ends them when asked. goose is the production driver
//! ([`GooseDriver`](super::GooseDriver)); [`testing::Synthetic`] records made-up samples
//! without a network, so the whole pipeline runs in milliseconds.

// For tests and benches (the synthetic driver), not part of Skein's API.
#[doc(hidden)]
pub mod testing;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{EngineError, RunCtx};

/// The users of a run at work: resolves once they have all ended.
pub type Attack = Pin<Box<dyn Future<Output = Result<(), EngineError>> + Send>>;

/// Runs the users of a plan.
pub trait Driver: Send + Sync {
    /// Start the users of `run.plan()` (this process's share of the whole plan). The users
    /// record into `run.recorder()` and end once `run.stop_level()` says so; the future
    /// resolves when all of them have. It runs on the generator's runtime.
    fn attack(&self, run: Arc<RunCtx>) -> Attack;

    /// Ask the users to end after what they are doing: called every 100 ms once the run
    /// stops, until the attack has ended (so it must be cheap, and may come early).
    fn stop(&self);
}
