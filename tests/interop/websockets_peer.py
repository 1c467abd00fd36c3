#!/usr/bin/env python3
"""Python `websockets` (an independent RFC 7692 implementation) against a
running roomcast with compression and batching on.

Usage: websockets_peer.py HOST:PORT   (run by tests/interop/run.sh)

Checks, each printed as it passes:
- /echo with the default offer (permessage-deflate; client_max_window_bits):
  agreed, and big compressible, small and random messages come back equal;
- every server_max_window_bits from 8 to 15 and client_no_context_takeover:
  agreed with the parameters asked, and echo round trips stay equal (the
  client inflates with exactly the window it asked for);
- /ws?batch=1: chats published through the API arrive as JSON arrays,
  inflated correctly, every seq once and in order.
"""
import json
import os
import sys
import urllib.request

from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, PerMessageDeflate
from websockets.sync.client import connect

ADDR = sys.argv[1]


def deflate_of(ws):
    exts = [e for e in ws.protocol.extensions if isinstance(e, PerMessageDeflate)]
    assert exts, "permessage-deflate was not agreed"
    return exts[0]


def echo_round_trips(ws):
    big = ("danmaku 弹幕 " * 4000)[:40000]
    for msg in [big, "hi", "x" * 200, os.urandom(3000).hex(), big[::-1]]:
        ws.send(msg)
        got = ws.recv(timeout=10)
        assert got == msg, f"echo changed a {len(msg)}-byte message"
    blob = os.urandom(5000) + bytes(20000)
    ws.send(blob)
    assert ws.recv(timeout=10) == blob


def main():
    with connect(f"ws://{ADDR}/echo", max_size=2**24) as ws:
        d = deflate_of(ws)
        echo_round_trips(ws)
        print(f"ok: /echo with the default offer (remote_no_context_takeover={d.remote_no_context_takeover})")

    for bits in range(8, 16):
        factory = ClientPerMessageDeflateFactory(
            server_max_window_bits=bits, client_no_context_takeover=True, client_max_window_bits=True
        )
        with connect(f"ws://{ADDR}/echo", extensions=[factory], compression=None, max_size=2**24) as ws:
            d = deflate_of(ws)
            assert d.remote_max_window_bits == bits, (bits, d.remote_max_window_bits)
            assert d.remote_no_context_takeover, "the server keeps no context"
            echo_round_trips(ws)
    print("ok: server_max_window_bits 8..15 agreed and read back with that window")

    room = "py-batch"
    with connect(f"ws://{ADDR}/ws?user=py&room={room}&batch=1", max_size=2**24) as ws:
        deflate_of(ws)
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome["type"] == "welcome" and welcome.get("batch_window_ms", 0) > 0, welcome
        while json.loads(ws.recv(timeout=10)).get("type") != "joined":
            pass
        n = 50
        for i in range(n):
            body = json.dumps({"room": room, "data": {"i": i, "text": "弹幕 comment " * 5}}).encode()
            req = urllib.request.Request(f"http://{ADDR}/api/publish", data=body, headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=10).read()
        seqs, arrays = [], 0
        while len(seqs) < n:
            m = json.loads(ws.recv(timeout=10))
            items = m if isinstance(m, list) else [m]
            arrays += isinstance(m, list)
            for item in items:
                if item.get("type") == "chat":
                    assert item["data"]["i"] == len(seqs), item
                    seqs.append(item["seq"])
        assert seqs == list(range(1, n + 1)), seqs
        assert arrays >= 1, "no batch arrived as an array"
        print(f"ok: {n} chats in {arrays} batch frames, in order, each once")


if __name__ == "__main__":
    main()
