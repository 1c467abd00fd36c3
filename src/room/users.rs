//! Users: their connections (several devices) and their offline inbox.
//! Kept small: one device inline, the inbox boxed only while it holds messages.

use super::ConnKey;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::rc::Rc;

/// Stored private messages: (expiry in monotonic ms, frame), oldest first.
pub type Inbox = VecDeque<(u64, Rc<[u8]>)>;

/// One user known to the hub: connected, or with messages waiting.
#[derive(Debug)]
pub struct User {
    /// The user id.
    pub name: Rc<str>,
    /// Open connections (up to `max_connections_per_user`; one inline).
    pub conns: SmallVec<[ConnKey; 1]>,
    /// Private messages received while offline, boxed (a thin pointer
    /// instead of a 32-byte `VecDeque` in every user) and only while any wait.
    #[allow(clippy::box_collection)]
    pub offline: Option<Box<Inbox>>,
}

impl User {
    /// A user with no connection and no message.
    pub fn new(name: &str) -> User {
        User {
            name: Rc::from(name),
            conns: SmallVec::new(),
            offline: None,
        }
    }

    /// The id as a JSON string literal (escaped on use: ids are short).
    pub fn name_json(&self) -> Box<str> {
        super::json::quote(&self.name)
    }

    /// Nothing keeps this entry alive.
    pub fn is_idle(&self) -> bool {
        self.conns.is_empty() && self.offline.is_none()
    }

    /// Store a private message, dropping the oldest beyond `capacity`.
    pub fn store(&mut self, expires: u64, frame: Rc<[u8]>, capacity: usize) -> bool {
        if capacity == 0 {
            return false;
        }
        let inbox = self.offline.get_or_insert_with(Box::default);
        while inbox.len() >= capacity {
            inbox.pop_front();
        }
        inbox.push_back((expires, frame));
        true
    }

    /// Drop stored messages that expired by `now`.
    pub fn expire(&mut self, now: u64) {
        if let Some(inbox) = self.offline.as_mut() {
            inbox.retain(|(expires, _)| *expires > now);
            if inbox.is_empty() {
                self.offline = None;
            }
        }
    }

    /// Take every stored message, oldest first.
    pub fn take_offline(&mut self) -> Inbox {
        self.offline.take().map(|b| *b).unwrap_or_default()
    }
}
