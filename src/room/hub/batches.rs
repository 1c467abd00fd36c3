//! Batching (SPEC §8): room chat for members that connected with
//! `?batch=1` is collected per room for `batch_window_ms` and sent as one
//! JSON array frame, built once and shared by every batching member (and
//! compressed once for those that negotiated permessage-deflate). Anything
//! else a room sends (application events, `retracted`) goes out after the
//! room's batch, so order by seq holds; a batching member that joins gets
//! what was collected before it joined only through its own replay.

use super::Hub;
use crate::room::protocol::{text_frame, FRAME_HEADROOM};
use crate::room::{Net, Now, RoomId};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// A batch is sent before it grows past this many bytes of JSON, whatever
/// its window says (one chat bigger than this goes alone).
pub(super) const BATCH_MAX_BYTES: usize = 64 * 1024;

/// One room's collected chat.
#[derive(Debug)]
pub(super) struct Batch {
    /// The room it was collected in (a room id may be reused once the room
    /// is dropped: the batch goes only to the room of this name).
    room: Rc<str>,
    /// `FRAME_HEADROOM` bytes, then `[a,b,...` (closed when sent).
    json: Vec<u8>,
    /// Messages in it.
    count: u32,
    /// The seq of the first.
    first_seq: u64,
    /// When it is due (its entry in [`Batches`]' queue).
    due_ms: u64,
}

/// The rooms with chat collected, and when each is due.
#[derive(Debug, Default)]
pub(super) struct Batches {
    pending: HashMap<RoomId, Batch>,
    /// (due, room), in the order batches were started: with one window
    /// for all, that is the order they fall due. An entry whose batch was
    /// sent early is stale (the room has no batch, or a newer one with
    /// another due time) and is dropped when it reaches the front.
    due: VecDeque<(u64, RoomId)>,
    /// Batch frames built.
    sent: u64,
}

impl Batches {
    /// Add the chat `json` (seq `seq`) to `rid`'s batch, starting one that
    /// is due `window_ms` after `now`. True if the batch is now too big to
    /// wait.
    pub(super) fn push(
        &mut self,
        rid: RoomId,
        room: &Rc<str>,
        seq: u64,
        json: &[u8],
        due_ms: u64,
    ) -> bool {
        let batch = self.pending.entry(rid).or_insert_with(|| {
            self.due.push_back((due_ms, rid));
            let mut buf = Vec::with_capacity(FRAME_HEADROOM + 2 * json.len() + 2);
            buf.resize(FRAME_HEADROOM, 0);
            Batch {
                room: room.clone(),
                json: buf,
                count: 0,
                first_seq: seq,
                due_ms,
            }
        });
        batch.json.push(if batch.count == 0 { b'[' } else { b',' });
        batch.json.extend_from_slice(json);
        batch.count += 1;
        batch.json.len() - FRAME_HEADROOM >= BATCH_MAX_BYTES
    }

    /// Whether the queue entry (`at`, `rid`) is the due time of `rid`'s batch.
    fn is_live(&self, at: u64, rid: RoomId) -> bool {
        self.pending.get(&rid).is_some_and(|b| b.due_ms == at)
    }

    /// Drop stale entries from the front of the queue, so the front is
    /// the next batch due.
    fn prune(&mut self) {
        while let Some(&(at, rid)) = self.due.front() {
            if self.is_live(at, rid) {
                break;
            }
            self.due.pop_front();
        }
    }

    /// Take `rid`'s batch out (to send it).
    fn take(&mut self, rid: RoomId) -> Option<Batch> {
        let batch = self.pending.remove(&rid);
        self.prune();
        batch
    }

    /// The earliest time a batch is due, if any is collected.
    pub(super) fn next_due(&self) -> Option<u64> {
        self.due.front().map(|(at, _)| *at)
    }

    /// Rooms whose batches are due at `now_ms`.
    fn take_due(&mut self, now_ms: u64) -> Vec<RoomId> {
        let mut due = Vec::new();
        while let Some(&(at, rid)) = self.due.front().filter(|(at, _)| *at <= now_ms) {
            self.due.pop_front();
            if self.is_live(at, rid) {
                due.push(rid);
            }
        }
        self.prune();
        due
    }
}

impl Hub {
    /// Collect a chat for the batching members of `rid`.
    pub(super) fn batch_chat(
        &mut self,
        rid: RoomId,
        seq: u64,
        json: &[u8],
        now: Now,
        net: &mut impl Net,
    ) {
        let Some(room) = self.rooms.get(rid) else {
            return;
        };
        let due = now.mono_ms.saturating_add(self.cfg.batch_window_ms);
        if self.batches.push(rid, room.name(), seq, json, due) {
            self.flush_batch(rid, net);
        }
    }

    /// Send `rid`'s batch now (before anything else goes to its members).
    pub(super) fn flush_batch(&mut self, rid: RoomId, net: &mut impl Net) {
        let Some(mut batch) = self.batches.take(rid) else {
            return;
        };
        let Some(room) = self
            .rooms
            .get(rid)
            .filter(|r| Rc::ptr_eq(r.name(), &batch.room))
        else {
            return;
        };
        batch.json.push(b']');
        let (frame, _) = text_frame(&mut batch.json);
        self.batches.sent += 1;
        let count = batch.count;
        let mut behind = Vec::new();
        for (&member, _) in room
            .members()
            .iter()
            .zip(room.batching())
            .filter(|(_, b)| **b)
        {
            if net.is_behind(member) {
                behind.push(member);
            } else {
                net.send_batch(member, &frame, count as usize);
            }
        }
        for member in behind {
            self.note_dropped(member, rid, batch.first_seq, count, net);
        }
    }

    /// Send every batch due at `now` (the loop calls this each turn).
    pub fn flush_batches(&mut self, now: Now, net: &mut impl Net) {
        for rid in self.batches.take_due(now.mono_ms) {
            self.flush_batch(rid, net);
        }
    }

    /// Send every batch now, due or not (at shutdown, before the close frames).
    pub fn flush_all_batches(&mut self, net: &mut impl Net) {
        let rooms: Vec<RoomId> = self.batches.pending.keys().copied().collect();
        for rid in rooms {
            self.flush_batch(rid, net);
        }
        self.batches.due.clear();
    }

    /// Batch frames built so far (for `/metrics`).
    pub fn batches_sent(&self) -> u64 {
        self.batches.sent
    }

    /// When the next batch is due (monotonic ms), for the loop's poll timeout.
    pub fn next_batch_due(&self) -> Option<u64> {
        self.batches.next_due()
    }
}
