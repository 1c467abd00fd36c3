//! The engine driven by hand, sans IO: what it sends for a join, and what
//! the replies Redis would give make of it; replies split at random
//! points; garbage never panics.

use super::*;
use crate::room::engine::Completion;

fn engine() -> RedisEngine {
    RedisEngine::new(RedisSettings {
        url: RedisUrl::parse("redis://127.0.0.1:1/0").unwrap(),
        prefix: "rc".into(),
        history_size: 10,
        room_ttl_ms: 60_000,
        offline_queue: 10,
        offline_ttl_ms: 60_000,
        max_bans: 10,
        max_in_flight: 100,
        node_ttl_ms: 10_000,
    })
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// An engine with both links up and the setup replies read.
fn connected() -> RedisEngine {
    let mut e = engine();
    let now = Now::default();
    e.on_connected(CMD, now);
    e.on_connected(SUB, now);
    assert!(e.is_up());
    // Six SCRIPT LOADs and HGETALL on the command link.
    let mut replies = String::new();
    for (_, sha) in scripts::all() {
        replies.push_str(&bulk(&sha));
    }
    replies.push_str("*0\r\n");
    e.on_bytes(CMD, replies.as_bytes(), now).unwrap();
    e.on_bytes(SUB, b"*3\r\n$9\r\nsubscribe\r\n$6\r\nrc:ctl\r\n:1\r\n", now)
        .unwrap();
    e.output(CMD).clear();
    e.output(SUB).clear();
    e
}

/// What a join of room `r` reads back, in the order Redis sends it: the
/// SUBSCRIBE confirmation, the state (epoch E, seq 2, two entries), then
/// a live message with seq 3.
fn join_replies() -> (Vec<u8>, Vec<u8>) {
    let sub = format!(
        "*3\r\n$9\r\nsubscribe\r\n{}:1\r\n*3\r\n$7\r\nmessage\r\n{}{}",
        bulk("rc:{r}:ch"),
        bulk("rc:{r}:ch"),
        bulk("M\x1fE\x1f3\x1fann\x1f{\"seq\":3}")
    );
    // ZADD (the room index), then the state.
    let cmd = format!(
        ":1\r\n*3\r\n{}{}*2\r\n{}{}",
        bulk("E"),
        bulk("2"),
        bulk("1\x1fann\x1f{\"seq\":1}"),
        bulk("2\x1fbob\x1f{\"seq\":2}")
    );
    (sub.into_bytes(), cmd.into_bytes())
}

fn drain(e: &mut RedisEngine) -> Vec<Completion> {
    std::iter::from_fn(|| e.poll_completion()).collect()
}

#[test]
fn a_join_subscribes_reads_the_room_then_is_ready() {
    let mut e = connected();
    let now = Now::default();
    assert_eq!(e.prepare("r", now), Readiness::Pending);
    let sub_out = String::from_utf8_lossy(e.output(SUB)).into_owned();
    assert!(
        sub_out.contains("SUBSCRIBE") && sub_out.contains("rc:{r}:ch"),
        "{sub_out}"
    );
    let cmd_out = String::from_utf8_lossy(e.output(CMD)).into_owned();
    assert!(
        cmd_out.contains("ZADD") && !cmd_out.contains("EVALSHA"),
        "listed in the room index; the state is read once subscribed: {cmd_out}"
    );
    e.output(CMD).clear();
    let (sub, cmd) = join_replies();
    // The live message comes before the state: it waits.
    e.on_bytes(SUB, &sub, now).unwrap();
    let cmd_out = String::from_utf8_lossy(e.output(CMD)).into_owned();
    assert!(
        cmd_out.contains("EVALSHA") && cmd_out.contains("rc:{r}:meta"),
        "{cmd_out}"
    );
    assert!(drain(&mut e).is_empty());
    e.on_bytes(CMD, &cmd, now).unwrap();
    let done = drain(&mut e);
    assert!(
        matches!(&done[0], Completion::Published { message, .. } if message.seq == 3),
        "{done:?}"
    );
    assert!(matches!(done.last(), Some(Completion::RoomReady(r)) if &**r == "r"));
    assert_eq!(e.prepare("r", now), Readiness::Ready);
    let info = e.room_info("r", now);
    assert_eq!((&*info.epoch, info.seq, info.oldest), ("E", 3, 1));
}

#[test]
fn replies_split_anywhere_give_the_same_outcome() {
    let (sub, cmd) = join_replies();
    let whole = {
        let mut e = connected();
        e.prepare("r", Now::default());
        e.on_bytes(SUB, &sub, Now::default()).unwrap();
        e.on_bytes(CMD, &cmd, Now::default()).unwrap();
        format!("{:?}", drain(&mut e))
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        let mut e = connected();
        e.prepare("r", Now::default());
        for (link, bytes) in [(SUB, &sub), (CMD, &cmd)] {
            let mut at = 0;
            while at < bytes.len() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let end = (at + 1 + (seed % 9) as usize).min(bytes.len());
                e.on_bytes(link, &bytes[at..end], Now::default()).unwrap();
                at = end;
            }
        }
        assert_eq!(format!("{:?}", drain(&mut e)), whole);
    }
}

#[test]
fn garbage_from_redis_is_an_error_or_ignored_never_a_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let alphabet = b"*$:+-\r\n0123456789abc\x1fM";
    for _ in 0..2000 {
        let mut e = connected();
        e.prepare("r", Now::default());
        let n = (seed % 64) as usize;
        let bytes: Vec<u8> = (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                alphabet[(seed % alphabet.len() as u64) as usize]
            })
            .collect();
        for link in [CMD, SUB] {
            if e.on_bytes(link, &bytes, Now::default()).is_err() {
                e.on_lost(link, Now::default());
            }
        }
        drain(&mut e);
    }
}

#[test]
fn losing_redis_fails_what_waits_and_refuses_new_work() {
    let mut e = connected();
    let now = Now::default();
    assert_eq!(e.prepare("r", now), Readiness::Pending);
    let author: Rc<str> = Rc::from("ann");
    let p = Publication {
        kind: "chat",
        room: "x",
        room_json: "\"x\"",
        author: &author,
        from_json: "\"ann\"",
        data: "1",
        ticket: Some(7),
    };
    assert!(e.publish(p, now).is_ok());
    e.on_lost(CMD, now);
    e.on_lost(SUB, now);
    let done = drain(&mut e);
    assert!(
        done.iter().any(|c| matches!(
            c,
            Completion::Acked {
                ticket: 7,
                seq: None,
                ..
            }
        )),
        "{done:?}"
    );
    assert!(done
        .iter()
        .any(|c| matches!(c, Completion::RoomFailed(r) if &**r == "r")));
    assert!(!e.is_up());
    assert_eq!(e.publish(p, now), Err(Unavailable));
    assert_eq!(e.prepare("q", now), Readiness::Unavailable);
}
