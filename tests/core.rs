//! The core: HTTP endpoints, the opening handshake, /echo, hostile frames,
//! timeouts, limits and shutdown, against a real server on 127.0.0.1:0.

mod common;

use common::*;
use roomcast::proto::frame::OpCode;
use roomcast::proto::fuzzing::Decoded;
use std::io::Write;
use std::time::{Duration, Instant};
use tungstenite::Message;

#[test]
fn healthz_keep_alive_and_json_404() {
    let server = TestServer::start(|_| {});
    let mut raw = Raw::connect(server.addr);
    let (status, _, body) = raw.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, "ok"));
    // Same connection, two pipelined requests.
    let (a, _, _) =
        raw.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(a, 200);
    let (b, head, body) = raw.read_response();
    assert_eq!(b, 404);
    assert!(head.contains("application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["error"].is_string());
    assert!(raw.wait_eof(), "404 closes the connection");
}

#[test]
fn echo_with_tungstenite() {
    let server = TestServer::start(|_| {});
    let (mut ws, resp) = tungstenite::connect(server.url("/echo")).unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hello κόσμε")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hello κόσμε"));
    let big = vec![7u8; 60_000];
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(big));
    ws.send(Message::Ping(b"p".to_vec())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"p".to_vec()));
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000));
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn frames_right_behind_the_request_are_not_lost() {
    let server = TestServer::start(|_| {});
    let mut raw = Raw::connect(server.addr);
    let mut bytes = upgrade_request("/echo").into_bytes();
    bytes.extend(roomcast::proto::frame::encode_frame(
        true,
        OpCode::Text,
        Some(KEY),
        b"early",
    ));
    raw.send(&bytes);
    let (status, _, _) = raw.read_response();
    assert_eq!(status, 101);
    assert_eq!(raw.next_event(), Some(Decoded::Text("early".into())));
}

#[test]
fn fragmented_message_with_ping_between_fragments() {
    let server = TestServer::start(|_| {});
    let mut raw = Raw::upgrade(server.addr, "/echo");
    raw.send_frame(false, OpCode::Text, b"frag");
    raw.send_frame(true, OpCode::Ping, b"x");
    raw.send_frame(true, OpCode::Continuation, b"ment");
    assert_eq!(raw.next_event(), Some(Decoded::Pong(b"x".to_vec())));
    assert_eq!(raw.next_event(), Some(Decoded::Text("fragment".into())));
}

fn status_of(server: &TestServer, request: &str) -> (u16, String) {
    let mut raw = Raw::connect(server.addr);
    let (status, head, _) = raw.http(request);
    (status, head)
}

#[test]
fn every_handshake_error_gets_its_status() {
    let server = TestServer::start(|_| {});
    let good = upgrade_request("/echo");
    let cases: Vec<(String, u16)> = vec![
        (good.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), 400),
        (
            good.replace("Upgrade: websocket\r\n", "Upgrade: h2c\r\n"),
            400,
        ),
        (
            good.replace("Connection: Upgrade", "Connection: keep-alive"),
            400,
        ),
        (good.replace("GET", "POST"), 405),
        (good.replace("/echo", "/nope"), 404),
        (good.replace("Version: 13", "Version: 8"), 426),
        (good.replace("HTTP/1.1", "HTTP/1.0"), 505),
        (format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000)), 414),
        (
            good.replace("Host: localhost", &format!("Host: {}", "h".repeat(9000))),
            431,
        ),
        (
            good.replace("Host: localhost", &"X-Filler: 0123456789\r\n".repeat(70))
                .replace("\r\n\r\n", "\r\nHost: x\r\n\r\n"),
            431,
        ),
        ("GARBAGE\r\n\r\n".to_string(), 400),
    ];
    for (request, expected) in cases {
        let (status, head) = status_of(&server, &request);
        assert_eq!(status, expected, "{}", &request[..request.len().min(80)]);
        if expected == 426 {
            assert!(head.contains("Sec-WebSocket-Version: 13"), "{head}");
        }
    }
    // The server still serves others.
    let (mut ws, _) = tungstenite::connect(server.url("/echo")).unwrap();
    ws.send(Message::text("still here")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("still here"));
}

/// Send `bytes` on a fresh /echo connection; return the close code received.
fn close_code_for(server: &TestServer, bytes: &[u8]) -> Option<u16> {
    let mut raw = Raw::upgrade(server.addr, "/echo");
    raw.send(bytes);
    let code = raw.expect_close();
    assert!(
        raw.wait_eof(),
        "the server closes the TCP connection after failing it"
    );
    code
}

fn masked(fin: bool, op: OpCode, payload: &[u8]) -> Vec<u8> {
    roomcast::proto::frame::encode_frame(fin, op, Some(KEY), payload)
}

