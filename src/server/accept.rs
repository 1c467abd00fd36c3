//! Accepting connections: bounded per turn, with a reserve descriptor so
//! running out of descriptors (EMFILE) neither spins the loop nor stalls the
//! listener, and the listener's own backlog.

use super::conn::{Conn, Phase};
use super::Reason;
use super::{ms, Server, ACCEPT_BACKOFF_MS, ACCEPT_BATCH};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};
use std::io;
use std::net::SocketAddr;

impl Server {
    // ----- accepting -------------------------------------------------------

    pub(super) fn accept_connections(&mut self) {
        if !self.accept_pending {
            return;
        }
        if let Some(until) = self.accept_paused_until {
            if self.now_ms < until {
                return;
            }
            self.accept_paused_until = None;
        }
        for _ in 0..ACCEPT_BATCH {
            let Some(listener) = self.listener.as_ref() else {
                self.accept_pending = false;
                return;
            };
            let accepted = listener.accept();
            let out_of_fds = matches!(&accepted, Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)));
            if out_of_fds && self.shed_oldest_http() {
                // A descriptor was freed from an idle HTTP connection: the
                // next accept gets it.
                continue;
            }
            match accepted {
                Ok((socket, peer)) => self.add_connection(socket, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_pending = false;
                    return;
                }
                Err(_) if out_of_fds => {
                    if self.refuse_with_reserve() {
                        return;
                    }
                }
                Err(e) => log::debug!("accept: {e}"),
            }
        }
    }

    fn add_connection(&mut self, mut socket: TcpStream, peer: SocketAddr) {
        // SPEC §6: every accepted socket counts toward max_connections; at
        // the cap the oldest connection that has not finished its HTTP
        // request makes room, so idle sockets cannot lock others out. When
        // every slot is a WebSocket, a few more are taken from the
        // descriptor reserve so /healthz and the 503 for an upgrade are
        // still answered.
        if self.conns.len() >= self.max_connections
            && !self.shed_oldest_http()
            && self.conns.len() >= self.max_connections + HTTP_HEADROOM
        {
            self.stats.refused_max_connections += 1;
            return; // dropping the socket closes it
        }
        if !self.per_ip.admit(peer.ip()) {
            return;
        }
        let _ = socket.set_nodelay(true);
        let id = self.next_id;
        self.next_id += 1;
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if self
            .poll
            .registry()
            .register(&mut socket, Token(key), Interest::READABLE)
            .is_err()
        {
            return;
        }
        entry.insert(Conn::new(socket, id));
        log::log!(self.access_level(), "conn {id}: accepted from {peer}");
        self.conn_log.opened(key, peer);
        self.http_order.insert(id, key);
        self.per_ip.opened(key, peer.ip());
        let deadline = self.now_ms + ms(self.cfg.handshake_timeout);
        self.schedule(key, deadline);
        // Bytes that arrived before the registration are not lost: adding a
        // readable socket to epoll reports it at once, edge-triggered or not.
    }
}

impl Server {
    /// Out of descriptors: use the reserve to take one pending connection
    /// off the backlog and close it, so the listener does not stay readable
    /// and spin the loop. accept(2) fails with EMFILE before it looks at
    /// the backlog, so only this second accept tells whether any connection
    /// is waiting: WouldBlock means drained. True when accepting should
    /// stop for this turn.
    fn refuse_with_reserve(&mut self) -> bool {
        let Some(listener) = self.listener.as_ref() else {
            return true;
        };
        self.reserve.release();
        let drained = match listener.accept() {
            Ok((socket, _)) => {
                self.refused_no_fd += 1;
                drop(socket);
                false
            }
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        };
        if drained {
            self.accept_pending = false;
        }
        if !self.reserve.reacquire() {
            log::warn!("out of file descriptors: pausing accept for {ACCEPT_BACKOFF_MS} ms");
            self.accept_paused_until = Some(self.now_ms + ACCEPT_BACKOFF_MS);
            return true;
        }
        drained
    }

    /// Close the oldest connection that is still waiting for (the rest of)
    /// an HTTP request, at once, to free its descriptor. False if there is
    /// none: every connection is a WebSocket or is being answered.
    pub(super) fn shed_oldest_http(&mut self) -> bool {
        while let Some((id, key)) = self.http_order.pop_first() {
            let sheddable = self.conns.get(key).is_some_and(|c| {
                c.id == id && c.phase == Phase::Http && !c.doomed && c.outbox.unsent() == 0
            });
            if !sheddable {
                continue; // upgraded, answering, or gone: a stale entry
            }
            let mut conn = self.conns.remove(key);
            let _ = self.poll.registry().deregister(&mut conn.socket);
            self.per_ip.closed(key);
            self.stats.disconnect(Reason::Shed);
            log::debug!("conn {id}: shed (idle HTTP) to make room");
            return true;
        }
        false
    }
}

/// HTTP connections accepted past `max_connections` when no idle one can
/// be shed (every slot is a WebSocket): enough to answer health checks and
/// 503s, well within the descriptor reserve (`FD_RESERVE`).
const HTTP_HEADROOM: usize = 16;

/// The accept queue: a reconnect storm after a restart (every client of a
/// busy room at once) must not overflow it, or each dropped SYN costs its
/// client a one-second retransmit. Linux caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

/// Bind the listener with our backlog (mio's `bind` uses 128).
pub(super) fn bind_listener(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    // --workers: every worker listens on the port; the kernel spreads
    // connections over them.
    socket.set_reuse_port(reuse_port)?;
    socket.set_nonblocking(true)?;
    // The error names the address ("Address already in use" alone does not
    // say which).
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}
