//! Counters for `/metrics`, `/api/stats` and the periodic stats line.

/// Why a connection ended, for `roomcast_disconnects_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The close handshake completed (either side started it).
    Normal,
    /// The peer went away without a close handshake (EOF, reset).
    Gone,
    /// The peer broke RFC 6455 (the close code was sent).
    Protocol,
    /// A handshake, ping or close timeout.
    Timeout,
    /// Send queue over `max_backpressure` (4003).
    SlowConsumer,
    /// Kicked, moved to another room, or refused by policy.
    Policy,
    /// The server shut down.
    Shutdown,
    /// An HTTP connection that ended (answered, refused, or idle).
    Http,
    /// An idle HTTP connection closed to make room (SPEC §6).
    Shed,
}

impl Reason {
    /// Every reason, in metric order.
    pub const ALL: [Reason; 9] = [
        Reason::Normal,
        Reason::Gone,
        Reason::Protocol,
        Reason::Timeout,
        Reason::SlowConsumer,
        Reason::Policy,
        Reason::Shutdown,
        Reason::Http,
        Reason::Shed,
    ];

    /// Its place in [`Reason::ALL`] (and in `Stats::disconnects`).
    fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Normal => "normal",
            Reason::Gone => "gone",
            Reason::Protocol => "protocol_error",
            Reason::Timeout => "timeout",
            Reason::SlowConsumer => "slow_consumer",
            Reason::Policy => "policy",
            Reason::Shutdown => "shutdown",
            Reason::Http => "http",
            Reason::Shed => "shed",
        }
    }
}

/// The server's counters.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// WebSocket messages received (data frames, after reassembly).
    pub messages_received: u64,
    /// Messages queued to connections (one per recipient).
    pub messages_delivered: u64,
    /// Bytes read from sockets.
    pub bytes_received: u64,
    /// Bytes written to sockets.
    pub bytes_sent: u64,
    /// Upgrades completed.
    pub handshakes_ok: u64,
    /// Upgrades refused (any HTTP error on an upgrade request).
    pub handshakes_failed: u64,
    /// Upgrades and connections refused at `max_connections`.
    pub refused_max_connections: u64,
    /// Disconnects by reason, indexed like [`Reason::ALL`].
    pub disconnects: [u64; 9],
}

impl Stats {
    /// Disconnects counted for `reason`.
    pub fn disconnects_of(&self, reason: Reason) -> u64 {
        self.disconnects.get(reason.index()).copied().unwrap_or(0)
    }

    /// Count a disconnect.
    pub fn disconnect(&mut self, reason: Reason) {
        if let Some(slot) = self.disconnects.get_mut(reason.index()) {
            *slot += 1;
        }
    }
}
