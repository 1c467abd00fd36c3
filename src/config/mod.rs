//! The configuration (SPEC §6): defaults, the TOML file, command-line flags
//! and environment overrides, and one `validate` that names the bad key.
//!
//! Rule of this file: every key has its default and the reason for it here,
//! next to the field; nothing else in the crate invents a limit.

mod cli;
mod sample;

pub use cli::Cli;
pub use sample::sample_toml;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// Where a user's connections may be (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RoomPolicy {
    /// A user is in at most one room; joining another moves them.
    Exclusive,
    /// A connection may be in up to `max_rooms_per_connection` rooms.
    Multi,
}

/// How clients prove who they are (SPEC §3).
/// Where the shared room state lives (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// In this process: one node, nothing to run beside it.
    Memory,
    /// In Redis: any number of nodes behave as one server.
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// `?user=` names the user; everyone has role `user`.
    None,
    /// `?token=` is an HS256 JWT signed with `auth_secret`.
    Hmac,
}

/// A token bucket per connection.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per second (0 turns the limit off, as benchmarks need).
    pub per_sec: f64,
    /// Requests allowed in a burst.
    pub burst: u32,
}

/// The effective configuration. Durations are in seconds (fractions allowed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The one TCP listener for WebSocket and HTTP.
    pub listen: String,
    /// Open WebSocket connections at most; lowered at start to what
    /// RLIMIT_NOFILE allows (less a reserve for HTTP answers and our own fds).
    pub max_connections: usize,
    /// Largest message after reassembly. 64 KiB holds any chat line or
    /// notification with room to spare, and bounds what a peer can make us hold.
    pub max_message_size: usize,
    /// Unsent bytes at which a connection is closed with 4003 (slow
    /// consumer): 1 MiB is ~10,000 danmaku lines, minutes of a busy room.
    pub max_backpressure: usize,
    /// Unsent bytes past which room chat to a connection is skipped and
    /// counted (256 KiB: a viewer that far behind wants the newest lines).
    pub drop_threshold: usize,
    /// Seconds to receive a whole HTTP request (slowloris guard).
    pub handshake_timeout: f64,
    /// Seconds of silence before we send a ping (20 s keeps NAT and proxy
    /// mappings alive; most drop idle TCP after 30-60 s).
    pub ping_interval: f64,
    /// Seconds of silence after which the connection is closed.
    pub ping_timeout: f64,
    /// Seconds to finish a close handshake before the TCP close.
    pub close_timeout: f64,
    /// Whether `GET /echo` is served (conformance and benchmarks).
    pub echo_endpoint: bool,
    /// Above this many members a room gets a throttled `online` count
    /// instead of per-user presence events (a join storm in a 10,000-viewer
    /// room would otherwise send 10^8 events).
    pub presence_events_max: usize,
    /// `exclusive` (a user in at most one room) or `multi`.
    pub room_policy: RoomPolicy,
    /// Rooms per connection under `multi` (16 covers a chat client's
    /// channel list; each costs 24 bytes of membership).
    pub max_rooms_per_connection: usize,
    /// Connections per user: phone, laptop and a few tabs.
    pub max_connections_per_user: usize,
    /// Chat messages kept per room for `history` and recovery.
    pub history_size: usize,
    /// Seconds an empty room keeps its history (a streamer's restart).
    pub room_ttl: f64,
    /// Private messages kept per offline user.
    pub offline_queue: usize,
    /// Seconds they are kept (a day: the next time the user opens the app).
    pub offline_ttl: f64,
    /// Requests per connection: 20/s with bursts of 40 is far above a
    /// person typing and far below what a script can send.
    pub rate_limit: RateLimit,
    /// `none` or `hmac`.
    pub auth: AuthMode,
    /// The HS256 secret for `auth = "hmac"` (or `ROOMCAST_AUTH_SECRET`).
    pub auth_secret: Option<String>,
    /// The bearer key for `/api/*` (or `ROOMCAST_API_KEY`); without one the
    /// API is off (403), unless `api_insecure`.
    pub api_key: Option<String>,
    /// Open the API to every peer without a key: for local development
    /// only. Loopback is never trusted by itself: behind a reverse proxy on
    /// the same host every peer is loopback.
    pub api_insecure: bool,
    /// Origins allowed to upgrade (empty: any).
    pub allowed_origins: Vec<String>,
    /// How deep a message's `data` may nest: 32 holds any real document;
    /// 10,000 levels break the parsers of the members it is sent to.
    pub max_json_depth: usize,
    /// Rooms at most (empty ones within `room_ttl` count): 100,000 rooms
    /// cost ~75 MB at most with their logs; beyond, `over_capacity`.
    pub max_rooms: usize,
    /// Bytes of history in all rooms (256 MiB): past it the oldest messages
    /// of the least recently active rooms are evicted first.
    pub max_history_bytes: usize,
    /// Bytes of offline inboxes in all (64 MiB): past it a private to an
    /// offline user is not stored.
    pub max_offline_bytes: usize,
    /// Bans and mutes in all (100,000: a few hundred bytes each).
    pub max_bans: usize,
    /// Messages replayed after `since` at most (1,000: ten rooms' worth of
    /// default history); a longer replay is cut with `recovered: false`.
    pub max_replay: usize,
    /// Connections per peer address (0: no limit, the default: behind a
    /// proxy or carrier NAT many users share one address).
    pub max_connections_per_ip: usize,
    /// Log each connection's requests, upgrade and close at info (they
    /// are at debug otherwise).
    pub access_log: bool,
    /// Accept permessage-deflate (RFC 7692) when a client offers it; room
    /// messages are compressed once for all members (SPEC §8).
    pub compression: bool,
    /// Milliseconds room chat for `?batch=1` connections is collected per
    /// room before it is sent as one JSON array frame (0: every turn).
    pub batch_window_ms: u64,
    /// Milliseconds between flushes of queued frames (0: every turn):
    /// fewer, larger writes for some latency.
    pub write_delay_ms: u64,
    pub engine: EngineKind,
    pub redis_url: String,
    pub redis_prefix: String,
    pub node_ttl: f64,
    pub workers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            max_connections: 100_000,
            max_message_size: 64 * 1024,
            max_backpressure: 1024 * 1024,
            drop_threshold: 256 * 1024,
            handshake_timeout: 10.0,
            ping_interval: 20.0,
            ping_timeout: 60.0,
            close_timeout: 10.0,
            echo_endpoint: true,
            presence_events_max: 100,
            room_policy: RoomPolicy::Exclusive,
            max_rooms_per_connection: 16,
            max_connections_per_user: 8,
            history_size: 100,
            room_ttl: 300.0,
            offline_queue: 100,
            offline_ttl: 86400.0,
            rate_limit: RateLimit {
                per_sec: 20.0,
                burst: 40,
            },
            auth: AuthMode::None,
            auth_secret: None,
            api_key: None,
            api_insecure: false,
            allowed_origins: Vec::new(),
            max_json_depth: 32,
            max_rooms: 100_000,
            max_history_bytes: 256 << 20,
            max_offline_bytes: 64 << 20,
            max_bans: 100_000,
            max_replay: 1000,
            max_connections_per_ip: 0,
            access_log: false,
            compression: false,
            batch_window_ms: 0,
            write_delay_ms: 0,
            engine: EngineKind::Memory,
            redis_url: "redis://127.0.0.1:6379/0".into(),
            redis_prefix: "roomcast".into(),
            // SPEC §7: a dead node stops counting within 10 s.
            node_ttl: 10.0,
            workers: 1,
        }
    }
}

