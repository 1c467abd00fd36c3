//! The HTTP API, /metrics and the demo page (SPEC §1, §5).

mod common;

use common::*;
use serde_json::{json, Value};

/// One request on a fresh connection: (status, head, body).
fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let mut raw = Raw::connect(server.addr);
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n");
    if let Some(key) = auth {
        req.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    raw.http(&req)
}

fn get_json(server: &TestServer, path: &str) -> Value {
    let (status, _, body) = request(server, "GET", path, None, None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn post_json(server: &TestServer, path: &str, body: Value) -> Value {
    let (status, _, text) = request(server, "POST", path, None, Some(&body.to_string()));
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn api_key_is_required_when_set() {
    let server = TestServer::start(|c| c.api_key = Some("s3cret".into()));
    let (status, head, body) = request(&server, "GET", "/api/stats", None, None);
    assert_eq!(status, 401);
    assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    assert_eq!(
        request(&server, "GET", "/api/stats", Some("wrong"), None).0,
        401
    );
    let (status, _, body) = request(&server, "GET", "/api/stats", Some("s3cret"), None);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    for field in [
        "connections",
        "users",
        "rooms",
        "messages_received",
        "messages_delivered",
        "bytes_received",
        "bytes_sent",
        "uptime_seconds",
        "rss_bytes",
    ] {
        assert!(v[field].is_u64(), "{field} in {v}");
    }
    assert!(v["rss_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn statuses_of_the_api() {
    let server = TestServer::start(|_| {});
    assert_eq!(request(&server, "GET", "/api/nope", None, None).0, 404);
    assert_eq!(
        request(&server, "GET", "/api/rooms/nowhere", None, None).0,
        404
    );
    assert_eq!(
        request(&server, "GET", "/api/rooms/nowhere/history", None, None).0,
        404
    );
    assert_eq!(
        request(&server, "POST", "/api/stats", None, Some("{}")).0,
        405
    );
    assert_eq!(request(&server, "GET", "/api/publish", None, None).0, 405);
    assert_eq!(request(&server, "DELETE", "/api/rooms", None, None).0, 405);
    assert_eq!(
        request(&server, "POST", "/api/publish", None, Some("{not json")).0,
        400
    );
    assert_eq!(
        request(&server, "POST", "/api/publish", None, Some(r#"{"data":1}"#)).0,
        400,
        "no target"
    );
    assert_eq!(
        request(&server, "POST", "/api/kick", None, Some("{}")).0,
        400
    );
    let mut raw = Raw::connect(server.addr);
    assert_eq!(
        raw.http("POST /api/publish HTTP/1.1\r\nHost: x\r\n\r\n").0,
        411
    );
    let mut raw = Raw::connect(server.addr);
    assert_eq!(
        raw.http("POST /api/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .0,
        411
    );
    let mut raw = Raw::connect(server.addr);
    assert_eq!(
        raw.http("POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
            .0,
        413
    );
    // Keep-alive: two API calls on one connection.
    let mut raw = Raw::connect(server.addr);
    assert_eq!(
        raw.http("GET /api/rooms HTTP/1.1\r\nHost: x\r\n\r\n").0,
        200
    );
    assert_eq!(
        raw.http("GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n").0,
        200
    );
}

#[test]
fn rooms_room_detail_and_history() {
    let server = TestServer::start(|_| {});
    let mut a1 = Client::join(&server, "alice");
    let mut a2 = Client::join(&server, "alice");
    let mut b = Client::join(&server, "bob");
    let epoch = a1.join_room("hall")["epoch"].clone();
    a2.join_room("hall");
    b.join_room("hall");
    for i in 0..3 {
        b.send(json!({"type": "chat", "data": i}));
        b.expect("chat");
    }
    let rooms = get_json(&server, "/api/rooms");
    assert_eq!(
        rooms["rooms"],
        json!([{"room": "hall", "online": 2, "connections": 3, "seq": 3}])
    );
    let room = get_json(&server, "/api/rooms/hall");
    assert_eq!(
        (
            room["online"].clone(),
            room["connections"].clone(),
            room["seq"].clone(),
            room["history"].clone(),
            room["epoch"].clone()
        ),
        (json!(2), json!(3), json!(3), json!(3), epoch)
    );
    let mut users: Vec<(String, u64)> = room["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user"].as_str().unwrap().to_owned(),
                u["connections"].as_u64().unwrap(),
            )
        })
        .collect();
    users.sort();
    assert_eq!(users, vec![("alice".into(), 2), ("bob".into(), 1)]);
    let h = get_json(&server, "/api/rooms/hall/history?since=1&limit=1");
    assert_eq!(h["room"], "hall");
    assert_eq!(
        h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].clone())
            .collect::<Vec<_>>(),
        vec![json!(2)]
    );
    let stats = get_json(&server, "/api/stats");
    assert_eq!(
        (
            stats["connections"].clone(),
            stats["users"].clone(),
            stats["rooms"].clone()
        ),
        (json!(3), json!(2), json!(1))
    );
    assert!(stats["messages_received"].as_u64().unwrap() >= 6);
}

#[test]
fn publish_to_a_room_a_user_and_everyone() {
    let server = TestServer::start(|_| {});
    let mut a = Client::join(&server, "alice");
    let mut b = Client::join(&server, "bob");
    a.join_room("news");
    let r = post_json(
        &server,
        "/api/publish",
        json!({"room": "news", "data": {"headline": "hi"}}),
    );
    assert_eq!(
        (r["delivered"].clone(), r["seq"].clone()),
        (json!(1), json!(1))
    );
    let m = a.expect("chat");
    assert_eq!(
        (m["from"].clone(), m["data"].clone(), m["seq"].clone()),
        (json!("system"), json!({"headline": "hi"}), json!(1))
    );
    // A room nobody is in yet keeps the message for its first member.
    let r = post_json(
        &server,
        "/api/publish",
        json!({"room": "later", "data": "early"}),
    );
    assert_eq!(r["delivered"], 0);
    b.send(json!({"type": "join", "room": "later", "since": 0}));
    b.expect("joined");
    assert_eq!(b.expect("chat")["data"], "early");
    let r = post_json(
        &server,
        "/api/publish",
        json!({"user": "bob", "data": "dm"}),
    );
    assert_eq!(
        (r["delivered"].clone(), r["stored"].clone()),
        (json!(1), json!(false))
    );
    let p = b.expect("private");
    assert_eq!(
        (p["from"].clone(), p["to"].clone()),
        (json!("system"), json!("bob"))
    );
    let r = post_json(
        &server,
        "/api/publish",
        json!({"user": "zoe", "data": "wait"}),
    );
    assert_eq!(
        (r["delivered"].clone(), r["stored"].clone()),
        (json!(0), json!(true))
    );
    let mut z = Client::connect(&server, "/ws?user=zoe");
    z.expect("welcome");
    assert_eq!(z.expect("private")["data"], "wait");
    let r = post_json(
        &server,
        "/api/publish",
        json!({"broadcast": true, "data": "all"}),
    );
    assert_eq!(r["delivered"], 3);
    for c in [&mut a, &mut b, &mut z] {
        let m = c.expect("broadcast");
        assert_eq!(
            (m["from"].clone(), m["data"].clone()),
            (json!("system"), json!("all"))
        );
    }
}

#[test]
fn kick_ban_and_mute_through_the_api() {
    let server = TestServer::start(|_| {});
    let mut a1 = Client::join(&server, "alice");
    let mut a2 = Client::join(&server, "alice");
    let mut b = Client::join(&server, "bob");
    a1.join_room("r");
    a2.join_room("r");
    b.join_room("r");
    let r = post_json(
        &server,
        "/api/kick",
        json!({"user": "alice", "room": "r", "reason": "spam", "ban_seconds": 60}),
    );
    assert_eq!(r["kicked"], 2);
    for a in [&mut a1, &mut a2] {
        let fd = a.expect_skipping_presence("force_disconnect");
        assert_eq!(
            (fd["code"].clone(), fd["reason"].clone()),
            (json!(4001), json!("spam"))
        );
        assert_eq!(a.expect_close(), Some(4001));
    }
    // Banned from r, not from connecting or other rooms.
    let mut a3 = Client::join(&server, "alice");
    a3.send(json!({"type": "join", "room": "r"}));
    assert_eq!(a3.expect("error")["code"], "forbidden");
    a3.join_room("elsewhere");
    // Banned everywhere: the connection itself is refused.
    post_json(
        &server,
        "/api/kick",
        json!({"user": "carl", "ban_seconds": 60}),
    );
    let mut c = Client::connect(&server, "/ws?user=carl");
    assert_eq!(c.expect("error")["code"], "forbidden");
    assert_eq!(c.expect_close(), Some(1008));
    // Mute: bob's chat in r is refused, nothing else changes.
    assert_eq!(
        post_json(
            &server,
            "/api/mute",
            json!({"user": "bob", "room": "r", "seconds": 60})
        )["muted"],
        true
    );
    b.send(json!({"type": "chat", "data": "hello", "id": 5}));
    let e = b.expect_skipping_presence("error");
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("muted"), json!(5))
    );
    b.send(json!({"type": "heartbeat"}));
    b.expect("heartbeat_ack");
}

/// A minimal check of the Prometheus text format (version 0.0.4): every
/// sample belongs to a family announced by HELP and TYPE, names and label
/// sets are well formed, values are numbers.
fn parse_exposition(text: &str) -> std::collections::HashMap<String, f64> {
    let mut typed = std::collections::HashSet::new();
    let mut helped = std::collections::HashSet::new();
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split_whitespace().next().unwrap().to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().unwrap().to_owned();
            assert!(matches!(parts.next(), Some("counter" | "gauge")), "{line}");
            typed.insert(name);
        } else {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    assert!(
                        labels.starts_with('{') && labels.ends_with('}') && labels.contains("=\""),
                        "{line}"
                    );
                }
            }
            assert!(
                typed.contains(name) && helped.contains(name),
                "{name} has no HELP/TYPE"
            );
            samples.insert(
                series.to_owned(),
                value
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("bad value in {line}")),
            );
        }
    }
    samples
}

