//! One room's log as this node holds it while the room has local members:
//! the epoch, the last seq delivered here and the last `history_size`
//! messages, kept in step with Redis by pub/sub and, where pub/sub left a
//! gap (a reconnect, a lost message), by reading the history again before
//! anything newer is delivered (SPEC §7).

use crate::room::engine::{RoomInfo, Stored};
use crate::room::protocol::{text_frame, FRAME_HEADROOM};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

/// Messages held back behind a gap, at most (past it the oldest go; the
/// history read that fills the gap brings them back).
const MAX_EARLY: usize = 10_000;

/// A history entry (`seq \x1f author \x1f json`) as a stored frame.
pub fn parse_entry(entry: &[u8]) -> Option<Stored> {
    let mut parts = entry.splitn(3, |b| *b == 0x1f);
    let seq = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let author = std::str::from_utf8(parts.next()?).ok()?;
    let json = parts.next()?;
    std::str::from_utf8(json).ok()?;
    let (frame, json_at) = frame_json(json);
    Some(Stored {
        seq,
        author: Rc::from(author),
        frame,
        json_at: json_at as u8,
    })
}

/// JSON text framed as one WebSocket text message.
pub fn frame_json(json: &[u8]) -> (Rc<[u8]>, usize) {
    let mut buf = Vec::with_capacity(FRAME_HEADROOM + json.len());
    buf.resize(FRAME_HEADROOM, 0);
    buf.extend_from_slice(json);
    text_frame(&mut buf)
}

/// See the module docs.
#[derive(Debug)]
pub struct Mirror {
    /// SUBSCRIBE confirmed on the current connection.
    pub subscribed: bool,
    /// A history read answered since the subscription: live messages flow.
    pub synced: bool,
    /// A history read is in flight.
    pub sync_inflight: bool,
    /// A gap (or a new subscription) wants a history read.
    pub needs_sync: bool,
    /// Joins wait for this room (a `RoomReady` is owed).
    pub waiting: bool,
    loaded: bool,
    epoch: Rc<str>,
    seq: u64,
    history: VecDeque<Stored>,
    early: BTreeMap<u64, (Rc<str>, Stored)>,
    history_size: usize,
    /// Users in the room on every node, with their connections.
    presence: HashMap<Rc<str>, u32>,
    /// This node's connections per user in the room.
    local: HashMap<Rc<str>, u32>,
}

impl Mirror {
    /// Nothing known yet.
    pub fn new(history_size: usize) -> Mirror {
        Mirror {
            subscribed: false,
            synced: false,
            sync_inflight: false,
            needs_sync: true,
            waiting: false,
            loaded: false,
            epoch: Rc::from(""),
            seq: 0,
            history: VecDeque::new(),
            early: BTreeMap::new(),
            history_size,
            presence: HashMap::new(),
            local: HashMap::new(),
        }
    }

    /// Whether joins can be answered from it.
    pub fn ready(&self) -> bool {
        self.loaded && self.synced
    }

    /// The connection carrying pub/sub is gone: until subscribed and read
    /// again, live messages are held back.
    pub fn unsubscribed(&mut self) {
        self.subscribed = false;
        self.synced = false;
        self.needs_sync = true;
    }

    /// Distinct users in the room on every node.
    pub fn online(&self) -> usize {
        self.presence.len()
    }

    /// Users on every node, with their connections.
    pub fn presence(&self) -> Vec<(Rc<str>, u32)> {
        self.presence.iter().map(|(u, n)| (u.clone(), *n)).collect()
    }

    /// This node's users in the room, with their connections here.
    pub fn local(&self) -> Vec<(Rc<str>, u32)> {
        self.local.iter().map(|(u, n)| (u.clone(), *n)).collect()
    }

    /// The presence Redis holds (a read of the room).
    pub fn set_presence(&mut self, users: HashMap<Rc<str>, u32>) {
        self.presence = users;
    }

    /// `user` has `conns` connections here now: counted at once (Redis
    /// confirms with the total); the online count.
    pub fn local_change(&mut self, user: &str, conns: u32) -> usize {
        let old = match conns {
            0 => self.local.remove(user).unwrap_or(0),
            n => self.local.insert(Rc::from(user), n).unwrap_or(0),
        };
        let total = self.presence.get(user).copied().unwrap_or(0);
        let total = (total + conns).saturating_sub(old);
        self.on_presence(user, total)
    }

