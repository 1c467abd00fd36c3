//! The client requests of SPEC §2, one method each, and the room chat hot
//! path: a chat is written and framed once, and the same `Rc<[u8]>` goes
//! into every member's queue.

use super::hub::{valid_name, Hub};
use super::json::{self, Event, ParseError, Request};
use super::moderation::Rate;
use super::rooms::Stored;
use super::{ConnKey, Net, Now};
use crate::auth::Role;
use serde_json::value::RawValue;
use std::rc::Rc;

type Id<'a> = Option<&'a RawValue>;

impl Hub {
    /// One text message from connection `key`.
    pub fn handle_text(&mut self, key: ConnKey, text: &str, now: Now, net: &mut impl Net) {
        let req = match json::parse_request(text) {
            Ok(req) => req,
            Err(ParseError::BadJson) => {
                return net.send(key, &json::error("bad_json", "message is not JSON", None))
            }
            Err(ParseError::BadRequest) => {
                return net.send(
                    key,
                    &json::error("bad_request", "not a valid request object", None),
                )
            }
        };
        let id = req.id;
        match self.take_token(key, now) {
            Rate::Allowed => {}
            Rate::Refused => {
                return net.send(key, &json::error("rate_limited", "too many requests", id))
            }
            Rate::Abusive => {
                net.send(key, &json::error("rate_limited", "too many requests", id));
                return net.close(key, 1008, "rate limit abuse");
            }
        }
        match req.kind.as_deref() {
            Some("join") => match req.room.as_deref() {
                Some(room) => self.join(key, room, req.since, req.epoch.as_deref(), id, now, net),
                None => net.send(key, &json::error("bad_request", "join needs room", id)),
            },
            Some("leave") => self.cmd_leave(key, &req, now, net),
            Some("chat") => self.cmd_chat(key, &req, now, net),
            Some("private") => self.cmd_private(key, &req, now, net),
            Some("heartbeat") => net.send(
                key,
                &Event::new("heartbeat_ack")
                    .num("ts", now.wall_ms)
                    .id(id)
                    .finish(),
            ),
            Some("history") => self.cmd_history(key, &req, net),
            Some("presence") => self.cmd_presence(key, &req, net),
            Some("retract") => self.cmd_retract(key, &req, net),
            Some("kick") => self.cmd_kick(key, &req, now, net),
            Some("mute") => self.cmd_mute(key, &req, now, net),
            Some("broadcast") => self.cmd_broadcast(key, &req, now, net),
            Some(_) => net.send(
                key,
                &json::error("unknown_type", "unknown message type", id),
            ),
            None => net.send(key, &json::error("bad_request", "missing type", id)),
        }
    }

    /// The room a request is about: named, or the connection's only room.
    /// Errors are sent; `None` then.
    fn member_room(
        &self,
        key: ConnKey,
        room: Option<&str>,
        id: Id<'_>,
        net: &mut impl Net,
    ) -> Option<usize> {
        let session = self.sessions.get(&key)?;
        let rid = match room {
            Some(name) => self
                .room_index
                .get(name)
                .copied()
                .filter(|rid| session.rooms.iter().any(|m| m.room == *rid)),
            None => match session.rooms.as_slice() {
                [only] => Some(only.room),
                [] => None,
                _ => {
                    net.send(
                        key,
                        &json::error("bad_request", "room is required in more than one room", id),
                    );
                    return None;
                }
            },
        };
        if rid.is_none() {
            net.send(
                key,
                &json::error("not_in_room", "not a member of that room", id),
            );
        }
        rid
    }

    fn cmd_leave(&mut self, key: ConnKey, req: &Request<'_>, now: Now, net: &mut impl Net) {
        let Some(name) = req.room.as_deref() else {
            return net.send(key, &json::error("bad_request", "leave needs room", req.id));
        };
        let Some(rid) = self.member_room(key, Some(name), req.id, net) else {
            return;
        };
        let left = self.rooms.get(rid).map(|r| {
            Event::new("left")
                .raw("room", &r.name_json)
                .id(req.id)
                .finish()
        });
        self.leave_room(key, rid, now, net);
        if let Some(frame) = left {
            net.send(key, &frame);
        }
    }

