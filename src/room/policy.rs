//! Rate limits (SPEC §5 `rate_limit`): a token bucket per connection, and
//! the refusals that count as abuse.

/// Abuse: more than this many times `burst` refused within the window closes
/// the connection (1008): a client that ignores `rate_limited` is a script.
const ABUSE_FACTOR: u32 = 3;
/// The abuse window, ms.
const ABUSE_WINDOW_MS: u32 = 10_000;

/// What a rate check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Go ahead.
    Allowed,
    /// Refused (`rate_limited`).
    Refused,
    /// Refused, and the connection has been refused too often: close 1008.
    Abusive,
}

/// The configured limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second (0: no limit).
    pub per_sec: f64,
    /// Requests in a burst.
    pub burst: u32,
}

/// A token bucket. Times are the low 32 bits of monotonic ms, compared with
/// wrapping arithmetic (differences stay far below 49 days).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    tokens: f32,
    last_ms: u32,
    /// Requests refused since `window_ms`.
    refused: u32,
    window_ms: u32,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn full(limit: RateLimit, now_ms: u64) -> Bucket {
        Bucket {
            tokens: limit.burst as f32,
            last_ms: now_ms as u32,
            refused: 0,
            window_ms: now_ms as u32,
        }
    }

    /// Take one token.
    pub fn take(&mut self, limit: RateLimit, now_ms: u64) -> Rate {
        if limit.per_sec <= 0.0 {
            return Rate::Allowed;
        }
        let now32 = now_ms as u32;
        let elapsed = f64::from(now32.wrapping_sub(self.last_ms)) / 1000.0;
        let refilled = f64::from(self.tokens) + elapsed * limit.per_sec;
        self.tokens = refilled.min(f64::from(limit.burst)) as f32;
        self.last_ms = now32;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Rate::Allowed;
        }
        if now32.wrapping_sub(self.window_ms) > ABUSE_WINDOW_MS {
            self.window_ms = now32;
            self.refused = 0;
        }
        self.refused = self.refused.saturating_add(1);
        if self.refused > ABUSE_FACTOR.saturating_mul(limit.burst) {
            Rate::Abusive
        } else {
            Rate::Refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate_then_abuse() {
        let limit = RateLimit {
            per_sec: 10.0,
            burst: 2,
        };
        let mut b = Bucket::full(limit, 0);
        assert_eq!(b.take(limit, 0), Rate::Allowed);
        assert_eq!(b.take(limit, 0), Rate::Allowed);
        assert_eq!(b.take(limit, 0), Rate::Refused);
        assert_eq!(b.take(limit, 100), Rate::Allowed, "one token per 100 ms");
        // 3 × burst refusals within 10 s are tolerated; the next is abuse.
        for _ in 0..5 {
            assert_eq!(b.take(limit, 100), Rate::Refused);
        }
        assert_eq!(b.take(limit, 100), Rate::Abusive);
        let off = RateLimit {
            per_sec: 0.0,
            burst: 0,
        };
        assert_eq!(b.take(off, 100), Rate::Allowed);
    }
}
