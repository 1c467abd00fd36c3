//! The decoder's stateless fast path: a whole frame that is a whole
//! message, found in the caller's input with no decoder state at all.

use super::error::ProtocolError;
use super::frame::{parse_header, OpCode, Side};
use super::mask::apply_mask;
use super::message::Span;

/// The stateless fast path, for a connection with nothing in progress
/// (the common case: uWebSockets' parser keeps no state either): when
/// the next frame is whole in `input` and is a whole message (a final
/// data frame or a control frame), unmask it where it lies and say
/// where, without a `Decoder` (a small return value: this is the path
/// of nearly every message).
/// `deflate`: permessage-deflate was negotiated (RSV1 may mark a
/// compressed message; [`Span::compressed`] says so).
/// `Ok(None)`: not that case, and nothing was consumed; feed a `Decoder`.
#[inline]
pub fn next_whole(
    side: Side,
    deflate: bool,
    max_message_size: usize,
    input: &mut [u8],
    pos: &mut usize,
) -> Result<Option<Span>, ProtocolError> {
    let Some((header, n)) = parse_header(input.get(*pos..).unwrap_or_default())? else {
        return Ok(None);
    };
    header.check_with(side, deflate)?;
    let opcode = header.opcode;
    // A continuation here has no message to continue, and a non-final
    // fragment starts one: the decoder reports or keeps them.
    if !(opcode.is_control() || (header.fin && opcode != OpCode::Continuation)) {
        return Ok(None);
    }
    if !opcode.is_control() && header.payload_len > max_message_size as u64 {
        return Err(ProtocolError::MessageTooBig);
    }
    let start = *pos + n; // n <= input.len() - *pos: parse_header found it
    let Some(end) = usize::try_from(header.payload_len)
        .ok()
        .and_then(|len| start.checked_add(len))
    else {
        return Ok(None);
    };
    let Some(payload) = input.get_mut(start..end) else {
        return Ok(None);
    };
    if let Some(key) = header.mask {
        apply_mask(payload, key, 0);
    }
    *pos = end;
    Ok(Some(Span {
        opcode,
        start,
        end,
        compressed: header.rsv & 0b100 != 0,
    }))
}
