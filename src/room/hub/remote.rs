//! What an engine answers in a later turn (SPEC §7): joins parked until
//! their room's state is here, API publications waiting for their seq,
//! and what other nodes did (retractions, kicks) acted on here.

use super::{ConnectParams, Hub, Join};
use crate::room::engine::Readiness;
use crate::room::protocol::{self, JsonFrame};
use crate::room::{ConnKey, Net, Now};
use serde_json::value::RawValue;
use std::rc::Rc;

/// What an API publication came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Delivered here to this many connections, with this seq.
    Done(usize, u64),
    /// Its seq comes later, with this ticket (see [`Hub::take_acks`]).
    Pending(u64),
}

/// Who answers an API query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// The hub, from what this process holds.
    Here,
    /// The engine, later, for this ticket (see [`Hub::take_acks`]).
    Later(u64),
}

/// A `/ws` connection waiting for the engine's admission.
#[derive(Debug)]
pub(super) struct PendingOpen {
    key: ConnKey,
    conn_id: u64,
    user: Box<str>,
    room: Option<Box<str>>,
    since: Option<Box<str>>,
    epoch: Option<Box<str>>,
    role: crate::auth::Role,
    allowed_rooms: Option<Vec<String>>,
    batch: bool,
}

impl PendingOpen {
    pub(super) fn new(
        key: ConnKey,
        conn_id: u64,
        user: &str,
        p: &ConnectParams<'_>,
    ) -> PendingOpen {
        PendingOpen {
            key,
            conn_id,
            user: Box::from(user),
            room: p.room.map(Box::from),
            since: p.since.map(Box::from),
            epoch: p.epoch.map(Box::from),
            role: p.role,
            allowed_rooms: p.allowed_rooms.map(<[String]>::to_vec),
            batch: p.batch,
        }
    }
}

/// A `join` waiting for [`Readiness::Ready`].
#[derive(Debug)]
pub(super) struct ParkedJoin {
    key: ConnKey,
    room: Rc<str>,
    since: Option<u64>,
    epoch: Option<Box<str>>,
    id: Option<Box<RawValue>>,
}

/// An acked API request: its ticket, and the answer's JSON, or `None` if
/// it may not have been carried out (503).
pub type Ack = (u64, Option<String>);

/// What a private message came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// (connections delivered to, stored).
    Done(usize, bool),
    /// The engine answers later, for this ticket.
    Pending(u64),
    /// The engine cannot take it now.
    Unavailable,
}

/// Who waits for a routed private's answer.
#[derive(Debug)]
pub(super) enum Waiter {
    /// A client's `private` (its `ack`).
    Client(ConnKey, Option<Box<RawValue>>),
    /// `POST /api/publish` (see [`Hub::take_acks`]).
    Api,
}

impl Hub {
    pub(super) fn next_ticket(&mut self) -> u64 {
        self.tickets += 1;
        self.tickets
    }

    /// Publications acked since the last call.
    pub fn take_acks(&mut self) -> Vec<Ack> {
        std::mem::take(&mut self.acks)
    }

    /// Whether the engine can serve what needs it (`/readyz`).
    pub fn engine_up(&self) -> bool {
        self.engine.is_up()
    }

    /// The engine's name, for logs.
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// Act on what the engine completed since the last call (an engine
    /// that answers later: after its connections were read).
    pub fn deliver_engine(&mut self, now: Now, net: &mut impl Net) {
        self.deliver_completions(now, net);
    }

    /// The engine's connections, if its state is remote.
    pub fn remote(&mut self) -> Option<&mut dyn crate::room::engine::Remote> {
        self.engine.remote()
    }

    /// Ask the engine for `join.room`; true if the join can go on now.
    /// Otherwise it is parked (or refused, and answered).
    pub(super) fn ready_to_join(
        &mut self,
        key: ConnKey,
        join: Join<'_>,
        now: Now,
        net: &mut impl Net,
    ) -> bool {
        match self.engine.prepare(join.room, now) {
            Readiness::Ready => true,
            Readiness::Unavailable => {
                let e = protocol::error("unavailable", "room state cannot be reached now", join.id);
                net.send(key, &e);
                false
            }
            Readiness::Pending => {
                if self.parked.iter().any(|p| p.key == key) {
                    let e = protocol::error("rate_limited", "a join is still pending", join.id);
                    net.send(key, &e);
                    return false;
                }
                self.parked.push(ParkedJoin {
                    key,
                    room: Rc::from(join.room),
                    since: join.since,
                    epoch: join.epoch.map(Box::from),
                    id: join.id.map(|id| id.to_owned()),
                });
                false
            }
        }
    }

