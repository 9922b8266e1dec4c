//! Live figures for other tools while a run goes: each exporter is a
//! [`Subscriber`](crate::engine::Subscriber) of the run's seconds, added only when its flag
//! is given.

pub mod dashboard;
pub mod prometheus;
pub mod remote_write;
