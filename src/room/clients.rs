//! What the hub keeps per `/ws` connection ("client", as Centrifugo and
//! Socket.IO call it): its user, memberships, role, allowed rooms and rate
//! bucket, in a `Vec` indexed by the connection's slab key. Every byte here
//! is paid per connection (see the size test).

use super::policy::Bucket;
use super::{ConnKey, RoomId, UserId};
use crate::auth::Role;
use smallvec::SmallVec;

/// A connection's place in one room.
#[derive(Debug, Clone, Copy)]
pub struct Membership {
    /// The room.
    pub room: RoomId,
    /// Its position in the room's member `Vec`.
    pub index: u32,
    /// Room chat skipped for backpressure, not yet reported. The skipped
    /// seqs are contiguous, `drop_from` to `drop_from + dropped - 1`: a
    /// queue only shrinks in a flush, and the report goes out right after
    /// the flush that brings it under `drop_threshold`, before any chat.
    pub dropped: u32,
    /// The first seq skipped.
    pub drop_from: u64,
}

/// One `/ws` connection's state in the model.
#[derive(Debug)]
pub struct Client {
    /// Its user.
    pub user: UserId,
    /// Memberships; one inline (the exclusive policy never needs more).
    pub rooms: SmallVec<[Membership; 1]>,
    /// What it may do.
    pub role: Role,
    /// It takes room chat in batches (`?batch=1` with `batch_window_ms` > 0).
    pub batch: bool,
    /// The token's `rooms` claim. A thin pointer (8 bytes, not a 16-byte
    /// slice or 24-byte Vec) because most clients have none.
    #[allow(clippy::box_collection)]
    pub allowed_rooms: Option<Box<Vec<Box<str>>>>,
    /// Its rate limit.
    pub bucket: Bucket,
}

impl Client {
    /// Its membership of `room`, if any.
    pub fn membership(&self, room: RoomId) -> Option<&Membership> {
        self.rooms.iter().find(|m| m.room == room)
    }

    /// Its membership of `room`, if any, to change.
    pub fn membership_mut(&mut self, room: RoomId) -> Option<&mut Membership> {
        self.rooms.iter_mut().find(|m| m.room == room)
    }

    /// Whether the token's `rooms` claim lets it join `name`.
    pub fn may_join(&self, name: &str) -> bool {
        self.allowed_rooms
            .as_ref()
            .is_none_or(|r| r.iter().any(|n| &**n == name))
    }
}

/// The clients, indexed by connection key (slab keys are dense and reused,
/// so a `Vec` beats a hash map by ~80 bytes a connection).
#[derive(Debug, Default)]
pub struct Clients {
    slots: Vec<Option<Client>>,
    len: usize,
}

impl Clients {
    /// The client of `key`.
    pub fn get(&self, key: ConnKey) -> Option<&Client> {
        self.slots.get(key.0).and_then(Option::as_ref)
    }

    /// The client of `key`, to change.
    pub fn get_mut(&mut self, key: ConnKey) -> Option<&mut Client> {
        self.slots.get_mut(key.0).and_then(Option::as_mut)
    }

    /// Add (or replace) the client of `key`.
    pub fn insert(&mut self, key: ConnKey, client: Client) {
        if self.slots.len() <= key.0 {
            self.slots.resize_with(key.0 + 1, || None);
        }
        if let Some(slot) = self.slots.get_mut(key.0) {
            if slot.replace(client).is_none() {
                self.len += 1;
            }
        }
    }

    /// Remove the client of `key`.
    pub fn remove(&mut self, key: ConnKey) -> Option<Client> {
        let client = self.slots.get_mut(key.0).and_then(Option::take);
        if client.is_some() {
            self.len -= 1;
        }
        client
    }

    /// Clients.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every client with its key.
    pub fn iter(&self) -> impl Iterator<Item = (ConnKey, &Client)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(k, c)| c.as_ref().map(|c| (ConnKey(k), c)))
    }

    /// The room the request names (if `key` is a member), or the client's
    /// only room when it names none. `Err(true)`: it names none and the
    /// client is in several.
    pub fn room_of(&self, key: ConnKey, named: Option<RoomId>) -> Result<RoomId, bool> {
        let client = self.get(key).ok_or(false)?;
        match named {
            Some(id) => client.membership(id).map(|m| m.room).ok_or(false),
            None => match client.rooms.as_slice() {
                [only] => Ok(only.room),
                [] => Err(false),
                _ => Err(true),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    /// Paid once per connection (BENCHMARKS.md: 488 B of server RSS per
    /// idle /ws connection in a room): grow it only on purpose.
    #[test]
    fn per_connection_structures_stay_small() {
        let client = std::mem::size_of::<Option<super::Client>>();
        assert!(client <= 88, "{client}");
        assert!(std::mem::size_of::<super::Membership>() <= 24);
    }
}
