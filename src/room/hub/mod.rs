//! The hub: the parts of the room model put together, and what happens when
//! connections open, join, leave and close. The client requests are in
//! `commands.rs`, moderation in `moderation.rs`, the API's views in
//! `views.rs`. The hub's fields are private to this module and its children;
//! the parts' own state is reached only through their methods.

mod commands;
mod invariants;
mod moderation;
mod views;

pub use moderation::Kick;

use super::clients::{Client, Clients, Membership};
use super::engine::{Completion, Engine};
use super::memory::{MemoryEngine, MemoryLimits};
use super::policy::{Bucket, RateLimit};
use super::protocol::{self, JsonFrame};
use super::rooms::Rooms;
use super::users::Users;
use super::{ConnKey, Net, Now, RoomId, UserId};
use crate::auth::Role;
use crate::config::RoomPolicy;
use crate::ids::valid_name;
use crate::proto::CloseCode;
use serde_json::value::RawValue;
use smallvec::SmallVec;

/// The parts of the configuration the model uses.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Exclusive or multi.
    pub policy: RoomPolicy,
    /// Rooms per connection under the multi policy.
    pub max_rooms_per_connection: usize,
    /// Connections per user.
    pub max_connections_per_user: usize,
    /// Chat messages kept per room.
    pub history_size: usize,
    /// How long an empty room is kept, ms.
    pub room_ttl_ms: u64,
    /// Offline private messages kept per user.
    pub offline_queue: usize,
    /// How long they are kept, ms.
    pub offline_ttl_ms: u64,
    /// Above this many members, presence is a throttled `online` count.
    pub presence_events_max: usize,
    /// Unsent bytes past which a member's room chat is skipped.
    pub drop_threshold: usize,
    /// Told to clients in `welcome`, seconds.
    pub ping_interval_secs: f64,
    /// Requests per second per connection (0: no limit).
    pub rate_per_sec: f64,
    /// Requests in a burst.
    pub rate_burst: u32,
}

impl HubConfig {
    fn rate(&self) -> RateLimit {
        RateLimit {
            per_sec: self.rate_per_sec,
            burst: self.rate_burst,
        }
    }
}

/// What the `/ws` query asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectParams<'a> {
    /// `?user=`.
    pub user: Option<&'a str>,
    /// `?room=`: join at connect.
    pub room: Option<&'a str>,
    /// `?since=`: the last seq seen in `room`.
    pub since: Option<&'a str>,
    /// The role (from the token; `user` without auth).
    pub role: Role,
    /// The only rooms the user may join (the token's `rooms`), if limited.
    pub allowed_rooms: Option<&'a [String]>,
}

/// A `join` (at connect or as a request).
#[derive(Debug, Clone, Copy)]
struct Join<'a> {
    room: &'a str,
    since: Option<u64>,
    epoch: Option<&'a str>,
    id: Option<&'a RawValue>,
}

/// The room model. See the module docs.
pub struct Hub {
    cfg: HubConfig,
    rooms: Rooms,
    users: Users,
    clients: Clients,
    engine: Box<dyn Engine>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("rooms", &self.rooms.len())
            .field("users", &self.users.online())
            .field("clients", &self.clients.len())
            .finish()
    }
}

impl Hub {
    /// An empty hub with the in-process engine.
    pub fn new(cfg: HubConfig) -> Hub {
        let engine = MemoryEngine::new(MemoryLimits {
            history_size: cfg.history_size,
            offline_queue: cfg.offline_queue,
            offline_ttl_ms: cfg.offline_ttl_ms,
        });
        Hub::with_engine(cfg, Box::new(engine))
    }

    /// An empty hub whose shared state lives in `engine`.
    pub fn with_engine(cfg: HubConfig, engine: Box<dyn Engine>) -> Hub {
        Hub {
            cfg,
            rooms: Rooms::default(),
            users: Users::default(),
            clients: Clients::default(),
            engine,
        }
    }

    /// Rooms that exist here (including empty ones within `room_ttl`).
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Users with at least one connection.
    pub fn online_users(&self) -> usize {
        self.users.online()
    }

