#!/usr/bin/env bash
# Scale-out benchmarks (SPEC §7): the same fanout load on one memory-engine
# node, and on N redis-engine nodes sharing one redis-server (subscribers
# spread over the nodes, the publisher on the first). CPU is the total of
# every node and Redis; Redis's own share per published message is
# reported apart. As in run.sh, every server process (nodes and Redis) is
# pinned to core 0 and the load to core 1: unpinned, three servers and the
# client share both cores and the figures measure the scheduler more than
# the servers (unpinned fanout_1k read 0.69x for 2 nodes, pinned 0.95x).
# Prints one JSON line per case:
#   {"setup","case","redis_cpu_secs","published","result":{...roomcast-bench --json...}}
#
#   benches/cluster.sh > cluster.jsonl
#
# Environment: SECS (default 10), NODES (default 2), CASES (regex),
# ROOMCAST_BIN (default this tree's release build). Needs redis-server.
# Loopback only; every case is bounded in time; only processes this
# script started are stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin roomcast --bin roomcast-bench
B=./target/release/roomcast-bench
ROOMCAST_BIN=${ROOMCAST_BIN:-./target/release/roomcast}
SECS=${SECS:-10}
NODES=${NODES:-2}
CASES=${CASES:-.}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2; exit 1
}

cpu_of() { # pid → user+system seconds
    awk -v hz="$(getconf CLK_TCK)" '{ split($0, a, ") "); split(a[2], f, " "); print (f[12] + f[13]) / hz }' "/proc/$1/stat"
}

port=19300
run_case() { # setup case bench-args...
    local setup=$1 case=$2; shift 2
    [[ $case =~ $CASES ]] || return 0
    echo "cluster.sh: $setup $case ..." >&2
    cleanup
    local urls="" server_pids="" redis_pid=""
    if [ "$setup" = memory ]; then
        port=$((port + 1))
        RUST_LOG=warn taskset -c 0 "$ROOMCAST_BIN" --listen "127.0.0.1:$port" --rate-limit-per-sec 0 2>/dev/null &
        pids+=($!); server_pids=$!; wait_port "$port"; urls="ws://127.0.0.1:$port"
    else
        port=$((port + 1)); local rport=$port
        taskset -c 0 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
        redis_pid=$!; pids+=("$redis_pid"); wait_port "$rport"
        server_pids=$redis_pid
        for _ in $(seq 1 "$NODES"); do
            port=$((port + 1))
            RUST_LOG=warn taskset -c 0 "$ROOMCAST_BIN" --listen "127.0.0.1:$port" --rate-limit-per-sec 0 \
                --engine redis --redis-url "redis://127.0.0.1:$rport/0" 2>/dev/null &
            pids+=($!); server_pids+=",$!"; wait_port "$port"
            urls+="${urls:+,}ws://127.0.0.1:$port"
        done
        sleep 0.5 # every node connected to Redis
    fi
    local r0=0; [ -n "$redis_pid" ] && r0=$(cpu_of "$redis_pid")
    local line
    line=$(taskset -c 1 "$B" fanout --url "$urls" "$@" --secs "$SECS" --server-pid "$server_pids" --json 2>/dev/null | tail -n 1) || line='{"error":"bench failed"}'
    local r1=0; [ -n "$redis_pid" ] && r1=$(cpu_of "$redis_pid")
    echo "{\"setup\":\"$setup\",\"case\":\"$case\",\"redis_cpu_secs\":$(echo "$r1 - $r0" | bc -l | sed 's/^\./0./'),\"result\":$line}"
    cleanup
}

for setup in memory "redis_x$NODES"; do
    run_case "$setup" fanout_1k --subs 1000 --rate 100 --size 100
    run_case "$setup" hot_1000 --subs 1000 --rate 1000 --size 100
done
