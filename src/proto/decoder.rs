//! The frame decoder: bytes in, messages and control frames out.
//!
//! The caller owns the input: [`Decoder::next_message`] unmasks frames in
//! place and hands a whole message out as a slice of the input when it
//! arrived in one piece (the common case: nothing is copied). Only what spans
//! reads is kept here: at most a partial header (inline, 14 bytes) and the
//! payload received so far of an unfinished message or control frame, which
//! grows with the bytes that really arrived and is checked against
//! `max_message_size` before it grows. Once a buffered message has been
//! handed out, the buffer is freed, so an idle connection holds no heap.
//!
//! After the first error every later call returns the same error.

use super::error::ProtocolError;
pub use super::frame::Side;
use super::frame::{header_len, parse_header, FrameHeader, OpCode, MAX_HEADER_LEN};
use super::mask::apply_mask;
use super::message::to_message;
pub use super::message::{Detached, Located, Message, Span};

/// Where the message found by one step lies.
enum Found {
    /// Complete in the caller's input, already unmasked (compressed if
    /// `Decoder::found_compressed`).
    Input(OpCode, usize, usize),
    /// Reassembled in `self.message` (a data message; compressed if
    /// `Decoder::found_compressed`).
    Message(OpCode),
    /// Collected in `self.control` (a control frame that spanned reads).
    Control(OpCode),
}

/// The frame being received when its payload spans reads.
#[derive(Debug, Clone, Copy)]
struct Streaming {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    remaining: u64,
    /// Bytes of this frame's payload already unmasked (the mask offset).
    done: u64,
}

/// Decodes the frames of one connection. See the module docs.
#[derive(Debug)]
pub struct Decoder {
    side: Side,
    max_message_size: usize,
    /// Bytes of a header that arrived split.
    head: [u8; MAX_HEADER_LEN],
    head_len: u8,
    /// The opcode (Text or Binary) of the message in progress, if any.
    message_opcode: Option<OpCode>,
    /// permessage-deflate was negotiated: RSV1 may mark a compressed message.
    deflate: bool,
    /// The message in progress is compressed (its UTF-8 is checked once
    /// inflated, by the caller).
    message_compressed: bool,
    /// The data message just found is compressed (kept out of [`Found`],
    /// whose size the small-frame path feels).
    found_compressed: bool,
    /// The frame whose payload is being received, if its header is done.
    streaming: Option<Streaming>,
    /// The payload of the message in progress (only when it spans frames or reads).
    message: Vec<u8>,
    /// How much of `message` is known to be valid UTF-8 (text only).
    utf8_valid: usize,
    /// The payload of a control frame that spans reads.
    control: Vec<u8>,
    /// `message`/`control` were handed out and are freed at the next call.
    release: bool,
    /// The peer's close frame was received: nothing may follow it.
    close_received: bool,
    failed: Option<ProtocolError>,
}

impl Decoder {
    /// A decoder for frames received in `side`, refusing messages over `max_message_size`.
    pub fn new(side: Side, max_message_size: usize) -> Decoder {
        Decoder {
            side,
            max_message_size,
            head: [0; MAX_HEADER_LEN],
            head_len: 0,
            message_opcode: None,
            deflate: false,
            message_compressed: false,
            found_compressed: false,
            streaming: None,
            message: Vec::new(),
            utf8_valid: 0,
            control: Vec::new(),
            release: false,
            close_received: false,
            failed: None,
        }
    }

    /// The same decoder for a connection that negotiated permessage-deflate
    /// (RFC 7692) if `on`: compressed messages are handed out as
    /// [`Message::Compressed`] for the caller to inflate.
    pub fn with_deflate(mut self, on: bool) -> Decoder {
        self.deflate = on;
        self
    }

    /// True when no frame or message is partly received: a read that ends
    /// here leaves nothing behind.
    pub fn is_idle(&self) -> bool {
        self.head_len == 0 && self.streaming.is_none() && self.message_opcode.is_none()
    }

