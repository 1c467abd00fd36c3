//! Users: their connections (several devices) and their offline inbox.

use super::ConnKey;
use std::collections::VecDeque;
use std::rc::Rc;

/// One user known to the hub: connected, or with messages waiting.
#[derive(Debug)]
pub struct User {
    /// The user id.
    pub name: Rc<str>,
    /// The id as a JSON string literal.
    pub name_json: Box<str>,
    /// Open connections (up to `max_connections_per_user`).
    pub conns: Vec<ConnKey>,
    /// Private messages received while offline: (expiry in monotonic ms, frame).
    pub offline: VecDeque<(u64, Rc<[u8]>)>,
}

impl User {
    /// A user with no connection and no message.
    pub fn new(name: &str) -> User {
        User {
            name: Rc::from(name),
            name_json: super::json::quote(name),
            conns: Vec::new(),
            offline: VecDeque::new(),
        }
    }

    /// Nothing keeps this entry alive.
    pub fn is_idle(&self) -> bool {
        self.conns.is_empty() && self.offline.is_empty()
    }

    /// Store a private message, dropping the oldest beyond `capacity`.
    pub fn store(&mut self, expires: u64, frame: Rc<[u8]>, capacity: usize) -> bool {
        if capacity == 0 {
            return false;
        }
        while self.offline.len() >= capacity {
            self.offline.pop_front();
        }
        self.offline.push_back((expires, frame));
        true
    }

    /// Drop stored messages that expired by `now`.
    pub fn expire(&mut self, now: u64) {
        self.offline.retain(|(expires, _)| *expires > now);
    }
}
