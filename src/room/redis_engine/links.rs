//! The engine's side of its two connections: what a new connection sends
//! first, what each reply means, and what is lost with a connection.

use super::mirror::frame_json;
use super::{scripts, Pending, RedisEngine, CMD, SUB};
use crate::redis::Reply;
use crate::room::engine::{Completion, Remote};
use crate::room::Now;
use std::rc::Rc;

/// The payload of a server text frame (what an inbox stores).
pub fn payload(frame: &[u8]) -> &[u8] {
    let at = match frame.get(1).map(|b| b & 0x7f) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    };
    frame.get(at..).unwrap_or_default()
}

pub(super) fn bulk(r: &Reply) -> Option<&[u8]> {
    match r {
        Reply::BulkString(b) | Reply::SimpleString(b) => Some(b),
        _ => None,
    }
}

pub(super) fn int(r: &Reply) -> Option<u64> {
    match r {
        Reply::Integer(i) => u64::try_from(*i).ok(),
        Reply::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

pub(super) fn text(r: &Reply) -> Option<Rc<str>> {
    bulk(r)
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(Rc::from)
}

impl RedisEngine {
    fn became_up(&mut self) {
        self.ever_up = true;
        log::info!(
            "engine redis: connected to {} (node {})",
            self.s.url.addr(),
            self.node
        );
        let rooms: Vec<Rc<str>> = self
            .rooms
            .iter()
            .filter(|(_, m)| m.subscribed && m.needs_sync)
            .map(|(r, _)| r.clone())
            .collect();
        for room in rooms {
            self.send_sync(room);
        }
    }

    fn on_cmd_reply(&mut self, reply: Reply, now: Now) -> Result<(), String> {
        let Some(pending) = self.pending.pop_front() else {
            return Err("a reply nobody asked for".into());
        };
        if let Reply::Error(e) = &reply {
            if let Pending::Setup = pending {
                return Err(format!("setup refused: {e}"));
            }
            log::warn!("engine redis: {pending:?} refused: {e}");
            self.fail(pending);
            return Ok(());
        }
        match pending {
            Pending::Ignore | Pending::Setup => {}
            Pending::Publish { ticket, .. } => {
                let seq = match &reply {
                    Reply::Array(a) => a.first().and_then(int).map(|seq| {
                        let conns = a.get(2).and_then(int).unwrap_or(0);
                        (seq, usize::try_from(conns).unwrap_or(usize::MAX))
                    }),
                    _ => None,
                };
                if let Some(ticket) = ticket {
                    self.completions
                        .push_back(Completion::Acked { ticket, seq });
                }
            }
            Pending::Sync { room } => self.on_sync(room, reply),
            Pending::Kicked { ticket } => {
                // A count (the script), a field's value, or nil (HGET).
                let n = int(&reply).unwrap_or(0);
                let json = Some(format!("{{\"kicked\":{n}}}"));
                self.completions
                    .push_back(Completion::Answer { ticket, json });
            }
            Pending::Rooms { ticket } => {
                let json = Self::rooms_json(&reply);
                self.completions
                    .push_back(Completion::Answer { ticket, json });
            }
            Pending::UserInfo { ticket, user } => {
                let json = match &reply {
                    Reply::Array(a) => {
                        let conns = a.first().and_then(int).unwrap_or(0);
                        let mut rooms: Vec<Box<str>> = match a.get(1) {
                            Some(Reply::Array(r)) => r
                                .iter()
                                .filter_map(text)
                                .map(|r| crate::room::protocol::quote(&r))
                                .collect(),
                            _ => Vec::new(),
                        };
                        rooms.sort_unstable();
                        Some(format!(
                            "{{\"user\":{},\"online\":{},\"connections\":{conns},\"rooms\":[{}]}}",
                            crate::room::protocol::quote(&user),
                            conns > 0,
                            rooms.join(",")
                        ))
                    }
                    _ => None,
                };
                self.completions
                    .push_back(Completion::Answer { ticket, json });
            }
            Pending::Admit { ticket } => {
                let admitted = match &reply {
                    Reply::Integer(n) => Some(*n >= 0),
                    _ => None,
                };
                self.completions
                    .push_back(Completion::Admitted { ticket, admitted });
            }
            Pending::Private { ticket } => {
                let result = match &reply {
                    Reply::Array(a) => a
                        .first()
                        .and_then(int)
                        .map(|d| (d as usize, a.get(1).and_then(int) == Some(1))),
                    _ => None,
                };
                self.completions
                    .push_back(Completion::PrivateAcked { ticket, result });
            }
            Pending::Bans => self.on_bans(reply, now),
            Pending::Inbox { user } => {
                let frames = match reply {
                    Reply::Array(a) => a
                        .iter()
                        .filter_map(bulk)
                        .map(|json| frame_json(json).0)
                        .collect(),
                    _ => Vec::new(),
                };
                if !frames.is_empty() {
                    self.completions
                        .push_back(Completion::Offline { user, frames });
                }
            }
        }
        Ok(())
    }

    /// A request got no answer (Redis refused it, or the link was lost
    /// with it in flight): its requester is told it may not have happened.
    fn fail(&mut self, pending: Pending) {
        match pending {
            Pending::Publish {
                ticket: Some(ticket),
                ..
            } => {
                let seq = None;
                self.completions
                    .push_back(Completion::Acked { ticket, seq });
            }
            Pending::Sync { room } => self.sync_failed(&room),
            Pending::Inbox { user } => {
                log::warn!("engine redis: inbox of {user}: no answer (it may have been taken)");
            }
            Pending::UserInfo { ticket, .. }
            | Pending::Rooms { ticket }
            | Pending::Kicked { ticket } => {
                let json = None;
                self.completions
                    .push_back(Completion::Answer { ticket, json });
            }
            Pending::Admit { ticket } => {
                let admitted = None;
                self.completions
                    .push_back(Completion::Admitted { ticket, admitted });
            }
            Pending::Private { ticket } => {
                let result = None;
                self.completions
                    .push_back(Completion::PrivateAcked { ticket, result });
            }
            _ => {}
        }
    }

    pub(super) fn sync_failed(&mut self, room: &Rc<str>) {
        if let Some(m) = self.rooms.get_mut(room) {
            m.sync_inflight = false;
            if std::mem::take(&mut m.waiting) {
                self.completions
                    .push_back(Completion::RoomFailed(room.clone()));
            }
        }
    }

    pub(super) fn publish_out(&mut self, room: &Rc<str>, out: Vec<super::Stored>) {
        for message in out {
            let droppable = message.json().starts_with("{\"type\":\"chat\"");
            self.completions.push_back(Completion::Published {
                room: room.clone(),
                message,
                droppable,
            });
        }
    }

    fn on_bans(&mut self, reply: Reply, now: Now) {
        let Reply::Array(a) = reply else {
            return;
        };
        self.restrictions.clear();
        for pair in a.chunks(2) {
            let (Some(field), Some(until)) =
                (pair.first().and_then(text), pair.get(1).and_then(int))
            else {
                continue;
            };
            if until > now.wall_ms {
                self.restrictions.insert(Box::from(&*field), until);
            }
        }
    }
}

impl Remote for RedisEngine {
    fn addr(&self) -> String {
        self.s.url.addr()
    }

    fn links(&self) -> usize {
        2
    }

    fn on_connected(&mut self, link: usize, _now: Now) {
        let url = self.s.url.clone();
        let mut setup: Vec<Vec<Vec<u8>>> = Vec::new();
        if let Some(pw) = &url.password {
            match &url.username {
                Some(user) => setup.push(vec![
                    b"AUTH".to_vec(),
                    user.clone().into(),
                    pw.clone().into(),
                ]),
                None => setup.push(vec![b"AUTH".to_vec(), pw.clone().into()]),
            }
        }
        if link == CMD {
            if url.db != 0 {
                setup.push(vec![b"SELECT".to_vec(), url.db.to_string().into()]);
            }
            for (script, _) in scripts::all() {
                setup.push(vec![b"SCRIPT".to_vec(), b"LOAD".to_vec(), script.into()]);
            }
        }
        for args in &setup {
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let pending = (link == CMD).then_some(Pending::Setup);
            self.send(link, &args, pending);
        }
        if link == CMD {
            let key = self.bans_key();
            self.cmd(&[b"HGETALL", key.as_bytes()], Pending::Bans);
            // Redis may have come back empty: this node's users count again.
            self.register_all_users();
            self.register_all_members();
        } else {
            let mut channels = vec![self.ctl_channel().into_bytes()];
            channels.extend(self.rooms.keys().map(|r| self.key(r, "ch").into_bytes()));
            channels.extend(self.user_channels());
            let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
            args.extend(channels.iter().map(Vec::as_slice));
            self.send(SUB, &args, None);
        }
        if let Some(l) = self.links.get_mut(link) {
            l.connected = true;
        }
        if self.up() {
            self.became_up();
        }
    }

    fn on_bytes(&mut self, link: usize, bytes: &[u8], now: Now) -> Result<(), String> {
        let Some(l) = self.links.get_mut(link) else {
            return Ok(());
        };
        l.decoder.feed(bytes);
        loop {
            let Some(l) = self.links.get_mut(link) else {
                return Ok(());
            };
            let reply = match l.decoder.next_reply() {
                Ok(Some(reply)) => reply,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("bad reply: {e:?}")),
            };
            if link == SUB {
                self.on_sub_reply(reply)?;
            } else {
                self.on_cmd_reply(reply, now)?;
            }
        }
    }

    fn on_lost(&mut self, link: usize, _now: Now) {
        let was_up = self.up();
        if let Some(l) = self.links.get_mut(link) {
            *l = super::Link::new();
        }
        if was_up {
            log::warn!(
                "engine redis: lost {} (node {})",
                self.s.url.addr(),
                self.node
            );
        }
        if link == CMD {
            for pending in std::mem::take(&mut self.pending) {
                self.fail(pending);
            }
        } else {
            let rooms: Vec<Rc<str>> = self.rooms.keys().cloned().collect();
            for room in rooms {
                if let Some(m) = self.rooms.get_mut(&room) {
                    m.unsubscribed();
                    if std::mem::take(&mut m.waiting) {
                        self.completions.push_back(Completion::RoomFailed(room));
                    }
                }
            }
        }
    }

    fn output(&mut self, link: usize) -> &mut Vec<u8> {
        let [cmd, sub] = &mut self.links;
        if link == CMD {
            &mut cmd.out
        } else {
            &mut sub.out
        }
    }
}
