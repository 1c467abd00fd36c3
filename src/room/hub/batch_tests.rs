//! Batching (SPEC §8) without sockets: window timing on a fake clock,
//! order, the shared frame, backpressure, and what flushes a batch early.

use super::*;
use crate::room::fuzzing::{small_config, RecordingNet};
use serde_json::Value;
use std::rc::Rc;

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        wall_ms: 1_700_000_000_000 + ms,
    }
}

struct World {
    hub: Hub,
    net: RecordingNet,
}

/// The JSON of a server frame (2-, 4- or 10-byte header).
fn json(frame: &[u8]) -> Value {
    let at = match frame[1] {
        127 => 10,
        126 => 4,
        _ => 2,
    };
    serde_json::from_slice(&frame[at..]).unwrap()
}

impl World {
    /// `small_config` has `batch_window_ms = 50`.
    fn new(window_ms: u64) -> World {
        let mut cfg = small_config(RoomPolicy::Multi);
        cfg.batch_window_ms = window_ms;
        cfg.presence_events_max = 0; // presence as throttled counts: out of the way
        World {
            hub: Hub::new(cfg),
            net: RecordingNet::default(),
        }
    }

    /// Open `key` as `user`, batching or not, and join room `r` at `ms`.
    fn member(&mut self, key: usize, user: &str, batch: bool, ms: u64) -> ConnKey {
        let params = ConnectParams {
            user: Some(user),
            batch,
            ..ConnectParams::default()
        };
        assert!(self
            .hub
            .open(ConnKey(key), key as u64, params, at(ms), &mut self.net));
        self.say(ConnKey(key), r#"{"type":"join","room":"r"}"#, ms);
        let got = self.take(key);
        assert_eq!(got[0]["type"], "welcome");
        assert!(got.iter().any(|v| v["type"] == "joined"));
        ConnKey(key)
    }

    fn say(&mut self, key: ConnKey, text: &str, ms: u64) {
        self.hub.handle_text(key, text, at(ms), &mut self.net);
    }

    fn chat(&mut self, key: ConnKey, n: u64, ms: u64) {
        self.say(
            key,
            &format!(r#"{{"type":"chat","room":"r","data":{n}}}"#),
            ms,
        );
    }

    fn flush(&mut self, ms: u64) {
        self.hub.flush_batches(at(ms), &mut self.net);
    }

    fn frames(&mut self, key: usize) -> Vec<Rc<[u8]>> {
        self.net.sent.remove(&ConnKey(key)).unwrap_or_default()
    }

    fn take(&mut self, key: usize) -> Vec<Value> {
        self.frames(key).iter().map(|f| json(f)).collect()
    }
}

/// The `data` of each chat in a batch array.
fn datas(batch: &Value) -> Vec<u64> {
    batch
        .as_array()
        .expect("a batch is a JSON array")
        .iter()
        .map(|m| {
            assert_eq!(m["type"], "chat");
            m["data"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn batching_members_get_one_shared_array_per_window_in_order() {
    let mut w = World::new(50);
    let plain = w.member(1, "ann", false, 1_000);
    w.member(2, "bo", true, 1_000);
    w.member(3, "cy", true, 1_000);
    assert_eq!(w.hub.next_batch_due(), None);
    for (n, ms) in [(10, 1_000), (11, 1_010), (12, 1_049)] {
        w.chat(plain, n, ms);
    }
    // The plain member (the author) got each chat at once.
    let got = w.take(1);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|v| v["type"] == "chat"));
    // The window starts at the first chat: due at 1,050, not before.
    assert_eq!(w.hub.next_batch_due(), Some(1_050));
    w.flush(1_049);
    assert!(w.frames(2).is_empty() && w.frames(3).is_empty());
    w.flush(1_050);
    let (b, c) = (w.frames(2), w.frames(3));
    assert_eq!((b.len(), c.len()), (1, 1));
    assert!(Rc::ptr_eq(&b[0], &c[0]), "one frame shared by the batch");
    let batch = json(&b[0]);
    assert_eq!(datas(&batch), [10, 11, 12]);
    let seqs: Vec<u64> = batch
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(w.hub.next_batch_due(), None);
    // The next window starts with the next chat.
    w.chat(plain, 13, 1_200);
    assert_eq!(w.hub.next_batch_due(), Some(1_250));
    w.flush(1_250);
    assert_eq!(datas(&w.take(2)[0]), [13]);
}

#[test]
fn a_batch_member_behind_skips_the_batch_and_hears_what_it_missed() {
    let mut w = World::new(50);
    let plain = w.member(1, "ann", false, 0);
    let slow = w.member(2, "bo", true, 0);
    w.member(3, "cy", true, 0);
    w.chat(plain, 1, 0);
    w.chat(plain, 2, 0);
    w.net.behind.insert(slow);
    w.flush(50);
    assert!(w.frames(2).is_empty());
    assert_eq!(datas(&w.take(3)[0]), [1, 2]);
    assert_eq!(w.hub.refused().chat_dropped, 2);
    w.net.behind.remove(&slow);
    assert!(w.net.watched.remove(&slow));
    w.hub.on_drained(slow, &mut w.net);
    let got = w.take(2);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (
            &got[0]["type"],
            &got[0]["count"],
            &got[0]["from_seq"],
            &got[0]["to_seq"]
        ),
        (&"dropped".into(), &2.into(), &1.into(), &2.into())
    );
}

#[test]
fn app_events_and_retractions_follow_the_batch_they_come_after() {
    let mut w = World::new(50);
    let plain = w.member(1, "ann", false, 0);
    w.member(2, "bo", true, 0);
    w.chat(plain, 1, 0);
    let gift = RoomEvent {
        data: "7",
        kind: Some("gift"),
        from: None,
    };
    assert!(w.hub.publish_to_room("r", gift, at(10), &mut w.net).is_ok());
    w.say(plain, r#"{"type":"retract","room":"r","seq":1}"#, 20);
    w.chat(plain, 3, 30);
    let got = w.take(2);
    // Never delayed past the chat before it: the batch went first.
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(datas(&got[0]), [1]);
    assert_eq!(
        (&got[1]["type"], &got[1]["seq"]),
        (&"gift".into(), &2.into())
    );
    assert_eq!(
        (&got[2]["type"], &got[2]["seq"]),
        (&"retracted".into(), &1.into())
    );
    w.flush(80);
    assert_eq!(datas(&w.take(2)[0]), [3]);
}

#[test]
fn a_batching_member_that_joins_gets_nothing_from_before_its_join() {
    let mut w = World::new(50);
    let plain = w.member(1, "ann", false, 0);
    w.member(2, "bo", true, 0);
    w.chat(plain, 1, 0);
    // Joining flushes what was collected to the members already there.
    w.member(3, "cy", true, 10);
    assert_eq!(datas(&w.take(2)[0]), [1]);
    w.chat(plain, 2, 20);
    w.flush(70);
    assert_eq!(datas(&w.take(2)[0]), [2]);
    assert_eq!(datas(&w.take(3)[0]), [2]);
}

#[test]
fn a_big_batch_goes_before_its_window() {
    let mut w = World::new(1_000);
    let plain = w.member(1, "ann", false, 0);
    w.member(2, "bo", true, 0);
    let big = "x".repeat(20_000);
    for _ in 0..4 {
        w.say(
            plain,
            &format!(r#"{{"type":"chat","room":"r","data":"{big}"}}"#),
            0,
        );
    }
    // Past BATCH_MAX_BYTES (64 KiB) after the fourth: sent without waiting.
    let got = w.take(2);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].as_array().unwrap().len(), 4);
    assert_eq!(w.hub.next_batch_due(), None);
}

#[test]
fn without_a_window_batch_is_ignored() {
    let mut w = World::new(0);
    let plain = w.member(1, "ann", false, 0);
    let params = ConnectParams {
        user: Some("bo"),
        batch: true,
        ..ConnectParams::default()
    };
    assert!(w.hub.open(ConnKey(2), 2, params, at(0), &mut w.net));
    let welcome = w.take(2);
    assert_eq!(welcome[0]["type"], "welcome");
    assert!(welcome[0].get("batch_window_ms").is_none());
    w.say(ConnKey(2), r#"{"type":"join","room":"r"}"#, 0);
    w.take(2);
    w.chat(plain, 1, 0);
    let got = w.take(2);
    assert_eq!((got.len(), &got[0]["type"]), (1, &"chat".into()));
    assert_eq!(w.hub.next_batch_due(), None);
}

#[test]
fn welcome_tells_a_batching_client_the_window() {
    let mut w = World::new(50);
    let params = ConnectParams {
        user: Some("bo"),
        batch: true,
        ..ConnectParams::default()
    };
    assert!(w.hub.open(ConnKey(2), 2, params, at(0), &mut w.net));
    assert_eq!(w.take(2)[0]["batch_window_ms"], 50);
}

#[test]
fn a_batch_started_after_an_early_send_keeps_its_own_window() {
    let mut w = World::new(50);
    let plain = w.member(1, "ann", false, 0);
    w.member(2, "bo", true, 0);
    w.chat(plain, 1, 0); // due at 50
    w.member(3, "cy", true, 10); // sent early
    assert_eq!(datas(&w.take(2)[0]), [1]);
    w.chat(plain, 2, 40); // a new batch, due at 90
    assert_eq!(w.hub.next_batch_due(), Some(90));
    w.flush(50);
    assert!(
        w.frames(2).is_empty(),
        "the new batch waits for its own window"
    );
    w.flush(90);
    assert_eq!(datas(&w.take(2)[0]), [2]);
    assert_eq!(w.hub.next_batch_due(), None);
}
