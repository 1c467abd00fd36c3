//! roomcast: a single-threaded WebSocket room server.
//!
//! Layers, each depending only on those below it:
//! - [`proto`]: the RFC 6455 codec and the HTTP handshake, sans I/O.
//! - [`config`]: the configuration (SPEC §6).
//! - [`server`]: the `mio` loop, the only code that touches sockets.

// As quinn does at its crate root: no panics reachable from non-test code
// (peer bytes must get a close code or an HTTP status, never a panic).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod auth;
pub mod config;
mod ids;
pub mod proto;
pub mod redis;
pub mod room;
pub mod server;
pub mod supervisor;
