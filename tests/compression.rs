//! permessage-deflate (RFC 7692, SPEC §8), batching and the write delay
//! against the real server: negotiation through the handshake, deflate
//! bombs from a raw socket, one compression per broadcast, batches through
//! a tungstenite client. (Python `websockets` interop: tests/interop/.)

mod common;

use common::{Client, Daemon, Raw, TestServer};
use flate2::{Compress, Compression, FlushCompress};
use roomcast::proto::deflate::Inflater;
use roomcast::proto::frame::{encode_frame, OpCode};
use roomcast::proto::fuzzing::Decoded;
use roomcast::proto::{Decoder, Side};
use serde_json::json;
use std::net::SocketAddr;

/// An upgrade request offering `extensions` (if any).
fn offer(path: &str, extensions: Option<&str>) -> String {
    let ext = extensions
        .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
        .unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    )
}

/// The `Sec-WebSocket-Extensions` value of a 101 answer, if any.
fn agreed(head: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-extensions")
            .then(|| value.trim().to_owned())
    })
}

/// Upgrade with an offer; the raw client (decoding RSV1 if agreed) and the agreement.
fn upgrade(addr: SocketAddr, path: &str, extensions: Option<&str>) -> (Raw, Option<String>) {
    let mut raw = Raw::connect(addr);
    let (status, head, _) = raw.http(&offer(path, extensions));
    assert_eq!(status, 101, "{head}");
    let ext = agreed(&head);
    raw.decoder = Decoder::new(Side::Client, 64 << 20).with_deflate(ext.is_some());
    (raw, ext)
}

/// `payload` as a raw DEFLATE stream ending in a sync flush, without its
/// final `00 00 ff ff` (RFC 7692 §7.2.1).
fn deflate(payload: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(payload.len() + 1024);
    c.compress_vec(payload, &mut out, FlushCompress::Sync)
        .unwrap();
    assert_eq!(c.total_in() as usize, payload.len());
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// A bomb: `mib` MiB of zeros at deflate's ~1000:1. One MiB compressed
/// with a sync flush ends byte-aligned and refers to nothing before it, so
/// copies of it in a row are one valid stream of `mib` MiB.
fn bomb(mib: usize) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut one = Vec::with_capacity(8 * 1024);
    c.compress_vec(&vec![0u8; 1 << 20], &mut one, FlushCompress::Sync)
        .unwrap();
    assert_eq!(c.total_in(), 1 << 20);
    let mut out = one.repeat(mib);
    out.truncate(out.len() - 4);
    out
}

/// A masked data frame with RSV1 (compressed) set.
fn compressed_frame(op: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut f = encode_frame(true, op, Some(common::KEY), payload);
    f[0] |= 0x40;
    f
}

