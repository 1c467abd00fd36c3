//! Decoder throughput on masked client frames (20 B, 1 KiB, 64 KiB) beside
//! tungstenite's frame reader on the same bytes (and our server session,
//! the path the server takes), and masking throughput.
//! Binary frames, so neither side validates UTF-8 (tungstenite's frame layer
//! does not); our decoder unmasks in place, so each pass gets a fresh copy of
//! the input made outside the timed part. `cargo bench --bench codec`.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use roomcast::proto::frame::{encode_frame, OpCode};
use roomcast::proto::mask::{apply_mask, apply_mask_naive};
use roomcast::proto::session::{Event, Session, SessionConfig};
use roomcast::proto::{Decoder, Message, Side};
use std::hint::black_box;

/// Enough frames of `size` bytes to make ~1 MiB of input (at least 16).
fn stream(size: usize) -> (Vec<u8>, usize) {
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let count = ((1 << 20) / size.max(1)).max(16);
    let mut out = Vec::new();
    for i in 0..count {
        out.extend(encode_frame(
            true,
            OpCode::Binary,
            Some((i as u32).to_ne_bytes()),
            &payload,
        ));
    }
    (out, count)
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_masked");
    for size in [20usize, 1024, 64 * 1024] {
        let (input, count) = stream(size);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::new("roomcast", size), &size, |b, _| {
            b.iter_batched_ref(
                || input.clone(),
                |buf| {
                    let mut dec = Decoder::new(Side::Server, 1 << 20);
                    let mut pos = 0;
                    let mut n = 0;
                    while let Ok(Some(m)) = dec.next_message(buf, &mut pos) {
                        if let Message::Binary(p) = m {
                            black_box(p);
                        }
                        n += 1;
                    }
                    assert_eq!(n, count);
                },
                BatchSize::LargeInput,
            )
        });
        // The server's path: the session (whole frames without a decoder).
        let cfg = SessionConfig::new(1 << 20, 20_000, 60_000, 10_000);
        group.bench_with_input(BenchmarkId::new("session", size), &size, |b, _| {
            b.iter_batched_ref(
                || input.clone(),
                |buf| {
                    let mut session = Session::new(0);
                    let mut pos = 0;
                    let mut n = 0;
                    while let Some(event) = session.handle_bytes(&cfg, 1, buf, &mut pos) {
                        if let Event::Binary(p) = event {
                            black_box(p);
                        }
                        n += 1;
                    }
                    assert_eq!(n, count);
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("tungstenite", size), &size, |b, _| {
            b.iter(|| {
                let mut cursor = std::io::Cursor::new(&input[..]);
                let mut frames = tungstenite::protocol::frame::FrameSocket::new(&mut cursor);
                let mut n = 0;
                while let Ok(Some(f)) = frames.read(Some(1 << 20)) {
                    black_box(f.payload());
                    n += 1;
                }
                assert_eq!(n, count);
            })
        });
    }
    group.finish();
}

fn masking(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    let mut buf = vec![7u8; 64 * 1024];
    group.throughput(Throughput::Bytes(buf.len() as u64));
    group.bench_function("fast_64KiB", |b| {
        b.iter(|| apply_mask(black_box(&mut buf), [1, 2, 3, 4], 1))
    });
    group.bench_function("naive_64KiB", |b| {
        b.iter(|| apply_mask_naive(black_box(&mut buf), [1, 2, 3, 4], 1))
    });
    group.finish();
}

criterion_group!(benches, decode, masking);
criterion_main!(benches);
