#!/bin/bash
# HTTP mode keeps backend connections open and reuses them across clients:
# 1,000 requests over 10 client connections (HTTP/1.1, then HTTP/2) reach the
# backend over a handful of connections, counted by the backend itself and
# by /metrics. A reused connection that the backend closed while idle is
# replaced without the client seeing an error. On SIGTERM, idle keep-alive
# clients do not hold the drain up.
. "$(dirname "$0")/lib.sh"
need curl h2load jq

cert s ec h.test
PB=$(free_port); P=$(free_port); PA=$(free_port)
backend E httpecho "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 2,
 "admin": {"listen": "127.0.0.1:$PA"},
 "limits": {"max_connections_per_client": 0, "handshake_rate_per_client": 0,
            "drain_timeout": 120},
 "sites": [{"names": ["h.test"], "backends": ["127.0.0.1:$PB"], "default": true,
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
conns() { curl -sS "http://127.0.0.1:$PB/__stats" | jq -r .conns; }
metric() { curl -sS "http://127.0.0.1:$PA/metrics" | awk -v k="$1" 'index($0, k) == 1 {print $2}'; }

before=$(conns)
h2load --h1 -n 1000 -c 10 "https://127.0.0.1:$P/x" >"$T/h1.out" 2>&1 ||
    fail "h2load --h1: $(tail -n 5 "$T/h1.out")"
grep -q '1000 succeeded' "$T/h1.out" || fail "h2load --h1: $(grep requests: "$T/h1.out")"
grep -q 'status codes: 1000 2xx' "$T/h1.out" || fail "h2load --h1: $(grep 'status codes' "$T/h1.out")"
used=$(( $(conns) - before - 1 ))
# 10 clients at once need at most 10 backend connections per worker.
[ "$used" -le 20 ] || fail "1,000 HTTP/1.1 requests used $used backend connections"
ok "1,000 HTTP/1.1 requests over 10 connections: $used backend connections"

before=$(conns)
h2load -n 1000 -c 10 -m 1 "https://127.0.0.1:$P/y" >"$T/h2.out" 2>&1 ||
    fail "h2load: $(tail -n 5 "$T/h2.out")"
grep -q 'Application protocol: h2' "$T/h2.out" || fail "h2 not negotiated: $(cat "$T/h2.out")"
grep -q 'status codes: 1000 2xx' "$T/h2.out" || fail "h2load: $(grep 'status codes' "$T/h2.out")"
used=$(( $(conns) - before - 1 ))
[ "$used" -le 20 ] || fail "1,000 HTTP/2 requests used $used backend connections"
ok "1,000 HTTP/2 requests over 10 connections: $used new backend connections"
# With 10 streams each at once, up to 100 requests are in flight: all succeed.
h2load -n 1000 -c 10 -m 10 "https://127.0.0.1:$P/y" >"$T/h2m.out" 2>&1 ||
    fail "h2load -m 10: $(tail -n 5 "$T/h2m.out")"
grep -q 'status codes: 1000 2xx' "$T/h2m.out" || fail "h2load -m 10: $(grep 'status codes' "$T/h2m.out")"
ok "1,000 HTTP/2 requests, 100 at a time: all 2xx"

reuses=$(metric 'tlsgate_backend_pool_reuses_total{site="h.test"')
[ "${reuses:-0}" -ge 1900 ] || fail "reuses in /metrics: $reuses"
idle=$(metric 'tlsgate_backend_pool_connections{site="h.test",backend="127.0.0.1:'"$PB"'",state="idle"}')
[ "${idle:-0}" -ge 1 ] || fail "no idle pooled connection in /metrics: $idle"
n2xx=$(metric 'tlsgate_http_requests_total{site="h.test",code="2xx"}')
[ "${n2xx:-0}" -ge 3000 ] || fail "2xx requests in /metrics: $n2xx"
ok "/metrics: $reuses reuses, $idle idle, $n2xx 2xx requests"

# The backend drops its idle connections (a restart of the app, say): the
# next requests still succeed, over new connections.
kill "${PIDS[0]}"
wait "${PIDS[0]}" 2>/dev/null || true
"$TG_BACKEND" --listen "127.0.0.1:$PB" --mode httpecho --name E2 >"$T/backend-E2.log" 2>&1 &
PIDS+=($!)
wait_port "$PB"
for i in $(seq 1 20); do
	code=$(curl -sS --http1.1 --cacert "$T/s.pem" --resolve "h.test:$P:127.0.0.1" \
	    -o /dev/null -w '%{http_code}' "https://h.test:$P/after")
	[ "$code" = 200 ] || fail "request $i after the backend restart: $code"
done
ok "after the backend dropped its pooled connections, 20 requests all succeed"

# A reload that moves the site to another backend: a keep-alive client still
# on the old configuration is closed once idle (it would otherwise go on
# using the old backends for as long as it stays), and new requests reach
# the new backend.
( printf 'GET /old HTTP/1.1\r\nHost: h.test\r\n\r\n'; sleep 60 ) |
    openssl s_client -quiet -connect "127.0.0.1:$P" -servername h.test -alpn http/1.1 \
    >"$T/old.out" 2>/dev/null &
OLD=$!
PIDS+=($OLD)
wait_log 'path=/old'
PB2=$(free_port)
"$TG_BACKEND" --listen "127.0.0.1:$PB2" --mode httpecho --name NEW >"$T/backend-NEW.log" 2>&1 &
PIDS+=($!)
wait_port "$PB2"
sed -i "s/127.0.0.1:$PB\"/127.0.0.1:$PB2\"/" "$T/tlsgate.json"
kill -HUP "$TG_PID"
wait_log 'reload: done'
for _ in $(seq 1 200); do kill -0 "$OLD" 2>/dev/null || break; sleep 0.1; done
kill -0 "$OLD" 2>/dev/null && fail "a keep-alive client on the old configuration was not closed"
grep -q '^HTTP/1.1 200' "$T/old.out" || fail "the old client's request was not answered"
name=$(curl -sS --http2 --cacert "$T/s.pem" --resolve "h.test:$P:127.0.0.1" \
    "https://h.test:$P/new" | jq -r .name)
[ "$name" = NEW ] || fail "after the reload, answered by $name"
ok "reload: keep-alive clients of the old configuration closed, new requests on the new backend"

# SIGTERM with idle keep-alive clients: they are closed, not waited for.
# (drain_timeout is 120 s: an exit within 60 s was not waiting for them.)
( printf 'GET /keep HTTP/1.1\r\nHost: h.test\r\n\r\n'; sleep 100 ) |
    openssl s_client -quiet -connect "127.0.0.1:$P" -servername h.test -alpn http/1.1 \
    >"$T/keep.out" 2>/dev/null &
PIDS+=($!)
wait_log 'path=/keep'
kill -TERM "$TG_PID"
for _ in $(seq 1 600); do kill -0 "$TG_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$TG_PID" 2>/dev/null && fail "tlsgate still draining idle keep-alive clients"
grep -q '^HTTP/1.1 200' "$T/keep.out" || fail "the idle client's request was not answered"
ok "SIGTERM: idle keep-alive clients do not hold the drain"
