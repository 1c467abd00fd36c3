//! Local membership: which connections of this process are in which room.
//! A room's members are slab keys in a `Vec` (a broadcast is a plain loop);
//! each member's position is kept in its client, so leaving is a
//! swap-remove plus one index fix. Rooms that emptied wait in an index by
//! the time they emptied (each at most once) and are dropped `room_ttl`
//! later: the check costs the rooms that are due, not the rooms.

use super::{ConnKey, RoomId, UserId};
use slab::Slab;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

/// One room, as far as this process knows it.
#[derive(Debug)]
pub struct Room {
    name: Rc<str>,
    /// The name as a JSON string literal (written into every event).
    name_json: Box<str>,
    members: Vec<ConnKey>,
    /// Per member (same index): it takes room chat in batches (`?batch=1`).
    batching: Vec<bool>,
    /// Members with `batching` set.
    batch_members: usize,
    /// Distinct users among the members, with their connection counts.
    users: HashMap<UserId, u32>,
    /// When the room last became empty (it is dropped `room_ttl` later);
    /// its key in [`Rooms`]' index of empty rooms.
    empty_since: Option<u64>,
    /// The `online` count last announced by a throttled `online` event.
    online_announced: usize,
    /// In [`Rooms`]' list of rooms with an `online` event pending.
    online_pending: bool,
    /// Distinct users on every node, when an engine shares presence
    /// (`u32::MAX`: not shared; [`Room::online`] counts this process's).
    shared_online: u32,
}

impl Room {
    /// Its name.
    pub fn name(&self) -> &Rc<str> {
        &self.name
    }

    /// Its name as a JSON string literal.
    pub fn name_json(&self) -> &str {
        &self.name_json
    }

    /// Member connections.
    pub fn members(&self) -> &[ConnKey] {
        &self.members
    }

    /// Per member (same index as [`Room::members`]): whether it takes
    /// room chat in batches.
    pub fn batching(&self) -> &[bool] {
        &self.batching
    }

    /// Members that take room chat in batches.
    pub fn batch_members(&self) -> usize {
        self.batch_members
    }

    /// Distinct users online: on every node if the engine shares
    /// presence, else here.
    pub fn online(&self) -> usize {
        if self.shared_online == u32::MAX {
            self.users.len()
        } else {
            self.shared_online as usize
        }
    }

    /// This user's connections here.
    pub fn conns_of(&self, user: UserId) -> u32 {
        self.users.get(&user).copied().unwrap_or(0)
    }

    /// Distinct users with their connection counts here.
    pub fn users(&self) -> impl Iterator<Item = (UserId, u32)> + '_ {
        self.users.iter().map(|(u, n)| (*u, *n))
    }
}

/// What a member's leaving changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    /// The member that moved into the leaver's index (its index must be fixed).
    pub moved: Option<ConnKey>,
    /// The user has no connection left here.
    pub last_of_user: bool,
    /// Nobody is left.
    pub now_empty: bool,
}

/// Every room of this process. See the module docs.
#[derive(Debug, Default)]
pub struct Rooms {
    slab: Slab<Room>,
    index: HashMap<Rc<str>, RoomId>,
    /// Rooms that are empty, by when they emptied.
    empty: BTreeSet<(u64, RoomId)>,
    /// Rooms whose throttled `online` count may need announcing.
    online_pending: Vec<RoomId>,
}

impl Rooms {
    /// The room called `name`, if it exists here.
    pub fn find(&self, name: &str) -> Option<RoomId> {
        self.index.get(name).copied()
    }

    /// The room `id`.
    pub fn get(&self, id: RoomId) -> Option<&Room> {
        self.slab.get(id.0)
    }

    /// Rooms here, empty ones within `room_ttl` included.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Every room with its id.
    pub fn iter(&self) -> impl Iterator<Item = (RoomId, &Room)> {
        self.slab.iter().map(|(i, r)| (RoomId(i), r))
    }

