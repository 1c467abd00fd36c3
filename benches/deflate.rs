//! permessage-deflate costs (SPEC §8), on generated danmaku: one comment
//! and a 50-comment batch.
//! - `deflate_backend`: our path (flate2 on zlib-rs, level 6, reset per
//!   message) against miniz_oxide at the same level. miniz_oxide cannot
//!   make windows under 2^15, so it could not honour `server_max_window_bits`
//!   (RFC 7692 §7.1.2.1); the figure shows what the choice costs or saves.
//! - `inflate`: the shared inflater (reset per message, as every message
//!   arrives without context) on the same messages.
//! - `broadcast_1000`: one room message for 1,000 deflate members,
//!   compressed once and shared (what the server does) against compressed
//!   per member (what a server with per-connection compressors does).

#[path = "../src/bin/roomcast-bench/corpus.rs"]
#[allow(dead_code)]
mod corpus;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use roomcast::proto::deflate::{Deflater, Inflater};
use roomcast::proto::OpCode;
use std::hint::black_box;
use std::rc::Rc;

/// One chat as members get it, and a batch of 50.
fn corpus() -> (Vec<u8>, Vec<u8>) {
    let mut c = corpus::Corpus::new(42);
    let chat = |c: &mut corpus::Corpus, seq: u64| {
        format!(
            r#"{{"type":"chat","room":"live","from":"viewer{seq}","data":{},"seq":{seq},"ts":1764662400000}}"#,
            c.comment(seq * 1000)
        )
    };
    let one = chat(&mut c, 1).into_bytes();
    let batch: Vec<String> = (0..50).map(|i| chat(&mut c, 100 + i)).collect();
    (one, format!("[{}]", batch.join(",")).into_bytes())
}

fn backend(c: &mut Criterion) {
    let (one, batch) = corpus();
    let mut group = c.benchmark_group("deflate_backend");
    for (name, msg) in [("comment", &one), ("batch50", &batch)] {
        group.throughput(Throughput::Bytes(msg.len() as u64));
        let mut d = Deflater::default();
        let out = d
            .frame(OpCode::Text, msg, 15)
            .map_or(msg.len(), |f| f.len());
        eprintln!(
            "{name}: {} bytes -> {out} on the wire (zlib-rs, level 6)",
            msg.len()
        );
        group.bench_with_input(BenchmarkId::new("zlib-rs", name), msg, |b, m| {
            b.iter(|| d.frame_always(OpCode::Text, black_box(m), 15))
        });
        let m6 = miniz_oxide::deflate::compress_to_vec(msg, 6).len();
        eprintln!("{name}: {} bytes -> {m6} (miniz_oxide, level 6)", msg.len());
        group.bench_with_input(BenchmarkId::new("miniz_oxide", name), msg, |b, m| {
            b.iter(|| miniz_oxide::deflate::compress_to_vec(black_box(m), 6))
        });
    }
    group.finish();
}

fn inflate(c: &mut Criterion) {
    let (one, batch) = corpus();
    let mut group = c.benchmark_group("inflate");
    let mut d = Deflater::default();
    let mut inflater = Inflater::default();
    for (name, msg) in [("comment", &one), ("batch50", &batch)] {
        group.throughput(Throughput::Bytes(msg.len() as u64));
        let frame = d.frame_always(OpCode::Text, msg, 15).unwrap();
        let body = &frame[if frame[1] == 126 { 4 } else { 2 }..];
        assert_eq!(inflater.inflate(body, 1 << 20).unwrap(), &msg[..]);
        group.bench_with_input(BenchmarkId::new("shared_inflater", name), body, |b, m| {
            b.iter(|| inflater.inflate(black_box(m), 1 << 20).map(|o| o.len()))
        });
    }
    group.finish();
}

fn broadcast(c: &mut Criterion) {
    const MEMBERS: usize = 1_000;
    let (_, batch) = corpus();
    let mut group = c.benchmark_group("broadcast_1000");
    group.throughput(Throughput::Elements(MEMBERS as u64));
    let mut d = Deflater::default();
    let mut queues: Vec<Vec<Rc<[u8]>>> = (0..MEMBERS).map(|_| Vec::with_capacity(4)).collect();
    group.bench_function("compress_once", |b| {
        b.iter(|| {
            let frame: Rc<[u8]> = d.frame_always(OpCode::Text, &batch, 15).unwrap().into();
            for q in queues.iter_mut() {
                q.push(frame.clone());
                q.clear();
            }
        })
    });
    group.bench_function("per_member", |b| {
        b.iter(|| {
            for q in queues.iter_mut() {
                let frame: Rc<[u8]> = d.frame_always(OpCode::Text, &batch, 15).unwrap().into();
                q.push(frame);
                q.clear();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, backend, inflate, broadcast);
criterion_main!(benches);
