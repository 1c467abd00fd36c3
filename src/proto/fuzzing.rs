//! The bodies of the fuzz targets in `fuzz/`, kept here so that a plain
//! `cargo test` replays the committed corpus and regression inputs on stable
//! (see the test at the bottom). Each body panics only when an invariant of
//! the codec is broken, never because of what the input holds.
#![allow(clippy::panic, clippy::indexing_slicing, clippy::expect_used)]

use super::decoder::{Decoder, Message};
use super::error::{HandshakeError, ProtocolError};
use super::frame::{encode_frame, parse_header, OpCode, Side};
use super::handshake::{parse_request, HeadScanner};
use super::session::{CloseCause, Event as SessionEvent, Session, SessionConfig};

#[path = "fuzzing_deflate.rs"]
mod deflate_target;
pub use deflate_target::fuzz_deflate;

/// An owned decoder event, for comparing two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame.
    Close(Option<u16>, String),
    /// A compressed data message (its opcode bits and compressed payload).
    Compressed(u8, Vec<u8>),
    /// The decoder failed (always the last event).
    Error(ProtocolError),
}

impl From<Message<'_>> for Decoded {
    fn from(m: Message<'_>) -> Decoded {
        match m {
            Message::Text(t) => Decoded::Text(t.to_owned()),
            Message::Binary(b) => Decoded::Binary(b.to_vec()),
            Message::Ping(b) => Decoded::Ping(b.to_vec()),
            Message::Pong(b) => Decoded::Pong(b.to_vec()),
            Message::Close(code, reason) => Decoded::Close(code.map(|c| c.0), reason.to_owned()),
            Message::Compressed(op, b) => Decoded::Compressed(op.bits(), b.to_vec()),
        }
    }
}

/// Feed `chunks` one after the other to a fresh decoder; collect the events.
pub fn decode_chunks(side: Side, max: usize, chunks: &[&[u8]]) -> Vec<Decoded> {
    let mut dec = Decoder::new(side, max);
    let mut events = Vec::new();
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let mut pos = 0;
        loop {
            match dec.next_message(&mut buf, &mut pos) {
                Ok(Some(m)) => events.push(Decoded::from(m)),
                Ok(None) => break,
                Err(e) => {
                    events.push(Decoded::Error(e));
                    return events;
                }
            }
        }
    }
    events
}

/// Feed `input` in one piece.
pub fn decode_all(side: Side, max: usize, input: &[u8]) -> Vec<Decoded> {
    decode_chunks(side, max, &[input])
}

fn side_and_limit(selector: u8) -> (Side, usize) {
    let side = if selector & 1 == 0 {
        Side::Server
    } else {
        Side::Client
    };
    (
        side,
        [0usize, 1, 125, 1000, 1 << 16][usize::from(selector >> 1) % 5],
    )
}

/// `decode`: never panics; after the first error every later call errors.
pub fn fuzz_decode(data: &[u8]) {
    let Some((selector, input)) = data.split_first() else {
        return;
    };
    let (side, max) = side_and_limit(*selector);
    let mut dec = Decoder::new(side, max);
    let mut buf = input.to_vec();
    let mut pos = 0;
    let mut first_error = None;
    loop {
        match dec.next_message(&mut buf, &mut pos) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                first_error = Some(e);
                break;
            }
        }
        assert!(pos <= buf.len(), "position past the input");
    }
    if let Some(err) = first_error {
        for extra in [&b""[..], b"\x81\x80\0\0\0\0", input] {
            let mut more = extra.to_vec();
            let mut p = 0;
            assert_eq!(
                dec.next_message(&mut more, &mut p),
                Err(err),
                "decoder recovered after an error"
            );
        }
    }
}

