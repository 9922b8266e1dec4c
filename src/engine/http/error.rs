//! Why a request got no response, sorted into the run's error kinds in one place for both
//! paths: the fast path's [`H1Error`] by its variant, reqwest's errors by their types
//! (`is_timeout`, `is_connect`, ... and the chain of causes down to the socket error, the
//! TLS error or hyper's), never by the words of their messages.

use std::error::Error;
use std::io;

use crate::engine::h1::{self, H1Error, Stage};
use crate::engine::h2::{self as own_h2, H2Error};
use crate::metrics::ErrorKind;

/// Why [`super::redirect::send`] got no final response.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    pub kind: ErrorKind,
    /// The error and its causes, one line.
    pub detail: String,
}

impl From<H1Error> for SendError {
    fn from(e: H1Error) -> SendError {
        let kind = match &e {
            H1Error::NoHost(_)
            | H1Error::BadServerName(_)
            | H1Error::HeadTooLong(_)
            | H1Error::Parse(_)
            | H1Error::Invalid(_) => ErrorKind::Request,
            H1Error::TimedOut(_) => ErrorKind::Timeout,
            H1Error::ClosedEarly => ErrorKind::ConnectionReset,
            H1Error::BadChunk(_) => ErrorKind::Body,
            // A socket error that names no kind is the connection's, or the body's once
            // the response has begun.
            H1Error::Io { source, .. } if h1::is_tls(source) => ErrorKind::Tls,
            H1Error::Io { stage, source } => io_kind(source.kind()).unwrap_or(match stage {
                Stage::ReadingBody => ErrorKind::Body,
                _ => ErrorKind::Connect,
            }),
        };
        SendError {
            kind,
            detail: error_chain(&e),
        }
    }
}

impl From<H2Error> for SendError {
    fn from(e: H2Error) -> SendError {
        use own_h2::Stage as S;
        let in_body = e.stage() == Some(S::ReadingBody);
        let kind = match &e {
            H2Error::NoHost(_) | H2Error::BadServerName(_) | H2Error::BadRequest(_) => {
                ErrorKind::Request
            }
            H2Error::TimedOut(_) => ErrorKind::Timeout,
            _ if e.io().is_some_and(h1::is_tls) => ErrorKind::Tls,
            _ => match e.io().and_then(|io| io_kind(io.kind())) {
                Some(kind) => kind,
                // A `GOAWAY` or a reset stream: the server ended the exchange.
                None if matches!(&e, H2Error::Proto { source, .. }
                    if source.is_remote() && (source.is_go_away() || source.is_reset())) =>
                {
                    ErrorKind::ConnectionReset
                }
                None if in_body => ErrorKind::Body,
                None if e.stage() == Some(S::Connecting) => ErrorKind::Connect,
                None if e.io().is_some() => ErrorKind::Connect,
                None => ErrorKind::Request,
            },
        };
        SendError {
            kind,
            detail: error_chain(&e),
        }
    }
}

impl From<reqwest::Error> for SendError {
    fn from(e: reqwest::Error) -> SendError {
        SendError {
            kind: classify(&e),
            detail: error_chain(&e),
        }
    }
}

impl SendError {
    /// A reqwest error while reading a body: one that names no other kind is the body's.
    pub(super) fn in_body(e: reqwest::Error) -> SendError {
        let mut e = SendError::from(e);
        if matches!(e.kind, ErrorKind::Request | ErrorKind::Connect) {
            e.kind = ErrorKind::Body;
        }
        e
    }
}

/// Sort a reqwest failure into a kind: by reqwest's own flags, then by the first cause
/// down the chain that names one (a socket error, a TLS error, a connection hyper saw
/// close under a response).
fn classify(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    if let Some(kind) = causes(e).find_map(cause_kind) {
        return kind;
    }
    if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_body() || e.is_decode() {
        ErrorKind::Body
    } else {
        ErrorKind::Request
    }
}

