//! A room: its members (slab keys in a `Vec`, O(1) removal), the distinct
//! users among them, its sequence, epoch and history ring.

use super::ConnKey;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// A user's index in the hub's user slab.
pub type UserId = usize;

/// A chat message kept in a room's history, exactly as it was delivered.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its seq.
    pub seq: u64,
    /// Its author (retract by author).
    pub author: Rc<str>,
    /// The delivered frame (replayed as is).
    pub frame: Rc<[u8]>,
    /// Where the JSON starts in `frame` (for `history` replies).
    pub json_at: u8,
}

impl Stored {
    /// The message's JSON text.
    pub fn json(&self) -> &str {
        std::str::from_utf8(
            self.frame
                .get(usize::from(self.json_at)..)
                .unwrap_or_default(),
        )
        .unwrap_or("{}")
    }
}

/// One room.
#[derive(Debug)]
pub struct Room {
    /// Its name.
    pub name: Rc<str>,
    /// Its name as a JSON string literal (written into every event).
    pub name_json: Box<str>,
    /// A random string fixed at creation (a restarted sequence has another).
    pub epoch: Box<str>,
    /// The last seq given out (0 for a new room).
    pub seq: u64,
    /// The last `history_size` chat messages, oldest first.
    pub history: VecDeque<Stored>,
    /// Member connections. A connection's position is kept in its session,
    /// so leaving is a swap-remove plus one index fix.
    pub members: Vec<ConnKey>,
    /// Distinct users among the members, with their connection counts.
    pub users: HashMap<UserId, u32>,
    /// When the room last became empty (it is dropped `room_ttl` later).
    pub empty_since: Option<u64>,
    /// The `online` count last announced by a throttled `online` event.
    pub online_announced: usize,
    /// The room is in the hub's list of rooms with an `online` event pending.
    pub online_pending: bool,
}

impl Room {
    /// A new, empty room.
    pub fn new(name: &str, epoch: Box<str>) -> Room {
        Room {
            name: Rc::from(name),
            name_json: super::json::quote(name),
            epoch,
            seq: 0,
            history: VecDeque::new(),
            members: Vec::new(),
            users: HashMap::new(),
            empty_since: None,
            online_announced: 0,
            online_pending: false,
        }
    }

    /// Distinct users online.
    pub fn online(&self) -> usize {
        self.users.len()
    }

    /// Add `key` (of `user`); returns its index and whether this is the
    /// user's first connection here.
    pub fn add(&mut self, key: ConnKey, user: UserId) -> (u32, bool) {
        self.members.push(key);
        self.empty_since = None;
        let count = self.users.entry(user).or_insert(0);
        *count += 1;
        ((self.members.len() - 1) as u32, *count == 1)
    }

    /// Remove the member at `index` (which must be `key`). Returns the key
    /// that moved into `index` (its stored index must be fixed) and whether
    /// `user` has no connection left here.
    pub fn remove(&mut self, index: u32, user: UserId) -> (Option<ConnKey>, bool) {
        let index = index as usize;
        if index >= self.members.len() {
            return (None, false);
        }
        self.members.swap_remove(index);
        let moved = self.members.get(index).copied();
        let last = match self.users.get_mut(&user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.users.remove(&user);
                true
            }
            None => false,
        };
        (moved, last)
    }

    /// Keep a chat message, dropping the oldest beyond `capacity`.
    pub fn remember(&mut self, stored: Stored, capacity: usize) {
        if capacity == 0 {
            return;
        }
        while self.history.len() >= capacity {
            self.history.pop_front();
        }
        self.history.push_back(stored);
    }

    /// The seq of the oldest message a client could still get, if it had
    /// seen everything before: the oldest stored, or the next to come.
    pub fn oldest_available(&self) -> u64 {
        self.history.front().map_or(self.seq + 1, |m| m.seq)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn swap_remove_reports_the_moved_member() {
        let mut r = Room::new("r", "e".into());
        assert_eq!(r.add(10, 1), (0, true));
        assert_eq!(r.add(11, 1), (1, false));
        assert_eq!(r.add(12, 2), (2, true));
        assert_eq!(r.online(), 2);
        assert_eq!(r.remove(0, 1), (Some(12), false));
        assert_eq!(r.members, vec![12, 11]);
        assert_eq!(r.remove(1, 1), (None, true));
        assert_eq!(r.online(), 1);
    }

    #[test]
    fn history_is_a_ring() {
        let mut r = Room::new("r", "e".into());
        for seq in 1..=5 {
            r.seq = seq;
            r.remember(
                Stored {
                    seq,
                    author: Rc::from("a"),
                    frame: Rc::from(&b"xx{}"[..]),
                    json_at: 2,
                },
                3,
            );
        }
        assert_eq!(
            r.history.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(r.oldest_available(), 3);
        assert_eq!(r.history[0].json(), "{}");
    }
}
