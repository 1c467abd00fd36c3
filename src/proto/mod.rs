//! The WebSocket wire protocol, sans I/O.
//!
//! Rule of this layer: **no sockets, no clock, no allocation that a peer can
//! size without a limit check first.** Bytes go in, events come out; every
//! error says what to answer the peer with (an HTTP status or a close code).
//! That is what makes it fuzzable byte by byte (see `fuzz/` and [`fuzzing`]).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod close;
pub mod decoder;
pub mod error;
pub mod frame;
pub mod fuzzing;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod session;

pub use close::CloseCode;
pub use decoder::Decoder;
pub use error::{HandshakeError, ProtocolError};
pub use frame::Side;
pub use frame::{FrameHeader, OpCode};
pub use message::{Detached, Located, Message};
