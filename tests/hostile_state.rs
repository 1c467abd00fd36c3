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
