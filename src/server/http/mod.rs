//! HTTP requests on the shared listener: finding the request, routing it,
//! answering it or upgrading the connection. Every error answer is JSON.

mod response;
pub mod url;

use super::conn::{Endpoint, Phase};
use super::{ms, Reason, Server};
use crate::proto::handshake::{self, parse_request, HeadScanner, Request, MAX_HEAD};
use crate::proto::session::Session;
pub use response::{HttpError, Response};
use std::rc::Rc;

/// The demo chat client served at `GET /`.
const DEMO_PAGE: &str = include_str!("../demo.html");
/// The admin page served at `GET /admin` (it asks for the API key).
const ADMIN_PAGE: &str = include_str!("../admin.html");
/// The JS client (clients/js), served at `GET /roomcast.js` for the pages.
const JS_CLIENT: &str = include_str!("../../../clients/js/roomcast.js");

/// Request bodies up to 1 MiB (SPEC §1): a publish of a big notification
/// fits; anything larger is refused with 413 before it is buffered.
pub const MAX_BODY: usize = 1024 * 1024;

/// How an answer is sent: what it keeps of its request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answer {
    pub keep_alive: bool,
    pub head_only: bool,
}

/// What the router needs of a request, owned (the buffer it came from is
/// consumed before the answer is built).
#[derive(Debug)]
pub(super) struct OwnedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub keep_alive: bool,
    /// `HEAD`: the answer has headers only (RFC 9110 §9.3.2).
    pub head_only: bool,
    pub wants_upgrade: bool,
    /// The `Sec-WebSocket-Accept` value, or why the upgrade is invalid.
    pub upgrade: Result<String, crate::proto::HandshakeError>,
    /// `Origin`, if sent.
    pub origin: Option<String>,
    /// `Authorization`, if sent.
    pub authorization: Option<String>,
    /// The permessage-deflate offer we would accept, and our answer.
    pub deflate: Option<(crate::proto::deflate::Agreed, String)>,
}

impl OwnedRequest {
    fn from_request(r: &Request<'_>) -> OwnedRequest {
        OwnedRequest {
            method: r.method.to_owned(),
            path: r.path.to_owned(),
            query: r.query.to_owned(),
            keep_alive: r.keep_alive(),
            head_only: r.method == "HEAD",
            wants_upgrade: r.wants_upgrade(),
            upgrade: r.validate_upgrade(),
            origin: r.origin.map(|o| String::from_utf8_lossy(o).into_owned()),
            authorization: r
                .authorization
                .map(|a| String::from_utf8_lossy(a).into_owned()),
            deflate: crate::proto::deflate::negotiate(r.extensions()),
        }
    }
}

impl Server {
    /// `info` with `access_log = true`, else `debug`: requests, answers,
    /// upgrades and closes.
    pub(super) fn access_level(&self) -> log::Level {
        if self.cfg.access_log {
            log::Level::Info
        } else {
            log::Level::Debug
        }
    }
}

/// Why [`Server::process_http`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpStall {
    /// The next request is not whole yet.
    NeedBytes,
    /// The answer to the last request is not written yet.
    AnswerPending,
    /// The connection is no longer taking HTTP requests.
    Done,
}

/// The length of `req`'s body. SPEC §1: bodies need `Content-Length` (no
/// chunked bodies) and at most 1 MiB; SPEC §6: only `/api/*` takes one, so
/// no other path makes us buffer a body (a request without one simply has
/// none, RFC 9112 §6.3).
fn body_length(
    req: &OwnedRequest,
    content_length: Option<u64>,
    chunked: bool,
) -> Result<usize, HttpError> {
    let api = req.path.starts_with("/api/");
    let takes_body = api && matches!(req.method.as_str(), "POST" | "PUT" | "PATCH");
    if chunked || (takes_body && content_length.is_none()) {
        return Err(HttpError::LengthRequired);
    }
    match usize::try_from(content_length.unwrap_or(0)) {
        Ok(0) => Ok(0),
        Ok(n) if api && n <= MAX_BODY => Ok(n),
        // Outside the API only GET and HEAD are served; any other method
        // gets its 404 or 405 (and the connection closes, body unread).
        _ if !api && !matches!(req.method.as_str(), "GET" | "HEAD") => Ok(0),
        _ => Err(HttpError::PayloadTooLarge),
    }
}

