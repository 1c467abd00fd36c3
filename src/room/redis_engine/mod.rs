//! The Redis engine (SPEC §7): every node's rooms share seq, history and
//! epochs, offline inboxes, bans and mutes through one Redis, so any
//! number of roomcast processes act as one server.
//!
//! It is sans-IO like the codec: the server's loop owns its two TCP
//! connections (link 0 pipelines commands, link 1 carries pub/sub) and
//! hands it bytes ([`Remote`]); it answers the hub through
//! [`Completion`]s. A room with local members is mirrored here
//! (`mirror.rs`): joins, `history` and recovery are answered from
//! the mirror, which pub/sub keeps in seq order and history reads fill.
//! Room chat goes to Redis first (the `PUBLISH` script numbers and stores
//! it) and reaches members here when its publication comes back, as it
//! reaches every other node's.

pub mod fuzzing;
mod links;
mod mirror;
mod presence;
mod pubsub;
mod restrictions;
mod rooms;
mod scripts;
mod users;

use super::engine::{
    Completion, Engine, OverCapacity, Publication, Readiness, Remote, RetractError, RoomInfo,
    Stored, Unavailable, Usage,
};
use super::Now;
use crate::redis::{encode_command, Decoder, RedisUrl};
use mirror::Mirror;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// Link 0: commands, pipelined.
const CMD: usize = 0;
/// Link 1: SUBSCRIBE and what it brings.
const SUB: usize = 1;
/// The largest reply read from Redis (a history of big messages fits).
const MAX_REPLY: usize = 512 << 20;

/// What the engine needs to know.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Where Redis is.
    pub url: RedisUrl,
    /// Prefix of every key and channel.
    pub prefix: String,
    /// Chat messages kept per room.
    pub history_size: usize,
    /// How long a room's keys live without activity, ms.
    pub room_ttl_ms: u64,
    /// Private messages kept per offline user.
    pub offline_queue: usize,
    /// How long an inbox lives after its last message, ms.
    pub offline_ttl_ms: u64,
    /// Bans and mutes at most.
    pub max_bans: usize,
    /// Commands waiting for their reply at most (past it: `unavailable`).
    pub max_in_flight: usize,
    /// How long this node's presence outlives it, ms.
    pub node_ttl_ms: u64,
}

/// What a subscribed channel carries.
#[derive(Debug, Clone)]
enum Chan {
    Room(Rc<str>),
    User(Rc<str>),
}

/// A reply the command link owes, in the order the commands went out.
#[derive(Debug)]
enum Pending {
    /// Nothing to do with it (an error is logged).
    Ignore,
    /// AUTH, SELECT, SCRIPT LOAD: an error means this Redis cannot serve.
    Setup,
    Publish {
        ticket: Option<u64>,
    },
    Sync {
        room: Rc<str>,
    },
    Bans,
    Inbox {
        user: Rc<str>,
    },
    Private {
        ticket: u64,
    },
    Admit {
        ticket: u64,
    },
    UserInfo {
        ticket: u64,
        user: Rc<str>,
    },
    Kicked {
        ticket: u64,
    },
    Rooms {
        ticket: u64,
    },
}

#[derive(Debug)]
struct Link {
    connected: bool,
    out: Vec<u8>,
    decoder: Decoder,
}

