//! `roomcast --workers N` (SPEC §7): N single-threaded worker processes
//! (this same binary, with `ROOMCAST_WORKER` set) share the listening port
//! with `SO_REUSEPORT`, so the kernel spreads connections over them. The
//! parent only watches: it restarts a worker that dies (with backoff),
//! and passes SIGTERM or SIGINT on to every worker for a graceful drain.
//! Workers share state through the Redis engine, as separate machines do.

use crate::config::Config;
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The environment variable that makes a process a worker (its number).
pub const WORKER_ENV: &str = "ROOMCAST_WORKER";
/// The address the workers bind (the parent resolved port 0).
pub const LISTEN_ENV: &str = "ROOMCAST_WORKER_LISTEN";

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that lived this long is not crashing in a loop.
const STABLE_AFTER: Duration = Duration::from_secs(10);
const DRAIN_GRACE: Duration = Duration::from_secs(30);

struct Worker {
    n: usize,
    child: Option<Child>,
    started: Instant,
    backoff: Duration,
    restart_at: Option<Instant>,
}

fn spawn(n: usize, addr: SocketAddr) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(WORKER_ENV, n.to_string())
        .env(LISTEN_ENV, addr.to_string())
        .spawn()
}

fn signal(child: &Child, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill has no memory effects; the pid is our own child's.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Reserve the port (binding without listening, with `SO_REUSEPORT`, so
/// port 0 becomes one port for every worker and stays ours while they
/// restart).
fn reserve(addr: SocketAddr) -> std::io::Result<(socket2::Socket, SocketAddr)> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let bound = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("not an IP address"))?;
    Ok((socket, bound))
}

/// In a worker: SIGTERM when the supervisor dies (Linux
/// `PR_SET_PDEATHSIG`), so no worker outlives it.
pub fn follow_parent() {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; no memory
    // is passed. getppid and raise have no memory effects.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        if libc::getppid() == 1 {
            // The supervisor was gone before the call.
            libc::raise(libc::SIGTERM);
        }
    }
}

/// Run the workers until SIGTERM or SIGINT; Ok once every worker ended.
pub fn run(cfg: &Config) -> std::io::Result<()> {
    let addr = cfg
        .listen_addr()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (_reserved, addr) = reserve(addr)?;
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    log::info!(
        "roomcast supervisor {} listening on {addr} with {} workers (engine redis)",
        std::process::id(),
        cfg.workers
    );
    let mut workers = Vec::with_capacity(cfg.workers);
    for n in 1..=cfg.workers {
        let child = spawn(n, addr)?;
        log::info!("worker {n} started (pid {})", child.id());
        workers.push(Worker {
            n,
            child: Some(child),
            started: Instant::now(),
            backoff: FIRST_BACKOFF,
            restart_at: None,
        });
    }
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        for w in &mut workers {
            watch(w, addr);
        }
    }
    log::info!("supervisor: draining {} workers", workers.len());
    for w in &workers {
        if let Some(c) = &w.child {
            signal(c, libc::SIGTERM);
        }
    }
    let end = Instant::now() + DRAIN_GRACE;
    for w in &mut workers {
        let Some(c) = w.child.as_mut() else { continue };
        loop {
            match c.try_wait() {
                Ok(Some(status)) => {
                    log::info!("worker {} exited ({status})", w.n);
                    break;
                }
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    log::warn!("worker {} did not drain in time: killed", w.n);
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Notice a worker that died; restart it when its backoff is over.
fn watch(w: &mut Worker, addr: SocketAddr) {
    if let Some(c) = w.child.as_mut() {
        let Ok(Some(status)) = c.try_wait() else {
            return;
        };
        w.child = None;
        if w.started.elapsed() >= STABLE_AFTER {
            w.backoff = FIRST_BACKOFF;
        }
        log::warn!(
            "worker {} died ({status}); restarting in {:?}",
            w.n,
            w.backoff
        );
        w.restart_at = Some(Instant::now() + w.backoff);
        w.backoff = (w.backoff * 2).min(MAX_BACKOFF);
        return;
    }
    if w.restart_at.is_some_and(|t| Instant::now() >= t) {
        match spawn(w.n, addr) {
            Ok(child) => {
                log::info!("worker {} restarted (pid {})", w.n, child.id());
                w.child = Some(child);
                w.started = Instant::now();
                w.restart_at = None;
            }
            Err(e) => {
                log::warn!("worker {}: cannot start: {e}", w.n);
                w.restart_at = Some(Instant::now() + w.backoff);
            }
        }
    }
}
