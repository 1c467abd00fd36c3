//! permessage-deflate (RFC 7692), sans I/O: the negotiation, a compressor
//! that turns one message into one compressed frame, and a bounded inflater.
//!
//! The server keeps no compression context between messages on either side:
//! it always answers `server_no_context_takeover` (so a room message is
//! compressed once and the same frame serves every member) and
//! `client_no_context_takeover` (§7.1.1.2 lets a server ask it of any
//! client), so every compressed message a client sends inflates on its
//! own, with one inflater the whole server shares. An idle connection
//! holds no compression state at all: what a connection negotiated is one
//! byte, its window size.
//!
//! The backend is zlib-rs through `flate2`: unlike miniz_oxide it takes a
//! window size, which `server_max_window_bits` needs.

use super::error::ProtocolError;
use super::frame::{encode_header, OpCode, MAX_HEADER_LEN};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const NAME: &str = "permessage-deflate";

/// The four bytes a sync flush ends with, which §7.2.1 has the sender
/// remove and §7.2.2 has the receiver put back.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Messages shorter than this are sent uncompressed (RSV1 clear, which
/// §6 allows per message): deflate's block overhead eats what they save.
pub const MIN_COMPRESS: usize = 64;

/// What was agreed with one client: the largest LZ77 window our
/// compressor may use for it, as `server_max_window_bits` (8-15; 15 when
/// the client did not limit it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The `server_max_window_bits` the client asked for, or 15.
    pub window_bits: u8,
}

/// One `permessage-deflate` offer's parameters, once checked (§7.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// Pick the first acceptable `permessage-deflate` offer among the values of
/// the request's `Sec-WebSocket-Extensions` headers, in order. Returns what
/// was agreed and the response element, or `None` when there is no offer
/// or every offer is malformed (§7.1: the server declines those). Other
/// extensions are ignored.
pub fn negotiate<'a>(headers: impl IntoIterator<Item = &'a [u8]>) -> Option<(Agreed, String)> {
    for value in headers {
        for element in value.split(|b| *b == b',') {
            let mut parts = element.split(|b| *b == b';');
            let name = parts.next().map(<[u8]>::trim_ascii).unwrap_or_default();
            if !name.eq_ignore_ascii_case(NAME.as_bytes()) {
                continue;
            }
            if let Some(offer) = parse_offer(parts) {
                return Some(accept(offer));
            }
        }
    }
    None
}

