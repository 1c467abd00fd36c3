//! roomcast-bench: the load generator (as redis-benchmark is to Redis).
//!
//! One thread, one mio poll, roomcast's own codec in client role. Every
//! subcommand prints a human summary and, with `--json`, one JSON object on
//! the last line. With `--server-pid` it also reports the server's CPU over
//! the measured window (and RSS for `connections`), so a result reads as
//! server CPU per unit of work even when this client is the bottleneck.
//! Targets must be loopback addresses; every run is bounded in time.

mod client;
mod corpus;
mod driver;
mod fanout;
mod stats;

use clap::{Parser, Subcommand};
use client::Conn;
use driver::{Driver, Workload};

use roomcast::proto::frame::OpCode;
use serde_json::json;
use stats::{rss_bytes, CpuWindow, Histogram};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "roomcast-bench",
    about = "Load generator for roomcast (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Print one JSON object on the last line.
    #[arg(long, global = true)]
    json: bool,
    /// Print the report's figures as CSV: a header line, then a values line.
    #[arg(long, global = true)]
    csv: bool,
    /// The server's PID, to report its CPU (and RSS) over the run; several,
    /// comma-separated (the nodes of a cluster and their Redis), to report
    /// their CPU summed.
    #[arg(long, global = true)]
    server_pid: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open N connections and hold them: handshake rate, server RSS per connection.
    Connections {
        #[arg(long, default_value = "ws://127.0.0.1:8080/echo")]
        url: String,
        #[arg(long, default_value_t = 1000)]
        conns: usize,
        /// Seconds to hold the connections open after they settle.
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
    },
    /// Round trips on /echo: rate and latency.
    Echo {
        #[arg(long, default_value = "ws://127.0.0.1:8080/echo")]
        url: String,
        #[arg(long, default_value_t = 100)]
        conns: usize,
        #[arg(long, default_value_t = 32)]
        size: usize,
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        /// Messages in flight per connection.
        #[arg(long, default_value_t = 1)]
        pipeline: usize,
    },
    /// N subscribers in one room, one publisher: deliveries, latency, loss.
    Fanout(fanout::FanoutArgs),
    /// Connect, upgrade, close, again: cycles per second.
    Churn {
        #[arg(long, default_value = "ws://127.0.0.1:8080/echo")]
        url: String,
        /// Cycles in flight at once.
        #[arg(long, default_value_t = 50)]
        conns: usize,
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
    },
}

fn main() {
    // Die quietly on a closed pipe (`| head`), like other command-line tools.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let pid = cli.server_pid.clone();
    let result = match cli.cmd {
        Cmd::Connections {
            url,
            conns,
            hold,
            concurrency,
        } => connections(&url, conns, hold, concurrency, pid.as_deref()),
        Cmd::Echo {
            url,
            conns,
            size,
            secs,
            pipeline,
        } => echo(&url, conns, size, secs, pipeline, pid.as_deref()),
        Cmd::Fanout(args) => fanout::run(&args, pid.as_deref()),
        Cmd::Churn { url, conns, secs } => churn(&url, conns, secs, pid.as_deref()),
    };
    match result {
        Ok(report) => {
            if cli.csv {
                print_csv(&report);
            }
            if cli.json {
                println!("{report}");
            }
        }
        Err(e) => {
            eprintln!("roomcast-bench: {e}");
            std::process::exit(1);
        }
    }
}

/// The report's fields (numbers and strings) as two CSV lines.
fn print_csv(report: &serde_json::Value) {
    let Some(fields) = report.as_object() else {
        return;
    };
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => format!("\"{}\"", s.replace('"', "\"\"")),
        other => other.to_string(),
    };
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    let values: Vec<String> = fields.values().map(cell).collect();
    println!("{}", names.join(","));
    println!("{}", values.join(","));
}

