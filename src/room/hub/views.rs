//! What the HTTP API reads and does (SPEC §1 `/api/*`), as JSON text: the
//! server only routes and checks the key.

use super::{Hub, Refusal};
use crate::ids::{valid_name, valid_user};
use crate::room::protocol::quote;
use crate::room::{Net, Now};
use std::fmt::Write as _;
use std::rc::Rc;

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
        for (i, (uid, conns)) in room.users().enumerate() {
            if i > 0 {
                users.push(',');
            }
            let user = self
                .users
                .get(uid)
                .map_or_else(|| "\"\"".into(), |u| u.name_json());
            let _ = write!(users, "{{\"user\":{user},\"connections\":{conns}}}");
        }
        users.push(']');
        let info = self.engine.room_info(room.name(), now);
        Some(format!(
            "{{\"room\":{},\"online\":{},\"connections\":{},\"seq\":{},\"epoch\":{},\"history\":{},\"users\":{users}}}",
            room.name_json(),
            room.online(),
            room.members().len(),
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

    /// `POST /api/publish` to a room: a chat from `system` (the room is
    /// created if needed, so its history waits for the first member).
    /// Returns (deliveries, seq).
    pub fn publish_to_room(
        &mut self,
        name: &str,
        data: &str,
        now: Now,
        net: &mut impl Net,
    ) -> Result<(usize, u64), Refusal> {
        if !valid_name(name) {
            return Err(Refusal::BadRequest("bad room name"));
        }
        if !self.has_room_for(name) {
            return Err(Refusal::OverCapacity("max_rooms"));
        }
        let rid = self.rooms.entry(name, now.mono_ms);
        let system: Rc<str> = Rc::from("system");
        Ok(self
            .publish_chat(rid, "\"system\"", &system, data, now, net)
            .unwrap_or_default())
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
        valid_user(user).then(|| self.send_private("\"system\"", user, data, now, net))
    }
}