#[test]
fn hostile_frames_get_their_close_codes() {
    let server = TestServer::start(|c| c.max_message_size = 1000);
    let unmasked = roomcast::proto::frame::encode_frame(true, OpCode::Text, None, b"hi");
    assert_eq!(close_code_for(&server, &unmasked), Some(1002), "unmasked");
    assert_eq!(
        close_code_for(&server, &[0xc1, 0x80, 1, 2, 3, 4]),
        Some(1002),
        "RSV1"
    );
    assert_eq!(
        close_code_for(&server, &[0x83, 0x80, 1, 2, 3, 4]),
        Some(1002),
        "opcode 3"
    );
    assert_eq!(
        close_code_for(&server, &[0x8c, 0x80, 1, 2, 3, 4]),
        Some(1002),
        "opcode 12"
    );
    assert_eq!(
        close_code_for(&server, &masked(true, OpCode::Ping, &[0; 126])),
        Some(1002),
        "long ping"
    );
    assert_eq!(
        close_code_for(&server, &masked(false, OpCode::Ping, b"")),
        Some(1002),
        "fragmented ping"
    );
    assert_eq!(
        close_code_for(&server, &masked(true, OpCode::Continuation, b"x")),
        Some(1002),
        "stray continuation"
    );
    assert_eq!(
        close_code_for(&server, &masked(true, OpCode::Close, &[0x03, 0xed])),
        Some(1002),
        "close 1005"
    );
    assert_eq!(
        close_code_for(&server, &masked(true, OpCode::Close, &[0x03])),
        Some(1002),
        "1-byte close"
    );
    assert_eq!(
        close_code_for(&server, &masked(true, OpCode::Text, &[0xc0, 0xaf])),
        Some(1007),
        "overlong"
    );
    let big = [
        masked(false, OpCode::Binary, &[0; 600]),
        masked(true, OpCode::Continuation, &[0; 600]),
    ]
    .concat();
    assert_eq!(
        close_code_for(&server, &big),
        Some(1009),
        "fragments over the limit"
    );
    assert_eq!(
        close_code_for(&server, &masked(true, OpCode::Binary, &[0; 1001])),
        Some(1009),
        "frame over the limit"
    );
}

#[test]
fn huge_length_is_refused_at_once() {
    let server = TestServer::start(|_| {});
    // 2^63: the MSB must be 0 (1002); 2^62: over the limit (1009). Neither
    // waits for payload that will never come.
    let msb = [&[0x82u8, 0xff][..], &(1u64 << 63).to_be_bytes(), &KEY].concat();
    assert_eq!(close_code_for(&server, &msb), Some(1002));
    let big = [&[0x82u8, 0xff][..], &(1u64 << 62).to_be_bytes(), &KEY].concat();
    assert_eq!(close_code_for(&server, &big), Some(1009));
}

#[test]
fn invalid_utf8_fails_fast_before_the_message_ends() {
    let server = TestServer::start(|_| {});
    let mut raw = Raw::upgrade(server.addr, "/echo");
    // A surrogate (ED A0 80) in the first fragment: the close must come
    // although the message is unfinished and no more bytes are sent.
    raw.send(&masked(
        false,
        OpCode::Text,
        &[b'o', b'k', 0xed, 0xa0, 0x80],
    ));
    assert_eq!(raw.expect_close(), Some(1007));
    // Same inside a single frame whose rest never arrives.
    let mut raw = Raw::upgrade(server.addr, "/echo");
    let frame = masked(
        true,
        OpCode::Text,
        &[b'a', 0xf4, 0x90, 0x80, 0x80, b'b', b'c', b'd'],
    );
    raw.send(&frame[..9]); // header (6), "a", F4 90: already past U+10FFFF
    assert_eq!(raw.expect_close(), Some(1007));
}

#[test]
fn valid_message_before_a_bad_frame_is_echoed_first() {
    let server = TestServer::start(|_| {});
    let mut raw = Raw::upgrade(server.addr, "/echo");
    raw.send(
        &[
            masked(true, OpCode::Text, b"first"),
            vec![0x83, 0x80, 1, 2, 3, 4],
        ]
        .concat(),
    );
    assert_eq!(raw.next_event(), Some(Decoded::Text("first".into())));
    assert_eq!(raw.expect_close(), Some(1002));
}

#[test]
fn close_handshake_echoes_the_code_and_closes_tcp() {
    let server = TestServer::start(|_| {});
    let mut raw = Raw::upgrade(server.addr, "/echo");
    raw.send(&masked(
        true,
        OpCode::Close,
        &[0x0f, 0xa0, b'b', b'y', b'e'],
    )); // 4000
    assert_eq!(
        raw.next_event(),
        Some(Decoded::Close(Some(4000), String::new()))
    );
    assert!(raw.wait_eof());
}

