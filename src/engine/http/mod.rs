//! HTTP for one user: its connections, one step's request, and the outcome of sending it.
//!
//! Each user has its own cookie jar and its own connections. An `http://` or `https://`
//! request goes over the user's own HTTP/1.1 connection (`h1`: Skein's own framing over
//! `httparse`, over TCP or `tokio-rustls`, the fast path), or with `http_version: 2` as a
//! stream of its own HTTP/2 connection (`h2`: the `h2` crate, h2c or TLS with ALPN `h2`),
//! where a page's assets are concurrent streams too. Over HTTP/1.1 a page's concurrent
//! assets go through the user's `reqwest::Client`, built the first time the user needs it
//! and sharing the same jar.
//! Skein follows redirects itself ([`send`](redirect::send)), on either path, so both count
//! them and honour each step's limit the same way. reqwest is used here and nowhere else.
//!
//! One job per file:
//!
//! | file | job |
//! |---|---|
//! | `tls.rs` | the run's one rustls configuration (roots, CA file, `tls_verify: false`) |
//! | `client.rs` | [`ClientFactory`]: what every user shares; which path a URL takes |
//! | `user.rs` | [`UserHttp`]: one user's jar, connections and client; one hop on a path |
//! | `request.rs` | [`build_request`]: a step's request for one user ([`Req`]) |
//! | `redirect.rs` | [`send`](redirect::send): redirects, followed and counted the same on both paths |
//! | `response.rs` | [`Resp`](response::Resp): a response's body in pieces, decoded, kept up to a cap |
//! | `decode.rs` | gzip, deflate and brotli decoded as they arrive, in bounded pieces |
//! | `error.rs` | [`SendError`](error::SendError): both paths' failures sorted into the run's error kinds |
//! | `step.rs` | [`execute`]: one step's exchange, checks and extracts: an [`Outcome`] |

mod client;
mod decode;
mod error;
mod redirect;
mod request;
mod response;
mod step;
mod tls;
mod user;

pub use client::ClientFactory;
pub use redirect::Via;
pub use request::{Req, build_request, upgrade_headers};
pub use step::{
    Document, Outcome, conclude, exchange, execute, fetch, status_detail, status_error,
};
pub use user::{Concurrent, UserHttp};
