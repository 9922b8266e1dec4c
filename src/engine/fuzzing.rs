//! A user of a scenario sending its steps one at a time, the way a run's user sends them,
//! for tests that drive the HTTP paths from outside the crate: the fuzz targets in
//! `tests/fuzz.rs` (one step against whatever a test server answers), the HTTP/1.1
//! conformance suite (`tests/h1_conformance.rs`) and the differential test that holds the
//! fast path and reqwest side by side (`tests/h1_differential.rs`). Not part of Skein's
//! API.

use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::metrics::{ErrorKind, ResponseMeta, ServerTimingNames};
use crate::scenario::template::Vars;
use crate::scenario::{DEFAULT_MAX_REDIRECTS, Plan, StepPlan};

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

/// The whole response to one step, as the user got it (after any redirects).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: ::http::HeaderMap,
    /// The body, decoded.
    pub body: Vec<u8>,
    /// The URL of the last hop.
    pub url: String,
    pub redirects: u32,
    /// Sent again on a new connection after a kept-alive one closed under it.
    pub retries: u32,
    /// Body bytes of every hop, decoded.
    pub bytes: u64,
}

/// Why a step got no response.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub kind: ErrorKind,
    pub detail: String,
    /// Body bytes that came before the failure, decoded.
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
    /// A user whose plain-http requests take the fast path, as in a run.
    pub fn new(plan: &Plan, base_url: &str) -> Result<User, String> {
        let factory = http::ClientFactory::new(&plan.defaults, base_url);
        User::with(plan, base_url, factory.map_err(|e| e.to_string())?)
    }

    /// A user whose every request goes through its reqwest client, plain http included.
    pub fn over_reqwest(plan: &Plan, base_url: &str) -> Result<User, String> {
        let factory = http::ClientFactory::new(&plan.defaults, base_url);
        let factory = factory.map_err(|e| e.to_string())?.without_fast_path();
        User::with(plan, base_url, factory)
    }

    fn with(plan: &Plan, base_url: &str, factory: http::ClientFactory) -> Result<User, String> {
        let factory = Arc::new(factory);
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

    /// Step `index` of the plan's first scenario.
    fn step(&self, index: usize) -> Result<StepPlan, String> {
        let steps = self.plan.scenarios.first().map(|s| s.steps.as_slice());
        let step = steps.unwrap_or_default().get(index);
        step.cloned()
            .ok_or_else(|| format!("the plan has no step {index}"))
    }

    fn build(&mut self, step: &StepPlan) -> Result<http::Req, String> {
        http::build_request(
            &self.base_url,
            &self.plan.defaults,
            step,
            &self.vars,
            &mut self.rng,
            &mut self.buf,
        )
    }

    /// Send the first step of the plan's first scenario once, with its checks and extracts.
    pub async fn send_first_step(&mut self) -> Result<Exchange, String> {
        let step = self.step(0)?;
        let req = self.build(&step)?;
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

    /// Send step `index` of the plan's first scenario once, following redirects as the
    /// step says, and keep the whole response (no checks). A step that cannot be built is
    /// a [`ErrorKind::Template`] failure.
    pub async fn fetch(&mut self, index: usize) -> Result<Reply, Failed> {
        let template = |detail: String| Failed {
            kind: ErrorKind::Template,
            detail,
            bytes: 0,
        };
        let step = self.step(index).map_err(template)?;
        let mut req = self.build(&step).map_err(template)?;
        let mut meta = ResponseMeta::default();
        let mut bytes = 0u64;
        let max_redirects = step.follow_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS);
        let mut via = http::Via::User(&mut self.http);
        let got = http::fetch(
            &mut via,
            &mut req,
            max_redirects,
            true,
            &self.names,
            &mut meta,
            &mut bytes,
        )
        .await;
        match got {
            Ok(f) => Ok(Reply {
                status: f.status.as_u16(),
                headers: f.headers,
                body: f.body,
                url: req.url.to_string(),
                redirects: meta.redirects,
                retries: meta.retries,
                bytes,
            }),
            Err(e) => Err(Failed {
                kind: e.kind,
                detail: e.detail,
                bytes,
            }),
        }
    }

    /// The `Cookie` header the user's jar sends to `url` (none without cookies).
    pub fn cookies(&self, url: &str) -> Option<String> {
        let url = url::Url::parse(url).ok()?;
        let v = self.http.cookies(&url)?;
        Some(String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}