fn cpu_fields(report: &mut serde_json::Value, cpu: &CpuWindow, secs: f64) -> (f64, Option<f64>) {
    let (own, server) = cpu.end();
    report["client_cpu_secs"] = json!(own);
    report["client_cpu_pct"] = json!(100.0 * own / secs.max(1e-9));
    if let Some(s) = server {
        report["server_cpu_secs"] = json!(s);
        report["server_cpu_pct"] = json!(100.0 * s / secs.max(1e-9));
    }
    println!(
        "  client CPU {own:.2} s ({:.0}%), server CPU {}",
        100.0 * own / secs.max(1e-9),
        server.map_or("n/a".to_owned(), |s| format!(
            "{s:.2} s ({:.0}%)",
            100.0 * s / secs.max(1e-9)
        ))
    );
    (own, server)
}

struct Idle;
impl Workload for Idle {}

fn connections(
    url: &str,
    n: usize,
    hold: f64,
    concurrency: usize,
    pid: Option<&str>,
) -> Result<serde_json::Value, String> {
    let (mut d, path) = Driver::new(url)?;
    let rss_before = pid.map(rss_bytes);
    let cpu = CpuWindow::start(pid);
    let secs = d.open_many(
        &mut Idle,
        n,
        concurrency,
        |_| path.clone(),
        Duration::from_secs(120),
    );
    let opened = d.opened;
    let mut report = json!({"bench": "connections", "url": url, "conns": n, "opened": opened, "failed": d.failed + d.closed, "handshake_secs": secs, "handshakes_per_sec": opened as f64 / secs});
    println!(
        "connections: {opened}/{n} open in {secs:.2} s ({:.0} handshakes/s)",
        opened as f64 / secs
    );
    let (_, server_cpu) = cpu_fields(&mut report, &cpu, secs);
    if let Some(s) = server_cpu {
        report["server_cpu_us_per_handshake"] = json!(1e6 * s / opened.max(1) as f64);
        println!(
            "  server CPU per handshake: {:.1} µs",
            1e6 * s / opened.max(1) as f64
        );
    }
    d.run_for(&mut Idle, Duration::from_secs(2)); // settle
    if let (Some(p), Some(before)) = (pid, rss_before) {
        let after = rss_bytes(p);
        let per = after.saturating_sub(before) as f64 / opened.max(1) as f64;
        report["server_rss_before"] = json!(before);
        report["server_rss_after"] = json!(after);
        report["server_rss_per_conn"] = json!(per);
        println!(
            "  server RSS {} KiB -> {} KiB: {per:.0} B per connection",
            before / 1024,
            after / 1024
        );
    }
    let closed_before = d.closed;
    d.run_for(&mut Idle, Duration::from_secs_f64(hold));
    report["dropped_while_held"] = json!(d.closed - closed_before);
    println!(
        "  held {hold} s: {} dropped by the server",
        d.closed - closed_before
    );
    d.verdict()?;
    Ok(report)
}

struct Echo {
    payload: Vec<u8>,
    pipeline: usize,
    sent: Vec<VecDeque<Instant>>,
    hist: Histogram,
    measuring: bool,
}

impl Workload for Echo {
    fn progress(&self) -> String {
        format!(
            "round trips {}  p50 {:.2} ms  p99 {:.2} ms",
            self.hist.count(),
            self.hist.quantile_ms(0.5),
            self.hist.quantile_ms(0.99)
        )
    }

    fn on_open(&mut self, i: usize, c: &mut Conn, now: Instant) {
        if self.sent.len() <= i {
            self.sent.resize_with(i + 1, VecDeque::new);
        }
        for _ in 0..self.pipeline {
            c.queue(OpCode::Binary, &self.payload);
            self.sent[i].push_back(now);
        }
    }
    fn on_message(&mut self, i: usize, c: &mut Conn, _msg: &[u8], now: Instant) {
        if let Some(t) = self.sent[i].pop_front() {
            if self.measuring {
                self.hist.record(now - t);
            }
        }
        c.queue(OpCode::Binary, &self.payload);
        self.sent[i].push_back(now);
    }
}

