//! What the server reports about itself: `/metrics` (SPEC §5, the
//! Prometheus text format), `/api/stats` and the periodic log line.

use super::{sys, Reason, Server};
use std::fmt::Write as _;

/// One metric family: name, type, help, and its samples (label set, value).
struct Family<'a> {
    name: &'a str,
    kind: &'a str,
    help: &'a str,
    samples: Vec<(String, f64)>,
}

impl Family<'_> {
    fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} {}",
            self.name, self.help, self.name, self.kind
        );
        for (labels, v) in &self.samples {
            let _ = writeln!(out, "{}{labels} {v}", self.name);
        }
    }
}

impl<'a> Family<'a> {
    /// A family with one unlabelled sample.
    fn single(name: &'a str, kind: &'a str, help: &'a str, value: f64) -> Family<'a> {
        Family {
            name,
            kind,
            help,
            samples: vec![(String::new(), value)],
        }
    }
}

/// (name, type, help) of the unlabelled roomcast families, in the order of
/// the values in [`Server::metrics_text`].
const SCALARS: [(&str, &str, &str); 7] = [
    (
        "roomcast_connections",
        "gauge",
        "Open WebSocket connections.",
    ),
    (
        "roomcast_users",
        "gauge",
        "Users with at least one connection.",
    ),
    (
        "roomcast_rooms",
        "gauge",
        "Rooms, including empty ones within room_ttl.",
    ),
    (
        "roomcast_messages_received_total",
        "counter",
        "WebSocket messages received.",
    ),
    (
        "roomcast_messages_delivered_total",
        "counter",
        "Messages queued to connections, one per recipient.",
    ),
    (
        "roomcast_bytes_received_total",
        "counter",
        "Bytes read from sockets.",
    ),
    (
        "roomcast_bytes_sent_total",
        "counter",
        "Bytes written to sockets.",
    ),
];
const PROCESS_RSS: (&str, &str, &str) = (
    "process_resident_memory_bytes",
    "gauge",
    "Resident memory size in bytes.",
);
const PROCESS_CPU: (&str, &str, &str) = (
    "process_cpu_seconds_total",
    "counter",
    "Total user and system CPU time spent in seconds.",
);

impl Server {
    /// `/api/stats`.
    pub(super) fn stats_json(&self) -> String {
        let s = &self.stats;
        format!(
            "{{\"connections\":{},\"users\":{},\"rooms\":{},\"messages_received\":{},\"messages_delivered\":{},\"bytes_received\":{},\"bytes_sent\":{},\"uptime_seconds\":{},\"rss_bytes\":{}}}",
            self.ws_open,
            self.hub.online_users(),
            self.hub.room_count(),
            s.messages_received,
            s.messages_delivered,
            s.bytes_received,
            s.bytes_sent,
            self.started.elapsed().as_secs(),
            sys::rss_bytes()
        )
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub(super) fn metrics_text(&self) -> String {
        let s = &self.stats;
        let values = [
            self.ws_open as f64,
            self.hub.online_users() as f64,
            self.hub.room_count() as f64,
            s.messages_received as f64,
            s.messages_delivered as f64,
            s.bytes_received as f64,
            s.bytes_sent as f64,
        ];
        let mut out = String::with_capacity(2048);
        for ((name, kind, help), value) in SCALARS.iter().zip(values) {
            Family::single(name, kind, help, value).write(&mut out);
        }
        Family {
            name: "roomcast_handshakes_total",
            kind: "counter",
            help: "WebSocket upgrade requests by result.",
            samples: vec![
                ("{result=\"ok\"}".into(), s.handshakes_ok as f64),
                ("{result=\"failed\"}".into(), s.handshakes_failed as f64),
            ],
        }
        .write(&mut out);
        Family {
            name: "roomcast_disconnects_total",
            kind: "counter",
            help: "Connections ended, by reason.",
            samples: Reason::ALL
                .iter()
                .zip(s.disconnects.iter())
                .map(|(r, v)| (format!("{{reason=\"{}\"}}", r.label()), *v as f64))
                .collect(),
        }
        .write(&mut out);
        let (rss, cpu) = (sys::rss_bytes() as f64, sys::cpu_seconds());
        Family::single(PROCESS_RSS.0, PROCESS_RSS.1, PROCESS_RSS.2, rss).write(&mut out);
        Family::single(PROCESS_CPU.0, PROCESS_CPU.1, PROCESS_CPU.2, cpu).write(&mut out);
        out
    }

    /// The stats line in the log, every 30 s.
    pub(super) fn log_stats(&self) {
        let s = &self.stats;
        log::info!(
            "stats: connections {} (websocket {}), messages in {} out {}, bytes in {} out {}, rss {} KiB, refused for lack of descriptors {}",
            self.conns.len(),
            self.ws_open,
            s.messages_received,
            s.messages_delivered,
            s.bytes_received,
            s.bytes_sent,
            sys::rss_bytes() / 1024,
            self.refused_no_fd
        );
    }
}
