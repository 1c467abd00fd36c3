//! Bans and mutes (SPEC §7): kept in one Redis hash (field
//! `b|m \x1f user \x1f room` → until, wall-clock ms), mirrored in every
//! node (loaded at connect, updated over the control channel), so checks
//! cost no round trip.

use super::{Pending, RedisEngine};
use crate::room::engine::OverCapacity;
use crate::room::Now;

impl RedisEngine {
    pub(super) fn restriction_field(kind: char, user: &str, room: Option<&str>) -> String {
        format!("{kind}\x1f{user}\x1f{}", room.unwrap_or(""))
    }

    pub(super) fn restrict(&mut self, field: String, until_mono: u64) -> Result<(), OverCapacity> {
        if !self.up()
            || (self.restrictions.len() >= self.s.max_bans
                && !self.restrictions.contains_key(field.as_str()))
        {
            self.refused += 1;
            return Err(OverCapacity);
        }
        let until = until_mono.saturating_add(self.wall_offset);
        self.restrictions.insert(Box::from(field.as_str()), until);
        let (key, until) = (self.bans_key(), until.to_string());
        let args: [&[u8]; 4] = [b"HSET", key.as_bytes(), field.as_bytes(), until.as_bytes()];
        self.cmd(&args, Pending::Ignore);
        let (ctl, msg) = (self.ctl_channel(), format!("B\x1f{field}\x1f{until}"));
        self.cmd(
            &[b"PUBLISH", ctl.as_bytes(), msg.as_bytes()],
            Pending::Ignore,
        );
        Ok(())
    }

    pub(super) fn restricted(&self, field: &str, now: Now) -> bool {
        self.restrictions
            .get(field)
            .is_some_and(|until| *until > now.wall_ms)
    }

    /// Forget bans and mutes that ended (here and in Redis).
    pub(super) fn expire_restrictions(&mut self, now: Now) {
        let expired: Vec<Box<str>> = self
            .restrictions
            .iter()
            .filter(|(_, until)| **until <= now.wall_ms)
            .map(|(f, _)| f.clone())
            .collect();
        for field in expired {
            self.restrictions.remove(&field);
            if self.up() {
                let key = self.bans_key();
                self.cmd(
                    &[b"HDEL", key.as_bytes(), field.as_bytes()],
                    Pending::Ignore,
                );
            }
        }
    }
}
