//! The invariants between the parts' indexes, checked by tests and by the
//! `rooms_ops` fuzz target after every operation.

use super::Hub;
use crate::config::RoomPolicy;
use crate::room::{RoomId, UserId};
use std::collections::{HashMap, HashSet};

impl Hub {
    /// Check every invariant between the indexes (tests and fuzzing).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.rooms.check()?;
        self.users.check()?;
        self.check_members()?;
        self.check_clients()?;
        let with_clients: usize = self.users.iter().map(|(_, u)| u.conns().len()).sum();
        if with_clients != self.clients.len() {
            return Err(format!(
                "{with_clients} user connections but {} clients",
                self.clients.len()
            ));
        }
        Ok(())
    }

    /// Every member knows its room and index; user counts agree.
    fn check_members(&self) -> Result<(), String> {
        for (rid, room) in self.rooms.iter() {
            let mut counts: HashMap<UserId, u32> = HashMap::new();
            for (i, key) in room.members().iter().enumerate() {
                let client = self
                    .clients
                    .get(*key)
                    .ok_or(format!("member {key:?} has no client"))?;
                let m = client
                    .membership(rid)
                    .ok_or(format!("member {key:?} lacks the membership"))?;
                if m.index as usize != i {
                    return Err(format!("member {key:?} at {i} thinks it is at {}", m.index));
                }
                *counts.entry(client.user).or_default() += 1;
            }
            if counts != room.users().collect() {
                return Err(format!("room {} user counts disagree", room.name()));
            }
        }
        Ok(())
    }

    /// Every client is its user's and at its index; the policy holds.
    fn check_clients(&self) -> Result<(), String> {
        for (key, client) in self.clients.iter() {
            let user = self.users.get(client.user).ok_or("client without user")?;
            if !user.conns().contains(&key) {
                return Err(format!("user {} lacks conn {key:?}", user.name()));
            }
            if self.cfg.policy == RoomPolicy::Exclusive && client.rooms.len() > 1 {
                return Err(format!(
                    "{key:?} in {} rooms under exclusive",
                    client.rooms.len()
                ));
            }
            for m in &client.rooms {
                let room = self
                    .rooms
                    .get(m.room)
                    .ok_or("membership of a missing room")?;
                if room.members().get(m.index as usize) != Some(&key) {
                    return Err(format!("{key:?} not at its index in {}", room.name()));
                }
            }
        }
        if self.cfg.policy == RoomPolicy::Exclusive {
            for (_, user) in self.users.iter() {
                let rooms: HashSet<RoomId> = user
                    .conns()
                    .iter()
                    .filter_map(|k| self.clients.get(*k))
                    .flat_map(|c| c.rooms.iter().map(|m| m.room))
                    .collect();
                if rooms.len() > 1 {
                    return Err(format!(
                        "user {} in {} rooms under exclusive",
                        user.name(),
                        rooms.len()
                    ));
                }
            }
        }
        Ok(())
    }
}
