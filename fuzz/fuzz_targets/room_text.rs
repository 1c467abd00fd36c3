#![no_main]
// The body lives in the library (roomcast::room::fuzzing) so that
// `cargo test` replays this target's corpus on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roomcast::room::fuzzing::fuzz_room_text(data));
