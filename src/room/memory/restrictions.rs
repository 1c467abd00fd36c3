//! Bans and mutes: at most `max_bans` of them in all (SPEC §6), each until
//! a deadline; expiry costs what is due (indexed by deadline).

use std::collections::{BTreeSet, HashMap};

/// A ban keeps a user out of a room (or, with room "", off the server); a
/// mute keeps their chat out of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// No joining (or connecting).
    Ban,
    /// No chat.
    Mute,
}

/// There is no room for another ban or mute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverCapacity;

type Key = (Kind, Box<str>, Box<str>);

/// Every ban and mute. See the module docs.
#[derive(Debug)]
pub struct Restrictions {
    until: HashMap<Key, u64>,
    due: BTreeSet<(u64, Key)>,
    max: usize,
    refused: u64,
}

impl Restrictions {
    /// None yet; at most `max`.
    pub fn new(max: usize) -> Restrictions {
        Restrictions {
            until: HashMap::new(),
            due: BTreeSet::new(),
            max,
            refused: 0,
        }
    }

    /// How many there are, and how many were refused for the cap.
    pub fn usage(&self) -> (usize, u64) {
        (self.until.len(), self.refused)
    }

    /// Restrict `user` in `room` until `until_ms` (a later call replaces
    /// the deadline).
    pub fn set(
        &mut self,
        kind: Kind,
        user: &str,
        room: &str,
        until_ms: u64,
    ) -> Result<(), OverCapacity> {
        let key: Key = (kind, user.into(), room.into());
        match self.until.get(&key).copied() {
            Some(old) => {
                self.due.remove(&(old, key.clone()));
            }
            None if self.until.len() >= self.max => {
                self.refused += 1;
                return Err(OverCapacity);
            }
            None => {}
        }
        self.due.insert((until_ms, key.clone()));
        self.until.insert(key, until_ms);
        Ok(())
    }

    /// Whether `user` is restricted in `room` at `now_ms`.
    pub fn is_active(&self, kind: Kind, user: &str, room: &str, now_ms: u64) -> bool {
        self.until
            .get(&(kind, user.into(), room.into()))
            .is_some_and(|until| *until > now_ms)
    }

    /// Drop what ended by `now_ms`. Costs what ended.
    pub fn expire(&mut self, now_ms: u64) {
        while self.due.first().is_some_and(|(at, _)| *at <= now_ms) {
            if let Some((_, key)) = self.due.pop_first() {
                self.until.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_replaced_and_expired() {
        let mut r = Restrictions::new(2);
        assert_eq!(r.set(Kind::Ban, "u", "", 100), Ok(()));
        assert_eq!(r.set(Kind::Mute, "u", "room", 50), Ok(()));
        assert_eq!(r.set(Kind::Ban, "v", "", 100), Err(OverCapacity));
        assert_eq!(
            r.set(Kind::Ban, "u", "", 300),
            Ok(()),
            "a new deadline is no new entry"
        );
        assert!(r.is_active(Kind::Mute, "u", "room", 49));
        assert!(
            !r.is_active(Kind::Ban, "u", "room", 0),
            "kinds and rooms are apart"
        );
        r.expire(100);
        assert_eq!(r.usage(), (1, 1));
        assert!(r.is_active(Kind::Ban, "u", "", 299));
        r.expire(300);
        assert_eq!(r.usage().0, 0);
        assert_eq!(r.due.len(), 0);
    }
}
