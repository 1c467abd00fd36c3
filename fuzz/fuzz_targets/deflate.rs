#![no_main]
// The body lives in the library (roomcast::proto::fuzzing) so that
// `cargo test` replays this target's corpus on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roomcast::proto::fuzzing::fuzz_deflate(data));
