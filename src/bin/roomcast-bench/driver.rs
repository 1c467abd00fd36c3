//! The client side of a run: connections on one mio poll, dispatched to a
//! [`Workload`] (what each subcommand does with them).

use crate::client::{parse_url, Conn, Input, State};
use mio::{Events, Poll, Token};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What a workload does with its connections.
pub trait Workload {
    fn on_open(&mut self, _i: usize, _c: &mut Conn, _now: Instant) {}
    fn on_message(&mut self, _i: usize, _c: &mut Conn, _msg: &[u8], _now: Instant) {}
    fn on_closed(&mut self, _i: usize) {}
}

/// The connections and the poll that drives them.
pub struct Driver {
    pub poll: Poll,
    pub events: Events,
    pub conns: Vec<Option<Conn>>,
    pub scratch: Vec<u8>,
    pub addr: SocketAddr,
    pub host: String,
    pub opened: usize,
    pub closed: usize,
    pub failed: usize,
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
            host,
            opened: 0,
            closed: 0,
            failed: 0,
        };
        Ok((d, path))
    }

    /// Start connection `i` to `target` (replacing a closed one).
    pub fn start(&mut self, i: usize, target: &str) {
        if self.conns.len() <= i {
            self.conns.resize_with(i + 1, || None);
        }
        match Conn::connect(
            self.poll.registry(),
            Token(i),
            self.addr,
            &self.host,
            target,
        ) {
            Ok(c) => self.conns[i] = Some(c),
            Err(_) => self.failed += 1,
        }
    }

    /// Poll once (up to `timeout`) and dispatch.
    pub fn turn(&mut self, w: &mut impl Workload, timeout: Duration) {
        if self.poll.poll(&mut self.events, Some(timeout)).is_err() {
            return;
        }
        let now = Instant::now();
        let ready: Vec<(usize, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                (
                    e.token().0,
                    e.is_readable() || e.is_read_closed() || e.is_error(),
                    e.is_writable(),
                )
            })
            .collect();
        for (i, readable, writable) in ready {
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
                conn.read(&mut self.scratch, |c, input| match input {
                    Input::Opened => {
                        opened = true;
                        w.on_open(i, c, now);
                    }
                    Input::Message(m) => w.on_message(i, c, m, now),
                    Input::Closed => closed = true,
                });
                self.opened += usize::from(opened);
                if closed {
                    self.closed += 1;
                    w.on_closed(i);
                }
            }
            if conn.state != State::Closed && conn.pending() > 0 && conn.flush().is_err() {
                conn.state = State::Closed;
            }
        }
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

    /// Keep serving for `d` (answering pings, counting closes).
    pub fn run_for(&mut self, w: &mut impl Workload, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.turn(w, Duration::from_millis(10));
        }
    }
}
