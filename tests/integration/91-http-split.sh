#!/bin/bash
# HTTP/1.1 heads that arrive in pieces: a client request whose header names
# and values are cut across TLS records (a name cut mid-word, at the colon,
# an empty value, a value cut in two), and a backend whose response head
# comes in pieces the same way (a name cut inside "Content-Type", where
# llhttp's own matcher splits it too, and "Content-Length" cut across
# writes), are forwarded whole and in order, over HTTP/1.1 and HTTP/2.
# tlsgate holds a field's name until its value comes (h1.c,
# upstream_resp.c); this is the case where they come in different reads.
. "$(dirname "$0")/lib.sh"
need curl openssl python3

cert s ec h.test b.test
PE=$(free_port); PS=$(free_port); P=$(free_port)
backend E httpecho "$PE"
# A backend that answers every request with its head in pieces, each its
# own write, keep-alive.
python3 - "$PS" >"$T/split-backend.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
pieces = [b"HTTP/1.1 200 OK\r\nConte", b"nt-Ty", b"pe: te", b"xt/plain\r\nX-Sp",
          b"lit-Name: a", b"bc\r\nX-Empty:", b"\r\nContent-", b"Length: 5\r\n\r\nhel", b"lo"]
while True:
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
        while b"\r\n\r\n" in buf:
            buf = buf.split(b"\r\n\r\n", 1)[1]
            for p in pieces:
                c.sendall(p)
                time.sleep(0.02)   # each piece its own segment and read
    c.close()
PY
PIDS+=($!)
wait_port "$PS"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 1,
 "sites": [{"names": ["h.test"], "backends": ["127.0.0.1:$PE"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]},
           {"names": ["b.test"], "backends": ["127.0.0.1:$PS"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"

# 1. The client's head in pieces, each its own TLS record (and read).
python3 - "$P" "$T/s.pem" >"$T/split-client.out" 2>&1 <<'PY' || fail "split client: $(cat "$T/split-client.out")"
import json, socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.set_alpn_protocols(["http/1.1"])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c = ctx.wrap_socket(raw, server_hostname="h.test")
pieces = [b"GET /split HTTP/1.1\r\nHo", b"st: h.test\r\nX-Lo", b"ng-Na", b"me", b": va",
          b"lue-1\r\nX-E", b":\r\nX-Cut: ab", b"cd\r\nX-Last: z\r\n", b"\r\n"]
for p in pieces:
    c.sendall(p)
    time.sleep(0.02)   # each piece its own record and read
resp = b""
while b"\r\n\r\n" not in resp:
    d = c.recv(65536)
    if not d:
        sys.exit("closed before a response: %r" % resp)
    resp += d
head, body = resp.split(b"\r\n\r\n", 1)
n = int([l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
while len(body) < n:
    body += c.recv(65536)
if not head.startswith(b"HTTP/1.1 200"):
    sys.exit("status: %r" % head[:40])
got = json.loads(body)["headers"]
want = [["host", "h.test"], ["x-long-name", "value-1"], ["x-e", ""], ["x-cut", "abcd"], ["x-last", "z"]]
mine = [h for h in got if h[0] in ("host", "x-long-name", "x-e", "x-cut", "x-last")]
if mine != want:
    sys.exit("backend got %r, want %r" % (mine, want))
print("ok", mine)
PY
ok "a request head cut across records (name mid-word and at the colon, empty value, value in two) reached the backend whole and in order"

# 2. The backend's head in pieces, to an HTTP/1.1 and an HTTP/2 client,
# twice each over one connection (the second on the pooled backend
# connection).
for proto in --http1.1 --http2; do
	curl -sS "$proto" --cacert "$T/s.pem" --resolve "b.test:$P:127.0.0.1" \
	    -D "$T/h$proto" -o "$T/b$proto" "https://b.test:$P/one" \
	    -o "$T/b2$proto" "https://b.test:$P/two" || fail "$proto: curl failed"
	for f in "$T/b$proto" "$T/b2$proto"; do
		[ "$(cat "$f")" = hello ] || fail "$proto: body '$(cat "$f")', not hello"
	done
	tr -d '\r' <"$T/h$proto" >"$T/hh$proto"
	grep -qi '^content-type: text/plain$' "$T/hh$proto" || fail "$proto: no whole Content-Type: $(cat "$T/hh$proto")"
	grep -qi '^x-split-name: abc$' "$T/hh$proto" || fail "$proto: no whole X-Split-Name: $(cat "$T/hh$proto")"
	grep -qi '^x-empty: *$' "$T/hh$proto" || fail "$proto: no empty X-Empty: $(cat "$T/hh$proto")"
	[ "$(grep -ci '^content-length: 5$' "$T/hh$proto")" -ge 1 ] || fail "$proto: no Content-Length 5: $(cat "$T/hh$proto")"
done
ok "a backend head in pieces (a name cut inside Content-Type, Content-Length across writes, an empty value) reached HTTP/1.1 and HTTP/2 clients whole, twice each"
