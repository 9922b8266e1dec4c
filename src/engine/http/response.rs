//! A response's head, and its body read in pieces: as reqwest delivers it, or off the
//! user's own connection and decoded as it arrives (`decode.rs`), so that however much a
//! compressed body expands, no piece is larger than the decoder's and a body a step keeps
//! stops at [`MAX_BODY`].

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use url::Url;

use crate::engine::h1;
use crate::engine::h2;
use crate::metrics::ErrorKind;

use super::decode::Decoder;
use super::error::SendError;
use super::redirect::Via;

/// The most of a body that Skein keeps, decoded: the body a step's checks, extracts or page
/// read. A longer one is a [`ErrorKind::Body`] error ([`body_too_long`]); a body nothing
/// reads is discarded as it arrives, however long.
const MAX_BODY: usize = 256 << 20;

/// The error of a body longer than [`MAX_BODY`].
fn body_too_long(url: &Url) -> SendError {
    SendError {
        kind: ErrorKind::Body,
        detail: format!(
            "the body of {url} is longer than 256 MiB ({MAX_BODY} bytes), the most Skein keeps \
             for a step's checks, extracts or page; the rest was not read"
        ),
    }
}

/// A response's head, and its body still to read.
pub struct Resp {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// Sent again on a new connection (see [`h1::Conn::send`]).
    pub(super) retried: bool,
    pub(super) body: RespBody,
}

pub(super) enum RespBody {
    Client(reqwest::Response),
    H1 {
        body: h1::Body,
        /// A compressed body is decoded as it arrives, in pieces.
        decoder: Option<Decoder>,
    },
    /// A stream of the user's own HTTP/2 connection.
    H2 {
        body: h2::Body,
        decoder: Option<Decoder>,
    },
}

/// A body off the user's own connection, either protocol.
enum Own<'a> {
    H1(&'a mut h1::Body),
    H2(&'a mut h2::Body),
}

impl Own<'_> {
    async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        match self {
            Own::H1(b) => Ok(b.chunk().await?),
            Own::H2(b) => Ok(b.chunk().await?),
        }
    }

    fn past_deadline(&self) -> bool {
        match self {
            Own::H1(b) => b.past_deadline(),
            Own::H2(b) => b.past_deadline(),
        }
    }
}

impl Resp {
    /// The next piece of the body (decoded), `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        let (mut body, decoder) = match &mut self.body {
            RespBody::Client(r) => return r.chunk().await.map_err(SendError::in_body),
            RespBody::H1 { body, decoder } => (Own::H1(body), decoder),
            RespBody::H2 { body, decoder } => (Own::H2(body), decoder),
        };
        let Some(dec) = decoder else {
            return body.chunk().await;
        };
        loop {
            let enc = dec.encoding();
            let bad = |e: std::io::Error| SendError {
                kind: ErrorKind::Body,
                detail: format!("error decoding response body ({enc:?}): {e}"),
            };
            if let Some(piece) = dec.next_piece().map_err(bad)? {
                // A bomb decodes without waiting on the socket: let the other users of
                // this thread run, and stop at the request's deadline.
                tokio::task::coop::consume_budget().await;
                if body.past_deadline() {
                    return Err(SendError {
                        kind: ErrorKind::Timeout,
                        detail: "operation timed out (decoding the body)".into(),
                    });
                }
                return Ok(Some(piece));
            }
            match body.chunk().await? {
                Some(raw) => dec.push(&raw),
                None => {
                    dec.finish().map_err(bad)?;
                    return Ok(None);
                }
            }
        }
    }

    /// Read the rest of the body, counting its bytes into `bytes`: kept when `keep` (up to
    /// [`MAX_BODY`]: a longer one is an error, and its connection is dropped, not reused),
    /// else dropped as it arrives. `url` names the body in the error.
    pub(super) async fn read_to_end(
        &mut self,
        keep: bool,
        bytes: &mut u64,
        url: &Url,
    ) -> Result<Vec<u8>, SendError> {
        let mut body: Vec<u8> = Vec::new();
        while let Some(c) = self.chunk().await? {
            *bytes += c.len() as u64;
            if keep {
                if body.len() + c.len() > MAX_BODY {
                    return Err(body_too_long(url));
                }
                body.extend_from_slice(&c);
            }
        }
        Ok(body)
    }

    /// Read and drop the rest of the body, counting its bytes (a redirect's, so its
    /// connection can be reused).
    pub(super) async fn drain(&mut self, bytes: &mut u64) -> Result<(), SendError> {
        while let Some(c) = self.chunk().await? {
            *bytes += c.len() as u64;
        }
        Ok(())
    }

    /// Give the connection of a response read to its end back to its user.
    pub(super) fn recycle(self, via: &mut Via<'_>) {
        if let (RespBody::H1 { body, .. }, Via::User(u)) = (self.body, via) {
            u.conn.put_back(body);
        }
    }
}
