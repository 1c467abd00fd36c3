#![no_main]
// The body lives in the library (roomcast::room::fuzz_redis_replies) so
// that `cargo test` replays this target's corpus on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roomcast::room::fuzz_redis_replies(data));
