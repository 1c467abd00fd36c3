//! The configuration: defaults, TOML, flags, and errors that name the key.

use super::*;
use clap::Parser;

#[test]
fn defaults_round_trip_through_toml() {
    let cfg = Config::default();
    assert_eq!(Config::from_toml(&cfg.to_toml()).unwrap(), cfg);
}

#[test]
fn bad_values_name_their_key() {
    for (text, key) in [
        ("listen = \"nowhere\"", "listen"),
        ("max_connections = \"many\"", "max_connections"),
        ("max_connections = 0", "max_connections"),
        ("ping_timeout = 5", "ping_timeout"),
        ("ping_interval = 0.1\nping_timeout = 30", "ping_timeout"),
        ("close_timeout = -1", "close_timeout"),
        ("max_message_size = 3", "max_message_size"),
        ("no_such_key = 1", "no_such_key"),
        ("room_policy = \"shared\"", "room_policy"),
        ("max_connections_per_user = 0", "max_connections_per_user"),
        ("auth = \"hmac\"", "auth_secret"),
        (
            "rate_limit = { per_sec = -1, burst = 1 }",
            "rate_limit.per_sec",
        ),
        (
            "rate_limit = { per_sec = 1, burst = 1, extra = 2 }",
            "extra",
        ),
    ] {
        let err = Config::from_toml(text).unwrap_err();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn flags_override_the_file() {
    let dir = std::env::temp_dir().join(format!("roomcast-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, "max_connections = 5\nping_interval = 2\n").unwrap();
    let cli = Cli::parse_from([
        "roomcast",
        "--config",
        path.to_str().unwrap(),
        "--max-connections",
        "7",
    ]);
    let cfg = cli.load().unwrap();
    assert_eq!((cfg.max_connections, cfg.ping_interval), (7, 2.0));
}
