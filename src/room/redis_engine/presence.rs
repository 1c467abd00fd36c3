//! Rooms across nodes (SPEC §7): reading a room's state (seq, epoch,
//! history and who is in it), and presence: each node keeps its users'
//! connections per room in Redis, refreshed while it lives, so `online`,
//! `presence`, `user_joined` and `user_left` count every node, and a node
//! that died is taken out by the next script that touches the room.

use super::mirror::parse_entry;
use super::{Pending, RedisEngine, CMD};
use crate::redis::Reply;
use crate::room::engine::{Completion, Unavailable};
use crate::room::Now;
use std::collections::HashMap;
use std::rc::Rc;

/// A user and their connections.
type UserConns = (Rc<str>, u32);

/// Script indexes in [`super::scripts::all`].
const SYNC: usize = 1;
const MEMBER: usize = 6;
const REFRESH_ROOM: usize = 7;

impl RedisEngine {
    /// The four keys every room script takes: meta, log, nodes, users.
    fn room_keys(&self, room: &str) -> [String; 4] {
        ["meta", "log", "nodes", "users"].map(|what| self.key(room, what))
    }

    fn presence_prefix(&self, room: &str) -> String {
        self.key(room, "p:")
    }

    fn keys_ttl(&self) -> String {
        (self.s.room_ttl_ms + self.s.node_ttl_ms).to_string()
    }

    /// Call a room script: KEYS meta, log, nodes, users; ARGV the
    /// presence prefix, the channel, then `args`.
    fn room_script(&mut self, script: usize, room: &str, args: &[&[u8]], pending: Pending) {
        let [meta, log, nodes, users] = self.room_keys(room);
        let (prefix, ch) = (self.presence_prefix(room), self.key(room, "ch"));
        let keys = [
            meta.as_bytes(),
            log.as_bytes(),
            nodes.as_bytes(),
            users.as_bytes(),
        ];
        let mut all: Vec<&[u8]> = vec![prefix.as_bytes(), ch.as_bytes()];
        all.extend_from_slice(args);
        let sha = self.sha(script);
        self.evalsha(&sha, &keys, &all, pending);
    }

    /// Read `room`'s state (after its SUBSCRIBE was confirmed).
    pub(super) fn send_sync(&mut self, room: Rc<str>) {
        let Some(m) = self.rooms.get_mut(&room) else {
            return;
        };
        if m.sync_inflight || !self.links[CMD].connected {
            return;
        }
        m.sync_inflight = true;
        let epoch = self.next_epoch();
        let ttl = self.s.room_ttl_ms.to_string();
        let args = [epoch.as_bytes(), ttl.as_bytes()];
        self.room_script(SYNC, &room.clone(), &args, Pending::Sync { room });
    }

    /// The answer to [`Self::send_sync`].
    pub(super) fn on_sync(&mut self, room: Rc<str>, reply: Reply) {
        let a = match &reply {
            Reply::Array(a) => a.as_slice(),
            _ => &[],
        };
        let epoch = a.first().and_then(super::links::text);
        let seq = a.get(1).and_then(super::links::int);
        let (Some(epoch), Some(seq), Some(Reply::Array(entries))) = (epoch, seq, a.get(2)) else {
            log::warn!("engine redis: odd state for {room}");
            return self.sync_failed(&room);
        };
        let entries = entries
            .iter()
            .filter_map(super::links::bulk)
            .filter_map(parse_entry)
            .collect();
        let mut users = HashMap::new();
        if let Some(Reply::Array(kv)) = a.get(3) {
            for pair in kv.chunks(2) {
                let user = pair.first().and_then(super::links::text);
                let n = pair.get(1).and_then(super::links::int);
                if let (Some(user), Some(n)) = (user, n) {
                    users.insert(user, u32::try_from(n).unwrap_or(u32::MAX));
                }
            }
        }
        let Some(m) = self.rooms.get_mut(&room) else {
            return;
        };
        let mut out = Vec::new();
        m.on_sync(epoch, seq, entries, &mut out);
        m.set_presence(users);
        let online = m.online();
        let ready = std::mem::take(&mut m.waiting);
        self.publish_out(&room, out);
        // Members here learn the count (a read after a reconnect may differ).
        self.completions.push_back(Completion::Presence {
            room: room.clone(),
            user: Rc::from(""),
            joined: None,
            online,
        });
        if ready {
            self.completions.push_back(Completion::RoomReady(room));
        }
    }

    /// `user` has `conns` connections in `room` here: counted at once in
    /// the mirror, and in Redis by the MEMBER script.
    pub(super) fn set_member_here(&mut self, room: &str, user: &str, conns: u32) -> Option<usize> {
        let online = self.rooms.get_mut(room)?.local_change(user, conns);
        if self.links[CMD].connected {
            self.send_member(room, user, conns);
            self.user_in_room(user, room, conns > 0);
        }
        Some(online)
    }

