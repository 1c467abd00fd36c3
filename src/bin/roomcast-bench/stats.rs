//! Measurements: latency percentiles from an HDR histogram (`hdrhistogram`:
//! 1 µs to 60 s at 3 significant digits, no allocation per sample), and
//! CPU time from /proc.

use std::time::Duration;

/// Latency samples.
pub struct Histogram {
    hdr: hdrhistogram::Histogram<u64>,
}

impl Histogram {
    pub fn new() -> Histogram {
        // 1 µs .. 60 s at 3 significant digits: a bounded, fixed-size table.
        let hdr = hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3)
            .expect("1 us to 60 s at 3 digits are valid bounds");
        Histogram { hdr }
    }

    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 60_000_000);
        let _ = self.hdr.record(us);
    }

    pub fn count(&self) -> u64 {
        self.hdr.len()
    }

    /// The `q` quantile (0..1) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.hdr.is_empty() {
            return 0.0;
        }
        self.hdr.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.hdr.max() as f64 / 1000.0
    }
}

/// User + system CPU seconds of process `pid` (`self` for this one), or
/// of several (`1,2,3`), summed.
pub fn cpu_seconds(pid: &str) -> f64 {
    if pid.contains(',') {
        return pid.split(',').map(|p| cpu_seconds(p.trim())).sum();
    }
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

/// VmRSS of `pid` in bytes (several: summed).
pub fn rss_bytes(pid: &str) -> u64 {
    if pid.contains(',') {
        return pid.split(',').map(|p| rss_bytes(p.trim())).sum();
    }
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