    fn cmd_chat(&mut self, key: ConnKey, req: &Request<'_>, now: Now, net: &mut impl Net) {
        let Some(rid) = self.member_room(key, req.room.as_deref(), req.id, net) else {
            return;
        };
        let Some(data) = req.data else {
            return net.send(key, &json::error("bad_request", "chat needs data", req.id));
        };
        let Some(user) = self.user_of(key) else {
            return;
        };
        let (from_json, author) = (user.name_json(), user.name.clone());
        let room_name = self
            .rooms
            .get(rid)
            .map(|r| r.name.clone())
            .unwrap_or_default();
        if self.is_muted(&author, &room_name, now) {
            return net.send(
                key,
                &json::error("muted", "you are muted in this room", req.id),
            );
        }
        self.publish_chat(rid, &from_json, author, data.get(), now, net);
    }

    /// Number, frame, store and deliver one room chat; returns (deliveries, seq).
    ///
    /// Room chat is droppable (SPEC §5): a member whose queue is past
    /// `drop_threshold` is skipped and the skip counted, to be reported by a
    /// `dropped` event once its queue drains.
    pub fn publish_chat(
        &mut self,
        rid: usize,
        from_json: &str,
        author: Rc<str>,
        data: &str,
        now: Now,
        net: &mut impl Net,
    ) -> (usize, u64) {
        let Hub {
            rooms,
            sessions,
            cfg,
            ..
        } = self;
        let Some(room) = rooms.get_mut(rid) else {
            return (0, 0);
        };
        room.seq += 1;
        let seq = room.seq;
        let (frame, json_at) = Event::new("chat")
            .raw("room", &room.name_json)
            .raw("from", from_json)
            .raw("data", data)
            .num("seq", seq)
            .num("ts", now.wall_ms)
            .finish_with_offset();
        room.remember(
            Stored {
                seq,
                author,
                frame: frame.clone(),
                json_at: json_at as u8,
            },
            cfg.history_size,
        );
        let mut delivered = 0;
        for &member in &room.members {
            if net.unsent(member) <= cfg.drop_threshold {
                net.send(member, &frame);
                delivered += 1;
                continue;
            }
            let Some(m) = sessions
                .get_mut(&member)
                .and_then(|s| s.rooms.iter_mut().find(|m| m.room == rid))
            else {
                continue;
            };
            if m.dropped == 0 {
                m.drop_from = seq;
                net.watch_drain(member);
            }
            m.dropped += 1;
        }
        (delivered, seq)
    }

    fn cmd_private(&mut self, key: ConnKey, req: &Request<'_>, now: Now, net: &mut impl Net) {
        let (Some(to), Some(data)) = (req.to.as_deref(), req.data) else {
            return net.send(
                key,
                &json::error("bad_request", "private needs to and data", req.id),
            );
        };
        if !valid_name(to) {
            return net.send(
                key,
                &json::error("bad_request", "bad user id in to", req.id),
            );
        }
        let Some(from) = self.user_of(key).map(|u| u.name_json()) else {
            return;
        };
        let (delivered, stored) = self.send_private(&from, to, data.get(), now, net);
        let ack = Event::new("ack")
            .num("delivered", delivered as u64)
            .bool("stored", stored)
            .id(req.id)
            .finish();
        net.send(key, &ack);
    }

    /// A `private` to every connection of `to`, or stored if `to` is offline.
    /// Returns (connections delivered to, stored).
    pub fn send_private(
        &mut self,
        from_json: &str,
        to: &str,
        data: &str,
        now: Now,
        net: &mut impl Net,
    ) -> (usize, bool) {
        let frame = Event::new("private")
            .raw("from", from_json)
            .str("to", to)
            .raw("data", data)
            .num("ts", now.wall_ms)
            .finish();
        if let Some(user) = self.user_index.get(to).and_then(|uid| self.users.get(*uid)) {
            if !user.conns.is_empty() {
                for &conn in &user.conns {
                    net.send(conn, &frame);
                }
                return (user.conns.len(), false);
            }
        }
        let uid = self.user_entry(to);
        let (capacity, ttl) = (self.cfg.offline_queue, self.cfg.offline_ttl_ms);
        let stored = self
            .users
            .get_mut(uid)
            .is_some_and(|u| u.store(now.mono_ms.saturating_add(ttl), frame, capacity));
        if stored {
            self.with_offline.insert(uid);
        } else if self.users.get(uid).is_some_and(|u| u.is_idle()) {
            let user = self.users.remove(uid);
            self.user_index.remove(&user.name);
        }
        (0, stored)
    }

