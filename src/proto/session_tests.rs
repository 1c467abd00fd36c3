//! The session against a client in memory, with a simulated clock (as
//! quinn-proto's `Pair`): close handshakes, keep-alive and every timeout,
//! tested in microseconds without sockets.

use super::*;
use crate::proto::clock::{Clock, MS_MASK};
use crate::proto::decoder::Decoder;
use crate::proto::fuzzing::{decode_all, Decoded as Frame};

const S: u64 = 1_000;

fn cfg() -> SessionConfig {
    // SPEC §5 defaults: ping every 20 s of silence, closed after 60 s,
    // 10 s to finish a close handshake.
    SessionConfig::new(1 << 16, 20 * S, 60 * S, 10 * S)
}

/// A client frame, masked as RFC 6455 §5.3 requires.
fn client(op: OpCode, payload: &[u8]) -> Vec<u8> {
    encode_frame(true, op, Some([1, 2, 3, 4]), payload)
}

fn client_close(code: u16) -> Vec<u8> {
    client(OpCode::Close, &close_payload(code, "bye"))
}

/// Every event the session makes of `bytes` at `now`, owned.
fn feed(s: &mut Session, now: u64, bytes: &[u8]) -> Vec<Event<'static>> {
    let mut buf = bytes.to_vec();
    let mut pos = 0;
    let mut out = Vec::new();
    while let Some(ev) = s.handle_bytes(&cfg(), now, &mut buf, &mut pos) {
        out.push(owned(ev));
    }
    assert_eq!(pos, buf.len(), "every byte consumed");
    out
}

fn owned(ev: Event<'_>) -> Event<'static> {
    match ev {
        Event::Text(t) => Event::Text(Cow::Owned(t.into_owned())),
        Event::Binary(b) => Event::Binary(Cow::Owned(b.into_owned())),
        Event::Transmit(f) => Event::Transmit(f),
        Event::Closed { reply, cause } => Event::Closed { reply, cause },
        Event::Compressed(op, b) => Event::Compressed(op, Cow::Owned(b.into_owned())),
    }
}

/// What the client reads in a server frame.
fn read(frame: &[u8]) -> Frame {
    let mut events = decode_all(Side::Client, 1 << 16, frame);
    assert_eq!(events.len(), 1, "{events:?}");
    events.remove(0)
}

fn close_code_of(frame: &[u8]) -> Option<u16> {
    match read(frame) {
        Frame::Close(code, _) => code,
        other => panic!("not a close: {other:?}"),
    }
}

#[test]
fn messages_flow_and_pings_are_answered_with_the_same_data() {
    let mut s = Session::new(0);
    let mut bytes = client(OpCode::Text, "héllo".as_bytes());
    bytes.extend(client(OpCode::Ping, b"are you there"));
    bytes.extend(client(OpCode::Binary, &[0, 1, 2]));
    bytes.extend(client(OpCode::Pong, b"unsolicited"));
    let events = feed(&mut s, 5, &bytes);
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0], Event::Text(Cow::Borrowed("héllo")));
    let Event::Transmit(pong) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(read(pong), Frame::Pong(b"are you there".to_vec()));
    assert_eq!(events[2], Event::Binary(Cow::Borrowed(&[0u8, 1, 2][..])));
    assert!(s.is_open());
}

