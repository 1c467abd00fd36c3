//! The client requests of SPEC §2, one function each, and the room chat hot
//! path: a chat is numbered and framed once by the engine, and the same
//! `Rc<[u8]>` goes into every member's queue.

use super::remote::{Sent, Waiter};
use super::{Hub, Join};
use crate::auth::Role;
use crate::ids::valid_user;
use crate::proto::CloseCode;
use crate::room::engine::{Publication, RetractError, Unavailable};
use crate::room::policy::Rate;
use crate::room::protocol::{self, JsonFrame, ParseError, Request};
use crate::room::{ConnKey, Net, Now, RoomId};
use serde_json::value::RawValue;
use std::rc::Rc;

type Id<'a> = Option<&'a RawValue>;

/// A room message before the engine numbers it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Post<'a> {
    /// `chat`, or an application event's name.
    pub kind: &'a str,
    /// The sender as a JSON string literal.
    pub from_json: &'a str,
    /// The sender (kept for retract).
    pub author: &'a Rc<str>,
    /// The `data`, raw JSON.
    pub data: &'a str,
}

/// A request for a reply while the last one is still being written: one
/// at a time, so a client that does not read cannot pile replies up.
fn busy(key: ConnKey, id: Id<'_>, net: &mut impl Net) {
    let e = protocol::error("rate_limited", "the previous reply is still being sent", id);
    net.send(key, &e);
}

impl Hub {
    /// One text message from connection `key`. Every frame counts toward
    /// the rate limit, whatever it holds (SPEC §6): a refused one is not
    /// even answered with more than `rate_limited`.
    pub fn handle_text(&mut self, key: ConnKey, text: &str, now: Now, net: &mut impl Net) {
        let allowed = self.take_token(key, now);
        let parsed = protocol::parse_request(text);
        let id = parsed.as_ref().ok().and_then(|r| r.id);
        if !self.answer_rate(key, allowed, id, net) {
            return;
        }
        match parsed {
            Ok(req) => self.dispatch(key, &req, now, net),
            Err(ParseError::BadJson) => net.send(
                key,
                &protocol::error("bad_json", "message is not JSON", None),
            ),
            Err(ParseError::BadRequest) => {
                let e = protocol::error("bad_request", "not a valid request object", None);
                net.send(key, &e)
            }
        }
    }

    /// A binary frame on `/ws`: counted like any other, then refused.
    pub fn handle_binary(&mut self, key: ConnKey, now: Now, net: &mut impl Net) {
        let allowed = self.take_token(key, now);
        if self.answer_rate(key, allowed, None, net) {
            let e = protocol::error("bad_json", "messages are JSON text frames", None);
            net.send(key, &e);
        }
    }

    fn take_token(&mut self, key: ConnKey, now: Now) -> Rate {
        let rate = self.cfg.rate();
        self.clients
            .get_mut(key)
            .map_or(Rate::Allowed, |c| c.bucket.take(rate, now.mono_ms))
    }

    /// Answer a refused request (and close an abusive client with 1008);
    /// true if the request may go on.
    fn answer_rate(&mut self, key: ConnKey, rate: Rate, id: Id<'_>, net: &mut impl Net) -> bool {
        if rate == Rate::Allowed {
            return true;
        }
        self.refused.rate_limited += 1;
        net.send(
            key,
            &protocol::error("rate_limited", "too many requests", id),
        );
        if rate == Rate::Abusive {
            net.close(key, CloseCode::POLICY, "rate limit abuse");
        }
        false
    }

