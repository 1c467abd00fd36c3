//! The protocol's JSON in and out: client requests borrowed from the frame
//! they came in, and server events written straight into a frame buffer (no
//! `Value` trees; `data` is copied byte for byte, never re-serialized).

use crate::proto::frame::{encode_header, header_len, OpCode, MAX_HEADER_LEN};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io::Write as _;
use std::rc::Rc;

/// A client request: every field any request type may carry. Which ones
/// are required depends on `type`; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Request<'a> {
    /// The request type.
    #[serde(rename = "type", borrow)]
    pub kind: Option<Cow<'a, str>>,
    /// Echoed in the reply, ack or error: a string or a number.
    #[serde(borrow, default, deserialize_with = "some_raw")]
    pub id: Option<&'a RawValue>,
    /// A room name.
    #[serde(borrow)]
    pub room: Option<Cow<'a, str>>,
    /// Any JSON value, passed through as it came.
    #[serde(borrow, default, deserialize_with = "some_raw")]
    pub data: Option<&'a RawValue>,
    /// The last seq the client saw.
    pub since: Option<u64>,
    /// The room epoch the client saw.
    #[serde(borrow)]
    pub epoch: Option<Cow<'a, str>>,
    /// How many history messages.
    pub limit: Option<u64>,
    /// The recipient of a private message.
    #[serde(borrow)]
    pub to: Option<Cow<'a, str>>,
    /// The target user of a moderation request.
    #[serde(borrow)]
    pub user: Option<Cow<'a, str>>,
    /// A reason given with a moderation request.
    #[serde(borrow)]
    pub reason: Option<Cow<'a, str>>,
    /// Ban length in seconds (kick).
    pub ban_seconds: Option<f64>,
    /// Mute length in seconds.
    pub seconds: Option<f64>,
    /// A message's seq (retract).
    pub seq: Option<u64>,
}

/// `null` is a value too: a present field is `Some`, even when it is `null`.
fn some_raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Why a text could not be read as a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON at all.
    BadJson,
    /// JSON, but not a request object of the right shape.
    BadRequest,
}

/// Parse a request; the `id` must be a string or a number.
pub fn parse_request(text: &str) -> Result<Request<'_>, ParseError> {
    let req: Request<'_> = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ParseError::BadRequest,
        _ => ParseError::BadJson,
    })?;
    if let Some(id) = req.id {
        let first = id.get().as_bytes().first().copied().unwrap_or(b' ');
        if !(first == b'"' || first == b'-' || first.is_ascii_digit()) {
            return Err(ParseError::BadRequest);
        }
    }
    Ok(req)
}

/// A server event being written as one WebSocket text frame: the header is
/// filled in front of the JSON when it is finished, so the bytes are
/// written once and shared by every recipient.
#[derive(Debug)]
pub struct JsonFrame {
    buf: Vec<u8>,
}

impl JsonFrame {
    /// Start `{"type":"<kind>"`.
    pub fn new(kind: &str) -> JsonFrame {
        let mut buf = Vec::with_capacity(128);
        buf.resize(MAX_HEADER_LEN, 0);
        buf.extend_from_slice(b"{\"type\":\"");
        buf.extend_from_slice(kind.as_bytes());
        buf.push(b'"');
        JsonFrame { buf }
    }

