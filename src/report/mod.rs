//! Human output rendered from a [`crate::metrics::RunResult`]: pure functions, data in and
//! text out; the caller picks the destination.

pub mod text;