impl Link {
    fn new() -> Link {
        Link {
            connected: false,
            out: Vec::new(),
            decoder: Decoder::new(MAX_REPLY),
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct RedisEngine {
    s: RedisSettings,
    shas: [String; 11],
    links: [Link; 2],
    pending: VecDeque<Pending>,
    rooms: HashMap<Rc<str>, Mirror>,
    channels: HashMap<Box<[u8]>, Chan>,
    /// Users with connections here, and how many.
    users: HashMap<Rc<str>, usize>,
    next_presence_ms: u64,
    /// Both links have been up at least once.
    ever_up: bool,
    completions: VecDeque<Completion>,
    /// Ban and mute fields (`b|m \x1f user \x1f room`) → until, wall ms.
    restrictions: HashMap<Box<str>, u64>,
    refused: u64,
    /// wall − mono ms, as last seen (bans come with mono deadlines).
    wall_offset: u64,
    node: Box<str>,
    next_refresh_ms: u64,
    epoch_counter: u64,
}

fn random_hex(counter: &mut u64, now: Now) -> Rc<str> {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        *counter += 1;
        bytes = (now.wall_ms ^ counter.rotate_left(32)).to_le_bytes();
    }
    Rc::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl RedisEngine {
    /// An engine that will use the connections the server makes.
    pub fn new(s: RedisSettings) -> RedisEngine {
        let mut counter = 0;
        let node = random_hex(&mut counter, Now::default());
        RedisEngine {
            s,
            shas: scripts::all().map(|(_, sha)| sha),
            links: [Link::new(), Link::new()],
            pending: VecDeque::new(),
            rooms: HashMap::new(),
            channels: HashMap::new(),
            users: HashMap::new(),
            next_presence_ms: 0,
            ever_up: false,
            completions: VecDeque::new(),
            restrictions: HashMap::new(),
            refused: 0,
            wall_offset: 0,
            node: Box::from(&*node),
            next_refresh_ms: 0,
            epoch_counter: counter,
        }
    }

    /// An epoch for a room that has none: this node's random id and a
    /// counter, unique across nodes without a random draw (a syscall) per
    /// message; the scripts use it only when they create a room's log.
    fn next_epoch(&mut self) -> String {
        self.epoch_counter += 1;
        format!("{}{:x}", self.node, self.epoch_counter)
    }

    fn key(&self, tag: &str, what: &str) -> String {
        format!("{}:{{{tag}}}:{what}", self.s.prefix)
    }

    fn ctl_channel(&self) -> String {
        format!("{}:ctl", self.s.prefix)
    }

    fn bans_key(&self) -> String {
        format!("{}:bans", self.s.prefix)
    }

    fn up(&self) -> bool {
        self.links.iter().all(|l| l.connected)
    }

    fn send(&mut self, link: usize, args: &[&[u8]], pending: Option<Pending>) {
        if let Some(l) = self.links.get_mut(link) {
            encode_command(&mut l.out, args);
        }
        if let Some(p) = pending {
            self.pending.push_back(p);
        }
    }

    fn cmd(&mut self, args: &[&[u8]], pending: Pending) {
        self.send(CMD, args, Some(pending));
    }

    /// `EVALSHA sha <keys> <keys...> <args...>` on the command link.
    fn evalsha(&mut self, sha: &str, keys: &[&[u8]], args: &[&[u8]], pending: Pending) {
        let n = keys.len().to_string();
        let mut all: Vec<&[u8]> = Vec::with_capacity(3 + keys.len() + args.len());
        all.extend([b"EVALSHA".as_slice(), sha.as_bytes(), n.as_bytes()]);
        all.extend_from_slice(keys);
        all.extend_from_slice(args);
        self.cmd(&all, pending);
    }

    fn has_room_in_flight(&self) -> bool {
        self.up() && self.pending.len() < self.s.max_in_flight
    }

    fn sha(&self, i: usize) -> String {
        self.shas.get(i).cloned().unwrap_or_default()
    }

    fn subscribe(&mut self, room: &str) {
        let ch = self.key(room, "ch");
        self.send(SUB, &[b"SUBSCRIBE", ch.as_bytes()], None);
    }
}

impl Engine for RedisEngine {
    fn room_info(&mut self, room: &str, _now: Now) -> RoomInfo {
        self.rooms.get(room).map_or(
            RoomInfo {
                epoch: Rc::from(""),
                seq: 0,
                oldest: 1,
                stored: 0,
            },
            Mirror::info,
        )
    }

    fn prepare(&mut self, room: &str, now: Now) -> Readiness {
        self.prepare_room(room, now)
    }

    fn publish(&mut self, p: Publication<'_>, now: Now) -> Result<(), Unavailable> {
        self.publish_message(p, now)
    }

    fn poll_completion(&mut self) -> Option<Completion> {
        self.completions.pop_front()
    }

    fn messages(&self, room: &str, since: Option<u64>, limit: usize) -> Vec<Stored> {
        self.rooms
            .get(room)
            .map(|m| m.messages(since, limit))
            .unwrap_or_default()
    }

    fn retract(
        &mut self,
        room: &str,
        seq: u64,
        by: &str,
        moderator: bool,
    ) -> Result<(), RetractError> {
        self.retract_message(room, seq, by, moderator)
    }

    fn forget_room(&mut self, room: &str) {
        if self.rooms.remove(room).is_none() {
            return;
        }
        let ch = self.key(room, "ch");
        self.channels.remove(ch.as_bytes());
        if self.links[SUB].connected {
            self.send(SUB, &[b"UNSUBSCRIBE", ch.as_bytes()], None);
        }
    }

    fn store_offline(&mut self, user: &str, frame: Rc<[u8]>, _now: Now) -> bool {
        if self.s.offline_queue == 0 || !self.has_room_in_flight() {
            return false;
        }
        let json = links::payload(&frame);
        let key = self.key(&format!("u:{user}"), "inbox");
        let (keep, ttl) = (
            format!("-{}", self.s.offline_queue),
            self.s.offline_ttl_ms.to_string(),
        );
        self.cmd(&[b"RPUSH", key.as_bytes(), json], Pending::Ignore);
        self.cmd(
            &[b"LTRIM", key.as_bytes(), keep.as_bytes(), b"-1"],
            Pending::Ignore,
        );
        self.cmd(
            &[b"PEXPIRE", key.as_bytes(), ttl.as_bytes()],
            Pending::Ignore,
        );
        true
    }

    fn take_offline(&mut self, user: &str, _now: Now) -> Vec<Rc<[u8]>> {
        if self.has_room_in_flight() {
            let key = self.key(&format!("u:{user}"), "inbox");
            let sha = self.sha(3);
            self.evalsha(
                &sha,
                &[key.as_bytes()],
                &[],
                Pending::Inbox {
                    user: Rc::from(user),
                },
            );
        }
        Vec::new()
    }

    fn ban(
        &mut self,
        user: &str,
        room: Option<&str>,
        until_ms: u64,
        now: Now,
    ) -> Result<(), OverCapacity> {
        self.wall_offset = now.wall_ms.saturating_sub(now.mono_ms);
        self.restrict(Self::restriction_field('b', user, room), until_ms)
    }

    fn is_banned(&self, user: &str, room: Option<&str>, now: Now) -> bool {
        self.restricted(&Self::restriction_field('b', user, room), now)
    }

    fn mute(
        &mut self,
        user: &str,
        room: &str,
        until_ms: u64,
        now: Now,
    ) -> Result<(), OverCapacity> {
        self.wall_offset = now.wall_ms.saturating_sub(now.mono_ms);
        self.restrict(Self::restriction_field('m', user, Some(room)), until_ms)
    }

    fn is_muted(&self, user: &str, room: &str, now: Now) -> bool {
        self.restricted(&Self::restriction_field('m', user, Some(room)), now)
    }

    fn tick(&mut self, now: Now) {
        self.wall_offset = now.wall_ms.saturating_sub(now.mono_ms);
        self.expire_restrictions(now);
        self.refresh_presence(now);
        self.keep_rooms_alive(now);
    }

    fn usage(&self) -> Usage {
        Usage {
            restrictions: self.restrictions.len(),
            restrictions_refused: self.refused,
            ..Usage::default()
        }
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    fn is_up(&self) -> bool {
        self.up()
    }

    fn kick_elsewhere(&mut self, user: &str, room: Option<&str>, reason: &str) {
        let msg = format!(
            "K\x1f{}\x1f{user}\x1f{}\x1f{reason}",
            self.node,
            room.unwrap_or("")
        );
        self.ctl_publish(&msg);
    }

    fn broadcast_elsewhere(&mut self, frame: &Rc<[u8]>) {
        let json = String::from_utf8_lossy(links::payload(frame));
        let msg = format!("A\x1f{}\x1f{json}", self.node);
        self.ctl_publish(&msg);
    }

    fn moved_elsewhere(&mut self, user: &str, room: &str) {
        let msg = format!("X\x1f{}\x1f{user}\x1f{room}", self.node);
        self.ctl_publish(&msg);
    }

    fn member_here(&mut self, room: &str, user: &str, conns: u32) -> Option<usize> {
        self.set_member_here(room, user, conns)
    }

    fn presence(&self, room: &str) -> Option<Vec<(Rc<str>, u32)>> {
        self.rooms.get(room).map(Mirror::presence)
    }

    fn admit(&mut self, user: &str, max: usize, ticket: u64) -> Option<Result<(), Unavailable>> {
        Some(self.send_admit(user, max, ticket))
    }

    fn rooms_info(&mut self, ticket: u64, now: Now) -> Option<Result<(), Unavailable>> {
        Some(self.send_rooms_info(ticket, now))
    }

    fn count_kicked(
        &mut self,
        user: &str,
        room: Option<&str>,
        ticket: u64,
    ) -> Option<Result<(), Unavailable>> {
        Some(self.send_count_kicked(user, room, ticket))
    }

    fn user_info(&mut self, user: &str, ticket: u64) -> Option<Result<(), Unavailable>> {
        Some(self.send_user_info(user, ticket))
    }

    fn user_here(&mut self, user: &str, count: usize) {
        self.set_user_here(user, count);
    }

    fn route_private(
        &mut self,
        to: &str,
        frame: &Rc<[u8]>,
        ticket: u64,
    ) -> Option<Result<(), Unavailable>> {
        Some(self.send_private(to, frame, ticket))
    }

    fn remote(&mut self) -> Option<&mut dyn Remote> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
