//! The engine: the room state that may live outside this process, so that
//! several roomcast processes can share it (SPEC §7). Local membership (who
//! is connected here, in which room) never leaves the loop; what an engine
//! keeps is what every node must agree on: each room's `seq`, epoch and
//! history, the offline inboxes, bans and mutes.
//!
//! Publishing is a request whose answer comes back as a [`Completion`],
//! polled by the hub and fanned out to local members by one code path, in
//! `seq` order. [`MemoryEngine`](super::MemoryEngine) completes at once; an
//! engine backed by Redis answers in a later turn (its script assigns the
//! seq and stores the message; the publication comes back over pub/sub).
//! The reads below are answered at once by the memory engine; an engine
//! that must ask over the network answers them from what it holds for
//! rooms with local members, or turns them into requests the same way.

use super::Now;
use std::rc::Rc;

/// A chat message kept in a room's history, exactly as it was delivered.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its seq.
    pub seq: u64,
    /// Its author (retract by author).
    pub author: Rc<str>,
    /// The delivered frame (replayed as is).
    pub frame: Rc<[u8]>,
    /// Where the JSON starts in `frame` (for `history` replies).
    pub json_at: u8,
}

impl Stored {
    /// The message's JSON text.
    pub fn json(&self) -> &str {
        std::str::from_utf8(
            self.frame
                .get(usize::from(self.json_at)..)
                .unwrap_or_default(),
        )
        .unwrap_or("{}")
    }
}

/// A room message to number, store and publish: a `chat`, or an
/// application event such as `gift` (from the API).
#[derive(Debug, Clone, Copy)]
pub struct Publication<'a> {
    /// Its `type`: `chat`, or an application event name.
    pub kind: &'a str,
    /// The room.
    pub room: &'a str,
    /// The room as a JSON string literal.
    pub room_json: &'a str,
    /// The author's id (kept for retract).
    pub author: &'a Rc<str>,
    /// The author as a JSON string literal (the `from` field).
    pub from_json: &'a str,
    /// The `data`, raw JSON.
    pub data: &'a str,
}

/// What an engine answers, polled with [`Engine::poll_completion`].
#[derive(Debug, Clone)]
pub enum Completion {
    /// A message got its seq and was stored: deliver it to local members.
    Published {
        /// The room.
        room: Rc<str>,
        /// The stored message (its frame is what members get).
        message: Stored,
        /// Room chat may be skipped for a member that is behind; an
        /// application event never is.
        droppable: bool,
    },
}

/// What a joining client needs to know about a room's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    /// The epoch (a random string fixed when the room's log was created).
    pub epoch: Rc<str>,
    /// The last seq given out (0 for a new room).
    pub seq: u64,
    /// The seq of the oldest message a client could still get: the oldest
    /// stored, or the next to come when nothing is stored.
    pub oldest: u64,
    /// Messages stored.
    pub stored: usize,
}

/// Why a retract was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetractError {
    /// No message with that seq is stored.
    NotFound,
    /// Only the author or a moderator may retract it.
    NotAuthor,
}

/// The state an engine keeps. See the module docs.
pub trait Engine {
    /// The room's log, created (seq 0, a new epoch) if it has none.
    fn room_info(&mut self, room: &str, now: Now) -> RoomInfo;
    /// Number, store and publish a chat; the answer is a [`Completion`].
    fn publish(&mut self, publication: Publication<'_>, now: Now);
    /// The next answer to a request, in order.
    fn poll_completion(&mut self) -> Option<Completion>;
    /// Stored messages, oldest first: with `since`, the first `limit`
    /// after it; without, the last `limit`.
    fn messages(&self, room: &str, since: Option<u64>, limit: usize) -> Vec<Stored>;
    /// Remove message `seq` of `room` from history, if `by` may.
    fn retract(
        &mut self,
        room: &str,
        seq: u64,
        by: &str,
        moderator: bool,
    ) -> Result<(), RetractError>;
    /// The room is gone here (empty for `room_ttl`): an engine that keeps
    /// logs in-process drops its log; a shared one lets its own TTL act.
    fn forget_room(&mut self, room: &str);

    /// Keep a private message for `user` until `now + offline_ttl`; false
    /// when it is not stored (`offline_queue = 0`, or `max_offline_bytes`).
    fn store_offline(&mut self, user: &str, frame: Rc<[u8]>, now: Now) -> bool;
    /// Take `user`'s stored private messages, oldest first.
    fn take_offline(&mut self, user: &str, now: Now) -> Vec<Rc<[u8]>>;

    /// Ban `user` from `room` (`None`: from connecting) until `until_ms`.
    fn ban(&mut self, user: &str, room: Option<&str>, until_ms: u64) -> Result<(), OverCapacity>;
    /// Whether `user` may not be in `room` (`None`: connect at all) now.
    fn is_banned(&self, user: &str, room: Option<&str>, now: Now) -> bool;
    /// Refuse `user`'s chat in `room` until `until_ms`.
    fn mute(&mut self, user: &str, room: &str, until_ms: u64) -> Result<(), OverCapacity>;
    /// Whether `user` may not chat in `room` now.
    fn is_muted(&self, user: &str, room: &str, now: Now) -> bool;

    /// Periodic expiry (offline messages, bans, mutes): costs what is due.
    fn tick(&mut self, now: Now);

    /// What the engine holds against its budgets (SPEC §6).
    fn usage(&self) -> Usage;
}

/// There is no room for another ban or mute (`max_bans`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverCapacity;

/// What an engine holds against its budgets, and what the budgets cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of stored history.
    pub history_bytes: usize,
    /// History messages evicted to stay within `max_history_bytes`.
    pub history_evicted: u64,
    /// Bytes of offline inboxes.
    pub offline_bytes: usize,
    /// Private messages not stored for `max_offline_bytes`.
    pub offline_refused: u64,
    /// Bans and mutes.
    pub restrictions: usize,
    /// Bans and mutes refused for `max_bans`.
    pub restrictions_refused: u64,
}