/// The parameters of one element; `None` if one is unknown, repeated or
/// has a bad value (§7.1: such an offer must be declined).
fn parse_offer<'a>(params: impl Iterator<Item = &'a [u8]>) -> Option<Offer> {
    let mut offer = Offer::default();
    for param in params {
        let (name, value) = match param.iter().position(|b| *b == b'=') {
            Some(i) => (
                param.get(..i)?.trim_ascii(),
                Some(unquote(param.get(i + 1..)?.trim_ascii())?),
            ),
            None => (param.trim_ascii(), None),
        };
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) if !offer.server_no_context_takeover => {
                offer.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !offer.client_no_context_takeover => {
                offer.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) if offer.server_max_window_bits.is_none() => {
                offer.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", v) if offer.client_max_window_bits.is_none() => {
                offer.client_max_window_bits = Some(match v {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
            }
            _ => return None,
        }
    }
    Some(offer)
}

/// §7.1.2: a window size is 8-15, in decimal without leading zeros.
fn window_bits(v: &[u8]) -> Option<u8> {
    match v {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// A parameter value: a token, or a quoted string (§7.1: "the value after
/// unescaping" must conform). Escapes are not needed by any valid value.
fn unquote(v: &[u8]) -> Option<&[u8]> {
    match v {
        [b'"', inner @ .., b'"'] if !inner.contains(&b'"') && !inner.contains(&b'\\') => {
            Some(inner)
        }
        _ if !v.is_empty() && !v.contains(&b'"') => Some(v),
        _ => None,
    }
}

/// The response to an acceptable offer. We never take over context on
/// our side, and ask the client not to on its side; a window limit the
/// client set for us is echoed (§7.1.2.1: the response must carry it).
/// `client_max_window_bits` is never sent: our inflater takes any window.
fn accept(offer: Offer) -> (Agreed, String) {
    let mut response = format!("{NAME}; server_no_context_takeover; client_no_context_takeover");
    if let Some(bits) = offer.server_max_window_bits {
        response.push_str(&format!("; server_max_window_bits={bits}"));
    }
    let agreed = Agreed {
        window_bits: offer.server_max_window_bits.unwrap_or(15),
    };
    (agreed, response)
}

/// The server's compressors: one per window size asked for (created on
/// first use; nearly always just 15), each reset before every message.
pub struct Deflater {
    level: Compression,
    /// Index `bits - 9`: zlib's raw deflate takes 9-15 (see [`Deflater::frame`]).
    by_bits: [Option<Box<Compress>>; 7],
    out: Vec<u8>,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl Default for Deflater {
    fn default() -> Deflater {
        Deflater::new(Compression::new(DEFAULT_LEVEL))
    }
}

/// zlib level 6, its default: ratio matters for a frame that goes to many.
pub const DEFAULT_LEVEL: u32 = 6;

impl Deflater {
    /// Compressors at `level`.
    pub fn new(level: Compression) -> Deflater {
        Deflater {
            level,
            by_bits: Default::default(),
            out: Vec::new(),
        }
    }

    /// `payload` as one final frame of `opcode` with RSV1 set, compressed
    /// for a client that allows windows of `2^window_bits` bytes; `None`
    /// when compressing would not make it shorter (send it plain). See
    /// [`Deflater::frame_always`] for a frame compressed whatever it saves.
    ///
    /// zlib refuses a raw window of 8 bits; with 9 its matches reach back at
    /// most 512 - 262 = 250 bytes (its `MAX_DIST`), inside 256, so what it
    /// writes is valid for a client that asked for 8.
    pub fn frame(&mut self, opcode: OpCode, payload: &[u8], window_bits: u8) -> Option<Vec<u8>> {
        if payload.len() < MIN_COMPRESS {
            return None;
        }
        self.compress(opcode, payload, window_bits, false)
    }

    /// Like [`Deflater::frame`], compressed even when that does not save
    /// a byte (`/echo` answers a compressed message in kind).
    pub fn frame_always(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        window_bits: u8,
    ) -> Option<Vec<u8>> {
        self.compress(opcode, payload, window_bits, true)
    }

    fn compress(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        window_bits: u8,
        always: bool,
    ) -> Option<Vec<u8>> {
        let bits = window_bits.clamp(9, 15);
        let level = self.level;
        let slot = self.by_bits.get_mut(usize::from(bits - 9))?;
        let compress = slot
            .get_or_insert_with(|| Box::new(Compress::new_with_window_bits(level, false, bits)));
        compress.reset();
        self.out.clear();
        self.out.reserve(payload.len() / 2 + 64);
        let mut input = payload;
        loop {
            let before = compress.total_in();
            let status = compress
                .compress_vec(input, &mut self.out, FlushCompress::Sync)
                .ok()?;
            let used = (compress.total_in() - before) as usize;
            input = input.get(used..).unwrap_or_default();
            // Done once all input is in and the flush had room to finish.
            if input.is_empty() && self.out.len() < self.out.capacity() {
                break;
            }
            if status == Status::StreamEnd {
                break;
            }
            self.out.reserve(self.out.capacity().max(64));
        }
        let body = self.out.strip_suffix(&TAIL)?;
        if body.len() >= payload.len() && !always {
            return None;
        }
        let mut frame = Vec::with_capacity(MAX_HEADER_LEN + body.len());
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut head, true, opcode, None, body.len() as u64);
        if let Some(first) = head.first_mut() {
            *first |= 0x40; // RSV1: this message is compressed (§6)
        }
        frame.extend_from_slice(head.get(..n).unwrap_or_default());
        frame.extend_from_slice(body);
        Some(frame)
    }
}

/// The server's one inflater (every client runs without context takeover,
/// so each message inflates alone) and its output buffer.
pub struct Inflater {
    inflate: Box<Decompress>,
    out: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("out_capacity", &self.out.capacity())
            .finish_non_exhaustive()
    }
}

impl Default for Inflater {
    fn default() -> Inflater {
        Inflater {
            inflate: Box::new(Decompress::new_with_window_bits(false, 15)),
            out: Vec::new(),
        }
    }
}

/// Output grows in steps of this much (a bomb never gets a big buffer
/// before it has earned it).
const STEP: usize = 16 * 1024;

/// What the buffer is cut back to after a big message.
const KEEP: usize = 64 * 1024;

impl Inflater {
    /// Inflate one compressed message (its frames' payloads, joined) into at
    /// most `limit` bytes. Past `limit` it stops at once with
    /// [`ProtocolError::MessageTooBig`] (1009): a bomb costs `limit` bytes
    /// and the CPU to produce them, never more.
    pub fn inflate(&mut self, input: &[u8], limit: usize) -> Result<&[u8], ProtocolError> {
        if self.out.capacity() > KEEP.max(limit.min(KEEP)) {
            self.out = Vec::new();
        }
        self.out.clear();
        self.inflate.reset(false);
        for part in [input, &TAIL[..]] {
            let mut part = part;
            loop {
                if self.out.len() == self.out.capacity() {
                    if self.out.len() > limit {
                        return Err(ProtocolError::MessageTooBig);
                    }
                    // One byte past the limit tells "too big" from "exactly".
                    let room = (limit + 1 - self.out.len()).min(STEP);
                    self.out.reserve_exact(room);
                }
                let before = self.inflate.total_in();
                let status = self
                    .inflate
                    .decompress_vec(part, &mut self.out, FlushDecompress::Sync)
                    .map_err(|_| ProtocolError::BadCompressedData)?;
                let used = (self.inflate.total_in() - before) as usize;
                part = part.get(used..).unwrap_or_default();
                if self.out.len() > limit {
                    return Err(ProtocolError::MessageTooBig);
                }
                if status == Status::StreamEnd {
                    // A final block ends the message; what follows is ignored.
                    return Ok(&self.out);
                }
                let full = self.out.len() == self.out.capacity();
                if part.is_empty() && !full {
                    break;
                }
                if used == 0 && !full {
                    // No progress with room to write: the input is cut short.
                    break;
                }
            }
        }
        Ok(&self.out)
    }
}

#[cfg(test)]
#[path = "deflate_tests.rs"]
mod tests;
