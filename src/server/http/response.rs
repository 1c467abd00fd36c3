//! HTTP answers: the status line and headers, JSON error bodies, and the
//! application's error type (the handshake's own errors come from `proto`).

use crate::proto::HandshakeError;
use std::fmt;

/// Why an HTTP request is refused, with the status to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The head could not be read, or the upgrade is not a valid handshake.
    Handshake(HandshakeError),
    /// A bad request to the application (a body it cannot use).
    BadRequest(&'static str),
    /// `/api/*` without the right bearer key.
    Unauthorized,
    /// Not allowed: an `Origin` not listed.
    Forbidden,
    /// The API has no key and is not opened with `api_insecure`.
    ApiOff,
    /// No such endpoint or resource.
    NotFound,
    /// Wrong method for the endpoint.
    MethodNotAllowed,
    /// A body without `Content-Length`.
    LengthRequired,
    /// A body over the limit.
    PayloadTooLarge,
    /// A budget is full (SPEC §6): try again later.
    Unavailable(&'static str),
}

impl From<HandshakeError> for HttpError {
    fn from(e: HandshakeError) -> Self {
        HttpError::Handshake(e)
    }
}

impl HttpError {
    /// The HTTP status code of the answer.
    pub fn status(self) -> u16 {
        match self {
            HttpError::Handshake(e) => e.status(),
            HttpError::BadRequest(_) => 400,
            HttpError::Unauthorized => 401,
            HttpError::Forbidden | HttpError::ApiOff => 403,
            HttpError::NotFound => 404,
            HttpError::MethodNotAllowed => 405,
            HttpError::LengthRequired => 411,
            HttpError::PayloadTooLarge => 413,
            HttpError::Unavailable(_) => 503,
        }
    }

    /// A short reason for the JSON body `{"error": ...}`.
    pub fn reason(self) -> &'static str {
        match self {
            HttpError::Handshake(e) => e.reason(),
            HttpError::BadRequest(why) => why,
            HttpError::Unauthorized => "missing or wrong bearer key",
            HttpError::Forbidden => "forbidden",
            HttpError::ApiOff => {
                "the API is off: set api_key (or ROOMCAST_API_KEY) and send it as a bearer token, or api_insecure = true for local development"
            }
            HttpError::NotFound => "not found",
            HttpError::MethodNotAllowed => "method not allowed",
            HttpError::LengthRequired => "length required",
            HttpError::PayloadTooLarge => "payload too large",
            HttpError::Unavailable(why) => why,
        }
    }

    fn extra_headers(self) -> &'static str {
        match self {
            HttpError::Handshake(e) => e.extra_headers(),
            HttpError::Unauthorized => "WWW-Authenticate: Bearer\r\n",
            _ => "",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status(), self.reason())
    }
}

/// The reason phrase of a status we send.
fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// One HTTP/1.1 response to write.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    /// The status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'a str,
    /// The body (its length is sent even when the body is not: `HEAD`).
    pub body: &'a [u8],
    /// `Connection: keep-alive` rather than `close`.
    pub keep_alive: bool,
    /// Whole header lines, CRLF included, to add.
    pub extra_headers: &'a str,
    /// The request was `HEAD`: RFC 9110 §9.3.2, the same headers, no body.
    pub head_only: bool,
}

impl Response<'_> {
    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n{}\r\n",
            self.status,
            status_text(self.status),
            self.content_type,
            self.body.len(),
            if self.keep_alive { "keep-alive" } else { "close" },
            self.extra_headers,
        )
            .into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body);
        }
        out
    }
}

/// `{"error": reason}` for `err`, on a connection that closes after it.
pub fn error_response(err: HttpError, head_only: bool) -> Vec<u8> {
    json_error(err.status(), err.reason(), err.extra_headers(), head_only)
}

/// A JSON error answer with any status (503 at capacity, for instance).
pub fn json_error(status: u16, reason: &str, extra_headers: &str, head_only: bool) -> Vec<u8> {
    let body = format!("{{\"error\":{}}}", json_string(reason));
    Response {
        status,
        content_type: "application/json",
        body: body.as_bytes(),
        keep_alive: false,
        extra_headers,
        head_only,
    }
    .encode()
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_answers_carry_the_length_but_no_body() {
        let r = Response {
            status: 200,
            content_type: "text/plain",
            body: b"ok",
            keep_alive: true,
            extra_headers: "",
            head_only: true,
        };
        let text = String::from_utf8(r.encode()).unwrap_or_default();
        assert!(text.ends_with("Content-Length: 2\r\nConnection: keep-alive\r\n\r\n"));
        let full = Response {
            head_only: false,
            ..r
        };
        assert!(String::from_utf8(full.encode())
            .unwrap_or_default()
            .ends_with("\r\n\r\nok"));
    }

    #[test]
    fn a_426_names_version_13() {
        let e = HttpError::from(HandshakeError::UpgradeRequired);
        let text = String::from_utf8(error_response(e, false)).unwrap_or_default();
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
        assert!(text.ends_with("{\"error\":\"unsupported websocket version\"}"));
    }
}
