//! Live figures while a run goes: exporters, each a [`crate::engine::Subscriber`] that a
//! run gets only when its flag is on.

pub mod remote_write;
