//! roomcast: a single-threaded WebSocket room server.
//!
//! Layers, each depending only on those below it:
//! - [`proto`]: the RFC 6455 codec and the HTTP handshake, sans I/O.
//! - [`config`]: the configuration (SPEC §6).
//! - [`server`]: the `mio` loop, the only code that touches sockets.

pub mod auth;
pub mod config;
pub mod ids;
pub mod proto;
pub mod room;
pub mod server;