    /// `/ws` connections known to the model.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// A `/ws` connection opened: check the user, send `welcome`, the
    /// offline messages, then join the room the query named. Returns false
    /// if the connection was refused (and is being closed).
    pub fn open(
        &mut self,
        key: ConnKey,
        conn_id: u64,
        params: ConnectParams<'_>,
        now: Now,
        net: &mut impl Net,
    ) -> bool {
        let anon;
        let name = match params.user {
            Some(u) => u,
            None => {
                anon = format!("anon-{conn_id}");
                &anon
            }
        };
        let Some(uid) = self.admit(key, name, now, net) else {
            return false;
        };
        let allowed_rooms = params
            .allowed_rooms
            .map(|r| Box::new(r.iter().map(|n| n.as_str().into()).collect()));
        let client = Client {
            user: uid,
            rooms: SmallVec::new(),
            role: params.role,
            allowed_rooms,
            bucket: Bucket::full(self.cfg.rate(), now.mono_ms),
        };
        self.clients.insert(key, client);
        let user_json = protocol::quote(name);
        let welcome = JsonFrame::new("welcome")
            .num("conn", conn_id)
            .raw("user", &user_json)
            .num("ts", now.wall_ms)
            .raw("ping_interval", &format_secs(self.cfg.ping_interval_secs))
            .finish();
        net.send(key, &welcome);
        // SPEC §4: stored private messages, oldest first, right after welcome.
        for frame in self.engine.take_offline(name, now) {
            net.send(key, &frame);
        }
        if let Some(room) = params.room {
            let since = match params.since.map(str::parse::<u64>) {
                Some(Ok(s)) => Some(s),
                Some(Err(_)) => {
                    let e = protocol::error("bad_request", "since must be a number", None);
                    net.send(key, &e);
                    return true;
                }
                None => None,
            };
            let join = Join {
                room,
                since,
                epoch: None,
                id: None,
            };
            self.join(key, join, now, net);
        }
        true
    }

    /// The user checks of a new connection; refusals are sent and closed.
    fn admit(&mut self, key: ConnKey, name: &str, now: Now, net: &mut impl Net) -> Option<UserId> {
        let refusal = if !valid_name(name) {
            Some(("unauthorized", "bad user id"))
        } else if self.engine.is_banned(name, None, now) {
            Some(("forbidden", "banned"))
        } else {
            None
        };
        let refusal = refusal.or_else(|| {
            let max = self.cfg.max_connections_per_user;
            match self.users.connect(name, key, max) {
                Ok(_) => None,
                Err(_) => Some((
                    "too_many_connections",
                    "connection limit of this user reached",
                )),
            }
        });
        if let Some((code, reason)) = refusal {
            net.send(key, &protocol::error(code, reason, None));
            net.close(key, CloseCode::POLICY, reason);
            return None;
        }
        self.users.find(name)
    }

    /// The connection is gone (closed, failed, kicked): remove it from every
    /// room and from its user, in this turn.
    pub fn close(&mut self, key: ConnKey, now: Now, net: &mut impl Net) {
        self.leave_all(key, now, net);
        if let Some(client) = self.clients.remove(key) {
            self.users.disconnect(client.user, key);
        }
    }

    fn leave_all(&mut self, key: ConnKey, now: Now, net: &mut impl Net) {
        while let Some(room) = self
            .clients
            .get(key)
            .and_then(|c| c.rooms.first())
            .map(|m| m.room)
        {
            self.leave_room(key, room, now, net);
        }
    }

    /// The user of connection `key`.
    fn user_of(&self, key: ConnKey) -> Option<&super::users::User> {
        self.clients.get(key).and_then(|c| self.users.get(c.user))
    }

    /// `join` (SPEC §2): move or add the connection, answer `joined`, replay.
    fn join(&mut self, key: ConnKey, join: Join<'_>, now: Now, net: &mut impl Net) {
        let id = join.id;
        if !valid_name(join.room) {
            return net.send(key, &protocol::error("bad_request", "bad room name", id));
        }
        let (Some(client), Some(user)) = (self.clients.get(key), self.user_of(key)) else {
            return;
        };
        if !client.may_join(join.room) || self.engine.is_banned(user.name(), Some(join.room), now) {
            let e = protocol::error("forbidden", "not allowed in this room", id);
            return net.send(key, &e);
        }
        let existing = self.rooms.find(join.room);
        if let Some(rid) = existing.filter(|r| client.membership(*r).is_some()) {
            // Already a member: answer again (and replay), change nothing.
            return self.reply_joined(key, rid, join, now, net);
        }
        if !self.make_room_for(key, existing, id, now, net) {
            return;
        }
        let rid = self.rooms.entry(join.room, now.mono_ms);
        let Some(uid) = self.clients.get(key).map(|c| c.user) else {
            return;
        };
        let Some((index, first)) = self.rooms.add(rid, key, uid) else {
            return;
        };
        if let Some(client) = self.clients.get_mut(key) {
            client.rooms.push(Membership {
                room: rid,
                index,
                dropped: 0,
                drop_from: 0,
            });
        }
        if first {
            self.presence_changed(rid, "user_joined", uid, key, net);
        }
        self.reply_joined(key, rid, join, now, net);
    }

