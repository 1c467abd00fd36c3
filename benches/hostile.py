#!/usr/bin/env python3
"""Hostile-client figures for one or more roomcast binaries: server RSS
growth and idle CPU under a pipelined HTTP flood that is never read, and
under floods of private messages to fresh user ids (offline inboxes).

    python3 benches/hostile.py BINARY [BINARY...] > hostile.jsonl

One JSON line per case and binary. Loopback only; every case is bounded
in count and time; each server is started fresh and killed after.
"""
import os, socket, struct, subprocess, sys, time, base64, json, re

def start(binary, port, extra=()):
    p = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", *extra],
                         stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); break
        except OSError: time.sleep(0.05)
    return p

def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1]) * 1024

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def ws(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf: buf += s.recv(4096)
    return s, buf.split(b"\r\n\r\n", 1)[1]

def frame(text):
    p = text.encode(); mask = b"\x01\x02\x03\x04"
    n = len(p)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else bytes([0x80 | 127]) + struct.pack(">Q", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(p))

def drain(s, secs):
    s.settimeout(0.2); end = time.time() + secs; n = 0
    while time.time() < end:
        try:
            d = s.recv(1 << 20)
            if not d: break
            n += len(d)
        except socket.timeout: pass
    return n

def pipelined(binary, port):
    p = start(binary, port); before = rss(p.pid)
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(0.3)
    flood = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 100_000; sent = 0; end = time.time() + 5
    while sent < len(flood) and time.time() < end:
        try: sent += s.send(flood[sent:sent + 65536])
        except (socket.timeout, OSError): break
    time.sleep(1); grown = rss(p.pid) - before; alive = p.poll() is None
    p.kill(); p.wait()
    return {"requests_sent_bytes": sent, "rss_growth_mb": round(grown / 2**20, 1), "alive": alive}

def offline(binary, port, n, size):
    p = start(binary, port, ("--rate-limit-per-sec", "0")); before = rss(p.pid)
    s, _ = ws(port, "/ws?user=attacker")
    data = json.dumps("x" * size)
    t0 = time.time()
    for i in range(n):
        s.sendall(frame(f'{{"type":"private","to":"fresh{i}","data":{data}}}'))
        if i % 50 == 49 and size > 1000: drain(s, 0.01)
        if i % 2000 == 1999: drain(s, 0.05)
    drain(s, 1.0)
    grown = rss(p.pid) - before
    c0 = cpu(p.pid); time.sleep(5); idle = cpu(p.pid) - c0
    p.kill(); p.wait()
    return {"privates": n, "size": size, "secs": round(time.time() - t0, 1), "rss_growth_mb": round(grown / 2**20, 1), "idle_cpu_secs_in_5s": round(idle, 2)}

if __name__ == "__main__":
    binaries = sys.argv[1:] or ["./target/release/roomcast"]
    port = 19600
    cases = [("pipelined GET / flood, never read", pipelined),
             ("1500 x 60 KB privates to fresh ids", lambda b, p: offline(b, p, 1500, 60_000)),
             ("100,000 x 10 B privates to fresh ids", lambda b, p: offline(b, p, 100_000, 10))]
    for name, fn in cases:
        for b in binaries:
            port += 1
            print(json.dumps({"case": name, "server": b, **fn(b, port)}), flush=True)
