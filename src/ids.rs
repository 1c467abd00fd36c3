//! User ids and room names (SPEC §3): what may be one. Below `auth` and
//! `room`, which both check names.

/// The longest user id or room name, in bytes: room for any id scheme
/// (UUIDs, paths, JWT subjects), and short enough to copy into every event.
pub const MAX_NAME: usize = 128;

/// The user id the server speaks as (publishes from the API, broadcasts):
/// no client may take it.
pub const SYSTEM: &str = "system";

/// Whether `name` may be a user id or room name: 1 to [`MAX_NAME`] bytes
/// of UTF-8 without control characters or bidirectional overrides and
/// isolates (which would let a name reorder the text shown around it).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.chars().any(|c| c.is_control() || is_bidi_control(c))
}

/// Whether `name` may be a client's user id: a valid name that is not
/// the server's own.
pub fn valid_user(name: &str) -> bool {
    valid_name(name) && name != SYSTEM
}

/// U+202A–U+202E (embeddings, overrides) and U+2066–U+2069 (isolates).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A user id for a client that gave none: `anon-` and 16 random hex
/// digits, so nobody can guess another anonymous user's id (and read its
/// private messages).
pub fn anonymous_user() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No entropy source: the process's address-space layout and the
        // clock still differ per connection, though they are guessable.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (t ^ (&bytes as *const _ as u64)).to_le_bytes();
    }
    let mut id = String::with_capacity(5 + 16);
    id.push_str("anon-");
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_controls_bidi_overrides_and_length() {
        assert!(valid_name("lobby") && valid_name("弹幕") && valid_name(&"x".repeat(128)));
        for bad in ["", "a\nb", "a\u{202E}b", "\u{2066}x", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name("system") && !valid_user("system"));
    }

    #[test]
    fn anonymous_ids_are_random_and_valid() {
        let (a, b) = (anonymous_user(), anonymous_user());
        assert_ne!(a, b);
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("anon-") && valid_user(&a));
    }
}
