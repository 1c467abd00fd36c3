//! The in-process engine (`engine = "memory"`, the default): every room's
//! log, the offline inboxes, bans and mutes in this process's memory.
//! Requests complete at once.

use super::engine::{Completion, Engine, Publication, RetractError, RoomInfo, Stored};
use super::protocol::JsonFrame;
use super::Now;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// The limits the memory engine keeps.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLimits {
    /// Chat messages kept per room.
    pub history_size: usize,
    /// Private messages kept per offline user.
    pub offline_queue: usize,
    /// How long they are kept, ms.
    pub offline_ttl_ms: u64,
}

/// One room's log.
#[derive(Debug)]
struct RoomLog {
    /// The room (shared with the map's key and every completion).
    name: Rc<str>,
    epoch: Rc<str>,
    /// The last seq given out.
    seq: u64,
    /// The last `history_size` chat messages, oldest first.
    history: VecDeque<Stored>,
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

/// Stored private messages: (expiry in monotonic ms, frame), oldest first.
type Inbox = VecDeque<(u64, Rc<[u8]>)>;

/// See the module docs.
#[derive(Debug)]
pub struct MemoryEngine {
    limits: MemoryLimits,
    logs: HashMap<Rc<str>, RoomLog>,
    inboxes: HashMap<Box<str>, Inbox>,
    /// (user, room or "" for everywhere) → until when (monotonic ms).
    bans: HashMap<(Box<str>, Box<str>), u64>,
    /// (user, room) → muted until when.
    mutes: HashMap<(Box<str>, Box<str>), u64>,
    completions: VecDeque<Completion>,
    epoch_counter: u64,
}

impl MemoryEngine {
    /// An empty engine.
    pub fn new(limits: MemoryLimits) -> MemoryEngine {
        MemoryEngine {
            limits,
            logs: HashMap::new(),
            inboxes: HashMap::new(),
            bans: HashMap::new(),
            mutes: HashMap::new(),
            completions: VecDeque::new(),
            epoch_counter: 0,
        }
    }

    /// Users with stored messages.
    #[cfg(test)]
    pub fn inbox_count(&self) -> usize {
        self.inboxes.len()
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
}

impl Engine for MemoryEngine {
    fn room_info(&mut self, room: &str, now: Now) -> RoomInfo {
        self.log(room, now)
            .map(|log| log.info())
            .unwrap_or(RoomInfo {
                epoch: Rc::from(""),
                seq: 0,
                oldest: 1,
                stored: 0,
            })
    }

    fn publish(&mut self, p: Publication<'_>, now: Now) {
        let capacity = self.limits.history_size;
        let Some(log) = self.log(p.room, now) else {
            return;
        };
        log.seq += 1;
        let (frame, json_at) = JsonFrame::new("chat")
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
        if capacity > 0 {
            while log.history.len() >= capacity {
                log.history.pop_front();
            }
            log.history.push_back(message.clone());
        }
        let room = log.name.clone();
        self.completions
            .push_back(Completion::Published { room, message });
    }

    fn poll_completion(&mut self) -> Option<Completion> {
        self.completions.pop_front()
    }

    fn messages(&self, room: &str, since: Option<u64>, limit: usize) -> Vec<Stored> {
        let Some(log) = self.logs.get(room) else {
            return Vec::new();
        };
        match since {
            Some(s) => log
                .history
                .iter()
                .filter(|m| m.seq > s)
                .take(limit)
                .cloned()
                .collect(),
            None => log
                .history
                .iter()
                .skip(log.history.len().saturating_sub(limit))
                .cloned()
                .collect(),
        }
    }

    fn retract(
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
        log.history.remove(pos);
        Ok(())
    }

    fn forget_room(&mut self, room: &str) {
        self.logs.remove(room);
    }

    fn store_offline(&mut self, user: &str, frame: Rc<[u8]>, now: Now) -> bool {
        let capacity = self.limits.offline_queue;
        if capacity == 0 {
            return false;
        }
        let expires = now.mono_ms.saturating_add(self.limits.offline_ttl_ms);
        let inbox = self.inboxes.entry(user.into()).or_default();
        while inbox.len() >= capacity {
            inbox.pop_front();
        }
        inbox.push_back((expires, frame));
        true
    }