    fn cmd_history(&mut self, key: ConnKey, req: &Request<'_>, net: &mut impl Net) {
        let Some(name) = req.room.as_deref() else {
            return net.send(
                key,
                &json::error("bad_request", "history needs room", req.id),
            );
        };
        let Some(rid) = self.member_room(key, Some(name), req.id, net) else {
            return;
        };
        if let Some(frame) = self.history_event(rid, req.since, req.limit, req.id) {
            net.send(key, &frame);
        }
    }

    /// `{"type":"history","room":R,"messages":[...]}`.
    pub fn history_event(
        &self,
        rid: usize,
        since: Option<u64>,
        limit: Option<u64>,
        id: Id<'_>,
    ) -> Option<Rc<[u8]>> {
        let room = self.rooms.get(rid)?;
        Some(
            Event::new("history")
                .raw("room", &room.name_json)
                .raw("messages", &self.messages_array(rid, since, limit))
                .id(id)
                .finish(),
        )
    }

    /// The stored chat messages as a JSON array: with `since`, the first
    /// `limit` after it; without, the last `limit` (default all).
    pub(super) fn messages_array(
        &self,
        rid: usize,
        since: Option<u64>,
        limit: Option<u64>,
    ) -> String {
        let Some(room) = self.rooms.get(rid) else {
            return "[]".to_owned();
        };
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let picked: Vec<&Stored> = match since {
            Some(s) => room
                .history
                .iter()
                .filter(|m| m.seq > s)
                .take(limit)
                .collect(),
            None => room
                .history
                .iter()
                .skip(room.history.len().saturating_sub(limit))
                .collect(),
        };
        let mut messages =
            String::with_capacity(2 + picked.iter().map(|m| m.json().len() + 1).sum::<usize>());
        messages.push('[');
        for (i, m) in picked.iter().enumerate() {
            if i > 0 {
                messages.push(',');
            }
            messages.push_str(m.json());
        }
        messages.push(']');
        messages
    }

    fn cmd_presence(&mut self, key: ConnKey, req: &Request<'_>, net: &mut impl Net) {
        let Some(name) = req.room.as_deref() else {
            return net.send(
                key,
                &json::error("bad_request", "presence needs room", req.id),
            );
        };
        let Some(rid) = self.member_room(key, Some(name), req.id, net) else {
            return;
        };
        let Some(room) = self.rooms.get(rid) else {
            return;
        };
        let mut users = String::from("[");
        for (i, uid) in room.users.keys().enumerate() {
            if i > 0 {
                users.push(',');
            }
            users.push_str(
                &self
                    .users
                    .get(*uid)
                    .map_or_else(|| "\"\"".into(), |u| u.name_json()),
            );
        }
        users.push(']');
        let frame = Event::new("presence")
            .raw("room", &room.name_json)
            .num("online", room.online() as u64)
            .raw("users", &users)
            .id(req.id)
            .finish();
        net.send(key, &frame);
    }

    fn cmd_retract(&mut self, key: ConnKey, req: &Request<'_>, net: &mut impl Net) {
        let (Some(name), Some(seq)) = (req.room.as_deref(), req.seq) else {
            return net.send(
                key,
                &json::error("bad_request", "retract needs room and seq", req.id),
            );
        };
        let Some(rid) = self.member_room(key, Some(name), req.id, net) else {
            return;
        };
        let Some(me) = self.user_of(key).map(|u| u.name.clone()) else {
            return;
        };
        let Some(room) = self.rooms.get(rid) else {
            return;
        };
        let Some(pos) = room.history.iter().position(|m| m.seq == seq) else {
            return net.send(
                key,
                &json::error("bad_request", "no such message in history", req.id),
            );
        };
        // SPEC §2: the author, or a moderator or admin.
        let moderator = self.role_of(key) >= Role::Moderator;
        if !moderator && room.history.get(pos).is_some_and(|m| m.author != me) {
            return net.send(
                key,
                &json::error(
                    "forbidden",
                    "only the author or a moderator may retract",
                    req.id,
                ),
            );
        }
        self.retract(rid, pos, net);
    }

    /// Remove the history entry at `pos` of `rid`; members get `retracted`.
    pub(super) fn retract(&mut self, rid: usize, pos: usize, net: &mut impl Net) {
        let Some(room) = self.rooms.get_mut(rid) else {
            return;
        };
        let Some(removed) = room.history.remove(pos) else {
            return;
        };
        let frame = Event::new("retracted")
            .raw("room", &room.name_json)
            .num("seq", removed.seq)
            .finish();
        for &member in &room.members {
            net.send(member, &frame);
        }
    }
}
