//! Open WebSocket connections: decoding what arrives, answering control
//! frames, the close handshake, and handing messages to their endpoint.

use super::conn::{Endpoint, Phase};
use super::{Reason, Server};
use crate::proto::frame::{encode_frame, OpCode};
use crate::proto::{CloseCode, Decoder, Message, ProtocolError, Role};
use std::rc::Rc;

impl Server {
    /// Feed bytes to the connection's decoder and act on every message.
    pub(super) fn on_ws_bytes(&mut self, key: usize, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        // The decoder lives in the connection only while a frame spans
        // reads; otherwise a fresh one on the stack does (no allocation).
        let mut stored = conn.decoder.take();
        let mut fresh = None;
        let decoder = match stored.as_deref_mut() {
            Some(d) => d,
            None => fresh.insert(Decoder::new(Role::Server, self.cfg.max_message_size)),
        };
        let mut pos = 0;
        loop {
            match decoder.next_message(data, &mut pos) {
                Ok(Some(msg)) => {
                    if !self.on_message(key, msg) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => return self.fail(key, err),
            }
        }
        if decoder.is_idle() {
            return;
        }
        if let Some(conn) = self.conns.get_mut(key) {
            if matches!(conn.phase, Phase::Open | Phase::Closing) {
                conn.decoder = stored.or_else(|| fresh.map(Box::new));
            }
        }
    }

    /// Act on one message; false when the connection takes no more input.
    fn on_message(&mut self, key: usize, msg: Message<'_>) -> bool {
        let Some(conn) = self.conns.get(key) else {
            return false;
        };
        let phase = conn.phase;
        match msg {
            Message::Close(code, _) => {
                if phase == Phase::Open {
                    // §5.5.1: "the endpoint MUST send a Close frame in response
                    // ... typically echoing the status code it received."
                    let code = code.unwrap_or(CloseCode::NORMAL);
                    self.set_reason(key, Reason::Normal);
                    self.close_and_linger(key, code, "");
                } else {
                    // Our close was answered: the handshake is complete
                    // (§7.1.1: the server closes the TCP connection first).
                    self.set_reason(key, Reason::Normal);
                    self.linger_after(key, None);
                }
                false
            }
            // After our close we only wait for theirs (§5.5.1).
            _ if phase != Phase::Open => true,
            Message::Ping(payload) => {
                // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send
                // a Pong frame in response ... with identical Application data."
                self.send(
                    key,
                    Rc::from(encode_frame(true, OpCode::Pong, None, payload)),
                );
                true
            }
            Message::Pong(_) => true,
            Message::Text(text) => {
                self.stats.messages_received += 1;
                self.on_data(key, OpCode::Text, text.as_bytes())
            }
            Message::Binary(bytes) => {
                self.stats.messages_received += 1;
                self.on_data(key, OpCode::Binary, bytes)
            }
        }
    }

    fn on_data(&mut self, key: usize, opcode: OpCode, payload: &[u8]) -> bool {
        match self.conns.get(key).and_then(|c| c.endpoint) {
            Some(Endpoint::Echo) => {
                self.stats.messages_delivered += 1;
                self.send(key, Rc::from(encode_frame(true, opcode, None, payload)));
            }
            Some(Endpoint::Room) => match std::str::from_utf8(payload) {
                Ok(text) if opcode == OpCode::Text => {
                    self.with_hub(|hub, net, now| hub.handle_text(key, text, now, net))
                }
                _ => self.send(
                    key,
                    crate::room::json::error("bad_json", "messages are JSON text frames", None),
                ),
            },
            None => return false,
        }
        self.conns.get(key).is_some_and(|c| c.is_open())
    }

    /// _Fail the WebSocket Connection_ (§7.1.7): send the close code the
    /// error calls for, then close without reading further frames.
    fn fail(&mut self, key: usize, err: ProtocolError) {
        if let Some(conn) = self.conns.get(key) {
            log::debug!("conn {}: protocol error: {err}", conn.id);
        }
        self.set_reason(key, Reason::Protocol);
        self.close_and_linger(key, err.close_code(), &err.to_string());
    }

    /// A WebSocket connection opened (after the 101 was queued).
    pub(super) fn on_ws_open(&mut self, key: usize, query: &str) {
        if self.conns.get(key).and_then(|c| c.endpoint) == Some(Endpoint::Room) {
            self.open_room_session(key, query);
        }
    }
}
