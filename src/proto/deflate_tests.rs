use super::*;

fn offer(s: &str) -> Option<(Agreed, String)> {
    negotiate([s.as_bytes()])
}

#[test]
fn negotiation_matrix() {
    let base = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    // (offer, window bits agreed, response); None: declined.
    let cases: &[(&str, Option<(u8, String)>)] = &[
        ("permessage-deflate", Some((15, base.into()))),
        // What Chromium and Firefox send.
        ("permessage-deflate; client_max_window_bits", Some((15, base.into()))),
        ("permessage-deflate; client_max_window_bits=10", Some((15, base.into()))),
        ("permessage-deflate; server_no_context_takeover", Some((15, base.into()))),
        ("permessage-deflate; client_no_context_takeover", Some((15, base.into()))),
        ("permessage-deflate; server_max_window_bits=8", Some((8, format!("{base}; server_max_window_bits=8")))),
        ("permessage-deflate; server_max_window_bits=12", Some((12, format!("{base}; server_max_window_bits=12")))),
        ("PerMessage-Deflate; Server_Max_Window_Bits=\"15\"", Some((15, format!("{base}; server_max_window_bits=15")))),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9",
            Some((9, format!("{base}; server_max_window_bits=9"))),
        ),
        // Malformed offers are declined.
        ("permessage-deflate; server_max_window_bits", None),
        ("permessage-deflate; server_max_window_bits=7", None),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; server_max_window_bits=010", None),
        ("permessage-deflate; client_max_window_bits=foo", None),
        ("permessage-deflate; server_no_context_takeover=1", None),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
        ("permessage-deflate; mystery", None),
        ("permessage-deflate; server_max_window_bits=\"10", None),
        ("x-webkit-deflate-frame", None),
        ("", None),
    ];
    for (text, want) in cases {
        let got = offer(text).map(|(a, r)| (a.window_bits, r));
        assert_eq!(&got, want, "offer {text:?}");
    }
}

#[test]
fn first_acceptable_offer_wins_across_elements_and_headers() {
    // A malformed first offer falls back to the next one (§5.1).
    let got = offer("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=10");
    assert_eq!(got.map(|(a, _)| a.window_bits), Some(10));
    let got = negotiate([
        &b"foo; bar=1"[..],
        &b"permessage-deflate; server_max_window_bits=11"[..],
    ]);
    assert_eq!(got.map(|(a, _)| a.window_bits), Some(11));
}

fn round_trip(deflater: &mut Deflater, inflater: &mut Inflater, payload: &[u8], bits: u8) {
    let frame = deflater
        .frame(OpCode::Text, payload, bits)
        .expect("compressible");
    let (header, n) = super::super::frame::parse_header(&frame).unwrap().unwrap();
    assert_eq!(header.rsv, 0b100);
    assert!(header.fin);
    assert_eq!(header.payload_len as usize, frame.len() - n);
    let body = &frame[n..];
    assert!(!body.ends_with(&TAIL), "the sync flush tail is removed");
    assert_eq!(inflater.inflate(body, payload.len()).unwrap(), payload);
    // One byte less than the message: too big.
    assert_eq!(
        inflater.inflate(body, payload.len() - 1),
        Err(ProtocolError::MessageTooBig)
    );
}

#[test]
fn compress_and_inflate_round_trip_at_every_window() {
    let mut deflater = Deflater::default();
    let mut inflater = Inflater::default();
    let chat = r##"{"type":"chat","room":"live","seq":1,"user":"alice","data":{"m":"666666 好活当赏 🎉","c":"#ff00ff"}}"##.repeat(30);
    for bits in 8..=15 {
        round_trip(&mut deflater, &mut inflater, chat.as_bytes(), bits);
    }
    // Big and barely compressible data still round-trips through a growing buffer.
    let mut x: u32 = 1;
    let noisy: Vec<u8> = (0..300_000)
        .map(|i| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if i % 3 == 0 {
                b'a'
            } else {
                (x >> 24) as u8
            }
        })
        .collect();
    round_trip(&mut deflater, &mut inflater, &noisy, 15);
    // Each message stands alone: inflating the first again still works.
    round_trip(&mut deflater, &mut inflater, chat.as_bytes(), 15);
}

#[test]
fn short_or_incompressible_messages_stay_plain() {
    let mut deflater = Deflater::default();
    assert_eq!(
        deflater.frame(OpCode::Text, b"{\"type\":\"ack\",\"id\":1}", 15),
        None
    );
    let mut x: u64 = 7;
    let random: Vec<u8> = (0..2000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_eq!(deflater.frame(OpCode::Binary, &random, 15), None);
}

/// A stream of zeros compressed at level 9: deflate's ~1000:1 ratio.
fn bomb(inflated: usize) -> Vec<u8> {
    let mut c = Compress::new_with_window_bits(Compression::best(), false, 15);
    let zeros = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(inflated / 500 + 1024);
    let mut left = inflated;
    while left > 0 {
        let n = left.min(zeros.len());
        let before = c.total_in();
        c.compress_vec(&zeros[..n], &mut out, FlushCompress::None)
            .unwrap();
        left -= (c.total_in() - before) as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
    }
    out.reserve(1024);
    c.compress_vec(&[], &mut out, FlushCompress::Sync).unwrap();
    out.truncate(out.len() - 4);
    out
}

#[test]
fn a_bomb_stops_at_the_limit() {
    let mut inflater = Inflater::default();
    let b = bomb(64 << 20);
    assert!(
        b.len() < (64 << 20) / 500,
        "ratio ~1000:1 ({} bytes)",
        b.len()
    );
    assert_eq!(
        inflater.inflate(&b, 64 * 1024),
        Err(ProtocolError::MessageTooBig)
    );
    // It never got a buffer much past the limit.
    assert!(inflater.out.capacity() <= 64 * 1024 + STEP + 64);
    // And it is reusable afterwards.
    assert_eq!(
        inflater.inflate(&bomb(1000), 1000).unwrap(),
        &[0u8; 1000][..]
    );
}

#[test]
fn garbage_does_not_inflate() {
    let mut inflater = Inflater::default();
    // Block type 3 is reserved (RFC 1951 §3.2.3).
    assert_eq!(
        inflater.inflate(&[0xff, 0xff, 0xff], 1000),
        Err(ProtocolError::BadCompressedData)
    );
}