    /// Redis says `user` has `total` connections in the room on every
    /// node; the online count.
    pub fn on_presence(&mut self, user: &str, total: u32) -> usize {
        if total == 0 {
            self.presence.remove(user);
        } else if let Some(n) = self.presence.get_mut(user) {
            *n = total;
        } else {
            self.presence.insert(Rc::from(user), total);
        }
        self.presence.len()
    }

    /// What a joining client needs.
    pub fn info(&self) -> RoomInfo {
        RoomInfo {
            epoch: self.epoch.clone(),
            seq: self.seq,
            oldest: self.history.front().map_or(self.seq + 1, |m| m.seq),
            stored: self.history.len(),
        }
    }

    /// Stored messages (as [`crate::room::Engine::messages`]).
    pub fn messages(&self, since: Option<u64>, limit: usize) -> Vec<Stored> {
        crate::room::engine::select(&self.history, since, limit)
    }

    /// A stored message, if held.
    pub fn find(&self, seq: u64) -> Option<&Stored> {
        self.history.iter().find(|m| m.seq == seq)
    }

    /// Drop message `seq` from the history; true if it was there.
    pub fn remove(&mut self, epoch: &str, seq: u64) -> bool {
        if epoch != &*self.epoch {
            return false;
        }
        let before = self.history.len();
        self.history.retain(|m| m.seq != seq);
        before != self.history.len()
    }

    fn accept(&mut self, m: Stored, out: &mut Vec<Stored>) {
        self.seq = m.seq;
        if self.history_size > 0 {
            while self.history.len() >= self.history_size {
                self.history.pop_front();
            }
            self.history.push_back(m.clone());
        }
        out.push(m);
    }

    /// A live message from pub/sub: what can be delivered now goes to
    /// `out`, in seq order. True if a history read is needed (a gap).
    pub fn on_message(&mut self, epoch: Rc<str>, m: Stored, out: &mut Vec<Stored>) -> bool {
        if !self.synced {
            self.hold(epoch, m);
            return false;
        }
        if epoch != self.epoch {
            // Redis lost the room (restart without persistence, expiry):
            // a new epoch starts; clients that recover get recovered: false.
            log::warn!("room epoch changed from {} to {epoch}", self.epoch);
            self.epoch = epoch.clone();
            self.seq = 0;
            self.history.clear();
            self.early.retain(|_, (e, _)| *e == epoch);
        }
        if m.seq <= self.seq {
            return false;
        }
        if m.seq == self.seq + 1 {
            self.accept(m, out);
            self.drain(out, false);
            return false;
        }
        self.hold(epoch, m);
        self.needs_sync = true;
        true
    }

    fn hold(&mut self, epoch: Rc<str>, m: Stored) {
        if self.early.len() >= MAX_EARLY {
            self.early.pop_first();
        }
        self.early.insert(m.seq, (epoch, m));
    }

    /// Deliver what was held back, in order; with `skip`, across gaps
    /// that history could not fill.
    fn drain(&mut self, out: &mut Vec<Stored>, skip: bool) {
        while let Some(entry) = self.early.first_entry() {
            let (epoch, m) = entry.get();
            if *epoch != self.epoch || m.seq <= self.seq {
                entry.remove();
                continue;
            }
            if m.seq != self.seq + 1 && !skip {
                return;
            }
            let (_, m) = entry.remove();
            self.accept(m, out);
        }
    }

