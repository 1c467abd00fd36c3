//! The server: one `mio` poll loop that owns every socket.
//!
//! Rule of this layer: it is the only code that reads or writes sockets, and
//! it never writes in the middle of handling input. One turn:
//! 1. poll (the timeout is the next timer, or zero if work is pending);
//! 2. accept (bounded), read every readable socket into one shared scratch
//!    buffer and act on what arrived: acting queues shared frames into
//!    outboxes and marks connections dirty;
//! 3. expire due timers;
//! 4. flush every dirty connection once with `write_vectored` (a byte budget
//!    each); WRITABLE is registered only where bytes remain;
//! 5. remove doomed connections, after the batch, because slab keys are reused.

mod accept;
mod api;
mod compress;
mod conn;
mod connlog;
mod history;
mod http;
mod hubnet;
mod lifecycle;
mod metrics;
pub mod outbox;
mod per_ip;
mod remote;
mod replies;
mod sockets;
mod stats;
mod sys;
mod timers;
mod ws;

use stats::{Reason, Stats};

use crate::config::Config;
use crate::proto::session::SessionConfig;

use crate::room::Hub;
use conn::Conn;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use sockets::queue_on;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timers::{Entry, TimerWheel};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const SIGNALS: Token = Token(usize::MAX - 3);

/// The shared read buffer: 64 KiB takes a whole socket receive burst in
/// one `read` on loopback and is paid once per server, not per connection.
const SCRATCH_SIZE: usize = 64 * 1024;
/// Bytes one connection may read per turn before others get their turn.
const READ_BUDGET: usize = 256 * 1024;
/// Bytes one connection may write per turn (Redis caps a client's flush the
/// same way so one fast reader cannot starve the loop).
const WRITE_BUDGET: usize = 1024 * 1024;
/// Connections accepted per turn before the loop serves the others.
const ACCEPT_BATCH: usize = 512;
/// Descriptors kept back from `max_connections` for HTTP answers (503s
/// included), the listener, epoll, the signal pipe and stdio.
const FD_RESERVE: u64 = 64;
/// Timer granularity: fine enough for sub-second test timeouts, coarse
/// enough that an idle server wakes only ten times a second.
const TICK_MS: u64 = 100;
/// Wheel slots: 1024 ticks of 100 ms cover 102 s, more than any default.
const WHEEL_SLOTS: usize = 1024;
/// Seconds between stats lines in the log.
const STATS_EVERY_MS: u64 = 30_000;
/// The hub's periodic work (throttled `online`, TTLs) runs once a second.
const HUB_TICK_MS: u64 = 1_000;
/// Back-off after the process ran out of descriptors on accept.
const ACCEPT_BACKOFF_MS: u64 = 100;

