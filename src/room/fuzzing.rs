//! The body of the `rooms_ops` fuzz target: the input is a program of
//! open/join/leave/chat/private/close/tick operations on a few connections,
//! users and rooms, under either policy; after every operation the hub's
//! indexes must agree ([`Hub::check_invariants`]). Closes the hub asks for
//! are carried out the way the server does (the connection is removed).
#![allow(clippy::panic)]

use super::{ConnKey, ConnectParams, Hub, HubConfig, Net, Now};
use crate::config::RoomPolicy;
use crate::proto::CloseCode;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A [`Net`] that records what the hub did.
#[derive(Debug, Default)]
pub struct RecordingNet {
    /// Frames sent, per connection.
    pub sent: HashMap<ConnKey, Vec<Rc<[u8]>>>,
    /// Connections to treat as past `drop_threshold`.
    pub behind: HashSet<ConnKey>,
    /// Closes asked for.
    pub closes: Vec<(ConnKey, CloseCode)>,
    /// Connections watched for drain.
    pub watched: HashSet<ConnKey>,
}

impl Net for RecordingNet {
    fn send(&mut self, key: ConnKey, frame: &Rc<[u8]>) {
        self.sent.entry(key).or_default().push(frame.clone());
    }
    fn send_reply(&mut self, key: ConnKey, frame: &Rc<[u8]>) {
        self.send(key, frame);
    }
    fn replies_pending(&self, _: ConnKey) -> bool {
        false
    }
    fn is_behind(&self, key: ConnKey) -> bool {
        self.behind.contains(&key)
    }
    fn close(&mut self, key: ConnKey, code: CloseCode, _reason: &str) {
        self.closes.push((key, code));
    }
    fn watch_drain(&mut self, key: ConnKey) {
        self.watched.insert(key);
    }
}

/// A small configuration that makes every path reachable with few operations.
pub fn small_config(policy: RoomPolicy) -> HubConfig {
    HubConfig {
        policy,
        max_rooms_per_connection: 2,
        max_connections_per_user: 3,
        history_size: 4,
        room_ttl_ms: 1_000,
        offline_queue: 2,
        offline_ttl_ms: 3_000,
        presence_events_max: 2,
        ping_interval_secs: 20.0,
        rate_per_sec: 0.0,
        rate_burst: 0,
        max_json_depth: 32,
        max_rooms: 100,
        max_history_bytes: usize::MAX,
        max_offline_bytes: usize::MAX,
        max_bans: 100,
        max_replay: 1000,
        batch_window_ms: 50,
    }
}

/// A `rooms_ops` run: the hub, what it said, and what the server would hold.
struct Program {
    hub: Hub,
    net: RecordingNet,
    open: HashSet<ConnKey>,
    now: Now,
}