    /// The room's state as Redis has it: the first read loads it; a later
    /// one fills the gap (delivered to `out`) before what was held back.
    /// A later read that finds a new epoch (Redis lost the room) delivers
    /// what the new epoch holds: members here were in the room all along.
    pub fn on_sync(
        &mut self,
        epoch: Rc<str>,
        seq: u64,
        entries: Vec<Stored>,
        out: &mut Vec<Stored>,
    ) {
        self.sync_inflight = false;
        if self.loaded && epoch != self.epoch {
            log::warn!("room epoch changed from {} to {epoch}", self.epoch);
            self.epoch = epoch.clone();
            self.seq = 0;
            self.history.clear();
        }
        if !self.loaded {
            self.loaded = true;
            self.epoch = epoch;
            self.history = entries.into_iter().collect();
            while self.history.len() > self.history_size {
                self.history.pop_front();
            }
            self.seq = seq;
        } else {
            for m in entries {
                if m.seq > self.seq {
                    self.accept(m, out);
                }
            }
            // What history no longer holds is gone for members here.
            self.seq = self.seq.max(seq);
        }
        self.synced = true;
        self.needs_sync = false;
        self.drain(out, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64) -> Stored {
        parse_entry(format!("{seq}\x1fann\x1f{{\"seq\":{seq}}}").as_bytes()).unwrap()
    }

    fn seqs(v: &[Stored]) -> Vec<u64> {
        v.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn entries_parse_and_frame() {
        let m = msg(7);
        assert_eq!((m.seq, &*m.author, m.json()), (7, "ann", "{\"seq\":7}"));
        assert!(parse_entry(b"x\x1fa\x1f{}").is_none());
        assert!(parse_entry(b"1\x1fa").is_none());
    }

    #[test]
    fn first_read_loads_then_live_messages_flow_in_order() {
        let e: Rc<str> = Rc::from("e1");
        let mut m = Mirror::new(3);
        let mut out = Vec::new();
        // Arrived between SUBSCRIBE and the read: 3 is in history, 4 is not.
        m.on_message(e.clone(), msg(3), &mut out);
        m.on_message(e.clone(), msg(4), &mut out);
        assert!(out.is_empty());
        m.on_sync(e.clone(), 3, vec![msg(1), msg(2), msg(3)], &mut out);
        assert_eq!(seqs(&out), [4]);
        assert!(m.ready());
        assert_eq!(m.info().seq, 4);
        assert_eq!(seqs(&m.messages(None, 10)), [2, 3, 4], "history keeps 3");
        assert_eq!(seqs(&m.messages(Some(2), 1)), [3]);
        out.clear();
        assert!(!m.on_message(e.clone(), msg(5), &mut out));
        assert!(
            !m.on_message(e.clone(), msg(5), &mut out),
            "duplicates are dropped"
        );
        assert_eq!(seqs(&out), [5]);
    }

    #[test]
    fn a_gap_waits_for_history_then_everything_goes_in_order() {
        let e: Rc<str> = Rc::from("e1");
        let mut m = Mirror::new(10);
        let mut out = Vec::new();
        m.on_sync(e.clone(), 2, vec![msg(1), msg(2)], &mut out);
        assert!(
            m.on_message(e.clone(), msg(5), &mut out),
            "gap: read history"
        );
        assert!(m.on_message(e.clone(), msg(6), &mut out));
        assert!(out.is_empty(), "nothing past the gap yet");
        m.on_sync(
            e.clone(),
            6,
            vec![msg(1), msg(2), msg(3), msg(4), msg(5), msg(6)],
            &mut out,
        );
        assert_eq!(seqs(&out), [3, 4, 5, 6]);
        // A gap history cannot fill (trimmed): skipped, order kept.
        out.clear();
        m.on_message(e.clone(), msg(9), &mut out);
        m.on_sync(e.clone(), 9, vec![msg(9)], &mut out);
        assert_eq!(seqs(&out), [9]);
    }

    #[test]
    fn a_new_epoch_resets_the_room() {
        let mut m = Mirror::new(10);
        let mut out = Vec::new();
        m.on_sync(Rc::from("old"), 40, vec![msg(40)], &mut out);
        m.unsubscribed();
        // Redis came back empty and another node published twice before
        // this one read again: both are delivered, then the live one.
        m.on_message(Rc::from("new"), msg(3), &mut out);
        m.on_sync(Rc::from("new"), 2, vec![msg(1), msg(2)], &mut out);
        assert_eq!(seqs(&out), [1, 2, 3]);
        assert_eq!(
            (&*m.info().epoch, m.info().seq, m.info().stored),
            ("new", 3, 3)
        );
        assert!(m.remove("new", 1) && !m.remove("old", 2));
    }
}