    fn send_member(&mut self, room: &str, user: &str, conns: u32) {
        let (node, conns) = (self.node.clone(), conns.to_string());
        let (node_ttl, keys_ttl) = (self.s.node_ttl_ms.to_string(), self.keys_ttl());
        let args = [
            node.as_bytes(),
            user.as_bytes(),
            conns.as_bytes(),
            node_ttl.as_bytes(),
            keys_ttl.as_bytes(),
        ];
        self.room_script(MEMBER, room, &args, Pending::Ignore);
    }

    /// Every room member here again (a new connection to Redis, which may
    /// have come back empty).
    pub(super) fn register_all_members(&mut self) {
        let members: Vec<(Rc<str>, Vec<UserConns>)> = self
            .rooms
            .iter()
            .map(|(r, m)| (r.clone(), m.local()))
            .collect();
        for (room, users) in members {
            for (user, conns) in users {
                self.send_member(&room, &user, conns);
                self.user_in_room(&user, &room, true);
            }
        }
    }

    fn rooms_index(&self) -> String {
        format!("{}:rooms", self.s.prefix)
    }

    /// List `room` in the room index until a while after this node stops
    /// refreshing it.
    pub(super) fn index_room(&mut self, room: &str, now: Now) {
        let until = (now.wall_ms + 3 * self.s.node_ttl_ms).to_string();
        let index = self.rooms_index();
        let args: [&[u8]; 5] = [
            b"ZADD",
            index.as_bytes(),
            b"GT",
            until.as_bytes(),
            room.as_bytes(),
        ];
        self.cmd(&args, Pending::Ignore);
    }

    /// Ask Redis for every room with members on any node.
    pub(super) fn send_rooms_info(&mut self, ticket: u64, now: Now) -> Result<(), Unavailable> {
        if !self.has_room_in_flight() {
            return Err(Unavailable);
        }
        let (sha, index) = (self.sha(10), self.rooms_index());
        let (now, prefix) = (now.wall_ms.to_string(), self.s.prefix.clone());
        self.evalsha(
            &sha,
            &[index.as_bytes()],
            &[now.as_bytes(), prefix.as_bytes(), b"10000"],
            Pending::Rooms { ticket },
        );
        Ok(())
    }

    /// The answer to [`Self::send_rooms_info`], as `/api/rooms` JSON.
    pub(super) fn rooms_json(reply: &Reply) -> Option<String> {
        let Reply::Array(a) = reply else {
            return None;
        };
        let mut out = String::from("{\"rooms\":[");
        for (i, r) in a.chunks(4).enumerate() {
            let room = r.first().and_then(super::links::text)?;
            let num = |k: usize| r.get(k).and_then(super::links::int).unwrap_or(0);
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!(
                "{{\"room\":{},\"online\":{},\"connections\":{},\"seq\":{}}}",
                crate::room::protocol::quote(&room),
                num(1),
                num(2),
                num(3)
            ));
        }
        out.push_str("]}");
        Some(out)
    }

    /// This node is still alive in every room it has members in.
    pub(super) fn refresh_rooms(&mut self, now: Now) {
        let rooms: Vec<Rc<str>> = self.rooms.keys().cloned().collect();
        for room in &rooms {
            self.index_room(room, now);
        }
        let node = self.node.clone();
        let (node_ttl, keys_ttl) = (self.s.node_ttl_ms.to_string(), self.keys_ttl());
        let args = [node.as_bytes(), node_ttl.as_bytes(), keys_ttl.as_bytes()];
        for room in rooms {
            self.room_script(REFRESH_ROOM, &room, &args, Pending::Ignore);
        }
    }

    /// `P \x1f J|L|C \x1f total \x1f user` on a room's channel.
    pub(super) fn on_presence_message(&mut self, room: Rc<str>, rest: &[u8]) {
        let mut parts = rest.splitn(3, |b| *b == 0x1f);
        let (kind, total, user) = (parts.next(), parts.next(), parts.next());
        let total = total
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse::<u32>().ok());
        let user = user.and_then(|u| std::str::from_utf8(u).ok());
        let (Some(total), Some(user)) = (total, user) else {
            return;
        };
        let Some(m) = self.rooms.get_mut(&room) else {
            return;
        };
        let online = m.on_presence(user, total);
        let joined = match kind {
            Some(b"J") => Some(true),
            Some(b"L") => Some(false),
            _ => None,
        };
        self.completions.push_back(Completion::Presence {
            room,
            user: Rc::from(user),
            joined,
            online,
        });
    }
}
