//! `redis://[:password@]host[:port][/db]`, as redis-cli and every client
//! library read it.

/// A parsed `redis_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// Host name or address.
    pub host: String,
    /// Port (6379 if not given).
    pub port: u16,
    /// Database index (0 if not given).
    pub db: u32,
    /// `AUTH` password, if any.
    pub password: Option<String>,
    /// `AUTH` user (Redis 6 ACLs), if any.
    pub username: Option<String>,
}

impl RedisUrl {
    /// Parse a URL; the error says what is wrong.
    pub fn parse(url: &str) -> Result<RedisUrl, &'static str> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or("the scheme must be redis://")?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((hp, "")) => (hp, 0),
            Some((hp, db)) => (hp, db.parse().map_err(|_| "the database must be a number")?),
            None => (rest, 0),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
            let port = after.strip_prefix(':').unwrap_or("6379");
            (host, port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => (hostport, "6379"),
            }
        };
        if host.is_empty() {
            return Err("no host");
        }
        let port = port.parse().map_err(|_| "the port must be a number")?;
        let (username, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some(("", p)) => (None, Some(p.to_owned())),
                Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
                None => (None, Some(a.to_owned())),
            },
        };
        Ok(RedisUrl {
            host: host.to_owned(),
            port,
            db,
            password,
            username,
        })
    }

    /// `host:port`, for connecting and for logs (never the password).
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_redis_cli_reads_them() {
        let u = RedisUrl::parse("redis://127.0.0.1:6379/0").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.db), ("127.0.0.1", 6379, 0));
        let u = RedisUrl::parse("redis://:s3cret@cache.local/2").unwrap();
        assert_eq!(
            (u.addr(), u.db, u.password.as_deref()),
            ("cache.local:6379".to_owned(), 2, Some("s3cret"))
        );
        let u = RedisUrl::parse("redis://app:pw@[::1]:7000").unwrap();
        assert_eq!(
            (u.addr(), u.username.as_deref()),
            ("[::1]:7000".to_owned(), Some("app"))
        );
        for bad in ["http://x", "redis://", "redis://h:port", "redis://h/x"] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
