//! roomcast-bench tells the truth: it fails, with the reason, when it could
//! not measure what it was asked to (issue 12: a bench against no server
//! used to report ~90,000 "cycles/s").

mod common;

use common::*;
use std::process::Command;

fn bench(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_roomcast-bench"))
        .args(args)
        .output()
        .expect("run roomcast-bench");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn no_server_is_an_error_not_a_result() {
    let url = format!("ws://127.0.0.1:{}/echo", dead_port());
    for args in [
        vec!["echo", "--url", &url, "--conns", "5", "--secs", "0.5"],
        vec!["churn", "--url", &url, "--conns", "5", "--secs", "0.5"],
        vec!["connections", "--url", &url, "--conns", "5", "--hold", "0"],
    ] {
        let (code, _, err) = bench(&args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(
            err.contains("could not open a connection"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_refused_upgrade_and_a_rate_limit_are_errors() {
    let server = TestServer::start(|c| {
        c.rate_limit.per_sec = 5.0;
        c.rate_limit.burst = 5;
    });
    let url = format!("ws://{}/nope", server.addr);
    let (code, _, err) = bench(&["echo", "--url", &url, "--conns", "2", "--secs", "0.5"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("404"), "{err}");
    let base = format!("ws://{}", server.addr);
    let (code, _, err) = bench(&[
        "fanout", "--url", &base, "--subs", "3", "--rate", "200", "--secs", "1",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("rate_limited"), "{err}");
}

#[test]
fn a_good_run_prints_json_and_csv() {
    let server = TestServer::start(|_| {});
    let url = server.url("/echo");
    let (code, out, err) = bench(&[
        "echo", "--url", &url, "--conns", "4", "--secs", "1", "--json", "--csv",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let json: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
    assert!(json["round_trips"].as_u64().unwrap_or(0) > 0, "{json}");
    let header = lines[lines.len() - 3];
    assert!(header.split(',').any(|f| f == "round_trips"), "{header}");
    assert!(
        err.contains("roomcast-bench:"),
        "a progress line on stderr: {err}"
    );
}
