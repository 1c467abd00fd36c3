//! The hub: every room, user and connection session, and what happens when
//! connections open, join, leave and close (the commands are in `commands.rs`).
//!
//! Indexes go both ways, as in Redis's pub/sub: room → member keys (a
//! `Vec`), and connection → memberships with each one's position in that
//! `Vec`, so leaving is O(1). An empty room is dropped `room_ttl` after it
//! emptied; a user entry lives while it has a connection or an offline message.

use super::json::{self, Event};
use super::rooms::{Room, UserId};
use super::sessions::{Bucket, Membership, Session, Sessions};
use super::users::User;
use super::{ConnKey, Net, Now};
use crate::auth::Role;
use crate::config::RoomPolicy;
use slab::Slab;
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// The longest user id or room name, in bytes: room for any id scheme
/// (UUIDs, paths, JWT subjects), and short enough to copy into every event.
pub const MAX_NAME: usize = 128;

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

/// The room model. See the module docs.
#[derive(Debug)]
pub struct Hub {
    pub(super) cfg: HubConfig,
    pub(super) rooms: Slab<Room>,
    pub(super) room_index: HashMap<Rc<str>, usize>,
    pub(super) users: Slab<User>,
    pub(super) user_index: HashMap<Rc<str>, UserId>,
    pub(super) sessions: Sessions,
    /// Rooms whose throttled `online` count may need announcing.
    online_pending: Vec<usize>,
    /// Rooms that emptied (dropped once `room_ttl` passed).
    empty_rooms: Vec<usize>,
    /// Users holding offline messages (expired by the tick).
    pub(super) with_offline: HashSet<UserId>,
    /// Users with at least one connection (kept, not counted per scrape).
    online_users: usize,
    /// (user, room or "" for everywhere) → until when (monotonic ms).
    pub(super) bans: HashMap<(Box<str>, Box<str>), u64>,
    /// (user, room) → muted until when.
    pub(super) mutes: HashMap<(Box<str>, Box<str>), u64>,
    epoch_counter: u64,
}

/// Whether `name` may be a user id or room name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && !name.chars().any(char::is_control)
}

impl Hub {
    /// An empty hub.
    pub fn new(cfg: HubConfig) -> Hub {
        Hub {
            cfg,
            rooms: Slab::new(),
            room_index: HashMap::new(),
            users: Slab::new(),
            user_index: HashMap::new(),
            sessions: Sessions::default(),
            online_pending: Vec::new(),
            empty_rooms: Vec::new(),
            with_offline: HashSet::new(),
            online_users: 0,
            bans: HashMap::new(),
            mutes: HashMap::new(),
            epoch_counter: 0,
        }
    }

    /// The id of the room called `name`, if it exists.
    pub fn room_id(&self, name: &str) -> Option<usize> {
        self.room_index.get(name).copied()
    }

    /// Rooms that exist (including empty ones within `room_ttl`).
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Users with at least one connection.
    pub fn online_users(&self) -> usize {
        self.online_users
    }

