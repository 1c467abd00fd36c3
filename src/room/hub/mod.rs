//! The hub: the parts of the room model put together, and what happens when
//! connections open, join, leave and close. The client requests are in
//! `commands.rs`, moderation in `moderation.rs`, the API's views in
//! `views.rs`. The hub's fields are private to this module and its children;
//! the parts' own state is reached only through their methods.

mod batches;
mod commands;
mod delivery;
mod invariants;
mod membership;
mod moderation;
mod queries;
mod remote;
mod views;

pub use moderation::{Kick, Refusal};
pub use remote::{Ack, Posted, Query, Sent};
pub use views::RoomEvent;

use super::clients::{Client, Clients};
use super::engine::Engine;
use super::memory::{MemoryEngine, MemoryLimits};
use super::policy::{Bucket, RateLimit};
use super::protocol::{self, JsonFrame};
use super::rooms::Rooms;
use super::users::Users;
use super::{ConnKey, Net, Now, UserId};
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
    /// Told to clients in `welcome`, seconds.
    pub ping_interval_secs: f64,
    /// Requests per second per connection (0: no limit).
    pub rate_per_sec: f64,
    /// Requests in a burst.
    pub rate_burst: u32,
    /// How deep `data` may nest.
    pub max_json_depth: usize,
    /// Rooms at most (a join that would create one more gets `over_capacity`).
    pub max_rooms: usize,
    /// Bytes of history in all rooms.
    pub max_history_bytes: usize,
    /// Bytes of offline inboxes in all.
    pub max_offline_bytes: usize,
    /// Bans and mutes in all.
    pub max_bans: usize,
    /// Messages replayed after `since` at most.
    pub max_replay: usize,
    /// How long room chat for batching members is collected, ms (0: no batching).
    pub batch_window_ms: u64,
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
    /// `?epoch=`: the epoch of `room` that `since` belongs to.
    pub epoch: Option<&'a str>,
    /// The role (from the token; `user` without auth).
    pub role: Role,
    /// The only rooms the user may join (the token's `rooms`), if limited.
    pub allowed_rooms: Option<&'a [String]>,
    /// `?batch=1`: the client reads JSON arrays of messages (SPEC §8).
    pub batch: bool,
}

/// A `join` (at connect or as a request).
#[derive(Debug, Clone, Copy)]
struct Join<'a> {
    room: &'a str,
    since: Option<u64>,
    epoch: Option<&'a str>,
    id: Option<&'a RawValue>,
}

/// Requests the model refused, by reason (for `/metrics`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Refused {
    /// Joins and publishes that would have created a room past `max_rooms`.
    pub max_rooms: u64,
    /// Frames refused by the rate limit.
    pub rate_limited: u64,
    /// Room chat skipped for members that were behind (SPEC §5).
    pub chat_dropped: u64,
}