#[test]
fn metrics_in_prometheus_text_format() {
    let server = TestServer::start(|_| {});
    let mut a = Client::join(&server, "alice");
    a.join_room("m");
    a.send(json!({"type": "chat", "data": 1}));
    a.expect("chat");
    let (status, head, body) = request(&server, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let samples = parse_exposition(&body);
    for name in [
        "roomcast_connections",
        "roomcast_users",
        "roomcast_rooms",
        "roomcast_messages_received_total",
        "roomcast_messages_delivered_total",
        "roomcast_bytes_received_total",
        "roomcast_bytes_sent_total",
        "roomcast_handshakes_total{result=\"ok\"}",
        "roomcast_disconnects_total{reason=\"normal\"}",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(samples.contains_key(name), "{name} missing");
    }
    assert_eq!(samples["roomcast_connections"], 1.0);
    assert_eq!(samples["roomcast_rooms"], 1.0);
    assert!(samples["roomcast_messages_received_total"] >= 2.0);
    assert!(samples["roomcast_handshakes_total{result=\"ok\"}"] >= 1.0);
    assert!(samples["process_resident_memory_bytes"] > 0.0);
}

#[test]
fn demo_page_is_served() {
    let server = TestServer::start(|_| {});
    let (status, head, body) = request(&server, "GET", "/", None, None);
    assert_eq!(status, 200);
    assert!(head.contains("text/html"));
    assert!(body.contains("<title>roomcast demo</title>") && body.contains("/roomcast.js"));
    let (status, head, js) = request(&server, "GET", "/roomcast.js", None, None);
    assert_eq!(status, 200);
    assert!(head.contains("text/javascript"), "{head}");
    assert!(js.contains("export class RoomcastClient"));
    assert_eq!(request(&server, "POST", "/", None, Some("{}")).0, 405);
}

#[test]
fn ipv6_loopback_serves_rooms_and_the_api() {
    let server = TestServer::start(|c| c.listen = "[::1]:0".into());
    assert!(server.addr.is_ipv6());
    let mut a = Client::join(&server, "six");
    a.join_room("v6");
    a.send(json!({"type": "chat", "data": "over ::1"}));
    assert_eq!(a.expect("chat")["data"], "over ::1");
    // The harness opens the API (api_insecure); over ::1 as over 127.0.0.1.
    let stats = get_json(&server, "/api/stats");
    assert_eq!(stats["connections"], 1);
}

#[test]
fn publish_an_application_event_with_a_sender() {
    let server = TestServer::start(|_| {});
    let mut a = Client::join(&server, "ann");
    a.join_room("live");
    let v = post_json(
        &server,
        "/api/publish",
        json!({"room": "live", "type": "gift", "from": "shop", "data": {"rose": 3}}),
    );
    assert_eq!(
        (v["delivered"].clone(), v["seq"].clone()),
        (json!(1), json!(1))
    );
    let gift = a.expect("gift");
    assert_eq!(
        (
            gift["room"].clone(),
            gift["from"].clone(),
            gift["data"].clone(),
            gift["seq"].clone()
        ),
        (json!("live"), json!("shop"), json!({"rose": 3}), json!(1))
    );
    // Kept in history like chat.
    a.send(json!({"type": "chat", "data": "thanks"}));
    assert_eq!(a.expect("chat")["seq"], 2);
    let h = get_json(&server, "/api/rooms/live/history");
    let types: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["gift", "chat"]);
    // A chat with a sender of the backend's choosing.
    post_json(
        &server,
        "/api/publish",
        json!({"room": "live", "data": "hi", "from": "bot"}),
    );
    assert_eq!(a.expect("chat")["from"], "bot");
    for bad in ["joined", "Gift", "9lives", "x".repeat(33).as_str()] {
        let body = json!({"room": "live", "type": bad, "data": 1}).to_string();
        assert_eq!(
            request(&server, "POST", "/api/publish", None, Some(&body)).0,
            400,
            "{bad}"
        );
    }
}

