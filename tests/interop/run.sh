#!/usr/bin/env bash
# Interoperability with Python `websockets` (permessage-deflate and
# batching): start roomcast with compression and a batch window, run
# tests/interop/websockets_peer.py against it, stop it.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -c 'import websockets' 2>/dev/null || python3 -m pip install --quiet 'websockets==15.0.1'
cargo build --release --quiet --bin roomcast
log=$(mktemp)
RUST_LOG=info ./target/release/roomcast --listen 127.0.0.1:0 --compression true \
    --batch-window-ms 50 --api-insecure true --rate-limit-per-sec 0 \
    --max-message-size 16777216 --max-backpressure 67108864 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
addr=""
for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "roomcast did not start"; cat "$log"; exit 1; }
python3 tests/interop/websockets_peer.py "$addr"
