//! User ids and room names (SPEC §3): what may be one. Below `auth` and
//! `room`, which both check names.

/// The longest user id or room name, in bytes: room for any id scheme
/// (UUIDs, paths, JWT subjects), and short enough to copy into every event.
pub const MAX_NAME: usize = 128;

/// Whether `name` may be a user id or room name: 1 to [`MAX_NAME`] bytes
/// of UTF-8 without control characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && !name.chars().any(char::is_control)
}
