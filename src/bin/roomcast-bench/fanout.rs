//! `fanout`: N subscribers in one room and one publisher at a fixed rate:
//! deliveries per second (and per server CPU second), latency, loss, order.

use crate::client::{json_u64, Conn, State};
use crate::corpus::Corpus;
use crate::cpu_fields;
use crate::driver::{Driver, Workload};
use crate::stats::{CpuWindow, Histogram};
use roomcast::proto::frame::OpCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// The flags of `fanout`.
#[derive(clap::Args)]
pub struct FanoutArgs {
    /// The server's base URL; /ws is appended. Several, comma-separated
    /// (nodes of one cluster): subscriber i connects to URL i mod n, the
    /// publisher to the first.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    url: String,
    #[arg(long, default_value_t = 1000)]
    subs: usize,
    #[arg(long, default_value = "bench")]
    room: String,
    /// Bytes of chat data per message.
    #[arg(long, default_value_t = 100)]
    size: usize,
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Messages per second from the publisher.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Handshakes in flight at once while subscribing.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Offer permessage-deflate on every connection (as browsers do).
    #[arg(long)]
    deflate: bool,
    /// Subscribe with ?batch=1 (room chat in JSON arrays when the server
    /// has batch_window_ms); every message in an array is counted.
    #[arg(long)]
    batch: bool,
    /// What the chats carry: `pad` (`--size` bytes of x) or `danmaku`
    /// (generated comments: CJK, emoji and Latin, nickname, colour; 30–120
    /// bytes of JSON each; `--size` is ignored).
    #[arg(long, default_value = "pad", value_parser = ["pad", "danmaku"])]
    corpus: String,
}

struct Fanout {
    subs: usize,
    start: Instant,
    joined: usize,
    last_seq: Vec<u64>,
    received: u64,
    /// Batch frames (JSON arrays) received.
    batches: u64,
    reordered: u64,
    dropped_events: u64,
    hist: Histogram,
}

impl Workload for Fanout {
    fn progress(&self) -> String {
        format!(
            "received {}  p50 {:.2} ms  p99 {:.2} ms",
            self.received,
            self.hist.quantile_ms(0.5),
            self.hist.quantile_ms(0.99)
        )
    }

    fn on_message(&mut self, i: usize, _c: &mut Conn, msg: &[u8], now: Instant) {
        if i >= self.subs {
            return; // the publisher's own copies
        }
        if msg.starts_with(br#"{"type":"chat""#) {
            self.chat(i, msg, now);
        } else if msg.starts_with(br#"[{"type":"chat""#) {
            self.batch(i, msg, now);
        } else if msg.starts_with(br#"{"type":"joined""#) {
            self.joined += 1;
        } else if msg.starts_with(br#"{"type":"dropped""#) {
            self.dropped_events += 1;
        }
    }
}

impl Fanout {
    /// A batch for subscriber `i`: a JSON array of consecutive chats. The
    /// client must keep up with millions of messages a second on one core,
    /// so it counts the elements (a SIMD substring count), reads seq and
    /// `t` of the first and the last only, checks that the seqs in between
    /// are all there (last - first + 1 = count), and records each message's
    /// latency with its send time interpolated between the two (the
    /// publisher sends at an even rate).
    fn batch(&mut self, i: usize, msg: &[u8], now: Instant) {
        self.batches += 1;
        let needle = br#"{"type":"chat""#;
        let count = memchr::memmem::find_iter(msg, needle).count() as u64;
        let last_at = memchr::memmem::rfind(msg, needle).unwrap_or(0);
        let (first, last) = (&msg[1..], &msg[last_at..]);
        let (Some(s0), Some(s1)) = (json_u64(first, b"seq"), json_u64(last, b"seq")) else {
            return;
        };
        if s1 + 1 != s0 + count || s0 <= self.last_seq[i] {
            self.reordered += 1;
        }
        self.last_seq[i] = self.last_seq[i].max(s1);
        if let (Some(t0), Some(t1)) = (json_u64(first, b"t"), json_u64(last, b"t")) {
            let step = t1.saturating_sub(t0) as f64 / count.saturating_sub(1).max(1) as f64;
            for k in 0..count {
                let t = t0 + (step * k as f64) as u64;
                let sent = self.start + Duration::from_micros(t);
                self.hist.record(now.saturating_duration_since(sent));
            }
        }
        self.received += count;
    }

    /// One chat delivered to subscriber `i`.
    fn chat(&mut self, i: usize, msg: &[u8], now: Instant) {
        let seq = json_u64(msg, b"seq").unwrap_or(0);
        if let Some(t) = json_u64(msg, b"t") {
            let sent = self.start + Duration::from_micros(t);
            self.hist.record(now.saturating_duration_since(sent));
        }
        if seq <= self.last_seq[i] {
            self.reordered += 1;
        } else {
            self.last_seq[i] = seq;
        }
        self.received += 1;
    }
}

