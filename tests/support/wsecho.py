#!/usr/bin/env python3
"""wsecho.py - a WebSocket echo backend for tests (Python 3 standard library).

An HTTP/1.1 server on --listen HOST:PORT, one thread per connection:
  - "GET" with "Connection: upgrade" and "Upgrade: websocket" gets 101 with
    the RFC 6455 Sec-WebSocket-Accept (and the first offered
    Sec-WebSocket-Protocol chosen), then every data frame is echoed back
    unmasked with its opcode; a ping gets its pong; a close gets a close back
    and the connection ends. A client frame that is not masked is a protocol
    error (close 1002). One log line per upgrade, naming the key, version,
    protocol and extensions it saw, and one when the tunnel ends, with the
    number of messages echoed.
  - a path starting with /refuse gets 403 (body "refused"), upgrade or not;
  - anything else gets 200 and a JSON object of the request's header fields
    (names lowercased) and path, with keep-alive.
With --cert FILE --key FILE it speaks TLS (for a re-encrypting site).
"""
import argparse
import base64
import hashlib
import json
import socket
import socketserver
import ssl
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def log(msg):
    print(msg, flush=True)


def tokens(v):
    return [t.strip().lower() for t in v.split(",") if t.strip()]


class Conn(socketserver.StreamRequestHandler):
    def read_head(self):
        line = self.rfile.readline(65536)
        if not line:
            return None
        method, path, _ = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        fields = {}
        while True:
            h = self.rfile.readline(65536).decode("latin-1").rstrip("\r\n")
            if h == "":
                break
            k, v = h.split(":", 1)
            k = k.strip().lower()
            fields[k] = fields[k] + ", " + v.strip() if k in fields else v.strip()
        return method, path, fields

    def send(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def handle(self):
        while True:
            head = self.read_head()
            if head is None:
                return
            method, path, f = head
            n = int(f.get("content-length", "0"))
            if n:
                self.rfile.read(n)
            if path.startswith("/refuse"):
                self.send(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 7\r\n\r\nrefused")
                continue
            if (method == "GET" and "websocket" in tokens(f.get("upgrade", ""))
                    and "upgrade" in tokens(f.get("connection", ""))):
                self.tunnel(path, f)
                return
            body = json.dumps({"path": path, "method": method, "fields": f}).encode()
            self.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                      b"content-length: %d\r\n\r\n%s" % (len(body), body))

    def tunnel(self, path, f):
        key = f.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
        proto = tokens(f.get("sec-websocket-protocol", ""))
        log("upgrade path=%s key=%s version=%s protocol=%s extensions=%s" % (
            path, "yes" if key else "no", f.get("sec-websocket-version", "-"),
            ",".join(proto) or "-", f.get("sec-websocket-extensions", "-")))
        resp = (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                b"connection: Upgrade\r\nsec-websocket-accept: " + accept + b"\r\n")
        if proto:
            resp += b"sec-websocket-protocol: " + proto[0].encode() + b"\r\n"
        self.send(resp + b"\r\n")
        echoed = 0
        while True:
            hdr = self.rfile.read(2)
            if len(hdr) < 2:
                break
            fin_op, ln = hdr[0], hdr[1]
            if not ln & 0x80:
                self.send(frame(8, struct.pack("!H", 1002)))
                log("tunnel ended: unmasked client frame")
                return
            ln &= 0x7F
            if ln == 126:
                ln = struct.unpack("!H", self.rfile.read(2))[0]
            elif ln == 127:
                ln = struct.unpack("!Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4)
            data = self.rfile.read(ln)
            if len(data) < ln:
                break
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data)) if ln < 4096 \
                else unmask(data, mask)
            op = fin_op & 0x0F
            if op == 8:
                self.send(frame(8, data[:2]))
                break
            if op == 9:
                self.send(frame(10, data))
                continue
            self.send(frame(op, data, fin_op & 0x80))
            echoed += 1
        log("tunnel ended path=%s echoed=%d" % (path, echoed))


def unmask(data, mask):
    n = len(data)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ m).to_bytes(n, "big")


def frame(op, data, fin=0x80):
    n = len(data)
    if n < 126:
        h = struct.pack("!BB", fin | op, n)
    elif n < 65536:
        h = struct.pack("!BBH", fin | op, 126, n)
    else:
        h = struct.pack("!BBQ", fin | op, 127, n)
    return h + data


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, addr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    srv = Server((host, int(port)), Conn)
    if a.cert:
        srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.tls.load_cert_chain(a.cert, a.key)
    srv.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    log("listening on %s" % a.listen)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
