//! A real `redis-server` (Debian's package; `.ci/run` installs it) on a
//! free loopback port, without persistence, stopped by its PID on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// `--requirepass`, if set.
    password: Option<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `redis-server` can be run here. Without it these tests are
/// skipped with a message on a developer's machine, and fail under CI
/// (`.ci/run` installs it).
pub fn available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is missing under CI"
        );
        eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
    }
    found
}

impl RedisServer {
    /// A Redis for one test, or `None` (skipped) where none can run.
    pub fn for_test() -> Option<RedisServer> {
        available().then(RedisServer::start)
    }

    /// A Redis that wants `AUTH password` first, or `None` (skipped).
    pub fn with_password(password: &str) -> Option<RedisServer> {
        if !available() {
            return None;
        }
        let mut r = RedisServer {
            port: free_port(),
            child: None,
            password: Some(password.to_owned()),
        };
        r.restart();
        Some(r)
    }

    pub fn start() -> RedisServer {
        let mut r = RedisServer {
            port: free_port(),
            child: None,
            password: None,
        };
        r.restart();
        r
    }

    /// A port nothing listens on yet (for a node started before Redis).
    pub fn not_started() -> RedisServer {
        RedisServer {
            port: free_port(),
            child: None,
            password: None,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Start (again) on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port.to_string();
        let mut args = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        if let Some(pw) = &self.password {
            args.extend(["--requirepass", pw.as_str()]);
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed for these tests: apt-get install redis-server");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while !self
            .command(&["PING"])
            .is_some_and(|r| r.ends_with("+PONG\r\n"))
        {
            assert!(Instant::now() < end, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// One command; the raw reply (None if Redis is not there).
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut req = String::new();
        let mut replies = 1;
        let mut push = |args: &[&str]| {
            req.push_str(&format!("*{}\r\n", args.len()));
            for a in args {
                req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
            }
        };
        if let Some(pw) = &self.password {
            push(&["AUTH", pw]);
            replies += 1;
        }
        push(args);
        s.write_all(req.as_bytes()).ok()?;
        // Read until every reply's line end came (the tests' replies are short).
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while out.iter().filter(|b| **b == b'\n').count() < replies {
            let n = s.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