    fn take_offline(&mut self, user: &str, now: Now) -> Vec<Rc<[u8]>> {
        self.inboxes
            .remove(user)
            .map(|inbox| {
                inbox
                    .into_iter()
                    .filter(|(expires, _)| *expires > now.mono_ms)
                    .map(|(_, frame)| frame)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn ban(&mut self, user: &str, room: Option<&str>, until_ms: u64) {
        self.bans
            .insert((user.into(), room.unwrap_or("").into()), until_ms);
    }

    fn is_banned(&self, user: &str, room: Option<&str>, now: Now) -> bool {
        let active = |r: &str| {
            self.bans
                .get(&(user.into(), r.into()))
                .is_some_and(|until| *until > now.mono_ms)
        };
        active("") || room.is_some_and(active)
    }

    fn mute(&mut self, user: &str, room: &str, until_ms: u64) {
        self.mutes.insert((user.into(), room.into()), until_ms);
    }

    fn is_muted(&self, user: &str, room: &str, now: Now) -> bool {
        self.mutes
            .get(&(user.into(), room.into()))
            .is_some_and(|until| *until > now.mono_ms)
    }

    fn tick(&mut self, now: Now) {
        self.bans.retain(|_, until| *until > now.mono_ms);
        self.mutes.retain(|_, until| *until > now.mono_ms);
        self.inboxes.retain(|_, inbox| {
            inbox.retain(|(expires, _)| *expires > now.mono_ms);
            !inbox.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(history_size: usize) -> MemoryEngine {
        MemoryEngine::new(MemoryLimits {
            history_size,
            offline_queue: 2,
            offline_ttl_ms: 1_000,
        })
    }

    fn publish(e: &mut MemoryEngine, author: &str) -> Stored {
        let author: Rc<str> = Rc::from(author);
        e.publish(
            Publication {
                room: "r",
                room_json: "\"r\"",
                author: &author,
                from_json: "\"a\"",
                data: "1",
            },
            Now::default(),
        );
        match e.poll_completion() {
            Some(Completion::Published { message, .. }) => message,
            None => panic!("memory completes at once"),
        }
    }

    #[test]
    fn history_is_a_ring_numbered_from_one() {
        let mut e = engine(3);
        let info = e.room_info("r", Now::default());
        assert_eq!((info.seq, info.oldest, info.stored), (0, 1, 0));
        for seq in 1..=5 {
            assert_eq!(publish(&mut e, "a").seq, seq);
        }
        let seqs = |v: Vec<Stored>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs(e.messages("r", None, usize::MAX)), vec![3, 4, 5]);
        assert_eq!(seqs(e.messages("r", Some(3), 1)), vec![4]);
        assert_eq!(seqs(e.messages("r", None, 2)), vec![4, 5]);
        let info = e.room_info("r", Now::default());
        assert_eq!((info.seq, info.oldest, info.stored), (5, 3, 3));
        assert!(e.messages("r", None, 1)[0]
            .json()
            .starts_with("{\"type\":\"chat\""));
    }

    #[test]
    fn a_forgotten_room_starts_over_with_a_new_epoch() {
        let mut e = engine(3);
        let first = e.room_info("r", Now::default()).epoch;
        publish(&mut e, "a");
        e.forget_room("r");
        let again = e.room_info("r", Now::default());
        assert_eq!(again.seq, 0);
        assert_ne!(again.epoch, first);
    }

    #[test]
    fn retract_by_author_or_moderator_only() {
        let mut e = engine(3);
        publish(&mut e, "ann");
        assert_eq!(e.retract("r", 1, "bo", false), Err(RetractError::NotAuthor));
        assert_eq!(e.retract("r", 9, "ann", false), Err(RetractError::NotFound));
        assert_eq!(e.retract("r", 1, "bo", true), Ok(()));
        assert!(e.messages("r", None, 9).is_empty());
    }

    #[test]
    fn inboxes_cap_and_expire() {
        let mut e = engine(3);
        let t = |ms| Now {
            mono_ms: ms,
            wall_ms: 0,
        };
        for i in 0u8..3 {
            assert!(e.store_offline("u", Rc::from(&[i][..]), t(0)));
        }
        assert_eq!(
            e.take_offline("u", t(10)).len(),
            2,
            "capped at offline_queue"
        );
        e.store_offline("u", Rc::from(&[9u8][..]), t(0));
        e.tick(t(1_000));
        assert_eq!(e.inbox_count(), 0, "expired after offline_ttl");
        assert!(e.take_offline("u", t(1_000)).is_empty());
    }

    #[test]
    fn bans_and_mutes_expire() {
        let mut e = engine(3);
        let t = |ms| Now {
            mono_ms: ms,
            wall_ms: 0,
        };
        e.ban("u", None, 100);
        e.ban("v", Some("r"), 100);
        e.mute("w", "r", 100);
        assert!(e.is_banned("u", Some("x"), t(99)));
        assert!(e.is_banned("v", Some("r"), t(99)) && !e.is_banned("v", None, t(99)));
        assert!(e.is_muted("w", "r", t(99)) && !e.is_muted("w", "s", t(99)));
        e.tick(t(100));
        assert!(!e.is_banned("u", None, t(100)) && !e.is_muted("w", "r", t(100)));
    }
}
