//! The /ws room protocol (SPEC §2, §4, backpressure of §5) with real clients.

mod common;

use common::*;
use serde_json::json;

#[test]
fn welcome_join_chat_and_presence_events() {
    let server = TestServer::start(|_| {});
    let mut a = Client::connect(&server, "/ws?user=alice");
    let w = a.expect("welcome");
    assert_eq!(w["user"], "alice");
    assert!(w["conn"].as_u64().is_some() && w["ts"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(w["ping_interval"], 20);
    let j = a.join_room("lobby");
    assert_eq!(
        (
            j["room"].clone(),
            j["online"].clone(),
            j["seq"].clone(),
            j["recovered"].clone()
        ),
        (json!("lobby"), json!(1), json!(0), json!(false))
    );
    assert!(j["epoch"].as_str().unwrap().len() >= 8);
    let mut b = Client::join(&server, "bob");
    b.send(json!({"type": "join", "room": "lobby", "id": 7}));
    let jb = b.expect("joined");
    assert_eq!(
        (jb["online"].clone(), jb["id"].clone(), jb["epoch"].clone()),
        (json!(2), json!(7), j["epoch"].clone())
    );
    let ev = a.expect("user_joined");
    assert_eq!(
        (ev["room"].clone(), ev["user"].clone(), ev["online"].clone()),
        (json!("lobby"), json!("bob"), json!(2))
    );
    // data passes through byte for byte, number formats and spacing included.
    b.send_text(r#"{"type":"chat","room":"lobby","data":{"t" : "hi", "n":1.50e3}}"#);
    for c in [&mut a, &mut b] {
        let m = c.ws.read().unwrap().into_text().unwrap();
        assert!(m.contains(r#""data":{"t" : "hi", "n":1.50e3}"#), "{m}");
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(
            (v["type"].clone(), v["from"].clone(), v["seq"].clone()),
            (json!("chat"), json!("bob"), json!(1))
        );
        assert!(v["ts"].as_u64().is_some());
    }
    // room may be left out when in exactly one room.
    a.send(json!({"type": "chat", "data": "second"}));
    assert_eq!(b.expect("chat")["seq"], 2);
    assert_eq!(a.expect("chat")["data"], "second");
    b.send(json!({"type": "leave", "room": "lobby", "id": "x"}));
    let left = b.expect("left");
    assert_eq!(
        (left["room"].clone(), left["id"].clone()),
        (json!("lobby"), json!("x"))
    );
    let ul = a.expect("user_left");
    assert_eq!(
        (ul["user"].clone(), ul["online"].clone()),
        (json!("bob"), json!(1))
    );
    b.send(json!({"type": "chat", "data": 1, "id": 3}));
    let e = b.expect("error");
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("not_in_room"), json!(3))
    );
}

#[test]
fn anonymous_users_and_errors_keep_the_connection_open() {
    let server = TestServer::start(|_| {});
    let mut c = Client::connect(&server, "/ws");
    let w = c.expect("welcome");
    // SPEC §3: anon- and 16 random hex digits, never the connection id.
    let user = w["user"].as_str().unwrap().to_owned();
    let hex = user.strip_prefix("anon-").unwrap();
    assert!(
        hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{user}"
    );
    let other = Client::connect(&server, "/ws").expect("welcome");
    assert_ne!(other["user"], w["user"]);
    for (msg, code) in [
        ("{not json", "bad_json"),
        ("[1,2]", "bad_request"),
        (r#"{"type":"dance","id":"d"}"#, "unknown_type"),
        (r#"{"type":"join"}"#, "bad_request"),
        (
            r#"{"type":"chat","room":"nowhere","data":1}"#,
            "not_in_room",
        ),
        (r#"{"type":"private","data":1}"#, "bad_request"),
        (r#"{"type":"history","room":"nowhere"}"#, "not_in_room"),
        (r#"{"type":"join","room":""}"#, "bad_request"),
    ] {
        c.send_text(msg);
        let e = c.expect("error");
        assert_eq!(e["code"], code, "{msg}");
        assert!(e["reason"].is_string());
    }
    c.ws.send(tungstenite::Message::binary(vec![1, 2, 3]))
        .unwrap();
    assert_eq!(c.expect("error")["code"], "bad_json");
    c.send(json!({"type": "heartbeat", "id": 42}));
    let hb = c.expect("heartbeat_ack");
    assert_eq!(hb["id"], 42);
    assert!(hb["ts"].as_u64().is_some());
}

#[test]
fn private_messages_reach_every_device_or_wait_offline() {
    let server = TestServer::start(|c| c.offline_queue = 3);
    let mut a = Client::join(&server, "alice");
    let mut b1 = Client::join(&server, "bob");
    let mut b2 = Client::join(&server, "bob");
    a.send(json!({"type": "private", "to": "bob", "data": {"x": 1}, "id": 1}));
    let ack = a.expect("ack");
    assert_eq!(
        (
            ack["delivered"].clone(),
            ack["stored"].clone(),
            ack["id"].clone()
        ),
        (json!(2), json!(false), json!(1))
    );
    for b in [&mut b1, &mut b2] {
        let p = b.expect("private");
        assert_eq!(
            (p["from"].clone(), p["to"].clone(), p["data"].clone()),
            (json!("alice"), json!("bob"), json!({"x": 1}))
        );
    }
    // carol is offline: stored, at most offline_queue, oldest dropped first.
    for i in 0..5 {
        a.send(json!({"type": "private", "to": "carol", "data": i}));
        let ack = a.expect("ack");
        assert_eq!(
            (ack["delivered"].clone(), ack["stored"].clone()),
            (json!(0), json!(true))
        );
    }
    let mut c = Client::connect(&server, "/ws?user=carol&room=lobby");
    c.expect("welcome");
    let got: Vec<serde_json::Value> = (0..3)
        .map(|_| c.expect("private")["data"].clone())
        .collect();
    assert_eq!(got, vec![json!(2), json!(3), json!(4)]);
    assert_eq!(
        c.expect("joined")["room"],
        "lobby",
        "the query's join comes after offline messages"
    );
    // Delivered once: a second connection gets nothing stored.
    let mut c2 = Client::connect(&server, "/ws?user=carol");
    c2.expect("welcome");
    assert!(c2.is_quiet_for(200));
}

#[test]
fn offline_messages_expire() {
    let server = TestServer::start(|c| c.offline_ttl = 0.2);
    let mut a = Client::join(&server, "alice");
    a.send(json!({"type": "private", "to": "dave", "data": "late"}));
    assert_eq!(a.expect("ack")["stored"], true);
    std::thread::sleep(std::time::Duration::from_millis(400)); // waiting for a TTL, not for the server
    let mut d = Client::join(&server, "dave");
    assert!(d.is_quiet_for(200), "expired messages are not delivered");
}

#[test]
fn history_and_presence() {
    let server = TestServer::start(|_| {});
    let mut a1 = Client::join(&server, "alice");
    let mut a2 = Client::join(&server, "alice");
    let mut b = Client::join(&server, "bob");
    a1.join_room("r");
    a2.join_room("r");
    b.join_room("r");
    for i in 1..=5 {
        b.send(json!({"type": "chat", "room": "r", "data": i}));
    }
    for _ in 0..5 {
        b.expect("chat");
    }
    b.send(json!({"type": "history", "room": "r", "id": "h"}));
    let h = b.expect("history");
    assert_eq!(h["id"], "h");
    let seqs = |h: &serde_json::Value| {
        h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&h), vec![1, 2, 3, 4, 5]);
    assert_eq!(h["messages"][0]["type"], "chat");
    b.send(json!({"type": "history", "room": "r", "limit": 2}));
    assert_eq!(seqs(&b.expect("history")), vec![4, 5]);
    b.send(json!({"type": "history", "room": "r", "since": 1, "limit": 2}));
    assert_eq!(seqs(&b.expect("history")), vec![2, 3]);
    b.send(json!({"type": "presence", "room": "r"}));
    let p = b.expect("presence");
    assert_eq!(p["online"], 2, "alice's two connections count once");
    let mut users: Vec<String> = p["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    users.sort();
    assert_eq!(users, vec!["alice", "bob"]);
}

#[test]
fn recovery_with_since_and_epoch() {
    let server = TestServer::start(|c| c.history_size = 3);
    let mut a = Client::join(&server, "alice");
    let epoch = a.join_room("r")["epoch"].as_str().unwrap().to_owned();
    for i in 1..=5 {
        a.send(json!({"type": "chat", "data": i}));
        a.expect("chat");
    }
    let replay = |c: &mut Client, n: usize| {
        (0..n)
            .map(|_| c.expect("chat")["seq"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    // Saw up to 3: 4 and 5 are still stored, nothing missed.
    let mut b = Client::connect(&server, "/ws?user=bob&room=r&since=3");
    b.expect("welcome");
    let j = b.expect("joined");
    assert_eq!(
        (j["recovered"].clone(), j["seq"].clone()),
        (json!(true), json!(5))
    );
    assert_eq!(replay(&mut b, 2), vec![4, 5]);
    // Saw up to 1: 2 fell out of the ring (only 3..5 kept).
    let mut c = Client::join(&server, "carol");
    c.send(json!({"type": "join", "room": "r", "since": 1, "epoch": epoch}));
    assert_eq!(c.expect("joined")["recovered"], false);
    assert_eq!(replay(&mut c, 3), vec![3, 4, 5]);
    // Another epoch: everything stored is replayed, not recovered.
    let mut d = Client::join(&server, "dave");
    d.send(json!({"type": "join", "room": "r", "since": 4, "epoch": "other"}));
    assert_eq!(d.expect("joined")["recovered"], false);
    assert_eq!(replay(&mut d, 3), vec![3, 4, 5]);
    // Up to date with the right epoch: recovered, nothing replayed.
    let mut e = Client::join(&server, "erin");
    e.send(json!({"type": "join", "room": "r", "since": 5, "epoch": epoch}));
    assert_eq!(e.expect("joined")["recovered"], true);
    assert!(e.is_quiet_for(200));
    // No since: not recovered, nothing replayed.
    let mut f = Client::join(&server, "frank");
    assert_eq!(f.join_room("r")["recovered"], false);
    assert!(f.is_quiet_for(200));
}

#[test]
fn exclusive_policy_moves_the_user() {
    let server = TestServer::start(|_| {});
    let mut phone = Client::join(&server, "alice");
    let mut laptop = Client::join(&server, "alice");
    let mut bob = Client::join(&server, "bob");
    bob.join_room("a");
    phone.join_room("a");
    bob.expect("user_joined");
    laptop.join_room("a");
    laptop.send(json!({"type": "join", "room": "b"}));
    let j = laptop.expect("joined");
    assert_eq!(
        (j["room"].clone(), j["online"].clone()),
        (json!("b"), json!(1))
    );
    let fd = phone.expect("force_disconnect");
    assert_eq!(
        (fd["code"].clone(), fd["reason"].clone()),
        (json!(4001), json!("joined another room"))
    );
    assert_eq!(phone.expect_close(), Some(4001));
    let ul = bob.expect("user_left");
    assert_eq!(
        (ul["user"].clone(), ul["online"].clone()),
        (json!("alice"), json!(1))
    );
    bob.send(json!({"type": "presence", "room": "a"}));
    assert_eq!(bob.expect("presence")["users"], json!(["bob"]));
}

#[test]
fn multi_policy_limits_rooms_per_connection() {
    let server = TestServer::start(|c| {
        c.room_policy = roomcast::config::RoomPolicy::Multi;
        c.max_rooms_per_connection = 2;
    });
    let mut a = Client::join(&server, "alice");
    a.join_room("x");
    a.join_room("y");
    a.send(json!({"type": "join", "room": "z", "id": 1}));
    let e = a.expect("error");
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("too_many_rooms"), json!(1))
    );
    a.send(json!({"type": "chat", "data": 1}));
    assert_eq!(
        a.expect("error")["code"],
        "bad_request",
        "room is required in two rooms"
    );
    a.send(json!({"type": "chat", "room": "y", "data": 1}));
    assert_eq!(a.expect("chat")["room"], "y");
}

#[test]
fn connections_per_user_are_limited() {
    let server = TestServer::start(|c| c.max_connections_per_user = 2);
    let _a = Client::join(&server, "alice");
    let _b = Client::join(&server, "alice");
    let mut c = Client::connect(&server, "/ws?user=alice");
    assert_eq!(c.expect("error")["code"], "too_many_connections");
    assert_eq!(c.expect_close(), Some(1008));
}

#[test]
fn author_may_retract_others_may_not() {
    let server = TestServer::start(|_| {});
    let mut a = Client::join(&server, "alice");
    let mut b = Client::join(&server, "bob");
    a.join_room("r");
    b.join_room("r");
    a.expect("user_joined");
    a.send(json!({"type": "chat", "data": "oops"}));
    a.expect("chat");
    b.expect("chat");
    b.send(json!({"type": "retract", "room": "r", "seq": 1, "id": 9}));
    let e = b.expect("error");
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("forbidden"), json!(9))
    );
    a.send(json!({"type": "retract", "room": "r", "seq": 1}));
    for c in [&mut a, &mut b] {
        let r = c.expect("retracted");
        assert_eq!(
            (r["room"].clone(), r["seq"].clone()),
            (json!("r"), json!(1))
        );
    }
    a.send(json!({"type": "history", "room": "r"}));
    assert_eq!(a.expect("history")["messages"], json!([]));
    a.send(json!({"type": "retract", "room": "r", "seq": 1}));
    assert_eq!(a.expect("error")["code"], "bad_request");
}

#[test]
fn big_rooms_get_throttled_online_counts() {
    let server = TestServer::start(|c| c.presence_events_max = 2);
    let mut watcher = Client::join(&server, "w");
    watcher.join_room("big");
    let mut others: Vec<Client> = (0..4)
        .map(|i| Client::join(&server, &format!("u{i}")))
        .collect();
    for c in &mut others {
        c.join_room("big");
    }
    // Per-user events while the room is small, then one throttled count.
    let mut events = Vec::new();
    loop {
        let v = watcher.next();
        events.push(v["type"].as_str().unwrap().to_owned());
        if v["type"] == "online" {
            assert_eq!(v["online"], 5);
            break;
        }
    }
    // u0 makes 2 members (per-user event); u1 makes 3 > presence_events_max.
    assert_eq!(events, vec!["user_joined", "online"]);
    assert!(
        watcher.is_quiet_for(1500),
        "no more events while the count is unchanged"
    );
}

#[test]
fn closing_a_connection_leaves_its_rooms_and_empty_rooms_expire() {
    let server = TestServer::start(|c| c.room_ttl = 0.3);
    let mut a = Client::join(&server, "alice");
    let mut b = Client::join(&server, "bob");
    let epoch = a.join_room("r")["epoch"].clone();
    b.join_room("r");
    a.expect("user_joined");
    b.send(json!({"type": "chat", "data": 1}));
    b.expect("chat");
    a.expect("chat");
    drop(b); // vanishes without a close handshake
    let ul = a.expect("user_left");
    assert_eq!(
        (ul["user"].clone(), ul["online"].clone()),
        (json!("bob"), json!(1))
    );
    a.send(json!({"type": "leave", "room": "r"}));
    a.expect("left");
    std::thread::sleep(std::time::Duration::from_millis(1600)); // room_ttl plus a hub tick
    let j = a.join_room("r");
    assert_eq!(j["seq"], 0, "a new room after room_ttl");
    assert_ne!(j["epoch"], epoch);
}
