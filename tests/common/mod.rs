//! Test helpers: a server in a thread on 127.0.0.1:0, raw-socket clients,
//! and frame reading with a timeout (never a sleep as synchronisation).
#![allow(dead_code)]

pub mod redis;

use roomcast::config::Config;
use roomcast::proto::frame::{encode_frame, OpCode};
use roomcast::proto::fuzzing::Decoded;
use roomcast::proto::{Decoder, Side};
use roomcast::server::{Server, ShutdownHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A server running in its own thread; shut down on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(edit: impl FnOnce(&mut Config)) -> TestServer {
        let mut cfg = Config {
            listen: "127.0.0.1:0".into(),
            // The tests drive the API without a key unless they set one.
            api_insecure: true,
            ..Config::default()
        };
        edit(&mut cfg);
        cfg.validate().expect("test config is valid");
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut server = Server::bind(cfg).expect("bind");
            tx.send((server.local_addr(), server.shutdown_handle()))
                .expect("send addr");
            server.run().expect("server run");
        });
        let (addr, handle) = rx.recv().expect("server started");
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Shut down and wait for the loop to end.
    pub fn stop(mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread ended cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A raw TCP client, for hostile input and exact bytes.
pub struct Raw {
    pub stream: TcpStream,
    pub decoder: Decoder,
    pub buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            decoder: Decoder::new(Side::Client, 64 << 20),
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Send `request` and read the response head (and body by Content-Length).
    pub fn http(&mut self, request: &str) -> (u16, String, String) {
        self.send(request.as_bytes());
        self.read_response()
    }

    pub fn read_response(&mut self) -> (u16, String, String) {
        let mut head_end = None;
        while head_end.is_none() {
            head_end = self
                .buf
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| p + 4);
            if head_end.is_none() {
                self.fill().expect("response head");
            }
        }
        let head_end = head_end.unwrap();
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while self.buf.len() < head_end + len {
            self.fill().expect("response body");
        }
        let body = String::from_utf8_lossy(&self.buf[head_end..head_end + len]).into_owned();
        self.buf.drain(..head_end + len);
        (status, head, body)
    }

    /// Upgrade to WebSocket on `path`; panics unless the answer is 101.
    pub fn upgrade(addr: SocketAddr, path: &str) -> Raw {
        let mut raw = Raw::connect(addr);
        let (status, head, _) = raw.http(&upgrade_request(path));
        assert_eq!(status, 101, "{head}");
        raw
    }

    /// Read more bytes; Ok(0) on EOF.
    pub fn fill(&mut self) -> std::io::Result<usize> {
        let mut tmp = [0u8; 65536];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(n)
    }

    /// The next frame event from the server; `None` on EOF or reset.
    pub fn next_event(&mut self) -> Option<Decoded> {
        loop {
            let mut pos = 0;
            let mut data = std::mem::take(&mut self.buf);
            let ev = match self.decoder.next_message(&mut data, &mut pos) {
                Ok(Some(m)) => Some(Decoded::from(m)),
                Ok(None) => None,
                Err(e) => Some(Decoded::Error(e)),
            };
            data.drain(..pos);
            self.buf = data;
            if let Some(ev) = ev {
                return Some(ev);
            }
            if self.fill().is_err() {
                return None;
            }
        }
    }

    /// Read until the server's close frame; returns its code.
    pub fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.next_event() {
                Some(Decoded::Close(code, _)) => return code,
                Some(_) => continue,
                None => panic!("connection ended without a close frame"),
            }
        }
    }

    /// True once the server has closed the TCP connection (EOF or reset).
    pub fn wait_eof(&mut self) -> bool {
        let mut tmp = [0u8; 4096];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    pub fn send_frame(&mut self, fin: bool, op: OpCode, payload: &[u8]) {
        let f = encode_frame(fin, op, Some(KEY), payload);
        self.send(&f);
    }
}

pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Poll `f` until it returns Some, up to `secs`.
pub fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "condition not reached in {secs} s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tungstenite client speaking the room protocol, with a read timeout.
pub struct Client {
    pub ws: tungstenite::WebSocket<TcpStream>,
}

