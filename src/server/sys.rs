//! What the server asks of the OS: descriptor limits, a reserve descriptor
//! for EMFILE, and its own memory and CPU from `/proc/self`.

use std::fs::File;

/// Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// Resident memory of this process in bytes (from `/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    pages * page_size()
}

/// User + system CPU seconds of this process (from `/proc/self/stat`).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime is field 14 overall: index 11 after the state field at index 0.
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as f64
    } else {
        100.0
    }
}

/// A descriptor held back for EMFILE: when `accept` fails for lack of
/// descriptors, this one is closed so that one pending connection can be
/// accepted and closed at once (it would otherwise sit in the backlog and
/// make the listener fire forever), then taken again.
#[derive(Debug)]
pub struct ReserveFd(Option<File>);

impl ReserveFd {
    /// Take the reserve descriptor.
    pub fn new() -> ReserveFd {
        ReserveFd(File::open("/dev/null").ok())
    }

    /// Give the descriptor up for a moment.
    pub fn release(&mut self) {
        self.0 = None;
    }

    /// Take it again; false if the process is still out of descriptors.
    pub fn reacquire(&mut self) -> bool {
        if self.0.is_none() {
            self.0 = File::open("/dev/null").ok();
        }
        self.0.is_some()
    }
}

impl Default for ReserveFd {
    fn default() -> Self {
        ReserveFd::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_readings_are_plausible() {
        assert!(rss_bytes() > 100_000);
        let before = cpu_seconds();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds() >= before);
        assert!(raise_nofile_limit() >= 64);
    }
}
