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
    /// The first [`MAX_EXTENSION_HEADERS`] `Sec-WebSocket-Extensions`
    /// values, in order (RFC 6455 §9.1: the header may be repeated); see
    /// [`Request::extensions`].
    pub ws_extensions: [&'b [u8]; MAX_EXTENSION_HEADERS],
    /// How many of them there were (more are ignored).
    pub ws_extensions_len: u8,
}

/// `Sec-WebSocket-Extensions` headers looked at (browsers send one).
pub const MAX_EXTENSION_HEADERS: usize = 4;

impl<'b> Request<'b> {
    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        if self.minor_version >= 1 {
            !self.connection_close
        } else {
            self.connection_keep_alive
        }
    }

    /// The `Sec-WebSocket-Extensions` values, in order.
    pub fn extensions(&self) -> impl Iterator<Item = &'b [u8]> + '_ {
        self.ws_extensions
            .iter()
            .take(usize::from(self.ws_extensions_len))
            .copied()
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

impl<'b> Request<'b> {
    /// Take note of one header (names are case-insensitive, RFC 9110 §5.1).
    fn add_header(&mut self, name: &str, value: &'b [u8]) -> Result<(), HandshakeError> {
        if name.eq_ignore_ascii_case("host") {
            self.has_host = true;
        } else if name.eq_ignore_ascii_case("upgrade") {
            self.has_upgrade = true;
            self.upgrade_websocket |= has_token(value, b"websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            self.connection_upgrade |= has_token(value, b"upgrade");
            self.connection_close |= has_token(value, b"close");
            self.connection_keep_alive |= has_token(value, b"keep-alive");
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            self.ws_key.get_or_insert(value);
            self.ws_key_count = self.ws_key_count.saturating_add(1);
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            self.ws_version = Some(value);
        } else if name.eq_ignore_ascii_case("origin") {
            // RFC 6454 §7.3: a request carries at most one Origin; with two,
            // which one an allow-list checks would be a guess.
            if self.origin.is_some() {
                return Err(HandshakeError::BadRequest("more than one Origin header"));
            }
            self.origin = Some(trim(value));
        } else if name.eq_ignore_ascii_case("authorization") {
            self.authorization = Some(trim(value));
        } else if name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(trim(value))
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            let len = value
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(HandshakeError::BadRequest("bad Content-Length"))?;
            if self.content_length.is_some_and(|prev| prev != len) {
                return Err(HandshakeError::BadRequest("conflicting Content-Length"));
            }
            self.content_length = Some(len);
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
            if let Some(slot) = self
                .ws_extensions
                .get_mut(usize::from(self.ws_extensions_len))
            {
                *slot = value;
                self.ws_extensions_len += 1;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            self.has_transfer_encoding = true;
        }
        Ok(())
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
        ws_extensions: [b""; MAX_EXTENSION_HEADERS],
        ws_extensions_len: 0,
    };
    for h in req.headers.iter() {
        out.add_header(h.name, h.value)?;
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

/// The `101 Switching Protocols` answer to a valid upgrade, with the
/// extensions agreed (`Sec-WebSocket-Extensions`), if any.
pub fn switching_protocols(accept: &str, extensions: Option<&str>) -> Vec<u8> {
    let extensions = extensions
        .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extensions}\r\n"
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
#[path = "handshake_tests.rs"]
mod tests;