/// The next data message, inflated if it came compressed.
fn next_text(raw: &mut Raw, inflater: &mut Inflater) -> String {
    loop {
        match raw.next_event() {
            Some(Decoded::Text(t)) => return t,
            Some(Decoded::Compressed(_, body)) => {
                let plain = inflater.inflate(&body, 64 << 20).expect("inflates");
                return String::from_utf8(plain.to_vec()).expect("UTF-8");
            }
            Some(Decoded::Ping(_) | Decoded::Pong(_)) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[test]
fn the_handshake_negotiates_what_the_client_offers() {
    let on = TestServer::start(|c| c.compression = true);
    let cases: [(&str, Option<&str>); 7] = [
        (
            "permessage-deflate",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        // What browsers send.
        (
            "permessage-deflate; client_max_window_bits",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        (
            "permessage-deflate; server_max_window_bits=8",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8"),
        ),
        (
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12"),
        ),
        // Malformed: declined, the upgrade still succeeds.
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; colour=blue", None),
        // The first acceptable offer of several wins.
        (
            "permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=9",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"),
        ),
    ];
    for (offered, expected) in cases {
        let (_raw, ext) = upgrade(on.addr, "/echo", Some(offered));
        assert_eq!(ext.as_deref(), expected, "offer {offered:?}");
    }
    let (_raw, ext) = upgrade(on.addr, "/echo", Some("x-webkit-deflate-frame"));
    assert_eq!(ext, None);
    // compression = false (the default): never agreed.
    let off = TestServer::start(|_| {});
    let (_raw, ext) = upgrade(off.addr, "/ws?user=a", Some("permessage-deflate"));
    assert_eq!(ext, None);
}

#[test]
fn compressed_messages_are_inflated_and_echoed_compressed() {
    let s = TestServer::start(|c| c.compression = true);
    let (mut raw, ext) = upgrade(s.addr, "/echo", Some("permessage-deflate"));
    assert!(ext.is_some());
    let mut inflater = Inflater::default();
    let text = "弹幕 danmaku ".repeat(500);
    raw.send(&compressed_frame(OpCode::Text, &deflate(text.as_bytes())));
    match raw.next_event() {
        Some(Decoded::Compressed(op, body)) => {
            assert_eq!(op, 1);
            assert_eq!(inflater.inflate(&body, 1 << 20).unwrap(), text.as_bytes());
        }
        other => panic!("expected a compressed echo, got {other:?}"),
    }
    // Plain messages still work on the same connection.
    raw.send_frame(true, OpCode::Text, b"plain");
    assert_eq!(next_text(&mut raw, &mut inflater), "plain");
    // Compressed invalid UTF-8: 1007 after inflating.
    raw.send(&compressed_frame(OpCode::Text, &deflate(b"ok \xff")));
    assert_eq!(raw.expect_close(), Some(1007));
    // RSV1 without the extension: 1002.
    let (mut plain, _) = upgrade(s.addr, "/echo", None);
    plain.send(&compressed_frame(OpCode::Text, &deflate(b"hello")));
    assert_eq!(plain.expect_close(), Some(1002));
}

#[test]
fn deflate_bombs_close_1009_without_growing_the_server() {
    // 2 MiB messages, so a 1 GiB bomb (~1 MB compressed) gets through the
    // frame-length check and must be stopped while inflating.
    let d = Daemon::start(&[
        "--compression",
        "true",
        "--max-message-size",
        "2097152",
        "--max-backpressure",
        "4194304",
    ]);
    let gib = bomb(1024);
    assert!(
        gib.len() < 2 << 20,
        "the bomb fits a message: {}",
        gib.len()
    );
    let mib_64 = bomb(64);
    // It is what it claims: 1 GiB inflated (counted, not kept).
    let mut check = flate2::Decompress::new(false);
    let mut sink = vec![0u8; 1 << 20];
    let mut input = &gib[..];
    while !input.is_empty() {
        let before = check.total_in();
        check
            .decompress(input, &mut sink, flate2::FlushDecompress::None)
            .unwrap();
        input = &input[(check.total_in() - before) as usize..];
    }
    assert_eq!(check.total_out(), 1 << 30);
    // A bystander keeps being served.
    let (mut bystander, _) = upgrade(d.addr, "/echo", Some("permessage-deflate"));
    let mut inflater = Inflater::default();
    let warm = |raw: &mut Raw, inflater: &mut Inflater| {
        raw.send_frame(true, OpCode::Text, b"still here");
        assert_eq!(next_text(raw, inflater), "still here");
    };
    warm(&mut bystander, &mut inflater);
    let rss_before = d.rss();
    for (i, bomb) in [&gib, &mib_64, &gib, &gib, &mib_64].iter().enumerate() {
        let (mut raw, ext) = upgrade(d.addr, "/echo", Some("permessage-deflate"));
        assert!(ext.is_some());
        // Binary, as one frame, and (the third) as fragments.
        if i == 2 {
            let half = bomb.len() / 2;
            let mut first = encode_frame(false, OpCode::Binary, Some(common::KEY), &bomb[..half]);
            first[0] |= 0x40;
            raw.send(&first);
            raw.send(&encode_frame(
                true,
                OpCode::Continuation,
                Some(common::KEY),
                &bomb[half..],
            ));
        } else {
            raw.send(&compressed_frame(OpCode::Binary, bomb));
        }
        assert_eq!(raw.expect_close(), Some(1009), "bomb {i}");
        warm(&mut bystander, &mut inflater);
    }
    let rss_after = d.rss();
    // Five bombs of up to 1 GiB: the inflater stopped at 2 MiB each time.
    assert!(
        rss_after < rss_before + (8 << 20),
        "RSS {rss_before} -> {rss_after}"
    );
}

fn metric(addr: SocketAddr, name: &str) -> f64 {
    let mut raw = Raw::connect(addr);
    let (status, _, body) =
        raw.http("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn a_room_message_is_compressed_once_for_every_member() {
    let s = TestServer::start(|c| c.compression = true);
    let mut inflater = Inflater::default();
    let mut members: Vec<Raw> = (0..4)
        .map(|i| {
            let ext = if i < 3 {
                Some("permessage-deflate")
            } else {
                None
            };
            let (mut raw, agreed) = upgrade(s.addr, &format!("/ws?user=m{i}&room=zip"), ext);
            assert_eq!(agreed.is_some(), i < 3);
            loop {
                let v: serde_json::Value =
                    serde_json::from_str(&next_text(&mut raw, &mut inflater)).unwrap();
                if v["type"] == "joined" {
                    break;
                }
            }
            raw
        })
        .collect();
    let text = "a comment long enough to be worth compressing, ".repeat(4);
    let mut author = Client::join(&s, "author");
    author.join_room("zip");
    let before = metric(s.addr, "roomcast_compressed_messages_total");
    author.send(json!({"type": "chat", "room": "zip", "data": {"text": text}}));
    let mut bodies = Vec::new();
    for (i, raw) in members.iter_mut().enumerate() {
        let chat = loop {
            match raw.next_event() {
                Some(Decoded::Compressed(_, body)) => {
                    assert!(i < 3, "a plain member got a compressed frame");
                    bodies.push(body.clone());
                    let t = inflater.inflate(&body, 1 << 20).unwrap().to_vec();
                    let v: serde_json::Value = serde_json::from_slice(&t).unwrap();
                    if v["type"] == "chat" {
                        break v;
                    }
                }
                Some(Decoded::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "chat" {
                        assert_eq!(i, 3, "a deflate member got a plain chat");
                        break v;
                    }
                }
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(chat["data"]["text"], text.as_str());
    }
    // The same compressed bytes for all three, from one compression.
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let after = metric(s.addr, "roomcast_compressed_messages_total");
    assert_eq!(after - before, 1.0, "one compression for three members");
}

#[test]
fn batching_clients_get_arrays_in_order_and_others_single_messages() {
    let s = TestServer::start(|c| {
        c.batch_window_ms = 100;
        c.rate_limit.per_sec = 0.0;
    });
    let mut batcher = Client::connect(&s, "/ws?user=b&room=hot&batch=1");
    assert_eq!(batcher.expect("welcome")["batch_window_ms"], 100);
    batcher.expect("joined");
    let mut plain = Client::connect(&s, "/ws?user=p&room=hot");
    assert!(plain.expect("welcome").get("batch_window_ms").is_none());
    plain.expect("joined");
    let mut author = Client::join(&s, "author");
    author.join_room("hot");
    for i in 0..30 {
        author.send(json!({"type": "chat", "room": "hot", "data": i}));
    }
    // A private is never held back by the window.
    author.send(json!({"type": "private", "to": "b", "data": "now"}));
    let mut seqs = Vec::new();
    let mut arrays = 0;
    let mut private = false;
    while seqs.len() < 30 || !private {
        let v = batcher.next();
        if let Some(items) = v.as_array() {
            arrays += 1;
            for m in items {
                assert_eq!(m["type"], "chat");
                assert_eq!(m["data"], seqs.len());
                seqs.push(m["seq"].as_u64().unwrap());
            }
        } else if v["type"] == "private" {
            assert_eq!(v["data"], "now");
            private = true;
        }
    }
    assert_eq!(seqs, (1..=30).collect::<Vec<u64>>());
    assert!((1..30).contains(&arrays), "{arrays} batch frames");
    // The plain member got 30 single chats.
    for i in 0..30 {
        let v = plain.expect_skipping_presence("chat");
        assert_eq!(v["data"], i);
    }
}

#[test]
fn batches_and_compression_together_reach_every_member() {
    let s = TestServer::start(|c| {
        c.batch_window_ms = 20;
        c.compression = true;
        c.rate_limit.per_sec = 0.0;
    });
    let mut inflater = Inflater::default();
    let (mut raw, ext) = upgrade(
        s.addr,
        "/ws?user=z&room=both&batch=1",
        Some("permessage-deflate"),
    );
    assert!(ext.is_some());
    while !next_text(&mut raw, &mut inflater).contains("\"joined\"") {}
    let mut author = Client::join(&s, "author");
    author.join_room("both");
    for i in 0..200 {
        author
            .send(json!({"type": "chat", "room": "both", "data": {"i": i, "pad": "弹幕弹幕弹幕"}}));
    }
    let mut got = 0;
    while got < 200 {
        let text = next_text(&mut raw, &mut inflater);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for m in v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]) {
            if m["type"] == "chat" {
                assert_eq!(m["data"]["i"], got);
                got += 1;
            }
        }
    }
}

#[test]
fn with_a_write_delay_everything_still_arrives_in_order() {
    let s = TestServer::start(|c| {
        c.write_delay_ms = 30;
        c.rate_limit.per_sec = 0.0;
    });
    let mut reader = Client::connect(&s, "/ws?user=r&room=slow");
    reader.expect("welcome");
    reader.expect("joined");
    let mut author = Client::join(&s, "author");
    author.join_room("slow");
    for i in 0..100 {
        author.send(json!({"type": "chat", "room": "slow", "data": i}));
    }
    for i in 0..100 {
        assert_eq!(reader.expect_skipping_presence("chat")["data"], i);
    }
    // Echo and HTTP answers are delayed, never lost.
    let mut raw = Raw::upgrade(s.addr, "/echo");
    raw.send_frame(true, OpCode::Text, b"late but here");
    assert!(matches!(raw.next_event(), Some(Decoded::Text(t)) if t == "late but here"));
    let mut r = Raw::connect(s.addr);
    let (status, _, body) = r.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((status, body.trim()), (200, "ok"));
}

#[test]
fn shutdown_sends_collected_batches_before_closing() {
    let s = TestServer::start(|c| {
        c.batch_window_ms = 10_000;
        c.close_timeout = 2.0;
    });
    let mut batcher = Client::connect(&s, "/ws?user=b&room=last&batch=1");
    batcher.expect("welcome");
    batcher.expect("joined");
    let mut author = Client::join(&s, "author");
    author.join_room("last");
    author.send(json!({"type": "chat", "room": "last", "data": "before shutdown"}));
    // The author's own copy proves the chat was handled; the batcher's
    // copy waits in the 10 s window.
    assert_eq!(author.expect("chat")["data"], "before shutdown");
    while let Some(v) = batcher.next_within(200) {
        assert!(!v.is_array(), "the batch went before its window: {v}");
    }
    let stopping = std::thread::spawn(move || s.stop());
    let batch = batcher.next();
    assert_eq!(batch[0]["data"], "before shutdown", "{batch}");
    assert_eq!(batcher.expect_close(), Some(1001));
    stopping.join().unwrap();
}
