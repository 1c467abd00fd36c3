//! Client connections on one mio poll: connect, upgrade, then frames via
//! roomcast's own codec in client role (masked frames out; frames in are
//! handed out of the shared read buffer, nothing allocated per message).

use flate2::{Decompress, FlushDecompress};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use roomcast::proto::deflate::Inflater;
use roomcast::proto::frame::{encode_frame_into, OpCode};
use roomcast::proto::{Decoder, Message, Side};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// Connections per source address.
const SOURCE_SPREAD: usize = 8_000;

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Handshaking,
    Open,
    Closed,
}

/// One client connection.
pub struct Conn {
    pub sock: TcpStream,
    pub state: State,
    decoder: Decoder,
    head: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    request: Vec<u8>,
    mask_counter: u32,
    /// The status line of an upgrade that was refused (not 101).
    pub refused: Option<String>,
    /// Bytes read from the socket after the upgrade (what the wire carried).
    pub wire_bytes: u64,
    /// The server agreed to permessage-deflate.
    pub deflate: bool,
    /// The server keeps context between messages: this connection's inflater.
    context: Option<Box<Context>>,
}

/// Inflating for every connection of a run. A server without context
/// between messages (roomcast, uWS's shared compressor) sends the same
/// compressed bytes to every member, so what was inflated is remembered by
/// its compressed bytes (compared whole: a hit is the same message) and a
/// repeat costs a hash and a compare: the client can then keep up with
/// millions of compressed deliveries a second on one core, as browsers
/// with a core each would. Every message is still read from its own
/// socket and its frames decoded.
#[derive(Default)]
pub struct Inflate {
    shared: Inflater,
    seen: std::collections::HashMap<Box<[u8]>, Box<[u8]>>,
}

/// Messages remembered at most (then forgotten all at once).
const SEEN_MAX: usize = 4096;

impl Inflate {
    fn message(&mut self, compressed: &[u8]) -> Option<&[u8]> {
        if !self.seen.contains_key(compressed) {
            let out: Box<[u8]> = self.shared.inflate(compressed, 64 << 20).ok()?.into();
            if self.seen.len() >= SEEN_MAX {
                self.seen.clear();
            }
            self.seen.insert(compressed.into(), out);
        }
        self.seen.get(compressed).map(|b| &b[..])
    }
}

/// A connection's own inflater, when the server keeps context between
/// its messages (no `server_no_context_takeover` in the answer, as Node's
/// `ws` does by default): each message continues the last one's stream.
pub struct Context {
    inflate: Decompress,
    out: Vec<u8>,
}

impl Context {
    fn new() -> Box<Context> {
        Box::new(Context {
            inflate: Decompress::new(false),
            out: Vec::new(),
        })
    }

    fn message(&mut self, compressed: &[u8]) -> Option<&[u8]> {
        self.out.clear();
        let tail = [0u8, 0, 0xff, 0xff];
        for mut part in [compressed, &tail[..]] {
            loop {
                self.out.reserve(16 * 1024);
                let before = self.inflate.total_in();
                self.inflate
                    .decompress_vec(part, &mut self.out, FlushDecompress::Sync)
                    .ok()?;
                let used = (self.inflate.total_in() - before) as usize;
                part = &part[used..];
                let full = self.out.len() == self.out.capacity();
                if !full && (part.is_empty() || used == 0) {
                    break;
                }
            }
        }
        Some(&self.out)
    }
}

/// What a read produced, handed to the caller per message.
pub enum Input<'a> {
    /// The upgrade completed.
    Opened,
    /// A text or binary message.
    Message(&'a [u8]),
    /// The server closed (close frame, EOF or error).
    Closed,
}

/// Parse `ws://host:port/path?query` into an address and the request target.
pub fn parse_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    use std::net::ToSocketAddrs;
    let rest = url
        .strip_prefix("ws://")
        .ok_or("the URL must start with ws://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or("no address")?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: load goes to this machine only"
        ));
    }
    Ok((addr, host.to_owned(), path.to_owned()))
}

