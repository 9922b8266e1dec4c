//! HTTP/2 over a user's own connection: `http_version: 2`, for `https://` (TLS offering
//! `h2` alone by ALPN) and `http://` (h2c with prior knowledge).
//!
//! Each user keeps one HTTP/2 connection per origin, opened when first needed, its frames
//! read and written by a driver task spawned on the runtime (the `h2` crate, the one hyper
//! uses), and opened again when the server sends `GOAWAY`, the connection breaks or a
//! request asks to close it. A request is a stream on it; a page's assets are several
//! streams at once on the same connection, as a browser multiplexes them. A request the
//! server did not process (a stream above a `GOAWAY`'s last stream, or refused with
//! `REFUSED_STREAM`, RFC 9113 section 8.7), or an idempotent one whose kept connection
//! closed under it, is sent again once on a new connection, and the response says so.
//!
//! As `h1/`, this is a protocol module: it speaks in the `http` and `url` crates' types
//! and its own error ([`H2Error`]), and knows nothing of reqwest or of the run's error
//! kinds. Default headers, cookies, decompression and the sorting of errors are done once
//! per request in `http/`, the same for both protocols.

mod body;
mod conn;
mod error;
mod request;

pub use body::Body;
pub use conn::{Conn, Dial};
pub use error::{H2Error, Stage};
pub use request::{RequestParts, build};
