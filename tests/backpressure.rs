//! Slow consumers (SPEC §5): a client that stops reading must not slow or
//! grow memory for anyone else. Runs the real binary so its RSS can be read.

mod common;

use common::*;
use serde_json::json;

const CHATS: u64 = 3000;

#[test]
fn slow_reader_in_a_room_gets_dropped_report_and_others_get_everything() {
    let d = Daemon::start(&[
        "--drop-threshold",
        "32768",
        "--max-backpressure",
        "131072",
        "--rate-limit-per-sec",
        "0",
    ]);
    // The slow one: a raw socket that reads its welcome and joined, then stops.
    let mut slow = Raw::upgrade(d.addr, "/ws?user=slow&room=r");
    let kinds = |raw: &mut Raw| match raw.next_event() {
        Some(roomcast::proto::fuzzing::Decoded::Text(t)) => {
            serde_json::from_str::<serde_json::Value>(&t).unwrap()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(kinds(&mut slow)["type"], "welcome");
    assert_eq!(kinds(&mut slow)["type"], "joined");
    let mut fast = daemon_client(&d, "/ws?user=fast&room=r");
    fast.expect("welcome");
    fast.expect("joined");
    let rss_before = d.rss();
    // 4 KB lines: 12 MB in all, more than loopback's kernel buffers (which
    // autotune to a few MB) can hide, so the server's own queue must grow.
    let line = "x".repeat(4000);
    let mut next_seq = 1;
    for batch in 0..(CHATS / 5) {
        // Batches of 5 keep the fast reader itself under drop_threshold.
        for _ in 0..5 {
            fast.send(json!({"type": "chat", "data": line}));
        }
        // The fast reader gets every message, in order, however slow the other is.
        for _ in 0..5 {
            let m = fast.expect("chat");
            assert_eq!(m["seq"], next_seq, "batch {batch}");
            next_seq += 1;
        }
    }
    let rss_after = d.rss();
    assert!(
        rss_after < rss_before + 16 * 1024 * 1024,
        "server RSS grew from {rss_before} to {rss_after}"
    );
    // Now the slow one reads: chats in order, then what it missed.
    let (mut chats, mut last_seq, mut dropped) = (0u64, 0u64, None);
    while dropped.is_none() {
        let v = kinds(&mut slow);
        match v["type"].as_str().unwrap() {
            "chat" => {
                let seq = v["seq"].as_u64().unwrap();
                assert_eq!(seq, last_seq + 1, "chats arrive in order");
                last_seq = seq;
                chats += 1;
            }
            "dropped" => dropped = Some(v),
            "user_joined" => {}
            other => panic!("unexpected {other}"),
        }
    }
    let dropped = dropped.unwrap();
    let (count, from, to) = (
        dropped["count"].as_u64().unwrap(),
        dropped["from_seq"].as_u64().unwrap(),
        dropped["to_seq"].as_u64().unwrap(),
    );
    assert_eq!(dropped["room"], "r");
    assert_eq!(
        from,
        last_seq + 1,
        "the report starts where the chats stopped"
    );
    assert_eq!(to, CHATS);
    assert_eq!(count, to - from + 1);
    assert_eq!(
        chats + count,
        CHATS,
        "every message was delivered or reported"
    );
    // It can fetch what it missed from history (the last 100 are kept).
    let mut catch_up = daemon_client(&d, "/ws?user=slow2&room=r");
    catch_up.expect("welcome");
    catch_up.expect("joined");
    catch_up.send(json!({"type": "history", "room": "r", "since": CHATS - 10}));
    assert_eq!(
        catch_up.expect("history")["messages"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn slow_reader_of_undroppable_messages_is_closed_with_4003() {
    let d = Daemon::start(&[
        "--drop-threshold",
        "32768",
        "--max-backpressure",
        "131072",
        "--rate-limit-per-sec",
        "0",
    ]);
    let mut slow = Raw::upgrade(d.addr, "/ws?user=slow");
    let mut fast = daemon_client(&d, "/ws?user=fast");
    fast.expect("welcome");
    let line = "y".repeat(8000);
    let rss_before = d.rss();
    // Private messages are never dropped: the queue grows until 4003
    // (2,000 x 8 KB is far more than loopback's kernel buffers hold).
    let mut delivered_total = 0;
    for _ in 0..2000 {
        fast.send(json!({"type": "private", "to": "slow", "data": line}));
        let ack = fast.expect("ack");
        delivered_total += ack["delivered"].as_u64().unwrap();
        if ack["delivered"] == 0 {
            // slow is gone the moment the server closes it: now stored.
            assert_eq!(ack["stored"], true);
            break;
        }
    }
    assert!(delivered_total < 2000, "the slow consumer was cut off");
    assert!(d.rss() < rss_before + 16 * 1024 * 1024);
    assert_eq!(slow.expect_close(), Some(4003));
    // The others were never slowed: fast still talks.
    fast.send(json!({"type": "heartbeat"}));
    fast.expect("heartbeat_ack");
}
