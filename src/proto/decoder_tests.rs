//! The decoder's tests: RFC 6455 §5.7 byte vectors and every protocol
//! error, each fed whole, split at every index and byte by byte.

use super::super::frame::encode_frame;
use super::super::fuzzing::{decode_all, decode_chunks, Decoded};
use super::*;
use crate::proto::CloseCode;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn masked(fin: bool, op: OpCode, payload: &[u8]) -> Vec<u8> {
    encode_frame(fin, op, Some(KEY), payload)
}

/// Decode `input` whole, at every split point, and byte by byte; all must agree.
fn decode_every_way(side: Side, max: usize, input: &[u8]) -> Vec<Decoded> {
    let whole = decode_all(side, max, input);
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(decode_chunks(side, max, &[a, b]), whole, "split at {cut}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode_chunks(side, max, &bytes), whole, "byte by byte");
    whole
}

#[test]
fn rfc_5_7_masked_text() {
    let input = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode_every_way(Side::Server, 1000, &input),
        vec![Decoded::Text("Hello".into())]
    );
}

#[test]
fn rfc_5_7_unmasked_examples_in_client_role() {
    let text = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        decode_every_way(Side::Client, 1000, &text),
        vec![Decoded::Text("Hello".into())]
    );
    // A fragmented unmasked text message: "Hel" then "lo".
    let frags = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(
        decode_every_way(Side::Client, 1000, &frags),
        vec![Decoded::Text("Hello".into())]
    );
    // Unmasked ping with "Hello".
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        decode_every_way(Side::Client, 1000, &ping),
        vec![Decoded::Ping(b"Hello".to_vec())]
    );
    // 256 bytes and 64 KiB of binary data in a single unmasked frame.
    for len in [256usize, 65536] {
        let frame = encode_frame(true, OpCode::Binary, None, &vec![7u8; len]);
        assert_eq!(
            &frame[..2],
            if len == 256 {
                &[0x82, 0x7e][..]
            } else {
                &[0x82, 0x7f][..]
            }
        );
        let events = decode_all(Side::Client, 1 << 20, &frame);
        assert_eq!(events, vec![Decoded::Binary(vec![7u8; len])]);
    }
}

#[test]
fn rfc_5_7_masked_pong() {
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode_every_way(Side::Server, 1000, &pong),
        vec![Decoded::Pong(b"Hello".to_vec())]
    );
}

#[test]
fn control_frames_between_fragments() {
    let mut input = masked(false, OpCode::Text, b"fra");
    input.extend(masked(true, OpCode::Ping, b"p"));
    input.extend(masked(false, OpCode::Continuation, b"gm"));
    input.extend(masked(true, OpCode::Pong, b""));
    input.extend(masked(true, OpCode::Continuation, b"ent"));
    input.extend(masked(true, OpCode::Binary, &[1, 2]));
    let events = decode_every_way(Side::Server, 1000, &input);
    assert_eq!(
        events,
        vec![
            Decoded::Ping(b"p".to_vec()),
            Decoded::Pong(vec![]),
            Decoded::Text("fragment".into()),
            Decoded::Binary(vec![1, 2])
        ]
    );
}

#[test]
fn empty_fragments_and_empty_messages() {
    let mut input = masked(false, OpCode::Text, b"");
    input.extend(masked(false, OpCode::Continuation, b""));
    input.extend(masked(true, OpCode::Continuation, b""));
    input.extend(masked(true, OpCode::Binary, b""));
    let events = decode_every_way(Side::Server, 10, &input);
    assert_eq!(
        events,
        vec![Decoded::Text(String::new()), Decoded::Binary(vec![])]
    );
}

#[test]
fn protocol_errors_carry_their_close_codes() {
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        (
            encode_frame(true, OpCode::Text, None, b"hi"),
            ProtocolError::BadMasking,
        ),
        (vec![0xc1, 0x80, 0, 0, 0, 0], ProtocolError::ReservedBits),
        (
            vec![0x83, 0x80, 0, 0, 0, 0],
            ProtocolError::ReservedOpcode(3),
        ),
        (
            vec![0x8b, 0x80, 0, 0, 0, 0],
            ProtocolError::ReservedOpcode(0xb),
        ),
        (
            masked(true, OpCode::Ping, &[0; 126]),
            ProtocolError::ControlTooLong,
        ),
        (
            masked(false, OpCode::Ping, b""),
            ProtocolError::FragmentedControl,
        ),
        (
            masked(true, OpCode::Continuation, b"x"),
            ProtocolError::UnexpectedContinuation,
        ),
        (
            [
                masked(false, OpCode::Text, b"a"),
                masked(true, OpCode::Text, b"b"),
            ]
            .concat(),
            ProtocolError::ExpectedContinuation,
        ),
        (
            masked(true, OpCode::Close, &[3]),
            ProtocolError::BadClosePayload,
        ),
        (
            masked(true, OpCode::Close, &[0x03, 0xed]),
            ProtocolError::BadCloseCode(1005),
        ),
        (
            masked(true, OpCode::Close, &[0x03, 0xe8, 0xff]),
            ProtocolError::InvalidUtf8,
        ),
        (
            masked(true, OpCode::Text, &[0xc0, 0xaf]),
            ProtocolError::InvalidUtf8,
        ),
        (
            masked(true, OpCode::Binary, &[0; 11]),
            ProtocolError::MessageTooBig,
        ),
        (
            [
                masked(false, OpCode::Binary, &[0; 6]),
                masked(true, OpCode::Continuation, &[0; 5]),
            ]
            .concat(),
            ProtocolError::MessageTooBig,
        ),
        (
            [&[0x82u8, 0xff][..], &[0x80, 0, 0, 0, 0, 0, 0, 0], &KEY].concat(),
            ProtocolError::LengthMsbSet,
        ),
        (
            [
                masked(true, OpCode::Close, &[]),
                masked(true, OpCode::Text, b"late"),
            ]
            .concat(),
            ProtocolError::DataAfterClose,
        ),
    ];
    for (input, expected) in cases {
        let events = decode_every_way(Side::Server, 10, &input);
        assert_eq!(
            events.last(),
            Some(&Decoded::Error(expected)),
            "{input:02x?}"
        );
    }
    assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode(1007));
    assert_eq!(ProtocolError::MessageTooBig.close_code(), CloseCode(1009));
    assert_eq!(ProtocolError::BadMasking.close_code(), CloseCode(1002));
}