fn echo(
    url: &str,
    n: usize,
    size: usize,
    secs: f64,
    pipeline: usize,
    pid: Option<&str>,
) -> Result<serde_json::Value, String> {
    let (mut d, path) = Driver::new(url)?;
    let mut w = Echo {
        payload: vec![b'x'; size],
        pipeline: pipeline.max(1),
        sent: Vec::new(),
        hist: Histogram::new(),
        measuring: false,
    };
    d.open_many(&mut w, n, 256, |_| path.clone(), Duration::from_secs(60));
    d.run_for(&mut w, Duration::from_millis(500)); // warm up
    w.measuring = true;
    let cpu = CpuWindow::start(pid);
    let start = Instant::now();
    d.run_for(&mut w, Duration::from_secs_f64(secs));
    let elapsed = start.elapsed().as_secs_f64();
    let rts = w.hist.count() as f64 / elapsed;
    let mut report = json!({"bench": "echo", "conns": n, "size": size, "pipeline": pipeline, "secs": elapsed, "round_trips": w.hist.count(), "round_trips_per_sec": rts,
        "p50_ms": w.hist.quantile_ms(0.5), "p99_ms": w.hist.quantile_ms(0.99), "p999_ms": w.hist.quantile_ms(0.999)});
    println!("echo: {n} conns x {pipeline} in flight, {size} B: {rts:.0} round trips/s, p50 {:.3} ms p99 {:.3} ms p999 {:.3} ms", w.hist.quantile_ms(0.5), w.hist.quantile_ms(0.99), w.hist.quantile_ms(0.999));
    let (_, server) = cpu_fields(&mut report, &cpu, elapsed);
    if let Some(s) = server {
        report["round_trips_per_server_cpu_sec"] = json!(w.hist.count() as f64 / s.max(1e-9));
        println!(
            "  {:.0} round trips per server CPU second",
            w.hist.count() as f64 / s.max(1e-9)
        );
    }
    d.verdict()?;
    Ok(report)
}

struct Churn {
    cycles: u64,
    to_restart: Vec<usize>,
}

impl Workload for Churn {
    fn on_open(&mut self, _i: usize, c: &mut Conn, _now: Instant) {
        // A cycle is an upgrade that completed; a refused or failed
        // connection is counted by the driver, not here.
        self.cycles += 1;
        c.queue(OpCode::Close, &1000u16.to_be_bytes());
    }
    fn on_closed(&mut self, i: usize) {
        self.to_restart.push(i);
    }
    fn progress(&self) -> String {
        format!("cycles {}", self.cycles)
    }
}

fn churn(url: &str, n: usize, secs: f64, pid: Option<&str>) -> Result<serde_json::Value, String> {
    let (mut d, path) = Driver::new(url)?;
    let mut w = Churn {
        cycles: 0,
        to_restart: Vec::new(),
    };
    let cpu = CpuWindow::start(pid);
    let start = Instant::now();
    for i in 0..n {
        d.start(i, &path);
    }
    while start.elapsed().as_secs_f64() < secs {
        d.turn(&mut w, Duration::from_millis(5));
        for i in std::mem::take(&mut w.to_restart) {
            if let Some(mut old) = d.conns[i].take() {
                let _ = d.poll.registry().deregister(&mut old.sock);
            }
            d.start(i, &path);
        }
        d.flush_all();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut report = json!({"bench": "churn", "conns": n, "secs": elapsed, "cycles": w.cycles, "cycles_per_sec": w.cycles as f64 / elapsed, "failed": d.failed + d.failures.connect + d.failures.refused});
    println!(
        "churn: {} connect-upgrade-close cycles in {elapsed:.1} s ({:.0}/s)",
        w.cycles,
        w.cycles as f64 / elapsed
    );
    let (_, server) = cpu_fields(&mut report, &cpu, elapsed);
    if let Some(s) = server {
        report["server_cpu_us_per_cycle"] = json!(1e6 * s / (w.cycles.max(1)) as f64);
        println!(
            "  server CPU per cycle: {:.1} µs",
            1e6 * s / (w.cycles.max(1)) as f64
        );
    }
    d.verdict()?;
    Ok(report)
}
