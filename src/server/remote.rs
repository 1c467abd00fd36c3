//! The engine's TCP connections (SPEC §7), owned by the loop like every
//! other socket: connected without blocking, read when readable, written
//! when the engine has bytes, and reconnected with capped, jittered
//! backoff when lost. The engine itself never sees a socket.

use super::Server;
use crate::room::Now;
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};

/// Tokens of the engine's links: `REMOTE_BASE - link`.
pub const REMOTE_BASE: usize = usize::MAX - 16;
/// How many links at most.
pub const MAX_LINKS: usize = 4;
const FIRST_BACKOFF_MS: u64 = 100;
const MAX_BACKOFF_MS: u64 = 5_000;

#[derive(Debug, Default)]
struct LinkIo {
    stream: Option<TcpStream>,
    connecting: bool,
    next_attempt_ms: u64,
    backoff_ms: u64,
}

/// The loop's side of the engine's links.
#[derive(Debug, Default)]
pub struct RemoteLinks {
    links: Vec<LinkIo>,
    /// Reads or writes are due on these links this turn.
    ready: Vec<usize>,
    /// Times a link was lost.
    pub lost: u64,
    /// Redis's address, once resolved: a host name is looked up (which
    /// blocks) at start-up, and again only until a lookup succeeds.
    resolved: Option<SocketAddr>,
}

/// The link of a token, if it is one of the engine's.
pub fn link_of(token: Token) -> Option<usize> {
    let link = REMOTE_BASE.checked_sub(token.0)?;
    (token.0 <= REMOTE_BASE && link < MAX_LINKS).then_some(link)
}

fn jitter(ms: u64) -> u64 {
    let mut b = [0u8; 2];
    let r = if getrandom::getrandom(&mut b).is_ok() {
        u64::from(u16::from_le_bytes(b))
    } else {
        0
    };
    // 50% to 100% of the backoff: nodes that lost Redis together do not
    // come back in one burst.
    ms / 2 + r % (ms / 2 + 1)
}

impl RemoteLinks {
    /// Links for an engine that wants `n`.
    pub fn new(n: usize, addr: &str) -> RemoteLinks {
        RemoteLinks {
            links: (0..n.min(MAX_LINKS)).map(|_| LinkIo::default()).collect(),
            ready: Vec::new(),
            lost: 0,
            resolved: resolve(addr).ok(),
        }
    }

    /// The next time a reconnect is due, if a link is down.
    pub fn next_attempt_ms(&self) -> Option<u64> {
        self.links
            .iter()
            .filter(|l| l.stream.is_none())
            .map(|l| l.next_attempt_ms)
            .min()
    }
}

impl Server {
    /// A readiness event on an engine link.
    pub(super) fn on_remote_event(&mut self, link: usize) {
        if let Some(r) = self.remote_links.as_mut() {
            r.ready.push(link);
        }
    }

    fn now(&self) -> Now {
        Now {
            mono_ms: self.now_ms,
            wall_ms: self.wall_ms(),
        }
    }

    /// Connect what is down and due, read what is ready, write what the
    /// engine queued; then hand the hub what the engine completed.
    pub(super) fn pump_remote(&mut self) {
        let Some(mut links) = self.remote_links.take() else {
            return;
        };
        let now = self.now();
        for link in 0..links.links.len() {
            self.connect_if_due(&mut links, link, now);
        }
        for link in std::mem::take(&mut links.ready) {
            self.read_link(&mut links, link, now);
        }
        for link in 0..links.links.len() {
            self.write_link(&mut links, link, now);
        }
        self.remote_links = Some(links);
        self.with_hub(|hub, net, now| hub.deliver_engine(now, net));
        self.answer_acks();
    }

    /// Write what the hub's requests queued this turn.
    pub(super) fn flush_remote(&mut self) {
        let Some(mut links) = self.remote_links.take() else {
            return;
        };
        let now = self.now();
        for link in 0..links.links.len() {
            self.write_link(&mut links, link, now);
        }
        self.remote_links = Some(links);
    }

