//! A response body read by its framing (RFC 9112 section 6: no body, `Content-Length`,
//! chunked, or until the server closes), in the pieces that arrive, straight from the
//! connection's buffer.

use bytes::{Buf, Bytes, BytesMut};
use tokio::time::Instant;

use super::conn::Live;
use super::error::{H1Error, Stage};
use super::head::MAX_HEAD;

/// The body of a response still to read, and the connection it arrives on (given back to
/// the user with [`super::Conn::put_back`] once read to its end, unless the server closes
/// it).
pub struct Body {
    pub(super) live: Option<Live>,
    pub(super) framing: Framing,
    pub(super) deadline: Instant,
    /// The connection can take the next request once this body is read.
    pub(super) keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Framing {
    /// `Content-Length`: bytes left.
    Length(u64),
    Chunked(Chunk),
    /// Until the server closes the connection.
    UntilClose,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Bytes left of the current chunk.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

impl Body {
    /// Close the connection after this body (the request said `Connection: close`).
    pub fn close_after(&mut self) {
        self.keep_alive = false;
    }

    /// The exchange's deadline has passed.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// The next piece of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, H1Error> {
        let Some(live) = self.live.as_mut() else {
            return Ok(None);
        };
        loop {
            match self.framing {
                Framing::Done => return Ok(None),
                Framing::Length(0) => self.framing = Framing::Done,
                Framing::Length(left) => {
                    let data = take_counted(live, left, self.deadline).await?;
                    self.framing = Framing::Length(left - data.len() as u64);
                    return Ok(Some(data));
                }
                Framing::UntilClose => {
                    if live.buf.is_empty() && !live.fill(self.deadline, Stage::ReadingBody).await? {
                        self.framing = Framing::Done;
                        return Ok(None);
                    }
                    return Ok(Some(live.buf.split().freeze()));
                }
                Framing::Chunked(Chunk::Data(0)) => {
                    self.framing = Framing::Chunked(Chunk::DataEnd);
                }
                Framing::Chunked(Chunk::Data(left)) => {
                    let data = take_counted(live, left, self.deadline).await?;
                    self.framing = Framing::Chunked(Chunk::Data(left - data.len() as u64));
                    return Ok(Some(data));
                }
                Framing::Chunked(state) => {
                    if let Some(next) = chunk_line(&mut live.buf, state)? {
                        self.framing = next;
                        continue;
                    }
                    if live.buf.len() > MAX_HEAD {
                        return Err(H1Error::BadChunk("a chunk line is too long"));
                    }
                    if !live.fill(self.deadline, Stage::ReadingBody).await? {
                        return Err(H1Error::ClosedEarly);
                    }
                }
            }
        }
    }
}

/// Up to `left` (> 0) bytes of a body whose length is known (`Content-Length`, a chunk):
/// what is buffered, or the next read. The server closing first is an error.
async fn take_counted(live: &mut Live, left: u64, deadline: Instant) -> Result<Bytes, H1Error> {
    if live.buf.is_empty() && !live.fill(deadline, Stage::ReadingBody).await? {
        return Err(H1Error::ClosedEarly);
    }
    let n = (live.buf.len() as u64).min(left) as usize;
    Ok(live.buf.split_to(n).freeze())
}

/// Consume one line of chunked framing from `buf` in `state` (a chunk size, the CRLF after
/// a chunk, a trailer line): the state after it, `None` when the line is not all there.
fn chunk_line(buf: &mut BytesMut, state: Chunk) -> Result<Option<Framing>, H1Error> {
    let bad = H1Error::BadChunk;
    match state {
        // httparse takes a line with no digits as size 0: a size needs one.
        Chunk::Size if buf.first().is_some_and(|b| !b.is_ascii_hexdigit()) => {
            Err(bad("invalid chunk size"))
        }
        Chunk::Size => match httparse::parse_chunk_size(buf) {
            Ok(httparse::Status::Complete((len, 0))) => {
                buf.advance(len);
                Ok(Some(Framing::Chunked(Chunk::Trailers)))
            }
            Ok(httparse::Status::Complete((len, size))) => {
                buf.advance(len);
                Ok(Some(Framing::Chunked(Chunk::Data(size))))
            }
            Ok(httparse::Status::Partial) => Ok(None),
            Err(_) => Err(bad("invalid chunk size")),
        },
        Chunk::DataEnd => {
            if buf.len() < 2 {
                return Ok(None);
            }
            if &buf[..2] != b"\r\n" {
                return Err(bad("no CRLF after a chunk"));
            }
            buf.advance(2);
            Ok(Some(Framing::Chunked(Chunk::Size)))
        }
        Chunk::Trailers => {
            let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            buf.advance(end + 2);
            // An empty line ends the trailers, and the body.
            Ok(Some(if end == 0 {
                Framing::Done
            } else {
                Framing::Chunked(Chunk::Trailers)
            }))
        }
        Chunk::Data(_) => unreachable!("data is read, not parsed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_lines_parse_piece_by_piece() {
        let mut buf = BytesMut::from(&b"1a;ext=1\r\n"[..]);
        assert_eq!(
            chunk_line(&mut buf, Chunk::Size).unwrap(),
            Some(Framing::Chunked(Chunk::Data(26)))
        );
        assert!(buf.is_empty());
        let mut buf = BytesMut::from(&b"\r"[..]);
        assert_eq!(chunk_line(&mut buf, Chunk::DataEnd).unwrap(), None);
        buf.extend_from_slice(b"\n0\r\nx-t: 1\r\n\r\n");
        assert_eq!(
            chunk_line(&mut buf, Chunk::DataEnd).unwrap(),
            Some(Framing::Chunked(Chunk::Size))
        );
        assert_eq!(
            chunk_line(&mut buf, Chunk::Size).unwrap(),
            Some(Framing::Chunked(Chunk::Trailers))
        );
        assert_eq!(
            chunk_line(&mut buf, Chunk::Trailers).unwrap(),
            Some(Framing::Chunked(Chunk::Trailers))
        );
        assert_eq!(
            chunk_line(&mut buf, Chunk::Trailers).unwrap(),
            Some(Framing::Done)
        );
        for bad in [&b"zz\r\n"[..], b"\r\n", b";x\r\n"] {
            let mut bad = BytesMut::from(bad);
            assert!(chunk_line(&mut bad, Chunk::Size).is_err());
        }
    }
}
