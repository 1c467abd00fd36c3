//! The HTTP side: finding and parsing a request head, validating a WebSocket
//! upgrade (RFC 6455 §4.2.1) and building responses.
//!
//! [`HeadScanner`] looks at each arrival once: it tracks line lengths and
//! finds the blank line that ends the head without rescanning bytes it has
//! seen. Only then is the head parsed, once, with `httparse`. Limits: a line
//! of at most [`MAX_LINE`] bytes (414 for the request line, 431 for a header),
//! at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers in all (431). They
//! are far above what browsers send (a few hundred bytes, cookies included,
//! are typical) and small enough that 10,000 slowloris peers cost < 200 MiB.

use super::error::HandshakeError;
use base64::Engine as _;

/// The longest request line or header line we accept, CRLF included.
pub const MAX_LINE: usize = 8 * 1024;
/// The longest request head (request line, headers, blank line).
pub const MAX_HEAD: usize = 16 * 1024;
/// The most headers in one request.
pub const MAX_HEADERS: usize = 64;
/// RFC 6455 §1.3: the GUID appended to the key for `Sec-WebSocket-Accept`.
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Finds the end of a request head in a buffer that grows between calls.
#[derive(Debug, Default, Clone)]
pub struct HeadScanner {
    /// Bytes of the buffer already looked at.
    scanned: usize,
    /// Where the current line starts.
    line_start: usize,
    /// Non-empty lines seen (0 while only leading CRLFs were seen).
    lines: usize,
    /// The head's length once found (later calls return it again).
    found: Option<usize>,
}

impl HeadScanner {
    /// Look at what was added to `buf` since the last call. `Ok(Some(n))`: the
    /// head is `buf[..n]` (blank line included); `Ok(None)`: not yet.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, HandshakeError> {
        if self.found.is_some() {
            return Ok(self.found);
        }
        let new = buf.get(self.scanned..).unwrap_or_default();
        for (i, byte) in new.iter().enumerate() {
            if *byte != b'\n' {
                continue;
            }
            let end = self.scanned + i + 1;
            let line_len = end - self.line_start;
            self.check_line(line_len)?;
            // A line of just "\r\n" (or "\n"): the head ends, unless no line
            // came before it (RFC 9112 §2.2: ignore leading empty lines).
            if line_len <= 2 {
                if self.lines > 0 {
                    self.scanned = end;
                    if end > MAX_HEAD {
                        return Err(HandshakeError::HeadersTooLarge);
                    }
                    self.found = Some(end);
                    return Ok(self.found);
                }
            } else {
                self.lines += 1;
            }
            self.line_start = end;
        }
        self.scanned = buf.len();
        self.check_line(buf.len() - self.line_start)?;
        if buf.len() > MAX_HEAD {
            return Err(HandshakeError::HeadersTooLarge);
        }
        Ok(None)
    }

    fn check_line(&self, len: usize) -> Result<(), HandshakeError> {
        match (len > MAX_LINE, self.lines) {
            (false, _) => Ok(()),
            (true, 0) => Err(HandshakeError::UriTooLong),
            (true, _) => Err(HandshakeError::HeadersTooLarge),
        }
    }
}

/// What the server needs from a request head, borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'b> {
    /// The method, e.g. `GET`.
    pub method: &'b str,
    /// The path of the target, without the query.
    pub path: &'b str,
    /// The query string without `?` (empty if none).
    pub query: &'b str,
    /// The minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor_version: u8,
    /// `Host` was present.
    pub has_host: bool,
    /// `Upgrade` lists `websocket`.
    pub upgrade_websocket: bool,
    /// An `Upgrade` header was present at all.
    pub has_upgrade: bool,
    /// `Connection` lists `upgrade`.
    pub connection_upgrade: bool,
    /// `Connection` lists `close`.
    pub connection_close: bool,
    /// `Connection` lists `keep-alive`.
    pub connection_keep_alive: bool,
    /// The `Sec-WebSocket-Key` values: the first, and how many there were.
    pub ws_key: Option<&'b [u8]>,
    /// How many `Sec-WebSocket-Key` headers there were.
    pub ws_key_count: u8,
    /// `Sec-WebSocket-Version`.
    pub ws_version: Option<&'b [u8]>,
    /// `Origin`.
    pub origin: Option<&'b [u8]>,
    /// `Authorization`.
    pub authorization: Option<&'b [u8]>,
    /// `Content-Length`, if given (conflicting values are a 400).
    pub content_length: Option<u64>,
    /// `Transfer-Encoding` was present (we do not take chunked bodies).
    pub has_transfer_encoding: bool,
}

