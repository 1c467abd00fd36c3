//! What the HTTP API reads and does (SPEC §1 `/api/*`), as JSON text: the
//! server only routes and checks the key.

use super::hub::{valid_name, Hub};
use super::json::quote;
use super::rooms::Room;
use super::{Net, Now};
use std::fmt::Write as _;

impl Hub {
    /// `{"rooms":[{"room","online","connections","seq"}]}`.
    pub fn rooms_json(&self) -> String {
        let mut out = String::from("{\"rooms\":[");
        for (i, (_, room)) in self.rooms.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"room\":{},\"online\":{},\"connections\":{},\"seq\":{}}}",
                room.name_json,
                room.online(),
                room.members.len(),
                room.seq
            );
        }
        out.push_str("]}");
        out
    }

    /// The detail of one room, `None` if there is no such room.
    pub fn room_json(&self, name: &str) -> Option<String> {
        let room = self.room_named(name)?;
        let mut users = String::from("[");
        for (i, (uid, conns)) in room.users.iter().enumerate() {
            if i > 0 {
                users.push(',');
            }
            let user = self
                .users
                .get(*uid)
                .map_or_else(|| "\"\"".into(), |u| u.name_json());
            let _ = write!(users, "{{\"user\":{user},\"connections\":{conns}}}");
        }
        users.push(']');
        Some(format!(
            "{{\"room\":{},\"online\":{},\"connections\":{},\"seq\":{},\"epoch\":{},\"history\":{},\"users\":{users}}}",
            room.name_json,
            room.online(),
            room.members.len(),
            room.seq,
            quote(&room.epoch),
            room.history.len()
        ))
    }

    /// `{"room":R,"messages":[...]}` as the `history` reply; `None` if no such room.
    pub fn history_json(
        &self,
        name: &str,
        since: Option<u64>,
        limit: Option<u64>,
    ) -> Option<String> {
        let rid = *self.room_index.get(name)?;
        let room = self.rooms.get(rid)?;
        Some(format!(
            "{{\"room\":{},\"messages\":{}}}",
            room.name_json,
            self.messages_array(rid, since, limit)
        ))
    }

    fn room_named(&self, name: &str) -> Option<&Room> {
        self.room_index
            .get(name)
            .and_then(|rid| self.rooms.get(*rid))
    }

    /// `POST /api/publish` to a room: a chat from `system` (the room is
    /// created if needed, so its history waits for the first member).
    /// Returns (deliveries, seq), or `None` for a bad room name.
    pub fn publish_to_room(
        &mut self,
        name: &str,
        data: &str,
        now: Now,
        net: &mut impl Net,
    ) -> Option<(usize, u64)> {
        if !valid_name(name) {
            return None;
        }
        let rid = self.room_entry(name, now);
        Some(self.publish_chat(rid, "\"system\"", "system".into(), data, now, net))
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
    ) -> Option<(usize, bool)> {
        valid_name(user).then(|| self.send_private("\"system\"", user, data, now, net))
    }

    /// An `error`-free ack for the API's JSON answers.
    pub fn ack_json(fields: &[(&str, u64)]) -> String {
        let mut e = String::from("{");
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                e.push(',');
            }
            let _ = write!(e, "\"{k}\":{v}");
        }
        e.push('}');
        e
    }
}
