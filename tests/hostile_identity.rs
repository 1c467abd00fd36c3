//! Hostile clients against identity, roles and the API's door (issue 9:
//! cases 7, 11 and 12), against the real server.

mod common;

use common::*;
use roomcast::auth::sign;
use roomcast::config::AuthMode;
use serde_json::{json, Value};

const SECRET: &str = "identity-secret";

#[test]
fn the_system_id_is_reserved_at_connect_and_as_a_recipient() {
    let server = TestServer::start(|_| {});
    let mut c = Client::connect(&server, "/ws?user=system");
    assert_eq!(c.expect("error")["code"], "unauthorized");
    assert_eq!(c.expect_close(), Some(1008));
    let mut a = Client::join(&server, "ann");
    a.send(json!({"type": "private", "to": "system", "data": 1}));
    assert_eq!(a.expect("error")["code"], "bad_request");
    // A token cannot claim it either.
    let server = TestServer::start(|c| {
        c.auth = AuthMode::Hmac;
        c.auth_secret = Some(SECRET.into());
    });
    let t = sign(&json!({"sub": "system"}), SECRET.as_bytes());
    let mut c = Client::connect(&server, &format!("/ws?token={t}"));
    assert_eq!(c.expect("error")["code"], "unauthorized");
    assert_eq!(c.expect_close(), Some(1008));
}

#[test]
fn a_token_is_refused_before_its_nbf() {
    let server = TestServer::start(|c| {
        c.auth = AuthMode::Hmac;
        c.auth_secret = Some(SECRET.into());
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let early = sign(&json!({"sub": "ann", "nbf": now + 3600}), SECRET.as_bytes());
    let mut c = Client::connect(&server, &format!("/ws?token={early}"));
    let e = c.expect("error");
    assert_eq!(e["code"], "unauthorized");
    assert!(e["reason"].as_str().unwrap().contains("nbf"), "{e}");
    assert_eq!(c.expect_close(), Some(1008));
    let ready = sign(&json!({"sub": "ann", "nbf": now - 1}), SECRET.as_bytes());
    let mut c = Client::connect(&server, &format!("/ws?token={ready}"));
    assert_eq!(c.expect("welcome")["user"], "ann");
}

#[test]
fn room_and_user_names_with_bidi_overrides_are_refused() {
    let server = TestServer::start(|_| {});
    let mut c = Client::join(&server, "ann");
    c.send(json!({"type": "join", "room": "lobby\u{202E}txt.exe"}));
    assert_eq!(c.expect("error")["code"], "bad_request");
    let mut c = Client::connect(&server, "/ws?user=%E2%80%AEevil");
    assert_eq!(c.expect("error")["code"], "unauthorized");
    assert_eq!(c.expect_close(), Some(1008));
}

#[test]
fn a_moderator_cannot_kick_or_mute_an_admin_or_a_peer() {
    let server = TestServer::start(|c| {
        c.auth = AuthMode::Hmac;
        c.auth_secret = Some(SECRET.into());
    });
    let connect = |sub: &str, role: &str| {
        let t = sign(&json!({"sub": sub, "role": role}), SECRET.as_bytes());
        let mut c = Client::connect(&server, &format!("/ws?token={t}"));
        c.expect("welcome");
        c
    };
    let mut admin = connect("root", "admin");
    let mut moderator = connect("mod", "moderator");
    let _other_moderator = connect("mod2", "moderator");
    let mut user = connect("ann", "user");
    admin.join_room("r");
    for target in ["root", "mod2"] {
        moderator.send(json!({"type": "kick", "user": target, "ban_seconds": 60}));
        assert_eq!(moderator.expect("error")["code"], "forbidden", "{target}");
        moderator.send(json!({"type": "mute", "user": target, "room": "r", "seconds": 60}));
        assert_eq!(moderator.expect("error")["code"], "forbidden", "{target}");
    }
    assert!(admin.is_quiet_for(200), "the admin was not kicked");
    moderator.send(json!({"type": "kick", "user": "ann"}));
    assert_eq!(moderator.expect("ack")["kicked"], 1);
    assert_eq!(user.expect("force_disconnect")["code"], 4001);
    // An admin may act on anyone.
    admin.send(json!({"type": "kick", "user": "mod"}));
    assert_eq!(admin.expect_skipping_presence("ack")["kicked"], 1);
}

#[test]
fn two_origin_headers_are_a_bad_request() {
    let server = TestServer::start(|c| c.allowed_origins = vec!["https://ok.example".into()]);
    let mut raw = Raw::connect(server.addr);
    let req = upgrade_request("/ws").replace(
        "\r\n\r\n",
        "\r\nOrigin: https://evil.example\r\nOrigin: https://ok.example\r\n\r\n",
    );
    let (status, _, body) = raw.http(&req);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Origin"), "{body}");
}

#[test]
fn the_api_is_off_without_a_key_even_on_loopback() {
    // Behind a reverse proxy on the same host every peer is loopback.
    let server = TestServer::start(|c| c.api_insecure = false);
    let mut raw = Raw::connect(server.addr);
    let (status, _, body) = raw.http("GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 403);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("api_key"), "{v}");
    let mut raw = Raw::connect(server.addr);
    let (status, _, _) = raw.http(
        "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n{\"broadcast\":true,\"data\":\"x\"}\n",
    );
    assert_eq!(status, 403);
    // api_insecure opens it (the test harness's default).
    let open = TestServer::start(|_| {});
    let mut raw = Raw::connect(open.addr);
    let (status, _, _) = raw.http("GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
}

#[test]
fn since_at_connect_carries_the_epoch() {
    // Regression: ?since= at connect could not carry the epoch, so after a
    // room restarted a client reconnecting with since=10 got recovered: true.
    let server = TestServer::start(|c| c.room_ttl = 0.2);
    let mut a = Client::join(&server, "ann");
    let joined = a.join_room("r");
    let old_epoch = joined["epoch"].as_str().unwrap().to_owned();
    for i in 0..3 {
        a.send(json!({"type": "chat", "data": i}));
        a.expect("chat");
    }
    drop(a);
    // The room empties, expires (room_ttl 0.2 s, checked every second) and
    // is created anew by the next join.
    eventually(5, || {
        let mut raw = Raw::connect(server.addr);
        let (status, _, _) = raw.http("GET /api/rooms/r HTTP/1.1\r\nHost: x\r\n\r\n");
        (status == 404).then_some(())
    });
    let mut b = Client::connect(
        &server,
        &format!("/ws?user=bo&room=r&since=3&epoch={old_epoch}"),
    );
    b.expect("welcome");
    let joined = b.expect("joined");
    assert_ne!(joined["epoch"], old_epoch.as_str());
    assert_eq!(joined["recovered"], false);
    // With the current epoch and nothing missed, recovered is true.
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let mut c = Client::connect(
        &server,
        &format!("/ws?user=cy&room=r&since=0&epoch={epoch}"),
    );
    c.expect("welcome");
    assert_eq!(c.expect("joined")["recovered"], true);
}