    fn key(&mut self, key: &str) {
        self.buf.extend_from_slice(b",\"");
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// `,"key":<json>` with `json` already valid JSON.
    pub fn raw(mut self, key: &str, json: &str) -> JsonFrame {
        self.key(key);
        self.buf.extend_from_slice(json.as_bytes());
        self
    }

    /// `,"key":"<escaped s>"`.
    pub fn str(mut self, key: &str, s: &str) -> JsonFrame {
        self.key(key);
        write_str(&mut self.buf, s);
        self
    }

    /// `,"key":n`.
    pub fn num(mut self, key: &str, n: u64) -> JsonFrame {
        self.key(key);
        let _ = write!(self.buf, "{n}");
        self
    }

    /// `,"key":true|false`.
    pub fn bool(self, key: &str, b: bool) -> JsonFrame {
        self.raw(key, if b { "true" } else { "false" })
    }

    /// `,"id":<id>` if the request had one.
    pub fn id(self, id: Option<&RawValue>) -> JsonFrame {
        match id {
            Some(id) => self.raw("id", id.get()),
            None => self,
        }
    }

    /// Close the object and frame it. Returns the frame and where its JSON starts.
    pub fn finish_with_offset(mut self) -> (Rc<[u8]>, usize) {
        self.buf.push(b'}');
        text_frame(&mut self.buf)
    }

    /// Close the object and frame it.
    pub fn finish(self) -> Rc<[u8]> {
        self.finish_with_offset().0
    }
}

/// Room for the longest server frame header, at the start of a buffer
/// handed to [`text_frame`].
pub const FRAME_HEADROOM: usize = MAX_HEADER_LEN;

/// `buf[FRAME_HEADROOM..]` framed as one text message (the header written
/// into the headroom); the frame and where its payload starts.
pub fn text_frame(buf: &mut [u8]) -> (Rc<[u8]>, usize) {
    let mut head = [0u8; MAX_HEADER_LEN];
    let len = buf.len().saturating_sub(MAX_HEADER_LEN) as u64;
    let n = encode_header(&mut head, true, OpCode::Text, None, len);
    let start = MAX_HEADER_LEN - n;
    if let (Some(dst), Some(src)) = (buf.get_mut(start..MAX_HEADER_LEN), head.get(..n)) {
        dst.copy_from_slice(src);
    }
    (Rc::from(buf.get(start..).unwrap_or_default()), n)
}

/// `s` as a JSON string literal appended to `out`.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `s` as a JSON string literal.
pub fn quote(s: &str) -> Box<str> {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_str(&mut out, s);
    String::from_utf8(out).unwrap_or_default().into_boxed_str()
}

/// Why a `data` value is refused (the reason of its `bad_json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataError {
    /// Nested deeper than `max_json_depth`.
    TooDeep,
    /// A number outside IEEE 754 double range (RFC 7493 §2.2).
    NumberOutOfRange,
    /// A `\u` escape of half a surrogate pair (RFC 7493 §2.1).
    LoneSurrogate,
}

impl DataError {
    /// The reason sent with `bad_json`.
    pub fn reason(self) -> &'static str {
        match self {
            DataError::TooDeep => "data is nested deeper than max_json_depth",
            DataError::NumberOutOfRange => "data has a number beyond double range (I-JSON)",
            DataError::LoneSurrogate => "data has a lone surrogate escape (I-JSON)",
        }
    }
}

