//! The room model: rooms, users, their connections, history and recovery,
//! offline messages and presence (SPEC §2 and §4).
//!
//! Rule of this layer: **no sockets and no clock.** Time comes in as
//! [`Now`]; connections are slab keys, and everything the model says to
//! them goes through [`Net`]. That keeps it testable (and fuzzable) without
//! a loop: see the tests in `hub.rs` and the `rooms_ops` fuzz target.

mod api;
mod commands;
pub mod fuzzing;
pub mod hub;
mod invariants;
pub mod json;
mod moderation;
mod rooms;
mod sessions;
mod users;

pub use hub::{ConnectParams, Hub, HubConfig};

/// A connection's key in the server's slab.
pub type ConnKey = usize;

/// The time, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    /// Monotonic milliseconds (deadlines).
    pub mono_ms: u64,
    /// Milliseconds since the Unix epoch (the `ts` of messages).
    pub wall_ms: u64,
}

/// What the model needs from the connections it does not own.
pub trait Net {
    /// Queue `frame` for `key`; never dropped (the server closes a
    /// connection whose queue passes `max_backpressure` with 4003).
    fn send(&mut self, key: ConnKey, frame: &std::rc::Rc<[u8]>);
    /// Bytes queued for `key` and not yet written.
    fn unsent(&self, key: ConnKey) -> usize;
    /// Close `key` with `code` once what is queued was written.
    fn close(&mut self, key: ConnKey, code: u16, reason: &str);
    /// Call [`Hub::on_drained`] once `key`'s queue is back under `drop_threshold`.
    fn watch_drain(&mut self, key: ConnKey);
}
