#!/usr/bin/env python3
"""Writes the seed inputs of FuzzAPIServer into Fuzz/Seeds/api-server: HTTP/2 frames as a client
sends them after the connection preface (SETTINGS, then gRPC requests to the API services, with
HPACK literals and no Huffman coding), so the fuzzer starts from requests the server accepts."""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "api-server")


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    name, value = name.encode(), value.encode()
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def request(stream, path, message, end=True, extra=()):
    headers = b"".join(literal(n, v) for n, v in [
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
        ("content-type", "application/grpc"), ("te", "trailers"), *extra])
    body = b"\x00" + struct.pack(">I", len(message)) + message
    return frame(0x1, 0x4, stream, headers) + frame(0x0, 0x1 if end else 0x0, stream, body)


def string(field, text):
    data = text.encode()
    return bytes([field << 3 | 2, len(data)]) + data


def varint_field(field, value):
    out = bytes([field << 3])
    while True:
        byte = value & 0x7F
        value >>= 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def message(meta, spec):
    """An object: metadata (field 1) and spec (field 2)."""
    return bytes([0x0A, len(meta)]) + meta + bytes([0x12, len(spec)]) + spec


def pod(name):
    label = string(1, "app") + string(2, "web")
    meta = string(1, name) + string(2, "default") + bytes([0x32, len(label)]) + label
    container = string(1, "web") + string(2, "nginx")
    return message(meta, bytes([0x0A, len(container)]) + container)


SETTINGS = frame(0x4, 0, 0, b"")
SEEDS = {
    "health-check": SETTINGS + request(1, "/grpc.health.v1.Health/Check", b""),
    "pod-create-get-list": SETTINGS
    + request(1, "/capstan.v1.Pods/Create", pod("web"))
    + request(3, "/capstan.v1.Pods/Get", string(1, "default") + string(2, "web"))
    + request(5, "/capstan.v1.Pods/List", string(2, "app in (web,db)") + varint_field(4, 2)),
    "pod-watch-then-reset": SETTINGS
    + request(1, "/capstan.v1.Pods/Watch", varint_field(5, 1) + varint_field(6, 1))
    + frame(0x3, 0, 1, struct.pack(">I", 8)),
    "minion-create-binding": SETTINGS
    + request(1, "/capstan.v1.Minions/Create", message(string(1, "m1"), string(1, "10.0.0.1") + varint_field(2, 10250)))
    + request(3, "/capstan.v1.Bindings/Create", string(1, "default") + string(2, "web") + string(3, "m1")),
    "timeout-ping-window": SETTINGS
    + request(1, "/capstan.v1.Services/List", b"", extra=[("grpc-timeout", "1m")])
    + frame(0x6, 0, 0, b"12345678") + frame(0x8, 0, 0, struct.pack(">I", 65535)),
    "reflection": SETTINGS
    + request(1, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", string(7, "*"), end=False),
}

os.makedirs(HERE, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(HERE, name), "wb") as out:
        out.write(data)
