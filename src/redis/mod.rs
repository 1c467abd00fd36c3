//! Talking to Redis without I/O: the URL, commands framed as RESP arrays
//! and replies decoded from whatever bytes have arrived (the codec is the
//! `redis-protocol` crate's). The server owns the sockets; the engine in
//! `room::redis_engine` decides what to send.

mod codec;
mod url;

pub use codec::{encode_command, DecodeError, Decoder, Reply};
pub use url::RedisUrl;
