//! What the per-connection log lines say beyond the id (peer, user, close
//! code, duration, bytes), kept only while those lines are logged
//! (`access_log = true`, or `RUST_LOG=debug`): otherwise it costs nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// One connection's story so far.
#[derive(Debug)]
struct Entry {
    opened: Instant,
    peer: SocketAddr,
    user: Option<Box<str>>,
    close_code: Option<u16>,
    bytes_in: u64,
    bytes_out: u64,
}

/// By slab key; `None` when the lines are not logged.
#[derive(Debug, Default)]
pub struct ConnLog(Option<HashMap<usize, Entry>>);

impl ConnLog {
    /// Keep track only if `on`.
    pub fn new(on: bool) -> ConnLog {
        ConnLog(on.then(HashMap::new))
    }

    /// Connection `key` from `peer` was accepted.
    pub fn opened(&mut self, key: usize, peer: SocketAddr) {
        if let Some(map) = self.0.as_mut() {
            let entry = Entry {
                opened: Instant::now(),
                peer,
                user: None,
                close_code: None,
                bytes_in: 0,
                bytes_out: 0,
            };
            map.insert(key, entry);
        }
    }

    /// Bytes read from or written to `key` (on every read and flush: a
    /// null check when the lines are not logged).
    #[inline]
    pub fn bytes(&mut self, key: usize, read: usize, written: usize) {
        if let Some(e) = self.0.as_mut().and_then(|m| m.get_mut(&key)) {
            e.bytes_in += read as u64;
            e.bytes_out += written as u64;
        }
    }

    /// `key` is user `user` on `/ws`.
    pub fn user(&mut self, key: usize, user: &str) {
        if let Some(e) = self.0.as_mut().and_then(|m| m.get_mut(&key)) {
            e.user = Some(user.into());
        }
    }

    /// The last frame queued to `key`; a close frame's code is noted.
    pub fn last_frame(&mut self, key: usize, frame: &[u8]) {
        let Some(e) = self.0.as_mut().and_then(|m| m.get_mut(&key)) else {
            return;
        };
        // A server close frame: 0x88, a length under 126, the code first.
        if let [0x88, len, hi, lo, ..] = frame {
            if (2..126).contains(len) {
                e.close_code = Some(u16::from_be_bytes([*hi, *lo]));
            }
        }
    }

    /// `key` is gone: the rest of its line (`""` when not tracked).
    pub fn closed(&mut self, key: usize) -> String {
        let Some(e) = self.0.as_mut().and_then(|m| m.remove(&key)) else {
            return String::new();
        };
        let user = e
            .user
            .as_deref()
            .map(|u| format!(", user {u}"))
            .unwrap_or_default();
        let code = e
            .close_code
            .map(|c| format!(", close {c}"))
            .unwrap_or_default();
        format!(
            ", peer {}{user}{code}, {:.1} s, {} B in, {} B out",
            e.peer,
            e.opened.elapsed().as_secs_f64(),
            e.bytes_in,
            e.bytes_out
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_only_when_on_and_reads_close_codes() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap_or_else(|_| unreachable!());
        let mut off = ConnLog::new(false);
        off.opened(1, peer);
        assert_eq!(off.closed(1), "");
        let mut on = ConnLog::new(true);
        on.opened(1, peer);
        on.user(1, "ann");
        on.bytes(1, 10, 20);
        on.last_frame(1, &[0x88, 2, 0x0f, 0xa3]); // 4003
        let line = on.closed(1);
        assert!(
            line.contains("user ann") && line.contains("close 4003"),
            "{line}"
        );
        assert!(line.contains("10 B in, 20 B out"), "{line}");
    }
}