/// Asks a running server to shut down (from another thread, e.g. a test).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl ShutdownHandle {
    /// Start the graceful shutdown: close 1001 to everyone, then exit.
    pub fn shutdown(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

/// The server. See the module docs for the turn.
pub struct Server {
    cfg: Config,
    poll: Poll,
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    conns: Slab<Conn>,
    scratch: Vec<u8>,
    wheel: TimerWheel,
    due: Vec<Entry>,
    dirty: Vec<usize>,
    doomed: Vec<usize>,
    pending_reads: Vec<usize>,
    /// `messages_received` at the last stats line (for its rate).
    last_logged_received: u64,
    /// One sample a second for the last five minutes.
    history: history::History,
    /// Details for the per-connection log lines, when they are logged.
    conn_log: connlog::ConnLog,
    /// HTTP connections whose answer was written: their next request.
    http_resume: Vec<usize>,
    /// Paced replies, for the connections that have some waiting.
    replies: HashMap<usize, replies::Replies>,
    /// Connections still in HTTP, oldest first (by id): who is shed first.
    http_order: BTreeMap<u64, usize>,
    /// `max_connections_per_ip`.
    per_ip: per_ip::PerIp,
    accept_pending: bool,
    accept_paused_until: Option<u64>,
    /// Connections closed at once for lack of descriptors (logged in the stats line).
    refused_no_fd: u64,
    reserve: sys::ReserveFd,
    started: Instant,
    now_ms: u64,
    next_id: u64,
    ws_open: usize,
    max_connections: usize,
    shutdown: Arc<AtomicBool>,
    waker: Arc<Waker>,
    signals: Option<mio::net::UnixStream>,
    draining_until: Option<u64>,
    next_stats_ms: u64,
    /// What every WebSocket session shares (limits, timeouts, the ping frame).
    session_cfg: SessionConfig,
    /// Outgoing permessage-deflate, once per frame (SPEC §8).
    compressor: compress::Compressor,
    /// The one inflater every compressing client shares (made on first use).
    inflater: Option<Box<crate::proto::deflate::Inflater>>,
    /// The message being handled arrived compressed.
    inflated: bool,
    hub: Hub,
    closes: Vec<(usize, hubnet::CloseRequest)>,
    drained: Vec<usize>,
    next_hub_tick_ms: u64,
    /// With `write_delay_ms`: when dirty connections are flushed next.
    next_flush_ms: u64,
    /// The counters.
    stats: Stats,
    awaiting_acks: HashMap<u64, (usize, u64, http::Answer)>,
    remote_links: Option<remote::RemoteLinks>,
}

impl Server {
    /// Bind the listener and prepare the loop (raises RLIMIT_NOFILE and
    /// lowers `max_connections` to fit it).
    pub fn bind(cfg: Config) -> io::Result<Server> {
        let addr = cfg
            .listen_addr()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let max_connections = fit_to_descriptors(cfg.max_connections);
        let poll = Poll::new()?;
        let mut listener = accept::bind_listener(addr, cfg.workers > 1)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let local_addr = listener.local_addr()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut hub = hubnet::make_hub(&cfg);
        let remote_links = hub
            .remote()
            .map(|r| remote::RemoteLinks::new(r.links(), &r.addr()));
        let per_ip = per_ip::PerIp::new(cfg.max_connections_per_ip);
        let access = if cfg.access_log {
            log::Level::Info
        } else {
            log::Level::Debug
        };
        let conn_log = connlog::ConnLog::new(log::log_enabled!(access));
        let session_cfg = SessionConfig::new(
            cfg.max_message_size,
            ms(cfg.ping_interval),
            ms(cfg.ping_timeout),
            ms(cfg.close_timeout),
        );
        Ok(Server {
            cfg,
            poll,
            listener: Some(listener),
            local_addr,
            conns: Slab::new(),
            scratch: vec![0; SCRATCH_SIZE],
            wheel: TimerWheel::new(TICK_MS, WHEEL_SLOTS),
            due: Vec::new(),
            dirty: Vec::new(),
            doomed: Vec::new(),
            pending_reads: Vec::new(),
            http_resume: Vec::new(),
            last_logged_received: 0,
            history: history::History::default(),
            conn_log,
            replies: HashMap::new(),
            http_order: BTreeMap::new(),
            per_ip,
            accept_pending: false,
            accept_paused_until: None,
            refused_no_fd: 0,
            reserve: sys::ReserveFd::new(),
            started: Instant::now(),
            now_ms: 0,
            next_id: 1,
            ws_open: 0,
            max_connections,
            shutdown: Arc::new(AtomicBool::new(false)),
            waker,
            signals: None,
            draining_until: None,
            next_stats_ms: STATS_EVERY_MS,
            session_cfg,
            hub,
            closes: Vec::new(),
            compressor: compress::Compressor::default(),
            inflater: None,
            inflated: false,
            drained: Vec::new(),
            next_hub_tick_ms: HUB_TICK_MS,
            next_flush_ms: 0,
            stats: Stats::default(),
            awaiting_acks: HashMap::new(),
            remote_links,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `max_connections` after fitting it to RLIMIT_NOFILE.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            flag: self.shutdown.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Make SIGTERM and SIGINT start the graceful shutdown (for the daemon;
    /// tests use [`Server::shutdown_handle`]).
    pub fn install_signal_handlers(&mut self) -> io::Result<()> {
        let (read, write) = std::os::unix::net::UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, write.try_clone()?)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, write)?;
        let mut read = mio::net::UnixStream::from_std(read);
        self.poll
            .registry()
            .register(&mut read, SIGNALS, Interest::READABLE)?;
        self.signals = Some(read);
        Ok(())
    }

    /// Run until shut down; returns when every connection is closed or
    /// `close_timeout` passed after the shutdown began.
    pub fn run(&mut self) -> io::Result<()> {
        log::info!(
            "roomcast {} listening on {} (engine {}, max_connections {}, max_message_size {}, rate_limit {}/s): open http://{}/",
            env!("CARGO_PKG_VERSION"),
            self.local_addr,
            self.hub.engine_name(),
            self.max_connections,
            self.cfg.max_message_size,
            self.cfg.rate_limit.per_sec,
            self.local_addr
        );
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            self.now_ms = self.started.elapsed().as_millis() as u64;
            for event in events.iter() {
                self.on_event(event);
            }
            self.pump_remote();
            if self.shutdown.load(Ordering::SeqCst) && self.draining_until.is_none() {
                self.begin_shutdown();
            }
            self.accept_connections();
            for key in std::mem::take(&mut self.pending_reads) {
                self.read_conn(key);
            }
            for key in std::mem::take(&mut self.http_resume) {
                self.advance_http(key);
                // Edge-triggered: what arrived while we were not reading.
                self.read_conn(key);
            }
            self.expire_timers();
            if self.hub.next_batch_due().is_some_and(|t| t <= self.now_ms) {
                self.with_hub(|hub, net, now| hub.flush_batches(now, net));
            }
            if self.now_ms >= self.next_hub_tick_ms {
                self.next_hub_tick_ms = self.now_ms + HUB_TICK_MS;
                self.hub_tick();
                self.sample();
            }
            // What this turn asked of the engine goes out before what it
            // answered clients: a client that saw `joined` finds its
            // presence in Redis, whichever node it asks next.
            self.flush_remote();
            if self.now_ms >= self.next_flush_ms || self.draining_until.is_some() {
                self.flush_dirty();
                // SPEC §8 write_delay_ms: one flush per delay, whatever arrives.
                self.next_flush_ms = self.now_ms + self.cfg.write_delay_ms;
            }
            if !self.drained.is_empty() {
                let drained = std::mem::take(&mut self.drained);
                self.report_drained(&drained);
            }
            self.reap();
            if self.now_ms >= self.next_stats_ms {
                self.next_stats_ms = self.now_ms + STATS_EVERY_MS;
                self.log_stats();
            }
            if let Some(until) = self.draining_until {
                if self.conns.is_empty() || self.now_ms >= until {
                    log::info!("shutdown complete ({} connections left)", self.conns.len());
                    return Ok(());
                }
            }
        }
    }

    /// One readiness event: the listener, the waker, the signal pipe, or a
    /// connection (events for unknown tokens happen, and are ignored).
    fn on_event(&mut self, event: &mio::event::Event) {
        match event.token() {
            LISTENER => self.accept_pending = true,
            WAKER => {}
            SIGNALS => self.drain_signals(),
            token if remote::link_of(token).is_some() => {
                if let Some(link) = remote::link_of(token) {
                    self.on_remote_event(link);
                }
            }
            Token(key) => {
                if event.is_writable() {
                    self.mark_dirty(key);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read_conn(key);
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let flush_due = !self.dirty.is_empty() && self.now_ms >= self.next_flush_ms;
        if !self.pending_reads.is_empty()
            || !self.http_resume.is_empty()
            || flush_due
            || (self.accept_pending && self.accept_paused_until.is_none())
        {
            return Some(Duration::ZERO);
        }
        let mut ms = self
            .next_stats_ms
            .min(self.next_hub_tick_ms)
            .saturating_sub(self.now_ms);
        if !self.dirty.is_empty() {
            ms = ms.min(self.next_flush_ms.saturating_sub(self.now_ms));
        }
        if let Some(t) = self.hub.next_batch_due() {
            ms = ms.min(t.saturating_sub(self.now_ms));
        }
        if let Some(t) = self.remote_links.as_ref().and_then(|r| r.next_attempt_ms()) {
            ms = ms.min(t.saturating_sub(self.now_ms));
        }
        if let Some(t) = self.wheel.next_timeout_ms(self.now_ms) {
            ms = ms.min(t);
        }
        if let Some(t) = self.accept_paused_until {
            ms = ms.min(t.saturating_sub(self.now_ms));
        }
        if let Some(t) = self.draining_until {
            ms = ms.min(t.saturating_sub(self.now_ms));
        }
        Some(Duration::from_millis(ms))
    }

    fn drain_signals(&mut self) {
        let mut buf = [0u8; 64];
        if let Some(sig) = self.signals.as_mut() {
            while matches!(sig.read(&mut buf), Ok(n) if n > 0) {}
        }
        if self.draining_until.is_some() {
            // A second Ctrl-C: the operator does not want to wait.
            log::warn!(
                "second signal: exiting now, {} connections not drained",
                self.conns.len()
            );
            std::process::exit(130);
        }
        log::info!("signal received: shutting down");
        self.shutdown.store(true, Ordering::SeqCst);
    }
}

/// `max_connections` lowered to what RLIMIT_NOFILE allows, after raising
/// the soft limit (SPEC §5), less a reserve for our own descriptors.
fn fit_to_descriptors(max_connections: usize) -> usize {
    let nofile = sys::raise_nofile_limit();
    let fit = usize::try_from(nofile.saturating_sub(FD_RESERVE))
        .unwrap_or(usize::MAX)
        .max(1);
    let fitted = max_connections.min(fit);
    if fitted < max_connections {
        // Cutting the default to what the system allows is expected (info);
        // cutting a value the operator asked for is worth a warning.
        let level = if max_connections == Config::default().max_connections {
            log::Level::Info
        } else {
            log::Level::Warn
        };
        log::log!(
            level,
            "max_connections lowered from {max_connections} to {fitted} (RLIMIT_NOFILE {nofile})"
        );
    }
    fitted
}

/// A duration key of the configuration in milliseconds.
fn ms(secs: f64) -> u64 {
    (secs * 1000.0).round() as u64
}
