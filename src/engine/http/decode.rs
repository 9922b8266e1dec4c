//! Compressed response bodies on the fast path, decoded as they arrive.
//!
//! A body is decoded piece by piece, never whole: each piece is at most [`PIECE`] bytes
//! however much the compressed bytes expand (a gzip or brotli bomb expands a thousand to a
//! million times), so a body that nobody reads is discarded as it arrives and one that a
//! check reads is held to the cap in `response.rs`, not to whatever the server packed.
//! These are the codings reqwest decodes (its `gzip`, `deflate` and `brotli` features):
//! gzip with several members and a checked CRC, zlib-wrapped deflate, brotli. A stream cut
//! short is an error, as it is on reqwest's path.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use flate2::{Crc, Decompress, FlushDecompress, Status};

/// The most one piece of decoded body takes.
pub const PIECE: usize = 64 * 1024;
/// The longest gzip member header accepted (its optional name, comment and extra field).
const MAX_GZIP_HEADER: usize = 128 * 1024;

/// A content coding the fast path decodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Encoding {
    Gzip,
    Deflate,
    Brotli,
}

impl Encoding {
    /// The coding a `Content-Encoding` value names, if the fast path decodes it.
    pub fn from_header(v: &[u8]) -> Option<Encoding> {
        match v.trim_ascii() {
            v if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") => {
                Some(Encoding::Gzip)
            }
            v if v.eq_ignore_ascii_case(b"deflate") => Some(Encoding::Deflate),
            v if v.eq_ignore_ascii_case(b"br") => Some(Encoding::Brotli),
            _ => None,
        }
    }
}

type BrotliState = brotli::BrotliState<
    brotli::enc::StandardAlloc,
    brotli::enc::StandardAlloc,
    brotli::enc::StandardAlloc,
>;

enum Codec {
    /// gzip: a member's header, its deflate data, its 8-byte trailer; then another member.
    Gzip {
        inflate: Box<Decompress>,
        crc: Crc,
        part: GzPart,
        /// A member has ended (the stream may end here).
        members: u32,
    },
    /// zlib-wrapped deflate.
    Zlib(Box<Decompress>),
    /// brotli (its state is over 2 KB: boxed).
    Brotli(Box<BrotliState>),
}

#[derive(Clone, Copy, PartialEq)]
enum GzPart {
    Header,
    Data,
    Trailer,
}

/// One compressed body being decoded: feed it what arrives ([`Decoder::push`]), take what
/// it decodes ([`Decoder::next_piece`]), and say when the body ends ([`Decoder::finish`]).
pub struct Decoder {
    codec: Codec,
    /// Compressed bytes not decoded yet.
    pending: BytesMut,
    /// The stream has ended: what follows is ignored (zlib, brotli).
    ended: bool,
    /// Any compressed byte arrived (an empty body stays empty, as reqwest has it).
    started: bool,
    /// The last piece was full: the codec may have more output without more input.
    more_out: bool,
    /// The coding, for messages.
    encoding: Encoding,
}

impl Decoder {
    pub fn new(encoding: Encoding) -> Decoder {
        let codec = match encoding {
            Encoding::Gzip => Codec::Gzip {
                inflate: Box::new(Decompress::new(false)),
                crc: Crc::new(),
                part: GzPart::Header,
                members: 0,
            },
            Encoding::Deflate => Codec::Zlib(Box::new(Decompress::new(true))),
            Encoding::Brotli => Codec::Brotli(Box::new(BrotliState::new(
                Default::default(),
                Default::default(),
                Default::default(),
            ))),
        };
        Decoder {
            codec,
            pending: BytesMut::new(),
            ended: false,
            started: false,
            more_out: false,
            encoding,
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Compressed bytes that arrived. Call [`Decoder::next_piece`] until it returns `None`
    /// before pushing more.
    pub fn push(&mut self, raw: &[u8]) {
        if raw.is_empty() {
            return;
        }
        self.started = true;
        if self.ended && !matches!(self.codec, Codec::Gzip { .. }) {
            return;
        }
        self.pending.extend_from_slice(raw);
    }

    /// The next piece of decoded body (at most [`PIECE`] bytes, never empty), or `None`
    /// when the bytes pushed so far are all decoded.
    pub fn next_piece(&mut self) -> io::Result<Option<Bytes>> {
        // Room for what this much input usually decodes to, within a piece.
        let room = self.pending.len().saturating_mul(4).clamp(4096, PIECE);
        let mut out = Vec::with_capacity(room);
        while self.more_out || !self.pending.is_empty() {
            if self.ended && !matches!(self.codec, Codec::Gzip { .. }) {
                self.pending.clear();
                self.more_out = false;
                break;
            }
            let before = self.pending.len();
            self.step(&mut out, room)?;
            // A full piece: the codec may hold more output than it gave.
            self.more_out = out.len() >= room;
            if !out.is_empty() || self.pending.len() == before {
                // A piece, or more input needed (a header, a trailer, a code).
                break;
            }
        }
        Ok((!out.is_empty()).then(|| Bytes::from(out)))
    }

    /// The body has ended: an error when the compressed stream has not.
    pub fn finish(&self) -> io::Result<()> {
        let complete = match &self.codec {
            _ if !self.started => true,
            Codec::Gzip { part, members, .. } => {
                *members > 0 && *part == GzPart::Header && self.pending.is_empty()
            }
            _ => self.ended,
        };
        if complete {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the compressed body ends before its stream does",
            ))
        }
    }

