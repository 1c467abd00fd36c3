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

/// Stored messages, oldest first: with `since`, the first `limit` after
/// it; without, the last `limit` (what [`Engine::messages`] answers).
pub fn select(
    history: &std::collections::VecDeque<Stored>,
    since: Option<u64>,
    limit: usize,
) -> Vec<Stored> {
    match since {
        Some(s) => history
            .iter()
            .filter(|m| m.seq > s)
            .take(limit)
            .cloned()
            .collect(),
        None => history
            .iter()
            .skip(history.len().saturating_sub(limit))
            .cloned()
            .collect(),
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
    /// Who waits for the seq (an API request), answered with
    /// [`Completion::Acked`] by an engine that answers later.
    pub ticket: Option<u64>,
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
    /// A room asked for with [`Engine::prepare`] is ready: joins may go on.
    RoomReady(Rc<str>),
    /// It could not be made ready (the engine is down): joins get `unavailable`.
    RoomFailed(Rc<str>),
    /// A publication with a ticket was stored (`seq: None`: it may not
    /// have been; the requester is told `unavailable`).
    Acked {
        /// The publication's ticket.
        ticket: u64,
        /// Its seq, and the room's connections on every node then
        /// (what `delivered` counts).
        seq: Option<(u64, usize)>,
    },
    /// A message was retracted on another node: local members are told.
    Retracted {
        /// The room.
        room: Rc<str>,
        /// The message.
        seq: u64,
    },
    /// Stored private messages taken for `user` (oldest first).
    Offline {
        /// Whose.
        user: Rc<str>,
        /// The frames.
        frames: Vec<Rc<[u8]>>,
    },
    /// A private message for `user`, from any node: to its connections here.
    Private {
        /// To whom.
        user: Rc<str>,
        /// The frame.
        frame: Rc<[u8]>,
    },
    /// A routed private was delivered to this many connections in all, or
    /// stored (`None`: it may not have been; the sender is told `unavailable`).
    PrivateAcked {
        /// The private's ticket.
        ticket: u64,
        /// (connections delivered to, stored).
        result: Option<(usize, bool)>,
    },
    /// A broadcast from another node: to every connection here.
    Broadcast(Rc<[u8]>),
    /// `user` joined `room` on another node under the exclusive policy:
    /// their connections here in other rooms are moved out.
    Moved {
        /// Who.
        user: Rc<str>,
        /// Where to.
        room: Rc<str>,
    },
    /// The answer to [`Engine::admit`]: `Some(false)` if the user has
    /// `max_connections_per_user` on every node already; `None` if Redis
    /// could not say (the hub then checks this node only).
    Admitted {
        /// The admission's ticket.
        ticket: u64,
        /// Whether the connection may open.
        admitted: Option<bool>,
    },
    /// The JSON answer to an API request the engine answers (`None`: it
    /// could not; 503).
    Answer {
        /// The request's ticket.
        ticket: u64,
        /// The answer.
        json: Option<String>,
    },
    /// Room presence changed somewhere in the cluster.
    Presence {
        /// The room.
        room: Rc<str>,
        /// Whose.
        user: Rc<str>,
        /// `Some(true)`: the user's first connection in the room anywhere
        /// (`user_joined`); `Some(false)`: the last one gone (`user_left`);
        /// `None`: only a count changed.
        joined: Option<bool>,
        /// Distinct users in the room on every node now.
        online: usize,
    },
    /// Another node kicked `user` (from `room`, or everywhere).
    Kick {
        /// Whom.
        user: Rc<str>,
        /// Where from (`None`: every room, and the connections close).
        room: Option<Rc<str>>,
        /// Told to the user.
        reason: Rc<str>,
    },
}

/// Whether a room's state is here to join it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Yes: [`Engine::room_info`] and [`Engine::messages`] answer for it.
    Ready,
    /// Asked for: a [`Completion::RoomReady`] or `RoomFailed` follows.
    Pending,
    /// The engine cannot reach its state now.
    Unavailable,
}

/// The engine cannot take the request now (SPEC §7: `unavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// An engine whose state is across TCP connections the server's loop
/// owns: the server connects, reads and writes; the engine only sees bytes
/// (sans-IO, as quinn-proto).
pub trait Remote {
    /// `host:port` to connect to.
    fn addr(&self) -> String;
    /// How many connections (links) it wants.
    fn links(&self) -> usize;
    /// Link `link` is connected: queue what a new connection sends first.
    fn on_connected(&mut self, link: usize, now: Now);
    /// Bytes read from `link`; an error means the link must be dropped.
    fn on_bytes(&mut self, link: usize, bytes: &[u8], now: Now) -> Result<(), String>;
    /// `link` is gone: everything in flight on it has failed.
    fn on_lost(&mut self, link: usize, now: Now);
    /// Bytes to write on `link` (the server takes what it writes).
    fn output(&mut self, link: usize) -> &mut Vec<u8>;
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
    /// The engine cannot reach the history now.
    Unavailable,
}

