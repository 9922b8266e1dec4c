//! Importers: turn a recording made elsewhere into a scenario file.
//!
//! [`har`] reads a browser's HTTP Archive (HAR 1.2, what the developer tools' Network tab
//! saves) and writes a scenario: which requests to keep, which headers to drop, think
//! times, status checks, credentials as `${env.NAME}` and values correlated from a
//! response into a later request. The text is YAML that `skein validate` accepts; the
//! summary says what was correlated, dropped and turned into environment references.

pub mod har;
mod yaml;
