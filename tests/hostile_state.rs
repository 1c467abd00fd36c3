//! Hostile clients against the server's state (issue 9): what they send is
//! checked before it is stored or sent on, and every kind of state they
//! can create has a cap.

mod common;

use common::*;
use serde_json::json;

#[test]
fn hostile_json_is_neither_stored_nor_broadcast() {
    // Regression: 10,000-level nesting, 1e999999 and lone surrogates were
    // stored and broadcast, breaking Python's and serde_json's parsers in
    // every member and every later history reply.
    let server = TestServer::start(|_| {});
    let mut a = Client::join(&server, "ann");
    let mut b = Client::join(&server, "bo");
    a.join_room("r");
    b.join_room("r");
    a.expect("user_joined");
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let forty = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    for data in [
        deep.as_str(),
        forty.as_str(),
        "1e999999",
        r#""\ud800""#,
        r#"{"x":"\udfff"}"#,
    ] {
        a.send_text(&format!(r#"{{"type":"chat","data":{data}}}"#));
        assert_eq!(
            a.expect("error")["code"],
            "bad_json",
            "{}",
            &data[..data.len().min(20)]
        );
        a.send_text(&format!(r#"{{"type":"private","to":"bo","data":{data}}}"#));
        assert_eq!(a.expect("error")["code"], "bad_json");
    }
    // The API refuses it too.
    let mut raw = Raw::connect(server.addr);
    let body = r#"{"room":"r","data":1e999999}"#;
    let (status, _, _) = raw.http(&format!(
        "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!(status, 400);
    // Nothing reached the other member or the history; fine data still does.
    let nested = format!("{}1{}", "[".repeat(32), "]".repeat(32));
    a.send_text(&format!(r#"{{"type":"chat","data":{nested}}}"#));
    assert_eq!(a.expect("chat")["seq"], 1);
    let got = b.expect("chat");
    assert_eq!(got["seq"], 1);
    a.send(json!({"type": "history", "room": "r"}));
    assert_eq!(a.expect("history")["messages"].as_array().unwrap().len(), 1);
}

/// `/metrics` as name → value.
fn metrics(addr: std::net::SocketAddr) -> std::collections::HashMap<String, f64> {
    let mut raw = Raw::connect(addr);
    let (status, _, body) = raw.http("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap_or(f64::NAN)))
        .collect()
}

fn api_post(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, String) {
    let mut raw = Raw::connect(addr);
    let (status, _, text) = raw.http(&format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    (status, text)
}

#[test]
fn max_rooms_refuses_the_room_one_too_many() {
    let server = TestServer::start(|c| {
        c.max_rooms = 3;
        c.room_policy = roomcast::config::RoomPolicy::Multi;
    });
    let mut a = Client::join(&server, "ann");
    for room in ["r1", "r2", "r3"] {
        a.join_room(room);
    }
    a.send(json!({"type": "join", "room": "r4", "id": 4}));
    let e = a.expect("error");
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("over_capacity"), json!(4))
    );
    // An existing room can still be joined, and the API cannot create one.
    let mut b = Client::join(&server, "bo");
    b.join_room("r1");
    let (status, body) = api_post(server.addr, "/api/publish", r#"{"room":"r5","data":1}"#);
    assert_eq!(status, 503, "{body}");
    let m = metrics(server.addr);
    assert_eq!(m["roomcast_budget_used{kind=\"rooms\"}"], 3.0);
    assert_eq!(m["roomcast_budget_limit{kind=\"rooms\"}"], 3.0);
    assert_eq!(m["roomcast_refused_total{reason=\"max_rooms\"}"], 2.0);
}

#[test]
fn max_bans_refuses_and_durations_are_capped() {
    let server = TestServer::start(|c| c.max_bans = 2);
    for user in ["u1", "u2"] {
        let body = format!(r#"{{"user":"{user}","ban_seconds":1e300}}"#);
        let (status, text) = api_post(server.addr, "/api/kick", &body);
        assert_eq!(status, 200, "{text}");
    }
    let (status, text) = api_post(
        server.addr,
        "/api/kick",
        r#"{"user":"u3","ban_seconds":60}"#,
    );
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("max_bans"), "{text}");
    let (status, _) = api_post(
        server.addr,
        "/api/mute",
        r#"{"user":"u3","room":"r","seconds":60}"#,
    );
    assert_eq!(status, 503);
    // A name of any length is no longer a ban key.
    let long = "x".repeat(200);
    let (status, _) = api_post(
        server.addr,
        "/api/kick",
        &format!(r#"{{"user":"{long}","ban_seconds":1}}"#),
    );
    assert_eq!(status, 400);
    // Banned (1e300 s is capped to 30 days, not an overflow).
    let mut c = Client::connect(&server, "/ws?user=u1");
    assert_eq!(c.expect("error")["code"], "forbidden");
    let m = metrics(server.addr);
    assert_eq!(m["roomcast_budget_used{kind=\"bans\"}"], 2.0);
    assert_eq!(m["roomcast_refused_total{reason=\"max_bans\"}"], 2.0);
}

#[test]
fn offline_inboxes_stop_at_their_budget() {
    // Regression: 100 clients stored 1.5 GB of 60 KB privates to fresh user
    // ids in 19 s, kept for 24 h.
    let budget = 4 << 20;
    let d = Daemon::start(&[
        "--rate-limit-per-sec",
        "0",
        "--max-offline-bytes",
        &budget.to_string(),
    ]);
    let mut a = daemon_client(&d, "/ws?user=attacker");
    a.expect("welcome");
    let before = d.rss();
    let data = format!("\"{}\"", "x".repeat(60_000));
    let (mut stored, mut refused) = (0, 0);
    for i in 0..200 {
        a.send_text(&format!(
            r#"{{"type":"private","to":"fresh{i}","data":{data}}}"#
        ));
        let ack = a.expect("ack");
        assert_eq!(ack["delivered"], 0);
        if ack["stored"] == true {
            stored += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        stored > 0 && refused > 0,
        "stored {stored}, refused {refused}"
    );
    assert!(stored * 60_000 <= budget, "{stored} stored");
    let grown = d.rss().saturating_sub(before);
    assert!(
        grown < budget as u64 + (8 << 20),
        "RSS grew {grown} bytes for a {budget}-byte budget"
    );
    // What was stored is delivered.
    let mut first = daemon_client(&d, "/ws?user=fresh0");
    first.expect("welcome");
    assert_eq!(first.expect("private")["from"], "attacker");
    let m = metrics(d.addr);
    assert!(m["roomcast_budget_used{kind=\"offline_bytes\"}"] <= budget as f64);
    assert_eq!(
        m["roomcast_refused_total{reason=\"max_offline_bytes\"}"],
        refused as f64
    );
}

#[test]
fn history_stays_within_its_budget_and_recovery_says_so() {
    // Regression: 322 MB of history in 15 s from 20 clients hopping rooms.
    let budget: usize = 2 << 20;
    let d = Daemon::start(&[
        "--rate-limit-per-sec",
        "0",
        "--max-history-bytes",
        &budget.to_string(),
        "--room-policy",
        "multi",
    ]);
    let mut a = daemon_client(&d, "/ws?user=writer");
    a.expect("welcome");
    let before = d.rss();
    let data = format!("\"{}\"", "y".repeat(10_000));
    for room in 0..10 {
        a.send(json!({"type": "join", "room": format!("h{room}")}));
        a.expect("joined");
        for _ in 0..60 {
            a.send_text(&format!(
                r#"{{"type":"chat","room":"h{room}","data":{data}}}"#
            ));
            a.expect("chat");
        }
    }
    let grown = d.rss().saturating_sub(before);
    assert!(
        grown < budget as u64 + (8 << 20),
        "RSS grew {grown} for a {budget}-byte history budget"
    );
    let m = metrics(d.addr);
    assert!(m["roomcast_budget_used{kind=\"history_bytes\"}"] <= budget as f64);
    assert!(m["roomcast_history_evicted_total"] > 0.0);
    // The least recently active room lost its oldest messages first.
    let mut b = daemon_client(&d, "/ws?user=reader&room=h0&since=0");
    b.expect("welcome");
    assert_eq!(b.expect("joined")["recovered"], false);
    let mut c = daemon_client(&d, "/ws?user=reader2&room=h9&since=0");
    c.expect("welcome");
    let joined = c.expect("joined");
    assert_eq!(
        joined["recovered"], true,
        "the latest room kept all of its own"
    );
}

#[test]
fn privates_queued_to_a_closed_slow_consumer_go_back_to_its_inbox() {
    // Regression: privates acknowledged `delivered` were silently lost when
    // the recipient was closed with 4003 (18 of 65 in one run).
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
    let line = "z".repeat(8000);
    let mut sent = 0;
    for i in 0..2000 {
        fast.send(json!({"type": "private", "to": "slow", "data": {"n": i, "pad": line}}));
        let ack = fast.expect("ack");
        sent += 1;
        if ack["delivered"] == 0 {
            break;
        }
    }
    // What reached the slow socket before its close...
    let mut seen = std::collections::BTreeSet::new();
    loop {
        match slow.next_event() {
            Some(roomcast::proto::fuzzing::Decoded::Text(t)) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "private" {
                    seen.insert(v["data"]["n"].as_u64().unwrap());
                }
            }
            Some(roomcast::proto::fuzzing::Decoded::Close(code, _)) => {
                assert_eq!(code, Some(4003));
                break;
            }
            Some(_) => {}
            None => panic!("no close frame"),
        }
    }
    // ...and what waits in the inbox make up everything that was sent.
    let mut back = daemon_client(&d, "/ws?user=slow");
    back.expect("welcome");
    while let Some(v) = back.next_within(500) {
        if v["type"] == "private" {
            seen.insert(v["data"]["n"].as_u64().unwrap());
        }
    }
    assert_eq!(
        seen.len(),
        sent,
        "every private arrived once: {:?}",
        seen.iter().rev().take(3).collect::<Vec<_>>()
    );
    assert_eq!(seen.iter().next_back().copied(), Some(sent as u64 - 1));
}

#[test]
fn big_replies_reach_a_reader_and_never_cause_4003() {
    // Regression: after 18 chats of 60 KB (more than max_backpressure, 1
    // MiB) every `?room=r&since=0` connect got nothing, not even the 101;
    // `history` got 4003; 20 offline privates of 60 KB never arrived.
    let server = TestServer::start(|c| c.rate_limit.per_sec = 0.0);
    let mut a = Client::join(&server, "ann");
    a.join_room("r");
    let big = format!("\"{}\"", "w".repeat(60_000));
    for _ in 0..18 {
        a.send_text(&format!(r#"{{"type":"chat","data":{big}}}"#));
        a.expect("chat");
    }
    for _ in 0..20 {
        a.send_text(&format!(r#"{{"type":"private","to":"away","data":{big}}}"#));
        assert_eq!(a.expect("ack")["stored"], true);
    }
    let mut b = Client::connect(&server, "/ws?user=away&room=r&since=0");
    b.expect("welcome");
    for i in 0..20 {
        assert_eq!(b.expect("private")["from"], "ann", "private {i}");
    }
    let joined = b.expect("joined");
    assert_eq!(joined["recovered"], true);
    for seq in 1..=18 {
        assert_eq!(b.expect("chat")["seq"], seq);
    }
    b.send(json!({"type": "history", "room": "r"}));
    assert_eq!(
        b.expect("history")["messages"].as_array().unwrap().len(),
        18
    );
    // Still open, still served.
    b.send(json!({"type": "heartbeat"}));
    b.expect("heartbeat_ack");
}

#[test]
fn a_replay_longer_than_max_replay_is_cut_and_says_so() {
    let server = TestServer::start(|c| c.max_replay = 5);
    let mut a = Client::join(&server, "ann");
    a.join_room("r");
    for i in 0..10 {
        a.send(json!({"type": "chat", "data": i}));
        a.expect("chat");
    }
    let mut b = Client::connect(&server, "/ws?user=bo&room=r&since=2");
    b.expect("welcome");
    assert_eq!(b.expect("joined")["recovered"], false);
    for seq in 3..=7 {
        assert_eq!(b.expect("chat")["seq"], seq);
    }
    assert!(b.is_quiet_for(200), "cut at 5");
}

#[test]
fn a_client_that_never_reads_cannot_pile_up_replies() {
    let d = Daemon::start(&["--rate-limit-per-sec", "0"]);
    let mut a = daemon_client(&d, "/ws?user=writer&room=r");
    a.expect("welcome");
    a.expect("joined");
    let big = format!("\"{}\"", "v".repeat(60_000));
    for _ in 0..100 {
        a.send_text(&format!(r#"{{"type":"chat","data":{big}}}"#));
        a.expect("chat");
    }
    // A 6 MB history reply, asked for 200 times by a socket that never reads.
    let mut greedy = Raw::upgrade(d.addr, "/ws?user=greedy&room=r");
    let before = d.rss();
    let ask = roomcast::proto::frame::encode_frame(
        true,
        roomcast::proto::frame::OpCode::Text,
        Some(KEY),
        br#"{"type":"history","room":"r"}"#,
    );
    for _ in 0..200 {
        greedy.send(&ask);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let grown = d.rss().saturating_sub(before);
    assert!(grown < 24 << 20, "200 history requests grew RSS by {grown}");
    // The writer is served all along.
    a.send(json!({"type": "heartbeat"}));
    a.expect_skipping_presence("heartbeat_ack");
}

#[test]
fn after_a_paced_replay_live_chat_flows_again() {
    let server = TestServer::start(|c| c.rate_limit.per_sec = 0.0);
    let mut w = Client::join(&server, "writer");
    w.join_room("busy");
    let big = format!("\"{}\"", "u".repeat(20_000));
    for _ in 0..50 {
        w.send_text(&format!(r#"{{"type":"chat","data":{big}}}"#));
        w.expect("chat");
    }
    // 1 MB of replay: paced past drop_threshold (256 KiB).
    let mut r = Client::connect(&server, "/ws?user=reader&room=busy&since=0");
    r.expect("welcome");
    assert_eq!(r.expect("joined")["recovered"], true);
    w.send(json!({"type": "chat", "data": "during"}));
    w.expect_skipping_presence("chat");
    let mut seqs = Vec::new();
    for _ in 0..50 {
        seqs.push(r.expect("chat")["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    // Chat during the replay was skipped and reported, never reordered.
    let next = r.next();
    if next["type"] == "dropped" {
        assert_eq!(
            (next["from_seq"].clone(), next["to_seq"].clone()),
            (json!(51), json!(51))
        );
    } else {
        assert_eq!(next["seq"], 51, "{next}");
    }
    // Then live chat reaches it again.
    w.send(json!({"type": "chat", "data": "after"}));
    w.expect("chat");
    let live = loop {
        let v = r.next();
        if v["type"] == "chat" {
            break v;
        }
    };
    assert_eq!(live["data"], "after");
}