/// `decode_chunked`: the input chooses chunk boundaries; the events must
/// equal those of the one-shot feed.
pub fn fuzz_decode_chunked(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((&ncuts, rest)) = rest.split_first() else {
        return;
    };
    let ncuts = usize::from(ncuts % 16);
    let (cut_bytes, input) = rest.split_at(ncuts.min(rest.len()));
    let (side, max) = side_and_limit(selector);
    let mut cuts: Vec<usize> = cut_bytes
        .iter()
        .map(|b| usize::from(*b) % (input.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks.push(&input[start..]);
    assert_eq!(
        decode_chunks(side, max, &chunks),
        decode_all(side, max, input)
    );
}

/// `handshake`: finding and parsing a head never panics, and gives the same
/// answer fed whole or in two pieces cut where the input says.
pub fn fuzz_handshake(data: &[u8]) {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    type Parsed = Option<(String, Result<String, HandshakeError>)>;
    let run = |pieces: &[&[u8]]| -> Result<Parsed, HandshakeError> {
        let mut scanner = HeadScanner::default();
        let mut buf = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            if let Some(n) = scanner.scan(&buf)? {
                let req = parse_request(&buf[..n])?;
                return Ok(Some((format!("{req:?}"), req.validate_upgrade())));
            }
        }
        Ok(None)
    };
    let cut = usize::from(cut) % (input.len() + 1);
    let (a, b) = input.split_at(cut);
    assert_eq!(run(&[a, b]), run(&[input]));
}

/// `roundtrip`: an arbitrary message, encoded by a client (masked, cut into
/// fragments where the input says), decodes to itself on the server.
pub fn fuzz_roundtrip(data: &[u8]) {
    let [op, k0, k1, k2, k3, frag, payload @ ..] = data else {
        return;
    };
    let key = [*k0, *k1, *k2, *k3];
    let opcode = [
        OpCode::Text,
        OpCode::Binary,
        OpCode::Ping,
        OpCode::Pong,
        OpCode::Close,
    ][usize::from(*op) % 5];
    let mut input = Vec::new();
    if opcode.is_control() {
        let payload = &payload[..payload.len().min(125)];
        input.extend(encode_frame(true, opcode, Some(key), payload));
        let events = decode_all(Side::Server, 1 << 20, &input);
        let expected = match opcode {
            OpCode::Ping => Decoded::Ping(payload.to_vec()),
            OpCode::Pong => Decoded::Pong(payload.to_vec()),
            _ => match decode_all(
                Side::Client,
                1 << 20,
                &encode_frame(true, opcode, None, payload),
            )
            .pop()
            {
                Some(e) => e,
                None => panic!("no event for a close frame"),
            },
        };
        assert_eq!(events, vec![expected]);
        return;
    }
    let step = usize::from(*frag).max(1);
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![&[]]
    } else {
        payload.chunks(step).collect()
    };
    for (i, piece) in pieces.iter().enumerate() {
        let op = if i == 0 { opcode } else { OpCode::Continuation };
        input.extend(encode_frame(i + 1 == pieces.len(), op, Some(key), piece));
    }
    let expected = match (opcode, std::str::from_utf8(payload)) {
        (OpCode::Text, Ok(s)) => Decoded::Text(s.to_owned()),
        (OpCode::Text, Err(_)) => Decoded::Error(ProtocolError::InvalidUtf8),
        _ => Decoded::Binary(payload.to_vec()),
    };
    assert_eq!(decode_all(Side::Server, 1 << 20, &input), vec![expected]);
}

/// `differential`: our header parser and tungstenite's accept the same
/// headers with the same fields, or both reject.
#[cfg(any(test, feature = "oracle"))]
pub fn fuzz_differential(data: &[u8]) {
    use tungstenite::protocol::frame::{coding, FrameHeader as TFrameHeader};
    let ours = parse_header(data);
    let mut cursor = std::io::Cursor::new(data);
    let theirs = TFrameHeader::parse(&mut cursor);
    match (ours, theirs) {
        (Ok(None), Ok(None)) | (Err(_), Err(_)) => {}
        (Ok(Some((h, n))), Ok(Some((t, len)))) => {
            let op = |o: coding::OpCode| -> u8 { o.into() };
            assert_eq!(n as u64, cursor.position(), "header length");
            assert_eq!(h.payload_len, len, "payload length");
            assert_eq!(h.fin, t.is_final);
            assert_eq!(
                h.rsv,
                u8::from(t.rsv1) << 2 | u8::from(t.rsv2) << 1 | u8::from(t.rsv3)
            );
            assert_eq!(h.opcode.bits(), op(t.opcode));
            assert_eq!(h.mask, t.mask);
        }
        (ours, theirs) => panic!("disagree: ours {ours:?}, tungstenite {theirs:?}"),
    }
}

/// Also runnable without the oracle: the header parser must not panic.
#[cfg(not(any(test, feature = "oracle")))]
pub fn fuzz_differential(data: &[u8]) {
    let _ = parse_header(data);
}