    /// Before `key` joins another room: under the exclusive policy the
    /// user's connections elsewhere are moved out (SPEC §2), under multi
    /// the room limit is checked. False if the join is refused (and answered).
    fn make_room_for(
        &mut self,
        key: ConnKey,
        target: Option<RoomId>,
        id: Option<&RawValue>,
        now: Now,
        net: &mut impl Net,
    ) -> bool {
        match self.cfg.policy {
            RoomPolicy::Exclusive => {
                let others: Vec<ConnKey> = self
                    .user_of(key)
                    .map(|u| u.conns().iter().copied().filter(|k| *k != key).collect())
                    .unwrap_or_default();
                for other in others {
                    let elsewhere = self
                        .clients
                        .get(other)
                        .is_some_and(|c| c.rooms.iter().any(|m| Some(m.room) != target));
                    if elsewhere {
                        self.force_out(other, "joined another room", now, net);
                    }
                }
                self.leave_all(key, now, net);
                true
            }
            RoomPolicy::Multi => {
                let full = self
                    .clients
                    .get(key)
                    .is_some_and(|c| c.rooms.len() >= self.cfg.max_rooms_per_connection);
                if full {
                    let e = protocol::error(
                        "too_many_rooms",
                        "room limit of this connection reached",
                        id,
                    );
                    net.send(key, &e);
                }
                !full
            }
        }
    }

    fn reply_joined(
        &mut self,
        key: ConnKey,
        rid: RoomId,
        join: Join<'_>,
        now: Now,
        net: &mut impl Net,
    ) {
        let Some(room) = self.rooms.get(rid) else {
            return;
        };
        let info = self.engine.room_info(room.name(), now);
        let same_epoch = join.epoch.is_none_or(|e| e == &*info.epoch);
        // SPEC §2: recovered when nothing was missed beyond what is replayed.
        let recovered = join
            .since
            .is_some_and(|s| same_epoch && s.saturating_add(1) >= info.oldest);
        let joined = JsonFrame::new("joined")
            .raw("room", room.name_json())
            .num("online", room.online() as u64)
            .num("seq", info.seq)
            .str("epoch", &info.epoch)
            .bool("recovered", recovered)
            .id(join.id)
            .finish();
        net.send(key, &joined);
        if let Some(s) = join.since {
            let after = if same_epoch { Some(s) } else { None };
            for m in self.engine.messages(room.name(), after, usize::MAX) {
                net.send(key, &m.frame);
            }
        }
    }