impl Config {
    /// Parse a TOML document (unknown keys are errors), then validate.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration as TOML, secrets shown as `"<set>"`.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        for secret in [&mut shown.auth_secret, &mut shown.api_key] {
            if secret.is_some() {
                *secret = Some("<set>".into());
            }
        }
        toml::to_string(&shown).unwrap_or_default()
    }

    /// Check every value; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("handshake_timeout", self.handshake_timeout),
            ("ping_interval", self.ping_interval),
            ("ping_timeout", self.ping_timeout),
            ("close_timeout", self.close_timeout),
            ("room_ttl", self.room_ttl),
            ("offline_ttl", self.offline_ttl),
            ("node_ttl", self.node_ttl),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 1e7) {
                return Err(format!(
                    "bad value for {key}: expected a positive number of seconds"
                ));
            }
        }
        let rate = self.rate_limit;
        // (broken, key, why), in the order they are reported.
        #[rustfmt::skip]
        let checks = [
            (self.listen_addr().is_err(), "listen", "expected host:port, like 127.0.0.1:8080 or localhost:8080"),
            (self.ping_timeout <= self.ping_interval, "ping_timeout", "must be longer than ping_interval"),
            // A session counts its pings in a byte.
            (self.ping_timeout > 255.0 * self.ping_interval, "ping_timeout", "at most 255 times ping_interval"),
            (self.max_connections == 0, "max_connections", "must be at least 1"),
            (!(125..=1 << 30).contains(&self.max_message_size), "max_message_size", "expected 125 bytes to 1 GiB"),
            (self.max_backpressure > 1 << 31, "max_backpressure", "at most 2 GiB"),
            // One message must fit in a queue, or echoing it would close the connection.
            (self.max_backpressure < self.max_message_size, "max_backpressure", "must be at least max_message_size"),
            (self.drop_threshold == 0 || self.drop_threshold > self.max_backpressure, "drop_threshold", "must be positive and at most max_backpressure"),
            (self.max_rooms_per_connection == 0, "max_rooms_per_connection", "must be at least 1"),
            (self.max_connections_per_user == 0, "max_connections_per_user", "must be at least 1"),
            (!(rate.per_sec.is_finite() && rate.per_sec >= 0.0), "rate_limit.per_sec", "expected a number >= 0"),
            (rate.per_sec > 0.0 && rate.burst == 0, "rate_limit.burst", "must be at least 1"),
            (self.auth == AuthMode::Hmac && self.auth_secret.as_deref().is_none_or(str::is_empty), "auth_secret", "auth = \"hmac\" needs auth_secret (or ROOMCAST_AUTH_SECRET)"),
            (self.api_key.as_deref() == Some(""), "api_key", "must not be empty"),
            (self.history_size > 1_000_000, "history_size", "at most 1000000"),
            (self.offline_queue > 1_000_000, "offline_queue", "at most 1000000"),
            // serde_json refuses more than 128 levels in any message.
            (!(1..=100).contains(&self.max_json_depth), "max_json_depth", "expected 1 to 100"),
            (self.batch_window_ms > 10_000, "batch_window_ms", "at most 10000"),
            (self.write_delay_ms > 10_000, "write_delay_ms", "at most 10000"),
            (crate::redis::RedisUrl::parse(&self.redis_url).is_err(), "redis_url", "expected redis://[:password@]host[:port][/db]"),
            (!crate::ids::valid_name(&self.redis_prefix), "redis_prefix", "expected 1 to 64 letters, digits, '_', '-', '.' or ':'"),
            (self.node_ttl < 1.0, "node_ttl", "at least 1 second"),
            (!(1..=256).contains(&self.workers), "workers", "expected 1 to 256"),
            (self.workers > 1 && self.engine != EngineKind::Redis, "workers", "more than one worker needs engine = \"redis\" (workers share nothing else)"),
        ];
        match checks.iter().find(|(broken, _, _)| *broken) {
            Some((_, key, why)) => Err(format!("bad value for {key}: {why}")),
            None => Ok(()),
        }
    }

    /// The listen address (valid after `validate`).
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        use std::net::ToSocketAddrs;
        if let Ok(addr) = self.listen.parse() {
            return Ok(addr);
        }
        // A host name (localhost:8080): its first address.
        self.listen
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| format!("bad value for listen: cannot resolve {}", self.listen))
    }

    /// A duration key as a `Duration`.
    pub fn secs(v: f64) -> Duration {
        Duration::from_secs_f64(v)
    }
}

#[cfg(test)]
mod tests;
