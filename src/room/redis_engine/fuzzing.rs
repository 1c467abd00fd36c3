//! The body of the `redis_replies` fuzz target: whatever bytes "Redis"
//! sends on either link, split anywhere, the engine answers with an error
//! (the link is dropped and made again) or acts on them, and never panics.
//! The input is chunks: a header byte (bit 0: the link; the rest: the
//! chunk's length - 1), then the bytes.

use super::{scripts, RedisEngine, RedisSettings, CMD, SUB};
use crate::redis::RedisUrl;
use crate::room::engine::{Engine, Publication, Remote};
use crate::room::Now;
use std::rc::Rc;

fn engine() -> Option<RedisEngine> {
    Some(RedisEngine::new(RedisSettings {
        url: RedisUrl::parse("redis://127.0.0.1:1/0").ok()?,
        prefix: "rc".into(),
        history_size: 4,
        room_ttl_ms: 60_000,
        offline_queue: 4,
        offline_ttl_ms: 60_000,
        max_bans: 4,
        max_in_flight: 64,
        node_ttl_ms: 10_000,
    }))
}

fn connect(e: &mut RedisEngine, now: Now) {
    e.on_connected(CMD, now);
    e.on_connected(SUB, now);
    let mut setup = String::new();
    for (_, sha) in scripts::all() {
        setup.push_str(&format!("${}\r\n{sha}\r\n", sha.len()));
    }
    setup.push_str("*0\r\n");
    if e.on_bytes(CMD, setup.as_bytes(), now).is_err() {
        e.on_lost(CMD, now);
    }
}

/// See the module docs.
pub fn fuzz_redis_replies(data: &[u8]) {
    let Some(mut e) = engine() else {
        return;
    };
    let mut now = Now::default();
    connect(&mut e, now);
    let author: Rc<str> = Rc::from("ann");
    let mut rest = data;
    while let Some((&head, tail)) = rest.split_first() {
        let link = usize::from(head & 1);
        let n = usize::from(head >> 1) + 1;
        let (chunk, after) = tail.split_at(n.min(tail.len()));
        rest = after;
        now.mono_ms += 10;
        // Work the engine's callers would ask for between reads.
        let _ = e.prepare(if head & 2 == 0 { "r" } else { "s" }, now);
        let p = Publication {
            kind: "chat",
            room: "r",
            room_json: "\"r\"",
            author: &author,
            from_json: "\"ann\"",
            data: "1",
            ticket: Some(u64::from(head)),
        };
        let _ = e.publish(p, now);
        if e.on_bytes(link, chunk, now).is_err() {
            e.on_lost(link, now);
            if link == CMD {
                connect(&mut e, now);
            } else {
                e.on_connected(SUB, now);
            }
        }
        while e.poll_completion().is_some() {}
        e.output(CMD).clear();
        e.output(SUB).clear();
        let _ = e.messages("r", Some(0), 10);
        e.tick(now);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replay_redis_replies_corpus() {
        let n = crate::proto::fuzzing::replay_corpus("redis_replies", super::fuzz_redis_replies);
        assert!(n > 0, "no corpus committed for redis_replies");
    }
}
