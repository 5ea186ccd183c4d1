#!/usr/bin/env python3
"""acmeproxy.py - an HTTPS proxy in front of one ACME server (Pebble) that
makes it rate-limit new orders, for tests (Python 3 standard library).

It listens on --listen HOST:PORT with TLS (--cert, --key: a certificate the
client already trusts, such as the one Pebble's own API uses) and forwards
every request, with its Host header unchanged, to --upstream HOST:PORT over
TLS (verified with --ca). Pebble builds every URL it hands out (directory,
orders, authorizations, certificates) from the Host header of the request,
so the client stays on the proxy throughout and nothing needs rewriting.

newOrder is the exception. Its path comes from the upstream's directory
(--directory-path, default /dir). Every newOrder POST is counted and logged,
one line each:

  neworder n=N t=EPOCH names=a.test,b.test rewritten=0|1 retry_after=S|- replaces=0|1

(n counts all of them from 1; replaces says whether the payload had ARI's
"replaces"). Whether it is answered by the proxy or forwarded follows the
rules file (--rules), read again at each newOrder; a missing or empty file
forwards everything. One rule a line:

  NAME RETRY_AFTER [COUNT]

A newOrder with NAME among its identifiers gets HTTP 429 with
Content-Type application/problem+json, a rateLimited problem document,
Retry-After: RETRY_AFTER ("-": none), a fresh Replay-Nonce (from the
upstream's newNonce) and Link rel="index"; with COUNT, only until COUNT
newOrders for NAME have been answered so. To stop rewriting, remove the
line (or the file): later newOrders go to the CA. Other requests are logged
as "req METHOD PATH STATUS". Answered newOrders never reach the upstream.
"""
import argparse
import base64
import http.client
import http.server
import json
import socketserver
import ssl
import sys
import threading
import time

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade",
       "proxy-connection", "proxy-authenticate", "proxy-authorization",
       "trailer", "content-length", "date", "server"}


def b64url_json(s):
    s = s + "=" * (-len(s) % 4)
    return json.loads(base64.urlsafe_b64decode(s.encode()))


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.n = 0
        self.rewritten = {}     # NAME -> how many answered with 429
        self.new_order = None   # path
        self.new_nonce = None
        self.log = open(args.log, "a", buffering=1) if args.log else sys.stdout

    def say(self, line):
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()

    def rules(self):
        out = []
        try:
            with open(self.args.rules) as f:
                for line in f:
                    w = line.split()
                    if len(w) >= 2 and not w[0].startswith("#"):
                        out.append((w[0], w[1], int(w[2]) if len(w) > 2 else None))
        except FileNotFoundError:
            pass
        return out


def upstream(st):
    host, port = st.args.upstream.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=st.args.ca)
    return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)


def path_of(url):
    rest = url.split("://", 1)[1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def learn_directory(st):
    c = upstream(st)
    c.request("GET", st.args.directory_path, headers={"Host": st.args.listen})
    r = c.getresponse()
    d = json.loads(r.read())
    c.close()
    st.new_order = path_of(d["newOrder"])
    st.new_nonce = path_of(d["newNonce"])


def fresh_nonce(st):
    c = upstream(st)
    c.request("HEAD", st.new_nonce, headers={"Host": st.args.listen})
    r = c.getresponse()
    r.read()
    c.close()
    return r.getheader("Replay-Nonce")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    st = None

    def log_message(self, fmt, *a):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def forward(self, data):
        st = self.st
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if data or self.command == "POST":
            hdrs["Content-Length"] = str(len(data))
        c = upstream(st)
        c.request(self.command, self.path, body=data or None, headers=hdrs)
        r = c.getresponse()
        out = r.read()
        c.close()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)
        return r.status

    def new_order(self, data):
        st = self.st
        names, replaces = [], 0
        try:
            payload = b64url_json(json.loads(data)["payload"])
            names = [i.get("value", "") for i in payload.get("identifiers", [])]
            replaces = int("replaces" in payload)
        except (ValueError, KeyError, TypeError):
            pass
        hit = None
        with st.lock:
            st.n += 1
            n = st.n
            for name, ra, count in st.rules():
                if name in names and (count is None or
                                      st.rewritten.get(name, 0) < count):
                    st.rewritten[name] = st.rewritten.get(name, 0) + 1
                    hit = ra
                    break
        st.say("neworder n=%d t=%.3f names=%s rewritten=%d retry_after=%s "
               "replaces=%d" % (n, time.time(), ",".join(names),
                                hit is not None, hit if hit else "-", replaces))
        if hit is None:
            self.forward(data)
            return
        doc = json.dumps({
            "type": "urn:ietf:params:acme:error:rateLimited",
            "detail": "acmeproxy: too many new orders for %s" % ",".join(names),
            "status": 429}).encode()
        nonce = fresh_nonce(st)
        self.send_response(429)
        self.send_header("Content-Type", "application/problem+json")
        if hit != "-":
            self.send_header("Retry-After", hit)
        if nonce:
            self.send_header("Replay-Nonce", nonce)
        self.send_header("Link", '<https://%s%s>;rel="index"' %
                         (st.args.listen, st.args.directory_path))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(doc)))
        self.end_headers()
        self.wfile.write(doc)

    def handle_any(self):
        data = self.body()
        if self.command == "POST" and self.path == self.st.new_order:
            self.new_order(data)
            return
        status = self.forward(data)
        self.st.say("req %s %s %d" % (self.command, self.path, status))

    do_GET = do_HEAD = do_POST = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, ctx):
        super().__init__(addr, Handler)
        self.ctx = ctx

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--rules", required=True)
    p.add_argument("--directory-path", default="/dir")
    p.add_argument("--log")
    args = p.parse_args()
    st = State(args)
    Handler.st = st
    learn_directory(st)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    host, port = args.listen.rsplit(":", 1)
    srv = Server((host, int(port)), ctx)
    st.say("listening on %s for %s (newOrder %s)" % (args.listen, args.upstream,
                                                       st.new_order))
    srv.serve_forever()


if __name__ == "__main__":
    main()