/// The state an engine keeps. See the module docs.
pub trait Engine {
    /// The room's log, created (seq 0, a new epoch) if it has none.
    fn room_info(&mut self, room: &str, now: Now) -> RoomInfo;
    /// Number, store and publish a chat; the answer is a [`Completion`].
    fn publish(&mut self, publication: Publication<'_>, now: Now) -> Result<(), Unavailable>;
    /// Make `room`'s log ready to join (an engine that mirrors remote
    /// state subscribes and loads it first).
    fn prepare(&mut self, _room: &str, _now: Now) -> Readiness {
        Readiness::Ready
    }
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
    fn ban(
        &mut self,
        user: &str,
        room: Option<&str>,
        until_ms: u64,
        now: Now,
    ) -> Result<(), OverCapacity>;
    /// Whether `user` may not be in `room` (`None`: connect at all) now.
    fn is_banned(&self, user: &str, room: Option<&str>, now: Now) -> bool;
    /// Refuse `user`'s chat in `room` until `until_ms`.
    fn mute(&mut self, user: &str, room: &str, until_ms: u64, now: Now)
        -> Result<(), OverCapacity>;
    /// Whether `user` may not chat in `room` now.
    fn is_muted(&self, user: &str, room: &str, now: Now) -> bool;

    /// Periodic expiry (offline messages, bans, mutes): costs what is due.
    fn tick(&mut self, now: Now);

    /// What the engine holds against its budgets (SPEC §6).
    fn usage(&self) -> Usage;

    /// Its name in logs and `/metrics`.
    fn name(&self) -> &'static str {
        "memory"
    }
    /// Whether it can serve requests that need its state (`/readyz`).
    fn is_up(&self) -> bool {
        true
    }
    /// `/api/rooms` on every node: answered by [`Completion::Answer`] for
    /// `ticket`. `None`: the hub answers.
    fn rooms_info(&mut self, _ticket: u64, _now: Now) -> Option<Result<(), Unavailable>> {
        None
    }
    /// How many connections a kick of `user` (from `room`) reaches on
    /// every node: answered by [`Completion::Answer`] (`{"kicked":n}`) for
    /// `ticket`. `None`: the hub's own count is the answer.
    fn count_kicked(
        &mut self,
        _user: &str,
        _room: Option<&str>,
        _ticket: u64,
    ) -> Option<Result<(), Unavailable>> {
        None
    }
    /// `/api/users/{user}` on every node: answered by
    /// [`Completion::Answer`] for `ticket`. `None`: the hub answers.
    fn user_info(&mut self, _user: &str, _ticket: u64) -> Option<Result<(), Unavailable>> {
        None
    }
    /// Count a new connection of `user` against `max` on every node:
    /// answered by [`Completion::Admitted`] for `ticket`. `None`: the
    /// engine does not count across nodes (the hub checks here).
    fn admit(&mut self, _user: &str, _max: usize, _ticket: u64) -> Option<Result<(), Unavailable>> {
        None
    }
    /// `user` has `conns` connections in `room` here now. An engine that
    /// shares presence answers the room's online count on every node (its
    /// events follow as [`Completion::Presence`], for this node too);
    /// `None`: presence is this process's own (the hub announces it).
    fn member_here(&mut self, _room: &str, _user: &str, _conns: u32) -> Option<usize> {
        None
    }
    /// The room's users on every node and their connections, if shared.
    fn presence(&self, _room: &str) -> Option<Vec<(Rc<str>, u32)>> {
        None
    }
    /// `user` has `count` connections here now (0: none left).
    fn user_here(&mut self, _user: &str, _count: usize) {}
    /// Route a private to every connection of `to` on every node (or its
    /// inbox): answered with [`Completion::PrivateAcked`] for `ticket`.
    /// `None`: the engine does not route; the hub delivers here.
    fn route_private(
        &mut self,
        _to: &str,
        _frame: &Rc<[u8]>,
        _ticket: u64,
    ) -> Option<Result<(), Unavailable>> {
        None
    }
    /// Tell the other nodes about a broadcast sent here.
    fn broadcast_elsewhere(&mut self, _frame: &Rc<[u8]>) {}
    /// Tell the other nodes that `user` joined `room` (exclusive policy).
    fn moved_elsewhere(&mut self, _user: &str, _room: &str) {}
    /// Tell the other nodes that `user` was kicked (from `room`).
    fn kick_elsewhere(&mut self, _user: &str, _room: Option<&str>, _reason: &str) {}
    /// Its connections, if its state is remote.
    fn remote(&mut self) -> Option<&mut dyn Remote> {
        None
    }
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