    fn connect_if_due(&mut self, links: &mut RemoteLinks, link: usize, now: Now) {
        let Some(io) = links.links.get_mut(link) else {
            return;
        };
        if io.stream.is_some() || now.mono_ms < io.next_attempt_ms {
            return;
        }
        let Some(addr) = self.hub.remote().map(|r| r.addr()) else {
            return;
        };
        let target = match links.resolved {
            Some(a) => Ok(a),
            None => resolve(&addr),
        };
        if let Ok(a) = target {
            links.resolved = Some(a);
        }
        let Some(io) = links.links.get_mut(link) else {
            return;
        };
        match target.and_then(TcpStream::connect) {
            Ok(mut stream) => {
                let token = Token(REMOTE_BASE - link);
                let interest = Interest::READABLE | Interest::WRITABLE;
                if let Err(e) = self.poll.registry().register(&mut stream, token, interest) {
                    log::warn!("engine link {link}: cannot register: {e}");
                    return self.link_down(links, link, now);
                }
                io.stream = Some(stream);
                io.connecting = true;
            }
            Err(e) => {
                log::debug!("engine link {link}: connect to {addr}: {e}");
                self.link_down(links, link, now);
            }
        }
    }

    fn link_down(&mut self, links: &mut RemoteLinks, link: usize, now: Now) {
        let Some(io) = links.links.get_mut(link) else {
            return;
        };
        let was_open = !io.connecting && io.stream.is_some();
        if let Some(mut stream) = io.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        io.connecting = false;
        io.backoff_ms = (io.backoff_ms * 2).clamp(FIRST_BACKOFF_MS, MAX_BACKOFF_MS);
        io.next_attempt_ms = now.mono_ms + jitter(io.backoff_ms);
        if was_open {
            links.lost += 1;
        }
        if let Some(r) = self.hub.remote() {
            r.on_lost(link, now);
        }
        // What the loss failed (joins, API publications) is answered now.
        self.with_hub(|hub, net, now| hub.deliver_engine(now, net));
        self.answer_acks();
    }

    fn read_link(&mut self, links: &mut RemoteLinks, link: usize, now: Now) {
        let Some(io) = links.links.get_mut(link) else {
            return;
        };
        let Some(stream) = io.stream.as_mut() else {
            return;
        };
        if io.connecting {
            match stream.peer_addr() {
                Ok(_) => {
                    io.connecting = false;
                    io.backoff_ms = 0;
                    let _ = stream.set_nodelay(true);
                    if let Some(r) = self.hub.remote() {
                        r.on_connected(link, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    if let Ok(Some(e)) | Err(e) = stream.take_error() {
                        log::debug!("engine link {link}: {e}");
                        return self.link_down(links, link, now);
                    }
                    return; // still connecting
                }
                Err(_) => return self.link_down(links, link, now),
            }
        }
        loop {
            let Some(stream) = links.links.get_mut(link).and_then(|l| l.stream.as_mut()) else {
                return;
            };
            let n = match stream.read(&mut self.scratch) {
                Ok(0) => {
                    log::warn!("engine link {link}: closed by Redis");
                    return self.link_down(links, link, now);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("engine link {link}: {e}");
                    return self.link_down(links, link, now);
                }
            };
            let bytes = self.scratch.get(..n).unwrap_or_default();
            let result = match self.hub.remote() {
                Some(r) => r.on_bytes(link, bytes, now),
                None => Ok(()),
            };
            if let Err(e) = result {
                log::warn!("engine link {link}: {e}");
                return self.link_down(links, link, now);
            }
        }
    }

    fn write_link(&mut self, links: &mut RemoteLinks, link: usize, now: Now) {
        let Some(io) = links.links.get_mut(link) else {
            return;
        };
        let (Some(stream), false) = (io.stream.as_mut(), io.connecting) else {
            return;
        };
        let Some(out) = self.hub.remote().map(|r| r.output(link)) else {
            return;
        };
        let mut written = 0;
        let mut failed = None;
        while written < out.len() {
            match stream.write(out.get(written..).unwrap_or_default()) {
                Ok(0) => {
                    failed = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        out.drain(..written);
        if let Some(e) = failed {
            log::warn!("engine link {link}: {e}");
            self.link_down(links, link, now);
        }
    }
}

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
}
