//! Requests answered from what the server holds (`history`, `presence`),
//! and offline messages put back: replies, paced by the server.

use super::Hub;
use crate::room::protocol::{JsonFrame, Request};
use crate::room::{ConnKey, Net, Now};
use std::rc::Rc;

impl Hub {
    /// Private messages that were queued to `key` but will never be written
    /// (it is being closed as a slow consumer) go back to its user's inbox.
    pub fn restore_offline(&mut self, key: ConnKey, frames: Vec<Rc<[u8]>>, now: Now) {
        let Some(user) = self.user_of(key).map(|u| u.name().clone()) else {
            return;
        };
        for frame in frames {
            self.engine.store_offline(&user, frame, now);
        }
    }

    pub(super) fn cmd_history(&mut self, key: ConnKey, req: &Request<'_>, net: &mut impl Net) {
        let Some(rid) = self.named_room(key, req, "history needs room", net) else {
            return;
        };
        let Some(room) = self.rooms.get(rid) else {
            return;
        };
        let messages = self.messages_array(room.name(), req.since, req.limit);
        let frame = JsonFrame::new("history")
            .raw("room", room.name_json())
            .raw("messages", &messages)
            .id(req.id)
            .finish();
        net.send_reply(key, &frame);
    }

    /// The stored chat messages as a JSON array: with `since`, the first
    /// `limit` after it; without, the last `limit` (default all).
    pub(super) fn messages_array(
        &self,
        room: &str,
        since: Option<u64>,
        limit: Option<u64>,
    ) -> String {
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let picked = self.engine.messages(room, since, limit);
        let mut out =
            String::with_capacity(2 + picked.iter().map(|m| m.json().len() + 1).sum::<usize>());
        out.push('[');
        for (i, m) in picked.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(m.json());
        }
        out.push(']');
        out
    }

    pub(super) fn cmd_presence(&mut self, key: ConnKey, req: &Request<'_>, net: &mut impl Net) {
        let Some(rid) = self.named_room(key, req, "presence needs room", net) else {
            return;
        };
        let Some(room) = self.rooms.get(rid) else {
            return;
        };
        let mut users = String::from("[");
        if let Some(everywhere) = self.engine.presence(room.name()) {
            // Shared presence: the users on every node.
            for (i, (user, _)) in everywhere.iter().enumerate() {
                if i > 0 {
                    users.push(',');
                }
                users.push_str(&crate::room::protocol::quote(user));
            }
        } else {
            for (i, (uid, _)) in room.users().enumerate() {
                if i > 0 {
                    users.push(',');
                }
                match self.users.get(uid) {
                    Some(u) => users.push_str(&u.name_json()),
                    None => users.push_str("\"\""),
                }
            }
        }
        users.push(']');
        let frame = JsonFrame::new("presence")
            .raw("room", room.name_json())
            .num("online", room.online() as u64)
            .raw("users", &users)
            .id(req.id)
            .finish();
        net.send_reply(key, &frame);
    }
}
