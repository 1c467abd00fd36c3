//! Reading and writing sockets: every read into the shared scratch buffer,
//! every write from a connection's outbox, once per turn, with a budget.

use super::conn::{Conn, Phase, ReplyState};
use super::{Reason, Server, READ_BUDGET, WRITE_BUDGET};
use crate::proto::CloseCode;
use crate::room::ConnKey;
use mio::{Interest, Token};
use std::io::{self, Read};
use std::net::Shutdown;
use std::rc::Rc;

impl Server {
    // ----- reading ---------------------------------------------------------

    pub(super) fn read_conn(&mut self, key: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut budget = READ_BUDGET;
        while let Some(conn) = self.conns.get_mut(key) {
            if conn.doomed || conn.read_closed {
                break;
            }
            // SPEC §6: the next HTTP request is read only once the answer to
            // the last one is written, so a peer that never reads cannot
            // make us queue answers. The drain resumes it.
            if conn.phase == Phase::Http && conn.outbox.unsent() > 0 {
                break;
            }
            match conn.socket.read(&mut scratch) {
                Ok(0) => {
                    self.on_eof(key);
                    break;
                }
                Ok(n) => {
                    self.stats.bytes_received += n as u64;
                    self.conn_log.bytes(key, n, 0);
                    if let Some(data) = scratch.get_mut(..n) {
                        self.on_bytes(key, data);
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.pending_reads.push(key);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.doom(key, Reason::Gone);
                    break;
                }
            }
        }
        self.scratch = scratch;
    }

    fn on_bytes(&mut self, key: usize, data: &mut [u8]) {
        let Some(phase) = self.conns.get(key).map(|c| c.phase) else {
            return;
        };
        match phase {
            Phase::Http => self.on_http_bytes(key, data),
            Phase::WebSocket => self.on_ws_bytes(key, data),
            // After our last word only the peer's FIN matters.
            Phase::Linger => {}
        }
    }

    fn on_eof(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn.phase {
            Phase::Linger => self.doom(key, Reason::Normal),
            // A request followed by a half-close (`nc -N`, some proxies)
            // still gets its answer (SPEC §6): the peer's FIN only means it
            // sends nothing more.
            Phase::Http => {
                conn.read_closed = true;
                self.advance_http(key);
            }
            Phase::WebSocket => self.doom(key, Reason::Gone),
        }
    }

    // ----- writing ---------------------------------------------------------

    /// Queue a frame for `key` (not droppable). A queue past
    /// `max_backpressure` closes the connection with 4003.
    pub(super) fn send(&mut self, key: usize, frame: Rc<[u8]>) {
        let bits = self.conns.get(key).map_or(0, |c| c.deflate_bits);
        let frame = self.compressor.for_conn(bits, &frame);
        self.queue_as_is(key, frame);
    }

    /// [`Server::send`] without compression: `frame` is already what goes out.
    pub(super) fn queue_as_is(&mut self, key: usize, frame: Rc<[u8]>) {
        let queued = self
            .conns
            .get_mut(key)
            .and_then(|conn| queue_on(conn, &mut self.dirty, key, frame));
        let Some(unsent) = queued else {
            return;
        };
        let limit = self.cfg.max_backpressure + self.replies.get(&key).map_or(0, |r| r.allowance());
        if unsent > limit && self.conns.get(key).is_some_and(|c| c.is_open()) {
            self.close_slow_consumer(key);
        }
    }

    /// Milliseconds since the Unix epoch (the `ts` of messages).
    pub(super) fn wall_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    pub(super) fn close_slow_consumer(&mut self, key: usize) {
        if !self.conns.get(key).is_some_and(|c| c.is_open()) {
            return; // once: a second call would discard the close frame
        }
        // The close must overtake the backlog the peer is not reading. What
        // it drops of private messages goes back to the user's inbox (SPEC
        // §5): the sender was told they were delivered; none is lost.
        let dropped = self
            .conns
            .get_mut(key)
            .map(|c| c.outbox.take_unstarted())
            .unwrap_or_default();
        let privates: Vec<Rc<[u8]>> = dropped
            .into_iter()
            .filter(|f| crate::room::protocol::is_private_frame(f))
            .collect();
        if !privates.is_empty() {
            self.with_hub(|hub, _, now| hub.restore_offline(ConnKey(key), privates, now));
        }
        self.set_reason(key, Reason::SlowConsumer);
        self.abort_ws(key, CloseCode::SLOW_CONSUMER, "slow consumer");
    }

    /// Everything queued for `key` is written.
    fn on_drained_out(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        // An idle connection owns no buffer: the queue's storage goes back
        // to the allocator (a small malloc/free per burst, far below the
        // cost of the write itself).
        conn.outbox.release_if_empty();
        if conn.wants_writable {
            conn.wants_writable = false;
            let registry = self.poll.registry();
            let _ = registry.reregister(&mut conn.socket, Token(key), Interest::READABLE);
        }
        if conn.phase == Phase::Linger && !conn.write_shut {
            // Our last bytes are out: send FIN, then wait for the peer's.
            conn.write_shut = true;
            let _ = conn.socket.shutdown(Shutdown::Write);
            if conn.read_closed {
                // It came already: nothing is left to wait for.
                let reason = conn.reason.unwrap_or(Reason::Http);
                self.doom(key, reason);
                return;
            }
        }
        if conn.phase == Phase::Http {
            // The answer is out: the next request may be read.
            self.http_resume.push(key);
        }
    }

    /// After a flush: move waiting replies into the outbox; forget the
    /// entry once they are all written.
    fn pump_replies(&mut self, key: usize) {
        let (Some(conn), Some(replies)) = (self.conns.get_mut(key), self.replies.get_mut(&key))
        else {
            return;
        };
        if replies.pump(conn, key, self.cfg.drop_threshold, &mut self.dirty) {
            self.replies.remove(&key);
        }
    }

    pub(super) fn mark_dirty(&mut self, key: usize) {
        if let Some(conn) = self.conns.get_mut(key) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    pub(super) fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &key in &dirty {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.dirty = false;
            }
            self.flush_conn(key);
        }
        // Connections that used up their budget were pushed again; keep the
        // vector's capacity for the next turn.
        let mut dirty = dirty;
        dirty.clear();
        dirty.append(&mut self.dirty);
        self.dirty = dirty;
    }

