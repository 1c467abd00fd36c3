//! What the HTTP API reads and does (SPEC §1 `/api/*`), as JSON text: the
//! server only routes and checks the key.

use super::commands::Post;
use super::{Hub, Posted, Query, Refusal, Sent};
use crate::ids::{valid_name, valid_user};
use crate::room::engine::Unavailable;
use crate::room::protocol::quote;
use crate::room::{Net, Now};
use std::fmt::Write as _;
use std::rc::Rc;

/// What `POST /api/publish` sends to a room.
#[derive(Debug, Clone, Copy)]
pub struct RoomEvent<'a> {
    /// The `data`, raw JSON.
    pub data: &'a str,
    /// An application event name (`gift`, `like`); `chat` if absent.
    pub kind: Option<&'a str>,
    /// The sender; `system` if absent.
    pub from: Option<&'a str>,
}

/// The types the protocol itself uses: an application event may not take
/// one (a client could not tell them apart).
const PROTOCOL_TYPES: [&str; 23] = [
    "welcome",
    "join",
    "joined",
    "leave",
    "left",
    "chat",
    "private",
    "ack",
    "heartbeat",
    "heartbeat_ack",
    "history",
    "presence",
    "kick",
    "mute",
    "broadcast",
    "retract",
    "retracted",
    "user_joined",
    "user_left",
    "online",
    "force_disconnect",
    "dropped",
    "error",
];

/// `[a-z][a-z0-9_]{0,31}` and not a protocol type (SPEC §1).
fn is_event_name(kind: &str) -> bool {
    let mut bytes = kind.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && kind.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !PROTOCOL_TYPES.contains(&kind)
}