    /// Decode some of `pending` into `out` (empty), at most `room` bytes.
    fn step(&mut self, out: &mut Vec<u8>, room: usize) -> io::Result<()> {
        match &mut self.codec {
            Codec::Gzip {
                inflate,
                crc,
                part,
                members,
            } => match part {
                GzPart::Header => {
                    if let Some(len) = gzip_header(&self.pending)? {
                        self.pending.advance(len);
                        inflate.reset(false);
                        crc.reset();
                        *part = GzPart::Data;
                    }
                }
                GzPart::Data => {
                    let end = inflate_into(inflate, &mut self.pending, out, room)?;
                    crc.update(out);
                    if end {
                        *part = GzPart::Trailer;
                    }
                }
                GzPart::Trailer if self.pending.len() < 8 => {}
                GzPart::Trailer => {
                    let t = self.pending.split_to(8);
                    let sum = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
                    let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
                    if sum != crc.sum() || size != crc.amount() {
                        return Err(invalid("gzip CRC or length does not match"));
                    }
                    *members += 1;
                    *part = GzPart::Header;
                }
            },
            Codec::Zlib(inflate) => {
                self.ended = inflate_into(inflate, &mut self.pending, out, room)?;
            }
            Codec::Brotli(state) => {
                out.resize(room, 0);
                let (mut avail_in, mut in_off) = (self.pending.len(), 0);
                let (mut avail_out, mut out_off, mut total) = (room, 0, 0);
                let r = brotli::BrotliDecompressStream(
                    &mut avail_in,
                    &mut in_off,
                    &self.pending,
                    &mut avail_out,
                    &mut out_off,
                    out,
                    &mut total,
                    state,
                );
                out.truncate(out_off);
                self.pending.advance(in_off);
                match r {
                    brotli::BrotliResult::ResultFailure => {
                        return Err(invalid("invalid brotli stream"));
                    }
                    brotli::BrotliResult::ResultSuccess => self.ended = true,
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Inflate from `input` into `out` (empty, with `room` bytes of capacity): whether the
/// deflate stream ended.
fn inflate_into(
    inflate: &mut Decompress,
    input: &mut BytesMut,
    out: &mut Vec<u8>,
    room: usize,
) -> io::Result<bool> {
    out.reserve_exact(room);
    let in_before = inflate.total_in();
    let r = inflate.decompress_vec(input, out, FlushDecompress::None);
    input.advance((inflate.total_in() - in_before) as usize);
    match r {
        Ok(Status::StreamEnd) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) => Err(invalid(&format!("invalid deflate data: {e}"))),
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// The length of the gzip member header at the start of `buf` (RFC 1952 section 2.3),
/// `None` when it is not all there yet.
fn gzip_header(buf: &[u8]) -> io::Result<Option<usize>> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let seen = buf.len().min(3);
    if buf[..seen] != [0x1f, 0x8b, 0x08][..seen] {
        return Err(invalid("invalid gzip header"));
    }
    let more = || {
        if buf.len() > MAX_GZIP_HEADER {
            Err(invalid("the gzip header is too long"))
        } else {
            Ok(None)
        }
    };
    if buf.len() < 10 {
        return Ok(None);
    }
    let flags = buf[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = buf.get(at..at + 2) else {
            return more();
        };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(end) = buf.get(at..).and_then(|b| b.iter().position(|&c| c == 0)) else {
                return more();
            };
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if buf.len() < at {
        return more();
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Decode `raw` pushed in pieces of `step` bytes: the body, and the largest piece.
    fn decode(enc: Encoding, raw: &[u8], step: usize) -> io::Result<(Vec<u8>, usize)> {
        let mut d = Decoder::new(enc);
        let (mut body, mut largest) = (Vec::new(), 0);
        for part in raw.chunks(step.max(1)) {
            d.push(part);
            while let Some(p) = d.next_piece()? {
                largest = largest.max(p.len());
                body.extend_from_slice(&p);
            }
        }
        d.finish()?;
        Ok((body, largest))
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    }

    #[test]
    fn every_coding_decodes_in_bounded_pieces_however_it_arrives() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for (enc, raw) in [
            (Encoding::Gzip, gzip(&data)),
            (Encoding::Deflate, zlib(&data)),
            (Encoding::Brotli, brotli(&data)),
        ] {
            for step in [1, 7, 4096, raw.len()] {
                let (body, largest) = decode(enc, &raw, step).unwrap();
                assert!(body == data, "{enc:?} in pieces of {step}");
                assert!(largest <= PIECE, "{enc:?}: a piece of {largest} bytes");
            }
        }
    }

    #[test]
    fn a_bomb_comes_out_in_pieces_not_whole() {
        // 16 MiB of zeros: about 16 KB of gzip.
        let zeros = vec![0u8; 16 << 20];
        for (enc, raw) in [
            (Encoding::Gzip, gzip(&zeros)),
            (Encoding::Brotli, brotli(&zeros)),
        ] {
            assert!(raw.len() < 1 << 20, "{enc:?}: {}", raw.len());
            let mut d = Decoder::new(enc);
            d.push(&raw);
            let (mut total, mut pieces) = (0usize, 0);
            while let Some(p) = d.next_piece().unwrap() {
                assert!(p.len() <= PIECE);
                total += p.len();
                pieces += 1;
            }
            d.finish().unwrap();
            assert_eq!(total, zeros.len(), "{enc:?}");
            assert!(pieces >= zeros.len() / PIECE, "{enc:?}: {pieces} pieces");
        }
    }

    #[test]
    fn members_empty_bodies_truncation_and_garbage() {
        // Two gzip members, and a header with a name and a comment.
        let mut two = gzip(b"hello ");
        two.extend_from_slice(&gzip(b"world"));
        assert_eq!(decode(Encoding::Gzip, &two, 3).unwrap().0, b"hello world");
        let mut named = flate2::GzBuilder::new()
            .filename("a.txt")
            .comment("c")
            .write(Vec::new(), flate2::Compression::fast());
        named.write_all(b"named").unwrap();
        let named = named.finish().unwrap();
        assert_eq!(decode(Encoding::Gzip, &named, 1).unwrap().0, b"named");
        // An empty body stays empty, as reqwest has it.
        for enc in [Encoding::Gzip, Encoding::Deflate, Encoding::Brotli] {
            assert_eq!(decode(enc, &[], 1).unwrap().0, b"");
        }
        // Cut short, or not the coding it says.
        for (enc, raw) in [
            (Encoding::Gzip, gzip(b"some text to cut")),
            (Encoding::Deflate, zlib(b"some text to cut")),
            (Encoding::Brotli, brotli(b"some text to cut")),
        ] {
            let cut = &raw[..raw.len() - 3];
            let err = decode(enc, cut, 5).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{enc:?}: {err}");
            assert!(
                decode(enc, b"plainly not compressed", 4).is_err(),
                "{enc:?}"
            );
        }
        let mut bad_crc = gzip(b"checked");
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        let err = decode(Encoding::Gzip, &bad_crc, 2).unwrap_err();
        assert!(err.to_string().contains("CRC"), "{err}");
        // Bytes after a zlib or brotli stream are ignored (as flate2's readers do).
        let mut tail = zlib(b"z");
        tail.extend_from_slice(b"junk");
        assert_eq!(decode(Encoding::Deflate, &tail, 2).unwrap().0, b"z");
    }
}
