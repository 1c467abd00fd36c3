//! Open WebSocket connections: feeding what arrives to the connection's
//! [`Session`](crate::proto::session::Session), queueing what it asks to
//! send, and handing messages to their endpoint.

use super::conn::{Endpoint, Phase};
use super::{Reason, Server};
use crate::proto::frame::{encode_frame, OpCode};
use crate::proto::session::{CloseCause, Event};
use crate::proto::CloseCode;
use crate::room::ConnKey;
use std::rc::Rc;

impl Server {
    /// Feed bytes to the connection's session and act on every event.
    pub(super) fn on_ws_bytes(&mut self, key: usize, data: &mut [u8]) {
        let mut pos = 0;
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            if conn.phase != Phase::WebSocket || conn.doomed {
                return;
            }
            let now = self.now_ms;
            let Some(event) = conn
                .session
                .handle_bytes(&self.session_cfg, now, data, &mut pos)
            else {
                return;
            };
            let go_on = match event {
                Event::Compressed(opcode, payload) => {
                    // The shared inflater is lent out while its output is read.
                    let mut inflater = self.inflater.take().unwrap_or_default();
                    let event =
                        conn.session
                            .inflate(&self.session_cfg, &mut inflater, opcode, &payload);
                    self.inflated = true;
                    let go_on = self.on_session_event(key, event);
                    self.inflated = false;
                    self.inflater = Some(inflater);
                    go_on
                }
                event => self.on_session_event(key, event),
            };
            if !go_on {
                return;
            }
        }
    }

    /// Act on one event of `key`'s session; false when it takes no more input.
    pub(super) fn on_session_event(&mut self, key: usize, event: Event<'_>) -> bool {
        match event {
            Event::Text(text) => {
                self.stats.messages_received += 1;
                self.on_data(key, OpCode::Text, text.as_bytes())
            }
            Event::Binary(bytes) => {
                self.stats.messages_received += 1;
                self.on_data(key, OpCode::Binary, &bytes)
            }
            Event::Transmit(frame) => {
                self.send(key, frame);
                true
            }
            // Inflated by `on_ws_bytes` before it gets here.
            Event::Compressed(..) => true,
            Event::Closed { reply, cause } => {
                let reason = match cause {
                    CloseCause::Handshake => Reason::Normal,
                    CloseCause::Protocol(err) => {
                        if let Some(conn) = self.conns.get(key) {
                            log::debug!("conn {}: protocol error: {err}", conn.id);
                        }
                        Reason::Protocol
                    }
                    CloseCause::Idle | CloseCause::CloseTimeout => Reason::Timeout,
                };
                self.set_reason(key, reason);
                if cause == CloseCause::CloseTimeout {
                    self.doom(key, reason);
                } else {
                    self.linger_after(key, reply);
                }
                false
            }
        }
    }

    fn on_data(&mut self, key: usize, opcode: OpCode, payload: &[u8]) -> bool {
        match self.conns.get(key).and_then(|c| c.endpoint) {
            Some(Endpoint::Echo) => {
                self.stats.messages_delivered += 1;
                // A message that came compressed goes back compressed, one
                // that came plain goes back plain: /echo mirrors the peer.
                let bits = self.conns.get(key).map_or(0, |c| c.deflate_bits);
                let frame = match self.inflated {
                    true => self.compressor.always(bits, opcode, payload),
                    false => None,
                };
                let frame =
                    frame.unwrap_or_else(|| Rc::from(encode_frame(true, opcode, None, payload)));
                self.queue_as_is(key, frame);
            }
            Some(Endpoint::Room) => match std::str::from_utf8(payload) {
                Ok(text) if opcode == OpCode::Text => {
                    self.with_hub(|hub, net, now| hub.handle_text(ConnKey(key), text, now, net))
                }
                _ => self.with_hub(|hub, net, now| hub.handle_binary(ConnKey(key), now, net)),
            },
            None => return false,
        }
        self.conns.get(key).is_some_and(|c| c.is_open())
    }

    /// A WebSocket connection opened (after the 101 was queued).
    pub(super) fn on_ws_open(&mut self, key: usize, query: &str) {
        if self.conns.get(key).and_then(|c| c.endpoint) == Some(Endpoint::Room) {
            self.open_room_session(key, query);
        }
    }

    /// Start the closing handshake from our side (RFC 6455 §7.1.2): send a
    /// close frame, then wait up to `close_timeout` for the peer's.
    pub(super) fn start_close(&mut self, key: usize, code: CloseCode, reason: &str) {
        let now = self.now_ms;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.phase != Phase::WebSocket {
            return;
        }
        let Some(frame) = conn.session.close(&self.session_cfg, now, code, reason) else {
            return;
        };
        let deadline = conn.session.poll_timeout(&self.session_cfg);
        self.leave_hub(key);
        self.conn_log.last_frame(key, &frame);
        self.send(key, frame);
        if let Some(at) = deadline {
            self.schedule(key, at);
        }
    }

    /// End a WebSocket at once: a close frame if none was sent, then FIN.
    pub(super) fn abort_ws(&mut self, key: usize, code: CloseCode, reason: &str) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.phase != Phase::WebSocket {
            return;
        }
        let frame = conn.session.abort(code, reason);
        self.linger_after(key, frame);
    }
}