/// Run `fanout`; the JSON report.
pub fn run(a: &FanoutArgs, pid: Option<&str>) -> Result<serde_json::Value, String> {
    let urls: Vec<&str> = a
        .url
        .split(',')
        .map(|u| u.trim().trim_end_matches('/'))
        .collect();
    let (mut d, _) = Driver::new(&format!("{}/ws", urls[0]))?;
    d.nodes = urls
        .iter()
        .map(|u| crate::client::parse_url(&format!("{u}/ws")).map(|(addr, _, _)| addr))
        .collect::<Result<_, _>>()?;
    d.offer_deflate = a.deflate;
    let mut w = Fanout {
        subs: a.subs,
        start: Instant::now(),
        joined: 0,
        last_seq: vec![0; a.subs],
        received: 0,
        batches: 0,
        reordered: 0,
        dropped_events: 0,
        hist: Histogram::new(),
    };
    let publisher = subscribe(&mut d, &mut w, a);
    let (received0, reordered0, batches0) = (w.received, w.reordered, w.batches);
    let wire0 = d.wire_bytes();
    let cpu = CpuWindow::start(pid);
    let start = Instant::now();
    let published = publish(&mut d, &mut w, a, publisher, start);
    let publish_secs = start.elapsed().as_secs_f64();
    // Let what is in flight arrive (bounded).
    let expected = published * a.subs as u64;
    let drain_end = Instant::now() + Duration::from_secs(5);
    while w.received - received0 < expected && Instant::now() < drain_end {
        d.turn(&mut w, Duration::from_millis(10));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let delivered = w.received - received0;
    let lost = expected.saturating_sub(delivered);
    let per_sec = delivered as f64 / elapsed;
    let reordered = w.reordered - reordered0;
    let batches = w.batches - batches0;
    let wire = d.wire_bytes() - wire0;
    let wire_per_delivery = wire as f64 / delivered.max(1) as f64;
    let deflated = d.deflated();
    let (p50, p99, max) = (
        w.hist.quantile_ms(0.5),
        w.hist.quantile_ms(0.99),
        w.hist.max_ms(),
    );
    let mut report = json!({"bench": "fanout", "nodes": d.nodes.len(), "subs": a.subs, "joined": w.joined, "size": a.size, "rate": a.rate, "published": published, "publish_secs": publish_secs,
        "deliveries": delivered, "deliveries_per_sec": per_sec, "lost": lost, "reordered": reordered, "dropped_events": w.dropped_events,
        "p50_ms": p50, "p99_ms": p99, "max_ms": max,
        "batches": batches, "batch": a.batch, "deflate": a.deflate, "corpus": a.corpus,
        "wire_bytes": wire, "wire_bytes_per_delivery": wire_per_delivery, "deflated_conns": deflated});
    println!(
        "  {published} messages at {}/s: {delivered} deliveries ({per_sec:.0}/s), lost {lost}, reordered {reordered}, dropped events {}; latency p50 {p50:.2} ms p99 {p99:.2} ms max {max:.2} ms",
        a.rate, w.dropped_events,
    );
    println!(
        "  {wire} bytes read by the clients ({wire_per_delivery:.1} per delivery); {deflated} connections with permessage-deflate; {batches} batch frames"
    );
    let (_, server) = cpu_fields(&mut report, &cpu, elapsed);
    if let Some(s) = server {
        let per_cpu = delivered as f64 / s.max(1e-9);
        report["deliveries_per_server_cpu_sec"] = json!(per_cpu);
        println!("  {per_cpu:.0} deliveries per server CPU second");
    }
    d.verdict()?;
    Ok(report)
}

/// Open the subscribers and the publisher; the publisher's index.
fn subscribe(d: &mut Driver, w: &mut Fanout, a: &FanoutArgs) -> usize {
    let room = &a.room;
    let join_secs = d.open_many(
        w,
        a.subs,
        a.concurrency,
        |i| {
            let batch = if a.batch { "&batch=1" } else { "" };
            format!("/ws?user=sub{i}&room={room}{batch}")
        },
        Duration::from_secs(120),
    );
    let join_end = Instant::now() + Duration::from_secs(30);
    while w.joined < a.subs && Instant::now() < join_end {
        d.turn(w, Duration::from_millis(10));
    }
    println!(
        "fanout: {}/{} subscribers joined {room} in {join_secs:.2} s",
        w.joined, a.subs
    );
    let publisher = d.conns.len();
    d.start_on(publisher, 0, &format!("/ws?user=publisher&room={room}"));
    while d.conns[publisher]
        .as_ref()
        .is_some_and(|c| c.state != State::Open)
    {
        d.turn(w, Duration::from_millis(10));
    }
    d.run_for(w, Duration::from_millis(300)); // presence events settle
    publisher
}

/// Publish at `rate` for `secs`; how many were published.
fn publish(
    d: &mut Driver,
    w: &mut Fanout,
    a: &FanoutArgs,
    publisher: usize,
    start: Instant,
) -> u64 {
    let pad = "x".repeat(a.size.saturating_sub(20));
    let mut corpus = (a.corpus == "danmaku").then(|| Corpus::new(0x5eed));
    let mut published = 0u64;
    while start.elapsed().as_secs_f64() < a.secs {
        let due = (start.elapsed().as_secs_f64() * a.rate) as u64;
        if let Some(p) = d.conns[publisher].as_mut() {
            while published < due.max(1) {
                let t = w.start.elapsed().as_micros() as u64;
                let data = match corpus.as_mut() {
                    Some(c) => c.comment(t),
                    None => format!(r#"{{"t":{t},"p":"{pad}"}}"#),
                };
                let msg = format!(r#"{{"type":"chat","data":{data}}}"#);
                p.queue(OpCode::Text, msg.as_bytes());
                published += 1;
            }
            let _ = p.flush();
        }
        d.turn(w, Duration::from_micros(500));
    }
    published
}
