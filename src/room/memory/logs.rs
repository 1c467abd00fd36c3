//! Room logs: seq, epoch and history per room, under one byte budget for
//! all rooms (SPEC §6 `max_history_bytes`): past it, the oldest messages
//! of the least recently active rooms go first (their `since` recovery then
//! says `recovered: false`), as Redis evicts by LRU under `maxmemory`.

use crate::room::engine::Publication;
use crate::room::engine::{RetractError, RoomInfo, Stored};
use crate::room::protocol::JsonFrame;
use crate::room::Now;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::rc::Rc;

/// What a stored message costs beyond its frame: the `Stored` itself, the
/// `Rc` headers and its ring slot.
const MESSAGE_OVERHEAD: usize = 80;

fn cost(m: &Stored) -> usize {
    m.frame.len() + MESSAGE_OVERHEAD
}

/// One room's log.
#[derive(Debug)]
struct RoomLog {
    /// The room (shared with the map's key, the activity index and every
    /// completion).
    name: Rc<str>,
    epoch: Rc<str>,
    /// The last seq given out.
    seq: u64,
    /// The last `history_size` chat messages, oldest first.
    history: VecDeque<Stored>,
    /// Its key in the activity index while it holds messages (0: none).
    active: u64,
}

impl RoomLog {
    fn info(&self) -> RoomInfo {
        RoomInfo {
            epoch: self.epoch.clone(),
            seq: self.seq,
            oldest: self.history.front().map_or(self.seq + 1, |m| m.seq),
            stored: self.history.len(),
        }
    }
}

/// Every room's log. See the module docs.
#[derive(Debug)]
pub struct Logs {
    logs: HashMap<Rc<str>, RoomLog>,
    /// Rooms holding messages, least recently active first.
    by_activity: BTreeSet<(u64, Rc<str>)>,
    activity: u64,
    /// Bytes of stored messages.
    bytes: usize,
    max_bytes: usize,
    history_size: usize,
    /// Messages evicted for the budget.
    evicted: u64,
    epoch_counter: u64,
}

impl Logs {
    /// No logs yet; `history_size` messages per room, `max_bytes` in all.
    pub fn new(history_size: usize, max_bytes: usize) -> Logs {
        Logs {
            logs: HashMap::new(),
            by_activity: BTreeSet::new(),
            activity: 0,
            bytes: 0,
            max_bytes,
            history_size,
            evicted: 0,
            epoch_counter: 0,
        }
    }

    /// Bytes of stored messages, and messages evicted for the budget.
    pub fn usage(&self) -> (usize, u64) {
        (self.bytes, self.evicted)
    }

    /// The room's log, created if it has none (always `Some`).
    fn log(&mut self, room: &str, now: Now) -> Option<&mut RoomLog> {
        if !self.logs.contains_key(room) {
            let name: Rc<str> = Rc::from(room);
            let log = RoomLog {
                name: name.clone(),
                epoch: self.new_epoch(now),
                seq: 0,
                history: VecDeque::new(),
                active: 0,
            };
            self.logs.insert(name, log);
        }
        self.logs.get_mut(room)
    }

    fn new_epoch(&mut self, now: Now) -> Rc<str> {
        let mut bytes = [0u8; 8];
        if getrandom::getrandom(&mut bytes).is_err() {
            // No entropy source: the time and a counter still differ per room.
            self.epoch_counter += 1;
            bytes = (now.wall_ms ^ self.epoch_counter.rotate_left(32)).to_le_bytes();
        }
        Rc::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// The room's seq, epoch and what it stores (creating its log).
    pub fn info(&mut self, room: &str, now: Now) -> RoomInfo {
        self.log(room, now).map_or(
            RoomInfo {
                epoch: Rc::from(""),
                seq: 0,
                oldest: 1,
                stored: 0,
            },
            |log| log.info(),
        )
    }

    /// Number, frame and store one chat; the room and the stored message.
    pub fn publish(&mut self, p: Publication<'_>, now: Now) -> Option<(Rc<str>, Stored)> {
        let (capacity, stamp) = (self.history_size, self.activity + 1);
        self.activity = stamp;
        let log = self.log(p.room, now)?;
        log.seq += 1;
        let (frame, json_at) = JsonFrame::new(p.kind)
            .raw("room", p.room_json)
            .raw("from", p.from_json)
            .raw("data", p.data)
            .num("seq", log.seq)
            .num("ts", now.wall_ms)
            .finish_with_offset();
        let message = Stored {
            seq: log.seq,
            author: p.author.clone(),
            frame,
            json_at: json_at as u8,
        };
        let name = log.name.clone();
        if capacity == 0 {
            return Some((name, message));
        }
        let mut freed = 0;
        while log.history.len() >= capacity {
            freed += log.history.pop_front().map_or(0, |m| cost(&m));
        }
        log.history.push_back(message.clone());
        let old = std::mem::replace(&mut log.active, stamp);
        self.bytes = (self.bytes + cost(&message)).saturating_sub(freed);
        self.by_activity.remove(&(old, name.clone()));
        self.by_activity.insert((stamp, name.clone()));
        self.evict_to_budget();
        Some((name, message))
    }

    /// Past the budget, drop the oldest messages of the least recently
    /// active rooms. Costs the messages dropped.
    fn evict_to_budget(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((stamp, name)) = self.by_activity.pop_first() else {
                return;
            };
            let Some(log) = self.logs.get_mut(&name) else {
                continue;
            };
            while self.bytes > self.max_bytes {
                let Some(m) = log.history.pop_front() else {
                    break;
                };
                self.bytes = self.bytes.saturating_sub(cost(&m));
                self.evicted += 1;
            }
            if log.history.is_empty() {
                log.active = 0;
            } else {
                self.by_activity.insert((stamp, name));
            }
        }
    }

