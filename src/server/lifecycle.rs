//! The end of a connection's life: the closing handshake, lingering,
//! removal after the turn, and the per-connection deadlines that drive
//! them (handshake, ping, pong and close timeouts) off the timing wheel.

use super::close_frame;
use super::conn::{self, Phase};
use super::{ms, Reason, Server};
use crate::proto::CloseCode;
use std::rc::Rc;

impl Server {
    // ----- closing ---------------------------------------------------------

    /// Start the closing handshake from our side (RFC 6455 §7.1.2): send a
    /// close frame, then wait up to `close_timeout` for the peer's.
    pub(super) fn start_close(&mut self, key: usize, code: CloseCode, reason: &str) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.phase != Phase::Open {
            return;
        }
        conn.phase = Phase::Closing;
        self.leave_hub(key);
        self.send(key, close_frame(code, reason));
        let deadline = self.now_ms + ms(self.cfg.close_timeout);
        self.schedule(key, deadline);
    }

    /// Send a close frame (if `code` is given) and nothing more; FIN follows
    /// once it is written.
    pub(super) fn close_and_linger(&mut self, key: usize, code: CloseCode, reason: &str) {
        self.linger_after(key, Some(close_frame(code, reason)));
    }

    /// Queue `last` (if any), then go quiet: FIN after the flush, close on
    /// the peer's FIN or at `close_timeout`.
    pub(super) fn linger_after(&mut self, key: usize, last: Option<Rc<[u8]>>) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.doomed || conn.phase == Phase::Linger {
            return;
        }
        if let Some(frame) = last {
            conn.outbox.push(frame);
        }
        let was_open = conn.phase == Phase::Open;
        conn.phase = Phase::Linger;
        conn.decoder = None;
        conn.http = None;
        self.mark_dirty(key);
        if was_open {
            self.leave_hub(key);
        }
        let deadline = self.now_ms + ms(self.cfg.close_timeout);
        self.schedule(key, deadline);
    }

    /// Record why `key` is ending, unless that was decided already.
    pub(super) fn set_reason(&mut self, key: usize, reason: Reason) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.reason.get_or_insert(reason);
        }
    }

    /// A `/ws` connection stopped being open (closing, failed or gone):
    /// the room model forgets it now, so rooms, presence and private
    /// delivery never count a connection that takes no more messages.
    pub(super) fn leave_hub(&mut self, key: usize) {
        if self.conns.get(key).and_then(|c| c.endpoint) == Some(conn::Endpoint::Room) {
            self.with_hub(|hub, net, now| hub.close(key, now, net));
        }
    }

    /// Remove `key` at the end of the turn.
    pub(super) fn doom(&mut self, key: usize, reason: Reason) {
        if let Some(conn) = self.conns.get_mut(key) {
            if !conn.doomed {
                conn.doomed = true;
                conn.reason.get_or_insert(reason);
                self.doomed.push(key);
            }
        }
    }

    pub(super) fn reap(&mut self) {
        for key in std::mem::take(&mut self.doomed) {
            let Some(phase) = self.conns.get(key).map(|c| c.phase) else {
                continue;
            };
            if phase == Phase::Open {
                // Still in the slab, so the hub can name it; it takes no frames.
                self.leave_hub(key);
            }
            let mut conn = self.conns.remove(key);
            let _ = self.poll.registry().deregister(&mut conn.socket);
            if conn.endpoint.is_some() {
                self.ws_open -= 1;
            }
            self.stats.disconnect(conn.reason.unwrap_or(Reason::Gone));
        }
    }

    // ----- timers ----------------------------------------------------------

    pub(super) fn schedule(&mut self, key: usize, at_ms: u64) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.timer_tick = self.wheel.schedule(key, conn.id, at_ms);
        }
    }

    pub(super) fn expire_timers(&mut self) {
        let mut due = std::mem::take(&mut self.due);
        self.wheel.expire(self.now_ms, &mut due);
        for entry in due.drain(..) {
            let key = entry.key as usize;
            match self.conns.get(key) {
                Some(c) if c.id == entry.id && c.timer_tick == entry.tick && !c.doomed => {
                    self.on_timer(key)
                }
                _ => {} // stale: the deadline moved or the key was reused
            }
        }
        self.due = due;
    }

    pub(super) fn on_timer(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let now = self.now_ms;
        match conn.phase {
            Phase::Http => {
                log::debug!(
                    "conn {}: request not complete within handshake_timeout",
                    conn.id
                );
                self.doom(key, Reason::Timeout);
            }
            Phase::Closing | Phase::Linger => self.doom(key, Reason::Timeout),
            Phase::Open => {
                let interval = ms(self.cfg.ping_interval);
                let timeout = ms(self.cfg.ping_timeout);
                let silent = now.saturating_sub(conn.last_seen_ms);
                if silent >= timeout {
                    log::debug!("conn {}: silent for {silent} ms, closing", conn.id);
                    self.set_reason(key, Reason::Timeout);
                    self.close_and_linger(key, CloseCode::NORMAL, "ping timeout");
                    return;
                }
                let next = if silent >= interval && !conn.ping_sent {
                    conn.ping_sent = true;
                    let ping = self.frames.ping.clone();
                    self.send(key, ping);
                    conn_last_seen(self, key) + timeout
                } else if conn.ping_sent {
                    conn.last_seen_ms + timeout
                } else {
                    conn.last_seen_ms + interval
                };
                self.schedule(key, next);
            }
        }
    }
}

pub(super) fn conn_last_seen(server: &Server, key: usize) -> u64 {
    server
        .conns
        .get(key)
        .map_or(server.now_ms, |c| c.last_seen_ms)
}
