//! The Redis engine (SPEC §7) against a real `redis-server`: several
//! nodes in one test act as one server; Redis going away and coming back.

mod common;

use common::redis::RedisServer;
use common::*;
use roomcast::config::EngineKind;
use serde_json::{json, Value};

/// A node on `redis`, once it is connected (/readyz 200).
fn node(redis: &RedisServer) -> TestServer {
    let n = node_unready(redis);
    eventually(10, || (ready(&n) == 200).then_some(()));
    n
}

fn node_unready(redis: &RedisServer) -> TestServer {
    let url = redis.url();
    TestServer::start(move |c| {
        c.engine = EngineKind::Redis;
        c.redis_url = url;
        c.history_size = 50;
    })
}

/// One HTTP request on a fresh connection: (status, body).
fn http(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let mut raw = Raw::connect(server.addr);
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, _, text) = raw.http(&req);
    (status, text)
}

fn publish(server: &TestServer, body: Value) -> Value {
    let (status, text) = http(server, "POST", "/api/publish", Some(body));
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn ready(server: &TestServer) -> u16 {
    http(server, "GET", "/readyz", None).0
}

fn connect(server: &TestServer, query: &str) -> Client {
    let mut c = Client::connect(server, &format!("/ws?{query}"));
    c.expect("welcome");
    c
}

#[test]
fn two_nodes_share_seq_history_recovery_and_retraction() {
    let Some(redis) = RedisServer::for_test() else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    let mut ann = connect(&a, "user=ann&room=lobby");
    let joined = ann.expect("joined");
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let mut bob = connect(&b, "user=bob&room=lobby");
    let joined_b = bob.expect_skipping_presence("joined");
    assert_eq!(
        joined_b["epoch"],
        epoch.as_str(),
        "one epoch for the room everywhere"
    );

    // A chat on node A reaches node B, numbered once.
    ann.send(json!({"type": "chat", "room": "lobby", "data": "hi"}));
    let on_a = ann.expect_skipping_presence("chat");
    let on_b = bob.expect_skipping_presence("chat");
    assert_eq!(on_a, on_b);
    assert_eq!(
        (on_a["seq"].as_u64(), on_a["from"].as_str()),
        (Some(1), Some("ann"))
    );

    // The API on node B: its answer carries the seq Redis gave.
    let ack = publish(
        &b,
        json!({"room": "lobby", "data": {"n": 2}, "type": "gift"}),
    );
    assert_eq!(ack["seq"], 2, "{ack}");
    assert_eq!(ack["delivered"], 2, "both members, one on each node: {ack}");
    assert_eq!(ann.expect_skipping_presence("gift")["seq"], 2);
    assert_eq!(bob.expect_skipping_presence("gift")["seq"], 2);
    for i in 3..=10 {
        ann.send(json!({"type": "chat", "room": "lobby", "data": i}));
    }
    for i in 3..=10 {
        assert_eq!(ann.expect_skipping_presence("chat")["seq"], i);
        assert_eq!(bob.expect_skipping_presence("chat")["seq"], i);
    }

    // Recovery on the other node than the one the client saw.
    let mut cy = connect(&b, &format!("user=cy&room=lobby&since=4&epoch={epoch}"));
    let j = cy.expect("joined");
    assert_eq!(
        (j["recovered"].as_bool(), j["seq"].as_u64()),
        (Some(true), Some(10)),
        "{j}"
    );
    for i in 5..=10 {
        assert_eq!(cy.expect_skipping_presence("chat")["seq"], i);
    }
    // History over the API, on either node.
    let (_, h) = http(&a, "GET", "/api/rooms/lobby/history?since=8", None);
    let h: Value = serde_json::from_str(&h).unwrap();
    let seqs: Vec<u64> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [9, 10]);

    // A retraction on node A is seen on node B, and gone from history there.
    ann.send(json!({"type": "retract", "room": "lobby", "seq": 3}));
    assert_eq!(ann.expect_skipping_presence("retracted")["seq"], 3);
    assert_eq!(bob.expect_skipping_presence("retracted")["seq"], 3);
    let mut dee = connect(&b, &format!("user=dee&room=lobby&since=2&epoch={epoch}"));
    dee.expect("joined");
    assert_eq!(
        dee.expect_skipping_presence("chat")["seq"],
        4,
        "3 was retracted"
    );
    // Redis holds the room's keys under one hash tag.
    let keys = redis.command(&["KEYS", "roomcast:{lobby}:*"]).unwrap();
    assert!(
        keys.contains("roomcast:{lobby}:meta") && keys.contains("roomcast:{lobby}:log"),
        "{keys}"
    );
}

