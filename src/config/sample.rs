//! `roomcast --genconfig`: a commented `roomcast.toml` with every key, its
//! default and why it has that value. It parses back to the defaults (a
//! test holds it to that).

use super::Config;

/// Every key in file order, with the comment printed above it.
const KEYS: &[(&str, &str)] = &[
    ("listen", "The one TCP listener for WebSocket and HTTP (host:port)."),
    ("max_connections", "Accepted sockets at most, upgraded or not; lowered at start to what\nRLIMIT_NOFILE allows. At the cap the oldest idle HTTP connection is shed."),
    ("max_message_size", "Largest message after reassembly, bytes: any chat line or notification\nfits, and it bounds what a peer can make us hold (more: close 1009)."),
    ("max_backpressure", "Unsent bytes at which a connection is closed with 4003 (slow consumer):\n~10,000 danmaku lines, minutes of a busy room."),
    ("drop_threshold", "Unsent bytes past which room chat to a connection is skipped and\nreported with `dropped`: a viewer that far behind wants the newest lines."),
    ("handshake_timeout", "Seconds to receive a whole HTTP request (slowloris guard)."),
    ("ping_interval", "Seconds of silence between pings: 20 s keeps NAT and proxy mappings\nalive (most drop idle TCP after 30-60 s)."),
    ("ping_timeout", "Seconds of silence after which a connection is closed (at most 255\nping intervals)."),
    ("close_timeout", "Seconds to finish a close handshake, and the shutdown drain."),
    ("echo_endpoint", "Serve /echo (conformance and benchmarks)."),
    ("presence_events_max", "Members above which presence is a throttled `online` count instead\nof per-user events (a join storm would otherwise cost more than chat)."),
    ("room_policy", "\"exclusive\" (a user is in one room) or \"multi\"."),
    ("max_rooms_per_connection", "Rooms per connection under \"multi\"."),
    ("max_connections_per_user", "Connections per user id: phone, laptop and a few tabs."),
    ("history_size", "Chat messages kept per room for `history` and recovery."),
    ("room_ttl", "Seconds an empty room keeps its history (a streamer's restart)."),
    ("offline_queue", "Private messages kept per offline user."),
    ("offline_ttl", "Seconds they are kept (a day: the next time the user opens the app)."),
    ("auth", "\"none\" (?user=) or \"hmac\" (?token=, an HS256 JWT signed with auth_secret).\nSet the secret here or in ROOMCAST_AUTH_SECRET:\n# auth_secret = \"...\""),
    ("api_insecure", "Open /api/* without a key: for local development only. Set the key\nhere or in ROOMCAST_API_KEY:\n# api_key = \"...\""),
    ("allowed_origins", "Origins allowed to upgrade (empty: any)."),
    ("max_json_depth", "How deep a message's `data` may nest; `data` must also be I-JSON."),
    ("max_rooms", "Rooms at most; a join that would create one more gets `over_capacity`."),
    ("max_history_bytes", "History bytes in all rooms; past it the oldest messages of the least\nrecently active rooms are evicted first."),
    ("max_offline_bytes", "Offline inbox bytes in all; past it a private to an offline user is\nnot stored (ack stored: false)."),
    ("max_bans", "Bans and mutes at most (durations are capped at 30 days)."),
    ("max_replay", "Messages replayed after `since` at most; a longer replay is cut with\nrecovered: false."),
    ("max_connections_per_ip", "Connections per peer address (0: no limit; behind a proxy or carrier\nNAT many users share one)."),
    ("access_log", "Log each connection's requests, upgrade and close at info (else debug)."),
    ("compression", "Accept permessage-deflate (RFC 7692) when a client offers it. A room\nmessage is compressed once for every member; no context is kept."),
    ("batch_window_ms", "Room chat for clients that connect with ?batch=1 is collected for this\nmany ms per room and sent as one JSON array frame (0: every turn)."),
    ("write_delay_ms", "Queued frames are written at most once per this many ms (0: every\nturn): fewer, larger writes for clients that do not batch."),
    ("engine", "Where rooms' seq, history and epochs, inboxes, bans and mutes live:\n\"memory\" (this process) or \"redis\" (shared: many nodes act as one server)."),
    ("redis_url", "The Redis of engine = \"redis\" (ROOMCAST_REDIS_URL wins over the file)."),
    ("redis_prefix", "Prefix of every Redis key and channel: several clusters can share a Redis."),
    ("node_ttl", "Seconds after which a node that died stops counting toward presence."),
    ("workers", "Worker processes sharing the port with SO_REUSEPORT (more than one\nneeds engine = \"redis\")."),
    ("rate_limit", "Requests per connection: 20/s with bursts of 40 is far above a person\ntyping and far below a script. per_sec = 0 turns it off."),
];

/// The sample file.
pub fn sample_toml() -> String {
    let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
    let mut out = String::from(
        "# roomcast.toml: every key with its default. Run: roomcast --config roomcast.toml\n\n",
    );
    for (key, comment) in KEYS {
        for line in comment.lines() {
            if line.starts_with('#') {
                out.push_str(line);
            } else {
                out.push_str("# ");
                out.push_str(line);
            }
            out.push('\n');
        }
        if let Some(value) = defaults.get(*key) {
            match value {
                toml::Value::Table(t) => {
                    out.push_str(&format!("[{key}]\n{t}"));
                }
                v => out.push_str(&format!("{key} = {v}\n")),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_parses_back_to_the_defaults_and_names_every_key() {
        let text = sample_toml();
        assert_eq!(Config::from_toml(&text).unwrap(), Config::default());
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        for key in defaults.keys() {
            assert!(
                KEYS.iter().any(|(k, _)| k == key),
                "{key} is not in the sample"
            );
        }
        assert!(text.contains("# auth_secret = ") && text.contains("# api_key = "));
    }
}
