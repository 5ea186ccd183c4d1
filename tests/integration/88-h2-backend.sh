#!/bin/bash
# HTTP/2 to backends (terminator/http/h2up.h), and gRPC through tlsgate.
# Backends: tests/support/h2be.c (HTTP/2 cleartext, prior knowledge, with
# nghttp2) and tests/support/grpcpeer.py (Debian's python3-grpcio, h2c and
# TLS with ALPN h2). Checked: curl over HTTP/2 and HTTP/1.1 to an h2
# backend; response trailers to an HTTP/2 client (nghttp) and, with
# TE: trailers, to an HTTP/1.1 one, whose TE reaches the backend; 1 MiB
# echoed both ways under flow control; a backend RST_STREAM is a 502, a
# silent one a 504, a dead one 502 and, once its health check says so, 503;
# 1,000 requests over 10 client connections take a handful of backend
# connections (counted by the backend, and by /metrics' pool gauge); a backend with
# SETTINGS_MAX_CONCURRENT_STREAMS 5 gets more connections and never more
# than 5 streams on one; a backend that sends GOAWAY after every 20 streams
# loses no request; gRPC unary (with an error status and message),
# server-, client- and bidi-streaming with trailing metadata, over a route
# pool in cleartext and over backend TLS; a busy stream does not starve
# unary calls beside it.
. "$(dirname "$0")/lib.sh"
need curl nghttp h2load openssl

H2BE=${TG_H2BE:-$(dirname "$TG_CLIENT")/tg_h2be}
[ -x "$H2BE" ] || fail "no tg_h2be at $H2BE"
# A python3 with grpc (python3-grpcio); the one on PATH may be another.
GPY=""
for py in python3 /usr/bin/python3; do
	if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import grpc' 2>/dev/null; then
		GPY=$py
		break
	fi
done
if [ -z "$GPY" ]; then
	[ "${CI:-}" != true ] || fail "missing under CI: python3-grpcio"
	echo "skip: python3-grpcio not installed"
	exit 77
fi
SUP="$TG_SRC/tests/support"

cert front ec h2.test lim.test grpc.test grpcs.test gone.test
cert be ec be.test
P=$(free_port); B1=$(free_port); B2=$(free_port); B3=$(free_port); B4=$(free_port)
G1=$(free_port); G2=$(free_port); H1=$(free_port); DEAD=$(free_port); PA=$(free_port)
"$H2BE" --listen "127.0.0.1:$B1" --name b1 >"$T/backend-b1.log" 2>&1 &
PIDS+=($!)
"$H2BE" --listen "127.0.0.1:$B2" --name b2 --max-streams 5 >"$T/backend-b2.log" 2>&1 &
PIDS+=($!)
"$H2BE" --listen "127.0.0.1:$B3" --name b3 --goaway-after 20 >"$T/backend-b3.log" 2>&1 &
PIDS+=($!)
"$H2BE" --listen "127.0.0.1:$B4" --name b4 >"$T/backend-b4.log" 2>&1 &
PIDS+=($!)
"$GPY" "$SUP/grpcpeer.py" server --listen "127.0.0.1:$G1" >"$T/backend-g1.log" 2>&1 &
PIDS+=($!)
"$GPY" "$SUP/grpcpeer.py" server --listen "127.0.0.1:$G2" --cert "$T/be.pem" \
    --key "$T/be.key" >"$T/backend-g2.log" 2>&1 &
PIDS+=($!)
start_httpecho h1 "$H1"
for p in "$B1" "$B2" "$B3" "$B4" "$G1" "$G2"; do wait_port "$p"; done

