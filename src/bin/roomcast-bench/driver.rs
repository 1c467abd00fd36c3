//! The client side of a run: connections on one mio poll, dispatched to a
//! [`Workload`] (what each subcommand does with them).

use crate::client::{parse_url, Conn, Inflate, Input, State};
use mio::{Events, Poll, Token};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What a workload does with its connections.
pub trait Workload {
    fn on_open(&mut self, _i: usize, _c: &mut Conn, _now: Instant) {}
    fn on_message(&mut self, _i: usize, _c: &mut Conn, _msg: &[u8], _now: Instant) {}
    fn on_closed(&mut self, _i: usize) {}
    /// Workload figures for the progress line (rate, latency so far).
    fn progress(&self) -> String {
        String::new()
    }
}

/// What went wrong in a run, for an honest exit status.
#[derive(Debug, Default)]
pub struct Failures {
    /// Connections that ended before their upgrade completed (refused,
    /// reset, or nothing listening).
    pub connect: usize,
    /// Upgrades answered with something other than 101, and the first status line.
    pub refused: usize,
    pub first_refusal: Option<String>,
    /// `error` messages from the server, and the first one's code.
    pub errors: u64,
    pub first_error: Option<String>,
}

/// The connections and the poll that drives them.
pub struct Driver {
    pub poll: Poll,
    pub events: Events,
    pub conns: Vec<Option<Conn>>,
    pub scratch: Vec<u8>,
    pub addr: SocketAddr,
    /// Every node's address (`addr` first): connection `i` goes to
    /// `nodes[i % len]` (subscribers spread over a cluster).
    pub nodes: Vec<SocketAddr>,
    pub host: String,
    pub opened: usize,
    pub closed: usize,
    pub failed: usize,
    pub failures: Failures,
    /// Offer permessage-deflate on every upgrade.
    pub offer_deflate: bool,
    inflater: Inflate,
    url: String,
    started: Instant,
    last_progress: Instant,
}

impl Failures {
    fn note_error(&mut self, msg: &[u8]) {
        self.errors += 1;
        if self.first_error.is_none() {
            let text = String::from_utf8_lossy(msg);
            let code = text
                .split("\"code\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("?");
            self.first_error = Some(code.to_owned());
        }
    }
}

impl Driver {
    pub fn new(url: &str) -> Result<(Driver, String), String> {
        let (addr, host, path) = parse_url(url)?;
        let poll = Poll::new().map_err(|e| e.to_string())?;
        let d = Driver {
            poll,
            events: Events::with_capacity(4096),
            conns: Vec::new(),
            scratch: vec![0; 256 * 1024],
            addr,
            nodes: vec![addr],
            host,
            opened: 0,
            closed: 0,
            failed: 0,
            failures: Failures::default(),
            offer_deflate: false,
            inflater: Inflate::default(),
            url: url.to_owned(),
            started: Instant::now(),
            last_progress: Instant::now(),
        };
        Ok((d, path))
    }

    /// Start connection `i` to `target` (replacing a closed one), on
    /// node `i % nodes`.
    pub fn start(&mut self, i: usize, target: &str) {
        self.start_on(i, i % self.nodes.len().max(1), target);
    }

    /// Start connection `i` to `target` on node `node`.
    pub fn start_on(&mut self, i: usize, node: usize, target: &str) {
        if self.conns.len() <= i {
            self.conns.resize_with(i + 1, || None);
        }
        let addr = self.nodes.get(node).copied().unwrap_or(self.addr);
        match Conn::connect(
            self.poll.registry(),
            Token(i),
            addr,
            &self.host,
            target,
            self.offer_deflate,
        ) {
            Ok(c) => self.conns[i] = Some(c),
            Err(_) => self.failed += 1,
        }
    }

