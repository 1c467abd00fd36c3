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
