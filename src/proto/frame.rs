//! Frame headers (RFC 6455 §5.2): parsing and encoding.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! ```
//!
//! [`parse_header`] is purely syntactic (it rejects only reserved opcodes,
//! like tungstenite's, so the two can be fuzzed against each other); what a
//! side may receive is checked by [`FrameHeader::check`].

use super::error::ProtocolError;

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame opcode (RFC 6455 §5.2, "Opcode: 4 bits").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// %x0: a continuation frame.
    Continuation,
    /// %x1: a text frame.
    Text,
    /// %x2: a binary frame.
    Binary,
    /// %x8: a connection close.
    Close,
    /// %x9: a ping.
    Ping,
    /// %xA: a pong.
    Pong,
}

impl OpCode {
    /// The opcode of the low four bits of `byte`; reserved opcodes are an error.
    pub fn from_bits(byte: u8) -> Result<OpCode, ProtocolError> {
        match byte & 0x0f {
            0x0 => Ok(OpCode::Continuation),
            0x1 => Ok(OpCode::Text),
            0x2 => Ok(OpCode::Binary),
            0x8 => Ok(OpCode::Close),
            0x9 => Ok(OpCode::Ping),
            0xa => Ok(OpCode::Pong),
            // "%x3-7 are reserved for further non-control frames",
            // "%xB-F are reserved for further control frames".
            other => Err(ProtocolError::ReservedOpcode(other)),
        }
    }

    /// The 4-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xa,
        }
    }

    /// Control frames have opcodes with the most significant bit set (§5.5).
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: the final fragment of a message.
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as the three low bits (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length as sent (up to 2^64-1; see [`FrameHeader::check`]).
    pub payload_len: u64,
}

/// Which end of the connection we are: it decides which frames must be masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// We are the server: every frame we receive must be masked (§5.1).
    Server,
    /// We are a client: no frame we receive may be masked (§5.1).
    Client,
}

/// The length of the header that starts with bytes `b0 b1`.
pub fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// Parse a frame header from the start of `buf`.
///
/// `Ok(None)`: not enough bytes yet (never an error). `Ok(Some((header, n)))`:
/// the header took `n` bytes. The only error is a reserved opcode.
pub fn parse_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(None),
    };
    let len = header_len(b1);
    let Some(head) = buf.get(..len) else {
        return Ok(None);
    };
    let opcode = OpCode::from_bits(b0)?;
    let (payload_len, rest) = match (b1 & 0x7f, head.get(2..)) {
        (126, Some([a, b, rest @ ..])) => (u64::from(u16::from_be_bytes([*a, *b])), rest),
        (127, Some([a, b, c, d, e, f, g, h, rest @ ..])) => {
            (u64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h]), rest)
        }
        (n, Some(rest)) => (u64::from(n), rest),
        (_, None) => return Ok(None),
    };
    let mask = match rest {
        [a, b, c, d] => Some([*a, *b, *c, *d]),
        _ => None,
    };
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode,
        mask,
        payload_len,
    };
    Ok(Some((header, len)))
}

impl FrameHeader {
    /// The rules of RFC 6455 a single header can break, for a frame received
    /// in `side` (the sequence rules live in the decoder).
    pub fn check(&self, side: Side) -> Result<(), ProtocolError> {
        self.check_with(side, false)
    }

    /// [`FrameHeader::check`] on a connection where permessage-deflate was
    /// negotiated if `deflate`: RSV1 then marks the first frame of a
    /// compressed message (RFC 7692 §6), never a control frame (§6.1) or a
    /// continuation (§6.1: "set only on the first frame").
    pub fn check_with(&self, side: Side, deflate: bool) -> Result<(), ProtocolError> {
        // §5.2: "RSV1, RSV2, RSV3: MUST be 0 unless an extension is negotiated
        // that defines meanings for non-zero values."
        let rsv1_ok = deflate && matches!(self.opcode, OpCode::Text | OpCode::Binary);
        if self.rsv & 0b011 != 0 || (self.rsv & 0b100 != 0 && !rsv1_ok) {
            return Err(ProtocolError::ReservedBits);
        }
        // §5.1: "The server MUST close the connection upon receiving a frame
        // that is not masked." and "A client MUST close a connection if it
        // detects a masked frame."
        if self.mask.is_some() != (side == Side::Server) {
            return Err(ProtocolError::BadMasking);
        }
        // §5.2: "the most significant bit MUST be 0" (64-bit length).
        if self.payload_len >> 63 != 0 {
            return Err(ProtocolError::LengthMsbSet);
        }
        if self.opcode.is_control() {
            // §5.5: "All control frames MUST have a payload length of 125
            // bytes or less and MUST NOT be fragmented."
            if self.payload_len > 125 {
                return Err(ProtocolError::ControlTooLong);
            }
            if !self.fin {
                return Err(ProtocolError::FragmentedControl);
            }
        }
        Ok(())
    }
}

