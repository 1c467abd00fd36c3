//! The last five minutes, one sample a second, in a ring (for
//! `/api/stats` rates and `/api/stats/history`, what an admin page charts).
//! Paid once per server: 300 samples of a few counters.

use serde::Serialize;
use std::collections::VecDeque;
use std::fmt::Write as _;

/// Samples kept: five minutes at one a second.
pub const SAMPLES: usize = 300;

/// The server's state at one second.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Sample {
    /// Seconds since the Unix epoch.
    pub t: u64,
    pub connections: usize,
    pub users: usize,
    pub rooms: usize,
    pub messages_received: u64,
    pub messages_delivered: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub chat_dropped: u64,
    pub slow_consumers: u64,
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct History {
    ring: VecDeque<Sample>,
}

impl History {
    /// Keep `s`, dropping the oldest past [`SAMPLES`].
    pub fn push(&mut self, s: Sample) {
        if self.ring.len() >= SAMPLES {
            self.ring.pop_front();
        }
        self.ring.push_back(s);
    }

    /// `{"samples":[...]}`, oldest first.
    pub fn json(&self) -> String {
        let samples: Vec<&Sample> = self.ring.iter().collect();
        format!(
            "{{\"samples\":{}}}",
            serde_json::to_string(&samples).unwrap_or_else(|_| "[]".into())
        )
    }

    /// `"rates":{"1s":{...},"10s":{...},"60s":{...}},"cpu_percent":x`: per
    /// second over the last 1, 10 and 60 seconds (as far back as there are
    /// samples), and CPU over the last 10.
    pub fn rates_json(&self) -> String {
        let mut out = String::from("\"rates\":{");
        for (i, span) in [1usize, 10, 60].iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let (newest, oldest, secs) = self.span(*span);
            let per_sec = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
            let _ = write!(
                out,
                "\"{span}s\":{{\"messages_in\":{:.1},\"messages_out\":{:.1},\"bytes_in\":{:.0},\"bytes_out\":{:.0},\"chat_dropped\":{:.1}}}",
                per_sec(newest.messages_received, oldest.messages_received),
                per_sec(newest.messages_delivered, oldest.messages_delivered),
                per_sec(newest.bytes_received, oldest.bytes_received),
                per_sec(newest.bytes_sent, oldest.bytes_sent),
                per_sec(newest.chat_dropped, oldest.chat_dropped),
            );
        }
        let (newest, oldest, secs) = self.span(10);
        let cpu = 100.0 * (newest.cpu_seconds - oldest.cpu_seconds).max(0.0) / secs;
        let _ = write!(out, "}},\"cpu_percent\":{cpu:.1}");
        out
    }

    /// The newest sample, the one `span` seconds before it (or the oldest
    /// kept), and the seconds between them (at least 1).
    fn span(&self, span: usize) -> (Sample, Sample, f64) {
        let newest = self.ring.back().copied().unwrap_or_default();
        let back = self.ring.len().saturating_sub(1 + span);
        let oldest = self.ring.get(back).copied().unwrap_or(newest);
        let secs = newest.t.saturating_sub(oldest.t).max(1) as f64;
        (newest, oldest, secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_of_five_minutes_with_rates_over_its_spans() {
        let mut h = History::default();
        for t in 0..400u64 {
            h.push(Sample {
                t,
                messages_received: t * 10,
                bytes_sent: t * 1000,
                cpu_seconds: t as f64 * 0.25,
                ..Sample::default()
            });
        }
        assert_eq!(h.ring.len(), SAMPLES);
        assert_eq!(h.ring.front().map(|s| s.t), Some(100));
        let rates = format!("{{{}}}", h.rates_json());
        let v: serde_json::Value = serde_json::from_str(&rates).unwrap();
        assert_eq!(v["rates"]["1s"]["messages_in"], 10.0);
        assert_eq!(v["rates"]["60s"]["bytes_out"], 1000.0);
        assert_eq!(v["cpu_percent"], 25.0);
        let all: serde_json::Value = serde_json::from_str(&h.json()).unwrap();
        assert_eq!(all["samples"].as_array().unwrap().len(), SAMPLES);
    }

    #[test]
    fn rates_with_no_or_one_sample_are_zero() {
        let mut h = History::default();
        let v: serde_json::Value =
            serde_json::from_str(&format!("{{{}}}", h.rates_json())).unwrap();
        assert_eq!(v["rates"]["10s"]["messages_in"], 0.0);
        h.push(Sample::default());
        assert!(
            serde_json::from_str::<serde_json::Value>(&format!("{{{}}}", h.rates_json())).is_ok()
        );
    }
}
