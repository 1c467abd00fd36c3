//! `roomcast --workers N` (SPEC §7): worker processes share the port with
//! SO_REUSEPORT and state through Redis; the supervisor restarts a worker
//! that dies and drains them all on SIGTERM.

mod common;

use common::redis::RedisServer;
use common::*;
use serde_json::json;
use std::time::Duration;

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn status(d: &Daemon, path: &str) -> u16 {
    let mut raw = Raw::connect(d.addr);
    raw.http(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .0
}

#[test]
fn two_workers_serve_one_port_restart_and_drain() {
    let Some(redis) = RedisServer::for_test() else {
        return;
    };
    let url = redis.url();
    let mut d = Daemon::start(&[
        "--workers",
        "2",
        "--engine",
        "redis",
        "--redis-url",
        &url,
        "--api-insecure",
        "true",
        "--access-log",
        "true",
    ]);
    let workers = eventually(10, || Some(children(d.child.id())).filter(|c| c.len() == 2));
    eventually(10, || (status(&d, "/readyz") == 200).then_some(()));

    // A worker that dies is started again.
    let victim = workers[0];
    // SAFETY: kill has no memory effects; the pid is a child of our daemon.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    eventually(15, || {
        let now = children(d.child.id());
        (now.len() == 2 && !now.contains(&victim)).then_some(())
    });
    assert!(d.logged(&["died", "restarting"]));
    eventually(10, || (status(&d, "/readyz") == 200).then_some(()));

    // The kernel spreads connections over both workers; members on either
    // get every chat, through Redis.
    let mut members: Vec<Client> = (0..24)
        .map(|i| {
            let mut c = daemon_client(&d, &format!("/ws?user=u{i}&room=hall"));
            c.expect("welcome");
            c.expect_skipping_presence("joined");
            c
        })
        .collect();
    assert!(
        d.logged(&["worker 1", "upgraded"]) && d.logged(&["worker 2", "upgraded"]),
        "both workers accepted"
    );
    members[0].send(json!({"type": "chat", "room": "hall", "data": "to all"}));
    for m in &mut members {
        assert_eq!(m.expect_skipping_presence("chat")["data"], "to all");
    }

    // SIGTERM to the supervisor: every worker drains (1001), it exits 0.
    // SAFETY: as above; the supervisor is our child.
    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
    for c in &mut members {
        assert_eq!(c.expect_close(), Some(1001));
    }
    let exit = eventually(15, || d.child.try_wait().unwrap());
    assert!(exit.success(), "{exit}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(d.logged(&["supervisor: draining 2 workers"]));
}

#[test]
fn more_than_one_worker_needs_redis() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomcast"))
        .args(["--workers", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("workers") && err.contains("engine = \"redis\""),
        "{err}"
    );
}
