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
    /// Once a second: a sample for the history ring.
    pub(super) fn sample(&mut self) {
        let s = &self.stats;
        let t = self.wall_ms() / 1000;
        self.history.push(super::history::Sample {
            t,
            connections: self.ws_open,
            users: self.hub.online_users(),
            rooms: self.hub.room_count(),
            messages_received: s.messages_received,
            messages_delivered: s.messages_delivered,
            bytes_received: s.bytes_received,
            bytes_sent: s.bytes_sent,
            chat_dropped: self.hub.refused().chat_dropped,
            slow_consumers: s.disconnects_of(Reason::SlowConsumer),
            rss_bytes: sys::rss_bytes(),
            cpu_seconds: sys::cpu_seconds(),
        });
    }

    /// `GET /api/stats/history`: the last 300 one-second samples.
    pub(super) fn stats_history_json(&self) -> String {
        self.history.json()
    }

    /// `/api/stats`: the SPEC's counters, then rates over 1, 10 and 60 s
    /// and CPU %.
    pub(super) fn stats_json(&self) -> String {
        let s = &self.stats;
        format!(
            "{{\"connections\":{},\"users\":{},\"rooms\":{},\"messages_received\":{},\"messages_delivered\":{},\"bytes_received\":{},\"bytes_sent\":{},\"uptime_seconds\":{},\"rss_bytes\":{},{},{}}}",
            self.ws_open,
            self.hub.online_users(),
            self.hub.room_count(),
            s.messages_received,
            s.messages_delivered,
            s.bytes_received,
            s.bytes_sent,
            self.started.elapsed().as_secs(),
            sys::rss_bytes(),
            self.history.rates_json(),
            self.budgets_json()
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
        self.budget_families(&mut out);
        let c = &self.compressor;
        Family::single(
            "roomcast_compressed_messages_total",
            "counter",
            "Messages compressed with permessage-deflate (once each, for every member that gets it).",
            c.compressed as f64,
        )
        .write(&mut out);
        Family {
            name: "roomcast_compression_bytes_total",
            kind: "counter",
            help: "Payload bytes of compressed messages before (in) and after (out) deflate.",
            samples: vec![
                ("{stage=\"in\"}".into(), c.bytes_in as f64),
                ("{stage=\"out\"}".into(), c.bytes_out as f64),
            ],
        }
        .write(&mut out);
        Family::single(
            "roomcast_batches_total",
            "counter",
            "Batch frames (JSON arrays of room chat, ?batch=1) built, each shared by a room's batching members.",
            self.hub.batches_sent() as f64,
        )
        .write(&mut out);
        Family::single(
            "roomcast_engine_up",
            "gauge",
            "1 while the engine can serve (memory: always; redis: while connected).",
            if self.hub.engine_up() { 1.0 } else { 0.0 },
        )
        .write(&mut out);
        Family::single(
            "roomcast_engine_links_lost_total",
            "counter",
            "Connections to the engine's Redis that were lost.",
            self.remote_links.as_ref().map_or(0, |r| r.lost) as f64,
        )
        .write(&mut out);
        let (rss, cpu) = (sys::rss_bytes() as f64, sys::cpu_seconds());
        Family::single(PROCESS_RSS.0, PROCESS_RSS.1, PROCESS_RSS.2, rss).write(&mut out);
        Family::single(PROCESS_CPU.0, PROCESS_CPU.1, PROCESS_CPU.2, cpu).write(&mut out);
        out
    }

    /// Each budget: (kind, used, limit).
    fn budgets(&self) -> [(&'static str, usize, Option<usize>); 7] {
        let usage = self.hub.usage();
        let (outbox, http): (usize, usize) = self.conns.iter().fold((0, 0), |(o, h), (_, c)| {
            let buffered = c.http.as_ref().map_or(0, |b| b.buf.capacity());
            (o + c.outbox.unsent(), h + buffered)
        });
        let cfg = &self.cfg;
        [
            ("connections", self.conns.len(), Some(self.max_connections)),
            ("rooms", self.hub.room_count(), Some(cfg.max_rooms)),
            (
                "history_bytes",
                usage.history_bytes,
                Some(cfg.max_history_bytes),
            ),
            (
                "offline_bytes",
                usage.offline_bytes,
                Some(cfg.max_offline_bytes),
            ),
            ("bans", usage.restrictions, Some(cfg.max_bans)),
            ("outbox_bytes", outbox, None),
            ("http_buffer_bytes", http, None),
        ]
    }

    /// `"budgets":{kind:{"used","limit"}}` for `/api/stats`.
    fn budgets_json(&self) -> String {
        let mut out = String::from("\"budgets\":{");
        for (i, (kind, used, limit)) in self.budgets().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let limit = limit.map_or("null".to_owned(), |l| l.to_string());
            let _ = write!(out, "\"{kind}\":{{\"used\":{used},\"limit\":{limit}}}");
        }
        out.push('}');
        out
    }

    /// SPEC §6: each budget's use and limit, and what was refused for it,
    /// so an operator sees which one is near its cap.
    fn budget_families(&self, out: &mut String) {
        let usage = self.hub.usage();
        let kinds = self.budgets();
        let label = |kind: &str| format!("{{kind=\"{kind}\"}}");
        Family {
            name: "roomcast_budget_used",
            kind: "gauge",
            help: "What each budget holds (bytes, or items for connections, rooms and bans).",
            samples: kinds
                .iter()
                .map(|(k, used, _)| (label(k), *used as f64))
                .collect(),
        }
        .write(out);
        Family {
            name: "roomcast_budget_limit",
            kind: "gauge",
            help: "Each budget's cap (max_* in the configuration).",
            samples: kinds
                .iter()
                .filter_map(|(k, _, limit)| limit.map(|l| (label(k), l as f64)))
                .collect(),
        }
        .write(out);
        self.refused_family(out, usage.offline_refused, usage.restrictions_refused);
        Family::single(
            "roomcast_chat_dropped_total",
            "counter",
            "Room chat skipped for members that were behind (reported to them with dropped).",
            self.hub.refused().chat_dropped as f64,
        )
        .write(out);
        Family::single(
            "roomcast_history_evicted_total",
            "counter",
            "History messages evicted to stay within max_history_bytes.",
            usage.history_evicted as f64,
        )
        .write(out);
    }

    /// `roomcast_refused_total{reason}`.
    fn refused_family(&self, out: &mut String, offline: u64, bans: u64) {
        let refused = self.hub.refused();
        let reasons = [
            ("max_rooms", refused.max_rooms),
            ("max_offline_bytes", offline),
            ("max_bans", bans),
            ("max_connections", self.stats.refused_max_connections),
            ("no_descriptors", self.refused_no_fd),
            ("max_connections_per_ip", self.per_ip.refused()),
            ("rate_limited", refused.rate_limited),
        ];
        Family {
            name: "roomcast_refused_total",
            kind: "counter",
            help: "Requests and connections refused, by the limit that refused them.",
            samples: reasons
                .iter()
                .map(|(r, n)| (format!("{{reason=\"{r}\"}}"), *n as f64))
                .collect(),
        }
        .write(out);
    }

    /// The stats line in the log, every 30 s.
    /// Messages in per second since the last line.
    pub(super) fn log_stats(&mut self) {
        let s = &self.stats;
        let secs = (super::STATS_EVERY_MS as f64 / 1000.0).max(1.0);
        let rate = (s.messages_received - self.last_logged_received) as f64 / secs;
        self.last_logged_received = s.messages_received;
        log::info!(
            "stats: connections {} (websocket {}), users {}, rooms {}, messages in {} ({rate:.0}/s) out {}, chat dropped {}, bytes in {} out {}, rss {} KiB, refused for lack of descriptors {}",
            self.conns.len(),
            self.ws_open,
            self.hub.online_users(),
            self.hub.room_count(),
            s.messages_received,
            s.messages_delivered,
            self.hub.refused().chat_dropped,
            s.bytes_received,
            s.bytes_sent,
            sys::rss_bytes() / 1024,
            self.refused_no_fd
        );
    }
}