    fn take_parked(&mut self, room: &str) -> Vec<ParkedJoin> {
        let (these, rest) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| &*p.room == room);
        self.parked = rest;
        these
    }

    /// `room` is ready: its parked joins go on, in the order they came.
    pub(super) fn resume_joins(&mut self, room: &str, now: Now, net: &mut impl Net) {
        for p in self.take_parked(room) {
            if self.clients.get(p.key).is_none() {
                continue;
            }
            let join = Join {
                room: &p.room,
                since: p.since,
                epoch: p.epoch.as_deref(),
                id: p.id.as_deref(),
            };
            self.join(p.key, join, now, net);
        }
        // Nobody joined after all (they left while it loaded).
        if self.rooms.find(room).is_none() {
            self.engine.forget_room(room);
        }
    }

    /// `room` could not be made ready: its parked joins are refused.
    pub(super) fn fail_joins(&mut self, room: &str, net: &mut impl Net) {
        for p in self.take_parked(room) {
            if self.clients.get(p.key).is_some() {
                let e = protocol::error(
                    "unavailable",
                    "room state cannot be reached now",
                    p.id.as_deref(),
                );
                net.send(p.key, &e);
            }
        }
        if self.rooms.find(room).is_none() {
            self.engine.forget_room(room);
        }
    }

    /// The engine answered an admission: the connection opens, or is
    /// refused as [`Hub::open`] refuses one over the limit.
    pub(super) fn admitted(
        &mut self,
        ticket: u64,
        admitted: Option<bool>,
        now: Now,
        net: &mut impl Net,
    ) {
        let Some(p) = self.pending_opens.remove(&ticket) else {
            return;
        };
        if admitted == Some(false) {
            let reason = "connection limit of this user reached";
            net.send(
                p.key,
                &protocol::error("too_many_connections", reason, None),
            );
            net.close(p.key, crate::proto::CloseCode::POLICY, reason);
            return;
        }
        let params = ConnectParams {
            user: Some(&p.user),
            room: p.room.as_deref(),
            since: p.since.as_deref(),
            epoch: p.epoch.as_deref(),
            role: p.role,
            allowed_rooms: p.allowed_rooms.as_deref(),
            batch: p.batch,
        };
        self.open_admitted(p.key, p.conn_id, &p.user, params, now, net);
    }

    /// The connection is gone: its parked join and waiting acks with it.
    pub(super) fn unpark(&mut self, key: ConnKey) {
        self.pending_opens.retain(|_, p| p.key != key);
        self.parked.retain(|p| p.key != key);
        self.waiters
            .retain(|_, w| !matches!(w, Waiter::Client(k, _) if *k == key));
    }

    /// A routed private was answered: its sender (a client or the API) is told.
    pub(super) fn private_acked(
        &mut self,
        ticket: u64,
        result: Option<(usize, bool)>,
        net: &mut impl Net,
    ) {
        match (self.waiters.remove(&ticket), result) {
            (Some(Waiter::Client(key, id)), Some((delivered, stored))) => {
                let ack = JsonFrame::new("ack")
                    .num("delivered", delivered as u64)
                    .bool("stored", stored)
                    .id(id.as_deref())
                    .finish();
                net.send(key, &ack);
            }
            (Some(Waiter::Client(key, id)), None) => {
                let e = protocol::error(
                    "unavailable",
                    "the message may not have been sent",
                    id.as_deref(),
                );
                net.send(key, &e);
            }
            (Some(Waiter::Api), result) => {
                let json = result.map(|(d, s)| format!("{{\"delivered\":{d},\"stored\":{s}}}"));
                self.acks.push((ticket, json));
            }
            (None, _) => {}
        }
    }

    /// A private from any node, to `user`'s connections here.
    pub(super) fn private_here(&mut self, user: &str, frame: &Rc<[u8]>, net: &mut impl Net) {
        for &conn in self.users.conns_of(user) {
            net.send(conn, frame);
        }
    }

    /// `user` joined `room` on another node (exclusive policy): their
    /// connections here that are in another room are moved out.
    pub(super) fn moved_elsewhere(&mut self, user: &str, room: &str, now: Now, net: &mut impl Net) {
        let target = self.rooms.find(room);
        let others: Vec<ConnKey> = self
            .users
            .conns_of(user)
            .iter()
            .copied()
            .filter(|k| {
                self.clients
                    .get(*k)
                    .is_some_and(|c| c.rooms.iter().any(|m| Some(m.room) != target))
            })
            .collect();
        for key in others {
            self.force_out(key, "joined another room", now, net);
        }
    }

    /// Stored private messages that came for `user`: to every connection
    /// of the user here, or back into the inbox if none is left.
    pub(super) fn deliver_offline(
        &mut self,
        user: &str,
        frames: Vec<Rc<[u8]>>,
        now: Now,
        net: &mut impl Net,
    ) {
        let conns = self.users.conns_of(user);
        if conns.is_empty() {
            for frame in frames {
                self.engine.store_offline(user, frame, now);
            }
            return;
        }
        for &conn in conns {
            for frame in &frames {
                net.send_reply(conn, frame);
            }
        }
    }
}
