//! The end of a connection's life: the server's shutdown, lingering,
//! removal after the turn, and the per-connection deadlines off the timing
//! wheel (the HTTP request's, the linger's, and whatever the WebSocket
//! session asks for).

use super::conn::{self, Phase, ReplyState};
use super::{ms, Reason, Server};
use crate::proto::session::Session;
use crate::proto::CloseCode;
use crate::room::ConnKey;
use std::rc::Rc;

impl Server {
    /// SPEC §5: stop accepting, close 1001 to every connection, wait up to
    /// `close_timeout`.
    pub(super) fn begin_shutdown(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.accept_pending = false;
        self.draining_until = Some(self.now_ms + ms(self.cfg.close_timeout));
        log::info!(
            "draining {} connections (close 1001, up to {} s); a second signal exits now",
            self.conns.len(),
            self.cfg.close_timeout
        );
        // Chat collected for batching members goes out before the close frames.
        self.with_hub(|hub, net, _| hub.flush_all_batches(net));
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            match self.conns.get(key).map(|c| c.phase) {
                Some(Phase::WebSocket) => {
                    self.set_reason(key, Reason::Shutdown);
                    self.start_close(key, CloseCode::GOING_AWAY, "server shutting down");
                }
                Some(Phase::Http) => self.doom(key, Reason::Shutdown),
                _ => {}
            }
        }
    }

    // ----- closing ---------------------------------------------------------

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
            self.conn_log.last_frame(key, &frame);
            conn.outbox.push(frame);
        }
        let was_ws = conn.phase == Phase::WebSocket;
        conn.phase = Phase::Linger;
        conn.reply_state = ReplyState::Idle;
        self.replies.remove(&key);
        conn.session = Session::default();
        conn.http = None;
        self.mark_dirty(key);
        if was_ws {
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
            self.with_hub(|hub, net, now| hub.close(ConnKey(key), now, net));
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
            if phase == Phase::WebSocket {
                // Still in the slab, so the hub can name it; it takes no frames.
                self.leave_hub(key);
            }
            self.replies.remove(&key);
            self.per_ip.closed(key);
            let mut conn = self.conns.remove(key);
            self.http_order.remove(&conn.id);
            let _ = self.poll.registry().deregister(&mut conn.socket);
            if conn.endpoint.is_some() {
                self.ws_open -= 1;
            }
            let reason = conn.reason.unwrap_or(Reason::Gone);
            let details = self.conn_log.closed(key);
            log::log!(
                self.access_level(),
                "conn {}: closed ({}){details}",
                conn.id,
                reason.label()
            );
            self.stats.disconnect(reason);
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
            Phase::Linger => self.doom(key, Reason::Timeout),
            Phase::WebSocket => {
                if let Some(event) = conn.session.handle_timeout(&self.session_cfg, now) {
                    if let Some(conn) = self.conns.get(key) {
                        log::debug!("conn {}: {event:?}", conn.id);
                    }
                    self.on_session_event(key, event);
                }
                let next = self
                    .conns
                    .get(key)
                    .filter(|c| c.phase == Phase::WebSocket)
                    .and_then(|c| c.session.poll_timeout(&self.session_cfg));
                if let Some(at) = next {
                    self.schedule(key, at);
                }
            }
        }
    }
}