impl Program {
    /// One operation: `op` picks what, `arg` the connection, user and room.
    fn step(&mut self, op: u8, arg: u8) {
        let users = ["ann", "bo", "cy", "di"];
        let rooms = ["r0", "r1", "r2"];
        let key = ConnKey(usize::from(arg % 8));
        let user = users
            .get(usize::from(arg >> 3) % 4)
            .copied()
            .unwrap_or("ann");
        let room = rooms
            .get(usize::from(arg >> 5) % 3)
            .copied()
            .unwrap_or("r0");
        match op % 9 {
            0 if !self.open.contains(&key) => {
                self.connect(key, user, (arg & 0x80 != 0).then_some(room), arg)
            }
            1 if self.open.contains(&key) => self.text(
                key,
                &format!(r#"{{"type":"join","room":"{room}","since":0}}"#),
            ),
            2 if self.open.contains(&key) => {
                self.text(key, &format!(r#"{{"type":"leave","room":"{room}"}}"#))
            }
            3 if self.open.contains(&key) => {
                self.hub.close(key, self.now, &mut self.net);
                self.open.remove(&key);
            }
            4 if self.open.contains(&key) => self.text(
                key,
                &format!(r#"{{"type":"chat","room":"{room}","data":{arg}}}"#),
            ),
            5 if self.open.contains(&key) => self.text(
                key,
                &format!(r#"{{"type":"private","to":"{user}","data":1}}"#),
            ),
            6 => {
                self.now.mono_ms += u64::from(arg) * 20;
                self.hub.flush_batches(self.now, &mut self.net);
                self.hub.tick(self.now, &mut self.net);
            }
            7 => {
                // Backpressure comes and goes.
                if !self.net.behind.remove(&key) {
                    self.net.behind.insert(key);
                } else if self.net.watched.remove(&key) {
                    self.hub.on_drained(key, &mut self.net);
                }
            }
            8 if self.open.contains(&key) => self.text(
                key,
                &format!(r#"{{"type":"retract","room":"{room}","seq":{}}}"#, arg % 6),
            ),
            _ => {}
        }
        // The server removes every connection the hub asked to close.
        for (closed, _) in std::mem::take(&mut self.net.closes) {
            self.hub.close(closed, self.now, &mut self.net);
            self.open.remove(&closed);
        }
    }

    fn connect(&mut self, key: ConnKey, user: &str, room: Option<&str>, arg: u8) {
        let params = ConnectParams {
            user: Some(user),
            room,
            batch: arg & 0x40 != 0,
            ..ConnectParams::default()
        };
        if self
            .hub
            .open(key, u64::from(arg), params, self.now, &mut self.net)
        {
            self.open.insert(key);
        }
    }

    fn text(&mut self, key: ConnKey, text: &str) {
        self.hub.handle_text(key, text, self.now, &mut self.net);
    }
}

/// `rooms_ops`: run the program in `data`; panic if an invariant breaks.
pub fn fuzz_rooms_ops(data: &[u8]) {
    let Some((&first, program)) = data.split_first() else {
        return;
    };
    let policy = if first & 1 == 0 {
        RoomPolicy::Exclusive
    } else {
        RoomPolicy::Multi
    };
    let mut run = Program {
        hub: Hub::new(small_config(policy)),
        net: RecordingNet::default(),
        open: HashSet::new(),
        now: Now {
            mono_ms: 0,
            wall_ms: 1_700_000_000_000,
        },
    };
    for pair in program.chunks(2) {
        let (op, arg) = (
            pair.first().copied().unwrap_or(0),
            pair.get(1).copied().unwrap_or(0),
        );
        run.step(op, arg);
        if let Err(e) = run.hub.check_invariants() {
            panic!("invariant broken after op {op} arg {arg}: {e}");
        }
        assert_eq!(
            run.hub.client_count(),
            run.open.len(),
            "clients and open connections disagree"
        );
    }
}

/// `room_text`: arbitrary client text into the room protocol. The input is
/// split at 0xFF bytes into messages from three connections (the second a
/// moderator, the third an admin); valid UTF-8 goes to `handle_text`. No
/// input may panic, and the indexes must agree afterwards.
pub fn fuzz_room_text(data: &[u8]) {
    let mut hub = Hub::new(HubConfig {
        rate_per_sec: 1000.0,
        rate_burst: 50,
        ..small_config(RoomPolicy::Multi)
    });
    let mut net = RecordingNet::default();
    let now = Now {
        mono_ms: 5,
        wall_ms: 1_700_000_000_000,
    };
    let roles = [
        crate::auth::Role::User,
        crate::auth::Role::Moderator,
        crate::auth::Role::Admin,
    ];
    for (key, (user, role)) in ["ann", "mod", "root"].iter().zip(roles).enumerate() {
        let params = ConnectParams {
            user: Some(user),
            room: Some("r0"),
            role,
            ..ConnectParams::default()
        };
        assert!(hub.open(ConnKey(key), key as u64, params, now, &mut net));
    }
    let mut open: HashSet<ConnKey> = (0..3).map(ConnKey).collect();
    for (i, message) in data.split(|b| *b == 0xff).enumerate() {
        let key = ConnKey(i % 3);
        if let (true, Ok(text)) = (open.contains(&key), std::str::from_utf8(message)) {
            hub.handle_text(key, text, now, &mut net);
        }
        for (closed, _) in std::mem::take(&mut net.closes) {
            hub.close(closed, now, &mut net);
            open.remove(&closed);
        }
        if let Err(e) = hub.check_invariants() {
            panic!("invariant broken after message {i}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long pseudo-random programs (a fixed LCG, so failures reproduce).
    #[test]
    fn invariants_hold_under_random_operation_sequences() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let program: Vec<u8> = (0..600)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 33) as u8
                })
                .collect();
            fuzz_rooms_ops(&program);
        }
    }

    #[test]
    fn replay_room_text_corpus() {
        let n = crate::proto::fuzzing::replay_corpus("room_text", fuzz_room_text);
        assert!(n > 0, "no corpus committed for room_text");
    }

    #[test]
    fn replay_rooms_ops_corpus() {
        let n = crate::proto::fuzzing::replay_corpus("rooms_ops", fuzz_rooms_ops);
        assert!(n > 0, "no corpus committed for rooms_ops");
    }
}
