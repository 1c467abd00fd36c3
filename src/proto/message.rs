//! What the decoder hands out: [`Message`] borrows the decoder or the
//! input; [`Detached`] borrows only the input, or owns what was reassembled.

use super::close::CloseCode;
use super::error::ProtocolError;
use super::frame::OpCode;
use std::borrow::Cow;

/// One event from the peer. Text is already checked to be UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A complete text message.
    Text(&'a str),
    /// A complete binary message.
    Binary(&'a [u8]),
    /// A ping with its application data (to be answered with a pong).
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame: the status code if one was sent, and the reason.
    Close(Option<CloseCode>, &'a str),
    /// A compressed data message (permessage-deflate; RSV1 was set on its
    /// first frame): its opcode and compressed payload, to inflate.
    Compressed(OpCode, &'a [u8]),
}

/// A [`Message`] that does not borrow the decoder: what
/// [`Decoder::next_located`](super::Decoder::next_located) hands out owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detached<'a> {
    /// A complete text message.
    Text(Cow<'a, str>),
    /// A complete binary message.
    Binary(Cow<'a, [u8]>),
    /// A ping with its application data.
    Ping(Cow<'a, [u8]>),
    /// A pong.
    Pong(Cow<'a, [u8]>),
    /// A close frame: the status code if one was sent, and the reason.
    Close(Option<CloseCode>, Cow<'a, str>),
    /// A compressed data message: its opcode and compressed payload.
    Compressed(OpCode, Cow<'a, [u8]>),
}

/// A whole message (or control frame) in the caller's input, unmasked:
/// its payload is `input[start..end]`. Nothing is checked beyond the frame
/// header: text is checked for UTF-8, and a close payload parsed, by
/// whoever borrows it (once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Text, Binary, or a control opcode.
    pub opcode: OpCode,
    /// Where the payload starts in the input.
    pub start: usize,
    /// Where it ends.
    pub end: usize,
    /// RSV1 was set: the payload is compressed (permessage-deflate) and
    /// must be inflated before it is read (text is then checked).
    pub compressed: bool,
}

/// Where [`Decoder::next_located`](super::Decoder::next_located) found a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// A text or binary message whole in the input.
    Input(Span),
    /// A message handed out owned.
    Owned(Detached<'static>),
}

impl<'a> From<Message<'a>> for Detached<'a> {
    fn from(m: Message<'a>) -> Self {
        match m {
            Message::Text(t) => Detached::Text(Cow::Borrowed(t)),
            Message::Binary(b) => Detached::Binary(Cow::Borrowed(b)),
            Message::Ping(b) => Detached::Ping(Cow::Borrowed(b)),
            Message::Pong(b) => Detached::Pong(Cow::Borrowed(b)),
            Message::Close(c, r) => Detached::Close(c, Cow::Borrowed(r)),
            Message::Compressed(op, b) => Detached::Compressed(op, Cow::Borrowed(b)),
        }
    }
}

impl Detached<'_> {
    /// The same message, owning its bytes.
    pub fn into_owned(self) -> Detached<'static> {
        match self {
            Detached::Text(t) => Detached::Text(Cow::Owned(t.into_owned())),
            Detached::Binary(b) => Detached::Binary(Cow::Owned(b.into_owned())),
            Detached::Ping(b) => Detached::Ping(Cow::Owned(b.into_owned())),
            Detached::Pong(b) => Detached::Pong(Cow::Owned(b.into_owned())),
            Detached::Close(c, r) => Detached::Close(c, Cow::Owned(r.into_owned())),
            Detached::Compressed(op, b) => Detached::Compressed(op, Cow::Owned(b.into_owned())),
        }
    }

    /// A reassembled data message, taking its buffer.
    pub(super) fn from_owned(
        opcode: OpCode,
        payload: Vec<u8>,
    ) -> Result<Detached<'static>, ProtocolError> {
        match opcode {
            // §8.1: checked as it arrived; this check cannot fail, and costs
            // what one pass over a reassembled message costs.
            OpCode::Text => String::from_utf8(payload)
                .map(|t| Detached::Text(Cow::Owned(t)))
                .map_err(|_| ProtocolError::InvalidUtf8),
            _ => Ok(Detached::Binary(Cow::Owned(payload))),
        }
    }
}

/// Turn a complete payload into a message, checking what its opcode requires.
pub(super) fn to_message(opcode: OpCode, payload: &[u8]) -> Result<Message<'_>, ProtocolError> {
    Ok(match opcode {
        // §8.1: text must be valid UTF-8 (the check is fast for a whole slice).
        OpCode::Text => {
            Message::Text(std::str::from_utf8(payload).map_err(|_| ProtocolError::InvalidUtf8)?)
        }
        OpCode::Binary | OpCode::Continuation => Message::Binary(payload),
        OpCode::Ping => Message::Ping(payload),
        OpCode::Pong => Message::Pong(payload),
        OpCode::Close => match payload {
            [] => Message::Close(None, ""),
            // §5.5.1: a body, if present, starts with a 2-byte status code.
            [_] => return Err(ProtocolError::BadClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::BadCloseCode(code.0));
                }
                // §5.5.1: the reason "is not guaranteed to be human readable"
                // but it is UTF-8-encoded data; invalid UTF-8 is 1007.
                let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                Message::Close(Some(code), reason)
            }
        },
    })
}