/// The kind one cause names, if it names one.
fn cause_kind(cause: &(dyn Error + 'static)) -> Option<ErrorKind> {
    if let Some(io) = cause.downcast_ref::<io::Error>() {
        return io_kind(io.kind());
    }
    if cause.is::<rustls::Error>() {
        return Some(ErrorKind::Tls);
    }
    if let Some(h) = cause.downcast_ref::<hyper::Error>() {
        return h
            .is_incomplete_message()
            .then_some(ErrorKind::ConnectionReset);
    }
    // HTTP/2's socket errors are not its causes: they are inside it.
    if let Some(h2) = cause.downcast_ref::<h2::Error>() {
        return h2.get_io().and_then(|io| io_kind(io.kind()));
    }
    None
}

/// An error and its causes, outermost first. An `io::Error` that wraps another error (a
/// TLS error, say) is followed by that error: `io::Error::source` skips it.
fn causes<'a>(e: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(e), |&e: &&'a (dyn Error + 'static)| {
        match e.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
            None => e.source(),
        }
    })
}

/// The kind a socket error names, if it names one (refused, reset or closed, timed out);
/// both paths sort socket errors with it.
fn io_kind(kind: io::ErrorKind) -> Option<ErrorKind> {
    match kind {
        io::ErrorKind::ConnectionRefused => Some(ErrorKind::ConnectionRefused),
        k if h1::peer_closed(k) => Some(ErrorKind::ConnectionReset),
        io::ErrorKind::TimedOut => Some(ErrorKind::Timeout),
        _ => None,
    }
}

/// The text of an error and its causes, one line.
fn error_chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = x.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: H1Error) -> ErrorKind {
        SendError::from(e).kind
    }

    #[test]
    fn the_fast_path_s_errors_map_to_one_kind_each() {
        let io = |k: io::ErrorKind, stage| H1Error::Io {
            stage,
            source: io::Error::from(k),
        };
        let url = url::Url::parse("http://h/").unwrap();
        for (e, want) in [
            (H1Error::NoHost(url), ErrorKind::Request),
            (H1Error::HeadTooLong(1), ErrorKind::Request),
            (H1Error::Parse(httparse::Error::Status), ErrorKind::Request),
            (H1Error::Invalid("content-length"), ErrorKind::Request),
            (H1Error::TimedOut(Stage::Waiting), ErrorKind::Timeout),
            (H1Error::ClosedEarly, ErrorKind::ConnectionReset),
            (H1Error::BadChunk("x"), ErrorKind::Body),
            (
                io(io::ErrorKind::ConnectionRefused, Stage::Connecting),
                ErrorKind::ConnectionRefused,
            ),
            (
                io(io::ErrorKind::BrokenPipe, Stage::Sending),
                ErrorKind::ConnectionReset,
            ),
            (
                io(io::ErrorKind::ConnectionReset, Stage::ReadingBody),
                ErrorKind::ConnectionReset,
            ),
            (
                io(io::ErrorKind::TimedOut, Stage::Waiting),
                ErrorKind::Timeout,
            ),
            (io(io::ErrorKind::Other, Stage::Waiting), ErrorKind::Connect),
            (
                io(io::ErrorKind::Other, Stage::ReadingBody),
                ErrorKind::Body,
            ),
        ] {
            let text = e.to_string();
            // The kind a closed connection gets is the one the retry of a kept-alive
            // connection looks for.
            assert_eq!(e.closed(), want == ErrorKind::ConnectionReset, "{text}");
            assert_eq!(kind(e), want, "{text}");
        }
        let e = SendError::from(io(io::ErrorKind::ConnectionReset, Stage::Sending));
        assert!(
            e.detail.starts_with("sending the request: "),
            "{}",
            e.detail
        );
    }

    #[test]
    fn causes_are_sorted_by_type_inside_socket_errors_too() {
        // How a TLS stream reports a bad certificate: a socket error around rustls's.
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, bad_cert);
        assert_eq!(causes(&wrapped).find_map(cause_kind), Some(ErrorKind::Tls));
        // The words of a message count for nothing.
        let words = io::Error::other("tls certificate connection reset");
        assert_eq!(causes(&words).find_map(cause_kind), None);
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, words);
        assert_eq!(
            causes(&reset).find_map(cause_kind),
            Some(ErrorKind::ConnectionReset)
        );
    }
}