    /// Poll once (up to `timeout`) and dispatch.
    pub fn turn(&mut self, w: &mut impl Workload, timeout: Duration) {
        self.progress(w);
        if self.poll.poll(&mut self.events, Some(timeout)).is_err() {
            return;
        }
        let now = Instant::now();
        let ready: Vec<(usize, bool, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                let closed = e.is_read_closed() || e.is_error();
                (
                    e.token().0,
                    e.is_readable() || closed,
                    e.is_writable(),
                    closed,
                )
            })
            .collect();
        for (i, readable, writable, closed_event) in ready {
            let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            if writable && conn.flush().is_err() {
                conn.state = State::Closed;
                self.closed += 1;
                w.on_closed(i);
                continue;
            }
            if readable {
                let (mut opened, mut closed) = (false, false);
                let failures = &mut self.failures;
                let was_open = conn.state == State::Open;
                conn.read(
                    &mut self.scratch,
                    &mut self.inflater,
                    !closed_event,
                    |c, input| match input {
                        Input::Opened => {
                            opened = true;
                            w.on_open(i, c, now);
                        }
                        Input::Message(m) => {
                            if m.starts_with(br#"{"type":"error""#) {
                                failures.note_error(m);
                            }
                            w.on_message(i, c, m, now)
                        }
                        Input::Closed => closed = true,
                    },
                );
                self.opened += usize::from(opened);
                if closed {
                    if let Some(line) = conn.refused.take() {
                        self.failures.refused += 1;
                        self.failures.first_refusal.get_or_insert(line);
                    } else if !was_open && !opened {
                        self.failures.connect += 1;
                    }
                    self.closed += 1;
                    w.on_closed(i);
                }
            }
            if conn.state != State::Closed && conn.pending() > 0 && conn.flush().is_err() {
                conn.state = State::Closed;
            }
        }
    }

    /// A progress line on stderr, once a second.
    fn progress(&mut self, w: &impl Workload) {
        if self.last_progress.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_progress = Instant::now();
        let f = &self.failures;
        eprintln!(
            "roomcast-bench: {:>4.0} s  open {}  closed {}  failed {}  errors {}  {}",
            self.started.elapsed().as_secs_f64(),
            self.opened.saturating_sub(self.closed),
            self.closed,
            self.failed + f.connect + f.refused,
            f.errors,
            w.progress()
        );
    }

    /// `Err` with the reason if the run cannot be trusted: nothing could
    /// be opened, an upgrade was refused, or the server answered errors
    /// (a rate limit, an unauthorized token).
    pub fn verdict(&self) -> Result<(), String> {
        let f = &self.failures;
        if self.opened == 0 {
            let why = f
                .first_refusal
                .clone()
                .unwrap_or_else(|| "nothing accepted the connection".into());
            return Err(format!(
                "could not open a connection to {}: {why}",
                self.url
            ));
        }
        if f.refused > 0 {
            return Err(format!(
                "{} upgrades refused by {} (first: {})",
                f.refused,
                self.url,
                f.first_refusal.as_deref().unwrap_or("?")
            ));
        }
        if f.errors > 0 {
            return Err(format!(
                "the server answered {} errors (first: {}); a rate-limited server needs --rate-limit-per-sec 0",
                f.errors,
                f.first_error.as_deref().unwrap_or("?")
            ));
        }
        Ok(())
    }

    /// Flush every connection with bytes queued outside an event.
    pub fn flush_all(&mut self) {
        for conn in self.conns.iter_mut().flatten() {
            if conn.state == State::Open && conn.pending() > 0 {
                let _ = conn.flush();
            }
        }
    }

    /// Open `n` connections (targets from `target(i)`), `concurrency` at a
    /// time; returns the seconds it took. Gives up after `limit`.
    pub fn open_many(
        &mut self,
        w: &mut impl Workload,
        n: usize,
        concurrency: usize,
        target: impl Fn(usize) -> String,
        limit: Duration,
    ) -> f64 {
        let start = Instant::now();
        let mut started = 0;
        let base = self.opened + self.closed;
        while self.opened + self.closed - base + self.failed < n && start.elapsed() < limit {
            while started < n
                && started - (self.opened + self.closed - base + self.failed).min(started)
                    < concurrency
            {
                let i = self.conns.len();
                self.start(i, &target(started));
                started += 1;
            }
            self.turn(w, Duration::from_millis(10));
        }
        start.elapsed().as_secs_f64()
    }

    /// Bytes the open connections read after their upgrades.
    pub fn wire_bytes(&self) -> u64 {
        self.conns.iter().flatten().map(|c| c.wire_bytes).sum()
    }

    /// Connections that agreed to permessage-deflate.
    pub fn deflated(&self) -> usize {
        self.conns.iter().flatten().filter(|c| c.deflate).count()
    }

    /// Keep serving for `d` (answering pings, counting closes).
    pub fn run_for(&mut self, w: &mut impl Workload, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.turn(w, Duration::from_millis(10));
        }
    }
}