#[test]
fn invalid_utf8_fails_fast_in_the_first_fragment() {
    // U+110000 (F4 90 80 80) is past the last code point: the second byte
    // already proves it invalid, before the message or even the frame ends.
    let first = masked(false, OpCode::Text, &[b'o', b'k', 0xf4, 0x90]);
    let mut dec = Decoder::new(Side::Server, 1000);
    let mut buf = first.clone();
    let mut pos = 0;
    assert_eq!(
        dec.next_message(&mut buf, &mut pos),
        Err(ProtocolError::InvalidUtf8)
    );
    // A single frame streamed in pieces fails on the piece with the bad byte.
    let frame = masked(
        true,
        OpCode::Text,
        &[b'a', b'b', 0xed, 0xa0, 0x80, b'c', b'd'],
    );
    let mut dec = Decoder::new(Side::Server, 1000);
    let mut head = frame[..9].to_vec(); // header (6) + "ab" + 0xed
    let mut pos = 0;
    assert_eq!(dec.next_message(&mut head, &mut pos), Ok(None));
    let mut next = frame[9..10].to_vec(); // 0xa0: a surrogate, never valid
    let mut pos = 0;
    assert_eq!(
        dec.next_message(&mut next, &mut pos),
        Err(ProtocolError::InvalidUtf8)
    );
    // ... and every later call says so too.
    let mut more = masked(true, OpCode::Text, b"fine");
    let mut pos = 0;
    assert_eq!(
        dec.next_message(&mut more, &mut pos),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn utf8_split_across_fragments_is_valid() {
    let s = "κόσμε";
    let bytes = s.as_bytes();
    for cut in 0..=bytes.len() {
        let input = [
            masked(false, OpCode::Text, &bytes[..cut]),
            masked(true, OpCode::Continuation, &bytes[cut..]),
        ]
        .concat();
        assert_eq!(
            decode_all(Side::Server, 100, &input),
            vec![Decoded::Text(s.into())],
            "cut {cut}"
        );
    }
    // A message that ends inside a sequence is invalid.
    let input = masked(true, OpCode::Text, &bytes[..bytes.len() - 1]);
    assert_eq!(
        decode_all(Side::Server, 100, &input),
        vec![Decoded::Error(ProtocolError::InvalidUtf8)]
    );
}

#[test]
fn huge_declared_length_fails_before_any_payload() {
    // 2^62 bytes declared: over the limit at once, nothing reserved.
    let mut dec = Decoder::new(Side::Server, 1 << 20);
    let mut input = [&[0x82u8, 0xff][..], &(1u64 << 62).to_be_bytes(), &KEY].concat();
    let mut pos = 0;
    assert_eq!(
        dec.next_message(&mut input, &mut pos),
        Err(ProtocolError::MessageTooBig)
    );
    assert_eq!(dec.buffered_capacity(), 0);
}

#[test]
fn buffers_are_freed_after_a_buffered_message() {
    let frame = masked(true, OpCode::Binary, &[5u8; 300]);
    let mut dec = Decoder::new(Side::Server, 1000);
    let (a, b) = frame.split_at(100);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    let mut pos = 0;
    assert_eq!(dec.next_message(&mut a, &mut pos), Ok(None));
    assert!(!dec.is_idle());
    let mut pos = 0;
    assert_eq!(
        dec.next_message(&mut b, &mut pos),
        Ok(Some(Message::Binary(&[5u8; 300])))
    );
    let mut empty: [u8; 0] = [];
    let mut pos = 0;
    assert_eq!(dec.next_message(&mut empty, &mut pos), Ok(None));
    assert!(dec.is_idle());
    assert_eq!(dec.buffered_capacity(), 0);
}