impl<'b> Request<'b> {
    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        if self.minor_version >= 1 {
            !self.connection_close
        } else {
            self.connection_keep_alive
        }
    }

    /// Whether the client asked for a WebSocket upgrade at all.
    pub fn wants_upgrade(&self) -> bool {
        self.has_upgrade || self.ws_key.is_some()
    }

    /// Check the request as an opening handshake (RFC 6455 §4.2.1) and return
    /// the `Sec-WebSocket-Accept` value to answer with.
    pub fn validate_upgrade(&self) -> Result<String, HandshakeError> {
        // §4.2.1 1: "An HTTP/1.1 or higher GET request".
        if self.method != "GET" {
            return Err(HandshakeError::MethodNotAllowed);
        }
        if self.minor_version < 1 {
            return Err(HandshakeError::VersionNotSupported);
        }
        // §4.2.1 2: "A |Host| header field".
        if !self.has_host {
            return Err(HandshakeError::BadRequest("missing Host header"));
        }
        // §4.2.1 3: "An |Upgrade| header field containing the value "websocket"".
        // With no Upgrade at all, the client must be told an upgrade is needed.
        if !self.has_upgrade {
            return Err(HandshakeError::UpgradeRequired);
        }
        if !self.upgrade_websocket {
            return Err(HandshakeError::BadRequest("Upgrade must be websocket"));
        }
        // §4.2.1 4: "A |Connection| header field that includes the token "Upgrade"".
        if !self.connection_upgrade {
            return Err(HandshakeError::BadRequest(
                "Connection must include Upgrade",
            ));
        }
        // §4.2.1 6: "A |Sec-WebSocket-Version| header field, with a value of 13".
        // §4.2.2: otherwise answer 426 with the versions we support.
        if self.ws_version.map(trim) != Some(b"13".as_slice()) {
            return Err(HandshakeError::UpgradeRequired);
        }
        // §4.2.1 5: "A |Sec-WebSocket-Key| header field with a base64-encoded
        // value that, when decoded, is 16 bytes in length." Exactly one (§11.3.1).
        let key = match (self.ws_key, self.ws_key_count) {
            (Some(key), 1) => trim(key),
            (None, _) => return Err(HandshakeError::BadRequest("missing Sec-WebSocket-Key")),
            _ => {
                return Err(HandshakeError::BadRequest(
                    "more than one Sec-WebSocket-Key",
                ))
            }
        };
        match base64::engine::general_purpose::STANDARD.decode(key) {
            Ok(raw) if raw.len() == 16 => Ok(accept_key(key)),
            _ => Err(HandshakeError::BadRequest(
                "Sec-WebSocket-Key must be base64 of 16 bytes",
            )),
        }
    }
}

/// Parse a complete head (as found by [`HeadScanner`]) with `httparse`.
pub fn parse_request(head: &[u8]) -> Result<Request<'_>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(HandshakeError::BadRequest("incomplete request head"))
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::HeadersTooLarge),
        Err(httparse::Error::Version) => return Err(HandshakeError::VersionNotSupported),
        Err(_) => return Err(HandshakeError::BadRequest("malformed request")),
    }
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HandshakeError::BadRequest("malformed request line"));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut out = Request {
        method,
        path,
        query,
        minor_version,
        has_host: false,
        upgrade_websocket: false,
        has_upgrade: false,
        connection_upgrade: false,
        connection_close: false,
        connection_keep_alive: false,
        ws_key: None,
        ws_key_count: 0,
        ws_version: None,
        origin: None,
        authorization: None,
        content_length: None,
        has_transfer_encoding: false,
    };
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            out.has_host = true;
        } else if name.eq_ignore_ascii_case("upgrade") {
            out.has_upgrade = true;
            out.upgrade_websocket |= has_token(h.value, b"websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            out.connection_upgrade |= has_token(h.value, b"upgrade");
            out.connection_close |= has_token(h.value, b"close");
            out.connection_keep_alive |= has_token(h.value, b"keep-alive");
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            out.ws_key.get_or_insert(h.value);
            out.ws_key_count = out.ws_key_count.saturating_add(1);
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            out.ws_version = Some(h.value);
        } else if name.eq_ignore_ascii_case("origin") {
            out.origin = Some(trim(h.value));
        } else if name.eq_ignore_ascii_case("authorization") {
            out.authorization = Some(trim(h.value));
        } else if name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(trim(h.value))
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            let len = value
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(HandshakeError::BadRequest("bad Content-Length"))?;
            if out.content_length.is_some_and(|prev| prev != len) {
                return Err(HandshakeError::BadRequest("conflicting Content-Length"));
            }
            out.content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            out.has_transfer_encoding = true;
        }
    }
    Ok(out)
}

/// `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// The `101 Switching Protocols` answer to a valid upgrade.
pub fn switching_protocols(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// Whether the comma-separated header value lists `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
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
}
