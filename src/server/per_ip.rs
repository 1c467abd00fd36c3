//! `max_connections_per_ip` (SPEC §6, off by default): connections per
//! peer address, counted only when the limit is on (so it costs nothing
//! otherwise). One more from an address at its limit is closed at accept.

use std::collections::HashMap;
use std::net::IpAddr;

/// See the module docs.
#[derive(Debug, Default)]
pub struct PerIp {
    max: usize,
    counts: HashMap<IpAddr, u32>,
    /// The address of each counted connection, by slab key.
    of: HashMap<usize, IpAddr>,
    refused: u64,
}

impl PerIp {
    /// At most `max` connections per address (0: no limit).
    pub fn new(max: usize) -> PerIp {
        PerIp {
            max,
            ..PerIp::default()
        }
    }

    /// Whether one more connection from `ip` may be accepted.
    pub fn admit(&mut self, ip: IpAddr) -> bool {
        if self.max == 0 {
            return true;
        }
        let ok = self.counts.get(&ip).map_or(0, |n| *n as usize) < self.max;
        if !ok {
            self.refused += 1;
        }
        ok
    }

    /// Connection `key` from `ip` was accepted.
    pub fn opened(&mut self, key: usize, ip: IpAddr) {
        if self.max > 0 {
            *self.counts.entry(ip).or_insert(0) += 1;
            self.of.insert(key, ip);
        }
    }

    /// Connection `key` is gone.
    pub fn closed(&mut self, key: usize) {
        let Some(ip) = self.of.remove(&key) else {
            return;
        };
        if let Some(n) = self.counts.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.counts.remove(&ip);
            }
        }
    }

    /// Connections refused for the limit.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_when_on_and_frees_on_close() {
        let ip: IpAddr = [127, 0, 0, 9].into();
        let mut off = PerIp::new(0);
        assert!(off.admit(ip));
        off.opened(1, ip);
        assert!(off.of.is_empty());
        let mut on = PerIp::new(2);
        for key in 0..2 {
            assert!(on.admit(ip));
            on.opened(key, ip);
        }
        assert!(!on.admit(ip));
        assert!(on.admit([127, 0, 0, 10].into()));
        on.closed(0);
        assert!(on.admit(ip));
        on.closed(1);
        assert!(on.counts.is_empty() && on.of.is_empty());
        assert_eq!(on.refused(), 1);
    }
}
