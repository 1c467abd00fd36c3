//! The invariants between the hub's indexes, checked by tests and by the
//! `rooms_ops` fuzz target after every operation.

use super::hub::Hub;
use super::rooms::UserId;
use crate::config::RoomPolicy;
use std::collections::{HashMap, HashSet};

impl Hub {
    /// Check every invariant between the indexes (tests and fuzzing).
    pub fn check_invariants(&self) -> Result<(), String> {
        for (rid, room) in &self.rooms {
            if self.room_index.get(&room.name) != Some(&rid) {
                return Err(format!("room {} not indexed", room.name));
            }
            let mut counts: HashMap<UserId, u32> = HashMap::new();
            for (i, key) in room.members.iter().enumerate() {
                let s = self
                    .sessions
                    .get(key)
                    .ok_or(format!("member {key} has no session"))?;
                let m = s
                    .rooms
                    .iter()
                    .find(|m| m.room == rid)
                    .ok_or(format!("member {key} lacks the membership"))?;
                if m.index as usize != i {
                    return Err(format!("member {key} at {i} thinks it is at {}", m.index));
                }
                *counts.entry(s.user).or_default() += 1;
            }
            if counts != room.users {
                return Err(format!(
                    "room {} user counts {:?} != {:?}",
                    room.name, room.users, counts
                ));
            }
            if room.members.is_empty() != room.empty_since.is_some() {
                return Err(format!("room {} empty_since is wrong", room.name));
            }
        }
        for (key, s) in self.sessions.iter() {
            let key = &key;
            let user = self.users.get(s.user).ok_or("session without user")?;
            if !user.conns.contains(key) {
                return Err(format!("user {} lacks conn {key}", user.name));
            }
            if self.cfg.policy == RoomPolicy::Exclusive && s.rooms.len() > 1 {
                return Err(format!(
                    "conn {key} in {} rooms under exclusive",
                    s.rooms.len()
                ));
            }
            for m in &s.rooms {
                let room = self
                    .rooms
                    .get(m.room)
                    .ok_or("membership of a missing room")?;
                if room.members.get(m.index as usize) != Some(key) {
                    return Err(format!("conn {key} not at its index in {}", room.name));
                }
            }
        }
        if self.cfg.policy == RoomPolicy::Exclusive {
            for (_, user) in &self.users {
                let rooms: HashSet<usize> = user
                    .conns
                    .iter()
                    .filter_map(|k| self.sessions.get(k))
                    .flat_map(|s| s.rooms.iter().map(|m| m.room))
                    .collect();
                if rooms.len() > 1 {
                    return Err(format!(
                        "user {} in {} rooms under exclusive",
                        user.name,
                        rooms.len()
                    ));
                }
            }
        }
        for (uid, user) in &self.users {
            if self.user_index.get(&user.name) != Some(&uid) {
                return Err(format!("user {} not indexed", user.name));
            }
            if user.is_idle() {
                return Err(format!("idle user {} kept", user.name));
            }
        }
        let online = self
            .users
            .iter()
            .filter(|(_, u)| !u.conns.is_empty())
            .count();
        if online != self.online_users() {
            return Err(format!(
                "online_users {} but {online} users have connections",
                self.online_users()
            ));
        }
        Ok(())
    }
}
