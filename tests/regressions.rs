//! Regression tests for bugs found in review, each against the real server.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::Command;

#[test]
fn head_answers_have_no_body_and_keep_alive_framing_holds() {
    // A HEAD answer with a body would be read as the start of the next
    // answer on a keep-alive connection.
    let server = TestServer::start(|_| {});
    let mut raw = Raw::connect(server.addr);
    raw.send(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = loop {
        if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break String::from_utf8_lossy(&raw.buf[..end + 4]).into_owned();
        }
        raw.fill().expect("head");
    };
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Length: 2\r\n"), "{head}");
    raw.buf.drain(..head.len());
    // The next bytes are the second answer's status line, not "ok".
    let (status, _, body) = raw.read_response();
    assert_eq!((status, body.as_str()), (200, "ok"));
    // An error answer to HEAD has no body either.
    let mut raw = Raw::connect(server.addr);
    raw.send(b"HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut all = Vec::new();
    while raw.fill().is_ok() {}
    all.extend_from_slice(&raw.buf);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "a body followed: {text}");
}

#[test]
fn api_path_segments_are_percent_decoded_not_form_decoded() {
    let server = TestServer::start(|_| {});
    for room in ["a+b", "x&y", "a b"] {
        let mut c = Client::join(&server, "u");
        c.join_room(room);
        c.send(json!({"type": "chat", "data": room}));
        c.expect("chat");
        let path = format!(
            "/api/rooms/{}",
            room.replace(' ', "%20").replace('&', "%26")
        );
        let mut raw = Raw::connect(server.addr);
        let (status, _, body) = raw.http(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(status, 200, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["room"], room, "{path}");
        // The raw `&` is a literal in a path too.
        if room == "x&y" {
            let mut raw = Raw::connect(server.addr);
            let (status, _, body) = raw.http("GET /api/rooms/x&y HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(status, 200);
            assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["room"], "x&y");
        }
        c.send(json!({"type": "leave", "room": room}));
        c.expect("left");
    }
    // `a+b` is not `a b`: only the rooms that exist are found.
    let mut raw = Raw::connect(server.addr);
    let (status, _, _) = raw.http("GET /api/rooms/c+d HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 404);
}

#[test]
fn lowercase_bearer_scheme_is_accepted() {
    let server = TestServer::start(|c| c.api_key = Some("k3y".into()));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let mut raw = Raw::connect(server.addr);
        let (status, _, body) = raw.http(&format!(
            "GET /api/stats HTTP/1.1\r\nHost: x\r\nAuthorization: {scheme} k3y\r\n\r\n"
        ));
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    let mut raw = Raw::connect(server.addr);
    let (status, _, _) =
        raw.http("GET /api/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Basic k3y\r\n\r\n");
    assert_eq!(status, 401);
}

#[test]
fn hmac_config_file_starts_with_the_secret_in_the_environment() {
    let dir = std::env::temp_dir().join(format!("roomcast-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hmac.toml");
    std::fs::write(&path, "auth = \"hmac\"\n").unwrap();
    let run = |secret: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roomcast"));
        cmd.args(["--config", path.to_str().unwrap(), "--print-config"])
            .env_remove("ROOMCAST_AUTH_SECRET");
        if let Some(s) = secret {
            cmd.env("ROOMCAST_AUTH_SECRET", s);
        }
        cmd.output().expect("run roomcast")
    };
    let with = run(Some("from-env"));
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert!(String::from_utf8_lossy(&with.stdout).contains("auth_secret = \"<set>\""));
    let without = run(None);
    assert_eq!(without.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&without.stderr).contains("auth_secret"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn genconfig_prints_every_key_and_parses_back_to_the_defaults() {
    let bin = env!("CARGO_BIN_EXE_roomcast");
    let out = Command::new(bin).arg("--genconfig").output().unwrap();
    assert!(out.status.success());
    let sample = String::from_utf8(out.stdout).unwrap();
    assert!(sample.contains("# The one TCP listener"), "{sample}");
    let path = std::env::temp_dir().join(format!("roomcast-sample-{}.toml", std::process::id()));
    std::fs::write(&path, &sample).unwrap();
    let from_sample = Command::new(bin)
        .args(["--config", path.to_str().unwrap(), "--print-config"])
        .env_remove("ROOMCAST_API_KEY")
        .env_remove("ROOMCAST_AUTH_SECRET")
        .output()
        .unwrap();
    let defaults = Command::new(bin)
        .arg("--print-config")
        .env_remove("ROOMCAST_API_KEY")
        .env_remove("ROOMCAST_AUTH_SECRET")
        .output()
        .unwrap();
    assert!(from_sample.status.success());
    assert_eq!(from_sample.stdout, defaults.stdout);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn listen_takes_host_names_and_a_taken_address_is_named() {
    let bin = env!("CARGO_BIN_EXE_roomcast");
    let ok = Command::new(bin)
        .args(["--listen", "localhost:8095", "--print-config"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = Command::new(bin)
        .args(["--listen", "no-such-host.invalid:80", "--print-config"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("listen"));
    // A taken port: the error says which address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let busy = Command::new(bin)
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains(&addr),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
}

#[test]
fn a_second_sigint_exits_at_once() {
    let d = Daemon::start(&["--close-timeout", "30"]);
    // A client that never answers the server's close keeps the drain waiting.
    let _stubborn = Raw::upgrade(d.addr, "/echo");
    let pid = d.child.id() as i32;
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    std::thread::sleep(std::time::Duration::from_millis(300));
    unsafe { libc::kill(pid, libc::SIGINT) };
    let mut d = d;
    let status = eventually(5, || d.child.try_wait().ok().flatten());
    assert_eq!(status.code(), Some(130));
}

#[test]
fn access_log_puts_requests_upgrades_and_closes_at_info() {
    use std::io::BufRead;
    /// Killed however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_roomcast"))
            .args(["--listen", "127.0.0.1:0", "--access-log", "true"])
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("no log line with {needle}"));
        if line.contains(needle) {
            break line;
        }
    };
    let line = wait_for("listening on ");
    let addr: std::net::SocketAddr = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap();
    assert!(line.contains(&format!("http://{addr}/")), "{line}");
    let mut raw = Raw::connect(addr);
    let (status, _, _) = raw.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    assert!(wait_for("GET /healthz").contains("INFO"));
    drop(raw);
    let closed = wait_for("closed (");
    assert!(
        closed.contains("B in") && closed.contains("peer 127.0.0.1:"),
        "{closed}"
    );
    // A WebSocket's line names its user and the close code.
    let mut ws = Raw::upgrade(addr, "/ws?user=logged");
    ws.send_frame(
        true,
        roomcast::proto::frame::OpCode::Close,
        &1000u16.to_be_bytes(),
    );
    assert_eq!(ws.expect_close(), Some(1000));
    drop(ws); // our FIN: the server's linger ends
    let closed = wait_for("user logged");
    assert!(closed.contains("close 1000"), "{closed}");
}