    /// The room called `name`, created empty if needed (and listed as
    /// empty, so it is dropped if nobody joins).
    pub fn entry(&mut self, name: &str, now_ms: u64) -> RoomId {
        if let Some(id) = self.find(name) {
            return id;
        }
        let name: Rc<str> = Rc::from(name);
        let id = RoomId(self.slab.insert(Room {
            name: name.clone(),
            name_json: super::protocol::quote(&name),
            members: Vec::new(),
            batching: Vec::new(),
            batch_members: 0,
            users: HashMap::new(),
            empty_since: Some(now_ms),
            online_announced: 0,
            online_pending: false,
            shared_online: u32::MAX,
        }));
        self.index.insert(name, id);
        self.empty.insert((now_ms, id));
        id
    }

    /// Add `key` (of `user`, taking chat in batches if `batch`) to `id`;
    /// its index, and whether this is the user's first connection here.
    pub fn add(
        &mut self,
        id: RoomId,
        key: ConnKey,
        user: UserId,
        batch: bool,
    ) -> Option<(u32, bool)> {
        let room = self.slab.get_mut(id.0)?;
        room.members.push(key);
        room.batching.push(batch);
        room.batch_members += usize::from(batch);
        if let Some(since) = room.empty_since.take() {
            self.empty.remove(&(since, id));
        }
        let count = room.users.entry(user).or_insert(0);
        *count += 1;
        Some(((room.members.len() - 1) as u32, *count == 1))
    }