    fn flush_conn(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.doomed {
            return;
        }
        let result = conn.outbox.flush(&mut conn.socket, WRITE_BUDGET);
        let flushed = match result {
            Ok(f) => f,
            Err(_) => {
                self.doom(key, Reason::Gone);
                return;
            }
        };
        self.stats.bytes_sent += flushed.bytes as u64;
        self.conn_log.bytes(key, 0, flushed.bytes);
        if conn.reply_state != ReplyState::Idle {
            self.pump_replies(key);
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let registry = self.poll.registry();
        if conn.drain_watch
            && conn.outbox.unsent() <= self.cfg.drop_threshold
            && conn.reply_state != ReplyState::Pacing
        {
            conn.drain_watch = false;
            self.drained.push(key);
        }
        if flushed.drained {
            self.on_drained_out(key);
        } else if flushed.bytes >= WRITE_BUDGET {
            // Budget used up, not blocked: continue next turn.
            conn.dirty = true;
            self.dirty.push(key);
        } else if !conn.wants_writable {
            conn.wants_writable = true;
            let _ = registry.reregister(
                &mut conn.socket,
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            );
        }
    }
}

/// Queue `frame` on `conn` (slab key `key`) and mark it dirty; returns its unsent bytes, or
/// `None` if the connection takes nothing more.
pub(super) fn queue_on(
    conn: &mut Conn,
    dirty: &mut Vec<usize>,
    key: usize,
    frame: Rc<[u8]>,
) -> Option<usize> {
    if conn.doomed || conn.write_shut {
        return None;
    }
    conn.outbox.push(frame);
    if !conn.dirty {
        conn.dirty = true;
        dirty.push(key);
    }
    Some(conn.outbox.unsent())
}