    /// Stored messages, oldest first (see [`Engine::messages`](crate::room::Engine::messages)).
    pub fn messages(&self, room: &str, since: Option<u64>, limit: usize) -> Vec<Stored> {
        let Some(log) = self.logs.get(room) else {
            return Vec::new();
        };
        crate::room::engine::select(&log.history, since, limit)
    }

    /// Remove message `seq` of `room`, if `by` may.
    pub fn retract(
        &mut self,
        room: &str,
        seq: u64,
        by: &str,
        moderator: bool,
    ) -> Result<(), RetractError> {
        let log = self.logs.get_mut(room).ok_or(RetractError::NotFound)?;
        let pos = log
            .history
            .iter()
            .position(|m| m.seq == seq)
            .ok_or(RetractError::NotFound)?;
        if !moderator && log.history.get(pos).is_some_and(|m| &*m.author != by) {
            return Err(RetractError::NotAuthor);
        }
        if let Some(m) = log.history.remove(pos) {
            self.bytes = self.bytes.saturating_sub(cost(&m));
        }
        if log.history.is_empty() {
            self.by_activity.remove(&(log.active, log.name.clone()));
            log.active = 0;
        }
        Ok(())
    }

    /// Drop `room`'s log.
    pub fn forget(&mut self, room: &str) {
        if let Some(log) = self.logs.remove(room) {
            let freed: usize = log.history.iter().map(cost).sum();
            self.bytes = self.bytes.saturating_sub(freed);
            self.by_activity.remove(&(log.active, log.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(logs: &mut Logs, room: &str) -> u64 {
        let author: Rc<str> = Rc::from("a");
        let room_json = format!("\"{room}\"");
        let p = Publication {
            kind: "chat",
            room,
            room_json: &room_json,
            author: &author,
            from_json: "\"a\"",
            data: "\"0123456789\"",
            ticket: None,
        };
        logs.publish(p, Now::default()).map_or(0, |(_, m)| m.seq)
    }

    #[test]
    fn the_budget_evicts_the_least_recently_active_rooms_first() {
        let one = {
            let mut l = Logs::new(100, usize::MAX);
            publish(&mut l, "xyz");
            l.usage().0
        };
        // Room for ten messages in all.
        let mut logs = Logs::new(100, one * 10);
        for _ in 0..4 {
            publish(&mut logs, "old");
        }
        for _ in 0..4 {
            publish(&mut logs, "mid");
        }
        for _ in 0..4 {
            publish(&mut logs, "new");
        }
        assert!(logs.usage().0 <= one * 10);
        assert_eq!(logs.usage().1, 2, "two messages evicted");
        let now = Now::default();
        // The oldest room lost its oldest messages: recovery from 0 is off.
        let old = logs.info("old", now);
        assert_eq!((old.seq, old.oldest, old.stored), (4, 3, 2));
        assert_eq!(logs.info("new", now).stored, 4);
        // Activity moves a room to the back of the line.
        publish(&mut logs, "old");
        publish(&mut logs, "new");
        assert_eq!(logs.info("mid", now).stored, 2);
        logs.forget("old");
        logs.forget("mid");
        logs.forget("new");
        assert_eq!(logs.usage().0, 0, "every byte accounted for");
    }

    #[test]
    fn retract_and_ring_keep_the_byte_count() {
        let mut logs = Logs::new(3, usize::MAX);
        for _ in 0..5 {
            publish(&mut logs, "r");
        }
        let three = logs.usage().0;
        assert_eq!(logs.retract("r", 4, "a", false), Ok(()));
        assert_eq!(logs.usage().0, three / 3 * 2);
        logs.forget("r");
        assert_eq!(logs.usage().0, 0);
    }
}
