//! Skein: declarative load testing on a goose swarm, with every latency in HDR histograms.
//!
//! Data flows one way: [`scenario`] (parse and validate a scenario file into a typed
//! [`scenario::Plan`]) -> [`engine`] (a driver, goose in production, runs the plan's users,
//! recording into [`metrics`]; each second a harvest publishes what they measured to its
//! subscribers: the results folder, the console, exporters) -> [`metrics`] (histograms,
//! counts, the results folder, the verdict) -> [`report`] (human output).
//! [`capacity`] analyses step-load tests (USL fit, knee, sustainable load, plan).
//! [`demo`] is the embedded target that behaves like the Phase 9 web app; [`cli`] is the
//! command line at the edge and the only module that prints or exits. [`import`] writes
//! scenario files from recordings (a browser's HAR).

pub mod capacity;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod import;
pub mod metrics;
pub mod observe;
pub mod report;
pub mod scenario;