    /// Remove `key` from room `rid`, with `user_left` if it was the user's
    /// last connection there.
    fn leave_room(&mut self, key: ConnKey, rid: RoomId, now: Now, net: &mut impl Net) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        let Some(pos) = client.rooms.iter().position(|m| m.room == rid) else {
            return;
        };
        let membership = client.rooms.swap_remove(pos);
        let uid = client.user;
        if client.rooms.is_empty() {
            client.rooms = SmallVec::new();
        }
        let Some(left) = self.rooms.remove(rid, membership.index, uid, now.mono_ms) else {
            return;
        };
        if let Some(m) = left
            .moved
            .and_then(|k| self.clients.get_mut(k))
            .and_then(|c| c.membership_mut(rid))
        {
            m.index = membership.index;
        }
        if left.last_of_user && !left.now_empty {
            self.presence_changed(rid, "user_left", uid, key, net);
        }
    }

    /// Tell the members of `rid` that `uid` came or went: one event each in
    /// a small room, a throttled `online` count in a big one.
    fn presence_changed(
        &mut self,
        rid: RoomId,
        kind: &str,
        uid: UserId,
        except: ConnKey,
        net: &mut impl Net,
    ) {
        if self
            .rooms
            .throttle_presence(rid, self.cfg.presence_events_max)
        {
            return;
        }
        let (Some(room), Some(user)) = (self.rooms.get(rid), self.users.get(uid)) else {
            return;
        };
        let frame = JsonFrame::new(kind)
            .raw("room", room.name_json())
            .raw("user", &user.name_json())
            .num("online", room.online() as u64)
            .finish();
        for &member in room.members().iter().filter(|k| **k != except) {
            net.send(member, &frame);
        }
    }

    /// `force_disconnect` with 4001, out of every room, then closed.
    fn force_out(&mut self, key: ConnKey, reason: &str, now: Now, net: &mut impl Net) {
        let frame = JsonFrame::new("force_disconnect")
            .num("code", u64::from(CloseCode::KICKED.0))
            .str("reason", reason)
            .finish();
        net.send(key, &frame);
        self.leave_all(key, now, net);
        net.close(key, CloseCode::KICKED, reason);
    }

    /// Deliver what the engine completed: each published chat to the local
    /// members of its room, in the order the engine numbered them.
    /// Returns the deliveries and seq of the last one.
    fn deliver_completions(&mut self, net: &mut impl Net) -> Option<(usize, u64)> {
        let mut last = None;
        while let Some(completion) = self.engine.poll_completion() {
            match completion {
                Completion::Published { room, message } => {
                    let delivered = self
                        .rooms
                        .find(&room)
                        .map_or(0, |rid| self.fan_out(rid, message.seq, &message.frame, net));
                    last = Some((delivered, message.seq));
                }
            }
        }
        last
    }

    /// Room chat to every member of `rid`, skipping (and counting) members
    /// whose queue is past `drop_threshold` (SPEC §5: droppable, reported
    /// by a `dropped` event once the queue drains).
    fn fan_out(
        &mut self,
        rid: RoomId,
        seq: u64,
        frame: &std::rc::Rc<[u8]>,
        net: &mut impl Net,
    ) -> usize {
        let Some(room) = self.rooms.get(rid) else {
            return 0;
        };
        let mut delivered = 0;
        for &member in room.members() {
            if net.unsent(member) <= self.cfg.drop_threshold {
                net.send(member, frame);
                delivered += 1;
                continue;
            }
            let Some(m) = self
                .clients
                .get_mut(member)
                .and_then(|c| c.membership_mut(rid))
            else {
                continue;
            };
            if m.dropped == 0 {
                m.drop_from = seq;
                net.watch_drain(member);
            }
            m.dropped += 1;
        }
        delivered
    }

    /// `key`'s queue drained under `drop_threshold`: report what it missed.
    pub fn on_drained(&mut self, key: ConnKey, net: &mut impl Net) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        for m in client.rooms.iter_mut().filter(|m| m.dropped > 0) {
            let Some(room) = self.rooms.get(m.room) else {
                continue;
            };
            let frame = JsonFrame::new("dropped")
                .raw("room", room.name_json())
                .num("count", u64::from(m.dropped))
                .num("from_seq", m.drop_from)
                .num("to_seq", m.drop_from + u64::from(m.dropped) - 1)
                .finish();
            m.dropped = 0;
            net.send(key, &frame);
        }
    }

    /// Once a second: throttled `online` events, dropping rooms empty for
    /// `room_ttl`, the engine's expiry. Costs what is pending, not the
    /// number of rooms or users.
    pub fn tick(&mut self, now: Now, net: &mut impl Net) {
        for rid in self.rooms.take_online_changes() {
            let Some(room) = self.rooms.get(rid) else {
                continue;
            };
            let frame = JsonFrame::new("online")
                .raw("room", room.name_json())
                .num("online", room.online() as u64)
                .finish();
            for &member in room.members() {
                net.send(member, &frame);
            }
        }
        for name in self.rooms.expire_empty(now.mono_ms, self.cfg.room_ttl_ms) {
            self.engine.forget_room(&name);
        }
        self.engine.tick(now);
    }
}

/// Seconds as a JSON number: `20` for whole seconds, `0.5` otherwise.
fn format_secs(secs: f64) -> String {
    if secs.fract() == 0.0 && secs.abs() < 1e15 {
        format!("{}", secs as i64)
    } else {
        format!("{secs}")
    }
}
