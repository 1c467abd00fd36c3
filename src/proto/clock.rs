//! A session's clock: its one timestamp, its ping count and its state in
//! one word (every connection pays for it).

use super::session::State;

/// A session's time and state packed in one `u64`, so a `Session` is two
/// words: bits 0-47 a timestamp in ms (8,900 years of uptime), bits 48-55
/// the pings sent since the peer was last heard, bits 56-62 the [`State`], bit 63 whether
/// permessage-deflate was negotiated.
/// The timestamp is, in [`State::Open`], when the peer was last heard; in
/// [`State::CloseSent`], the close deadline.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clock(u64);

pub(crate) const MS_MASK: u64 = (1 << 48) - 1;

/// Bit 63: the connection negotiated permessage-deflate.
const DEFLATE: u64 = 1 << 63;

impl Clock {
    pub(crate) fn at_ms(self) -> u64 {
        self.0 & MS_MASK
    }

    pub(crate) fn pings(self) -> u8 {
        (self.0 >> 48) as u8
    }

    pub(crate) fn state(self) -> State {
        match (self.0 >> 56) & 0x7f {
            0 => State::Open,
            1 => State::CloseSent,
            _ => State::Closed,
        }
    }

    pub(crate) fn set(&mut self, at_ms: u64, pings: u8, state: State) {
        let state = match state {
            State::Open => 0u64,
            State::CloseSent => 1,
            State::Closed => 2,
        };
        self.0 = at_ms.min(MS_MASK) | (u64::from(pings) << 48) | (state << 56) | (self.0 & DEFLATE);
    }

    /// permessage-deflate was negotiated (kept across [`Clock::set`]).
    pub(crate) fn deflate(self) -> bool {
        self.0 & DEFLATE != 0
    }

    pub(crate) fn set_deflate(&mut self, on: bool) {
        self.0 = (self.0 & !DEFLATE) | if on { DEFLATE } else { 0 };
    }
}
