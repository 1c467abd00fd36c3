//! Errors of the wire layer, split by what the server answers with.
//!
//! [`ProtocolError`]: the peer broke RFC 6455 on an open connection; the
//! answer is a close frame with [`ProtocolError::close_code`].
//! [`HandshakeError`]: the peer's request head cannot be read or cannot open
//! a WebSocket; the answer is an HTTP status with [`HandshakeError::status`]. "Need more bytes" is never an
//! error: parsers return `Ok(None)` for it.

use super::close::CloseCode;
use std::fmt;

/// A violation of RFC 6455 by the peer (or a limit of ours it exceeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// RSV1-3 set without a negotiated extension (§5.2).
    ReservedBits,
    /// Opcode 3-7 or 11-15 (§5.2).
    ReservedOpcode(u8),
    /// A client frame without mask, or a server frame with one (§5.1).
    BadMasking,
    /// A control frame with FIN clear (§5.5).
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload (§5.5).
    ControlTooLong,
    /// The 64-bit length has its most significant bit set (§5.2).
    LengthMsbSet,
    /// A continuation frame with no message in progress (§5.4).
    UnexpectedContinuation,
    /// A new data frame while a fragmented message is in progress (§5.4).
    ExpectedContinuation,
    /// A text message (or close reason) that is not valid UTF-8 (§8.1).
    InvalidUtf8,
    /// A close frame with a 1-byte payload (§5.5.1).
    BadClosePayload,
    /// A close frame with a status code that may not be sent (§7.4).
    BadCloseCode(u16),
    /// The message (after reassembly) would exceed `max_message_size`.
    MessageTooBig,
    /// A frame arrived after the peer's close frame (§5.5.1).
    DataAfterClose,
    /// A compressed message that does not inflate (RFC 7692 §7.2.2).
    BadCompressedData,
}

impl ProtocolError {
    /// The close code to send when failing the connection for this error.
    pub fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::BadCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::MessageTooBig => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBits => f.write_str("reserved bits set"),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op}"),
            ProtocolError::BadMasking => f.write_str("wrong masking for this role"),
            ProtocolError::FragmentedControl => f.write_str("fragmented control frame"),
            ProtocolError::ControlTooLong => f.write_str("control frame over 125 bytes"),
            ProtocolError::LengthMsbSet => f.write_str("64-bit length with MSB set"),
            ProtocolError::UnexpectedContinuation => f.write_str("continuation without a message"),
            ProtocolError::ExpectedContinuation => {
                f.write_str("new message inside a fragmented one")
            }
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8"),
            ProtocolError::BadClosePayload => f.write_str("close payload of 1 byte"),
            ProtocolError::BadCloseCode(c) => write!(f, "close code {c} may not be sent"),
            ProtocolError::MessageTooBig => f.write_str("message too big"),
            ProtocolError::DataAfterClose => f.write_str("frame after close"),
            ProtocolError::BadCompressedData => f.write_str("compressed data does not inflate"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Why a request head cannot be read, or cannot open a WebSocket
/// (RFC 6455 §4.2.1), with the status RFC 6455 and RFC 9110 call for.
/// What the application answers to other requests is the server's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// Malformed request line or headers, or a bad WebSocket handshake.
    BadRequest(&'static str),
    /// An upgrade that is not a GET (§4.2.1 item 1).
    MethodNotAllowed,
    /// The request line is longer than the line limit.
    UriTooLong,
    /// `Sec-WebSocket-Version` is not 13, or no `Upgrade` at all (§4.2.2:
    /// answer 426 and name 13).
    UpgradeRequired,
    /// A header line, the head as a whole or the header count is over its limit.
    HeadersTooLarge,
    /// Not HTTP/1.1 where an upgrade needs it.
    VersionNotSupported,
}

impl HandshakeError {
    /// The HTTP status code of the answer.
    pub fn status(self) -> u16 {
        match self {
            HandshakeError::BadRequest(_) => 400,
            HandshakeError::MethodNotAllowed => 405,
            HandshakeError::UriTooLong => 414,
            HandshakeError::UpgradeRequired => 426,
            HandshakeError::HeadersTooLarge => 431,
            HandshakeError::VersionNotSupported => 505,
        }
    }

    /// A short reason for the answer's body.
    pub fn reason(self) -> &'static str {
        match self {
            HandshakeError::BadRequest(why) => why,
            HandshakeError::MethodNotAllowed => "method not allowed",
            HandshakeError::UriTooLong => "request line too long",
            HandshakeError::UpgradeRequired => "unsupported websocket version",
            HandshakeError::HeadersTooLarge => "request headers too large",
            HandshakeError::VersionNotSupported => "http version not supported",
        }
    }

    /// Headers the answer must carry: §4.2.2 asks a 426 to name the
    /// versions we speak.
    pub fn extra_headers(self) -> &'static str {
        match self {
            HandshakeError::UpgradeRequired => "Sec-WebSocket-Version: 13\r\n",
            _ => "",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status(), self.reason())
    }
}

impl std::error::Error for HandshakeError {}
