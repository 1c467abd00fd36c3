//! The in-process engine (`engine = "memory"`, the default): every room's
//! log, the offline inboxes, bans and mutes in this process's memory, each
//! under its budget (SPEC §6). Requests complete at once.

mod inboxes;
mod logs;
mod restrictions;

use super::engine::{
    Completion, Engine, OverCapacity, Publication, RetractError, RoomInfo, Stored, Unavailable,
    Usage,
};
use super::Now;
use inboxes::{InboxLimits, Inboxes};
use logs::Logs;
use restrictions::{Kind, Restrictions};
use std::collections::VecDeque;
use std::rc::Rc;

/// The limits the memory engine keeps.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLimits {
    /// Chat messages kept per room.
    pub history_size: usize,
    /// Bytes of history in all rooms.
    pub max_history_bytes: usize,
    /// Private messages kept per offline user.
    pub offline_queue: usize,
    /// How long they are kept, ms.
    pub offline_ttl_ms: u64,
    /// Bytes of offline inboxes in all.
    pub max_offline_bytes: usize,
    /// Bans and mutes in all.
    pub max_bans: usize,
}

/// See the module docs.
#[derive(Debug)]
pub struct MemoryEngine {
    logs: Logs,
    inboxes: Inboxes,
    restrictions: Restrictions,
    completions: VecDeque<Completion>,
}

impl MemoryEngine {
    /// An empty engine.
    pub fn new(limits: MemoryLimits) -> MemoryEngine {
        MemoryEngine {
            logs: Logs::new(limits.history_size, limits.max_history_bytes),
            inboxes: Inboxes::new(InboxLimits {
                per_user: limits.offline_queue,
                ttl_ms: limits.offline_ttl_ms,
                max_bytes: limits.max_offline_bytes,
            }),
            restrictions: Restrictions::new(limits.max_bans),
            completions: VecDeque::new(),
        }
    }
}

impl Engine for MemoryEngine {
    fn room_info(&mut self, room: &str, now: Now) -> RoomInfo {
        self.logs.info(room, now)
    }

    fn publish(&mut self, p: Publication<'_>, now: Now) -> Result<(), Unavailable> {
        let droppable = p.kind == "chat";
        if let Some((room, message)) = self.logs.publish(p, now) {
            self.completions.push_back(Completion::Published {
                room,
                message,
                droppable,
            });
        }
        Ok(())
    }

    fn poll_completion(&mut self) -> Option<Completion> {
        self.completions.pop_front()
    }

    fn messages(&self, room: &str, since: Option<u64>, limit: usize) -> Vec<Stored> {
        self.logs.messages(room, since, limit)
    }

    fn retract(
        &mut self,
        room: &str,
        seq: u64,
        by: &str,
        moderator: bool,
    ) -> Result<(), RetractError> {
        self.logs.retract(room, seq, by, moderator)
    }

    fn forget_room(&mut self, room: &str) {
        self.logs.forget(room);
    }

    fn store_offline(&mut self, user: &str, frame: Rc<[u8]>, now: Now) -> bool {
        self.inboxes.store(user, frame, now.mono_ms)
    }

    fn take_offline(&mut self, user: &str, now: Now) -> Vec<Rc<[u8]>> {
        self.inboxes.take(user, now.mono_ms)
    }

    fn ban(
        &mut self,
        user: &str,
        room: Option<&str>,
        until_ms: u64,
        _now: Now,
    ) -> Result<(), OverCapacity> {
        self.restrictions
            .set(Kind::Ban, user, room.unwrap_or(""), until_ms)
            .map_err(|_| OverCapacity)
    }

    fn is_banned(&self, user: &str, room: Option<&str>, now: Now) -> bool {
        let r = &self.restrictions;
        r.is_active(Kind::Ban, user, "", now.mono_ms)
            || room.is_some_and(|room| r.is_active(Kind::Ban, user, room, now.mono_ms))
    }

    fn mute(
        &mut self,
        user: &str,
        room: &str,
        until_ms: u64,
        _now: Now,
    ) -> Result<(), OverCapacity> {
        self.restrictions
            .set(Kind::Mute, user, room, until_ms)
            .map_err(|_| OverCapacity)
    }

