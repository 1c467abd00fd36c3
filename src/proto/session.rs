//! One WebSocket connection's protocol state, sans I/O: the decoder, the
//! closing handshake (RFC 6455 §7) and the keep-alive cadence.
//!
//! Rule of this file, as in quinn-proto's `Connection`: **no sockets and no
//! clock.** Time comes in as monotonic milliseconds from an origin the
//! caller picks; bytes come in through [`Session::handle_bytes`], deadlines
//! through [`Session::handle_timeout`]; what must go out comes back as
//! frames ([`Event::Transmit`], [`Event::Closed`]'s reply) for the caller
//! to queue. [`Session::poll_timeout`] says when to call back.
//!
//! Kept small (it lives in every connection): the decoder is boxed only
//! while a frame spans reads, and one timestamp serves every timer.

use super::clock::Clock;
use super::close::CloseCode;
use super::decoder::Decoder;
use super::deflate::Inflater;
use super::error::ProtocolError;
use super::frame::{close_payload, encode_frame, OpCode, Side};
use super::message::{to_message, Detached, Located};
use std::borrow::Cow;
use std::rc::Rc;

/// What every session of a server shares: limits, timeouts, shared frames.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The largest message after reassembly (1009 beyond).
    pub max_message_size: usize,
    /// Silence after which, and then every interval, we send a ping.
    pub ping_interval_ms: u64,
    /// Silence after which we close the connection.
    pub ping_timeout_ms: u64,
    /// How long we wait for the peer's close after sending ours.
    pub close_timeout_ms: u64,
    /// The empty ping frame, encoded once and shared.
    pub ping: Rc<[u8]>,
}

impl SessionConfig {
    /// A configuration with the given limits and timeouts.
    pub fn new(
        max_message_size: usize,
        ping_interval_ms: u64,
        ping_timeout_ms: u64,
        close_timeout_ms: u64,
    ) -> SessionConfig {
        SessionConfig {
            max_message_size,
            ping_interval_ms: ping_interval_ms.max(1),
            ping_timeout_ms,
            close_timeout_ms,
            ping: Rc::from(encode_frame(true, OpCode::Ping, None, b"")),
        }
    }
}

/// Where the closing handshake stands (RFC 6455 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// Messages flow both ways.
    #[default]
    Open,
    /// We sent a close frame and wait for the peer's (§7.1.2); what else
    /// the peer sends is read and ignored.
    CloseSent,
    /// Nothing more is read or sent at the WebSocket level: the handshake
    /// finished, or the connection failed. The caller closes the transport.
    Closed,
}

/// The deadlines a session keeps (one is live at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The next keep-alive ping (at every `ping_interval` of silence).
    Ping,
    /// Silence for `ping_timeout`: the peer is gone.
    Idle,
    /// Our close frame was not answered within `close_timeout`.
    Close,
}

/// Why a session reached [`State::Closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// The closing handshake finished (either side began it).
    Handshake,
    /// The peer broke the protocol (or a limit); the reply carries the code.
    Protocol(ProtocolError),
    /// Silent for `ping_timeout`.
    Idle,
    /// Our close went unanswered for `close_timeout`.
    CloseTimeout,
}

