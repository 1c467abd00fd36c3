//! Close status codes (RFC 6455 §7.4).

/// A close status code. Converts from every `u16`; [`CloseCode::is_valid_on_wire`]
/// says whether a peer may put it in a close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: going away (server shutting down).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1007: invalid frame payload data (bad UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation (bad token, abuse, origin).
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: message too big.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: internal error.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 4001 (ours): kicked, or moved to another room.
    pub const KICKED: CloseCode = CloseCode(4001);
    /// 4003 (ours): slow consumer, send queue over `max_backpressure`.
    pub const SLOW_CONSUMER: CloseCode = CloseCode(4003);

    /// Whether this code may appear in a close frame on the wire.
    ///
    /// RFC 6455 §7.4.1: 1004 is reserved, and 1005, 1006 and 1015 "MUST NOT be
    /// set as a status code in a Close control frame by an endpoint". §7.4.2:
    /// 0-999 are not used; 1000-2999 are for the protocol and its extensions
    /// (1012-1014 have since been registered with IANA, the rest is
    /// unassigned); 3000-3999 are registered with IANA; 4000-4999 are private.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_matches_autobahn_lists() {
        // Autobahn 7.7.* sends these and expects them echoed.
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(CloseCode(c).is_valid_on_wire(), "{c}");
        }
        // Autobahn 7.9.* sends these and expects a protocol error.
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(c).is_valid_on_wire(), "{c}");
        }
    }
}