impl Conn {
    /// Start connecting; the upgrade is sent once the socket is writable.
    pub fn connect(
        registry: &Registry,
        token: Token,
        addr: SocketAddr,
        host: &str,
        target: &str,
        offer_deflate: bool,
    ) -> io::Result<Conn> {
        // Connection `n` to a 127.x server leaves from 127.0.0.(1 + n / 16000):
        // one source address has ~28,000 ephemeral ports, and the kernel's
        // search for a free one slows down badly as the range fills.
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        socket.set_nodelay(true)?;
        if let SocketAddr::V4(v4) = addr {
            if v4.ip().is_loopback() {
                let spread = (token.0 / SOURCE_SPREAD) % 250;
                let source = std::net::Ipv4Addr::new(127, 0, 0, 1 + spread as u8);
                // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time,
                // knowing the destination (bind-time ports collide with
                // the server's TIME_WAIT entries and cost 1 s SYN retries).
                let one: libc::c_int = 1;
                // SAFETY: setsockopt on a socket we own, with a c_int option value.
                unsafe {
                    libc::setsockopt(
                        std::os::fd::AsRawFd::as_raw_fd(&socket),
                        libc::IPPROTO_IP,
                        libc::IP_BIND_ADDRESS_NO_PORT,
                        (&one as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    );
                }
                socket.bind(&SocketAddr::from((source, 0)).into())?;
            }
        }
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let mut sock = TcpStream::from_std(socket.into());
        registry.register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)?;
        // What browsers offer.
        let offer = if offer_deflate {
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        } else {
            ""
        };
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        )
        .into_bytes();
        Ok(Conn {
            sock,
            state: State::Connecting,
            decoder: Decoder::new(Side::Client, 64 << 20),
            head: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            request,
            mask_counter: token.0 as u32,
            refused: None,
            wire_bytes: 0,
            deflate: false,
            context: None,
        })
    }

    /// Queue a masked frame.
    pub fn queue(&mut self, opcode: OpCode, payload: &[u8]) {
        self.mask_counter = self
            .mask_counter
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        encode_frame_into(
            &mut self.out,
            true,
            opcode,
            Some(self.mask_counter.to_ne_bytes()),
            payload,
        );
    }

    /// Bytes queued and not written.
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Write what is queued (call on writable and after queueing).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.state == State::Connecting {
            match self.sock.peer_addr() {
                Ok(_) => {
                    self.state = State::Handshaking;
                    let req = std::mem::take(&mut self.request);
                    self.out.splice(0..0, req);
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        while self.out_pos < self.out.len() {
            match self.sock.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Read everything available into `scratch`, calling `on` for each input.
    /// Compressed messages are inflated with `inflater` (the server keeps
    /// no context between messages, so one serves every connection).
    /// With `stop_short`, a read that does not fill `scratch` is taken to
    /// have emptied the socket (edge-triggered: new data is a new event),
    /// which saves the read that would say WouldBlock; pass false when the
    /// event also said the peer closed, so the EOF is read now.
    pub fn read(
        &mut self,
        scratch: &mut [u8],
        inflater: &mut Inflate,
        stop_short: bool,
        mut on: impl FnMut(&mut Conn, Input<'_>),
    ) {
        loop {
            if self.state == State::Closed {
                return;
            }
            let n = match self.sock.read(scratch) {
                Ok(0) => {
                    self.state = State::Closed;
                    return on(self, Input::Closed);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.state = State::Closed;
                    return on(self, Input::Closed);
                }
            };
            let mut data = &mut scratch[..n];
            let mut owned;
            if self.state != State::Open {
                self.head.extend_from_slice(data);
                let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                if !self.head.starts_with(b"HTTP/1.1 101") {
                    let line = self.head.split(|b| *b == b'\r').next().unwrap_or_default();
                    self.refused = Some(String::from_utf8_lossy(line).into_owned());
                    self.state = State::Closed;
                    return on(self, Input::Closed);
                }
                self.state = State::Open;
                let head = String::from_utf8_lossy(&self.head[..end]).to_ascii_lowercase();
                self.deflate = head.contains("sec-websocket-extensions: permessage-deflate");
                if self.deflate && !head.contains("server_no_context_takeover") {
                    self.context = Some(Context::new());
                }
                self.decoder = Decoder::new(Side::Client, 64 << 20).with_deflate(self.deflate);
                owned = self.head.split_off(end + 4);
                self.head = Vec::new();
                on(self, Input::Opened);
                data = &mut owned;
            }
            self.wire_bytes += data.len() as u64;
            let mut decoder = std::mem::replace(&mut self.decoder, Decoder::new(Side::Client, 0));
            let mut pos = 0;
            loop {
                match decoder.next_message(data, &mut pos) {
                    Ok(Some(Message::Text(t))) => on(self, Input::Message(t.as_bytes())),
                    Ok(Some(Message::Binary(b))) => on(self, Input::Message(b)),
                    Ok(Some(Message::Ping(p))) => {
                        let p = p.to_vec();
                        self.queue(OpCode::Pong, &p);
                    }
                    Ok(Some(Message::Pong(_))) => {}
                    Ok(Some(Message::Compressed(_, b))) => {
                        let mut context = self.context.take();
                        let plain = match context.as_mut() {
                            Some(c) => c.message(b),
                            None => inflater.message(b),
                        };
                        let Some(m) = plain else {
                            self.state = State::Closed;
                            self.decoder = decoder;
                            return on(self, Input::Closed);
                        };
                        on(self, Input::Message(m));
                        self.context = context;
                    }
                    Ok(Some(Message::Close(..))) | Err(_) => {
                        self.state = State::Closed;
                        self.decoder = decoder;
                        return on(self, Input::Closed);
                    }
                    Ok(None) => break,
                }
            }
            self.decoder = decoder;
            if stop_short && n < scratch.len() {
                return;
            }
        }
    }
}

/// The integer after `"key":` in a JSON text, found without parsing it all.
pub fn json_u64(text: &[u8], key: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i + key.len() + 3 <= text.len() {
        if text[i] == b'"'
            && text[i + 1..].starts_with(key)
            && text[i + 1 + key.len()..].starts_with(b"\":")
        {
            let mut n: u64 = 0;
            let mut any = false;
            for &b in &text[i + key.len() + 3..] {
                if !b.is_ascii_digit() {
                    break;
                }
                n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                any = true;
            }
            return any.then_some(n);
        }
        i += 1;
    }
    None
}
