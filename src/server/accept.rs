//! Accepting connections: bounded per turn, with a reserve descriptor so
//! running out of descriptors (EMFILE) neither spins the loop nor stalls the
//! listener, and the listener's own backlog.

use super::conn::Conn;
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
            match listener.accept() {
                Ok((socket, peer)) => self.add_connection(socket, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_pending = false;
                    return;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                    // Out of descriptors: use the reserve to take one pending
                    // connection off the backlog and close it, so the listener
                    // does not stay readable and spin the loop.
                    // accept(2) fails with EMFILE before it looks at the
                    // backlog, so only this second accept tells whether any
                    // connection is waiting: WouldBlock means drained.
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
                        log::warn!(
                            "out of file descriptors: pausing accept for {ACCEPT_BACKOFF_MS} ms"
                        );
                        self.accept_paused_until = Some(self.now_ms + ACCEPT_BACKOFF_MS);
                        return;
                    }
                    if drained {
                        return;
                    }
                }
                Err(e) => log::debug!("accept: {e}"),
            }
        }
    }

    fn add_connection(&mut self, mut socket: TcpStream, _peer: SocketAddr) {
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
        let deadline = self.now_ms + ms(self.cfg.handshake_timeout);
        self.schedule(key, deadline);
        // Bytes that arrived before the registration are not lost: adding a
        // readable socket to epoll reports it at once, edge-triggered or not.
    }
}

/// The accept queue: a reconnect storm after a restart (every client of a
/// busy room at once) must not overflow it, or each dropped SYN costs its
/// client a one-second retransmit. Linux caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

/// Bind the listener with our backlog (mio's `bind` uses 128).
pub(super) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}
