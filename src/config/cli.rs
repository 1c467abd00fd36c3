//! The command line: one flag per key, over the file, under the
//! environment's secrets.

use super::{AuthMode, Config, RoomPolicy};
use clap::Parser;
use std::path::PathBuf;

/// The command line: `--config FILE`, `--print-config`, and one flag per key.
#[derive(Debug, Default, Parser)]
#[command(
    name = "roomcast",
    version,
    about = "A single-threaded WebSocket room server"
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Print a commented sample roomcast.toml (every key, its default and why) and exit.
    #[arg(long)]
    pub genconfig: bool,
    /// Address to listen on, host:port (host names resolve; default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Accepted sockets at most, upgraded or not (default 100000; lowered to fit RLIMIT_NOFILE).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Largest message after reassembly, bytes (default 65536; more: close 1009).
    #[arg(long)]
    max_message_size: Option<usize>,
    /// Unsent bytes at which a connection is closed with 4003 (default 1048576).
    #[arg(long)]
    max_backpressure: Option<usize>,
    /// Unsent bytes past which room chat to a connection is skipped and reported (default 262144).
    #[arg(long)]
    drop_threshold: Option<usize>,
    /// Seconds to receive a whole HTTP request (default 10).
    #[arg(long)]
    handshake_timeout: Option<f64>,
    /// Seconds of silence between pings (default 20).
    #[arg(long)]
    ping_interval: Option<f64>,
    /// Seconds of silence after which a connection is closed (default 60; at most 255 intervals).
    #[arg(long)]
    ping_timeout: Option<f64>,
    /// Seconds to finish a close handshake or the shutdown drain (default 10).
    #[arg(long)]
    close_timeout: Option<f64>,
    /// Serve /echo: true or false (default true).
    #[arg(long)]
    echo_endpoint: Option<bool>,
    /// Members above which presence is a throttled online count (default 100).
    #[arg(long)]
    presence_events_max: Option<usize>,
    /// exclusive (a user in one room) or multi (default exclusive).
    #[arg(long, value_enum)]
    room_policy: Option<RoomPolicy>,
    /// Rooms per connection under multi (default 16).
    #[arg(long)]
    max_rooms_per_connection: Option<usize>,
    /// Connections per user id (default 8).
    #[arg(long)]
    max_connections_per_user: Option<usize>,
    /// Chat messages kept per room (default 100).
    #[arg(long)]
    history_size: Option<usize>,
    /// Seconds an empty room keeps its history (default 300).
    #[arg(long)]
    room_ttl: Option<f64>,
    /// Private messages kept per offline user (default 100).
    #[arg(long)]
    offline_queue: Option<usize>,
    /// Seconds offline private messages are kept (default 86400).
    #[arg(long)]
    offline_ttl: Option<f64>,
    /// Requests per second per connection, rate_limit.per_sec (default 20; 0 turns it off).
    #[arg(long)]
    rate_limit_per_sec: Option<f64>,
    /// Requests in a burst, rate_limit.burst (default 40).
    #[arg(long)]
    rate_limit_burst: Option<u32>,
    /// none (?user=) or hmac (?token=, an HS256 JWT) (default none).
    #[arg(long, value_enum)]
    auth: Option<AuthMode>,
    /// HS256 secret for auth = hmac (or ROOMCAST_AUTH_SECRET).
    #[arg(long)]
    auth_secret: Option<String>,
    /// Bearer key for /api/* (or ROOMCAST_API_KEY; without one the API is off).
    #[arg(long)]
    api_key: Option<String>,
    /// Open /api/* without a key: true or false, for local development only (default false).
    #[arg(long)]
    api_insecure: Option<bool>,
    /// Origins allowed to upgrade, comma-separated (default: any).
    #[arg(long, value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    /// How deep a message's data may nest (default 32).
    #[arg(long)]
    max_json_depth: Option<usize>,
    /// Rooms at most (default 100000).
    #[arg(long)]
    max_rooms: Option<usize>,
    /// History bytes in all rooms (default 268435456).
    #[arg(long)]
    max_history_bytes: Option<usize>,
    /// Offline inbox bytes in all (default 67108864).
    #[arg(long)]
    max_offline_bytes: Option<usize>,
    /// Bans and mutes at most (default 100000).
    #[arg(long)]
    max_bans: Option<usize>,
    /// Messages replayed after since at most (default 1000).
    #[arg(long)]
    max_replay: Option<usize>,
    /// Connections per peer address (default 0: no limit).
    #[arg(long)]
    max_connections_per_ip: Option<usize>,
    /// Log each connection's requests, upgrade and close at info: true or false (default false).
    #[arg(long)]
    access_log: Option<bool>,
    /// Accept permessage-deflate when offered: true or false (default false).
    #[arg(long)]
    compression: Option<bool>,
    /// Milliseconds room chat for ?batch=1 clients is collected per room (default 0: every turn).
    #[arg(long)]
    batch_window_ms: Option<u64>,
    /// Milliseconds between flushes of queued frames (default 0: every turn).
    #[arg(long)]
    write_delay_ms: Option<u64>,
    /// Where shared state lives: memory (one node) or redis (default memory).
    #[arg(long, value_enum)]
    engine: Option<super::EngineKind>,
    /// Redis for engine = redis (default redis://127.0.0.1:6379/0; or ROOMCAST_REDIS_URL).
    #[arg(long)]
    redis_url: Option<String>,
    /// Prefix of every Redis key and channel (default roomcast).
    #[arg(long)]
    redis_prefix: Option<String>,
    /// Seconds after which a dead node's users stop counting (default 10).
    #[arg(long)]
    node_ttl: Option<f64>,
    /// Worker processes sharing the port with SO_REUSEPORT (default 1; more needs engine = redis).
    #[arg(long)]
    workers: Option<usize>,
}

