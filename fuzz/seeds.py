#!/usr/bin/env python3
"""Write the seed corpus of every fuzz target (run once; the fuzzers grow it)."""
import os, struct

KEY = bytes([0x37, 0xfa, 0x21, 0x3d])

def frame(op, payload=b"", fin=True, mask=KEY, rsv=0):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126: head = bytes([b0, mbit | n])
    elif n < 65536: head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else: head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload

frames = {
    "text": frame(1, b"Hello"),
    "binary256": frame(2, bytes(256)),
    "frag": frame(1, b"Hel", fin=False) + frame(9, b"p") + frame(0, b"lo"),
    "close": frame(8, struct.pack(">H", 1000) + b"bye"),
    "close_bad": frame(8, struct.pack(">H", 1005)),
    "utf8_bad": frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80"),
    "rsv": frame(1, b"x", rsv=1),
    "unmasked": frame(1, b"x", mask=None),
    "ping_long": frame(9, bytes(126)),
    "huge": bytes([0x82, 0xff]) + struct.pack(">Q", 1 << 63) + KEY,
    "len64k": frame(2, bytes(70000)),
}
heads = {
    "upgrade": b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "healthz": b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "post": b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    "v8": b"GET /ws?user=a%20b HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 8\r\n\r\n",
}
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
def put(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)
for name, data in frames.items():
    put("decode", name, bytes([6]) + data)
    put("decode_chunked", name, bytes([6, 3, 1, 5, 9]) + data)
    put("differential", name, data[:14])
for name, data in heads.items():
    put("handshake", name, bytes([17]) + data)
for i, (op, payload) in enumerate([(0, "κόσμε".encode()), (1, b"\x00\x01"), (2, b"ping"), (4, b"\x03\xe8ok"), (0, b"\xff")]):
    put("roundtrip", f"seed{i}", bytes([op]) + KEY + bytes([3]) + payload)