#[test]
fn slowloris_is_dropped_at_handshake_timeout() {
    let server = TestServer::start(|c| c.handshake_timeout = 0.3);
    let mut raw = Raw::connect(server.addr);
    raw.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n");
    let start = Instant::now();
    assert!(raw.wait_eof(), "the server drops an incomplete request");
    let waited = start.elapsed();
    assert!(waited < Duration::from_secs(5), "dropped after {waited:?}");
    // A complete request on another connection is still served.
    let mut ok = Raw::connect(server.addr);
    assert_eq!(ok.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").0, 200);
}

#[test]
fn silent_peer_is_pinged_then_closed() {
    let server = TestServer::start(|c| {
        c.ping_interval = 0.2;
        c.ping_timeout = 0.6;
        c.close_timeout = 0.3;
    });
    let mut raw = Raw::upgrade(server.addr, "/echo");
    assert_eq!(raw.next_event(), Some(Decoded::Ping(vec![])));
    // We never answer: the server closes.
    loop {
        match raw.next_event() {
            Some(Decoded::Close(..)) | None => break,
            Some(Decoded::Ping(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(raw.wait_eof());
}

#[test]
fn answering_pings_keeps_a_connection_open() {
    let server = TestServer::start(|c| {
        c.ping_interval = 0.2;
        c.ping_timeout = 2.0;
    });
    let mut raw = Raw::upgrade(server.addr, "/echo");
    for _ in 0..4 {
        assert_eq!(raw.next_event(), Some(Decoded::Ping(vec![])));
        raw.send_frame(true, OpCode::Pong, b"");
    }
    raw.send_frame(true, OpCode::Text, b"alive");
    assert_eq!(raw.next_event(), Some(Decoded::Text("alive".into())));
}

#[test]
fn max_connections_answers_503_before_upgrade() {
    let server = TestServer::start(|c| c.max_connections = 2);
    let _a = Raw::upgrade(server.addr, "/echo");
    let _b = Raw::upgrade(server.addr, "/echo");
    let mut c = Raw::connect(server.addr);
    let (status, _, body) = c.http(&upgrade_request("/echo"));
    assert_eq!(status, 503);
    assert!(body.contains("error"));
    // Health checks still work at the limit.
    let mut h = Raw::connect(server.addr);
    assert_eq!(h.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").0, 200);
    drop(_a);
    // Once one leaves, a new upgrade succeeds.
    eventually(5, || {
        let mut d = Raw::connect(server.addr);
        (d.http(&upgrade_request("/echo")).0 == 101).then_some(())
    });
}

#[test]
fn echo_endpoint_can_be_turned_off() {
    let server = TestServer::start(|c| c.echo_endpoint = false);
    let mut raw = Raw::connect(server.addr);
    assert_eq!(raw.http(&upgrade_request("/echo")).0, 404);
}

#[test]
fn sigterm_drains_with_1001_and_exits_zero() {
    let mut daemon = Daemon::start(&["--close-timeout", "2"]);
    let (mut ws, _) = tungstenite::connect(daemon.url("/echo")).unwrap();
    ws.send(Message::text("before")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("before"));
    // SAFETY: kill(2) on the PID of the child this test started.
    assert_eq!(
        unsafe { libc::kill(daemon.child.id() as i32, libc::SIGTERM) },
        0
    );
    match ws.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    let _ = ws.flush(); // our close reply goes out
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        std::net::TcpStream::connect(daemon.addr).is_err(),
        "no longer accepting"
    );
}

#[test]
fn out_of_descriptors_neither_spins_nor_stalls() {
    // 100 descriptors: about 90 connections fit, the rest find none.
    let daemon = Daemon::start_limited(&[], Some(100));
    let mut held = Vec::new();
    for _ in 0..300 {
        match std::net::TcpStream::connect(daemon.addr) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_millis(300)); // let the server meet EMFILE
    let before = daemon.cpu_seconds();
    std::thread::sleep(Duration::from_secs(2));
    let spent = daemon.cpu_seconds() - before;
    // Not a speed check: a loop that spins on a readable listener burns the
    // whole 2 s; an idle one burns nothing.
    assert!(
        spent < 0.5,
        "server used {spent} s of CPU while out of descriptors"
    );
    // Once connections leave, new ones are served again.
    held.clear();
    eventually(10, || {
        let mut raw = Raw::connect(daemon.addr);
        raw.stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        raw.fill()
            .ok()
            .filter(|_| raw.buf.starts_with(b"HTTP/1.1 200"))
    });
}

#[test]
fn print_config_and_bad_values() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomcast"))
        .args(["--print-config", "--max-connections", "7"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("max_connections = 7"), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomcast"))
        .args(["--ping-timeout", "1", "--ping-interval", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ping_timeout"));
}

#[test]
fn garbage_after_close_and_abrupt_disconnects_do_not_hurt_others() {
    let server = TestServer::start(|_| {});
    let (mut ws, _) = tungstenite::connect(server.url("/echo")).unwrap();
    for i in 0..50 {
        let mut raw = Raw::upgrade(server.addr, "/echo");
        raw.send(&masked(false, OpCode::Binary, &[i; 10]));
        drop(raw); // vanish mid-message
        let mut raw = Raw::connect(server.addr);
        raw.stream.write_all(&[0xff; 100]).unwrap();
    }
    ws.send(Message::text("ok")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("ok"));
}