impl Cli {
    /// The configuration: defaults, then the file, then flags, then the
    /// environment's secrets; validated.
    pub fn load(&self) -> Result<Config, String> {
        let mut cfg = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                // Validated below, once flags and the environment's secrets
                // are in: a file with `auth = "hmac"` may leave the secret
                // to ROOMCAST_AUTH_SECRET.
                toml::from_str::<Config>(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        macro_rules! flag {
            ($($key:ident),*) => {$( if let Some(v) = &self.$key { cfg.$key = v.clone(); } )*};
        }
        flag!(
            listen,
            max_connections,
            max_message_size,
            max_backpressure,
            drop_threshold,
            handshake_timeout,
            ping_interval,
            ping_timeout,
            close_timeout,
            echo_endpoint,
            presence_events_max,
            room_policy,
            max_rooms_per_connection,
            max_connections_per_user,
            history_size,
            room_ttl,
            offline_queue,
            offline_ttl,
            auth,
            api_insecure,
            allowed_origins,
            max_json_depth,
            max_rooms,
            max_history_bytes,
            max_offline_bytes,
            max_bans,
            max_replay,
            max_connections_per_ip,
            access_log,
            compression,
            batch_window_ms,
            write_delay_ms,
            engine,
            redis_prefix,
            node_ttl,
            workers
        );
        if let Some(v) = self.rate_limit_per_sec {
            cfg.rate_limit.per_sec = v;
        }
        if let Some(v) = self.rate_limit_burst {
            cfg.rate_limit.burst = v;
        }
        self.apply_secrets(&mut cfg);
        cfg.validate()?;
        Ok(cfg)
    }

    /// Secrets: the environment wins over the file; a flag wins over both.
    fn apply_secrets(&self, cfg: &mut Config) {
        for (var, slot, flag) in [
            (
                "ROOMCAST_AUTH_SECRET",
                &mut cfg.auth_secret,
                &self.auth_secret,
            ),
            ("ROOMCAST_API_KEY", &mut cfg.api_key, &self.api_key),
        ] {
            if let Ok(v) = std::env::var(var) {
                *slot = Some(v);
            }
            if let Some(v) = flag {
                *slot = Some(v.clone());
            }
        }
        if let Ok(v) = std::env::var("ROOMCAST_REDIS_URL") {
            cfg.redis_url = v;
        }
        if let Some(v) = &self.redis_url {
            cfg.redis_url = v.clone();
        }
    }
}