/// The room model. See the module docs.
pub struct Hub {
    cfg: HubConfig,
    refused: Refused,
    rooms: Rooms,
    users: Users,
    clients: Clients,
    engine: Box<dyn Engine>,
    batches: batches::Batches,
    parked: Vec<remote::ParkedJoin>,
    acks: Vec<Ack>,
    tickets: u64,
    waiters: std::collections::HashMap<u64, remote::Waiter>,
    pending_opens: std::collections::HashMap<u64, remote::PendingOpen>,
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
            max_history_bytes: cfg.max_history_bytes,
            offline_queue: cfg.offline_queue,
            offline_ttl_ms: cfg.offline_ttl_ms,
            max_offline_bytes: cfg.max_offline_bytes,
            max_bans: cfg.max_bans,
        });
        Hub::with_engine(cfg, Box::new(engine))
    }

    /// An empty hub whose shared state lives in `engine`.
    pub fn with_engine(cfg: HubConfig, engine: Box<dyn Engine>) -> Hub {
        Hub {
            cfg,
            refused: Refused::default(),
            rooms: Rooms::default(),
            users: Users::default(),
            clients: Clients::default(),
            engine,
            batches: batches::Batches::default(),
            parked: Vec::new(),
            acks: Vec::new(),
            tickets: 0,
            waiters: std::collections::HashMap::new(),
            pending_opens: std::collections::HashMap::new(),
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

    /// The user id of connection `key`.
    pub fn user_name(&self, key: ConnKey) -> Option<&str> {
        self.user_of(key).map(|u| &**u.name())
    }

    /// What the engine holds against its budgets.
    pub fn usage(&self) -> crate::room::engine::Usage {
        self.engine.usage()
    }

    /// Whether a room called `name` could exist: it does, or there is room
    /// for one more under `max_rooms`.
    fn has_room_for(&mut self, name: &str) -> bool {
        let ok = self.rooms.find(name).is_some() || self.rooms.len() < self.cfg.max_rooms;
        if !ok {
            self.refused.max_rooms += 1;
        }
        ok
    }

    /// Requests refused, by reason.
    pub fn refused(&self) -> Refused {
        self.refused
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
                anon = crate::ids::anonymous_user();
                &anon
            }
        };
        // An engine that counts connections on every node answers later.
        if valid_name(name) && name != crate::ids::SYSTEM {
            let ticket = self.next_ticket();
            let max = self.cfg.max_connections_per_user;
            if let Some(Ok(())) = self.engine.admit(name, max, ticket) {
                let pending = remote::PendingOpen::new(key, conn_id, name, &params);
                self.pending_opens.insert(ticket, pending);
                return true;
            }
        }
        self.open_admitted(key, conn_id, name, params, now, net)
    }

    /// [`Hub::open`] once the user may connect (as far as the engine knows).
    fn open_admitted(
        &mut self,
        key: ConnKey,
        conn_id: u64,
        name: &str,
        params: ConnectParams<'_>,
        now: Now,
        net: &mut impl Net,
    ) -> bool {
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
            batch: params.batch && self.cfg.batch_window_ms > 0,
            allowed_rooms,
            bucket: Bucket::full(self.cfg.rate(), now.mono_ms),
        };
        self.clients.insert(key, client);
        let user_json = protocol::quote(name);
        let welcome = JsonFrame::new("welcome")
            .num("conn", conn_id)
            .raw("user", &user_json)
            .num("ts", now.wall_ms)
            .raw("ping_interval", &format_secs(self.cfg.ping_interval_secs));
        let welcome = if params.batch && self.cfg.batch_window_ms > 0 {
            welcome.num("batch_window_ms", self.cfg.batch_window_ms)
        } else {
            welcome
        }
        .finish();
        net.send(key, &welcome);
        // SPEC §4: stored private messages, oldest first, right after welcome.
        for frame in self.engine.take_offline(name, now) {
            net.send_reply(key, &frame);
        }
        if let Some(room) = params.room {
            self.join_at_connect(key, room, params, now, net);
        }
        true
    }

    /// `?room=` (with `?since=` and `?epoch=`): a `join` as the query
    /// asked for it.
    fn join_at_connect(
        &mut self,
        key: ConnKey,
        room: &str,
        params: ConnectParams<'_>,
        now: Now,
        net: &mut impl Net,
    ) {
        let since = match params.since.map(str::parse::<u64>) {
            Some(Ok(s)) => Some(s),
            Some(Err(_)) => {
                let e = protocol::error("bad_request", "since must be a number", None);
                return net.send(key, &e);
            }
            None => None,
        };
        let join = Join {
            room,
            since,
            epoch: params.epoch,
            id: None,
        };
        self.join(key, join, now, net);
    }

    /// The user checks of a new connection; refusals are sent and closed.
    fn admit(&mut self, key: ConnKey, name: &str, now: Now, net: &mut impl Net) -> Option<UserId> {
        let refusal = if name == crate::ids::SYSTEM {
            Some(("unauthorized", "the user id system is reserved"))
        } else if !valid_name(name) {
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
        let count = self.users.conns_of(name).len();
        self.engine.user_here(name, count);
        self.users.find(name)
    }

    /// The connection is gone (closed, failed, kicked): remove it from every
    /// room and from its user, in this turn.
    pub fn close(&mut self, key: ConnKey, now: Now, net: &mut impl Net) {
        self.unpark(key);
        self.leave_all(key, now, net);
        if let Some(client) = self.clients.remove(key) {
            let name = self.users.get(client.user).map(|u| u.name().clone());
            self.users.disconnect(client.user, key);
            if let Some(name) = name {
                let count = self.users.conns_of(&name).len();
                self.engine.user_here(&name, count);
            }
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
}

/// Seconds as a JSON number: `20` for whole seconds, `0.5` otherwise.
fn format_secs(secs: f64) -> String {
    if secs.fract() == 0.0 && secs.abs() < 1e15 {
        format!("{}", secs as i64)
    } else {
        format!("{secs}")
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod batch_tests;
