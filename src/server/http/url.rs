//! The request target: path segments and query parameters, percent-decoded
//! with `percent-encoding` (RFC 3986 §2.1). In a path, `+` is a `+` and `&`
//! is an `&`; only in a query (`application/x-www-form-urlencoded`, as
//! browsers send forms and `URLSearchParams`) does `+` stand for a space
//! and `&` separate pairs.

use percent_encoding::percent_decode_str;

/// `s` percent-decoded as UTF-8; `None` if the bytes are not UTF-8.
fn decode(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// The decoded segments of `path` after `prefix` (`None` if it does not start
/// with it, or a segment is not valid percent-encoded UTF-8).
pub fn path_segments(path: &str, prefix: &str) -> Option<Vec<String>> {
    path.strip_prefix(prefix)?.split('/').map(decode).collect()
}

/// The decoded value of query parameter `name`; `None` if absent or not
/// valid percent-encoded UTF-8.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode_form(k).as_deref() == Some(name) {
            decode_form(v)
        } else {
            None
        }
    })
}

fn decode_form(s: &str) -> Option<String> {
    if s.contains('+') {
        decode(&s.replace('+', " "))
    } else {
        decode(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_plus_and_percent() {
        let q = "room=a%20b&user=x+y&bad=%ff&e=";
        assert_eq!(query_param(q, "room").as_deref(), Some("a b"));
        assert_eq!(query_param(q, "user").as_deref(), Some("x y"));
        assert_eq!(query_param(q, "bad"), None);
        assert_eq!(query_param(q, "e").as_deref(), Some(""));
        assert_eq!(query_param(q, "nope"), None);
    }

    #[test]
    fn path_segments_keep_plus_and_ampersand() {
        // Regression: segments were decoded as a query (`a+b` became `a b`,
        // `x&y` became `x`).
        let segs = |p| path_segments(p, "/api/");
        assert_eq!(
            segs("/api/rooms/a+b"),
            Some(vec!["rooms".into(), "a+b".into()])
        );
        assert_eq!(
            segs("/api/rooms/x&y"),
            Some(vec!["rooms".into(), "x&y".into()])
        );
        assert_eq!(
            segs("/api/rooms/a%20b"),
            Some(vec!["rooms".into(), "a b".into()])
        );
        assert_eq!(
            segs("/api/rooms/%2F"),
            Some(vec!["rooms".into(), "/".into()])
        );
        assert_eq!(segs("/api/rooms/%ff"), None);
        assert_eq!(segs("/other"), None);
    }
}