/// Write the header of a frame into `out`; returns how many bytes it took.
/// Lengths use the minimal encoding, as §5.2 requires of a sender.
pub fn encode_header(
    out: &mut [u8; MAX_HEADER_LEN],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload_len: u64,
) -> usize {
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        for (slot, b) in out.iter_mut().skip(n).zip(bytes) {
            *slot = *b;
        }
        n += bytes.len();
    };
    put(&[if fin { 0x80 } else { 0 } | opcode.bits()]);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload_len {
        0..=125 => put(&[mask_bit | payload_len as u8]),
        126..=0xffff => {
            put(&[mask_bit | 126]);
            put(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            put(&[mask_bit | 127]);
            put(&payload_len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        put(&key);
    }
    n
}

/// A whole frame as bytes: header, then `payload` (masked with `mask` if given).
pub fn encode_frame(fin: bool, opcode: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_HEADER_LEN + payload.len());
    encode_frame_into(&mut out, fin, opcode, mask, payload);
    out
}

/// Append a whole frame to `out`.
pub fn encode_frame_into(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = encode_header(&mut head, fin, opcode, mask, payload.len() as u64);
    out.extend_from_slice(head.get(..n).unwrap_or_default());
    let start = out.len();
    out.extend_from_slice(payload);
    if let (Some(key), Some(body)) = (mask, out.get_mut(start..)) {
        super::mask::apply_mask(body, key, 0);
    }
}

/// The payload of a close frame: the code, big-endian, then the reason
/// (cut to fit the 125-byte control frame limit on a character boundary).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = Vec::with_capacity(2 + cut);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes().get(..cut).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc_examples_and_needs_all_bytes() {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        for cut in 0..6 {
            assert_eq!(parse_header(&masked[..cut]).unwrap(), None, "cut {cut}");
        }
        let (h, n) = parse_header(&masked).unwrap().unwrap();
        assert_eq!(n, 6);
        assert_eq!(
            h,
            FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Text,
                mask: Some([0x37, 0xfa, 0x21, 0x3d]),
                payload_len: 5
            }
        );
        // 256 bytes binary in a single unmasked frame: 0x82 0x7E 0x0100.
        let (h, n) = parse_header(&[0x82, 0x7e, 0x01, 0x00]).unwrap().unwrap();
        assert_eq!((h.opcode, h.payload_len, n), (OpCode::Binary, 256, 4));
        // 64 KiB: 0x82 0x7F 0x0000000000010000.
        let (h, n) = parse_header(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0])
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn reserved_opcodes_are_rejected() {
        for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert_eq!(
                parse_header(&[0x80 | op, 0x80, 0, 0, 0, 0]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
    }

    #[test]
    fn encode_then_parse_every_length_class() {
        for len in [0u64, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 40] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let mut out = [0u8; MAX_HEADER_LEN];
                let n = encode_header(&mut out, true, OpCode::Binary, mask, len);
                let (h, m) = parse_header(&out[..n]).unwrap().unwrap();
                assert_eq!((h.payload_len, h.mask, m), (len, mask, n));
            }
        }
    }

    #[test]
    fn check_enforces_role_and_control_rules() {
        let base = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Ping,
            mask: Some([0; 4]),
            payload_len: 125,
        };
        assert_eq!(base.check(Side::Server), Ok(()));
        assert_eq!(base.check(Side::Client), Err(ProtocolError::BadMasking));
        assert_eq!(
            FrameHeader { mask: None, ..base }.check(Side::Server),
            Err(ProtocolError::BadMasking)
        );
        assert_eq!(
            FrameHeader {
                payload_len: 126,
                ..base
            }
            .check(Side::Server),
            Err(ProtocolError::ControlTooLong)
        );
        assert_eq!(
            FrameHeader { fin: false, ..base }.check(Side::Server),
            Err(ProtocolError::FragmentedControl)
        );
        assert_eq!(
            FrameHeader { rsv: 4, ..base }.check(Side::Server),
            Err(ProtocolError::ReservedBits)
        );
        let huge = FrameHeader {
            opcode: OpCode::Binary,
            payload_len: 1 << 63,
            ..base
        };
        assert_eq!(huge.check(Side::Server), Err(ProtocolError::LengthMsbSet));
    }

    #[test]
    fn close_payload_cuts_on_char_boundary() {
        let reason = "é".repeat(100);
        let p = close_payload(1000, &reason);
        assert!(p.len() <= 125);
        assert!(std::str::from_utf8(&p[2..]).is_ok());
    }
}