#[test]
fn history_and_epochs_survive_a_restart_of_every_node() {
    let Some(redis) = RedisServer::for_test() else {
        return;
    };
    let nodes = [node(&redis), node(&redis), node(&redis)];
    let mut first = connect(&nodes[0], "user=ann&room=r");
    let epoch = first.expect("joined")["epoch"].as_str().unwrap().to_owned();
    for (i, n) in nodes.iter().enumerate() {
        let ack = publish(n, json!({"room": "r", "data": i}));
        assert_eq!(ack["seq"], i + 1);
    }
    drop(first);
    for n in nodes {
        n.stop();
    }
    // Every node is new; Redis kept the room.
    let again = node(&redis);
    let mut c = connect(&again, &format!("user=bob&room=r&since=0&epoch={epoch}"));
    let j = c.expect("joined");
    assert_eq!(
        (
            j["epoch"].as_str(),
            j["seq"].as_u64(),
            j["recovered"].as_bool()
        ),
        (Some(epoch.as_str()), Some(3), Some(true)),
        "{j}"
    );
    let data: Vec<Value> = (0..3)
        .map(|_| c.expect_skipping_presence("chat")["data"].clone())
        .collect();
    assert_eq!(data, [json!(0), json!(1), json!(2)]);
    // And numbering goes on from there.
    assert_eq!(publish(&again, json!({"room": "r", "data": 3}))["seq"], 4);
}