    /// Heap bytes this decoder holds right now.
    pub fn buffered_capacity(&self) -> usize {
        self.message.capacity() + self.control.capacity()
    }

    /// Decode the next message from `input[*pos..]`, advancing `*pos` past
    /// what was consumed. `Ok(None)`: every byte was consumed and more are
    /// needed. Payload in `input` is unmasked in place.
    pub fn next_message<'a>(
        &'a mut self,
        input: &'a mut [u8],
        pos: &mut usize,
    ) -> Result<Option<Message<'a>>, ProtocolError> {
        let result = match self.next_found(input, pos)? {
            None => return Ok(None),
            Some(Found::Input(opcode, start, end)) if self.found_compressed => Ok(
                Message::Compressed(opcode, input.get(start..end).unwrap_or_default()),
            ),
            Some(Found::Input(opcode, start, end)) => {
                to_message(opcode, input.get(start..end).unwrap_or_default())
            }
            Some(Found::Message(opcode)) if self.found_compressed => {
                self.release = true;
                Ok(Message::Compressed(opcode, &self.message))
            }
            Some(Found::Message(opcode)) => {
                self.release = true;
                to_message(opcode, &self.message)
            }
            Some(Found::Control(opcode)) => {
                self.release = true;
                to_message(opcode, &self.control)
            }
        };
        match result {
            Ok(Message::Close(..)) => self.close_received = true,
            Ok(_) => {}
            // The borrow of `self` in `result` ends here; record the failure.
            Err(err) => {
                self.failed = Some(err);
                return Err(err);
            }
        }
        result.map(Some)
    }

    /// Like [`Decoder::next_message`], for a caller that must let go of the
    /// decoder (and the input) before it knows what to do with a message.
    /// A data message that arrived whole is located in `input`, unmasked but
    /// not yet checked for UTF-8 (the caller checks it once); anything
    /// else is handed out owned: a message reassembled across reads is
    /// moved out of the reassembly buffer (which was about to be freed: no
    /// copy), a control frame (at most 125 bytes) is copied.
    pub fn next_located(
        &mut self,
        input: &mut [u8],
        pos: &mut usize,
    ) -> Result<Option<Located>, ProtocolError> {
        let result = match self.next_found(input, pos)? {
            None => return Ok(None),
            Some(Found::Input(opcode, start, end)) if !opcode.is_control() => {
                return Ok(Some(Located::Input(Span {
                    opcode,
                    start,
                    end,
                    compressed: self.found_compressed,
                })))
            }
            Some(Found::Input(opcode, start, end)) => {
                to_message(opcode, input.get(start..end).unwrap_or_default())
                    .map(|m| Detached::from(m).into_owned())
            }
            Some(Found::Message(opcode)) if self.found_compressed => Ok(Detached::Compressed(
                opcode,
                std::borrow::Cow::Owned(std::mem::take(&mut self.message)),
            )),
            Some(Found::Message(opcode)) => {
                Detached::from_owned(opcode, std::mem::take(&mut self.message))
            }
            Some(Found::Control(opcode)) => {
                self.release = true;
                to_message(opcode, &self.control).map(|m| Detached::from(m).into_owned())
            }
        };
        match &result {
            Ok(Detached::Close(..)) => self.close_received = true,
            Ok(_) => {}
            Err(err) => self.failed = Some(*err),
        }
        result.map(|m| Some(Located::Owned(m)))
    }

    /// The step shared by both ways of handing messages out: the sticky
    /// failure, freeing what was handed out last time, then decoding.
    fn next_found(
        &mut self,
        input: &mut [u8],
        pos: &mut usize,
    ) -> Result<Option<Found>, ProtocolError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if self.release {
            self.release = false;
            self.release_buffers();
        }
        self.step(input, pos).map_err(|err| self.fail(err))
    }

    fn fail(&mut self, err: ProtocolError) -> ProtocolError {
        self.failed = Some(err);
        self.message = Vec::new();
        self.control = Vec::new();
        err
    }

    fn release_buffers(&mut self) {
        if self.streaming.is_none_or(|s| s.opcode.is_control()) && self.message_opcode.is_none() {
            self.message = Vec::new();
        }
        if self.streaming.is_none_or(|s| !s.opcode.is_control()) {
            self.control = Vec::new();
        }
    }

    fn step(&mut self, input: &mut [u8], pos: &mut usize) -> Result<Option<Found>, ProtocolError> {
        loop {
            if let Some(frame) = self.streaming {
                match self.stream_payload(frame, input, pos)? {
                    Some(found) => return Ok(Some(found)),
                    // The input ran out inside the frame.
                    None if self.streaming.is_some() => return Ok(None),
                    // A fragment ended without ending its message: go on.
                    None => continue,
                }
            }
            let rest = input.get(*pos..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(None);
            }
            if self.close_received {
                // §5.5.1: "The application MUST NOT send any more data frames
                // after sending a Close frame." Nothing may follow it.
                return Err(ProtocolError::DataAfterClose);
            }
            let Some(header) = self.read_header(input, pos)? else {
                return Ok(None);
            };
            self.check_sequence(&header)?;
            // Fast path: a whole message or control frame in the input.
            let available = input.len().saturating_sub(*pos) as u64;
            let whole_message =
                header.opcode.is_control() || (header.fin && header.opcode != OpCode::Continuation);
            if whole_message && available >= header.payload_len {
                let start = *pos;
                let end = start + header.payload_len as usize; // <= input.len(), checked above
                if let (Some(key), Some(payload)) = (header.mask, input.get_mut(start..end)) {
                    apply_mask(payload, key, 0);
                }
                *pos = end;
                self.found_compressed = header.rsv & 0b100 != 0;
                return Ok(Some(Found::Input(header.opcode, start, end)));
            }
            self.start_streaming(&header);
            if header.payload_len == 0 {
                // An empty frame that does not finish a message (e.g. a
                // non-final empty fragment, or an empty final continuation).
                if let Some(found) = self.finish_frame(header.opcode, header.fin)? {
                    return Ok(Some(found));
                }
            }
        }
    }

    /// The next frame header: parsed in place when it is whole in the
    /// input (the common case), else gathered in `self.head` across reads.
    fn read_header(
        &mut self,
        input: &[u8],
        pos: &mut usize,
    ) -> Result<Option<FrameHeader>, ProtocolError> {
        if self.head_len == 0 {
            let rest = input.get(*pos..).unwrap_or_default();
            return Ok(match parse_header(rest)? {
                Some((header, n)) => {
                    *pos += n;
                    Some(header)
                }
                None => {
                    self.stash_header_bytes(input, pos);
                    None
                }
            });
        }
        self.stash_header_bytes(input, pos);
        let stashed = self
            .head
            .get(..usize::from(self.head_len))
            .unwrap_or_default();
        Ok(parse_header(stashed)?.map(|(header, _)| {
            self.head_len = 0;
            header
        }))
    }

    /// Copy header bytes from the input into `self.head`, no more than the
    /// header needs (its length is known from the second byte).
    fn stash_header_bytes(&mut self, input: &[u8], pos: &mut usize) {
        let have = usize::from(self.head_len);
        let need = match (self.head.first(), self.head.get(1)) {
            (_, Some(b1)) if have >= 2 => header_len(*b1),
            _ => 2,
        };
        let rest = input.get(*pos..).unwrap_or_default();
        let take = need.saturating_sub(have).min(rest.len());
        if let (Some(dst), Some(src)) = (self.head.get_mut(have..have + take), rest.get(..take)) {
            dst.copy_from_slice(src);
        }
        self.head_len = (have + take) as u8;
        *pos += take;
        if self.head_len == 2 && take > 0 && rest.len() > take {
            // Now the full length is known: take the rest of the header too.
            self.stash_header_bytes(input, pos);
        }
    }

    /// RFC 6455 §5.4 and §5.5: header rules, the order of fragments, and our size limit.
    fn check_sequence(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        header.check_with(self.side, self.deflate)?;
        match header.opcode {
            OpCode::Text | OpCode::Binary => {
                // §5.4: fragments of one message may not be interleaved with another.
                if self.message_opcode.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if header.payload_len > self.max_message_size as u64 {
                    return Err(ProtocolError::MessageTooBig);
                }
            }
            OpCode::Continuation => {
                if self.message_opcode.is_none() {
                    return Err(ProtocolError::UnexpectedContinuation);
                }
                // The limit holds after reassembly, however the message is cut.
                let total = (self.message.len() as u64).checked_add(header.payload_len);
                if total.is_none_or(|t| t > self.max_message_size as u64) {
                    return Err(ProtocolError::MessageTooBig);
                }
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => {}
        }
        Ok(())
    }

    fn start_streaming(&mut self, header: &FrameHeader) {
        if matches!(header.opcode, OpCode::Text | OpCode::Binary) {
            self.message_opcode = Some(header.opcode);
            self.message_compressed = header.rsv & 0b100 != 0;
            self.utf8_valid = 0;
        }
        self.streaming = Some(Streaming {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            remaining: header.payload_len,
            done: 0,
        });
    }

    fn stream_payload(
        &mut self,
        mut frame: Streaming,
        input: &mut [u8],
        pos: &mut usize,
    ) -> Result<Option<Found>, ProtocolError> {
        let rest = input.get_mut(*pos..).unwrap_or_default();
        let take = usize::try_from(frame.remaining)
            .unwrap_or(usize::MAX)
            .min(rest.len());
        let chunk = rest.get_mut(..take).unwrap_or_default();
        if let Some(key) = frame.mask {
            apply_mask(chunk, key, (frame.done % 4) as usize);
        }
        *pos += take;
        frame.remaining -= take as u64;
        frame.done += take as u64;
        self.streaming = Some(frame);
        if frame.opcode.is_control() {
            self.control.extend_from_slice(chunk);
        } else {
            self.message.extend_from_slice(chunk);
            if self.message_opcode == Some(OpCode::Text) && !self.message_compressed {
                self.check_utf8_so_far()?;
            }
        }
        if frame.remaining > 0 {
            return Ok(None);
        }
        self.finish_frame(frame.opcode, frame.fin)
    }

    /// The current frame's payload is complete.
    fn finish_frame(&mut self, opcode: OpCode, fin: bool) -> Result<Option<Found>, ProtocolError> {
        self.streaming = None;
        if opcode.is_control() {
            return Ok(Some(Found::Control(opcode)));
        }
        if !fin {
            return Ok(None);
        }
        let message_opcode = self.message_opcode.take().unwrap_or(OpCode::Binary);
        let compressed = std::mem::take(&mut self.message_compressed);
        if message_opcode == OpCode::Text && !compressed && self.utf8_valid != self.message.len() {
            // The message ends inside a UTF-8 sequence.
            return Err(ProtocolError::InvalidUtf8);
        }
        self.found_compressed = compressed;
        Ok(Some(Found::Message(message_opcode)))
    }

    /// Fail fast (§8.1): an invalid sequence fails the connection as soon as
    /// it arrives, not when the message ends. Only the unchecked tail is read.
    fn check_utf8_so_far(&mut self) -> Result<(), ProtocolError> {
        let tail = self.message.get(self.utf8_valid..).unwrap_or_default();
        match std::str::from_utf8(tail) {
            Ok(_) => self.utf8_valid = self.message.len(),
            // An incomplete sequence at the end may still be completed.
            Err(e) if e.error_len().is_none() => self.utf8_valid += e.valid_up_to(),
            Err(_) => return Err(ProtocolError::InvalidUtf8),
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;
