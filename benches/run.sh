#!/usr/bin/env bash
# End-to-end benchmarks with roomcast-bench: each case gets a fresh server
# pinned to core 0 (taskset -c 0) and the load on core 1. Prints one JSON
# line per case: {"server","case","features","result":{...roomcast-bench --json...}}.
#
#   benches/run.sh [roomcast|node-ws|uws]... > results.jsonl
#   python3 benches/table.py results.jsonl      # the tables in BENCHMARKS.md
#
# Environment:
#   CASES=regex         run only the cases whose name matches (e.g. 'echo|hot_1000$')
#   ROOMCAST_BIN=path   the roomcast server to measure (default: this tree's
#                       release build), e.g. an older build for before/after
#   SECS=n              seconds of load per timed case (default 10)
# uws needs target/uws-peer (benches/peers/uws/build.sh); node-ws needs node + npm.
#
# The features column says what a case turns on, in the server and in the
# client: batch (roomcast: batch_window_ms = 50; the client asks ?batch=1;
# the peers have no batching), deflate (compression = true, uws
# SHARED_COMPRESSOR, node-ws perMessageDeflate; the client offers
# permessage-deflate as browsers do), delay (roomcast: write_delay_ms = 20;
# the peers have none).
#
# Loopback only; every case is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin roomcast --bin roomcast-bench
B=./target/release/roomcast-bench
ROOMCAST_BIN=${ROOMCAST_BIN:-./target/release/roomcast}
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(roomcast node-ws)
SECS=${SECS:-10}
CASES=${CASES:-.}

start() { # server port features
    local flags=""
    case $1 in
        roomcast)
            [[ $3 == *batch* ]] && flags+=" --batch-window-ms 50"
            [[ $3 == *deflate* ]] && flags+=" --compression true"
            [[ $3 == *delay* ]] && flags+=" --write-delay-ms 20"
            # shellcheck disable=SC2086
            RUST_LOG=warn taskset -c 0 "$ROOMCAST_BIN" --listen "127.0.0.1:$2" --rate-limit-per-sec 0 $flags 2>/dev/null &
            ;;
        node-ws)
            [ -d benches/peers/node-ws/node_modules ] || (cd benches/peers/node-ws && npm ci --silent --no-audit --no-fund)
            [[ $3 == *deflate* ]] && flags+=" --compression"
            # shellcheck disable=SC2086
            taskset -c 0 node benches/peers/node-ws/server.mjs "$2" $flags 2>/dev/null &
            ;;
        uws)
            [ -x target/uws-peer ] || { echo "target/uws-peer is missing: run benches/peers/uws/build.sh" >&2; exit 1; }
            [[ $3 == *deflate* ]] && flags+=" --compression"
            # shellcheck disable=SC2086
            taskset -c 0 ./target/uws-peer "$2" $flags 2>/dev/null &
            ;;
        *) echo "unknown server $1" >&2; exit 2 ;;
    esac
    PID=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not start" >&2; exit 1
}

port=19100
for server in "${servers[@]}"; do
    while read -r case features args; do
        [ -n "$case" ] || continue
        [[ $case =~ $CASES ]] || continue
        port=$((port + 1))
        echo "run.sh: $server $case ($features) ..." >&2
        start "$server" "$port" "$features"
        url="ws://127.0.0.1:$port"
        client=""
        [[ $features == *batch* ]] && client+=" --batch"
        [[ $features == *deflate* ]] && client+=" --deflate"
        # shellcheck disable=SC2086
        line=$(eval taskset -c 1 "$B" $args $client --server-pid "$PID" --json 2>/dev/null | tail -n 1) || line='{"error":"bench failed"}'
        echo "{\"server\":\"$server\",\"case\":\"$case\",\"features\":\"$features\",\"result\":$line}"
        echo "run.sh: $server $case done" >&2
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    done <<CASES
idle_echo     -              connections --url \$url/echo --conns 19000 --hold 5
idle_ws       -              connections --url "\$url/ws?room=idle" --conns 19000 --hold 5
echo_1        -              echo --url \$url/echo --conns 100 --size 32 --pipeline 1 --secs $SECS
echo_16       -              echo --url \$url/echo --conns 100 --size 32 --pipeline 16 --secs $SECS
fanout_1k     -              fanout --url \$url --subs 1000 --rate 100 --size 100 --secs $SECS
fanout_10k    -              fanout --url \$url --subs 10000 --rate 10 --size 100 --secs $SECS
hot_1000      -              fanout --url \$url --subs 1000 --rate 1000 --size 100 --secs $SECS
hot_2000      -              fanout --url \$url --subs 1000 --rate 2000 --size 100 --secs $SECS
churn         -              churn --url \$url/echo --conns 50 --secs $SECS
hot_1000_b    batch          fanout --url \$url --subs 1000 --rate 1000 --size 100 --secs $SECS
hot_1000_w    delay          fanout --url \$url --subs 1000 --rate 1000 --size 100 --secs $SECS
hot_10k_b     batch          fanout --url \$url --subs 10000 --rate 1000 --size 100 --secs $SECS
hot_10k_db    deflate,batch  fanout --url \$url --subs 10000 --rate 1000 --size 100 --secs $SECS
dm_1000       -              fanout --url \$url --subs 1000 --rate 1000 --corpus danmaku --secs $SECS
dm_1000_d     deflate        fanout --url \$url --subs 1000 --rate 1000 --corpus danmaku --secs $SECS
dm_1000_b     batch          fanout --url \$url --subs 1000 --rate 1000 --corpus danmaku --secs $SECS
dm_1000_db    deflate,batch  fanout --url \$url --subs 1000 --rate 1000 --corpus danmaku --secs $SECS
CASES
done