#[test]
fn offline_inboxes_bans_mutes_and_kicks_are_shared() {
    let Some(redis) = RedisServer::for_test() else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    // Stored on A while the user is nowhere; taken on B.
    let ack = publish(&a, json!({"user": "zed", "data": "while you were out"}));
    assert_eq!(
        (ack["delivered"].as_u64(), ack["stored"].as_bool()),
        (Some(0), Some(true)),
        "{ack}"
    );
    let mut zed = connect(&b, "user=zed");
    let p = zed.expect("private");
    assert_eq!(p["data"], "while you were out");
    drop(zed);

    // A mute set on A holds on B.
    let mut bob = connect(&b, "user=bob&room=r");
    bob.expect("joined");
    let (status, _) = http(
        &a,
        "POST",
        "/api/mute",
        Some(json!({"user": "bob", "room": "r", "seconds": 60})),
    );
    assert_eq!(status, 200);
    // The mute reaches B over pub/sub: until then bob's chat goes out.
    let refused = eventually(10, || {
        bob.send(json!({"type": "chat", "room": "r", "data": "x", "id": 1}));
        let v = bob.expect_skipping_presence_or("chat", "error");
        (v["code"] == "muted").then_some(v)
    });
    assert_eq!(refused["id"], 1);

    // A kick with a ban on A closes bob's connection on B (4001), and B
    // refuses him at connect for the ban.
    let (status, kicked) = http(
        &a,
        "POST",
        "/api/kick",
        Some(json!({"user": "bob", "ban_seconds": 60, "reason": "spam"})),
    );
    assert_eq!(status, 200);
    assert_eq!(kicked, r#"{"kicked":1}"#, "bob's one connection, on node B");
    let forced = bob.until("force_disconnect");
    assert_eq!(forced["reason"], "spam");
    assert_eq!(bob.expect_close(), Some(4001));
    let mut again = Client::connect(&b, "/ws?user=bob");
    assert_eq!(again.expect("error")["code"], "forbidden");
    assert_eq!(again.expect_close(), Some(1008));
}

#[test]
fn redis_down_then_back_empty_nodes_survive_and_say_so() {
    let Some(mut redis) = RedisServer::for_test() else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    let mut bob = connect(&b, "user=bob&room=live");
    let epoch = bob.expect("joined")["epoch"].as_str().unwrap().to_owned();
    let mut acked = Vec::new();
    for i in 0..20 {
        acked.push(
            publish(&a, json!({"room": "live", "data": i}))["seq"]
                .as_u64()
                .unwrap(),
        );
    }
    for seq in &acked {
        assert_eq!(
            bob.expect_skipping_presence("chat")["seq"].as_u64(),
            Some(*seq)
        );
    }
    redis.kill();
    // Nodes notice, say so, and keep every client.
    eventually(10, || (ready(&a) == 503 && ready(&b) == 503).then_some(()));
    let (status, body) = http(
        &a,
        "POST",
        "/api/publish",
        Some(json!({"room": "live", "data": "lost?"})),
    );
    assert_eq!(status, 503, "never accepted and then lost: {body}");
    bob.send(json!({"type": "chat", "room": "live", "data": "x", "id": 7}));
    let e = bob.until("error");
    assert_eq!(
        (e["code"].as_str(), e["id"].as_u64()),
        (Some("unavailable"), Some(7))
    );
    let (_, metrics) = http(&b, "GET", "/metrics", None);
    assert!(metrics.contains("roomcast_engine_up 0"), "{metrics}");
    let mut echo = Client::connect(&a, "/echo");
    echo.send_text("\"still here\"");
    assert_eq!(echo.next(), json!("still here"));

    // Redis comes back empty (no persistence): a new epoch, and clients
    // that recover are told recovered: false, never given wrong data.
    redis.restart();
    eventually(15, || (ready(&a) == 200 && ready(&b) == 200).then_some(()));
    let ack = publish(&a, json!({"room": "live", "data": "after"}));
    let m = bob.expect_skipping_presence("chat");
    assert_eq!(
        (m["data"].as_str(), m["seq"].as_u64()),
        (Some("after"), ack["seq"].as_u64())
    );
    let mut late = connect(&a, &format!("user=cy&room=live&since=20&epoch={epoch}"));
    let j = late.expect("joined");
    assert_eq!(j["recovered"], false, "{j}");
    assert_ne!(j["epoch"], epoch.as_str());
}

#[test]
fn a_node_started_before_redis_waits_for_it() {
    if !common::redis::available() {
        return;
    }
    let mut redis = RedisServer::not_started();
    let a = node_unready(&redis);
    assert_eq!(ready(&a), 503);
    let (_, health) = http(&a, "GET", "/healthz", None);
    assert_eq!(health, "ok");
    let mut c = connect(&a, "user=ann");
    c.send(json!({"type": "join", "room": "r", "id": 1}));
    assert_eq!(c.expect("error")["code"], "unavailable");
    redis.restart();
    eventually(15, || (ready(&a) == 200).then_some(()));
    assert_eq!(c.join_room("r")["seq"], 0);
}

#[test]
fn privates_broadcasts_and_the_exclusive_policy_cross_nodes() {
    let Some(redis) = RedisServer::for_test() else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    let mut ann_a = connect(&a, "user=ann");
    let mut ann_b = connect(&b, "user=ann");
    let mut bob = connect(&b, "user=bob");
    // Every device of ann, on both nodes, and an exact count.
    let ack = eventually(10, || {
        bob.send(json!({"type": "private", "to": "ann", "data": "psst", "id": 5}));
        let ack = bob.expect("ack");
        let n = ack["delivered"].as_u64();
        for c in [&mut ann_a, &mut ann_b] {
            // Whatever arrived while the registration was on its way.
            while c.next_within(100).is_some() {}
        }
        (n == Some(2)).then_some(ack)
    });
    assert_eq!(
        (ack["id"].as_u64(), ack["stored"].as_bool()),
        (Some(5), Some(false))
    );
    let api = publish(&a, json!({"user": "ann", "data": "from the API"}));
    assert_eq!(
        (api["delivered"].as_u64(), api["stored"].as_bool()),
        (Some(2), Some(false)),
        "{api}"
    );
    for c in [&mut ann_a, &mut ann_b] {
        let p = c.expect("private");
        assert_eq!(
            (p["from"].as_str(), p["data"].as_str()),
            (Some("system"), Some("from the API"))
        );
    }

    // A broadcast from the API on A reaches everyone on B.
    publish(&a, json!({"broadcast": true, "data": "all hands"}));
    assert_eq!(bob.expect("broadcast")["data"], "all hands");
    assert_eq!(ann_b.expect("broadcast")["data"], "all hands");
    assert_eq!(ann_a.expect("broadcast")["data"], "all hands");

    // Exclusive policy (the default): ann joins r2 on B, so her
    // connection in r1 on A is moved out with 4001.
    ann_a.join_room("r1");
    ann_b.join_room("r2");
    let forced = ann_a.until("force_disconnect");
    assert_eq!(forced["reason"], "joined another room");
    assert_eq!(ann_a.expect_close(), Some(4001));

    // Nobody left: stored, and handed over at the next connect anywhere.
    drop(ann_b);
    let stored = eventually(10, || {
        bob.send(json!({"type": "private", "to": "ann", "data": "later"}));
        let ack = bob.expect("ack");
        (ack["stored"] == true).then_some(ack)
    });
    assert_eq!(stored["delivered"], 0);
    let mut back = connect(&a, "user=ann");
    assert_eq!(back.expect("private")["data"], "later");
}

#[test]
fn a_killed_node_stops_counting_within_node_ttl() {
    let Some(redis) = RedisServer::for_test() else {
        return;
    };
    let url = redis.url();
    let dead = Daemon::start(&["--engine", "redis", "--redis-url", &url, "--node-ttl", "1"]);
    let b = node(&redis);
    let mut ann = daemon_client(&dead, "/ws?user=ann");
    ann.expect("welcome");
    let ack = eventually(10, || {
        let ack = publish(&b, json!({"user": "ann", "data": 1}));
        (ack["delivered"] == 1).then_some(ack)
    });
    assert_eq!(ack["stored"], false);
    // SIGKILL: the node says nothing; its key in Redis expires.
    let mut dead = dead;
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    let after = eventually(10, || {
        let ack = publish(&b, json!({"user": "ann", "data": 2}));
        (ack["delivered"] == 0).then_some(ack)
    });
    assert_eq!(after["stored"], true, "{after}");
}

#[test]
fn chaos_redis_killed_mid_stream_loses_nothing_acknowledged() {
    let Some(mut redis) = RedisServer::for_test() else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    let mut bob = connect(&b, "user=bob&room=live");
    bob.expect("joined");
    let addr = a.addr;
    // A publisher on node A, bounded in count and time.
    let publisher = std::thread::spawn(move || {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut outcomes = Vec::new();
        for i in 0..400u64 {
            if std::time::Instant::now() > end {
                break;
            }
            let body = json!({"room": "live", "data": i}).to_string();
            let mut raw = Raw::connect(addr);
            let req = format!(
                "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            outcomes.push((i, raw.http(&req).0));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        outcomes
    });
    std::thread::sleep(std::time::Duration::from_millis(400));
    redis.kill();
    std::thread::sleep(std::time::Duration::from_millis(300));
    redis.restart();
    let outcomes = publisher.join().unwrap();
    let acked: Vec<u64> = outcomes
        .iter()
        .filter(|o| o.1 == 200)
        .map(|o| o.0)
        .collect();
    let refused = outcomes.iter().filter(|o| o.1 == 503).count();
    assert_eq!(acked.len() + refused, outcomes.len(), "only 200 or 503");
    assert!(
        refused > 0 && acked.len() > 100,
        "{} acked, {refused} refused",
        acked.len()
    );
    // Bob, still connected, got every acknowledged message once, in order.
    let last = *acked.last().unwrap();
    let mut got = Vec::new();
    while got.last() != Some(&last) {
        let m = bob.expect_skipping_presence("chat");
        got.push(m["data"].as_u64().unwrap());
    }
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "no duplicates");
    assert_eq!(sorted, got, "in order");
    for i in &acked {
        assert!(got.contains(i), "acknowledged message {i} was lost");
    }
    assert_eq!((ready(&a), ready(&b)), (200, 200));
}

#[test]
fn presence_and_online_counts_are_cluster_wide() {
    let Some(redis) = RedisServer::for_test() else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    let mut ann = connect(&a, "user=ann&room=p");
    assert_eq!(ann.expect("joined")["online"], 1);
    let mut bob = connect(&b, "user=bob&room=p");
    assert_eq!(
        bob.expect("joined")["online"],
        2,
        "ann on the other node counts"
    );
    let joined = ann.until("user_joined");
    assert_eq!(
        (joined["user"].as_str(), joined["online"].as_u64()),
        (Some("bob"), Some(2))
    );

    ann.send(json!({"type": "presence", "room": "p", "id": 1}));
    let p = ann.until("presence");
    let mut users: Vec<&str> = p["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    users.sort_unstable();
    assert_eq!((users, p["online"].as_u64()), (vec!["ann", "bob"], Some(2)));
    let (_, detail) = http(&a, "GET", "/api/rooms/p", None);
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(
        (detail["online"].as_u64(), detail["connections"].as_u64()),
        (Some(2), Some(2)),
        "{detail}"
    );
    // Every room with members on any node, from either node.
    let (_, rooms) = http(&b, "GET", "/api/rooms", None);
    let rooms: Value = serde_json::from_str(&rooms).unwrap();
    assert_eq!(
        rooms,
        json!({"rooms": [{"room": "p", "online": 2, "connections": 2, "seq": 0}]})
    );
    let mut solo = connect(&b, "user=sol&room=elsewhere");
    solo.expect("joined");
    let (_, rooms) = http(&a, "GET", "/api/rooms", None);
    assert!(
        rooms.contains("\"room\":\"elsewhere\",\"online\":1"),
        "a room with no member on A: {rooms}"
    );
    drop(solo);
    // A user on the other node, as the API of this one sees them.
    let (status, bob_there) = http(&a, "GET", "/api/users/bob", None);
    assert_eq!(status, 200);
    let bob_there: Value = serde_json::from_str(&bob_there).unwrap();
    assert_eq!(
        bob_there,
        json!({"user": "bob", "online": true, "connections": 1, "rooms": ["p"]})
    );
    let (_, nobody) = http(&b, "GET", "/api/users/zoe", None);
    assert_eq!(
        serde_json::from_str::<Value>(&nobody).unwrap(),
        json!({"user": "zoe", "online": false, "connections": 0, "rooms": []})
    );

    drop(bob);
    let left = ann.until("user_left");
    assert_eq!(
        (left["user"].as_str(), left["online"].as_u64()),
        (Some("bob"), Some(1))
    );

    // A node killed without a word: its member leaves within node_ttl.
    let url = redis.url();
    let dead = Daemon::start(&["--engine", "redis", "--redis-url", &url, "--node-ttl", "1"]);
    let mut cy = eventually(10, || {
        let mut c = daemon_client(&dead, "/ws?user=cy");
        c.expect("welcome");
        c.send(json!({"type": "join", "room": "p"}));
        let v = c.next();
        (v["type"] == "joined").then_some(c)
    });
    let came = ann.until("user_joined");
    assert_eq!(came["user"], "cy");
    let mut dead = dead;
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    let gone = ann.until("user_left");
    assert_eq!(
        (gone["user"].as_str(), gone["online"].as_u64()),
        (Some("cy"), Some(1))
    );
    drop(cy.ws.close(None));
}

#[test]
fn max_connections_per_user_counts_every_node() {
    let Some(redis) = RedisServer::for_test() else {
        return;
    };
    let url = redis.url();
    let limited = || {
        let url = url.clone();
        let n = TestServer::start(move |c| {
            c.engine = EngineKind::Redis;
            c.redis_url = url;
            c.max_connections_per_user = 2;
        });
        eventually(10, || (ready(&n) == 200).then_some(()));
        n
    };
    let (a, b) = (limited(), limited());
    let _one = connect(&a, "user=ann");
    let _two = connect(&b, "user=ann");
    let mut third = Client::connect(&a, "/ws?user=ann");
    assert_eq!(third.expect("error")["code"], "too_many_connections");
    assert_eq!(third.expect_close(), Some(1008));
    // Another user is not affected.
    connect(&a, "user=bob");
    drop(_two);
    // Once one is gone, the next gets in.
    eventually(10, || {
        let mut c = Client::connect(&a, "/ws?user=ann");
        (c.next()["type"] == "welcome").then_some(())
    });
}

#[test]
fn a_redis_with_a_password_and_another_database() {
    let Some(redis) = RedisServer::with_password("s3cret") else {
        return;
    };
    let url = format!("redis://:s3cret@127.0.0.1:{}/3", redis.port);
    let n = TestServer::start(move |c| {
        c.engine = EngineKind::Redis;
        c.redis_url = url;
    });
    eventually(10, || (ready(&n) == 200).then_some(()));
    assert_eq!(publish(&n, json!({"room": "db3", "data": 1}))["seq"], 1);
    // The room's keys are in database 3, not 0.
    assert!(redis
        .command(&["EXISTS", "roomcast:{db3}:meta"])
        .unwrap()
        .ends_with(":0\r\n"));
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    use std::io::{Read, Write};
    raw.write_all(b"AUTH s3cret\r\nSELECT 3\r\nEXISTS roomcast:{db3}:meta\r\n")
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 256];
    while got.matches("\r\n").count() < 3 {
        let k = raw.read(&mut buf).unwrap();
        got.push_str(std::str::from_utf8(&buf[..k]).unwrap());
    }
    assert_eq!(got, "+OK\r\n+OK\r\n:1\r\n");
    // A wrong password: the node never gets ready, and says so.
    let url = format!("redis://:wrong@127.0.0.1:{}/0", redis.port);
    let bad = TestServer::start(move |c| {
        c.engine = EngineKind::Redis;
        c.redis_url = url;
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(ready(&bad), 503);
}

#[test]
fn a_join_while_the_node_first_connects_waits_for_it() {
    let Some(redis) = RedisServer::for_test() else {
        return;
    };
    // Joins at once, before the node's first connection to Redis is up
    // (as a restarted --workers worker gets them): they wait, not refused.
    for _ in 0..5 {
        let n = node_unready(&redis);
        let mut c = connect(&n, "user=early&room=r");
        assert_eq!(c.expect("joined")["room"], "r");
    }
}