/// What a session asks of its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete text message (valid UTF-8).
    Text(Cow<'a, str>),
    /// A complete binary message.
    Binary(Cow<'a, [u8]>),
    /// A compressed data message (permessage-deflate): hand it to
    /// [`Session::inflate`] for the `Text` or `Binary` it holds.
    Compressed(super::frame::OpCode, Cow<'a, [u8]>),
    /// A frame to queue (a pong, or a keep-alive ping).
    Transmit(Rc<[u8]>),
    /// The session is over: queue `reply` if there is one, then close the
    /// transport once it is written.
    Closed {
        /// The last frame to send (our close), if one is owed.
        reply: Option<Rc<[u8]>>,
        /// Why.
        cause: CloseCause,
    },
}

/// One connection's WebSocket state. See the module docs.
#[derive(Debug, Default)]
pub struct Session {
    /// Only while a frame or message spans reads; otherwise a fresh decoder
    /// on the stack does the work (an idle connection holds no heap).
    decoder: Option<Box<Decoder>>,
    /// One word for what every connection pays for (see `Clock`): the
    /// time, the state and the pings sent.
    clock: Clock,
}

impl Session {
    /// A session opened at `now_ms` (the upgrade).
    pub fn new(now_ms: u64) -> Session {
        let mut clock = Clock::default();
        clock.set(now_ms, 0, State::Open);
        Session {
            decoder: None,
            clock,
        }
    }

    /// A session that negotiated permessage-deflate (RFC 7692) if `on`:
    /// compressed messages come out as [`Event::Compressed`].
    pub fn with_deflate(mut self, on: bool) -> Session {
        self.clock.set_deflate(on);
        self
    }

    /// Whether permessage-deflate was negotiated.
    pub fn deflate(&self) -> bool {
        self.clock.deflate()
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.clock.state()
    }

    fn set_state(&mut self, state: State) {
        let c = self.clock;
        self.clock.set(c.at_ms(), c.pings(), state);
    }

    /// True while messages flow both ways.
    pub fn is_open(&self) -> bool {
        self.state() == State::Open
    }

    /// Heap bytes this session holds (a decoder while a frame spans reads).
    #[cfg(test)]
    pub fn buffered_capacity(&self) -> usize {
        self.decoder.as_ref().map_or(0, |d| {
            std::mem::size_of::<Decoder>() + d.buffered_capacity()
        })
    }

    /// Feed `input[*pos..]`: returns the next event and advances `*pos`;
    /// `None` once every byte is consumed. Call it until `None` for each
    /// read. Any byte received counts as hearing from the peer.
    pub fn handle_bytes<'a>(
        &mut self,
        cfg: &SessionConfig,
        now_ms: u64,
        input: &'a mut [u8],
        pos: &mut usize,
    ) -> Option<Event<'a>> {
        if self.state() == State::Open {
            self.clock.set(now_ms, 0, State::Open);
        }
        loop {
            if self.state() == State::Closed {
                *pos = input.len();
                return None;
            }
            // The message is located first and borrowed from `input` only
            // on the way out, so frames that need no action can be skipped.
            // Nearly every message is a whole frame in the input: found
            // without a decoder (and without moving big values around).
            let whole = match self.decoder {
                Some(_) => Ok(None),
                None => super::whole::next_whole(
                    Side::Server,
                    self.deflate(),
                    cfg.max_message_size,
                    input,
                    pos,
                ),
            };
            let span = match whole {
                Ok(Some(span)) => span,
                Err(err) => return Some(self.fail(err, input.len(), pos)),
                Ok(None) => match self.decode(cfg, input, pos) {
                    Ok(None) => return None,
                    Ok(Some(Located::Input(span))) => span,
                    Ok(Some(Located::Owned(msg))) => match self.on_message(msg) {
                        Some(event) => return Some(event),
                        None => continue,
                    },
                    Err(err) => return Some(self.fail(err, input.len(), pos)),
                },
            };
            if span.opcode.is_control() {
                let payload = input.get(span.start..span.end).unwrap_or_default();
                match to_message(span.opcode, payload) {
                    Ok(m) => match self.on_message(Detached::from(m).into_owned()) {
                        Some(event) => return Some(event),
                        None => continue,
                    },
                    Err(err) => return Some(self.fail(err, input.len(), pos)),
                }
            }
            // After our close we only wait for theirs (§5.5.1).
            if self.state() != State::Open {
                continue;
            }
            let payload = input.get(span.start..span.end).unwrap_or_default();
            if span.compressed {
                return Some(Event::Compressed(span.opcode, Cow::Borrowed(payload)));
            }
            return Some(match span.opcode {
                // §8.1: text must be valid UTF-8, checked once, here.
                OpCode::Text => match std::str::from_utf8(payload) {
                    Ok(text) => Event::Text(Cow::Borrowed(text)),
                    Err(_) => self.fail(ProtocolError::InvalidUtf8, input.len(), pos),
                },
                _ => Event::Binary(Cow::Borrowed(payload)),
            });
        }
    }

    /// §7.1.7 _Fail the WebSocket Connection_: send the close code the
    /// error calls for and read nothing more.
    fn fail(&mut self, err: ProtocolError, input_len: usize, pos: &mut usize) -> Event<'static> {
        self.set_state(State::Closed);
        self.decoder = None;
        *pos = input_len;
        Event::Closed {
            reply: Some(close_frame(err.close_code(), &err.to_string())),
            cause: CloseCause::Protocol(err),
        }
    }

    /// The slow path: run a decoder over a frame that spans reads (or
    /// starts a fragmented message), keeping it boxed only while it holds
    /// a partial frame.
    fn decode(
        &mut self,
        cfg: &SessionConfig,
        input: &mut [u8],
        pos: &mut usize,
    ) -> Result<Option<Located>, ProtocolError> {
        if let Some(decoder) = self.decoder.as_deref_mut() {
            let result = decoder.next_located(input, pos);
            if decoder.is_idle() {
                self.decoder = None;
            }
            return result;
        }
        if *pos >= input.len() {
            return Ok(None);
        }
        let mut fresh =
            Decoder::new(Side::Server, cfg.max_message_size).with_deflate(self.deflate());
        let result = fresh.next_located(input, pos);
        if !fresh.is_idle() && result.is_ok() {
            self.decoder = Some(Box::new(fresh));
        }
        result
    }

    fn on_message(&mut self, msg: Detached<'static>) -> Option<Event<'static>> {
        match (self.state(), msg) {
            (State::Open, Detached::Close(code, _)) => {
                // §5.5.1: "the endpoint MUST send a Close frame in response
                // ... typically echoing the status code it received."
                self.set_state(State::Closed);
                let code = code.unwrap_or(CloseCode::NORMAL);
                Some(Event::Closed {
                    reply: Some(close_frame(code, "")),
                    cause: CloseCause::Handshake,
                })
            }
            // Our close was answered: the handshake is complete (§7.1.1: the
            // server closes the TCP connection first).
            (_, Detached::Close(..)) => {
                self.set_state(State::Closed);
                Some(Event::Closed {
                    reply: None,
                    cause: CloseCause::Handshake,
                })
            }
            // After our close we only wait for theirs (§5.5.1).
            (State::CloseSent | State::Closed, _) => None,
            // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a
            // Pong frame in response ... with identical Application data."
            (State::Open, Detached::Ping(payload)) => Some(Event::Transmit(Rc::from(
                encode_frame(true, OpCode::Pong, None, &payload),
            ))),
            (State::Open, Detached::Pong(_)) => None,
            (State::Open, Detached::Text(t)) => Some(Event::Text(t)),
            (State::Open, Detached::Binary(b)) => Some(Event::Binary(b)),
            (State::Open, Detached::Compressed(op, b)) => Some(Event::Compressed(op, b)),
        }
    }

    /// The message an [`Event::Compressed`] holds, inflated with the
    /// server's shared `inflater` (RFC 7692 §7.2.2) into at most
    /// `max_message_size` bytes: `Text` (checked for UTF-8) or `Binary`, or
    /// `Closed` with 1009 past the limit (before more is produced), 1007
    /// for data that does not inflate or text that is not UTF-8.
    pub fn inflate<'b>(
        &mut self,
        cfg: &SessionConfig,
        inflater: &'b mut Inflater,
        opcode: super::frame::OpCode,
        payload: &[u8],
    ) -> Event<'b> {
        let mut end = 0;
        let bytes = match inflater.inflate(payload, cfg.max_message_size) {
            Ok(bytes) => bytes,
            Err(err) => return self.fail(err, 0, &mut end),
        };
        match opcode {
            super::frame::OpCode::Text => match std::str::from_utf8(bytes) {
                Ok(text) => Event::Text(Cow::Borrowed(text)),
                Err(_) => self.fail(ProtocolError::InvalidUtf8, 0, &mut end),
            },
            _ => Event::Binary(Cow::Borrowed(bytes)),
        }
    }

    /// Begin the closing handshake (§7.1.2): the close frame to send, or
    /// `None` if a close was already sent or received. The peer then has
    /// `close_timeout` to answer.
    pub fn close(
        &mut self,
        cfg: &SessionConfig,
        now_ms: u64,
        code: CloseCode,
        reason: &str,
    ) -> Option<Rc<[u8]>> {
        if self.state() != State::Open {
            return None;
        }
        let deadline = now_ms.saturating_add(cfg.close_timeout_ms);
        self.clock.set(deadline, 0, State::CloseSent);
        Some(close_frame(code, reason))
    }

    /// End at once without waiting for the peer (a slow consumer, say):
    /// the close frame to send if none was sent yet. The caller closes the
    /// transport once it is written.
    pub fn abort(&mut self, code: CloseCode, reason: &str) -> Option<Rc<[u8]>> {
        let was_open = self.state() == State::Open;
        self.set_state(State::Closed);
        self.decoder = None;
        was_open.then(|| close_frame(code, reason))
    }

    /// The next deadline, and which timer it is.
    pub fn next_timer(&self, cfg: &SessionConfig) -> Option<(Timer, u64)> {
        let at_ms = self.clock.at_ms();
        match self.state() {
            State::Open => {
                let idle = at_ms.saturating_add(cfg.ping_timeout_ms);
                let ping = at_ms.saturating_add(
                    cfg.ping_interval_ms
                        .saturating_mul(u64::from(self.clock.pings()) + 1),
                );
                Some(if ping < idle {
                    (Timer::Ping, ping)
                } else {
                    (Timer::Idle, idle)
                })
            }
            State::CloseSent => Some((Timer::Close, at_ms)),
            State::Closed => None,
        }
    }

    /// When to call [`Session::handle_timeout`] next.
    pub fn poll_timeout(&self, cfg: &SessionConfig) -> Option<u64> {
        self.next_timer(cfg).map(|(_, at)| at)
    }

    /// Act on the deadline that fell due by `now_ms`, if any (SPEC §5: a
    /// ping at every `ping_interval` of silence, 20, 40, … s; closed after
    /// `ping_timeout`).
    pub fn handle_timeout(&mut self, cfg: &SessionConfig, now_ms: u64) -> Option<Event<'static>> {
        let (timer, at) = self.next_timer(cfg)?;
        if now_ms < at {
            return None;
        }
        match timer {
            Timer::Ping => {
                let c = self.clock;
                self.clock
                    .set(c.at_ms(), c.pings().saturating_add(1), c.state());
                Some(Event::Transmit(cfg.ping.clone()))
            }
            Timer::Idle => {
                self.set_state(State::Closed);
                self.decoder = None;
                Some(Event::Closed {
                    reply: Some(close_frame(CloseCode::NORMAL, "ping timeout")),
                    cause: CloseCause::Idle,
                })
            }
            Timer::Close => {
                self.set_state(State::Closed);
                self.decoder = None;
                Some(Event::Closed {
                    reply: None,
                    cause: CloseCause::CloseTimeout,
                })
            }
        }
    }
}

/// A close frame with `code` and `reason` (cut to fit a control frame).
pub fn close_frame(code: CloseCode, reason: &str) -> Rc<[u8]> {
    Rc::from(encode_frame(
        true,
        OpCode::Close,
        None,
        &close_payload(code.0, reason),
    ))
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
