//! What the hub keeps per `/ws` connection, and where: a `Vec` indexed by
//! the connection's slab key. Every byte here is paid per connection (the
//! size test in `hub.rs` keeps them honest).

use super::rooms::UserId;
use super::ConnKey;
use crate::auth::Role;
use smallvec::SmallVec;

/// A connection's place in one room.
#[derive(Debug, Clone, Copy)]
pub(super) struct Membership {
    pub room: usize,
    /// Its position in the room's member `Vec`.
    pub index: u32,
    /// Room chat skipped for backpressure, not yet reported. The skipped
    /// seqs are contiguous, `drop_from` to `drop_from + dropped - 1`: a
    /// queue only shrinks in a flush, and the report goes out right after
    /// the flush that brings it under `drop_threshold`, before any chat.
    pub dropped: u32,
    pub drop_from: u64,
}

/// What the hub keeps per `/ws` connection.
#[derive(Debug)]
pub(super) struct Session {
    pub user: UserId,
    /// Memberships; one inline (the exclusive policy never needs more).
    pub rooms: SmallVec<[Membership; 1]>,
    pub role: Role,
    /// The token's `rooms` claim. A thin pointer (8 bytes, not a 16-byte
    /// slice or 24-byte Vec) because most sessions have none.
    #[allow(clippy::box_collection)]
    pub allowed_rooms: Option<Box<Vec<Box<str>>>>,
    pub bucket: Bucket,
}

/// A token bucket (SPEC §5 `rate_limit`), and the refusals that count as
/// abuse. Times are the low 32 bits of monotonic ms, compared with
/// wrapping arithmetic (differences stay far below 49 days).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Bucket {
    pub tokens: f32,
    pub last_ms: u32,
    /// Requests refused since `window_ms`.
    pub refused: u32,
    pub window_ms: u32,
}

/// The sessions, indexed by connection key (slab keys are dense and
/// reused, so a `Vec` beats a hash map by ~80 bytes a connection).
#[derive(Debug, Default)]
pub(super) struct Sessions {
    slots: Vec<Option<Session>>,
    len: usize,
}

impl Sessions {
    pub fn get(&self, key: &ConnKey) -> Option<&Session> {
        self.slots.get(*key).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, key: &ConnKey) -> Option<&mut Session> {
        self.slots.get_mut(*key).and_then(Option::as_mut)
    }

    pub fn insert(&mut self, key: ConnKey, session: Session) {
        if self.slots.len() <= key {
            self.slots.resize_with(key + 1, || None);
        }
        if let Some(slot) = self.slots.get_mut(key) {
            if slot.replace(session).is_none() {
                self.len += 1;
            }
        }
    }

    pub fn remove(&mut self, key: &ConnKey) -> Option<Session> {
        let session = self.slots.get_mut(*key).and_then(Option::take);
        if session.is_some() {
            self.len -= 1;
        }
        session
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Every session with its key.
    pub fn iter(&self) -> impl Iterator<Item = (ConnKey, &Session)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.as_ref().map(|s| (k, s)))
    }
}

#[cfg(test)]
mod tests {
    /// Paid once per connection or user: grow them only on purpose
    /// (BENCHMARKS.md: 488 B of server RSS per idle /ws connection in a room).
    #[test]
    fn per_connection_structures_stay_small() {
        assert!(
            std::mem::size_of::<Option<super::Session>>() <= 88,
            "{}",
            std::mem::size_of::<Option<super::Session>>()
        );
        assert!(std::mem::size_of::<super::Membership>() <= 24);
        assert!(std::mem::size_of::<crate::room::users::User>() <= 48);
    }
}
