//! Roles and moderation (SPEC §2 role-only messages, §3): kick with bans,
//! mute, broadcast. Bans and mutes are kept by the engine.

use super::Hub;
use crate::auth::Role;
use crate::ids::valid_name;
use crate::room::protocol::{self, JsonFrame, Request};
use crate::room::{ConnKey, Net, Now};
use serde_json::value::RawValue;

/// A kick: whom, where, why, and for how long they stay out.
#[derive(Debug, Clone, Copy)]
pub struct Kick<'a> {
    /// The user.
    pub user: &'a str,
    /// Only their connections in this room (all, if `None`).
    pub room: Option<&'a str>,
    /// Told to them in `force_disconnect`.
    pub reason: Option<&'a str>,
    /// Keep them out (of the room, or of the server) this long.
    pub ban_seconds: Option<f64>,
}

/// The longest ban or mute: 30 days (SPEC §6). A longer one is a
/// permanent decision that belongs in the application's own user store.
const MAX_RESTRICTION_SECS: f64 = 30.0 * 24.0 * 3600.0;

/// Why a kick or mute was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A bad name or duration (`bad_request`, API 400).
    BadRequest(&'static str),
    /// A budget is full (`over_capacity`, API 503): the key that caps it.
    OverCapacity(&'static str),
}

impl Refusal {
    /// The `error` event for a client.
    fn error(self, id: Option<&RawValue>) -> std::rc::Rc<[u8]> {
        match self {
            Refusal::BadRequest(why) => protocol::error("bad_request", why, id),
            Refusal::OverCapacity(key) => protocol::error("over_capacity", key, id),
        }
    }
}

/// Names a ban or mute may be kept under: bounded like every other name.
fn check_names(user: &str, room: Option<&str>) -> Result<(), Refusal> {
    if !valid_name(user) || room.is_some_and(|r| !valid_name(r)) {
        return Err(Refusal::BadRequest("bad user id or room name"));
    }
    Ok(())
}

/// `now` plus `seconds`, at most [`MAX_RESTRICTION_SECS`], in monotonic ms.
fn deadline(now: Now, seconds: f64) -> u64 {
    let ms = (seconds.min(MAX_RESTRICTION_SECS) * 1000.0) as u64;
    now.mono_ms.saturating_add(ms)
}

impl Hub {
    pub(super) fn role_of(&self, key: ConnKey) -> Role {
        self.clients.get(key).map_or(Role::User, |c| c.role)
    }

    /// Whether `key` has at least `role`; if not, it gets `forbidden` (`why`).
    fn has_role(
        &self,
        key: ConnKey,
        role: Role,
        why: &str,
        id: Option<&RawValue>,
        net: &mut impl Net,
    ) -> bool {
        let ok = self.role_of(key) >= role;
        if !ok {
            net.send(key, &protocol::error("forbidden", why, id));
        }
        ok
    }

    /// Whether `key` may act on `user`: an admin on anyone, a moderator on
    /// users whose connections all have a lower role than its own.
    fn outranks(&self, key: ConnKey, user: &str) -> bool {
        let mine = self.role_of(key);
        mine == Role::Admin
            || self
                .users
                .conns_of(user)
                .iter()
                .all(|k| self.role_of(*k) < mine)
    }

    /// The user a moderator's `kick` or `mute` names, if the sender may act
    /// on them (SPEC §2: moderator or admin, and outranking the target);
    /// otherwise the refusal is sent.
    fn moderation_target<'r>(
        &self,
        key: ConnKey,
        req: &'r Request<'_>,
        action: &str,
        net: &mut impl Net,
    ) -> Option<&'r str> {
        let id = req.id;
        if !self.has_role(
            key,
            Role::Moderator,
            &format!("{action} needs role moderator"),
            id,
            net,
        ) {
            return None;
        }
        let Some(user) = req.user.as_deref() else {
            net.send(
                key,
                &protocol::error("bad_request", &format!("{action} needs user"), id),
            );
            return None;
        };
        if !self.outranks(key, user) {
            let why = format!("cannot {action} a user of equal or higher role");
            net.send(key, &protocol::error("forbidden", &why, id));
            return None;
        }
        Some(user)
    }

    /// `kick` from a moderator (SPEC §2).
    pub(super) fn cmd_kick(
        &mut self,
        key: ConnKey,
        req: &Request<'_>,
        now: Now,
        net: &mut impl Net,
    ) {
        let Some(user) = self.moderation_target(key, req, "kick", net) else {
            return;
        };
        let kick = Kick {
            user,
            room: req.room.as_deref(),
            reason: req.reason.as_deref(),
            ban_seconds: req.ban_seconds,
        };
        match self.kick(kick, now, net) {
            Ok(kicked) => {
                let ack = JsonFrame::new("ack").num("kicked", kicked as u64);
                net.send(key, &ack.id(req.id).finish());
            }
            Err(refusal) => net.send(key, &refusal.error(req.id)),
        }
    }

    /// Every connection of the user (in the room, if given) gets
    /// `force_disconnect` and close 4001; `ban_seconds` keeps it out.
    /// Returns how many connections were kicked; nothing is done if the
    /// ban cannot be kept.
    pub fn kick(&mut self, kick: Kick<'_>, now: Now, net: &mut impl Net) -> Result<usize, Refusal> {
        check_names(kick.user, kick.room)?;
        if let Some(secs) = kick.ban_seconds.filter(|s| s.is_finite() && *s > 0.0) {
            let until = deadline(now, secs);
            self.engine
                .ban(kick.user, kick.room, until, now)
                .map_err(|_| Refusal::OverCapacity("max_bans"))?;
        }
        let reason = kick.reason.unwrap_or("kicked");
        self.engine.kick_elsewhere(kick.user, kick.room, reason);
        Ok(self.kick_local(kick.user, kick.room, reason, now, net))
    }

    /// Force `user`'s connections here out (of `room`, or closed).
    pub(super) fn kick_local(
        &mut self,
        user: &str,
        room: Option<&str>,
        reason: &str,
        now: Now,
        net: &mut impl Net,
    ) -> usize {
        let rid = room.and_then(|r| self.rooms.find(r));
        let targets: Vec<ConnKey> = self
            .users
            .conns_of(user)
            .iter()
            .copied()
            .filter(|k| match (room, rid) {
                (None, _) => true,
                (Some(_), Some(rid)) => self
                    .clients
                    .get(*k)
                    .is_some_and(|c| c.membership(rid).is_some()),
                (Some(_), None) => false,
            })
            .collect();
        for &conn in &targets {
            self.force_out(conn, reason, now, net);
        }
        targets.len()
    }

    /// `mute` from a moderator.
    pub(super) fn cmd_mute(
        &mut self,
        key: ConnKey,
        req: &Request<'_>,
        now: Now,
        net: &mut impl Net,
    ) {
        let Some(user) = self.moderation_target(key, req, "mute", net) else {
            return;
        };
        let (Some(room), Some(secs)) = (req.room.as_deref(), req.seconds) else {
            let e = protocol::error("bad_request", "mute needs user, room and seconds", req.id);
            return net.send(key, &e);
        };
        match self.mute(user, room, secs, now) {
            Ok(()) => net.send(key, &JsonFrame::new("ack").id(req.id).finish()),
            Err(refusal) => net.send(key, &refusal.error(req.id)),
        }
    }

    /// Refuse `user`'s chat in `room` for `seconds` (at most 30 days).
    pub fn mute(&mut self, user: &str, room: &str, seconds: f64, now: Now) -> Result<(), Refusal> {
        check_names(user, Some(room))?;
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(Refusal::BadRequest("seconds must be positive"));
        }
        self.engine
            .mute(user, room, deadline(now, seconds), now)
            .map_err(|_| Refusal::OverCapacity("max_bans"))
    }

    /// `broadcast` from an admin.
    pub(super) fn cmd_broadcast(
        &mut self,
        key: ConnKey,
        req: &Request<'_>,
        now: Now,
        net: &mut impl Net,
    ) {
        if !self.has_role(key, Role::Admin, "broadcast needs role admin", req.id, net) {
            return;
        }
        let Some(data) = req.data else {
            let e = protocol::error("bad_request", "broadcast needs data", req.id);
            return net.send(key, &e);
        };
        let Some(from) = self.user_of(key).map(|u| u.name_json()) else {
            return;
        };
        self.broadcast(&from, data.get(), now, net);
    }

    /// `{"type":"broadcast"}` to every connection; returns how many.
    pub fn broadcast(
        &mut self,
        from_json: &str,
        data: &str,
        now: Now,
        net: &mut impl Net,
    ) -> usize {
        let frame = JsonFrame::new("broadcast")
            .raw("from", from_json)
            .raw("data", data)
            .num("ts", now.wall_ms)
            .finish();
        self.engine.broadcast_elsewhere(&frame);
        for (key, _) in self.clients.iter() {
            net.send(key, &frame);
        }
        self.clients.len()
    }
}
