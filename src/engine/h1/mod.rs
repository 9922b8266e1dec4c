//! HTTP/1.1 over a user's own TCP (or TLS) connections: the fast path for `http://` and
//! `https://` requests.
//!
//! reqwest puts a pool, a cookie layer, a redirect layer, a decompression layer and a
//! timeout layer around every request and parses the URL again in three of them; measured
//! with perf on one generator core, those layers cost more than HTTP itself. hyper's own
//! connection API (`client::conn::http1`) needs a task, a channel and two 8 KB buffers per
//! connection: about 25 KB per user, too much for 10,000 users. A load test's user sends one
//! request at a time over its own connection, so it needs neither: Skein writes the request
//! head itself, parses the response head with `httparse` (the parser hyper uses) and reads
//! the body by its framing (RFC 9112 section 6: no body, `Content-Length`, chunked, or until
//! the server closes), straight from the user's task, with one read buffer per user.
//!
//! This is a protocol module: it speaks in the `http` and `url` crates' types and its own
//! error ([`H1Error`]), and knows nothing of reqwest or of the run's error kinds. Cookies,
//! redirects, decompression and the sorting of errors are done once per request in
//! `http/`. HTTPS is the same exchange over `tokio-rustls`, with the run's one TLS
//! configuration (offering HTTP/1.1 alone by ALPN; its session cache resumes sessions
//! across users). HTTP/2 and a page's concurrent assets go through the user's reqwest
//! client, which shares the same cookie jar.

mod body;
mod conn;
mod error;
mod head;

pub use body::Body;
pub use conn::{Conn, Dial};
pub use error::{H1Error, Stage, is_tls, peer_closed};
pub use head::{HeadParts, has_token, write_head};
