//! The WebSocket wire protocol, sans I/O.
//!
//! Rule of this layer: **no sockets, no clock, no allocation that a peer can
//! size without a limit check first.** Bytes go in, events come out; every
//! error says what to answer the peer with (an HTTP status or a close code).
//! That is what makes it fuzzable byte by byte (see `fuzz/` and [`fuzzing`]).

mod clock;
mod close;
mod decoder;
pub mod deflate;
mod error;
pub mod frame;
pub mod fuzzing;
pub(crate) mod handshake;
pub mod mask;
mod message;
pub mod session;
mod whole;

pub use close::CloseCode;
pub use decoder::Decoder;
pub use error::{HandshakeError, ProtocolError};
pub use frame::Side;
pub use frame::{FrameHeader, OpCode};
pub use message::{Detached, Located, Message, Span};
pub use whole::next_whole;
