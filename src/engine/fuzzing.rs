//! One request of a scenario's step, sent the way a user sends it, for the fuzz targets in
//! `tests/fuzz.rs`: the HTTP/1.1 fast path (or reqwest for HTTPS), redirects, decoding,
//! checks and extracts, against whatever a test server answers. Not part of Skein's API.

use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::metrics::{ErrorKind, ServerTimingNames};
use crate::scenario::Plan;
use crate::scenario::template::Vars;

use super::http;

/// What one request came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub error: Option<ErrorKind>,
    pub detail: Option<String>,
    /// Send to last body byte, µs, when a whole response arrived.
    pub service_us: Option<u64>,
    /// Send to the end, µs.
    pub elapsed_us: u64,
    pub failed_checks: usize,
    pub bytes: u64,
}

/// The user of `plan` (against `base_url`), as set up for a run.
pub struct User {
    plan: Plan,
    base_url: String,
    http: http::UserHttp,
    vars: Vars,
    rng: SmallRng,
    buf: String,
    names: ServerTimingNames,
}

impl User {
    pub fn new(plan: &Plan, base_url: &str) -> Result<User, String> {
        let factory = Arc::new(
            http::ClientFactory::new(&plan.defaults, base_url).map_err(|e| e.to_string())?,
        );
        let http = factory
            .user(factory.needs_client(base_url))
            .map_err(|e| e.to_string())?;
        Ok(User {
            plan: plan.clone(),
            base_url: base_url.to_string(),
            http,
            vars: Vars::new(plan.variables.len()),
            rng: SmallRng::seed_from_u64(1),
            buf: String::new(),
            names: ServerTimingNames::new(),
        })
    }

    /// Send the first step of the plan's first scenario once.
    pub async fn send_first_step(&mut self) -> Result<Exchange, String> {
        let step = self
            .plan
            .scenarios
            .first()
            .and_then(|s| s.steps.first())
            .ok_or("the plan has no step")?
            .clone();
        let req = http::build_request(
            &self.base_url,
            &self.plan.defaults,
            &step,
            &self.vars,
            &mut self.rng,
            &mut self.buf,
        )?;
        let o = http::execute(&mut self.http, req, &step, &mut self.vars, &self.names).await;
        Ok(Exchange {
            error: o.error,
            detail: o.detail,
            service_us: o.service_us,
            elapsed_us: o.elapsed_us,
            failed_checks: o.failed_checks.len(),
            bytes: o.bytes,
        })
    }
}
