#!/usr/bin/env python3
"""wsclient.py - a WebSocket client over HTTP/1.1 and TLS for tests (Python 3
standard library: ssl, socket).

  wsclient.py --connect HOST:PORT --sni NAME --ca FILE [--path /ws]
      [--protocol P] [--count N] [--pause-at K --paused-file F --resume-file G]

Upgrades (GET, Connection: Upgrade, Upgrade: websocket, a random
Sec-WebSocket-Key, version 13), needs 101 with the right
Sec-WebSocket-Accept (and P back when --protocol is given), then sends N
binary messages (masked, 1 byte to 70 KB, random), one at a time, and checks
that each comes back equal; then a close, whose echo must come back, and the
server's end of the connection. With --pause-at, after K messages it creates
F and waits (60 s at most) until G exists: a test reloads the server
meanwhile. Prints "ok messages=N" and exits 0, or "FAIL: ..." and exits 1.

  wsclient.py ... --expect-status S
sends the upgrade and needs status S back (not 101): prints "status=S".

  wsclient.py ... --other-upgrade TOKEN
sends, on one connection, a GET with Connection: Upgrade and Upgrade: TOKEN,
then a plain GET, and prints the two status lines' codes and whether the
backend's JSON echo of the first shows an Upgrade field:
"statuses=200,200 upgrade_seen=0".

  wsclient.py ... --hold-idle
one plain GET, "answered" once its response came, then waits (60 s at
most) for the server to close the idle connection: "closed".

  wsclient.py ... --idle-close
upgrades, then sends nothing and waits (60 s at most) for the tunnel to be
closed: "closed".
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SIZES = [1, 17, 125, 126, 1000, 4096, 16384, 65535, 65536, 70000]


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


class Conn:
    def __init__(self, a):
        host, port = a.connect.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=a.ca)
        ctx.set_alpn_protocols(["http/1.1"])
        raw = socket.create_connection((host, int(port)), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(raw, server_hostname=a.sni)
        self.buf = b""

    def need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                fail("connection closed after %d of %d bytes" % (len(self.buf), n))
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                fail("connection closed before a response head")
            self.buf += d
        h, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = h.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        f = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            f[k.strip().lower()] = v.strip()
        return status, f

    def body(self, f):
        return self.need(int(f.get("content-length", "0")))


def frame(op, data):
    mask = os.urandom(4)
    n = len(data)
    if n < 126:
        h = struct.pack("!BB", 0x80 | op, 0x80 | n)
    elif n < 65536:
        h = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
    else:
        h = struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    body = (int.from_bytes(data, "big") ^ m).to_bytes(n, "big") if n else b""
    return h + mask + body


def read_frame(c):
    b0, b1 = c.need(2)
    if b1 & 0x80:
        fail("a server frame is masked")
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", c.need(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", c.need(8))[0]
    return b0 & 0x0F, c.need(n)


def upgrade_request(a, key):
    r = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (a.path, a.sni, key))
    if a.protocol:
        r += "Sec-WebSocket-Protocol: %s\r\n" % a.protocol
    return (r + "\r\n").encode()


def other_upgrade(a):
    c = Conn(a)
    c.s.sendall(("GET /o1 HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\n"
                 "Upgrade: %s\r\n\r\n" % (a.sni, a.other_upgrade)).encode())
    s1, f1 = c.head()
    b1 = c.body(f1)
    seen = 0
    if s1 == 200:
        seen = int("upgrade" in json.loads(b1)["fields"])
    c.s.sendall(("GET /o2 HTTP/1.1\r\nHost: %s\r\n\r\n" % a.sni).encode())
    s2, f2 = c.head()
    c.body(f2)
    print("statuses=%d,%d upgrade_seen=%d" % (s1, s2, seen), flush=True)
    return 0


def wait_close(c):
    c.s.settimeout(60)
    try:
        while c.s.recv(65536):
            pass
    except socket.timeout:
        fail("not closed within 60 s")
    except (ConnectionResetError, ssl.SSLError):
        pass
    print("closed", flush=True)
    return 0


def hold_idle(a):
    c = Conn(a)
    c.s.sendall(("GET /idle HTTP/1.1\r\nHost: %s\r\n\r\n" % a.sni).encode())
    s, f = c.head()
    c.body(f)
    if s != 200:
        fail("status %d" % s)
    print("answered", flush=True)
    c.buf = b""
    return wait_close(c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True)
    ap.add_argument("--sni", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--path", default="/ws")
    ap.add_argument("--protocol")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--pause-at", type=int, default=-1)
    ap.add_argument("--paused-file")
    ap.add_argument("--resume-file")
    ap.add_argument("--expect-status", type=int)
    ap.add_argument("--other-upgrade")
    ap.add_argument("--hold-idle", action="store_true")
    ap.add_argument("--idle-close", action="store_true")
    a = ap.parse_args()
    if a.other_upgrade:
        return other_upgrade(a)
    if a.hold_idle:
        return hold_idle(a)
    c = Conn(a)
    key = base64.b64encode(os.urandom(16)).decode()
    c.s.sendall(upgrade_request(a, key))
    status, f = c.head()
    if a.expect_status is not None:
        if status != a.expect_status:
            fail("status %d, expected %d" % (status, a.expect_status))
        print("status=%d" % status, flush=True)
        return 0
    if status != 101:
        fail("status %d to the upgrade" % status)
    want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if f.get("sec-websocket-accept") != want:
        fail("Sec-WebSocket-Accept %r, expected %r" % (f.get("sec-websocket-accept"), want))
    if "websocket" not in f.get("upgrade", "").lower():
        fail("101 without Upgrade: websocket")
    if a.protocol and f.get("sec-websocket-protocol") != a.protocol:
        fail("Sec-WebSocket-Protocol %r" % f.get("sec-websocket-protocol"))
    if a.idle_close:
        return wait_close(c)
    for i in range(a.count):
        if i == a.pause_at:
            open(a.paused_file, "w").close()
            until = time.monotonic() + 60
            while not os.path.exists(a.resume_file):
                if time.monotonic() > until:
                    fail("no %s within 60 s" % a.resume_file)
                time.sleep(0.02)
        msg = os.urandom(SIZES[i % len(SIZES)])
        c.s.sendall(frame(2, msg))
        op, data = read_frame(c)
        if op != 2 or data != msg:
            fail("message %d: echo differs (opcode %d, %d bytes, sent %d)" % (
                i, op, len(data), len(msg)))
    c.s.sendall(frame(8, struct.pack("!H", 1000)))
    op, _ = read_frame(c)
    if op != 8:
        fail("no close frame back")
    # The backend closes after its close frame: so must the tunnel.
    while True:
        d = c.s.recv(65536)
        if not d:
            break
        fail("bytes after the close frame")
    print("ok messages=%d" % a.count, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
