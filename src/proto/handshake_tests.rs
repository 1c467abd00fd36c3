//! The head scanner and the opening handshake, fed whole, split and byte by byte.

use super::*;

const GOOD: &[u8] = b"GET /echo?room=a%20b&user=x+y HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn scan_every_way(input: &[u8]) -> Result<Option<usize>, HandshakeError> {
    let whole = HeadScanner::default().scan(input);
    for cut in 0..=input.len() {
        let mut s = HeadScanner::default();
        let first = s.scan(&input[..cut]);
        let second = match first {
            Ok(None) => s.scan(input),
            other => other,
        };
        assert_eq!(second, whole, "cut {cut}");
    }
    let mut s = HeadScanner::default();
    let mut last = Ok(None);
    for n in 1..=input.len() {
        last = s.scan(&input[..n]);
        if !matches!(last, Ok(None)) {
            break;
        }
    }
    assert_eq!(last, whole, "byte by byte");
    whole
}

#[test]
fn rfc_sample_handshake() {
    // RFC 6455 §1.3: key "dGhlIHNhbXBsZSBub25jZQ==" gives "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
    let mut input = GOOD.to_vec();
    input.extend_from_slice(&[0x81, 0x80]); // the first frame, right behind
    let n = scan_every_way(&input).unwrap().unwrap();
    assert_eq!(n, GOOD.len(), "frame bytes are not part of the head");
    let req = parse_request(&input[..n]).unwrap();
    assert_eq!((req.method, req.path), ("GET", "/echo"));
    assert_eq!(req.query, "room=a%20b&user=x+y");
    assert_eq!(
        req.validate_upgrade().unwrap(),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert!(req.keep_alive());
}

fn upgrade_error(edit: impl Fn(&str) -> String) -> HandshakeError {
    let text = edit(std::str::from_utf8(GOOD).unwrap());
    let req = parse_request(text.as_bytes());
    match req {
        Ok(r) => r.validate_upgrade().unwrap_err(),
        Err(e) => e,
    }
}

#[test]
fn every_upgrade_error_has_its_status() {
    assert_eq!(upgrade_error(|s| s.replace("GET", "POST")).status(), 405);
    assert_eq!(
        upgrade_error(|s| s.replace("HTTP/1.1", "HTTP/1.0")).status(),
        505
    );
    assert_eq!(
        upgrade_error(|s| s.replace("HTTP/1.1", "HTTP/2.0")).status(),
        505
    );
    assert_eq!(
        upgrade_error(|s| s.replace("Host: h\r\n", "")).status(),
        400
    );
    assert_eq!(
        upgrade_error(|s| s.replace("Upgrade: WebSocket\r\n", "")).status(),
        426
    );
    assert_eq!(
        upgrade_error(|s| s.replace("Upgrade: WebSocket", "Upgrade: h2c")).status(),
        400
    );
    assert_eq!(
        upgrade_error(|s| s.replace("keep-alive, Upgrade", "keep-alive")).status(),
        400
    );
    let e = upgrade_error(|s| s.replace("Version: 13", "Version: 8"));
    assert_eq!(e.status(), 426);
    assert_eq!(e.extra_headers(), "Sec-WebSocket-Version: 13\r\n");
    assert_eq!(
        upgrade_error(|s| s.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==")).status(),
        400
    );
    assert_eq!(
        upgrade_error(|s| s.replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!")).status(),
        400
    );
    assert_eq!(
        upgrade_error(|s| s.replace(
            "Version: 13",
            "Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
        ))
        .status(),
        400
    );
    assert_eq!(
        upgrade_error(|s| s.replace("Host: h", "Host h")).status(),
        400
    );
}

#[test]
fn limits() {
    let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE));
    assert_eq!(
        scan_every_way(long_target.as_bytes()),
        Err(HandshakeError::UriTooLong)
    );
    let long_header = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_LINE));
    assert_eq!(
        scan_every_way(long_header.as_bytes()),
        Err(HandshakeError::HeadersTooLarge)
    );
    let many_lines = format!(
        "GET / HTTP/1.1\r\n{}\r\n",
        "X-A: 0123456789012345678901234567890123456789\r\n".repeat(400)
    );
    assert_eq!(
        HeadScanner::default().scan(many_lines.as_bytes()),
        Err(HandshakeError::HeadersTooLarge)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\n{}\r\n",
        "X: y\r\n".repeat(MAX_HEADERS + 1)
    );
    let n = scan_every_way(many_headers.as_bytes()).unwrap().unwrap();
    assert_eq!(
        parse_request(&many_headers.as_bytes()[..n]),
        Err(HandshakeError::HeadersTooLarge)
    );
}

#[test]
fn leading_blank_lines_are_skipped_and_bad_lengths_refused() {
    let input = b"\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let n = scan_every_way(input).unwrap().unwrap();
    assert_eq!(parse_request(&input[..n]).unwrap().path, "/healthz");
    let bad = b"POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n";
    assert_eq!(parse_request(bad).unwrap_err().status(), 400);
    let twice = b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    assert_eq!(parse_request(twice).unwrap_err().status(), 400);
}
