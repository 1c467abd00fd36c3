//! `/api/*` (SPEC §1), `/metrics` (SPEC §5) and the demo page. The room
//! model produces the JSON; this file checks the key, routes, and answers.

use super::http::url::{path_segments, query_param};
use super::http::HttpError;
use super::Server;
use crate::room::{Kick, Posted, Query, Refusal, RoomEvent, Sent};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt::Write as _;

#[derive(Deserialize)]
struct PublishBody<'a> {
    #[serde(borrow)]
    room: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    user: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    broadcast: bool,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow, rename = "type")]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    from: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct KickBody<'a> {
    #[serde(borrow)]
    user: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    room: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<std::borrow::Cow<'a, str>>,
    ban_seconds: Option<f64>,
}

#[derive(Deserialize)]
struct RetractBody<'a> {
    #[serde(borrow)]
    room: std::borrow::Cow<'a, str>,
    seq: u64,
}

#[derive(Deserialize)]
struct MuteBody<'a> {
    #[serde(borrow)]
    user: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    room: std::borrow::Cow<'a, str>,
    seconds: f64,
}

/// Compare in constant time (`subtle`), so the key cannot be guessed byte
/// by byte from response times. Only the length may leak.
/// A publish answer: now, or once the engine acks the ticket.
enum Published {
    Now(String),
    Later(u64),
}

fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// A kick or mute refused: 400 or 503 (SPEC §6, `max_bans`).
fn refusal_status(refusal: Refusal) -> HttpError {
    match refusal {
        Refusal::BadRequest(why) => HttpError::BadRequest(why),
        Refusal::OverCapacity(key) => HttpError::Unavailable(key),
    }
}

/// A JSON object of numbers, for the API's answers.
fn ack_json(fields: &[(&str, u64)]) -> String {
    let mut e = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            e.push(',');
        }
        let _ = write!(e, "\"{k}\":{v}");
    }
    e.push('}');
    e
}

impl Server {
    /// Route an `/api/*` request (the path starts with `/api/`).
    pub(super) fn api(&mut self, key: usize, req: &super::http::OwnedRequest, body: &[u8]) {
        match &self.cfg.api_key {
            Some(expected) => {
                let given = req
                    .authorization
                    .as_deref()
                    .and_then(|a| a.split_once(' '))
                    // RFC 9110 §11.1: the scheme is case-insensitive.
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map_or("", |(_, key)| key);
                if !same_secret(given.trim().as_bytes(), expected.as_bytes()) {
                    return self.http_error(key, HttpError::Unauthorized, false);
                }
            }
            None if self.cfg.api_insecure => {}
            None => return self.http_error(key, HttpError::ApiOff, false),
        }
        let Some(segments) = path_segments(&req.path, "/api/") else {
            return self.http_error(key, HttpError::BadRequest("bad percent-encoding"), false);
        };
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let q = |name| query_param(&req.query, name).and_then(|v| v.parse::<u64>().ok());
        let method = if req.head_only {
            "GET"
        } else {
            req.method.as_str()
        };
        let result: Result<String, HttpError> = match (method, segs.as_slice()) {
            ("GET", ["stats"]) => Ok(self.stats_json()),
            ("GET", ["stats", "history"]) => Ok(self.stats_history_json()),
            ("GET", ["users", user]) => match self.hub.user_query(user) {
                Ok(Query::Later(ticket)) => return self.await_ack(key, req, ticket),
                Ok(Query::Here) => Ok(self.hub.user_json(user)),
                Err(_) => Err(HttpError::Unavailable("engine unavailable")),
            },
            ("GET", ["rooms"]) => match self.with_hub(|hub, _, now| hub.rooms_query(now)) {
                Ok(Query::Later(ticket)) => return self.await_ack(key, req, ticket),
                Ok(Query::Here) => Ok(self.with_hub(|hub, _, now| hub.rooms_json(now))),
                Err(_) => Err(HttpError::Unavailable("engine unavailable")),
            },
            ("GET", ["rooms", room]) => self
                .with_hub(|hub, _, now| hub.room_json(room, now))
                .ok_or(HttpError::NotFound),
            ("GET", ["rooms", room, "history"]) => self
                .hub
                .history_json(room, q("since"), q("limit"))
                .ok_or(HttpError::NotFound),
            ("POST", ["publish"]) => match self.api_publish(body) {
                Ok(Published::Now(json)) => Ok(json),
                Ok(Published::Later(ticket)) => return self.await_ack(key, req, ticket),
                Err(e) => Err(e),
            },
            ("POST", ["kick"]) => match self.api_kick(body) {
                Ok(Published::Now(json)) => Ok(json),
                Ok(Published::Later(ticket)) => return self.await_ack(key, req, ticket),
                Err(e) => Err(e),
            },
            ("POST", ["mute"]) => self.api_mute(body),
            ("POST", ["retract"]) => self.api_retract(body),
            (
                _,
                ["stats"]
                | ["stats", "history"]
                | ["users", _]
                | ["rooms"]
                | ["rooms", _]
                | ["rooms", _, "history"]
                | ["publish"]
                | ["kick"]
                | ["retract"]
                | ["mute"],
            ) => Err(HttpError::MethodNotAllowed),
            _ => Err(HttpError::NotFound),
        };
        match result {
            Ok(json) => self.http_reply(key, req, 200, "application/json", json.as_bytes()),
            Err(e) => self.http_error(key, e, false),
        }
    }

