#!/usr/bin/env python3
"""Turn benches/run.sh output (JSON lines) into the markdown table of BENCHMARKS.md."""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
servers = list(dict.fromkeys(r["server"] for r in rows))
by = {(r["server"], r["case"]): r["result"] for r in rows}


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def cell(case, server):
    r = by.get((server, case), {})
    if not r or "error" in r:
        return "failed"
    if case.startswith("idle"):
        return f"{fmt(r.get('server_rss_per_conn'), '.0f')} B/conn, {fmt(r.get('server_cpu_us_per_handshake'), '.1f')} µs/handshake, {r.get('opened')} open, {r.get('dropped_while_held')} dropped"
    if case.startswith("echo"):
        return f"{fmt(r.get('round_trips_per_server_cpu_sec'), ',.0f')} rt per server CPU-s ({fmt(r.get('round_trips_per_sec'), ',.0f')}/s, p99 {fmt(r.get('p99_ms'), '.2f')} ms)"
    if case.startswith(("fanout", "hot", "dm")):
        wire = f", {fmt(r.get('wire_bytes_per_delivery'), '.1f')} B/msg on the wire" if "wire_bytes_per_delivery" in r else ""
        return (f"{fmt(r.get('deliveries_per_server_cpu_sec'), ',.0f')} per server CPU-s ({fmt(r.get('deliveries_per_sec'), ',.0f')}/s), "
                f"p99 {fmt(r.get('p99_ms'), '.1f')} ms, max {fmt(r.get('max_ms'), '.1f')} ms, lost {r.get('lost')}, server CPU {fmt(r.get('server_cpu_pct'), '.0f')}%{wire}")
    if case == "churn":
        return f"{fmt(r.get('cycles_per_sec'), ',.0f')} cycles/s, {fmt(r.get('server_cpu_us_per_cycle'), '.1f')} µs server CPU/cycle"
    return json.dumps(r)


cases = list(dict.fromkeys(r["case"] for r in rows))
features = {r["case"]: r.get("features", "-") for r in rows}
print("| case | features | " + " | ".join(servers) + " |")
print("|---|---|" + "---|" * len(servers))
for case in cases:
    print(f"| {case} | {features[case]} | " + " | ".join(cell(case, s) for s in servers) + " |")
