//! One client connection: its socket, where it is in its life, and the
//! little state it keeps between reads.
//!
//! Kept small on purpose (see the size test): an idle open connection owns
//! no heap buffers. The session's decoder is boxed only while a frame spans
//! reads, the HTTP buffer only lives until the upgrade, and the outbox's
//! queue is freed when the connection goes quiet.

use super::outbox::Outbox;
use super::stats::Reason;
use crate::proto::handshake::HeadScanner;
use crate::proto::session::Session;
use mio::net::TcpStream;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Receiving an HTTP request (or idle between keep-alive requests).
    Http,
    /// A WebSocket: its [`Session`] says whether it is open or closing.
    WebSocket,
    /// Nothing more to say: once the outbox is written we send FIN, discard
    /// what the peer still sends, and close on its FIN or at `close_timeout`
    /// (closing with unread input would send RST and could lose our last bytes).
    Linger,
}

/// Where a connection's paced replies stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyState {
    /// None: no entry in the server's map.
    Idle,
    /// Replies wait, or the outbox is past `drop_threshold` with them: the
    /// connection is behind (room chat to it is skipped and reported).
    Pacing,
    /// All moved, not all written: their bytes are still allowed on top
    /// of `max_backpressure`.
    Draining,
}

/// Which endpoint an open WebSocket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/echo`: every message comes back unchanged.
    Echo,
    /// `/ws`: the room protocol.
    Room,
}

/// The partial HTTP request of a connection in [`Phase::Http`].
#[derive(Debug, Default)]
pub struct HttpIn {
    /// Bytes received of the request (head and body), and maybe the next ones.
    pub buf: Vec<u8>,
    /// Where the end of the head search stands.
    pub scanner: HeadScanner,
    /// The request being answered is `HEAD` (its answer has no body).
    pub head_only: bool,
    /// Its answer waits for the engine (the next request waits too).
    pub awaiting: bool,
}

/// A connection in the server's slab.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub socket: TcpStream,
    /// Unique for the server's life (slab keys are reused); the `conn` of `welcome`.
    pub id: u64,
    /// Where it is.
    pub phase: Phase,
    /// The endpoint, once upgraded.
    pub endpoint: Option<Endpoint>,
    /// Frames to write.
    pub outbox: Outbox,
    /// The WebSocket protocol state (in [`Phase::WebSocket`]).
    pub session: Session,
    /// The request being received, only in [`Phase::Http`].
    pub http: Option<Box<HttpIn>>,
    /// The tick of this connection's live timer entry.
    pub timer_tick: u32,
    /// Registered for WRITABLE (only while bytes remain unsent).
    pub wants_writable: bool,
    /// In the server's dirty list this turn.
    pub dirty: bool,
    /// We already sent FIN.
    pub write_shut: bool,
    /// The peer sent FIN: nothing more will be read.
    pub read_closed: bool,
    /// Where its paced replies stand (see `replies.rs`).
    pub reply_state: ReplyState,
    /// Removal is scheduled for the end of the turn.
    pub doomed: bool,
    /// The hub wants to hear when the queue drains under `drop_threshold`.
    pub drain_watch: bool,
    /// Why it is ending, once that is decided (for the disconnect metrics).
    pub reason: Option<Reason>,
    /// permessage-deflate: the window size the client allows us (8-15), or
    /// 0 when it was not negotiated.
    pub deflate_bits: u8,
}

impl Conn {
    /// A freshly accepted connection, waiting for its request.
    pub fn new(socket: TcpStream, id: u64) -> Conn {
        Conn {
            socket,
            id,
            phase: Phase::Http,
            endpoint: None,
            outbox: Outbox::default(),
            session: Session::default(),
            http: Some(Box::default()),
            timer_tick: 0,
            wants_writable: false,
            dirty: false,
            write_shut: false,
            read_closed: false,
            reply_state: ReplyState::Idle,
            doomed: false,
            reason: None,
            drain_watch: false,
            deflate_bits: 0,
        }
    }

    /// An upgraded WebSocket that still takes messages.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::WebSocket && self.session.is_open() && !self.doomed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_stays_small() {
        // Every byte here is paid 100,000 times. Grow it only on purpose.
        assert!(
            std::mem::size_of::<Conn>() <= 104,
            "Conn is {} bytes",
            std::mem::size_of::<Conn>()
        );
    }
}
