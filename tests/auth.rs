//! Tokens and roles (SPEC §3), moderation from clients (SPEC §2), origins
//! and rate limits (SPEC §5).

mod common;

use common::*;
use roomcast::auth::sign;
use roomcast::config::AuthMode;
use serde_json::json;

const SECRET: &str = "test-secret";

fn hmac_server() -> TestServer {
    TestServer::start(|c| {
        c.auth = AuthMode::Hmac;
        c.auth_secret = Some(SECRET.into());
    })
}

fn token(claims: serde_json::Value) -> String {
    sign(&claims, SECRET.as_bytes())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn with_token(server: &TestServer, claims: serde_json::Value) -> Client {
    let mut c = Client::connect(server, &format!("/ws?token={}", token(claims)));
    c.expect("welcome");
    c
}

#[test]
fn a_good_token_names_the_user() {
    let server = hmac_server();
    let mut c = Client::connect(
        &server,
        &format!(
            "/ws?user=mallory&token={}",
            token(json!({"sub": "alice", "exp": now_secs() + 60}))
        ),
    );
    assert_eq!(
        c.expect("welcome")["user"],
        "alice",
        "the token's sub wins over ?user="
    );
}

#[test]
fn bad_tokens_get_unauthorized_then_1008() {
    let server = hmac_server();
    let expired = token(json!({"sub": "alice", "exp": now_secs() - 1}));
    let forged = sign(&json!({"sub": "alice"}), b"not-the-secret");
    for path in [
        format!("/ws?token={expired}"),
        format!("/ws?token={forged}"),
        "/ws?token=garbage".to_owned(),
        "/ws?user=alice".to_owned(),
    ] {
        let mut c = Client::connect(&server, &path);
        let e = c.expect("error");
        assert_eq!(e["code"], "unauthorized", "{path}");
        assert!(e["reason"].is_string());
        assert_eq!(c.expect_close(), Some(1008), "{path}");
    }
}

#[test]
fn the_rooms_claim_limits_joins() {
    let server = hmac_server();
    let mut c = with_token(&server, json!({"sub": "alice", "rooms": ["a"]}));
    c.join_room("a");
    c.send(json!({"type": "join", "room": "b", "id": 1}));
    let e = c.expect("error");
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("forbidden"), json!(1))
    );
}

#[test]
fn users_may_not_moderate() {
    let server = hmac_server();
    let mut u = with_token(&server, json!({"sub": "u"}));
    u.join_room("r");
    for req in [
        json!({"type": "kick", "user": "x"}),
        json!({"type": "mute", "user": "x", "room": "r", "seconds": 5}),
        json!({"type": "broadcast", "data": 1}),
    ] {
        u.send(req.clone());
        assert_eq!(u.expect("error")["code"], "forbidden", "{req}");
    }
    let mut m = with_token(&server, json!({"sub": "m", "role": "moderator"}));
    m.send(json!({"type": "broadcast", "data": 1}));
    assert_eq!(
        m.expect("error")["code"],
        "forbidden",
        "broadcast is for admins"
    );
}

#[test]
fn moderators_kick_mute_and_retract_admins_broadcast() {
    let server = hmac_server();
    let mut m = with_token(&server, json!({"sub": "mod", "role": "moderator"}));
    let mut v = with_token(&server, json!({"sub": "victim"}));
    let mut w = with_token(&server, json!({"sub": "witness"}));
    m.join_room("r");
    v.join_room("r");
    w.join_room("r");
    w.send(json!({"type": "chat", "data": "rude"}));
    let seq = w.expect_skipping_presence("chat")["seq"].clone();
    m.send(json!({"type": "retract", "room": "r", "seq": seq}));
    assert_eq!(w.until("retracted")["seq"], seq);
    assert_eq!(m.until("retracted")["seq"], seq);
    m.send(json!({"type": "mute", "user": "witness", "room": "r", "seconds": 30, "id": "m1"}));
    assert_eq!(m.until("ack")["id"], "m1");
    w.send(json!({"type": "chat", "data": "again"}));
    assert_eq!(w.until("error")["code"], "muted");
    m.send(json!({"type": "kick", "user": "victim", "reason": "bye", "ban_seconds": 30, "id": 2}));
    let fd = v.until("force_disconnect");
    assert_eq!(
        (fd["code"].clone(), fd["reason"].clone()),
        (json!(4001), json!("bye"))
    );
    assert_eq!(v.expect_close(), Some(4001));
    let a = m.until("ack");
    assert_eq!((a["kicked"].clone(), a["id"].clone()), (json!(1), json!(2)));
    let mut again = Client::connect(
        &server,
        &format!("/ws?token={}", token(json!({"sub": "victim"}))),
    );
    assert_eq!(again.expect("error")["code"], "forbidden");
    assert_eq!(again.expect_close(), Some(1008));
    let mut admin = with_token(&server, json!({"sub": "root", "role": "admin"}));
    admin.send(json!({"type": "broadcast", "data": "maintenance"}));
    for c in [&mut m, &mut w, &mut admin] {
        let b = c.until("broadcast");
        assert_eq!(
            (b["from"].clone(), b["data"].clone()),
            (json!("root"), json!("maintenance"))
        );
    }
}

#[test]
fn origins_not_listed_get_403() {
    let server = TestServer::start(|c| c.allowed_origins = vec!["https://good.example".into()]);
    let with_origin = |origin: Option<&str>| {
        let mut raw = Raw::connect(server.addr);
        let mut req = upgrade_request("/ws");
        if let Some(o) = origin {
            req = req.replace(
                "Host: localhost\r\n",
                &format!("Host: localhost\r\nOrigin: {o}\r\n"),
            );
        }
        raw.http(&req).0
    };
    assert_eq!(with_origin(Some("https://good.example")), 101);
    assert_eq!(with_origin(Some("https://evil.example")), 403);
    assert_eq!(with_origin(None), 403);
}

#[test]
fn rate_limit_refuses_then_closes_abusers() {
    let server = TestServer::start(|c| {
        c.rate_limit.per_sec = 1.0;
        c.rate_limit.burst = 3;
    });
    let mut c = Client::join(&server, "spammer");
    for i in 0..3 {
        c.send(json!({"type": "heartbeat", "id": i}));
        c.expect("heartbeat_ack");
    }
    c.send(json!({"type": "heartbeat", "id": 3}));
    let e = c.expect("error");
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("rate_limited"), json!(3))
    );
    // More than 3 x burst refusals within 10 s: closed with 1008.
    for i in 0..12 {
        c.send(json!({"type": "heartbeat", "id": 10 + i}));
    }
    assert_eq!(c.expect_close(), Some(1008));
    // Others are not affected.
    let mut other = Client::join(&server, "calm");
    other.send(json!({"type": "heartbeat"}));
    other.expect("heartbeat_ack");
}
