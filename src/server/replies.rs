//! Paced replies (SPEC §5): what the server answers by itself (a replay
//! after `since`, `history`, `presence`, offline delivery) waits here and
//! moves into the connection's outbox as it drains below `drop_threshold`,
//! so a big reply to a client that reads is never a reason for 4003, and a
//! client that does not read holds references to shared frames, not
//! copies. Only connections with replies waiting have an entry.

use super::conn::{Conn, ReplyState};
use std::collections::VecDeque;
use std::rc::Rc;

/// Replies waiting for one connection.
#[derive(Debug, Default)]
pub struct Replies {
    frames: VecDeque<Rc<[u8]>>,
    /// Reply bytes moved into the outbox since the entry was made: they
    /// are allowed on top of `max_backpressure` until the outbox drains.
    moved: usize,
}

impl Replies {
    /// Queue `frame` behind the others.
    pub fn push(&mut self, frame: Rc<[u8]>) {
        self.frames.push_back(frame);
    }

    /// Bytes on top of `max_backpressure` that are replies.
    pub fn allowance(&self) -> usize {
        self.moved
    }

    /// Move replies into `conn` (slab key `key`)'s outbox while it is under
    /// `threshold` (one at least if it is empty, however big), mark it
    /// dirty if any moved, and set its [`ReplyState`]. True when the entry
    /// is no longer needed.
    pub fn pump(
        &mut self,
        conn: &mut Conn,
        key: usize,
        threshold: usize,
        dirty: &mut Vec<usize>,
    ) -> bool {
        if self.move_into(conn, threshold) > 0 && !conn.dirty {
            conn.dirty = true;
            dirty.push(key);
        }
        let unsent = conn.outbox.unsent();
        conn.reply_state = if !self.frames.is_empty() || unsent > threshold {
            ReplyState::Pacing
        } else if unsent > 0 {
            ReplyState::Draining
        } else {
            ReplyState::Idle
        };
        conn.reply_state == ReplyState::Idle
    }

    fn move_into(&mut self, conn: &mut Conn, threshold: usize) -> usize {
        let mut moved = 0;
        while let Some(front) = self.frames.front() {
            let unsent = conn.outbox.unsent();
            if unsent > 0 && unsent + front.len() > threshold {
                break;
            }
            if let Some(frame) = self.frames.pop_front() {
                self.moved += frame.len();
                conn.outbox.push(frame);
                moved += 1;
            }
        }
        moved
    }
}