/// What a server session should make of `events` from its decoder: data
/// messages, a pong per ping, and the end at the first close or error.
fn expected_session_events(events: &[Decoded]) -> Vec<SessionSeen> {
    let mut out = Vec::new();
    for event in events {
        match event {
            Decoded::Text(t) => out.push(SessionSeen::Text(t.clone())),
            Decoded::Binary(b) => out.push(SessionSeen::Binary(b.clone())),
            Decoded::Ping(p) => out.push(SessionSeen::Transmit(encode_frame(
                true,
                OpCode::Pong,
                None,
                p,
            ))),
            Decoded::Pong(_) => {}
            // Only with permessage-deflate, which these sessions do not negotiate.
            Decoded::Compressed(..) => break,
            Decoded::Close(..) => {
                out.push(SessionSeen::Closed(None));
                break;
            }
            Decoded::Error(e) => {
                out.push(SessionSeen::Closed(Some(*e)));
                break;
            }
        }
    }
    out
}

/// A session event, owned, with the cause of a close reduced to its error.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SessionSeen {
    Text(String),
    Binary(Vec<u8>),
    Transmit(Vec<u8>),
    Closed(Option<ProtocolError>),
}

/// Feed `chunks` to a fresh server session at time 0.
fn session_chunks(max: usize, chunks: &[&[u8]]) -> Vec<SessionSeen> {
    let cfg = SessionConfig::new(max, 20_000, 60_000, 10_000);
    let mut session = Session::new(0);
    let mut inflater = crate::proto::deflate::Inflater::default();
    let mut out = Vec::new();
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let mut pos = 0;
        while let Some(event) = session.handle_bytes(&cfg, 0, &mut buf, &mut pos) {
            let event = match event {
                SessionEvent::Compressed(op, b) => session.inflate(&cfg, &mut inflater, op, &b),
                other => other,
            };
            out.push(match event {
                SessionEvent::Text(t) => SessionSeen::Text(t.into_owned()),
                SessionEvent::Binary(b) => SessionSeen::Binary(b.into_owned()),
                SessionEvent::Transmit(f) => SessionSeen::Transmit(f.to_vec()),
                SessionEvent::Compressed(..) => unreachable!("inflated above"),
                SessionEvent::Closed { cause, .. } => SessionSeen::Closed(match cause {
                    CloseCause::Protocol(e) => Some(e),
                    _ => None,
                }),
            });
        }
        assert_eq!(pos, buf.len(), "a session consumes all it is given");
    }
    out
}

/// `session`: a server session (with its stateless fast path for whole
/// frames) agrees with the decoder, fed whole, in two pieces, and byte by
/// byte.
pub fn fuzz_session(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let max = [1usize, 125, 1000, 1 << 16][usize::from(selector & 3)];
    let expected = expected_session_events(&decode_all(Side::Server, max, input));
    assert_eq!(session_chunks(max, &[input]), expected, "whole");
    let cut = usize::from(selector >> 2) * input.len() / 64;
    let (a, b) = input.split_at(cut.min(input.len()));
    assert_eq!(session_chunks(max, &[a, b]), expected, "cut at {cut}");
    if input.len() <= 4096 {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(session_chunks(max, &bytes), expected, "byte by byte");
    }
}

#[cfg(test)]
pub(crate) fn replay_corpus(target: &str, body: fn(&[u8])) -> usize {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Ok(bytes) = std::fs::read(entry.path()) {
                body(&bytes);
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(target: &str, body: fn(&[u8])) {
        assert!(
            replay_corpus(target, body) > 0,
            "no corpus committed for {target}"
        );
    }

    #[test]
    fn replay_session() {
        // Its own corpus, and the decoder's: every decode input through a session.
        replay("session", fuzz_session);
        replay("decode", fuzz_session);
        replay("decode_chunked", fuzz_session);
    }

    #[test]
    fn replay_decode() {
        replay("decode", fuzz_decode);
    }
    #[test]
    fn replay_decode_chunked() {
        replay("decode_chunked", fuzz_decode_chunked);
    }
    #[test]
    fn replay_handshake() {
        replay("handshake", fuzz_handshake);
    }
    #[test]
    fn replay_roundtrip() {
        replay("roundtrip", fuzz_roundtrip);
    }
    #[test]
    fn replay_deflate() {
        replay("deflate", fuzz_deflate);
    }
    #[test]
    fn replay_differential() {
        replay("differential", fuzz_differential);
    }
}
