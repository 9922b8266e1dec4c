//! What goes wrong on an HTTP/1.1 connection, in the protocol's own words.
//!
//! The connection code says what happened (a timeout while sending, a head that does not
//! parse, a chunk line that is not one) and nothing more; which of the run's error kinds
//! that is gets decided in one place, next to the sorting of reqwest's errors
//! (`http/error.rs`), so that both paths count the same failure the same way. That they
//! do is tested side by side (`tests/h1_differential.rs`) for a refused connection, a
//! close before the response head, a reset inside it, no response within the timeout and
//! a body cut short of its `Content-Length`; other failures are sorted by the same rules
//! but not compared.

use std::fmt;
use std::io;

/// Where in an exchange an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connecting,
    Sending,
    /// Waiting for (or reading) the response head.
    Waiting,
    ReadingBody,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connecting => "connecting",
            Stage::Sending => "sending the request",
            Stage::Waiting => "waiting for the response",
            Stage::ReadingBody => "reading the body",
        })
    }
}

/// Why an exchange on an HTTP/1.1 connection failed.
#[derive(Debug, thiserror::Error)]
pub enum H1Error {
    #[error("{0} has no host")]
    NoHost(url::Url),
    /// A host that TLS cannot name (SNI and certificate verification need a DNS name).
    #[error("`{0}` is not a valid DNS name for TLS")]
    BadServerName(String),
    #[error("operation timed out ({0})")]
    TimedOut(Stage),
    /// A socket error (or a TLS error, wrapped in one by the TLS stream).
    #[error("{stage}: {source}")]
    Io { stage: Stage, source: io::Error },
    /// The server closed the connection before the response (or its body) was complete.
    #[error("connection closed before message completed")]
    ClosedEarly,
    #[error("the response head is longer than {0} bytes")]
    HeadTooLong(usize),
    #[error("invalid HTTP response: {0}")]
    Parse(httparse::Error),
    /// A response head that parses but breaks a rule: what is wrong with it.
    #[error("invalid HTTP response: {0}")]
    Invalid(&'static str),
    #[error("invalid chunked body: {0}")]
    BadChunk(&'static str),
}

impl H1Error {
    /// The server closed (or reset) the connection under the exchange: for a kept-alive
    /// connection that got no byte of response, the race of RFC 9112 section 9.3.1.
    pub fn closed(&self) -> bool {
        match self {
            H1Error::ClosedEarly => true,
            H1Error::Io { source, .. } => !is_tls(source) && peer_closed(source.kind()),
            _ => false,
        }
    }
}

/// The socket errors that mean the peer closed or reset the connection.
pub fn peer_closed(kind: io::ErrorKind) -> bool {
    use io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
    )
}

/// Whether a stream's error is a TLS one (a refused certificate, a failed handshake, a bad
/// record): the TLS stream wraps the `rustls::Error` in an `io::Error`.
pub fn is_tls(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
}