impl Server {
    pub(super) fn on_http_bytes(&mut self, key: usize, data: &[u8]) {
        let Some(http) = self.conns.get_mut(key).and_then(|c| c.http.as_mut()) else {
            return;
        };
        if http.buf.len() + data.len() > MAX_HEAD + MAX_BODY {
            let err = if http.scanner.scan(&http.buf).ok().flatten().is_some() {
                HttpError::PayloadTooLarge
            } else {
                HttpError::Handshake(crate::proto::HandshakeError::HeadersTooLarge)
            };
            self.http_error(key, err, false);
            return;
        }
        http.buf.extend_from_slice(data);
        self.advance_http(key);
    }

    /// Answer the next request if its turn has come; once the peer has
    /// half-closed and no whole request is left, close.
    pub(super) fn advance_http(&mut self, key: usize) {
        if self.process_http(key) == HttpStall::NeedBytes
            && self.conns.get(key).is_some_and(|c| c.read_closed)
        {
            self.set_reason(key, Reason::Http);
            self.linger_after(key, None);
        }
    }

    /// Answer the complete requests in the buffer, one at a time: the next
    /// waits until the answer to this one is written (SPEC §6, as nginx).
    fn process_http(&mut self, key: usize) -> HttpStall {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return HttpStall::Done;
            };
            if conn.phase != Phase::Http || conn.doomed {
                return HttpStall::Done;
            }
            if conn.outbox.unsent() > 0 {
                return HttpStall::AnswerPending;
            }
            let Some(http) = conn.http.as_mut() else {
                return HttpStall::Done;
            };
            if http.awaiting {
                return HttpStall::AnswerPending;
            }
            if http.buf.is_empty() {
                return HttpStall::NeedBytes;
            }
            let head_len = match http.scanner.scan(&http.buf) {
                Ok(Some(n)) => n,
                Ok(None) => return HttpStall::NeedBytes,
                Err(e) => {
                    self.http_error(key, e.into(), false);
                    return HttpStall::Done;
                }
            };
            let parsed = parse_request(http.buf.get(..head_len).unwrap_or_default());
            let (req, content_length, chunked) = match parsed {
                Ok(r) => (
                    OwnedRequest::from_request(&r),
                    r.content_length,
                    r.has_transfer_encoding,
                ),
                Err(e) => {
                    self.http_error(key, e.into(), false);
                    return HttpStall::Done;
                }
            };
            http.head_only = req.head_only;
            let body_len = match body_length(&req, content_length, chunked) {
                Ok(n) => n,
                Err(e) => {
                    self.http_error(key, e, req.wants_upgrade);
                    return HttpStall::Done;
                }
            };
            let consumed = head_len + body_len;
            if http.buf.len() < consumed {
                return HttpStall::NeedBytes; // the body is still arriving
            }
            let body: Vec<u8> = http
                .buf
                .get(head_len..consumed)
                .unwrap_or_default()
                .to_vec();
            let rest: Vec<u8> = http.buf.get(consumed..).unwrap_or_default().to_vec();
            http.buf = rest;
            http.scanner = HeadScanner::default();
            self.route(key, req, body);
        }
    }

    fn route(&mut self, key: usize, req: OwnedRequest, body: Vec<u8>) {
        if let Some(conn) = self.conns.get(key) {
            log::log!(
                self.access_level(),
                "conn {}: {} {}{}{}",
                conn.id,
                req.method,
                req.path,
                if req.query.is_empty() { "" } else { "?" },
                req.query
            );
        }
        if req.path.starts_with("/api/") {
            return self.api(key, &req, &body);
        }
        let get = req.method == "GET" || req.method == "HEAD";
        match req.path.as_str() {
            "/ws" => self.upgrade(key, req, Endpoint::Room),
            "/" if get => self.http_reply(
                key,
                &req,
                200,
                "text/html; charset=utf-8",
                DEMO_PAGE.as_bytes(),
            ),
            "/admin" if get => self.http_reply(
                key,
                &req,
                200,
                "text/html; charset=utf-8",
                ADMIN_PAGE.as_bytes(),
            ),
            "/roomcast.js" if get => self.http_reply(
                key,
                &req,
                200,
                "text/javascript; charset=utf-8",
                JS_CLIENT.as_bytes(),
            ),
            "/metrics" if get => {
                let text = self.metrics_text();
                self.http_reply(
                    key,
                    &req,
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    text.as_bytes(),
                );
            }
            "/" | "/admin" | "/metrics" | "/roomcast.js" => {
                self.http_error(key, HttpError::MethodNotAllowed, false)
            }
            "/echo" if self.cfg.echo_endpoint => self.upgrade(key, req, Endpoint::Echo),
            // /readyz: ready while the engine can serve (the memory engine
            // always can; the Redis engine while Redis is connected).
            "/readyz" if !self.hub.engine_up() => {
                self.http_error(key, HttpError::Unavailable("engine down"), false)
            }
            "/healthz" | "/readyz" => {
                if req.method != "GET" && req.method != "HEAD" {
                    return self.http_error(key, HttpError::MethodNotAllowed, false);
                }
                self.http_reply(key, &req, 200, "text/plain", b"ok");
            }
            _ => self.http_error(key, HttpError::NotFound, req.wants_upgrade),
        }
    }

    /// Switch the connection to WebSocket (RFC 6455 §4.2.2) if the handshake is valid.
    fn upgrade(&mut self, key: usize, req: OwnedRequest, endpoint: Endpoint) {
        let accept = match req.upgrade {
            Ok(accept) => accept,
            Err(e) => return self.http_error(key, e.into(), true),
        };
        // SPEC §3: an upgrade from an Origin that is not listed gets 403.
        let allowed = &self.cfg.allowed_origins;
        if !allowed.is_empty()
            && !req
                .origin
                .as_ref()
                .is_some_and(|o| allowed.iter().any(|a| a == o))
        {
            return self.http_error(key, HttpError::Forbidden, true);
        }
        if self.ws_open >= self.max_connections {
            self.stats.handshakes_failed += 1;
            self.stats.refused_max_connections += 1;
            let reply =
                response::json_error(503, "too many connections", "Retry-After: 1\r\n", false);
            self.set_reason(key, Reason::Http);
            return self.linger_after(key, Some(Rc::from(reply)));
        }
        let now = self.now_ms;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let leftover = conn.http.take().map(|h| h.buf).unwrap_or_default();
        conn.phase = Phase::WebSocket;
        conn.endpoint = Some(endpoint);
        let id = conn.id;
        let deflate = req.deflate.as_ref().filter(|_| self.cfg.compression);
        conn.session = Session::new(now).with_deflate(deflate.is_some());
        let first_deadline = conn.session.poll_timeout(&self.session_cfg);
        self.http_order.remove(&id);
        log::log!(self.access_level(), "conn {id}: upgraded on {}", req.path);
        self.ws_open += 1;
        self.stats.handshakes_ok += 1;
        let extensions = deflate.map(|(_, response)| response.as_str());
        self.send(
            key,
            Rc::from(handshake::switching_protocols(&accept, extensions)),
        );
        // Set after the 101 is queued: from here on data frames may be compressed.
        if let (Some(conn), Some((agreed, _))) = (self.conns.get_mut(key), deflate) {
            conn.deflate_bits = agreed.window_bits;
        }
        if let Some(at) = first_deadline {
            self.schedule(key, at);
        }
        self.on_ws_open(key, &req.query);
        // Bytes that came right behind the request are the first frames.
        if !leftover.is_empty() {
            let mut leftover = leftover;
            self.on_ws_bytes(key, &mut leftover);
        }
    }

    /// A plain HTTP answer to `req`; the connection stays for the next
    /// request if the request allows keep-alive, else it closes once the
    /// answer is written.
    pub(super) fn http_reply(
        &mut self,
        key: usize,
        req: &OwnedRequest,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) {
        let how = Answer {
            keep_alive: req.keep_alive,
            head_only: req.head_only,
        };
        self.http_answer(key, how, status, content_type, body);
    }

    /// [`Self::http_reply`] once the request itself is gone.
    pub(super) fn http_answer(
        &mut self,
        key: usize,
        how: Answer,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) {
        let reply = Rc::from(
            Response {
                status,
                content_type,
                body,
                keep_alive: how.keep_alive,
                extra_headers: "",
                head_only: how.head_only,
            }
            .encode(),
        );
        if how.keep_alive {
            self.send(key, reply);
            let deadline = self.now_ms + ms(self.cfg.handshake_timeout);
            self.schedule(key, deadline);
        } else {
            self.set_reason(key, Reason::Http);
            self.linger_after(key, Some(reply));
        }
    }

    /// The JSON error answer, then close.
    pub(super) fn http_error(&mut self, key: usize, err: HttpError, was_upgrade: bool) {
        if was_upgrade {
            self.stats.handshakes_failed += 1;
        }
        if let Some(conn) = self.conns.get(key) {
            log::log!(self.access_level(), "conn {}: answered {err}", conn.id);
        }
        let head_only = self
            .conns
            .get(key)
            .and_then(|c| c.http.as_ref())
            .is_some_and(|h| h.head_only);
        self.set_reason(key, Reason::Http);
        self.linger_after(
            key,
            Some(Rc::from(response::error_response(err, head_only))),
        );
    }
}