impl Hub {
    /// `{"rooms":[{"room","online","connections","seq"}]}`.
    pub fn rooms_json(&mut self, now: Now) -> String {
        let mut out = String::from("{\"rooms\":[");
        for (i, (_, room)) in self.rooms.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let seq = self.engine.room_info(room.name(), now).seq;
            let _ = write!(
                out,
                "{{\"room\":{},\"online\":{},\"connections\":{},\"seq\":{seq}}}",
                room.name_json(),
                room.online(),
                room.members().len(),
            );
        }
        out.push_str("]}");
        out
    }

    /// The detail of one room, `None` if there is no such room.
    pub fn room_json(&mut self, name: &str, now: Now) -> Option<String> {
        let room = self.rooms.get(self.rooms.find(name)?)?;
        let mut users = String::from("[");
        let mut connections = room.members().len();
        let listed: Vec<(Box<str>, u32)> = match self.engine.presence(room.name()) {
            // Shared presence: every node's users and connections.
            Some(everywhere) => {
                connections = everywhere.iter().map(|(_, n)| *n as usize).sum();
                everywhere.iter().map(|(u, n)| (quote(u), *n)).collect()
            }
            None => room
                .users()
                .map(|(uid, n)| {
                    let user = self
                        .users
                        .get(uid)
                        .map_or_else(|| "\"\"".into(), |u| u.name_json());
                    (user, n)
                })
                .collect(),
        };
        for (i, (user, conns)) in listed.iter().enumerate() {
            if i > 0 {
                users.push(',');
            }
            let _ = write!(users, "{{\"user\":{user},\"connections\":{conns}}}");
        }
        users.push(']');
        let info = self.engine.room_info(room.name(), now);
        Some(format!(
            "{{\"room\":{},\"online\":{},\"connections\":{},\"seq\":{},\"epoch\":{},\"history\":{},\"users\":{users}}}",
            room.name_json(),
            room.online(),
            connections,
            info.seq,
            quote(&info.epoch),
            info.stored
        ))
    }

    /// `{"room":R,"messages":[...]}` as the `history` reply; `None` if no such room.
    pub fn history_json(
        &self,
        name: &str,
        since: Option<u64>,
        limit: Option<u64>,
    ) -> Option<String> {
        let room = self.rooms.get(self.rooms.find(name)?)?;
        Some(format!(
            "{{\"room\":{},\"messages\":{}}}",
            room.name_json(),
            self.messages_array(room.name(), since, limit)
        ))
    }

    /// `POST /api/publish` to a room: a `chat` (or the application event
    /// `kind`, never dropped for a slow consumer) from `from` (default
    /// `system`). The room is created if needed, so its history waits for
    /// the first member. Returns (deliveries, seq).
    pub fn publish_to_room(
        &mut self,
        name: &str,
        event: RoomEvent<'_>,
        now: Now,
        net: &mut impl Net,
    ) -> Result<Posted, Refusal> {
        if !valid_name(name) {
            return Err(Refusal::BadRequest("bad room name"));
        }
        let from = event.from.unwrap_or(crate::ids::SYSTEM);
        if !valid_name(from) {
            return Err(Refusal::BadRequest("bad from"));
        }
        let kind = event.kind.unwrap_or("chat");
        if kind != "chat" && !is_event_name(kind) {
            return Err(Refusal::BadRequest(
                "type must match [a-z][a-z0-9_]{0,31} and not be a protocol type",
            ));
        }
        if !self.has_room_for(name) {
            return Err(Refusal::OverCapacity("max_rooms"));
        }
        let rid = self.rooms.entry(name, now.mono_ms);
        let author: Rc<str> = Rc::from(from);
        let from_json = quote(from);
        let post = Post {
            kind,
            from_json: &from_json,
            author: &author,
            data: event.data,
        };
        let ticket = self.next_ticket();
        match self.publish_chat(rid, post, Some(ticket), now, net) {
            Ok(Some(done)) => Ok(Posted::Done(done.0, done.1)),
            Ok(None) => Ok(Posted::Pending(ticket)),
            Err(Unavailable) => Err(Refusal::OverCapacity("engine unavailable")),
        }
    }

    /// `GET /api/rooms` as the engine answers it: on every node (later,
    /// for a ticket), or here ([`Hub::rooms_json`]).
    pub fn rooms_query(&mut self, now: Now) -> Result<Query, Unavailable> {
        let ticket = self.next_ticket();
        match self.engine.rooms_info(ticket, now) {
            Some(Ok(())) => Ok(Query::Later(ticket)),
            Some(Err(e)) => Err(e),
            None => Ok(Query::Here),
        }
    }

    /// After `POST /api/kick`: how many connections it reached, counted
    /// on every node by the engine (later, for a ticket), or here.
    pub fn kick_count(&mut self, user: &str, room: Option<&str>) -> Query {
        let ticket = self.next_ticket();
        match self.engine.count_kicked(user, room, ticket) {
            Some(Ok(())) => Query::Later(ticket),
            // Redis down: the other nodes did not hear of it either.
            Some(Err(Unavailable)) | None => Query::Here,
        }
    }

    /// `GET /api/users/{user}` as the engine answers it: on every node
    /// (later, for a ticket: [`Hub::take_acks`]), or here.
    pub fn user_query(&mut self, name: &str) -> Result<Query, Unavailable> {
        let ticket = self.next_ticket();
        match self.engine.user_info(name, ticket) {
            Some(Ok(())) => Ok(Query::Later(ticket)),
            Some(Err(e)) => Err(e),
            None => Ok(Query::Here),
        }
    }

    /// `GET /api/users/{user}`: `{"user","online","connections","rooms"}`.
    pub fn user_json(&self, name: &str) -> String {
        let conns = self.users.conns_of(name);
        let mut rooms: Vec<&str> = conns
            .iter()
            .filter_map(|k| self.clients.get(*k))
            .flat_map(|c| c.rooms.iter())
            .filter_map(|m| self.rooms.get(m.room))
            .map(|r| r.name_json())
            .collect();
        rooms.sort_unstable();
        rooms.dedup();
        format!(
            "{{\"user\":{},\"online\":{},\"connections\":{},\"rooms\":[{}]}}",
            quote(name),
            !conns.is_empty(),
            conns.len(),
            rooms.join(",")
        )
    }

    /// The same event a client's `broadcast` sends, from `system`.
    pub fn publish_broadcast(&mut self, data: &str, now: Now, net: &mut impl Net) -> usize {
        self.broadcast("\"system\"", data, now, net)
    }

    /// A `private` from `system`; (delivered, stored), `None` for a bad user id.
    pub fn publish_to_user(
        &mut self,
        user: &str,
        data: &str,
        now: Now,
        net: &mut impl Net,
    ) -> Option<Sent> {
        if !valid_user(user) {
            return None;
        }
        let sent = self.send_private("\"system\"", user, data, now, net);
        if let Sent::Pending(ticket) = sent {
            self.waiters.insert(ticket, super::remote::Waiter::Api);
        }
        Some(sent)
    }
}
