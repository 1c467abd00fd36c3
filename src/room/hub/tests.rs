//! The hub's behaviour without sockets: a recording `Net` stands in for the
//! connections and time is whatever the test says.

use super::*;
use crate::room::fuzzing::{small_config, RecordingNet};
use serde_json::Value;

const T0: Now = Now {
    mono_ms: 1_000,
    wall_ms: 1_700_000_000_000,
};

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        wall_ms: T0.wall_ms + ms,
    }
}

struct World {
    hub: Hub,
    net: RecordingNet,
}

impl World {
    fn new(policy: RoomPolicy) -> World {
        World {
            hub: Hub::new(small_config(policy)),
            net: RecordingNet::default(),
        }
    }

    fn open(&mut self, key: usize, user: &str) -> ConnKey {
        let params = ConnectParams {
            user: Some(user),
            ..ConnectParams::default()
        };
        assert!(self
            .hub
            .open(ConnKey(key), key as u64, params, T0, &mut self.net));
        assert_eq!(self.take(key)[0]["type"], "welcome");
        ConnKey(key)
    }

    fn say(&mut self, key: ConnKey, json: &str) {
        self.hub.handle_text(key, json, T0, &mut self.net);
    }

    /// What `key` received since last asked, as JSON.
    fn take(&mut self, key: usize) -> Vec<Value> {
        self.net
            .sent
            .remove(&ConnKey(key))
            .unwrap_or_default()
            .iter()
            .map(|frame| {
                // A server frame: 2-byte header for < 126 bytes, 4 for more.
                let at = if frame[1] == 126 { 4 } else { 2 };
                serde_json::from_slice(&frame[at..]).unwrap()
            })
            .collect()
    }

