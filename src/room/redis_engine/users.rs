//! Users across nodes (SPEC §7): each node says in Redis how many
//! connections of each user it holds, in a key that expires with
//! `node_ttl` unless the node refreshes it, so a node that dies stops
//! counting without anyone's help; a private message is routed by one
//! script that counts those connections and publishes to the user's
//! channel (every node with the user subscribes to it) or stores it.

use super::{Chan, Pending, RedisEngine, CMD, SUB};
use crate::room::engine::Unavailable;
use crate::room::Now;
use std::rc::Rc;

impl RedisEngine {
    pub(super) fn user_tag(user: &str) -> String {
        format!("u:{user}")
    }

    /// Say in Redis that this node has `count` connections of `user`.
    pub(super) fn register_user(&mut self, user: &str, count: usize, new: bool) {
        let tag = Self::user_tag(user);
        let count_key = self.key(&tag, &format!("n:{}", self.node));
        let (count, ttl) = (count.to_string(), self.s.node_ttl_ms.to_string());
        let args: [&[u8]; 5] = [
            b"SET",
            count_key.as_bytes(),
            count.as_bytes(),
            b"PX",
            ttl.as_bytes(),
        ];
        self.cmd(&args, Pending::Ignore);
        let rooms_key = self.key(&tag, &format!("r:{}", self.node));
        self.cmd(
            &[b"PEXPIRE", rooms_key.as_bytes(), ttl.as_bytes()],
            Pending::Ignore,
        );
        if new {
            let (nodes, node) = (self.key(&tag, "nodes"), self.node.clone());
            self.cmd(
                &[b"SADD", nodes.as_bytes(), node.as_bytes()],
                Pending::Ignore,
            );
        }
    }

    /// Every local user again (a new connection to Redis, which may have
    /// come back empty).
    pub(super) fn register_all_users(&mut self) {
        let users: Vec<(Rc<str>, usize)> =
            self.users.iter().map(|(u, n)| (u.clone(), *n)).collect();
        for (user, count) in users {
            self.register_user(&user, count, true);
        }
    }

    /// Keep this node's users counted while it lives.
    pub(super) fn refresh_presence(&mut self, now: Now) {
        if now.mono_ms < self.next_presence_ms || !self.up() {
            return;
        }
        self.next_presence_ms = now.mono_ms + (self.s.node_ttl_ms / 3).max(100);
        let users: Vec<(Rc<str>, usize)> =
            self.users.iter().map(|(u, n)| (u.clone(), *n)).collect();
        for (user, count) in users {
            self.register_user(&user, count, false);
        }
        self.refresh_rooms(now);
    }

    pub(super) fn ctl_publish(&mut self, msg: &str) {
        if self.up() {
            let ctl = self.ctl_channel();
            self.cmd(
                &[b"PUBLISH", ctl.as_bytes(), msg.as_bytes()],
                Pending::Ignore,
            );
        }
    }

    /// The user channels to subscribe to on a new pub/sub connection.
    pub(super) fn user_channels(&self) -> Vec<Vec<u8>> {
        self.users
            .keys()
            .map(|u| self.key(&Self::user_tag(u), "ch").into_bytes())
            .collect()
    }

    pub(super) fn set_user_here(&mut self, user: &str, count: usize) {
        let tag = Self::user_tag(user);
        let ch = self.key(&tag, "ch");
        if count == 0 {
            if self.users.remove(user).is_none() {
                return;
            }
            self.channels.remove(ch.as_bytes());
            if self.links[SUB].connected {
                self.send(SUB, &[b"UNSUBSCRIBE", ch.as_bytes()], None);
            }
            if self.up() {
                let count_key = self.key(&tag, &format!("n:{}", self.node));
                let (nodes, node) = (self.key(&tag, "nodes"), self.node.clone());
                self.cmd(&[b"DEL", count_key.as_bytes()], Pending::Ignore);
                self.cmd(
                    &[b"SREM", nodes.as_bytes(), node.as_bytes()],
                    Pending::Ignore,
                );
            }
            return;
        }
        let name: Rc<str> = Rc::from(user);
        let new = self.users.insert(name.clone(), count).is_none();
        if new {
            self.channels
                .insert(Box::from(ch.as_bytes()), Chan::User(name));
            if self.links[SUB].connected {
                self.send(SUB, &[b"SUBSCRIBE", ch.as_bytes()], None);
            }
        }
        if self.links[CMD].connected {
            self.register_user(user, count, new);
        }
    }

