//! A hashed timing wheel: each connection has at most one live entry (its
//! next deadline); a tick costs only the entries that fall due in it, so
//! 100,000 idle connections cost nothing between their deadlines.
//!
//! Entries are not removed when a deadline moves: the connection records the
//! tick it expects, and a popped entry that does not match (or whose
//! connection is gone, its slab key reused) is ignored.

/// One scheduled check: slab key, the connection's unique id, and the tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The connection's slab key.
    pub key: u32,
    /// The tick it was scheduled for.
    pub tick: u32,
    /// The connection's unique id (slab keys are reused).
    pub id: u64,
}

/// The wheel. Time is in milliseconds since the server started.
#[derive(Debug)]
pub struct TimerWheel {
    slots: Vec<Vec<Entry>>,
    tick_ms: u64,
    /// The next tick to expire.
    next_tick: u64,
    len: usize,
}

impl TimerWheel {
    /// A wheel of `slots` slots of `tick_ms` each. Deadlines further than one
    /// turn away land in the slot of their tick and come back early; the
    /// caller reschedules them (a lazy, cheap way to cover any horizon).
    pub fn new(tick_ms: u64, slots: usize) -> TimerWheel {
        TimerWheel {
            slots: vec![Vec::new(); slots.max(1)],
            tick_ms: tick_ms.max(1),
            next_tick: 0,
            len: 0,
        }
    }

    /// The tick at or after `at_ms`, never one already expired.
    pub fn tick_for(&self, at_ms: u64) -> u32 {
        let tick = at_ms.div_ceil(self.tick_ms).max(self.next_tick);
        u32::try_from(tick).unwrap_or(u32::MAX)
    }

    /// Schedule `key`/`id` for `at_ms`; returns the tick to remember.
    pub fn schedule(&mut self, key: usize, id: u64, at_ms: u64) -> u32 {
        let tick = self.tick_for(at_ms);
        let slot = tick as usize % self.slots.len();
        if let Some(s) = self.slots.get_mut(slot) {
            s.push(Entry {
                key: key as u32,
                tick,
                id,
            });
            self.len += 1;
        }
        tick
    }

    /// Move every entry due at `now_ms` into `out`.
    pub fn expire(&mut self, now_ms: u64, out: &mut Vec<Entry>) {
        let now_tick = now_ms / self.tick_ms;
        let n = self.slots.len() as u64;
        // After a long stall, one pass over the wheel covers every slot.
        if now_tick >= self.next_tick + n {
            self.next_tick = now_tick + 1 - n;
        }
        while self.next_tick <= now_tick {
            let slot = (self.next_tick % n) as usize;
            if let Some(s) = self.slots.get_mut(slot) {
                let due = u32::try_from(now_tick).unwrap_or(u32::MAX);
                let before = s.len();
                // Entries of a later turn of the wheel stay in place.
                s.retain(|e| {
                    if e.tick <= due {
                        out.push(*e);
                        false
                    } else {
                        true
                    }
                });
                self.len -= before - s.len();
                if s.is_empty() && s.capacity() > 64 {
                    s.shrink_to(64);
                }
            }
            self.next_tick += 1;
        }
    }

    /// Milliseconds until the next tick boundary, if anything is scheduled.
    pub fn next_timeout_ms(&self, now_ms: u64) -> Option<u64> {
        (self.len > 0).then(|| (self.next_tick * self.tick_ms).saturating_sub(now_ms))
    }

    /// Entries scheduled.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_fire_at_their_tick_and_not_before() {
        let mut w = TimerWheel::new(100, 8);
        w.schedule(1, 11, 250); // tick 3
        w.schedule(2, 22, 1_250); // tick 13: beyond one turn (8 slots)
        let mut out = Vec::new();
        w.expire(299, &mut out);
        assert!(out.is_empty());
        w.expire(300, &mut out);
        assert_eq!(out.iter().map(|e| e.key).collect::<Vec<_>>(), vec![1]);
        out.clear();
        w.expire(1_299, &mut out);
        assert!(out.is_empty(), "the far entry stays until its own tick");
        w.expire(1_300, &mut out);
        assert_eq!(out.iter().map(|e| e.id).collect::<Vec<_>>(), vec![22]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn a_long_stall_expires_everything_due() {
        let mut w = TimerWheel::new(10, 4);
        for k in 0..20 {
            w.schedule(k, k as u64, k as u64 * 10);
        }
        let mut out = Vec::new();
        w.expire(10_000, &mut out);
        assert_eq!(out.len(), 20);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_timeout_ms(10_000), None);
    }
}
