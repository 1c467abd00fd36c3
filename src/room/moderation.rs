//! Roles, moderation and rate limits (SPEC §2 role-only messages, §3, §5):
//! kick with bans, mute, broadcast, and a token bucket per connection.

use super::hub::Hub;
use super::json::{self, Event, Request};
use super::{ConnKey, Net, Now};
use crate::auth::Role;

/// Abuse: more than this many times `burst` refused within the window closes
/// the connection (1008): a client that ignores `rate_limited` is a script.
const ABUSE_FACTOR: u32 = 3;
/// The abuse window, ms.
const ABUSE_WINDOW_MS: u64 = 10_000;

/// What a rate check decided.
pub(super) enum Rate {
    Allowed,
    Refused,
    Abusive,
}

impl Hub {
    /// Take one token from `key`'s bucket.
    pub(super) fn take_token(&mut self, key: ConnKey, now: Now) -> Rate {
        let (per_sec, burst) = (self.cfg.rate_per_sec, self.cfg.rate_burst);
        if per_sec <= 0.0 {
            return Rate::Allowed;
        }
        let Some(b) = self.sessions.get_mut(&key).map(|s| &mut s.bucket) else {
            return Rate::Allowed;
        };
        let now32 = now.mono_ms as u32;
        let elapsed = f64::from(now32.wrapping_sub(b.last_ms)) / 1000.0;
        b.tokens = ((f64::from(b.tokens) + elapsed * per_sec).min(f64::from(burst))) as f32;
        b.last_ms = now32;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Rate::Allowed;
        }
        if u64::from(now32.wrapping_sub(b.window_ms)) > ABUSE_WINDOW_MS {
            b.window_ms = now32;
            b.refused = 0;
        }
        b.refused = b.refused.saturating_add(1);
        if b.refused > ABUSE_FACTOR.saturating_mul(burst) {
            Rate::Abusive
        } else {
            Rate::Refused
        }
    }

    pub(super) fn role_of(&self, key: ConnKey) -> Role {
        self.sessions.get(&key).map_or(Role::User, |s| s.role)
    }

    /// Whether `key` has at least `role`; if not, it gets `forbidden` (`why`).
    fn has_role(
        &self,
        key: ConnKey,
        role: Role,
        why: &str,
        id: Option<&serde_json::value::RawValue>,
        net: &mut impl Net,
    ) -> bool {
        let ok = self.role_of(key) >= role;
        if !ok {
            net.send(key, &json::error("forbidden", why, id));
        }
        ok
    }

    /// Whether `user` may not be in `room` ("" = connect at all) now.
    pub(super) fn is_banned(&self, user: &str, room: &str, now: Now) -> bool {
        let active = |r: &str| {
            self.bans
                .get(&(user.into(), r.into()))
                .is_some_and(|until| *until > now.mono_ms)
        };
        active("") || (!room.is_empty() && active(room))
    }

    /// Whether `user` may not chat in `room` now.
    pub(super) fn is_muted(&self, user: &str, room: &str, now: Now) -> bool {
        self.mutes
            .get(&(user.into(), room.into()))
            .is_some_and(|until| *until > now.mono_ms)
    }

    /// `kick` from a moderator (SPEC §2).
    pub(super) fn cmd_kick(
        &mut self,
        key: ConnKey,
        req: &Request<'_>,
        now: Now,
        net: &mut impl Net,
    ) {
        if !self.has_role(
            key,
            Role::Moderator,
            "kick needs role moderator",
            req.id,
            net,
        ) {
            return;
        }
        let Some(user) = req.user.as_deref() else {
            return net.send(key, &json::error("bad_request", "kick needs user", req.id));
        };
        let kicked = self.kick(
            user,
            req.room.as_deref(),
            req.reason.as_deref(),
            req.ban_seconds,
            now,
            net,
        );
        net.send(
            key,
            &Event::new("ack")
                .num("kicked", kicked as u64)
                .id(req.id)
                .finish(),
        );
    }

    /// Every connection of `user` (in `room`, if given) gets
    /// `force_disconnect` and close 4001; `ban_seconds` keeps it out.
    /// Returns how many connections were kicked.
    pub fn kick(
        &mut self,
        user: &str,
        room: Option<&str>,
        reason: Option<&str>,
        ban_seconds: Option<f64>,
        now: Now,
        net: &mut impl Net,
    ) -> usize {
        let rid = room.and_then(|r| self.room_index.get(r).copied());
        let conns: Vec<ConnKey> = self
            .user_index
            .get(user)
            .and_then(|uid| self.users.get(*uid))
            .map(|u| u.conns.to_vec())
            .unwrap_or_default();
        let targets: Vec<ConnKey> = conns
            .into_iter()
            .filter(|k| match (room, rid) {
                (None, _) => true,
                (Some(_), Some(rid)) => self
                    .sessions
                    .get(k)
                    .is_some_and(|s| s.rooms.iter().any(|m| m.room == rid)),
                (Some(_), None) => false,
            })
            .collect();
        for &conn in &targets {
            self.force_out(conn, reason.unwrap_or("kicked"), now, net);
        }
        if let Some(secs) = ban_seconds.filter(|s| s.is_finite() && *s > 0.0) {
            let until = now.mono_ms.saturating_add((secs * 1000.0) as u64);
            self.bans
                .insert((user.into(), room.unwrap_or("").into()), until);
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
        if !self.has_role(
            key,
            Role::Moderator,
            "mute needs role moderator",
            req.id,
            net,
        ) {
            return;
        }
        let (Some(user), Some(room), Some(secs)) =
            (req.user.as_deref(), req.room.as_deref(), req.seconds)
        else {
            return net.send(
                key,
                &json::error("bad_request", "mute needs user, room and seconds", req.id),
            );
        };
        if !self.mute(user, room, secs, now) {
            return net.send(
                key,
                &json::error("bad_request", "seconds must be positive", req.id),
            );
        }
        net.send(key, &Event::new("ack").id(req.id).finish());
    }

    /// Refuse `user`'s chat in `room` for `seconds`.
    pub fn mute(&mut self, user: &str, room: &str, seconds: f64, now: Now) -> bool {
        if !(seconds.is_finite() && seconds > 0.0) {
            return false;
        }
        let until = now.mono_ms.saturating_add((seconds * 1000.0) as u64);
        self.mutes.insert((user.into(), room.into()), until);
        true
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
            return net.send(
                key,
                &json::error("bad_request", "broadcast needs data", req.id),
            );
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
        let frame = Event::new("broadcast")
            .raw("from", from_json)
            .raw("data", data)
            .num("ts", now.wall_ms)
            .finish();
        for (key, _) in self.sessions.iter() {
            net.send(key, &frame);
        }
        self.sessions.len()
    }
}