CRT='"certificates": [{"cert": "front.pem", "key": "front.key"}]'
H2='"backend_protocol": "h2"'
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "workers": 2, "listen": {"https": ["127.0.0.1:$P"]},
 "admin": {"listen": "127.0.0.1:$PA"}, "sites": [
 {"names": ["h2.test"], "default": true, "backends": ["127.0.0.1:$B1"], $CRT,
  "http": {$H2},
  "routes": [{"path": "/hang", "backends": ["127.0.0.1:$B1"],
              "http": {$H2, "backend_timeout": 1}}]},
 {"names": ["lim.test"], "backends": ["127.0.0.1:$B2"], $CRT, "http": {$H2},
  "health": {"type": "http", "path": "/hello", "interval": 0.2},
  "routes": [{"path": "/ga", "backends": ["127.0.0.1:$B3"], "http": {$H2}},
             {"path": "/sick", "backends": ["127.0.0.1:$B4"], "http": {$H2},
              "health": {"type": "http", "path": "/rst", "interval": 0.2}}]},
 {"names": ["grpc.test"], "backends": ["127.0.0.1:$H1"], $CRT,
  "routes": [{"path": "/test.Echo", "backends": ["127.0.0.1:$G1"], "http": {$H2}}]},
 {"names": ["grpcs.test"], "backends": ["127.0.0.1:$G2"], $CRT, "http": {$H2},
  "backend_tls": {"ca": "be.pem", "server_name": "be.test"}},
 {"names": ["gone.test"], "backends": ["127.0.0.1:$DEAD"], $CRT, "http": {$H2},
  "health": {"type": "tcp", "interval": 0.2}}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"

c() {
	local host=$1; shift
	curl -sS --max-time 30 --cacert "$T/front.pem" --resolve "$host:$P:127.0.0.1" "$@"
}

# --- ordinary requests, both client protocols ----------------------------
out=$(c h2.test --http2 "https://h2.test:$P/hello?x=1") || fail "curl h2: $out"
[ "$out" = "h2be b1 path=/hello te=none" ] || fail "curl h2: $out"
out=$(c h2.test --http1.1 "https://h2.test:$P/hello") || fail "curl h1: $out"
[ "$out" = "h2be b1 path=/hello te=none" ] || fail "curl h1: $out"
wait_log "path=/hello proto=http/1.1 status=200 .*backend=127.0.0.1:$B1"
ok "HTTP/2 and HTTP/1.1 clients reach an h2c backend"

# --- trailers ------------------------------------------------------------
timeout 30 nghttp -nv -H ":authority: h2.test" "https://127.0.0.1:$P/trailers" \
    >"$T/nghttp.log" 2>&1 || fail "nghttp: $(tail -5 "$T/nghttp.log")"
grep -q "x-trailer-one: 1" "$T/nghttp.log" && grep -q "grpc-status: 0" "$T/nghttp.log" ||
    fail "nghttp: no trailers: $(grep -E 'recv|x-|grpc' "$T/nghttp.log" | tail -12)"
# They came as trailers: a HEADERS frame after the DATA, ending the stream.
awk '/recv DATA frame/ {d=1} d && /recv HEADERS frame/ {h=1} h && /END_STREAM/ {e=1}
    END {exit !e}' "$T/nghttp.log" || fail "nghttp: trailers not after DATA"
ok "response trailers reach an HTTP/2 client"

head -c 1048576 /dev/urandom >"$T/blob"
c h2.test --http1.1 -D "$T/h1te.hdr" -H "TE: trailers" -H "Connection: TE" \
    --data-binary @"$T/blob" -o "$T/h1te.out" "https://h2.test:$P/echo" ||
    fail "curl h1 echo with TE"
cmp -s "$T/blob" "$T/h1te.out" || fail "h1 echo: body differs"
grep -qi "^x-echo-bytes: 1048576" "$T/h1te.hdr" || fail "h1 TE trailers: $(cat "$T/h1te.hdr")"
grep -qi "^x-te: trailers" "$T/h1te.hdr" || fail "h1 TE not forwarded: $(cat "$T/h1te.hdr")"
c h2.test --http1.1 -D "$T/h1.hdr" --data-binary @"$T/blob" -o "$T/h1.out" \
    "https://h2.test:$P/echo" || fail "curl h1 echo"
cmp -s "$T/blob" "$T/h1.out" || fail "h1 echo without TE: body differs"
! grep -qi "^x-echo-bytes" "$T/h1.hdr" || fail "trailers sent to a client without TE"
ok "HTTP/1.1: trailers with TE: trailers (forwarded to the backend), none without"

c h2.test --http2 --data-binary @"$T/blob" -o "$T/h2.out" "https://h2.test:$P/echo" ||
    fail "curl h2 echo"
cmp -s "$T/blob" "$T/h2.out" || fail "h2 echo: body differs"
ok "1 MiB echoed both ways over HTTP/2 to the backend"

# --- errors --------------------------------------------------------------
code=$(c h2.test --http2 -o /dev/null -w '%{http_code}' "https://h2.test:$P/rst") || true
[ "$code" = 502 ] || fail "backend RST_STREAM: $code"
wait_log "path=/rst proto=h2 status=502 .*err=backend-error"
code=$(c h2.test --http2 -o /dev/null -w '%{http_code}' "https://h2.test:$P/hang") || true
[ "$code" = 504 ] || fail "silent backend: $code"
wait_log "path=/hang proto=h2 status=504 .*err=backend-timeout"
code=$(c gone.test --http2 -o /dev/null -w '%{http_code}' "https://gone.test:$P/x") || true
[ "$code" = 502 ] || [ "$code" = 503 ] || fail "dead backend: $code"
wait_log "backend 127.0.0.1:$DEAD of gone.test is DOWN"
code=$(c gone.test --http2 -o /dev/null -w '%{http_code}' "https://gone.test:$P/x") || true
[ "$code" = 503 ] || fail "dead backend, checked down: $code"
ok "RST_STREAM 502, silence 504, dead 502 then 503 (tcp health check)"
# http checks of an h2c pool speak HTTP/2: a reset stream fails them.
wait_log "backend 127.0.0.1:$B4 of lim.test /sick is DOWN"
code=$(c lim.test --http2 -o /dev/null -w '%{http_code}' "https://lim.test:$P/sick") || true
[ "$code" = 503 ] || fail "route whose HTTP/2 checks fail: $code"
! grep -q "backend 127.0.0.1:$B2 of lim.test is DOWN" "$T/tlsgate.log" ||
    fail "the live h2 backend was marked down: $(grep DOWN "$T/tlsgate.log")"
ok "HTTP/2 http health checks: a backend that resets them is down (503), a good one up"

# --- multiplexing --------------------------------------------------------
h2l() {
	local name=$1 path=$2 log=$3
	timeout 120 h2load -n 1000 -c 10 -m 10 -H ":authority: $name" \
	    "https://127.0.0.1:$P$path" >"$log" 2>&1 || fail "h2load $path: $(tail -5 "$log")"
	grep -q "requests: 1000 total, 1000 started, 1000 done, 1000 succeeded" "$log" ||
	    fail "h2load $path: $(grep -E 'requests:|status codes' "$log")"
	grep -q "status codes: 1000 2xx" "$log" || fail "h2load $path: $(grep 'status codes' "$log")"
}
count() { c "$1" --http2 "https://$1:$P/count"; }
h2l h2.test /load "$T/h2load-b1.log"
cnt=$(count h2.test) || fail "count: $cnt"
read -r conns streams refused <<<"$(sed 's/[a-z]*=//g' <<<"$cnt")"
[ "$streams" -ge 1000 ] || fail "b1: $cnt"
[ "$conns" -le 6 ] || fail "1,000 requests took $conns backend connections: $cnt"
[ "$refused" = 0 ] || fail "b1 refused streams: $cnt"
ok "1,000 requests over 10 client connections: $conns backend connections"
# The pool gauge counts HTTP/2 backend connections too: open ones, idle or
# active, no more than the backend accepted.
metric() { curl -sS "http://127.0.0.1:$PA/metrics" | awk -v k="$1" 'index($0, k) == 1 {print $2}'; }
gk='tlsgate_backend_pool_connections{site="h2.test",backend="127.0.0.1:'"$B1"'",state='
idle=$(metric "$gk\"idle\"}"); act=$(metric "$gk\"active\"}")
[ -n "$idle" ] && [ -n "$act" ] || fail "no pool gauge for h2.test in /metrics"
[ $((idle + act)) -ge 1 ] && [ $((idle + act)) -le "$conns" ] ||
    fail "pool gauge: idle=$idle active=$act, backend accepted $conns"
ok "/metrics pool gauge: $idle idle + $act active HTTP/2 backend connections"

h2l lim.test /load "$T/h2load-b2.log"
cnt=$(count lim.test) || fail "count: $cnt"
read -r conns streams refused <<<"$(sed 's/[a-z]*=//g' <<<"$cnt")"
[ "$refused" = 0 ] || fail "b2 (max 5 streams) saw more: $cnt"
[ "$conns" -ge 3 ] || fail "b2 (max 5 streams): only $conns connections: $cnt"
ok "SETTINGS_MAX_CONCURRENT_STREAMS 5 respected: $conns connections, none over"

h2l lim.test /ga/x "$T/h2load-b3.log"
conns=$(grep -c '^conn ' "$T/backend-b3.log")
[ "$conns" -ge 10 ] || fail "b3 (GOAWAY after 20 streams): $conns connections"
ok "GOAWAY every 20 streams: 1,000 requests succeeded over $conns connections"

# --- gRPC ----------------------------------------------------------------
for name in grpc.test grpcs.test; do
	timeout 200 "$GPY" "$SUP/grpcpeer.py" client --connect "127.0.0.1:$P" \
	    --ca "$T/front.pem" --name "$name" >"$T/grpc-$name.log" 2>&1 ||
	    fail "gRPC via $name: $(cat "$T/grpc-$name.log")"
	[ "$(grep -c '^ok ' "$T/grpc-$name.log")" = 6 ] ||
	    fail "gRPC via $name: $(cat "$T/grpc-$name.log")"
done
wait_log "host=grpc.test path=/test.Echo/Unary proto=h2 status=200 .*backend=127.0.0.1:$G1"
wait_log "host=grpcs.test path=/test.Echo/Bidi proto=h2 status=200 .*backend=127.0.0.1:$G2"
ok "gRPC unary (and an error status), server, client and bidi streaming, h2c and TLS"
timeout 200 "$GPY" "$SUP/grpcpeer.py" slow --connect "127.0.0.1:$P" --ca "$T/front.pem" \
    --name grpc.test >"$T/grpc-slow.log" 2>&1 || fail "gRPC slow: $(cat "$T/grpc-slow.log")"
grep -q "^ok unary beside a busy stream" "$T/grpc-slow.log" || fail "$(cat "$T/grpc-slow.log")"
ok "a busy, slowly read stream does not hold up unary calls on the same backend"

# Many check intervals later, the good HTTP/2 backend was never down.
! grep -q "backend 127.0.0.1:$B2 of lim.test is DOWN" "$T/tlsgate.log" ||
    fail "the live h2 backend was marked down: $(grep DOWN "$T/tlsgate.log")"
kill -0 "$TG_PID" || fail "tlsgate died"
FAILED=0
ok "88-h2-backend"
