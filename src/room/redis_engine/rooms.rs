//! Room messages (SPEC §7): making a room ready to join (subscribe, then
//! read its state), publishing through the PUBLISH script, retracting.

use super::mirror::Mirror;
use super::{Chan, Pending, RedisEngine};
use crate::room::engine::{Publication, Readiness, RetractError, Unavailable};
use crate::room::Now;
use std::rc::Rc;

impl RedisEngine {
    pub(super) fn prepare_room(&mut self, room: &str, now: Now) -> Readiness {
        self.wall_offset = now.wall_ms.saturating_sub(now.mono_ms);
        let up = self.up();
        // A node that has not reached Redis yet (it is starting) lets joins
        // wait for its first connection; one that lost Redis refuses them.
        let refuse = !up && self.ever_up;
        if let Some(m) = self.rooms.get_mut(room) {
            if m.ready() {
                return Readiness::Ready;
            }
            if refuse {
                return Readiness::Unavailable;
            }
            m.waiting = true;
            // A read that failed earlier is tried again for this join.
            if m.subscribed && !m.sync_inflight {
                let name = self.rooms.get_key_value(room).map(|(k, _)| k.clone());
                if let Some(name) = name {
                    self.send_sync(name);
                }
            }
            return Readiness::Pending;
        }
        if refuse {
            return Readiness::Unavailable;
        }
        let name: Rc<str> = Rc::from(room);
        let mut m = Mirror::new(self.s.history_size);
        m.waiting = true;
        self.rooms.insert(name.clone(), m);
        self.channels
            .insert(Box::from(self.key(room, "ch").as_bytes()), Chan::Room(name));
        // Not connected yet: the new connections subscribe every room.
        if self.links[super::SUB].connected {
            self.subscribe(room);
        }
        if self.links[super::CMD].connected {
            self.index_room(room, now);
        }
        Readiness::Pending
    }

    pub(super) fn publish_message(
        &mut self,
        p: Publication<'_>,
        now: Now,
    ) -> Result<(), Unavailable> {
        if !self.has_room_in_flight() {
            return Err(Unavailable);
        }
        let mut head = String::with_capacity(64 + p.data.len());
        head.push_str("{\"type\":\"");
        head.push_str(p.kind);
        head.push_str("\",\"room\":");
        head.push_str(p.room_json);
        head.push_str(",\"from\":");
        head.push_str(p.from_json);
        head.push_str(",\"data\":");
        head.push_str(p.data);
        head.push_str(",\"seq\":");
        let tail = format!(",\"ts\":{}}}", now.wall_ms);
        let epoch = self.next_epoch();
        let (meta, log, ch) = (
            self.key(p.room, "meta"),
            self.key(p.room, "log"),
            self.key(p.room, "ch"),
        );
        let (sha, size, ttl) = (
            self.sha(0),
            self.s.history_size.to_string(),
            self.s.room_ttl_ms.to_string(),
        );
        let args: [&[u8]; 7] = [
            ch.as_bytes(),
            head.as_bytes(),
            tail.as_bytes(),
            p.author.as_bytes(),
            size.as_bytes(),
            ttl.as_bytes(),
            epoch.as_bytes(),
        ];
        let pending = Pending::Publish { ticket: p.ticket };
        self.evalsha(&sha, &[meta.as_bytes(), log.as_bytes()], &args, pending);
        Ok(())
    }

    pub(super) fn retract_message(
        &mut self,
        room: &str,
        seq: u64,
        by: &str,
        moderator: bool,
    ) -> Result<(), RetractError> {
        let up = self.has_room_in_flight();
        let m = self.rooms.get_mut(room).ok_or(RetractError::NotFound)?;
        let stored = m.find(seq).ok_or(RetractError::NotFound)?;
        if !moderator && &*stored.author != by {
            return Err(RetractError::NotAuthor);
        }
        if !up {
            return Err(RetractError::Unavailable);
        }
        let epoch = m.info().epoch;
        m.remove(&epoch, seq);
        let (meta, log, ch) = (
            self.key(room, "meta"),
            self.key(room, "log"),
            self.key(room, "ch"),
        );
        let (sha, seq) = (self.sha(2), seq.to_string());
        let moderator: &[u8] = if moderator { b"1" } else { b"0" };
        let args = [ch.as_bytes(), seq.as_bytes(), by.as_bytes(), moderator];
        self.evalsha(
            &sha,
            &[meta.as_bytes(), log.as_bytes()],
            &args,
            Pending::Ignore,
        );
        Ok(())
    }

    /// Rooms with members here never expire in Redis.
    pub(super) fn keep_rooms_alive(&mut self, now: Now) {
        if now.mono_ms >= self.next_refresh_ms && self.up() {
            self.next_refresh_ms = now.mono_ms + (self.s.room_ttl_ms / 3).max(1000);
            let rooms: Vec<Rc<str>> = self.rooms.keys().cloned().collect();
            let ttl = self.s.room_ttl_ms.to_string();
            for room in rooms {
                for what in ["meta", "log"] {
                    let key = self.key(&room, what);
                    self.cmd(
                        &[b"PEXPIRE", key.as_bytes(), ttl.as_bytes()],
                        Pending::Ignore,
                    );
                }
            }
        }
    }
}
