# Sourced by autobahn/run.sh and tests/interop/run.sh (from the project's
# root): `start_roomcast FLAGS...` builds the release server, starts it on
# 127.0.0.1:0 with FLAGS, stops it (by its PID) when the script exits, and
# sets $addr to where it listens.
start_roomcast() {
    cargo build --release --quiet --bin roomcast
    roomcast_log=$(mktemp)
    RUST_LOG=info ./target/release/roomcast --listen 127.0.0.1:0 "$@" 2>"$roomcast_log" &
    roomcast_pid=$!
    trap 'kill "$roomcast_pid" 2>/dev/null || true; rm -f "$roomcast_log"' EXIT
    addr=""
    for _ in $(seq 1 100); do
        addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$roomcast_log" | head -n 1)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "roomcast did not start"; cat "$roomcast_log"; exit 1; }
}