    /// `/ws` connections with a session.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
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
        if !valid_name(name) {
            net.send(key, &json::error("unauthorized", "bad user id", None));
            net.close(key, 1008, "bad user id");
            return false;
        }
        if self.is_banned(name, "", now) {
            net.send(key, &json::error("forbidden", "banned", None));
            net.close(key, 1008, "banned");
            return false;
        }
        let uid = self.user_entry(name);
        let Some(user) = self.users.get_mut(uid) else {
            return false;
        };
        if user.conns.len() >= self.cfg.max_connections_per_user {
            net.send(
                key,
                &json::error(
                    "too_many_connections",
                    "connection limit of this user reached",
                    None,
                ),
            );
            net.close(key, 1008, "too many connections");
            self.drop_user_if_idle(uid);
            return false;
        }
        user.conns.push(key);
        let first_connection = user.conns.len() == 1;
        let allowed_rooms = params
            .allowed_rooms
            .map(|r| Box::new(r.iter().map(|n| n.as_str().into()).collect()));
        let bucket = Bucket {
            tokens: self.cfg.rate_burst as f32,
            last_ms: now.mono_ms as u32,
            refused: 0,
            window_ms: now.mono_ms as u32,
        };
        self.sessions.insert(
            key,
            Session {
                user: uid,
                rooms: SmallVec::new(),
                role: params.role,
                allowed_rooms,
                bucket,
            },
        );
        let welcome = Event::new("welcome")
            .num("conn", conn_id)
            .raw("user", &user.name_json())
            .num("ts", now.wall_ms)
            .raw("ping_interval", &format_secs(self.cfg.ping_interval_secs))
            .finish();
        net.send(key, &welcome);
        // SPEC §4: stored private messages, oldest first, right after welcome.
        user.expire(now.mono_ms);
        for (_, frame) in user.take_offline() {
            net.send(key, &frame);
        }
        self.with_offline.remove(&uid);
        self.online_users += usize::from(first_connection);
        if let Some(room) = params.room {
            let since = match params.since.map(str::parse::<u64>) {
                Some(Ok(s)) => Some(s),
                Some(Err(_)) => {
                    net.send(
                        key,
                        &json::error("bad_request", "since must be a number", None),
                    );
                    return true;
                }
                None => None,
            };
            self.join(key, room, since, None, None, now, net);
        }
        true
    }

    /// The connection is gone (closed, failed, kicked): remove it from every
    /// room and from its user, in this turn.
    pub fn close(&mut self, key: ConnKey, now: Now, net: &mut impl Net) {
        self.leave_all(key, now, net);
        if let Some(session) = self.sessions.remove(&key) {
            if let Some(user) = self.users.get_mut(session.user) {
                let had = !user.conns.is_empty();
                user.conns.retain(|k| *k != key);
                if had && user.conns.is_empty() {
                    self.online_users -= 1;
                }
            }
            self.drop_user_if_idle(session.user);
        }
    }

    fn leave_all(&mut self, key: ConnKey, now: Now, net: &mut impl Net) {
        while let Some(room) = self
            .sessions
            .get(&key)
            .and_then(|s| s.rooms.first())
            .map(|m| m.room)
        {
            self.leave_room(key, room, now, net);
        }
    }

    /// The user connection `key` belongs to.
    pub(super) fn user_of(&self, key: ConnKey) -> Option<&User> {
        self.sessions.get(&key).and_then(|s| self.users.get(s.user))
    }

    pub(super) fn user_entry(&mut self, name: &str) -> UserId {
        if let Some(&uid) = self.user_index.get(name) {
            return uid;
        }
        let user = User::new(name);
        let key = user.name.clone();
        let uid = self.users.insert(user);
        self.user_index.insert(key, uid);
        uid
    }

    fn drop_user_if_idle(&mut self, uid: UserId) {
        if self.users.get(uid).is_some_and(User::is_idle) {
            let user = self.users.remove(uid);
            self.user_index.remove(&user.name);
            self.with_offline.remove(&uid);
        }
    }

    /// The room called `name`, created (empty, with a new epoch) if needed.
    pub(super) fn room_entry(&mut self, name: &str, now: Now) -> usize {
        if let Some(&rid) = self.room_index.get(name) {
            return rid;
        }
        let epoch = self.new_epoch(now);
        let mut room = Room::new(name, epoch);
        room.empty_since = Some(now.mono_ms);
        let rid = self.rooms.insert(room);
        self.empty_rooms.push(rid);
        if let Some(room) = self.rooms.get(rid) {
            self.room_index.insert(room.name.clone(), rid);
        }
        rid
    }

    fn new_epoch(&mut self, now: Now) -> Box<str> {
        let mut bytes = [0u8; 8];
        if getrandom::getrandom(&mut bytes).is_err() {
            // No entropy source: the time and a counter still differ per room.
            self.epoch_counter += 1;
            bytes = (now.wall_ms ^ self.epoch_counter.rotate_left(32)).to_le_bytes();
        }
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_boxed_str()
    }

    /// `join` (SPEC §2): move or add the connection, answer `joined`, replay.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn join(
        &mut self,
        key: ConnKey,
        name: &str,
        since: Option<u64>,
        epoch: Option<&str>,
        id: Option<&serde_json::value::RawValue>,
        now: Now,
        net: &mut impl Net,
    ) {
        if !valid_name(name) {
            return net.send(key, &json::error("bad_request", "bad room name", id));
        }
        let Some(session) = self.sessions.get(&key) else {
            return;
        };
        let uid = session.user;
        let claim_refuses = session
            .allowed_rooms
            .as_ref()
            .is_some_and(|r| !r.iter().any(|n| &**n == name));
        let banned = self
            .users
            .get(uid)
            .is_some_and(|u| self.is_banned(&u.name, name, now));
        if claim_refuses || banned {
            return net.send(
                key,
                &json::error("forbidden", "not allowed in this room", id),
            );
        }
        let existing = self.room_index.get(name).copied();
        if existing.is_some_and(|rid| session.rooms.iter().any(|m| m.room == rid)) {
            // Already a member: answer again (and replay), change nothing.
            return self.reply_joined(key, existing.unwrap_or_default(), since, epoch, id, net);
        }
        match self.cfg.policy {
            RoomPolicy::Exclusive => {
                // The user's other connections in another room are moved out
                // (SPEC §2); this one leaves its room for the new one.
                let others: Vec<ConnKey> = self
                    .users
                    .get(uid)
                    .map(|u| u.conns.to_vec())
                    .unwrap_or_default();
                for other in others.into_iter().filter(|k| *k != key) {
                    let elsewhere = self
                        .sessions
                        .get(&other)
                        .is_some_and(|s| s.rooms.iter().any(|m| Some(m.room) != existing));
                    if elsewhere {
                        self.force_out(other, "joined another room", now, net);
                    }
                }
                self.leave_all(key, now, net);
            }
            RoomPolicy::Multi => {
                if session.rooms.len() >= self.cfg.max_rooms_per_connection {
                    return net.send(
                        key,
                        &json::error(
                            "too_many_rooms",
                            "room limit of this connection reached",
                            id,
                        ),
                    );
                }
            }
        }
        let rid = self.room_entry(name, now);
        let Some(room) = self.rooms.get_mut(rid) else {
            return;
        };
        let (index, first) = room.add(key, uid);
        if let Some(session) = self.sessions.get_mut(&key) {
            session.rooms.push(Membership {
                room: rid,
                index,
                dropped: 0,
                drop_from: 0,
            });
        }
        if first {
            self.presence_changed(rid, "user_joined", uid, key, net);
        }
        self.reply_joined(key, rid, since, epoch, id, net);
    }

    fn reply_joined(
        &mut self,
        key: ConnKey,
        rid: usize,
        since: Option<u64>,
        epoch: Option<&str>,
        id: Option<&serde_json::value::RawValue>,
        net: &mut impl Net,
    ) {
        let Some(room) = self.rooms.get(rid) else {
            return;
        };
        let same_epoch = epoch.is_none_or(|e| e == &*room.epoch);
        // SPEC §2: recovered when nothing was missed beyond what is replayed.
        let recovered =
            since.is_some_and(|s| same_epoch && s.saturating_add(1) >= room.oldest_available());
        let joined = Event::new("joined")
            .raw("room", &room.name_json)
            .num("online", room.online() as u64)
            .num("seq", room.seq)
            .str("epoch", &room.epoch)
            .bool("recovered", recovered)
            .id(id)
            .finish();
        net.send(key, &joined);
        if let Some(s) = since {
            for m in room.history.iter().filter(|m| !same_epoch || m.seq > s) {
                net.send(key, &m.frame);
            }
        }
    }

    /// Remove `key` from room `rid`, with `user_left` if it was the user's
    /// last connection there.
    pub(super) fn leave_room(&mut self, key: ConnKey, rid: usize, now: Now, net: &mut impl Net) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let Some(pos) = session.rooms.iter().position(|m| m.room == rid) else {
            return;
        };
        let membership = session.rooms.swap_remove(pos);
        let uid = session.user;
        if session.rooms.is_empty() {
            session.rooms = SmallVec::new();
        }
        let Some(room) = self.rooms.get_mut(rid) else {
            return;
        };
        let (moved, last) = room.remove(membership.index, uid);
        let now_empty = room.members.is_empty();
        if now_empty {
            room.empty_since = Some(now.mono_ms);
            self.empty_rooms.push(rid);
        }
        if let Some(m) = moved
            .and_then(|k| self.sessions.get_mut(&k))
            .and_then(|s| s.rooms.iter_mut().find(|m| m.room == rid))
        {
            m.index = membership.index;
        }
        if last && !now_empty {
            self.presence_changed(rid, "user_left", uid, key, net);
        }
    }

    /// Tell the members of `rid` that `uid` came or went: one event each in
    /// a small room, a throttled `online` count in a big one.
    fn presence_changed(
        &mut self,
        rid: usize,
        kind: &str,
        uid: UserId,
        except: ConnKey,
        net: &mut impl Net,
    ) {
        let Some(room) = self.rooms.get_mut(rid) else {
            return;
        };
        if room.members.len() > self.cfg.presence_events_max {
            if !room.online_pending {
                room.online_pending = true;
                self.online_pending.push(rid);
            }
            return;
        }
        let Some(user) = self.users.get(uid) else {
            return;
        };
        let frame = Event::new(kind)
            .raw("room", &room.name_json)
            .raw("user", &user.name_json())
            .num("online", room.online() as u64)
            .finish();
        room.online_announced = room.online();
        for &member in room.members.iter().filter(|k| **k != except) {
            net.send(member, &frame);
        }
    }

    /// `force_disconnect` with 4001, out of every room, then closed.
    pub(super) fn force_out(&mut self, key: ConnKey, reason: &str, now: Now, net: &mut impl Net) {
        let frame = Event::new("force_disconnect")
            .num("code", 4001)
            .str("reason", reason)
            .finish();
        net.send(key, &frame);
        self.leave_all(key, now, net);
        net.close(key, 4001, reason);
    }

    /// `key`'s queue drained under `drop_threshold`: report what it missed.
    pub fn on_drained(&mut self, key: ConnKey, net: &mut impl Net) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        for m in session.rooms.iter_mut().filter(|m| m.dropped > 0) {
            let Some(room) = self.rooms.get(m.room) else {
                continue;
            };
            let frame = Event::new("dropped")
                .raw("room", &room.name_json)
                .num("count", u64::from(m.dropped))
                .num("from_seq", m.drop_from)
                .num("to_seq", m.drop_from + u64::from(m.dropped) - 1)
                .finish();
            m.dropped = 0;
            net.send(key, &frame);
        }
    }

    /// Once a second: throttled `online` events, dropping rooms empty for
    /// `room_ttl`, expiring offline messages. Costs what is pending, not
    /// the number of rooms or users.
    pub fn tick(&mut self, now: Now, net: &mut impl Net) {
        for rid in std::mem::take(&mut self.online_pending) {
            let Some(room) = self.rooms.get_mut(rid) else {
                continue;
            };
            room.online_pending = false;
            if room.online() != room.online_announced {
                room.online_announced = room.online();
                let frame = Event::new("online")
                    .raw("room", &room.name_json)
                    .num("online", room.online() as u64)
                    .finish();
                for &member in &room.members {
                    net.send(member, &frame);
                }
            }
        }
        let ttl = self.cfg.room_ttl_ms;
        let mut keep = Vec::new();
        for rid in std::mem::take(&mut self.empty_rooms) {
            let Some(room) = self.rooms.get(rid) else {
                continue;
            };
            match room.empty_since {
                Some(t) if room.members.is_empty() && now.mono_ms >= t.saturating_add(ttl) => {
                    let room = self.rooms.remove(rid);
                    self.room_index.remove(&room.name);
                }
                Some(_) if room.members.is_empty() => keep.push(rid),
                _ => {}
            }
        }
        keep.dedup();
        self.empty_rooms = keep;
        self.bans.retain(|_, until| *until > now.mono_ms);
        self.mutes.retain(|_, until| *until > now.mono_ms);
        let holders: Vec<UserId> = self.with_offline.iter().copied().collect();
        for uid in holders {
            if let Some(user) = self.users.get_mut(uid) {
                user.expire(now.mono_ms);
                if user.offline.is_none() {
                    self.with_offline.remove(&uid);
                    self.drop_user_if_idle(uid);
                }
            } else {
                self.with_offline.remove(&uid);
            }
        }
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