impl Client {
    pub fn connect(server: &TestServer, path_and_query: &str) -> Client {
        let stream = TcpStream::connect(server.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let (ws, _) = tungstenite::client(server.url(path_and_query), stream).expect("upgrade");
        Client { ws }
    }

    /// Connect and consume the `welcome`.
    pub fn join(server: &TestServer, user: &str) -> Client {
        let mut c = Client::connect(server, &format!("/ws?user={user}"));
        c.expect("welcome");
        c
    }

    pub fn send(&mut self, v: serde_json::Value) {
        self.ws
            .send(tungstenite::Message::text(v.to_string()))
            .expect("send");
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws
            .send(tungstenite::Message::text(text))
            .expect("send");
    }

    /// The next JSON message (pings are answered by tungstenite and skipped).
    pub fn next(&mut self) -> serde_json::Value {
        self.try_next().expect("a message")
    }

    /// The next JSON message, or the close code if the server closed.
    pub fn next_or_close(&mut self) -> Result<serde_json::Value, Option<u16>> {
        loop {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    return Ok(serde_json::from_str(&t).expect("JSON"))
                }
                Ok(tungstenite::Message::Close(frame)) => {
                    return Err(frame.map(|f| u16::from(f.code)))
                }
                Ok(_) => continue,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    pub fn try_next(&mut self) -> Option<serde_json::Value> {
        self.next_or_close().ok()
    }

    /// The next message, which must have `type` `kind`.
    pub fn expect(&mut self, kind: &str) -> serde_json::Value {
        let v = self.next();
        assert_eq!(v["type"], kind, "expected {kind}, got {v}");
        v
    }

    /// The next message of type `kind`, skipping presence events before it.
    pub fn expect_skipping_presence(&mut self, kind: &str) -> serde_json::Value {
        loop {
            let v = self.next();
            if matches!(
                v["type"].as_str(),
                Some("user_joined" | "user_left" | "online")
            ) {
                continue;
            }
            assert_eq!(v["type"], kind, "expected {kind}, got {v}");
            return v;
        }
    }

    /// The next message, of type `a` or `b`, skipping presence events.
    pub fn expect_skipping_presence_or(&mut self, a: &str, b: &str) -> serde_json::Value {
        loop {
            let v = self.next();
            match v["type"].as_str() {
                Some("user_joined" | "user_left" | "online") => continue,
                Some(t) if t == a || t == b => return v,
                _ => panic!("expected {a} or {b}, got {v}"),
            }
        }
    }

    /// Read until a message of type `kind` (within the read timeout).
    pub fn until(&mut self, kind: &str) -> serde_json::Value {
        loop {
            let v = self.next();
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// Read until a close frame; its code.
    pub fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.next_or_close() {
                Ok(_) => continue,
                Err(code) => return code,
            }
        }
    }

    /// `join` and its `joined` reply.
    pub fn join_room(&mut self, room: &str) -> serde_json::Value {
        self.send(serde_json::json!({"type": "join", "room": room}));
        self.expect("joined")
    }

    /// Nothing arrives within `ms` (for "must not receive" checks).
    /// The next JSON message if one comes within `ms`.
    pub fn next_within(&mut self, ms: u64) -> Option<serde_json::Value> {
        self.ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(ms)))
            .unwrap();
        let next = loop {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => break serde_json::from_str(&t).ok(),
                Ok(tungstenite::Message::Close(_)) | Err(_) => break None,
                Ok(_) => continue,
            }
        };
        self.ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        next
    }

    pub fn is_quiet_for(&mut self, ms: u64) -> bool {
        self.ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(ms)))
            .unwrap();
        let quiet = loop {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(_)) => break false,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break true
                }
                Err(_) => break false,
            }
        };
        self.ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        quiet
    }
}

/// The roomcast binary, started with `args` on 127.0.0.1:0; killed on drop.
pub struct Daemon {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// Every line it logged after the `listening on` line.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn start(args: &[&str]) -> Daemon {
        Daemon::start_limited(args, None)
    }

    /// Start with RLIMIT_NOFILE set to `nofile` (soft and hard), if given.
    pub fn start_limited(args: &[&str], nofile: Option<u64>) -> Daemon {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_roomcast"));
        cmd.args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped());
        if let Some(n) = nofile {
            // SAFETY: setrlimit is async-signal-safe; it runs in the child before exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("start roomcast");
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines.next().expect("log line").unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Daemon { child, addr, log }
    }

    /// The server's resident memory (VmRSS), bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .map(|v| {
                v.trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap()
                    * 1024
            })
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Whether a logged line contains every one of `words`.
    pub fn logged(&self, words: &[&str]) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| words.iter().all(|w| l.contains(w)))
    }

    /// The server's user + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / hz
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tungstenite client on a daemon.
pub fn daemon_client(d: &Daemon, path: &str) -> Client {
    let stream = TcpStream::connect(d.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    let (ws, _) = tungstenite::client(d.url(path), stream).expect("upgrade");
    Client { ws }
}
