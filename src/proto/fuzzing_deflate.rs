//! The `deflate` fuzz target's body (see [`super`]): permessage-deflate
//! negotiation, the bounded inflater, compression round trips and the
//! decoder with the extension on.
#![allow(clippy::panic, clippy::indexing_slicing, clippy::expect_used)]

use crate::proto::decoder::{Decoder, Message};
use crate::proto::error::ProtocolError;
use crate::proto::frame::{parse_header, OpCode, Side};

/// `deflate`: permessage-deflate on arbitrary bytes. The first byte picks
/// a window (8-15) and an inflate limit; the rest is, in turn,
/// - an extension header (split at `\n`): [`negotiate`](crate::proto::deflate::negotiate)
///   agrees only to windows 8-15 and answers without context takeover;
/// - compressed data: the shared inflater returns at most `limit` bytes or
///   1009/1007, and stays usable for the next message;
/// - a message: compressed at that window and inflated by a raw inflater
///   with exactly that window (9 for 8: flate2 makes no 8-bit inflater; the
///   interop test reads window 8 with Python's zlib), it comes back
///   unchanged, and so through the shared inflater;
/// - frames to a decoder with deflate on: no panic, RSV1 only where allowed.
pub fn fuzz_deflate(data: &[u8]) {
    use crate::proto::deflate::{negotiate, Deflater, Inflater};
    use flate2::{Decompress, FlushDecompress};
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let bits = 8 + (selector & 7);
    let limit = [0usize, 100, 4096, 1 << 20][usize::from(selector >> 3 & 3)];

    if let Some((agreed, answer)) = negotiate(input.split(|b| *b == b'\n')) {
        assert!((8..=15).contains(&agreed.window_bits), "{agreed:?}");
        assert!(answer.starts_with(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        ));
    }

    let mut shared = Inflater::default();
    match shared.inflate(input, limit) {
        Ok(out) => assert!(out.len() <= limit, "{} > {limit}", out.len()),
        Err(e) => assert!(
            matches!(
                e,
                ProtocolError::MessageTooBig | ProtocolError::BadCompressedData
            ),
            "{e:?}"
        ),
    }

    let mut deflater = Deflater::default();
    let frame = deflater
        .frame_always(OpCode::Text, input, bits)
        .expect("the compressor does not fail");
    let (header, n) = parse_header(&frame)
        .expect("our frame parses")
        .expect("whole");
    assert!(header.fin && header.rsv == 4, "{header:?}");
    let body = &frame[n..];
    let mut exact = Decompress::new_with_window_bits(false, bits.max(9));
    let mut out = Vec::with_capacity(input.len() + 64);
    let tail = [0u8, 0, 0xff, 0xff];
    let joined = [body, &tail[..]].concat();
    exact
        .decompress_vec(&joined, &mut out, FlushDecompress::Sync)
        .expect("a window-exact inflater reads what we wrote");
    assert_eq!(out, input, "round trip at window {bits}");
    assert_eq!(
        shared
            .inflate(body, input.len())
            .expect("the shared inflater too"),
        input
    );

    let mut decoder = Decoder::new(Side::Server, 1 << 16).with_deflate(true);
    let mut buf = input.to_vec();
    let mut pos = 0;
    while let Ok(Some(m)) = decoder.next_message(&mut buf, &mut pos) {
        if let Message::Compressed(op, payload) = m {
            assert!(matches!(op, OpCode::Text | OpCode::Binary));
            let _ = shared.inflate(payload, 1 << 16);
        }
    }
}
