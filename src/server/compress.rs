//! Outgoing permessage-deflate: each data frame is compressed once, however
//! many connections it is queued for. A room broadcast queues one `Rc`
//! frame for every member in a row, so a one-entry cache per window size,
//! keyed by the frame's address, turns N members into one compression; the
//! cache keeps the plain frame alive, so an address is never reused while
//! it is remembered.

use crate::proto::deflate::Deflater;
use crate::proto::frame::parse_header;
use crate::proto::OpCode;
use std::rc::Rc;

/// The plain frame last compressed for one window size, and what it became
/// (`None`: not worth compressing, send it plain).
type Entry = (Rc<[u8]>, Option<Rc<[u8]>>);

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct Compressor {
    deflater: Deflater,
    /// Index `window_bits - 8`.
    last: [Option<Entry>; 8],
    /// Messages compressed (each once, for however many members).
    pub compressed: u64,
    /// Payload bytes before and after compression, over those messages.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Compressor {
    /// The frame to queue on a connection that agreed to windows of
    /// `2^bits` (0: no permessage-deflate): `frame` itself, or its
    /// compressed twin. Control frames and anything already marked go
    /// out as they are.
    pub fn for_conn(&mut self, bits: u8, frame: &Rc<[u8]>) -> Rc<[u8]> {
        if bits == 0 {
            return frame.clone();
        }
        let Some(slot) = self.last.get_mut(usize::from(bits.saturating_sub(8))) else {
            return frame.clone();
        };
        if let Some((plain, compressed)) = slot {
            if Rc::ptr_eq(plain, frame) {
                return compressed.clone().unwrap_or_else(|| frame.clone());
            }
        }
        let compressed = compress(&mut self.deflater, bits, frame).map(|(c, body)| {
            self.compressed += 1;
            self.bytes_in += body as u64;
            self.bytes_out += (c.len() - frame.len().saturating_sub(body)) as u64;
            Rc::<[u8]>::from(c)
        });
        *slot = Some((frame.clone(), compressed.clone()));
        compressed.unwrap_or_else(|| frame.clone())
    }
}

impl Compressor {
    /// `payload` as one compressed frame of `opcode` for a connection with
    /// windows of `2^bits`, whatever it saves (`/echo` answers a compressed
    /// message in kind); `None` only if the compressor fails.
    pub fn always(&mut self, bits: u8, opcode: OpCode, payload: &[u8]) -> Option<Rc<[u8]>> {
        let frame = self.deflater.frame_always(opcode, payload, bits)?;
        self.compressed += 1;
        self.bytes_in += payload.len() as u64;
        if let Ok(Some((_, n))) = parse_header(&frame) {
            self.bytes_out += frame.len().saturating_sub(n) as u64;
        }
        Some(Rc::from(frame))
    }
}

/// A whole unmasked data frame of ours, compressed (with its payload's
/// length), or `None` if it is not one or would not shrink.
fn compress(deflater: &mut Deflater, bits: u8, frame: &[u8]) -> Option<(Vec<u8>, usize)> {
    let (header, n) = parse_header(frame).ok()??;
    if !header.fin || header.rsv != 0 || header.mask.is_some() {
        return None;
    }
    if !matches!(header.opcode, OpCode::Text | OpCode::Binary) {
        return None;
    }
    let payload = frame.get(n..)?;
    deflater
        .frame(header.opcode, payload, bits)
        .map(|c| (c, payload.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::encode_frame;

    #[test]
    fn one_compression_serves_every_member() {
        let mut c = Compressor::default();
        let text = "hello danmaku ".repeat(20);
        let frame: Rc<[u8]> = Rc::from(encode_frame(true, OpCode::Text, None, text.as_bytes()));
        let a = c.for_conn(15, &frame);
        let b = c.for_conn(15, &frame);
        assert!(Rc::ptr_eq(&a, &b), "members share one compressed frame");
        assert_eq!(c.compressed, 1);
        assert!(a.len() < frame.len());
        assert_eq!(a.first().map(|b| b & 0x40), Some(0x40), "RSV1 set");
        // Another window size is another compression; no deflate is the frame itself.
        let small = c.for_conn(9, &frame);
        assert!(!Rc::ptr_eq(&a, &small));
        assert!(Rc::ptr_eq(&c.for_conn(0, &frame), &frame));
        // A new frame (even with the same bytes) is compressed anew.
        let again: Rc<[u8]> = Rc::from(frame.to_vec());
        let d = c.for_conn(15, &again);
        assert_eq!(&*d, &*a);
        assert_eq!(c.compressed, 3);
    }

    #[test]
    fn control_and_short_frames_go_plain() {
        let mut c = Compressor::default();
        let ping: Rc<[u8]> = Rc::from(encode_frame(true, OpCode::Ping, None, &[0; 100]));
        assert!(Rc::ptr_eq(&c.for_conn(15, &ping), &ping));
        let short: Rc<[u8]> = Rc::from(encode_frame(
            true,
            OpCode::Text,
            None,
            b"{\"type\":\"ack\"}",
        ));
        assert!(Rc::ptr_eq(&c.for_conn(15, &short), &short));
        let http: Rc<[u8]> = Rc::from(b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec());
        assert!(Rc::ptr_eq(&c.for_conn(15, &http), &http));
        assert_eq!(c.compressed, 0);
    }
}