    /// Remove the member at `index` (which is a connection of `user`).
    pub fn remove(&mut self, id: RoomId, index: u32, user: UserId, now_ms: u64) -> Option<Left> {
        let room = self.slab.get_mut(id.0)?;
        let index = index as usize;
        if index >= room.members.len() {
            return None;
        }
        room.members.swap_remove(index);
        if room.batching.swap_remove(index) {
            room.batch_members -= 1;
        }
        let moved = room.members.get(index).copied();
        let last_of_user = match room.users.get_mut(&user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                room.users.remove(&user);
                true
            }
            None => false,
        };
        let now_empty = room.members.is_empty();
        if now_empty {
            room.empty_since = Some(now_ms);
            self.empty.insert((now_ms, id));
        }
        Some(Left {
            moved,
            last_of_user,
            now_empty,
        })
    }

    /// In a big room, presence changes are announced as a throttled count:
    /// mark `id` for the next [`Rooms::take_online_changes`]. Returns false
    /// if the room is small enough for per-user events.
    pub fn throttle_presence(&mut self, id: RoomId, events_max: usize) -> bool {
        let Some(room) = self.slab.get_mut(id.0) else {
            return false;
        };
        if room.members.len().max(room.online()) <= events_max {
            room.online_announced = room.online();
            return false;
        }
        if !room.online_pending {
            room.online_pending = true;
            self.online_pending.push(id);
        }
        true
    }

    /// The room's online count on every node (an engine that shares presence).
    pub fn set_shared_online(&mut self, id: RoomId, online: usize) {
        if let Some(room) = self.slab.get_mut(id.0) {
            room.shared_online = u32::try_from(online).unwrap_or(u32::MAX - 1);
        }
    }

    /// Rooms whose `online` count changed since last announced, marked as
    /// announced now. Costs the rooms marked, not the rooms that exist.
    pub fn take_online_changes(&mut self) -> Vec<RoomId> {
        let mut changed = std::mem::take(&mut self.online_pending);
        changed.retain(|id| match self.slab.get_mut(id.0) {
            Some(room) => {
                room.online_pending = false;
                let differs = room.online() != room.online_announced;
                room.online_announced = room.online();
                differs
            }
            None => false,
        });
        changed
    }

    /// Drop the rooms empty for `ttl_ms` by `now_ms`; their names, for the
    /// engine to forget. Costs the rooms that are due.
    pub fn expire_empty(&mut self, now_ms: u64, ttl_ms: u64) -> Vec<Rc<str>> {
        let mut dropped = Vec::new();
        while let Some(&(since, id)) = self.empty.first() {
            if now_ms < since.saturating_add(ttl_ms) {
                break;
            }
            self.empty.pop_first();
            if self.slab.contains(id.0) {
                let room = self.slab.remove(id.0);
                self.index.remove(&room.name);
                dropped.push(room.name);
            }
        }
        dropped
    }

    /// Rooms waiting in the empty list (tests: it cannot grow past the rooms).
    #[cfg(test)]
    pub fn listed_empty(&self) -> usize {
        self.empty.len()
    }

    /// Check the room side of the indexes (tests and fuzzing).
    pub fn check(&self) -> Result<(), String> {
        for (i, room) in &self.slab {
            if self.index.get(&room.name) != Some(&RoomId(i)) {
                return Err(format!("room {} not indexed", room.name));
            }
            let batching = room.batching.iter().filter(|b| **b).count();
            if room.batching.len() != room.members.len() || batching != room.batch_members {
                return Err(format!("room {} batch flags are wrong", room.name));
            }
            if room.members.is_empty() != room.empty_since.is_some() {
                return Err(format!("room {} empty_since is wrong", room.name));
            }
            let listed = room
                .empty_since
                .is_some_and(|t| self.empty.contains(&(t, RoomId(i))));
            if room.members.is_empty() != listed {
                return Err(format!("room {} is listed as empty wrongly", room.name));
            }
        }
        if self.empty.len() > self.slab.len() {
            return Err(format!(
                "{} rooms listed empty, {} rooms",
                self.empty.len(),
                self.slab.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_remove_reports_the_moved_member() {
        let mut rooms = Rooms::default();
        let r = rooms.entry("r", 0);
        let (ann, bo) = (UserId(1), UserId(2));
        assert_eq!(rooms.add(r, ConnKey(10), ann, false), Some((0, true)));
        assert_eq!(rooms.add(r, ConnKey(11), ann, true), Some((1, false)));
        assert_eq!(rooms.add(r, ConnKey(12), bo, false), Some((2, true)));
        assert_eq!(rooms.get(r).unwrap().online(), 2);
        let left = rooms.remove(r, 0, ann, 5).unwrap();
        assert_eq!((left.moved, left.last_of_user), (Some(ConnKey(12)), false));
        assert_eq!(rooms.get(r).unwrap().members(), &[ConnKey(12), ConnKey(11)]);
        assert_eq!(rooms.get(r).unwrap().batching(), &[false, true]);
        assert_eq!(rooms.get(r).unwrap().batch_members(), 1);
        rooms.check().unwrap();
        assert!(rooms.remove(r, 1, ann, 5).unwrap().last_of_user);
        assert_eq!(rooms.get(r).unwrap().online(), 1);
    }

    #[test]
    fn the_empty_list_holds_each_room_once() {
        // Regression: every leave pushed the room again (dedup only removed
        // neighbours), so one connection hopping between rooms grew the list
        // forever, and the whole list was rescanned every second.
        let mut rooms = Rooms::default();
        let ids: Vec<RoomId> = ["a", "b", "c"].iter().map(|n| rooms.entry(n, 0)).collect();
        for round in 0..1_000u64 {
            let id = ids[(round % 3) as usize];
            let (index, _) = rooms.add(id, ConnKey(1), UserId(1), false).unwrap();
            rooms.remove(id, index, UserId(1), round).unwrap();
            assert!(rooms.listed_empty() <= 3, "round {round}");
            rooms.check().unwrap();
        }
        assert_eq!(rooms.expire_empty(1_000 + 300_000, 300_000).len(), 3);
        assert_eq!((rooms.len(), rooms.listed_empty()), (0, 0));
    }

    #[test]
    fn a_room_rejoined_before_its_ttl_is_kept() {
        let mut rooms = Rooms::default();
        let r = rooms.entry("r", 0);
        rooms.add(r, ConnKey(1), UserId(1), false);
        assert!(rooms.expire_empty(10_000, 10).is_empty());
        assert_eq!((rooms.len(), rooms.listed_empty()), (1, 0));
        rooms.remove(r, 0, UserId(1), 20_000);
        assert!(rooms.expire_empty(20_009, 10).is_empty());
        assert_eq!(rooms.expire_empty(20_010, 10).len(), 1);
    }
}