    fn dispatch(&mut self, key: ConnKey, req: &Request<'_>, now: Now, net: &mut impl Net) {
        let id = req.id;
        // What would be stored and sent on is checked once, here (SPEC §6).
        if let Some(Err(e)) = req
            .data
            .map(|d| protocol::check_data(d.get(), self.cfg.max_json_depth))
        {
            return net.send(key, &protocol::error("bad_json", e.reason(), id));
        }
        match req.kind.as_deref() {
            Some("history" | "presence") if net.replies_pending(key) => busy(key, id, net),
            Some("join") if req.since.is_some() && net.replies_pending(key) => busy(key, id, net),
            Some("join") => match req.room.as_deref() {
                Some(room) => {
                    let join = Join {
                        room,
                        since: req.since,
                        epoch: req.epoch.as_deref(),
                        id,
                    };
                    self.join(key, join, now, net)
                }
                None => net.send(key, &protocol::error("bad_request", "join needs room", id)),
            },
            Some("leave") => self.cmd_leave(key, req, now, net),
            Some("chat") => self.cmd_chat(key, req, now, net),
            Some("private") => self.cmd_private(key, req, now, net),
            Some("heartbeat") => {
                let ack = JsonFrame::new("heartbeat_ack")
                    .num("ts", now.wall_ms)
                    .id(id);
                net.send(key, &ack.finish())
            }
            Some("history") => self.cmd_history(key, req, net),
            Some("presence") => self.cmd_presence(key, req, net),
            Some("retract") => self.cmd_retract(key, req, net),
            Some("kick") => self.cmd_kick(key, req, now, net),
            Some("mute") => self.cmd_mute(key, req, now, net),
            Some("broadcast") => self.cmd_broadcast(key, req, now, net),
            Some(_) => net.send(
                key,
                &protocol::error("unknown_type", "unknown message type", id),
            ),
            None => net.send(key, &protocol::error("bad_request", "missing type", id)),
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
    ) -> Option<RoomId> {
        let named = match room {
            Some(name) => match self.rooms.find(name) {
                Some(rid) => Some(rid),
                None => {
                    let e = protocol::error("not_in_room", "not a member of that room", id);
                    net.send(key, &e);
                    return None;
                }
            },
            None => None,
        };
        match self.clients.room_of(key, named) {
            Ok(rid) => Some(rid),
            Err(true) => {
                let e =
                    protocol::error("bad_request", "room is required in more than one room", id);
                net.send(key, &e);
                None
            }
            Err(false) => {
                let e = protocol::error("not_in_room", "not a member of that room", id);
                net.send(key, &e);
                None
            }
        }
    }

    /// A request that names its room: the room, or `bad_request` sent.
    pub(super) fn named_room(
        &self,
        key: ConnKey,
        req: &Request<'_>,
        why: &str,
        net: &mut impl Net,
    ) -> Option<RoomId> {
        match req.room.as_deref() {
            Some(name) => self.member_room(key, Some(name), req.id, net),
            None => {
                net.send(key, &protocol::error("bad_request", why, req.id));
                None
            }
        }
    }

    fn cmd_leave(&mut self, key: ConnKey, req: &Request<'_>, now: Now, net: &mut impl Net) {
        let Some(rid) = self.named_room(key, req, "leave needs room", net) else {
            return;
        };
        let left = self.rooms.get(rid).map(|r| {
            JsonFrame::new("left")
                .raw("room", r.name_json())
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
            return net.send(
                key,
                &protocol::error("bad_request", "chat needs data", req.id),
            );
        };
        let (Some(user), Some(room)) = (self.user_of(key), self.rooms.get(rid)) else {
            return;
        };
        let (from_json, author) = (user.name_json(), user.name().clone());
        if self.engine.is_muted(&author, room.name(), now) {
            let e = protocol::error("muted", "you are muted in this room", req.id);
            return net.send(key, &e);
        }
        let post = Post {
            kind: "chat",
            from_json: &from_json,
            author: &author,
            data: data.get(),
        };
        if self.publish_chat(rid, post, None, now, net).is_err() {
            let e = protocol::error(
                "unavailable",
                "the engine cannot store messages now",
                req.id,
            );
            net.send(key, &e);
        }
    }

    /// Number, frame, store and deliver one room chat; (deliveries, seq)
    /// if the engine completed it at once (the memory engine does; one
    /// that answers later acks `ticket`).
    pub(super) fn publish_chat(
        &mut self,
        rid: RoomId,
        post: Post<'_>,
        ticket: Option<u64>,
        now: Now,
        net: &mut impl Net,
    ) -> Result<Option<(usize, u64)>, Unavailable> {
        let Some(room) = self.rooms.get(rid) else {
            return Ok(None);
        };
        let publication = Publication {
            kind: post.kind,
            room: room.name(),
            room_json: room.name_json(),
            author: post.author,
            from_json: post.from_json,
            data: post.data,
            ticket,
        };
        self.engine.publish(publication, now)?;
        Ok(self.deliver_completions(now, net))
    }

    fn cmd_private(&mut self, key: ConnKey, req: &Request<'_>, now: Now, net: &mut impl Net) {
        let (Some(to), Some(data)) = (req.to.as_deref(), req.data) else {
            let e = protocol::error("bad_request", "private needs to and data", req.id);
            return net.send(key, &e);
        };
        if !valid_user(to) {
            let e = protocol::error("bad_request", "bad user id in to", req.id);
            return net.send(key, &e);
        }
        let Some(from) = self.user_of(key).map(|u| u.name_json()) else {
            return;
        };
        match self.send_private(&from, to, data.get(), now, net) {
            Sent::Done(delivered, stored) => {
                let ack = JsonFrame::new("ack")
                    .num("delivered", delivered as u64)
                    .bool("stored", stored)
                    .id(req.id)
                    .finish();
                net.send(key, &ack);
            }
            Sent::Pending(ticket) => {
                let waiter = Waiter::Client(key, req.id.map(|id| id.to_owned()));
                self.waiters.insert(ticket, waiter);
            }
            Sent::Unavailable => {
                let e =
                    protocol::error("unavailable", "private messages cannot be sent now", req.id);
                net.send(key, &e);
            }
        }
    }

    /// A `private` to every connection of `to`, or stored if `to` is offline:
    /// (connections delivered to, stored) now, or later for a ticket when
    /// the engine routes it through other nodes.
    pub(super) fn send_private(
        &mut self,
        from_json: &str,
        to: &str,
        data: &str,
        now: Now,
        net: &mut impl Net,
    ) -> Sent {
        let frame = JsonFrame::new("private")
            .raw("from", from_json)
            .str("to", to)
            .raw("data", data)
            .num("ts", now.wall_ms)
            .finish();
        let ticket = self.next_ticket();
        match self.engine.route_private(to, &frame, ticket) {
            Some(Ok(())) => return Sent::Pending(ticket),
            Some(Err(Unavailable)) => return Sent::Unavailable,
            None => {}
        }
        let conns = self.users.conns_of(to);
        if !conns.is_empty() {
            for &conn in conns {
                net.send(conn, &frame);
            }
            return Sent::Done(conns.len(), false);
        }
        Sent::Done(0, self.engine.store_offline(to, frame, now))
    }

    fn cmd_retract(&mut self, key: ConnKey, req: &Request<'_>, net: &mut impl Net) {
        let Some(seq) = req.seq else {
            let e = protocol::error("bad_request", "retract needs room and seq", req.id);
            return net.send(key, &e);
        };
        let Some(rid) = self.named_room(key, req, "retract needs room and seq", net) else {
            return;
        };
        let (Some(me), Some(room)) = (self.clients.get(key), self.rooms.get(rid)) else {
            return;
        };
        let Some(me) = self.users.get(me.user) else {
            return;
        };
        // SPEC §2: the author, or a moderator or admin.
        let moderator = self.role_of(key) >= Role::Moderator;
        let refusal = match self.engine.retract(room.name(), seq, me.name(), moderator) {
            Ok(()) => return self.announce_retract(rid, seq, net),
            Err(RetractError::NotFound) => ("bad_request", "no such message in history"),
            Err(RetractError::NotAuthor) => {
                ("forbidden", "only the author or a moderator may retract")
            }
            Err(RetractError::Unavailable) => ("unavailable", "the history cannot be reached now"),
        };
        net.send(key, &protocol::error(refusal.0, refusal.1, req.id));
    }

    /// `POST /api/retract`: remove message `seq` from `room`'s history (as
    /// a moderator would); members get `retracted`. False if there is no
    /// such room or message.
    pub fn retract(&mut self, room: &str, seq: u64, net: &mut impl Net) -> bool {
        let Some(rid) = self.rooms.find(room) else {
            return false;
        };
        if self.engine.retract(room, seq, "", true).is_err() {
            return false;
        }
        self.announce_retract(rid, seq, net);
        true
    }

    /// Members of `rid` get `retracted` for `seq` (after the room's batch,
    /// which may hold that message).
    pub(super) fn announce_retract(&mut self, rid: RoomId, seq: u64, net: &mut impl Net) {
        self.flush_batch(rid, net);
        let Some(room) = self.rooms.get(rid) else {
            return;
        };
        let frame = JsonFrame::new("retracted")
            .raw("room", room.name_json())
            .num("seq", seq)
            .finish();
        for &member in room.members() {
            net.send(member, &frame);
        }
    }
}
