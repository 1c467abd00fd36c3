#!/usr/bin/env bash
# End-to-end benchmarks with roomcast-bench: each case gets a fresh server
# pinned to core 0 (taskset -c 0) and the load on core 1. Prints one JSON
# line per case: {"server","case","result":{...roomcast-bench --json...}}.
#
#   benches/run.sh [roomcast|node-ws]... > results.jsonl
#   python3 benches/table.py results.jsonl      # the table in BENCHMARKS.md
#
# Loopback only; every case is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin roomcast --bin roomcast-bench
B=./target/release/roomcast-bench
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(roomcast node-ws)
SECS=${SECS:-10}

start() { # server port
    case $1 in
        roomcast) RUST_LOG=warn taskset -c 0 ./target/release/roomcast --listen "127.0.0.1:$2" --rate-limit-per-sec 0 2>/dev/null & ;;
        node-ws)
            [ -d benches/peers/node-ws/node_modules ] || (cd benches/peers/node-ws && npm ci --silent --no-audit --no-fund)
            taskset -c 0 node benches/peers/node-ws/server.mjs "$2" 2>/dev/null &
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
    while read -r case args; do
        [ -n "$case" ] || continue
        port=$((port + 1))
        echo "run.sh: $server $case ..." >&2
        start "$server" "$port"
        url="ws://127.0.0.1:$port"
        # shellcheck disable=SC2086
        line=$(eval taskset -c 1 "$B" $args --server-pid "$PID" --json 2>/dev/null | tail -n 1) || line='{"error":"bench failed"}'
        echo "{\"server\":\"$server\",\"case\":\"$case\",\"result\":$line}"
        echo "run.sh: $server $case done" >&2
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    done <<CASES
idle_echo   connections --url \$url/echo --conns 19000 --hold 5
idle_ws     connections --url "\$url/ws?room=idle" --conns 19000 --hold 5
echo_1      echo --url \$url/echo --conns 100 --size 32 --pipeline 1 --secs $SECS
echo_16     echo --url \$url/echo --conns 100 --size 32 --pipeline 16 --secs $SECS
fanout_1k   fanout --url \$url --subs 1000 --rate 100 --size 100 --secs $SECS
fanout_10k  fanout --url \$url --subs 10000 --rate 10 --size 100 --secs $SECS
hot_1000    fanout --url \$url --subs 1000 --rate 1000 --size 100 --secs $SECS
hot_2000    fanout --url \$url --subs 1000 --rate 2000 --size 100 --secs $SECS
churn       churn --url \$url/echo --conns 50 --secs $SECS
CASES
done
