//! What the pub/sub link brings: subscription confirmations, room
//! messages (chat `M`, retractions `R`, presence `P`), private messages on
//! user channels, and the control channel (bans `B`, kicks `K`,
//! broadcasts `A`, the exclusive policy `X`).

use super::links::bulk;
use super::mirror::{frame_json, parse_entry};
use super::{Chan, RedisEngine};
use crate::redis::Reply;
use crate::room::engine::Completion;
use std::rc::Rc;

impl RedisEngine {
    pub(super) fn on_sub_reply(&mut self, reply: Reply) -> Result<(), String> {
        let items = match reply {
            Reply::Array(items) => items,
            Reply::Error(e) => return Err(format!("pub/sub refused: {e}")),
            _ => return Ok(()), // AUTH's +OK
        };
        let kind = items.first().and_then(bulk).unwrap_or_default();
        let channel = items.get(1).and_then(bulk).unwrap_or_default();
        let payload = items.get(2).and_then(bulk).unwrap_or_default();
        match (kind, self.channels.get(channel).cloned()) {
            (b"subscribe", Some(Chan::Room(room))) => {
                if let Some(m) = self.rooms.get_mut(&room) {
                    m.subscribed = true;
                    m.needs_sync = true;
                }
                self.send_sync(room);
            }
            (b"message", Some(Chan::Room(room))) => self.on_room_message(room, payload),
            (b"message", Some(Chan::User(user))) => {
                let frame = frame_json(payload).0;
                self.completions
                    .push_back(Completion::Private { user, frame });
            }
            (b"message", None) if channel == self.ctl_channel().as_bytes() => {
                self.on_control(payload);
            }
            _ => {}
        }
        Ok(())
    }

    fn on_room_message(&mut self, room: Rc<str>, payload: &[u8]) {
        if let Some(rest) = payload.strip_prefix(b"P\x1f") {
            return self.on_presence_message(room, rest);
        }
        let mut parts = payload.splitn(3, |b| *b == 0x1f);
        let (kind, epoch, rest) = (parts.next(), parts.next(), parts.next());
        let (Some(epoch), Some(rest)) = (epoch.and_then(|e| std::str::from_utf8(e).ok()), rest)
        else {
            return;
        };
        let epoch: Rc<str> = Rc::from(epoch);
        let Some(m) = self.rooms.get_mut(&room) else {
            return;
        };
        match kind {
            Some(b"M") => {
                let Some(message) = parse_entry(rest) else {
                    return;
                };
                let mut out = Vec::new();
                if m.on_message(epoch, message, &mut out) {
                    self.send_sync(room.clone());
                }
                self.publish_out(&room, out);
            }
            Some(b"R") => {
                let seq = std::str::from_utf8(rest).ok().and_then(|s| s.parse().ok());
                if let Some(seq) = seq.filter(|s| m.remove(&epoch, *s)) {
                    self.completions
                        .push_back(Completion::Retracted { room, seq });
                }
            }
            _ => {}
        }
    }

    fn on_control(&mut self, payload: &[u8]) {
        let Ok(text) = std::str::from_utf8(payload) else {
            return;
        };
        let parts: Vec<&str> = text.splitn(5, '\x1f').collect();
        match parts.as_slice() {
            ["B", kind, user, room, until] => {
                if let Ok(until) = until.parse() {
                    let field = format!("{kind}\x1f{user}\x1f{room}");
                    self.restrictions.insert(Box::from(field.as_str()), until);
                }
            }
            ["A", node, json] if *node != &*self.node => {
                let frame = frame_json(json.as_bytes()).0;
                self.completions.push_back(Completion::Broadcast(frame));
            }
            ["X", node, user, room] if *node != &*self.node => {
                self.completions.push_back(Completion::Moved {
                    user: Rc::from(*user),
                    room: Rc::from(*room),
                });
            }
            ["K", node, user, room, reason] if *node != &*self.node => {
                self.completions.push_back(Completion::Kick {
                    user: Rc::from(*user),
                    room: (!room.is_empty()).then(|| Rc::from(*room)),
                    reason: Rc::from(*reason),
                });
            }
            _ => {}
        }
    }
}