    /// Ask Redis to count one more connection of `user` if it has fewer
    /// than `max` on every node.
    pub(super) fn send_admit(
        &mut self,
        user: &str,
        max: usize,
        ticket: u64,
    ) -> Result<(), Unavailable> {
        if !self.has_room_in_flight() {
            return Err(Unavailable);
        }
        let tag = Self::user_tag(user);
        let (nodes, prefix) = (self.key(&tag, "nodes"), self.key(&tag, "n:"));
        let (sha, node, max, ttl) = (
            self.sha(8),
            self.node.clone(),
            max.to_string(),
            self.s.node_ttl_ms.to_string(),
        );
        let args = [
            prefix.as_bytes(),
            node.as_bytes(),
            max.as_bytes(),
            ttl.as_bytes(),
        ];
        self.evalsha(&sha, &[nodes.as_bytes()], &args, Pending::Admit { ticket });
        Ok(())
    }

    /// Ask Redis how many connections of `user` (in `room`) there are on
    /// every node: what a kick reaches (asked right after the kick's
    /// control message, before any node has acted on it).
    pub(super) fn send_count_kicked(
        &mut self,
        user: &str,
        room: Option<&str>,
        ticket: u64,
    ) -> Result<(), Unavailable> {
        if !self.has_room_in_flight() {
            return Err(Unavailable);
        }
        let pending = Pending::Kicked { ticket };
        match room {
            Some(room) => {
                let users = self.key(room, "users");
                self.cmd(&[b"HGET", users.as_bytes(), user.as_bytes()], pending);
            }
            None => {
                let tag = Self::user_tag(user);
                let (nodes, prefix) = (self.key(&tag, "nodes"), self.key(&tag, "n:"));
                let sha = self.sha(5);
                self.evalsha(&sha, &[nodes.as_bytes()], &[prefix.as_bytes()], pending);
            }
        }
        Ok(())
    }

    /// Ask Redis for `user`'s connections and rooms on every node.
    pub(super) fn send_user_info(&mut self, user: &str, ticket: u64) -> Result<(), Unavailable> {
        if !self.has_room_in_flight() {
            return Err(Unavailable);
        }
        let tag = Self::user_tag(user);
        let (nodes, counts, rooms) = (
            self.key(&tag, "nodes"),
            self.key(&tag, "n:"),
            self.key(&tag, "r:"),
        );
        let sha = self.sha(9);
        let user = Rc::from(user);
        let args = [counts.as_bytes(), rooms.as_bytes()];
        self.evalsha(
            &sha,
            &[nodes.as_bytes()],
            &args,
            Pending::UserInfo { ticket, user },
        );
        Ok(())
    }

    /// `user` is in `room` here (or no longer): the set of rooms this
    /// node reports for the user, expiring with node_ttl like its count.
    pub(super) fn user_in_room(&mut self, user: &str, room: &str, here: bool) {
        let key = self.key(&Self::user_tag(user), &format!("r:{}", self.node));
        let ttl = self.s.node_ttl_ms.to_string();
        let verb: &[u8] = if here { b"SADD" } else { b"SREM" };
        self.cmd(&[verb, key.as_bytes(), room.as_bytes()], Pending::Ignore);
        self.cmd(
            &[b"PEXPIRE", key.as_bytes(), ttl.as_bytes()],
            Pending::Ignore,
        );
    }

    pub(super) fn send_private(
        &mut self,
        to: &str,
        frame: &Rc<[u8]>,
        ticket: u64,
    ) -> Result<(), Unavailable> {
        if !self.has_room_in_flight() {
            return Err(Unavailable);
        }
        let tag = Self::user_tag(to);
        let (nodes, inbox, prefix, ch) = (
            self.key(&tag, "nodes"),
            self.key(&tag, "inbox"),
            self.key(&tag, "n:"),
            self.key(&tag, "ch"),
        );
        let (sha, size, ttl) = (
            self.sha(4),
            self.s.offline_queue.to_string(),
            self.s.offline_ttl_ms.to_string(),
        );
        let keys = [nodes.as_bytes(), inbox.as_bytes()];
        let json = super::links::payload(frame);
        let args = [
            prefix.as_bytes(),
            ch.as_bytes(),
            json,
            size.as_bytes(),
            ttl.as_bytes(),
        ];
        self.evalsha(&sha, &keys, &args, Pending::Private { ticket });
        Ok(())
    }
}
