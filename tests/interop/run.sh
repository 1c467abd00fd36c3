#!/usr/bin/env bash
# Interoperability with Python `websockets` (permessage-deflate and
# batching): start roomcast with compression and a batch window, run
# tests/interop/websockets_peer.py against it, stop it.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -c 'import websockets' 2>/dev/null || python3 -m pip install --quiet 'websockets==15.0.1'
# shellcheck source=../start-roomcast.sh
. tests/start-roomcast.sh
start_roomcast --compression true --batch-window-ms 50 --api-insecure true --rate-limit-per-sec 0 \
    --max-message-size 16777216 --max-backpressure 67108864
python3 tests/interop/websockets_peer.py "$addr"
