//! Membership: joining (with the exclusive or multi policy, replay and
//! `recovered`), leaving, presence events, and being forced out.

use super::{Hub, Join};
use crate::config::RoomPolicy;
use crate::ids::valid_name;
use crate::proto::CloseCode;
use crate::room::clients::Membership;
use crate::room::protocol::{self, JsonFrame};
use crate::room::{ConnKey, Net, Now, RoomId, UserId};
use serde_json::value::RawValue;
use smallvec::SmallVec;

impl Hub {
    /// `join` (SPEC §2): move or add the connection, answer `joined`, replay.
    pub(super) fn join(&mut self, key: ConnKey, join: Join<'_>, now: Now, net: &mut impl Net) {
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
        let member_of = existing.filter(|r| client.membership(*r).is_some());
        // SPEC §6 max_rooms: checked before the engine is asked for the room
        // and before anyone is moved out.
        if member_of.is_none() && !self.has_room_for(join.room) {
            let e = protocol::error("over_capacity", "the server holds max_rooms rooms", id);
            return net.send(key, &e);
        }
        if !self.ready_to_join(key, join, now, net) {
            return;
        }
        if let Some(rid) = member_of {
            // Already a member: answer again (and replay), change nothing.
            return self.reply_joined(key, rid, join, now, net);
        }
        if !self.make_room_for(key, (existing, join.room), id, now, net) {
            return;
        }
        let rid = self.rooms.entry(join.room, now.mono_ms);
        let Some((uid, batch)) = self.clients.get(key).map(|c| (c.user, c.batch)) else {
            return;
        };
        if batch {
            // What is collected is older than this member's join (and its
            // replay): the others get it first.
            self.flush_batch(rid, net);
        }
        let Some((index, first)) = self.rooms.add(rid, key, uid, batch) else {
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
        if !self.shared_presence(rid, uid) && first {
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
        (target, target_name): (Option<RoomId>, &str),
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
                let (user, room) = (self.user_of(key).map(|u| u.name().clone()), target_name);
                if let Some(user) = user {
                    self.engine.moved_elsewhere(&user, room);
                }
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
        let after = join.since.map(|s| same_epoch.then_some(s));
        // SPEC §5: at most max_replay messages; a longer replay is cut and
        // says so (the rest can be fetched with `history`).
        let replay = after.map(|after| {
            let limit = self.cfg.max_replay.saturating_add(1);
            self.engine.messages(room.name(), after, limit)
        });
        let cut = replay
            .as_ref()
            .is_some_and(|r| r.len() > self.cfg.max_replay);
        let joined = JsonFrame::new("joined")
            .raw("room", room.name_json())
            .num("online", room.online() as u64)
            .num("seq", info.seq)
            .str("epoch", &info.epoch)
            .bool("recovered", recovered && !cut)
            .id(join.id)
            .finish();
        net.send_reply(key, &joined);
        for m in replay.iter().flatten().take(self.cfg.max_replay) {
            net.send_reply(key, &m.frame);
        }
    }

    /// Remove `key` from room `rid`, with `user_left` if it was the user's
    /// last connection there.
    pub(super) fn leave_room(&mut self, key: ConnKey, rid: RoomId, now: Now, net: &mut impl Net) {
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
        if !self.shared_presence(rid, uid) && left.last_of_user && !left.now_empty {
            self.presence_changed(rid, "user_left", uid, key, net);
        }
    }

    /// Tell the engine how many connections `uid` has in `rid` here now;
    /// true if it shares presence across nodes (then the events come back
    /// from it, see [`Hub::shared_presence_event`]).
    fn shared_presence(&mut self, rid: RoomId, uid: UserId) -> bool {
        let (Some(room), Some(user)) = (self.rooms.get(rid), self.users.get(uid)) else {
            return false;
        };
        let conns = room.conns_of(uid);
        let Some(online) = self.engine.member_here(room.name(), user.name(), conns) else {
            return false;
        };
        self.rooms.set_shared_online(rid, online);
        true
    }

    /// Presence changed somewhere in the cluster (an engine that shares
    /// it): the count, and `user_joined`/`user_left` as in one process.
    pub(super) fn shared_presence_event(
        &mut self,
        room: &str,
        user: &str,
        joined: Option<bool>,
        online: usize,
        net: &mut impl Net,
    ) {
        let Some(rid) = self.rooms.find(room) else {
            return;
        };
        self.rooms.set_shared_online(rid, online);
        let Some(kind) = joined.map(|j| if j { "user_joined" } else { "user_left" }) else {
            return;
        };
        if self
            .rooms
            .throttle_presence(rid, self.cfg.presence_events_max)
        {
            return;
        }
        let Some(room) = self.rooms.get(rid) else {
            return;
        };
        let frame = JsonFrame::new(kind)
            .raw("room", room.name_json())
            .str("user", user)
            .num("online", online as u64)
            .finish();
        let uid = self.users.find(user);
        for &member in room.members() {
            // The user's own connections are not told they came.
            if uid.is_none() || self.clients.get(member).map(|c| c.user) != uid {
                net.send(member, &frame);
            }
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
    pub(super) fn force_out(&mut self, key: ConnKey, reason: &str, now: Now, net: &mut impl Net) {
        let frame = JsonFrame::new("force_disconnect")
            .num("code", u64::from(CloseCode::KICKED.0))
            .str("reason", reason)
            .finish();
        net.send(key, &frame);
        self.leave_all(key, now, net);
        net.close(key, CloseCode::KICKED, reason);
    }
}
