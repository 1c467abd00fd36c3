//! Measurements: a latency histogram with fixed 10 µs buckets (exact
//! enough for p999, no allocation per sample), and CPU time from /proc.

use std::time::Duration;

/// Bucket width in microseconds.
const BUCKET_US: u64 = 10;
/// 1,000,000 buckets of 10 µs: up to 10 s; slower samples land in the last.
const BUCKETS: usize = 1_000_000;

/// Latency samples.
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max_us: 0,
        }
    }

    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros() as u64;
        let i = ((us / BUCKET_US) as usize).min(BUCKETS - 1);
        self.counts[i] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0..1) in milliseconds (bucket upper bound).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let target = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0;
            }
        }
        self.max_ms()
    }

    pub fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1000.0
    }
}

/// User + system CPU seconds of process `pid` (`self` for this one).
pub fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

/// VmRSS of `pid` in bytes.
pub fn rss_bytes(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .map(|v| v.trim().trim_end_matches("kB").trim().to_owned())
        })
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU use of this process and, if given, the server, over a window.
pub struct CpuWindow {
    server: Option<String>,
    own_start: f64,
    server_start: f64,
}

impl CpuWindow {
    pub fn start(server: Option<&str>) -> CpuWindow {
        CpuWindow {
            server: server.map(str::to_owned),
            own_start: cpu_seconds("self"),
            server_start: server.map_or(0.0, cpu_seconds),
        }
    }

    /// (own CPU seconds, server CPU seconds if known) since `start`.
    pub fn end(&self) -> (f64, Option<f64>) {
        let own = cpu_seconds("self") - self.own_start;
        let server = self
            .server
            .as_deref()
            .map(|p| cpu_seconds(p) - self.server_start);
        (own, server)
    }
}
