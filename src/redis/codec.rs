//! RESP2 framing with `redis-protocol`: a command is an array of bulk
//! strings; replies are decoded as they complete, from a buffer that keeps
//! what has not.

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::encode::encode_borrowed;
use redis_protocol::resp2::types::{BorrowedFrame, OwnedFrame};

/// A decoded reply.
pub type Reply = OwnedFrame;

/// Append the command `args` (name first) to `out`.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    let parts: Vec<BorrowedFrame<'_>> = args.iter().map(|a| BorrowedFrame::BulkString(a)).collect();
    let frame = BorrowedFrame::Array(&parts);
    let at = out.len();
    out.resize(at + frame.encode_len(false), 0);
    let written = out
        .get_mut(at..)
        .map(|tail| encode_borrowed(tail, &frame, false));
    if !matches!(written, Some(Ok(_))) {
        // Cannot happen: the buffer was sized by the same crate.
        out.truncate(at);
    }
}

/// The stream from Redis could not be read: the connection is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not RESP2.
    Malformed(String),
    /// One reply bigger than the bound.
    TooBig,
}

/// Replies from one connection, decoded as their bytes arrive.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    max: usize,
}

impl Decoder {
    /// A decoder that gives up on a reply longer than `max` bytes.
    pub fn new(max: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            start: 0,
            max,
        }
    }

    /// Bytes read from the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole reply, if one has arrived.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, DecodeError> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        if pending.is_empty() {
            return Ok(None);
        }
        match decode(pending) {
            Ok(Some((frame, used))) => {
                self.start += used;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                } else if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
                    self.buf.drain(..self.start);
                    self.start = 0;
                }
                Ok(Some(frame))
            }
            Ok(None) if pending.len() > self.max => Err(DecodeError::TooBig),
            Ok(None) => Ok(None),
            Err(e) => Err(DecodeError::Malformed(format!("{e:?}"))),
        }
    }

    /// Forget everything (the connection was lost).
    pub fn reset(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &mut Decoder) -> Vec<Reply> {
        let mut out = Vec::new();
        while let Some(r) = d.next_reply().unwrap() {
            out.push(r);
        }
        out
    }

    /// Replies as redis-server 7 writes them, for the commands the engine sends.
    const REAL: &[u8] = b"+OK\r\n$40\r\n0123456789abcdef0123456789abcdef01234567\r\n\
*2\r\n:17\r\n$8\r\nabcdefgh\r\n*3\r\n$8\r\nabcdefgh\r\n$1\r\n3\r\n*2\r\n$5\r\n1\x1fa\x1fx\r\n$0\r\n\r\n\
*3\r\n$9\r\nsubscribe\r\n$7\r\nrc:ch:a\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$7\r\nrc:ch:a\r\n$3\r\nhey\r\n\
-NOSCRIPT No matching script. Please use EVAL.\r\n$-1\r\n*-1\r\n:-5\r\n";

    #[test]
    fn a_command_is_an_array_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"EVALSHA", b"ab", b"0", b"\x1f\r\n"]);
        assert_eq!(
            out,
            b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n0\r\n$3\r\n\x1f\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn every_split_of_real_replies_decodes_the_same() {
        let mut whole = Decoder::new(1 << 20);
        whole.feed(REAL);
        let expected = all(&mut whole);
        assert_eq!(expected.len(), 10);
        assert!(matches!(&expected[6], Reply::Error(e) if e.starts_with("NOSCRIPT")));
        // Every byte boundary, then pseudo-random chunkings.
        for cut in 0..REAL.len() {
            let mut d = Decoder::new(1 << 20);
            d.feed(&REAL[..cut]);
            let mut got = all(&mut d);
            d.feed(&REAL[cut..]);
            got.extend(all(&mut d));
            assert_eq!(got, expected, "split at {cut}");
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut d = Decoder::new(1 << 20);
            let mut got = Vec::new();
            let mut at = 0;
            while at < REAL.len() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let n = 1 + (seed % 23) as usize;
                let end = (at + n).min(REAL.len());
                d.feed(&REAL[at..end]);
                got.extend(all(&mut d));
                at = end;
            }
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn garbage_and_oversize_are_errors_not_panics() {
        let mut d = Decoder::new(1 << 20);
        d.feed(b"?what\r\n");
        assert!(matches!(d.next_reply(), Err(DecodeError::Malformed(_))));
        let mut d = Decoder::new(16);
        d.feed(b"$100\r\n0123456789012345678901234");
        assert_eq!(d.next_reply(), Err(DecodeError::TooBig));
    }
}