    /// The answer to `POST /api/publish` waits for the engine's ack.
    fn await_ack(&mut self, key: usize, req: &super::http::OwnedRequest, ticket: u64) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(http) = conn.http.as_mut() {
            http.awaiting = true;
        }
        let how = super::http::Answer {
            keep_alive: req.keep_alive,
            head_only: req.head_only,
        };
        self.awaiting_acks.insert(ticket, (key, conn.id, how));
    }

    /// Answer the API publications the engine acked.
    pub(super) fn answer_acks(&mut self) {
        for (ticket, outcome) in self.hub.take_acks() {
            let Some((key, id, how)) = self.awaiting_acks.remove(&ticket) else {
                continue;
            };
            let Some(conn) = self.conns.get_mut(key).filter(|c| c.id == id) else {
                continue;
            };
            if let Some(http) = conn.http.as_mut() {
                http.awaiting = false;
            }
            match outcome {
                Some(json) => {
                    self.http_answer(key, how, 200, "application/json", json.as_bytes());
                }
                None => self.http_error(key, HttpError::Unavailable("engine unavailable"), false),
            }
            self.http_resume.push(key);
        }
    }

    fn api_publish(&mut self, body: &[u8]) -> Result<Published, HttpError> {
        let b: PublishBody<'_> = serde_json::from_slice(body)
            .map_err(|_| HttpError::BadRequest("body must be a JSON object"))?;
        let data = b
            .data
            .ok_or(HttpError::BadRequest("publish needs data"))?
            .get();
        crate::room::protocol::check_data(data, self.cfg.max_json_depth)
            .map_err(|e| HttpError::BadRequest(e.reason()))?;
        if let Some(room) = b.room.as_deref() {
            let event = RoomEvent {
                data,
                kind: b.kind.as_deref(),
                from: b.from.as_deref(),
            };
            let posted = self
                .with_hub(|hub, net, now| hub.publish_to_room(room, event, now, net))
                .map_err(refusal_status)?;
            match posted {
                Posted::Done(delivered, seq) => Ok(Published::Now(ack_json(&[
                    ("delivered", delivered as u64),
                    ("seq", seq),
                ]))),
                Posted::Pending(ticket) => Ok(Published::Later(ticket)),
            }
        } else if let Some(user) = b.user.as_deref() {
            let sent = self
                .with_hub(|hub, net, now| hub.publish_to_user(user, data, now, net))
                .ok_or(HttpError::BadRequest("bad user id"))?;
            match sent {
                Sent::Done(delivered, stored) => Ok(Published::Now(format!(
                    "{{\"delivered\":{delivered},\"stored\":{stored}}}"
                ))),
                Sent::Pending(ticket) => Ok(Published::Later(ticket)),
                Sent::Unavailable => Err(HttpError::Unavailable("engine unavailable")),
            }
        } else if b.broadcast {
            let delivered = self.with_hub(|hub, net, now| hub.publish_broadcast(data, now, net));
            Ok(Published::Now(ack_json(&[("delivered", delivered as u64)])))
        } else {
            Err(HttpError::BadRequest(
                "publish needs room, user or broadcast",
            ))
        }
    }

    fn api_kick(&mut self, body: &[u8]) -> Result<Published, HttpError> {
        let b: KickBody<'_> =
            serde_json::from_slice(body).map_err(|_| HttpError::BadRequest("kick needs user"))?;
        let kick = Kick {
            user: &b.user,
            room: b.room.as_deref(),
            reason: b.reason.as_deref(),
            ban_seconds: b.ban_seconds,
        };
        let kicked = self
            .with_hub(|hub, net, now| hub.kick(kick, now, net))
            .map_err(refusal_status)?;
        // An engine that shares state counts the connections on every node.
        match self.hub.kick_count(&b.user, b.room.as_deref()) {
            Query::Later(ticket) => Ok(Published::Later(ticket)),
            Query::Here => Ok(Published::Now(ack_json(&[("kicked", kicked as u64)]))),
        }
    }

    fn api_retract(&mut self, body: &[u8]) -> Result<String, HttpError> {
        let b: RetractBody<'_> = serde_json::from_slice(body)
            .map_err(|_| HttpError::BadRequest("retract needs room and seq"))?;
        if self.with_hub(|hub, net, _| hub.retract(&b.room, b.seq, net)) {
            Ok("{\"retracted\":true}".to_owned())
        } else {
            Err(HttpError::NotFound)
        }
    }

    fn api_mute(&mut self, body: &[u8]) -> Result<String, HttpError> {
        let b: MuteBody<'_> = serde_json::from_slice(body)
            .map_err(|_| HttpError::BadRequest("mute needs user, room and seconds"))?;
        self.with_hub(|hub, _, now| hub.mute(&b.user, &b.room, b.seconds, now))
            .map_err(refusal_status)?;
        Ok("{\"muted\":true}".to_owned())
    }
}