#[test]
fn users_api_and_readyz() {
    let server = TestServer::start(|_| {});
    let mut a1 = Client::join(&server, "ann");
    let _a2 = Client::join(&server, "ann");
    a1.join_room("r1");
    let v = get_json(&server, "/api/users/ann");
    assert_eq!(
        v,
        json!({"user": "ann", "online": true, "connections": 2, "rooms": ["r1"]})
    );
    let v = get_json(&server, "/api/users/nobody");
    assert_eq!(
        v,
        json!({"user": "nobody", "online": false, "connections": 0, "rooms": []})
    );
    let (status, _, body) = request(&server, "GET", "/readyz", None, None);
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[test]
fn stats_carry_rates_and_a_five_minute_history() {
    let server = TestServer::start(|_| {});
    let mut a = Client::join(&server, "ann");
    a.join_room("r");
    for i in 0..5 {
        a.send(json!({"type": "chat", "data": i}));
        a.expect("chat");
    }
    // One sample a second: wait for two, so a rate has a span.
    let history = eventually(5, || {
        let h = get_json(&server, "/api/stats/history");
        (h["samples"].as_array().map_or(0, |s| s.len()) >= 2).then_some(h)
    });
    let last = history["samples"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["connections"], 1);
    assert!(last["messages_received"].as_u64().unwrap() >= 6, "{last}");
    assert!(last["t"].as_u64().unwrap() > 1_700_000_000);
    let stats = get_json(&server, "/api/stats");
    for span in ["1s", "10s", "60s"] {
        assert!(stats["rates"][span]["messages_in"].is_number(), "{stats}");
    }
    assert!(stats["cpu_percent"].as_f64().unwrap() >= 0.0);
    assert_eq!(stats["connections"], 1, "the SPEC's fields stay");
}

#[test]
fn retract_through_the_api_and_budgets_in_stats() {
    let server = TestServer::start(|_| {});
    let mut a = Client::join(&server, "ann");
    a.join_room("r");
    a.send(json!({"type": "chat", "data": "oops"}));
    assert_eq!(a.expect("chat")["seq"], 1);
    assert_eq!(
        post_json(&server, "/api/retract", json!({"room": "r", "seq": 1}))["retracted"],
        true
    );
    assert_eq!(a.expect("retracted")["seq"], 1);
    let body = json!({"room": "r", "seq": 1}).to_string();
    assert_eq!(
        request(&server, "POST", "/api/retract", None, Some(&body)).0,
        404
    );
    let stats = get_json(&server, "/api/stats");
    assert_eq!(
        stats["budgets"]["rooms"],
        json!({"used": 1, "limit": 100000})
    );
    assert!(stats["budgets"]["outbox_bytes"]["limit"].is_null());
}