    fn is_muted(&self, user: &str, room: &str, now: Now) -> bool {
        self.restrictions
            .is_active(Kind::Mute, user, room, now.mono_ms)
    }

    fn tick(&mut self, now: Now) {
        self.restrictions.expire(now.mono_ms);
        self.inboxes.expire(now.mono_ms);
    }

    fn usage(&self) -> Usage {
        let (history_bytes, history_evicted) = self.logs.usage();
        let (offline_bytes, offline_refused) = self.inboxes.usage();
        let (restrictions, restrictions_refused) = self.restrictions.usage();
        Usage {
            history_bytes,
            history_evicted,
            offline_bytes,
            offline_refused,
            restrictions,
            restrictions_refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(history_size: usize) -> MemoryEngine {
        MemoryEngine::new(MemoryLimits {
            history_size,
            max_history_bytes: usize::MAX,
            offline_queue: 2,
            offline_ttl_ms: 1_000,
            max_offline_bytes: usize::MAX,
            max_bans: 10,
        })
    }

    fn publish(e: &mut MemoryEngine, author: &str) -> Stored {
        let author: Rc<str> = Rc::from(author);
        let _ = e.publish(
            Publication {
                kind: "chat",
                room: "r",
                room_json: "\"r\"",
                author: &author,
                from_json: "\"a\"",
                data: "1",
                ticket: None,
            },
            Now::default(),
        );
        match e.poll_completion() {
            Some(Completion::Published { message, .. }) => message,
            other => panic!("memory completes at once: {other:?}"),
        }
    }

    #[test]
    fn history_is_a_ring_numbered_from_one() {
        let mut e = engine(3);
        let info = e.room_info("r", Now::default());
        assert_eq!((info.seq, info.oldest, info.stored), (0, 1, 0));
        for seq in 1..=5 {
            assert_eq!(publish(&mut e, "a").seq, seq);
        }
        let seqs = |v: Vec<Stored>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs(e.messages("r", None, usize::MAX)), vec![3, 4, 5]);
        assert_eq!(seqs(e.messages("r", Some(3), 1)), vec![4]);
        assert_eq!(seqs(e.messages("r", None, 2)), vec![4, 5]);
        let info = e.room_info("r", Now::default());
        assert_eq!((info.seq, info.oldest, info.stored), (5, 3, 3));
        assert!(e.messages("r", None, 1)[0]
            .json()
            .starts_with("{\"type\":\"chat\""));
    }

    #[test]
    fn a_forgotten_room_starts_over_with_a_new_epoch() {
        let mut e = engine(3);
        let first = e.room_info("r", Now::default()).epoch;
        publish(&mut e, "a");
        e.forget_room("r");
        let again = e.room_info("r", Now::default());
        assert_eq!(again.seq, 0);
        assert_ne!(again.epoch, first);
    }

    #[test]
    fn retract_by_author_or_moderator_only() {
        let mut e = engine(3);
        publish(&mut e, "ann");
        assert_eq!(e.retract("r", 1, "bo", false), Err(RetractError::NotAuthor));
        assert_eq!(e.retract("r", 9, "ann", false), Err(RetractError::NotFound));
        assert_eq!(e.retract("r", 1, "bo", true), Ok(()));
        assert!(e.messages("r", None, 9).is_empty());
    }

    #[test]
    fn bans_and_mutes_expire() {
        let mut e = engine(3);
        let t = |ms| Now {
            mono_ms: ms,
            wall_ms: 0,
        };
        assert!(e.ban("u", None, 100, Now::default()).is_ok());
        assert!(e.ban("v", Some("r"), 100, Now::default()).is_ok());
        assert!(e.mute("w", "r", 100, Now::default()).is_ok());
        assert!(e.is_banned("u", Some("x"), t(99)));
        assert!(e.is_banned("v", Some("r"), t(99)) && !e.is_banned("v", None, t(99)));
        assert!(e.is_muted("w", "r", t(99)) && !e.is_muted("w", "s", t(99)));
        e.tick(t(100));
        assert!(!e.is_banned("u", None, t(100)) && !e.is_muted("w", "r", t(100)));
        assert_eq!(e.usage().restrictions, 0);
    }
}