/// Check `json` (syntactically valid JSON, as `serde_json` handed it over)
/// before it is stored and sent to others (SPEC §6): at most `max_depth`
/// arrays and objects deep, and I-JSON (RFC 7493): numbers a double can
/// hold, no lone surrogates. Every member's parser, and every later
/// `history` reply, would choke on what passes through otherwise. One
/// pass over the bytes, no allocation.
pub fn check_data(json: &str, max_depth: usize) -> Result<(), DataError> {
    let bytes = json.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    while let Some(&b) = bytes.get(i) {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(DataError::TooDeep);
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' => i = check_string(bytes, i + 1)?,
            b'-' | b'0'..=b'9' => {
                let end = bytes
                    .get(i..)
                    .and_then(|rest| {
                        rest.iter().position(|c| {
                            !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                        })
                    })
                    .map_or(bytes.len(), |n| i + n);
                let number = json.get(i..end).unwrap_or_default();
                if !number.parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(DataError::NumberOutOfRange);
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Past the string whose contents start at `i`; checks `\u` surrogates.
fn check_string(bytes: &[u8], mut i: usize) -> Result<usize, DataError> {
    let hex = |at: usize| -> Option<u16> {
        let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
        u16::from_str_radix(digits, 16).ok()
    };
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => return Ok(i + 1),
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                let unit = hex(i + 2).unwrap_or(0);
                i += 6;
                if (0xDC00..=0xDFFF).contains(&unit) {
                    return Err(DataError::LoneSurrogate);
                }
                if (0xD800..=0xDBFF).contains(&unit) {
                    // A high surrogate must be followed by a low one.
                    let low = (bytes.get(i) == Some(&b'\\') && bytes.get(i + 1) == Some(&b'u'))
                        .then(|| hex(i + 2))
                        .flatten();
                    if !low.is_some_and(|l| (0xDC00..=0xDFFF).contains(&l)) {
                        return Err(DataError::LoneSurrogate);
                    }
                    i += 6;
                }
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Ok(i)
}

/// Whether `frame` (one of ours, as [`JsonFrame`] wrote it) is a private
/// message: its JSON starts with `{"type":"private"` right after the header.
pub fn is_private_frame(frame: &[u8]) -> bool {
    const PRIVATE: &[u8] = b"{\"type\":\"private\"";
    frame
        .get(1)
        .and_then(|b1| frame.get(header_len(*b1)..))
        .is_some_and(|json| json.starts_with(PRIVATE))
}

/// An `error` event (SPEC §2).
pub fn error(code: &str, reason: &str, id: Option<&RawValue>) -> Rc<[u8]> {
    JsonFrame::new("error")
        .str("code", code)
        .str("reason", reason)
        .id(id)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::fuzzing::{decode_all, Decoded as Ev};
    use crate::proto::Side;

    #[test]
    fn events_are_framed_json() {
        let big = "x".repeat(300);
        for s in ["a\"b", big.as_str()] {
            let frame = JsonFrame::new("chat")
                .str("room", s)
                .num("seq", 7)
                .raw("data", "{\"k\":[1,2]}")
                .bool("ok", true)
                .finish();
            let events = decode_all(Side::Client, 1 << 20, &frame);
            let Ev::Text(text) = &events[0] else {
                panic!("{events:?}")
            };
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["type"], "chat");
            assert_eq!(v["room"], s);
            assert_eq!(v["seq"], 7);
            assert_eq!(v["data"]["k"][1], 2);
        }
    }

    #[test]
    fn private_frames_are_recognised_whatever_their_length() {
        for len in [1, 200, 70_000] {
            let data = format!("\"{}\"", "x".repeat(len));
            let private = JsonFrame::new("private").raw("data", &data).finish();
            let chat = JsonFrame::new("chat").raw("data", &data).finish();
            assert!(is_private_frame(&private), "{len}");
            assert!(!is_private_frame(&chat), "{len}");
        }
        assert!(!is_private_frame(&[]));
    }

    #[test]
    fn data_is_checked_for_depth_and_i_json() {
        let ok = r#"{"a":[1,-2.5e10,{"b":"\u00e9\ud83d\ude00 [ \" ]"}],"c":null}"#;
        assert_eq!(check_data(ok, 3), Ok(()));
        assert_eq!(check_data(ok, 2), Err(DataError::TooDeep));
        let deep = format!("{}1{}", "[".repeat(33), "]".repeat(33));
        assert_eq!(check_data(&deep, 32), Err(DataError::TooDeep));
        assert_eq!(check_data(&deep[1..deep.len() - 1], 32), Ok(()));
        assert_eq!(check_data("1e999999", 32), Err(DataError::NumberOutOfRange));
        assert_eq!(check_data("[-1e309]", 32), Err(DataError::NumberOutOfRange));
        assert_eq!(check_data("1.7976931348623157e308", 32), Ok(()));
        assert_eq!(check_data(r#""\ud800""#, 32), Err(DataError::LoneSurrogate));
        assert_eq!(
            check_data(r#""\udc00x""#, 32),
            Err(DataError::LoneSurrogate)
        );
        assert_eq!(
            check_data(r#""\ud800\u0041""#, 32),
            Err(DataError::LoneSurrogate)
        );
        assert_eq!(
            check_data(r#""\\ud800""#, 32),
            Ok(()),
            "an escaped backslash"
        );
        // What passes, serde_json reads back.
        for good in [ok, r#""\\u""#, "0", "[]"] {
            assert!(check_data(good, 32).is_ok());
            assert!(
                serde_json::from_str::<serde_json::Value>(good).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn requests_parse_with_data_passed_through() {
        let r = parse_request(r#"{"type":"chat","data": {"a" : 1.50e3},"id":"x\"y"}"#).unwrap();
        assert_eq!(r.kind.as_deref(), Some("chat"));
        assert_eq!(r.data.unwrap().get(), r#"{"a" : 1.50e3}"#);
        assert_eq!(r.id.unwrap().get(), r#""x\"y""#);
        let r = parse_request(r#"{"type":"chat","data":null}"#).unwrap();
        assert_eq!(r.data.unwrap().get(), "null");
        assert_eq!(parse_request("{nope").unwrap_err(), ParseError::BadJson);
        assert_eq!(parse_request("[1]").unwrap_err(), ParseError::BadRequest);
        assert_eq!(
            parse_request(r#"{"type":"join","since":"x"}"#).unwrap_err(),
            ParseError::BadRequest
        );
        assert_eq!(
            parse_request(r#"{"type":"join","id":{}}"#).unwrap_err(),
            ParseError::BadRequest
        );
    }
}