    fn types(&mut self, key: usize) -> Vec<String> {
        self.take(key)
            .iter()
            .map(|v| v["type"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

#[test]
fn join_chat_and_presence_between_two_users() {
    let mut w = World::new(RoomPolicy::Exclusive);
    let (a, b) = (w.open(1, "ann"), w.open(2, "bo"));
    w.say(a, r#"{"type":"join","room":"r","id":7}"#);
    let joined = w.take(1);
    assert_eq!(joined[0]["type"], "joined");
    assert_eq!(
        (joined[0]["seq"].clone(), joined[0]["id"].clone()),
        (0.into(), 7.into())
    );
    w.say(b, r#"{"type":"join","room":"r"}"#);
    assert_eq!(w.types(2), vec!["joined"]);
    let seen = w.take(1);
    assert_eq!(
        (seen[0]["type"].clone(), seen[0]["user"].clone()),
        ("user_joined".into(), "bo".into())
    );
    w.say(a, r#"{"type":"chat","data":{"x":[1, 2]}}"#);
    for key in [1, 2] {
        let chat = w.take(key);
        assert_eq!(chat[0]["data"], serde_json::json!({"x": [1, 2]}));
        assert_eq!(
            (chat[0]["seq"].clone(), chat[0]["from"].clone()),
            (1.into(), "ann".into())
        );
    }
    w.say(b, r#"{"type":"leave","room":"r"}"#);
    assert_eq!(w.types(2), vec!["left"]);
    assert_eq!(w.take(1)[0]["type"], "user_left");
    w.hub.check_invariants().unwrap();
}

#[test]
fn exclusive_join_elsewhere_moves_the_user_and_kicks_other_devices() {
    let mut w = World::new(RoomPolicy::Exclusive);
    let (phone, laptop) = (w.open(1, "ann"), w.open(2, "ann"));
    w.say(phone, r#"{"type":"join","room":"a"}"#);
    w.say(laptop, r#"{"type":"join","room":"a"}"#);
    w.take(1);
    w.take(2);
    w.say(phone, r#"{"type":"join","room":"b"}"#);
    assert_eq!(w.types(1), vec!["joined"]);
    let kicked = w.take(2);
    assert_eq!(
        (kicked[0]["type"].clone(), kicked[0]["code"].clone()),
        ("force_disconnect".into(), 4001.into())
    );
    // The close is a typed request: 4001, nothing to decode.
    assert_eq!(w.net.closes, vec![(laptop, CloseCode::KICKED)]);
    w.hub.check_invariants().unwrap();
}

#[test]
fn recovery_says_whether_anything_was_missed() {
    let mut w = World::new(RoomPolicy::Exclusive);
    let a = w.open(1, "ann");
    w.say(a, r#"{"type":"join","room":"r"}"#);
    let epoch = w.take(1)[0]["epoch"].as_str().unwrap().to_owned();
    for i in 0..6 {
        w.say(a, &format!(r#"{{"type":"chat","data":{i}}}"#));
    }
    w.take(1);
    // history_size is 4 in the small config: seqs 3..=6 are kept.
    let b = w.open(2, "bo");
    w.say(
        b,
        &format!(r#"{{"type":"join","room":"r","since":2,"epoch":"{epoch}"}}"#),
    );
    let got = w.take(2);
    assert_eq!(got[0]["recovered"], true);
    let seqs: Vec<u64> = got[1..]
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![3, 4, 5, 6]);
    let c = w.open(3, "cy");
    w.say(c, r#"{"type":"join","room":"r","since":1}"#);
    let got = w.take(3);
    assert_eq!(
        (got[0]["recovered"].clone(), got.len()),
        (false.into(), 5),
        "seq 2 is gone"
    );
    let d = w.open(4, "di");
    w.say(d, r#"{"type":"join","room":"r","since":5,"epoch":"other"}"#);
    let got = w.take(4);
    assert_eq!(
        (got[0]["recovered"].clone(), got.len()),
        (false.into(), 5),
        "another epoch: all replayed"
    );
}

#[test]
fn privates_are_stored_while_offline_and_delivered_after_welcome() {
    let mut w = World::new(RoomPolicy::Exclusive);
    let a = w.open(1, "ann");
    w.say(a, r#"{"type":"private","to":"bo","data":"psst","id":"p1"}"#);
    let ack = w.take(1);
    assert_eq!(
        (
            ack[0]["delivered"].clone(),
            ack[0]["stored"].clone(),
            ack[0]["id"].clone()
        ),
        (0.into(), true.into(), "p1".into())
    );
    let params = ConnectParams {
        user: Some("bo"),
        ..ConnectParams::default()
    };
    assert!(w.hub.open(ConnKey(2), 2, params, at(2_000), &mut w.net));
    let got = w.take(2);
    assert_eq!(
        (
            got[0]["type"].clone(),
            got[1]["type"].clone(),
            got[1]["data"].clone()
        ),
        ("welcome".into(), "private".into(), "psst".into())
    );
    w.say(a, r#"{"type":"private","to":"bo","data":2}"#);
    assert_eq!(w.take(1)[0]["delivered"], 1);
}

#[test]
fn a_slow_member_skips_chat_and_hears_what_it_missed() {
    let mut w = World::new(RoomPolicy::Exclusive);
    let (a, b) = (w.open(1, "ann"), w.open(2, "bo"));
    w.say(a, r#"{"type":"join","room":"r"}"#);
    w.say(b, r#"{"type":"join","room":"r"}"#);
    w.take(1);
    w.take(2);
    w.net.behind.insert(b);
    for i in 0..3 {
        w.say(a, &format!(r#"{{"type":"chat","data":{i}}}"#));
    }
    assert!(w.take(2).is_empty());
    assert!(w.net.watched.contains(&b));
    w.net.behind.remove(&b);
    w.hub.on_drained(b, &mut w.net);
    let dropped = w.take(2);
    assert_eq!(
        (
            dropped[0]["type"].clone(),
            dropped[0]["count"].clone(),
            dropped[0]["from_seq"].clone(),
            dropped[0]["to_seq"].clone()
        ),
        ("dropped".into(), 3.into(), 1.into(), 3.into())
    );
}

#[test]
fn moderation_needs_its_role_and_bans_keep_users_out() {
    let mut w = World::new(RoomPolicy::Exclusive);
    let a = w.open(1, "ann");
    w.say(a, r#"{"type":"kick","user":"bo"}"#);
    assert_eq!(w.take(1)[0]["code"], "forbidden");
    let params = ConnectParams {
        user: Some("mod"),
        role: Role::Moderator,
        ..ConnectParams::default()
    };
    assert!(w.hub.open(ConnKey(9), 9, params, T0, &mut w.net));
    w.take(9);
    w.say(
        ConnKey(9),
        r#"{"type":"kick","user":"ann","ban_seconds":60}"#,
    );
    assert_eq!(w.take(9)[0]["kicked"], 1);
    assert_eq!(w.net.closes, vec![(a, CloseCode::KICKED)]);
    assert_eq!(w.take(1)[0]["type"], "force_disconnect");
    w.hub.close(a, T0, &mut w.net);
    let again = ConnectParams {
        user: Some("ann"),
        ..ConnectParams::default()
    };
    assert!(!w.hub.open(ConnKey(1), 10, again, at(30_000), &mut w.net));
    assert_eq!(w.take(1)[0]["code"], "forbidden");
    assert!(
        w.hub.open(ConnKey(1), 11, again, at(62_000), &mut w.net),
        "the ban ends"
    );
}

#[test]
fn rate_limit_abuse_asks_for_close_1008() {
    let mut cfg = small_config(RoomPolicy::Exclusive);
    cfg.rate_per_sec = 1.0;
    cfg.rate_burst = 2;
    let mut w = World {
        hub: Hub::new(cfg),
        net: RecordingNet::default(),
    };
    let a = w.open(1, "ann");
    for _ in 0..2 + 3 * 2 + 1 {
        w.say(a, r#"{"type":"heartbeat"}"#);
    }
    let types = w.types(1);
    assert_eq!(types.iter().filter(|t| *t == "heartbeat_ack").count(), 2);
    assert_eq!(types.iter().filter(|t| *t == "error").count(), 7);
    assert_eq!(w.net.closes, vec![(a, CloseCode::POLICY)]);
}

#[test]
fn empty_rooms_expire_after_room_ttl_and_come_back_with_a_new_epoch() {
    let mut w = World::new(RoomPolicy::Exclusive);
    let a = w.open(1, "ann");
    w.say(a, r#"{"type":"join","room":"r"}"#);
    let epoch = w.take(1)[0]["epoch"].clone();
    w.say(a, r#"{"type":"leave","room":"r"}"#);
    w.hub.tick(at(T0.mono_ms + 999), &mut w.net);
    assert_eq!(w.hub.room_count(), 1, "room_ttl is 1 s in the small config");
    w.hub.tick(at(T0.mono_ms + 1_000), &mut w.net);
    assert_eq!(w.hub.room_count(), 0);
    w.take(1);
    w.say(a, r#"{"type":"join","room":"r"}"#);
    let joined = w.take(1);
    assert_ne!(joined[0]["epoch"], epoch);
    assert_eq!(joined[0]["seq"], 0);
}

#[test]
fn application_events_are_never_dropped_for_a_member_behind() {
    let mut w = World::new(RoomPolicy::Exclusive);
    let a = w.open(1, "ann");
    w.say(a, r#"{"type":"join","room":"r"}"#);
    w.take(1);
    w.net.behind.insert(a);
    let chat = RoomEvent {
        data: "1",
        kind: None,
        from: None,
    };
    let gift = RoomEvent {
        kind: Some("gift"),
        ..chat
    };
    assert_eq!(
        w.hub.publish_to_room("r", chat, T0, &mut w.net),
        Ok(Posted::Done(0, 1))
    );
    assert_eq!(
        w.hub.publish_to_room("r", gift, T0, &mut w.net),
        Ok(Posted::Done(1, 2))
    );
    let got = w.take(1);
    assert_eq!(
        (got.len(), got[0]["type"].clone(), got[0]["from"].clone()),
        (1, "gift".into(), "system".into())
    );
}
