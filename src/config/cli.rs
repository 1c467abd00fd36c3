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
    #[arg(long)]
    listen: Option<String>,
    #[arg(long)]
    max_connections: Option<usize>,
    #[arg(long)]
    max_message_size: Option<usize>,
    #[arg(long)]
    max_backpressure: Option<usize>,
    #[arg(long)]
    drop_threshold: Option<usize>,
    #[arg(long)]
    handshake_timeout: Option<f64>,
    #[arg(long)]
    ping_interval: Option<f64>,
    #[arg(long)]
    ping_timeout: Option<f64>,
    #[arg(long)]
    close_timeout: Option<f64>,
    #[arg(long)]
    echo_endpoint: Option<bool>,
    #[arg(long)]
    presence_events_max: Option<usize>,
    #[arg(long, value_enum)]
    room_policy: Option<RoomPolicy>,
    #[arg(long)]
    max_rooms_per_connection: Option<usize>,
    #[arg(long)]
    max_connections_per_user: Option<usize>,
    #[arg(long)]
    history_size: Option<usize>,
    #[arg(long)]
    room_ttl: Option<f64>,
    #[arg(long)]
    offline_queue: Option<usize>,
    #[arg(long)]
    offline_ttl: Option<f64>,
    /// rate_limit.per_sec
    #[arg(long)]
    rate_limit_per_sec: Option<f64>,
    /// rate_limit.burst
    #[arg(long)]
    rate_limit_burst: Option<u32>,
    #[arg(long, value_enum)]
    auth: Option<AuthMode>,
    #[arg(long)]
    auth_secret: Option<String>,
    #[arg(long)]
    api_key: Option<String>,
    #[arg(long)]
    api_insecure: Option<bool>,
    /// Comma-separated.
    #[arg(long, value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    #[arg(long)]
    max_json_depth: Option<usize>,
    #[arg(long)]
    max_rooms: Option<usize>,
    #[arg(long)]
    max_history_bytes: Option<usize>,
    #[arg(long)]
    max_offline_bytes: Option<usize>,
    #[arg(long)]
    max_bans: Option<usize>,
    #[arg(long)]
    max_replay: Option<usize>,
    #[arg(long)]
    max_connections_per_ip: Option<usize>,
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
            max_connections_per_ip
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
    }
}
