//! What goes wrong on an HTTP/2 connection, in the protocol's own words; which of the
//! run's error kinds that is gets decided in `http/error.rs`, beside HTTP/1.1's.

use std::fmt;
use std::io;

/// Where in an exchange an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// TCP, TLS and the HTTP/2 preface and settings.
    Connecting,
    Sending,
    /// Waiting for the response head.
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

/// Why an exchange on an HTTP/2 connection failed.
#[derive(Debug, thiserror::Error)]
pub enum H2Error {
    #[error("{0} has no host")]
    NoHost(url::Url),
    /// A host that TLS cannot name (SNI and certificate verification need a DNS name).
    #[error("`{0}` is not a valid DNS name for TLS")]
    BadServerName(String),
    /// The request cannot be written as HTTP/2 (a header value, a URL).
    #[error("invalid HTTP/2 request: {0}")]
    BadRequest(String),
    #[error("operation timed out ({0})")]
    TimedOut(Stage),
    /// A socket error (or a TLS error, wrapped in one by the TLS stream) while connecting.
    #[error("{stage}: {source}")]
    Io { stage: Stage, source: io::Error },
    /// What the HTTP/2 connection or stream said: a `GOAWAY`, a reset stream, a protocol
    /// error, or the socket error under it.
    #[error("{stage}: http2 error: {source}")]
    Proto { stage: Stage, source: ::h2::Error },
}

impl H2Error {
    /// The server did not process the request: its stream was above a `GOAWAY`'s last
    /// stream, or refused (`REFUSED_STREAM`). Any request may be sent again.
    pub fn unprocessed(&self) -> bool {
        match self {
            H2Error::Proto { stage, source } => {
                *stage != Stage::ReadingBody
                    && source.is_remote()
                    && (source.is_go_away()
                        || source.reason() == Some(::h2::Reason::REFUSED_STREAM))
            }
            _ => false,
        }
    }

    /// The connection closed or broke under the exchange, before a response head.
    pub fn closed(&self) -> bool {
        match self {
            H2Error::Proto { stage, source } => {
                *stage != Stage::ReadingBody
                    && (source.is_go_away()
                        || source.get_io().is_some_and(|io| {
                            use io::ErrorKind as K;
                            matches!(
                                io.kind(),
                                K::ConnectionReset
                                    | K::ConnectionAborted
                                    | K::BrokenPipe
                                    | K::UnexpectedEof
                            )
                        }))
            }
            _ => false,
        }
    }

    /// The socket error under this one, if any (a TLS error is wrapped in one).
    pub fn io(&self) -> Option<&io::Error> {
        match self {
            H2Error::Io { source, .. } => Some(source),
            H2Error::Proto { source, .. } => source.get_io(),
            _ => None,
        }
    }

    /// The stage it happened in, if it names one.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            H2Error::TimedOut(s)
            | H2Error::Io { stage: s, .. }
            | H2Error::Proto { stage: s, .. } => Some(*s),
            _ => None,
        }
    }
}
