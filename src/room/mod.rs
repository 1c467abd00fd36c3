//! The room model: rooms, users, their connections, history and recovery,
//! offline messages and presence (SPEC §2 and §4).
//!
//! Rule of this layer: **no sockets and no clock.** Time comes in as
//! [`Now`]; connections are [`ConnKey`]s, and everything the model says to
//! them goes through [`Net`]. The parts each own one kind of state behind a
//! narrow API:
//! - `rooms`: local membership (who is in which room here),
//!   the empty-room list, throttled `online` counts;
//! - `users`: a user's local connections;
//! - `clients`: per connection: its user, memberships,
//!   role and rate bucket;
//! - `engine`: state that may live elsewhere (seq, epochs, history,
//!   offline inboxes, bans and mutes); `memory` keeps it in-process;
//! - `protocol`: requests in, events out (JSON written once per message).
//!
//! The [`Hub`] composes them; its commands are in `hub/`.

mod clients;
pub(crate) mod engine;
pub mod fuzzing;
mod hub;
pub(crate) mod memory;
mod policy;
pub(crate) mod protocol;
pub(crate) mod redis_engine;
/// The body of the `redis_replies` fuzz target.
pub use redis_engine::fuzzing::fuzz_redis_replies;
mod rooms;
mod users;

pub use hub::{
    ConnectParams, Hub, HubConfig, Kick, Posted, Query, Refusal, Refused, RoomEvent, Sent,
};

use crate::proto::CloseCode;
use std::rc::Rc;

/// A connection's key in the server's slab (reused after removal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey(pub usize);

/// A room's index in `rooms::Rooms` (local to this process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(usize);

/// A user's index in `users::Users` (local to this process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(usize);

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
    fn send(&mut self, key: ConnKey, frame: &Rc<[u8]>);
    /// Queue a batch frame holding `messages` room chats for `key` (as
    /// [`Net::send`]; the count is for the server's statistics).
    fn send_batch(&mut self, key: ConnKey, frame: &Rc<[u8]>, messages: usize) {
        let _ = messages;
        self.send(key, frame);
    }
    /// Queue a reply the server makes itself (a replay after `since`,
    /// `history`, `presence`, offline delivery): written as the socket
    /// drains, in order, and never a reason for 4003 (SPEC §5).
    fn send_reply(&mut self, key: ConnKey, frame: &Rc<[u8]>);
    /// Whether replies queued with [`Net::send_reply`] are still waiting.
    fn replies_pending(&self, key: ConnKey) -> bool;
    /// Whether `key`'s queue is past `drop_threshold`, or it is still
    /// catching up on replies (SPEC §5): room chat to it is then skipped
    /// and reported with `dropped`. The threshold is the server's to apply.
    fn is_behind(&self, key: ConnKey) -> bool;
    /// Close `key` with `code` once what is queued was written.
    fn close(&mut self, key: ConnKey, code: CloseCode, reason: &str);
    /// Call [`Hub::on_drained`] once `key`'s queue is back under `drop_threshold`.
    fn watch_drain(&mut self, key: ConnKey);
}