#[test]
fn a_message_split_across_reads_at_every_index_arrives_once() {
    let mut whole = client(OpCode::Text, &[b'x'; 300]);
    whole.extend(client(OpCode::Text, b"second"));
    for cut in 0..=whole.len() {
        let mut s = Session::new(0);
        let mut events = feed(&mut s, 1, &whole[..cut]);
        if cut > 0 && cut < whole.len() {
            assert!(
                s.buffered_capacity() > 0 || events.len() == 1,
                "a partial frame is kept (cut {cut})"
            );
        }
        events.extend(feed(&mut s, 2, &whole[cut..]));
        let texts: Vec<String> = events
            .iter()
            .map(|e| match e {
                Event::Text(t) => t.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, vec!["x".repeat(300), "second".into()], "cut {cut}");
        assert_eq!(s.buffered_capacity(), 0, "an idle session holds no heap");
    }
}

#[test]
fn the_peer_closes_and_we_echo_its_code() {
    let mut s = Session::new(0);
    let mut bytes = client_close(1001);
    bytes.extend(client(OpCode::Text, b"after close")); // never read
    let events = feed(&mut s, 1, &bytes);
    let [Event::Closed {
        reply: Some(reply),
        cause: CloseCause::Handshake,
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(close_code_of(reply), Some(1001));
    assert_eq!(s.state(), State::Closed);
    assert_eq!(s.poll_timeout(&cfg()), None);
    assert!(feed(&mut s, 2, &client(OpCode::Text, b"x")).is_empty());
}

#[test]
fn we_close_the_peer_answers_and_data_in_between_is_ignored() {
    let mut s = Session::new(0);
    let frame = s.close(&cfg(), 100, CloseCode::KICKED, "kicked").unwrap();
    assert_eq!(close_code_of(&frame), Some(4001));
    assert_eq!(s.state(), State::CloseSent);
    assert!(
        s.close(&cfg(), 101, CloseCode::NORMAL, "").is_none(),
        "once"
    );
    assert_eq!(s.next_timer(&cfg()), Some((Timer::Close, 100 + 10 * S)));
    // §5.5.1: after our close, data and pings are read and dropped.
    let mut bytes = client(OpCode::Text, b"late");
    bytes.extend(client(OpCode::Ping, b"p"));
    assert!(feed(&mut s, 200, &bytes).is_empty());
    let events = feed(&mut s, 300, &client_close(1000));
    assert_eq!(
        events,
        vec![Event::Closed {
            reply: None,
            cause: CloseCause::Handshake
        }]
    );
}

#[test]
fn an_unanswered_close_times_out_at_close_timeout() {
    let mut s = Session::new(0);
    s.close(&cfg(), 1_000, CloseCode::GOING_AWAY, "shutdown");
    assert_eq!(s.handle_timeout(&cfg(), 1_000 + 10 * S - 1), None);
    assert_eq!(
        s.handle_timeout(&cfg(), 1_000 + 10 * S),
        Some(Event::Closed {
            reply: None,
            cause: CloseCause::CloseTimeout
        })
    );
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn pings_every_interval_of_silence_then_idle_close() {
    // SPEC §5: at 20, 40 s of silence a ping; at 60 s closed.
    let mut s = Session::new(0);
    let c = cfg();
    assert_eq!(s.next_timer(&c), Some((Timer::Ping, 20 * S)));
    assert_eq!(s.handle_timeout(&c, 20 * S - 1), None);
    assert_eq!(
        s.handle_timeout(&c, 20 * S),
        Some(Event::Transmit(c.ping.clone()))
    );
    assert_eq!(read(&c.ping), Frame::Ping(Vec::new()));
    assert_eq!(s.next_timer(&c), Some((Timer::Ping, 40 * S)));
    assert!(matches!(
        s.handle_timeout(&c, 40 * S),
        Some(Event::Transmit(_))
    ));
    assert_eq!(s.next_timer(&c), Some((Timer::Idle, 60 * S)));
    let Some(Event::Closed {
        reply: Some(reply),
        cause: CloseCause::Idle,
    }) = s.handle_timeout(&c, 60 * S)
    else {
        panic!("idle close expected")
    };
    assert_eq!(close_code_of(&reply), Some(1000));
}

#[test]
fn any_byte_resets_the_cadence_evenly() {
    // Regression: pings alternated 20 s and 40 s apart after a pong.
    let mut s = Session::new(0);
    let c = cfg();
    assert!(s.handle_timeout(&c, 20 * S).is_some());
    // The pong comes back at 20.05 s: the next ping is 20 s later.
    assert!(feed(&mut s, 20 * S + 50, &client(OpCode::Pong, b"")).is_empty());
    assert_eq!(s.next_timer(&c), Some((Timer::Ping, 40 * S + 50)));
    assert!(s.handle_timeout(&c, 40 * S + 50).is_some());
    assert!(feed(&mut s, 40 * S + 90, &client(OpCode::Pong, b"")).is_empty());
    assert_eq!(s.next_timer(&c), Some((Timer::Ping, 60 * S + 90)));
    // Half a header is still a sign of life.
    assert!(feed(&mut s, 70 * S, &client(OpCode::Text, b"x")[..1]).is_empty());
    assert_eq!(s.next_timer(&c), Some((Timer::Ping, 90 * S)));
}

#[test]
fn a_protocol_error_fails_the_connection_with_its_code() {
    for (bytes, code) in [
        (encode_frame(true, OpCode::Text, None, b"unmasked"), 1002),
        (client(OpCode::Text, &[0xff, 0xfe]), 1007),
        (client(OpCode::Binary, &vec![0; (1 << 16) + 1]), 1009),
    ] {
        let mut s = Session::new(0);
        let mut bytes = bytes.clone();
        bytes.extend(client(OpCode::Text, b"never seen"));
        let mut buf = bytes.clone();
        let mut pos = 0;
        let ev = s.handle_bytes(&cfg(), 1, &mut buf, &mut pos);
        let Some(Event::Closed {
            reply: Some(reply),
            cause: CloseCause::Protocol(_),
        }) = ev
        else {
            panic!("{ev:?}")
        };
        assert_eq!(close_code_of(&reply), Some(code));
        assert_eq!(s.handle_bytes(&cfg(), 2, &mut buf, &mut pos), None);
        assert_eq!(s.poll_timeout(&cfg()), None);
    }
}

#[test]
fn abort_sends_a_close_only_if_none_was_sent() {
    let mut s = Session::new(0);
    let frame = s.abort(CloseCode::SLOW_CONSUMER, "slow consumer").unwrap();
    assert_eq!(close_code_of(&frame), Some(4003));
    assert_eq!(s.state(), State::Closed);
    let mut s = Session::new(0);
    s.close(&cfg(), 0, CloseCode::NORMAL, "");
    assert!(s.abort(CloseCode::SLOW_CONSUMER, "").is_none());
}

#[test]
fn stays_small() {
    // Lives in every connection: 100,000 of them.
    assert!(
        std::mem::size_of::<Session>() <= 16,
        "{}",
        std::mem::size_of::<Session>()
    );
    let _ = Decoder::new(Side::Server, 1);
}

#[test]
fn the_packed_clock_keeps_time_pings_and_state_apart() {
    let mut c = Clock::default();
    for (at, pings, state) in [
        (0, 0, State::Open),
        (MS_MASK, 255, State::Closed),
        (123_456_789, 3, State::CloseSent),
    ] {
        c.set(at, pings, state);
        assert_eq!((c.at_ms(), c.pings(), c.state()), (at, pings, state));
    }
    c.set(u64::MAX, 1, State::Open);
    assert_eq!(c.at_ms(), MS_MASK, "clamped, not wrapped into the flags");
    // Pings saturate rather than wrap (the configuration keeps
    // ping_timeout within 255 intervals, so this is a limit, not a path).
    let cfg = SessionConfig::new(1 << 16, 1, 1_000, 10);
    let mut s = Session::new(0);
    for now in 1..300 {
        s.handle_timeout(&cfg, now);
    }
    assert_eq!(s.clock.pings(), 255);
    assert!(s.is_open());
}

/// A compressed client frame: the payload through our own deflater,
/// masked, first frame only carrying RSV1 (RFC 7692 §6).
fn client_compressed(op: OpCode, text: &[u8]) -> Vec<u8> {
    let mut d = crate::proto::deflate::Deflater::default();
    let frame = d.frame(op, text, 15).expect("compressible");
    let (header, n) = crate::proto::frame::parse_header(&frame).unwrap().unwrap();
    let mut out = encode_frame(true, op, Some([9, 8, 7, 6]), &frame[n..]);
    out[0] |= 0x40;
    assert_eq!(header.rsv, 0b100);
    out
}

fn inflate_all(s: &mut Session, events: Vec<Event<'static>>, max: usize) -> Vec<Event<'static>> {
    let cfg = SessionConfig::new(max, 20 * S, 60 * S, 10 * S);
    let mut inflater = crate::proto::deflate::Inflater::default();
    events
        .into_iter()
        .map(|ev| match ev {
            Event::Compressed(op, b) => owned(s.inflate(&cfg, &mut inflater, op, &b)),
            other => other,
        })
        .collect()
}

#[test]
fn compressed_messages_inflate_whole_split_and_fragmented() {
    let text = "弹幕 danmaku 🎉 ".repeat(40);
    let frame = client_compressed(OpCode::Text, text.as_bytes());
    let want = vec![Event::Text(Cow::Owned(text.clone()))];
    // Whole in one read (the stateless path).
    let mut s = Session::new(0).with_deflate(true);
    let evs = feed(&mut s, 0, &frame);
    assert!(matches!(
        evs.as_slice(),
        [Event::Compressed(OpCode::Text, _)]
    ));
    assert_eq!(inflate_all(&mut s, evs, 1 << 16), want);
    // Split across reads (the decoder).
    let mut s = Session::new(0).with_deflate(true);
    let (a, b) = frame.split_at(frame.len() / 2);
    let mut evs = feed(&mut s, 0, a);
    evs.extend(feed(&mut s, 0, b));
    assert_eq!(inflate_all(&mut s, evs, 1 << 16), want);
    // Fragmented: RSV1 on the first frame only.
    let body = {
        let (_, n) = crate::proto::frame::parse_header(&frame).unwrap().unwrap();
        let mut body = frame[n..].to_vec();
        crate::proto::mask::apply_mask(&mut body, [9, 8, 7, 6], 0);
        body
    };
    let (x, y) = body.split_at(body.len() / 3);
    let mut first = encode_frame(false, OpCode::Text, Some([1, 1, 1, 1]), x);
    first[0] |= 0x40;
    let second = encode_frame(true, OpCode::Continuation, Some([2, 2, 2, 2]), y);
    let mut s = Session::new(0).with_deflate(true);
    let evs = feed(&mut s, 0, &[first.clone(), second.clone()].concat());
    assert_eq!(inflate_all(&mut s, evs, 1 << 16), want);
    // RSV1 on a continuation is a protocol error (§6.1).
    let mut bad = second.clone();
    bad[0] |= 0x40;
    let mut s = Session::new(0).with_deflate(true);
    let evs = feed(&mut s, 0, &[first, bad].concat());
    assert!(matches!(
        evs.last(),
        Some(Event::Closed {
            cause: CloseCause::Protocol(ProtocolError::ReservedBits),
            ..
        })
    ));
}

#[test]
fn rsv1_without_deflate_or_on_control_frames_fails() {
    let frame = client_compressed(OpCode::Text, "x".repeat(200).as_bytes());
    let mut s = Session::new(0);
    assert!(matches!(
        feed(&mut s, 0, &frame).as_slice(),
        [Event::Closed {
            cause: CloseCause::Protocol(ProtocolError::ReservedBits),
            ..
        }]
    ));
    let mut ping = client(OpCode::Ping, b"p");
    ping[0] |= 0x40;
    let mut s = Session::new(0).with_deflate(true);
    assert!(matches!(
        feed(&mut s, 0, &ping).as_slice(),
        [Event::Closed {
            cause: CloseCause::Protocol(ProtocolError::ReservedBits),
            ..
        }]
    ));
    // The flag survives every state change of the packed clock.
    let mut s = Session::new(5).with_deflate(true);
    s.close(&cfg(), 10, CloseCode::NORMAL, "");
    assert!(s.deflate());
}

#[test]
fn a_message_that_inflates_past_the_limit_closes_1009_and_bad_text_1007() {
    let big = "a".repeat(5000);
    let frame = client_compressed(OpCode::Text, big.as_bytes());
    let mut s = Session::new(0).with_deflate(true);
    let evs = feed(&mut s, 0, &frame);
    match inflate_all(&mut s, evs, 4096).as_slice() {
        [Event::Closed {
            reply: Some(reply),
            cause: CloseCause::Protocol(ProtocolError::MessageTooBig),
        }] => {
            assert_eq!(&reply[2..4], &1009u16.to_be_bytes());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.state(), State::Closed);
    let mut bytes = vec![0xffu8; 300];
    bytes.extend_from_slice(&[b'a'; 300]);
    let frame = client_compressed(OpCode::Text, &bytes);
    let mut s = Session::new(0).with_deflate(true);
    let evs = feed(&mut s, 0, &frame);
    assert!(matches!(
        inflate_all(&mut s, evs, 4096).as_slice(),
        [Event::Closed {
            cause: CloseCause::Protocol(ProtocolError::InvalidUtf8),
            ..
        }]
    ));
}
