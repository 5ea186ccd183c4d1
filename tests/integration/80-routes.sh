#!/bin/bash
# Routes: one site whose /api/ and / reach different pools, with longest
# prefix first (/api/v2 over /api/), whole-segment matching (/apiary is not
# /api/), a method filter (POST /api/ to its own pool), over HTTP/1.1 and
# HTTP/2. Each route's pool has its own health state: killing the /api/
# backend makes /api/ answer 503 while / and /api/v2 are still served, and
# a route whose checks accept only 204 takes its backend down (same address
# as the site's, which stays up) while one whose path answers 204 stays up.
# A reload that drops a route's backend drains it like a site's. /metrics and
# tlsgate status list route pools. Route config errors carry file:line:column.
. "$(dirname "$0")/lib.sh"
need curl

cert s ec r.test
PS=$(free_port); PA=$(free_port); PV=$(free_port); PP=$(free_port); PE=$(free_port)
P=$(free_port); PADM=$(free_port)
backend S http "$PS"; backend A http "$PA"; backend V http "$PV"; backend POST http "$PP"
start_httpecho E "$PE"
hc='"health": {"type": "http", "path": "/hc", "interval": 0.3, "timeout": 0.5, "rise": 1, "fall": 2'
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "log": {"level": "info"}, "admin": {"listen": "127.0.0.1:$PADM"},
 "sites": [{"names": ["r.test"], "backends": ["127.0.0.1:$PS"], $hc},
   "certificates": [{"cert": "s.pem", "key": "s.key"}],
   "routes": [
     {"path": "/api/", "methods": ["POST"], "backends": ["127.0.0.1:$PP"]},
     {"path": "/api/", "backends": ["127.0.0.1:$PA"],
      $hc, "status": "200-299", "host": "health.r.test"}},
     {"path": "/api/v2", "backends": ["127.0.0.1:$PV"]},
     {"path": "/bad/", "backends": ["127.0.0.1:$PS"], $hc, "status": "204"}},
     {"path": "/echo/", "backends": ["127.0.0.1:$PE"],
      "health": {"type": "http", "path": "/status/204", "status": "204", "interval": 0.3,
                 "timeout": 0.5, "rise": 1, "fall": 1}}]}]}
JSON
"$TLSGATE" check --config "$T/tlsgate.json" >/dev/null || fail "check: $("$TLSGATE" check --config "$T/tlsgate.json" 2>&1)"
start_tlsgate "$P" --config "$T/tlsgate.json"

# req VERSION METHOD PATH: "STATUS BODY" (the body is the backend's name).
req() {
	local out data=()
	[ "$2" = GET ] || data=(--data '')
	out=$(curl -sS --max-time 10 "$1" -X "$2" "${data[@]}" --cacert "$T/s.pem" \
	    --resolve "r.test:$P:127.0.0.1" -w ' %{http_code}' "https://r.test:$P$3")
	echo "${out##* } $(head -n 1 <<<"${out% *}")"
}
expect() { # VERSION METHOD PATH WANT
	local got
	got=$(req "$1" "$2" "$3")
	[ "$got" = "$4" ] || fail "$1 $2 $3: got \"$got\", want \"$4\""
}
wait_log "backend 127.0.0.1:$PS of r.test /bad/ is DOWN: HTTP 200" 20

for v in --http1.1 --http2; do
	expect $v GET / "200 S"
	expect $v GET /index.html "200 S"
	expect $v GET /api/users "200 A"
	expect $v GET "/api/?q=/api/v2/x" "200 A"
	expect $v GET /api/v2 "200 V"
	expect $v GET /api/v2/items "200 V"
	expect $v GET /api/v2x "200 A"
	expect $v GET /apiary "200 S"
	expect $v GET /api "200 S"
	expect $v POST /api/users "200 POST"
	expect $v PUT /api/users "200 A"
	expect $v GET /bad/x "503 503 SERVICE_UNAVAILABLE"
	got=$(req $v GET /echo/x)
	[[ "$got" == '200 {"name":"E",'* ]] || fail "$v GET /echo/x: got \"$got\""
done
# Checks answered 204 (the only status accepted there) keep /echo/ up.
grep -q "backend 127.0.0.1:$PE of r.test /echo/ is DOWN" "$T/tlsgate.log" &&
    fail "a check answered with the accepted 204 took /echo/ down"
[ "$(curl -sS "http://127.0.0.1:$PE/__stats" | sed 's/.*"requests": *\([0-9]*\).*/\1/')" -ge 3 ] ||
    fail "the /echo/ backend saw no checks"
ok "longest prefix on whole segments, method filter, site fallback (HTTP/1.1 and HTTP/2)"
ok "a route that accepts only 204 took 127.0.0.1:$PS down for /bad/ while the site kept it"

# metric_is LINE: /metrics on the admin listener has exactly this sample.
metric_is() {
	local m
	m=$(curl -sS --max-time 10 "http://127.0.0.1:$PADM/metrics") || fail "/metrics"
	grep -qxF "$1" <<<"$m" || fail "/metrics has no line: $1: $(grep backend_up <<<"$m")"
}
metric_is "tlsgate_backend_up{site=\"r.test\",route=\"/bad/\",backend=\"127.0.0.1:$PS\"} 0"
metric_is "tlsgate_backend_up{site=\"r.test\",backend=\"127.0.0.1:$PS\"} 1"
metric_is "tlsgate_backend_up{site=\"r.test\",route=\"/api/\",backend=\"127.0.0.1:$PA\"} 1"
ok "/metrics lists each route's pool with route=\"PATH\" and its own health"

kill "${PIDS[1]}"	# A
wait_log "backend 127.0.0.1:$PA of r.test /api/ is DOWN" 20
for v in --http1.1 --http2; do
	expect $v GET /api/users "503 503 SERVICE_UNAVAILABLE"
	expect $v GET / "200 S"
	expect $v GET /api/v2/items "200 V"
	expect $v POST /api/users "200 POST"
done
grep -q "backend 127.0.0.1:$PS of r.test is DOWN" "$T/tlsgate.log" &&
    fail "the site's backend was taken down with the route's"
metric_is "tlsgate_backend_up{site=\"r.test\",route=\"/api/\",backend=\"127.0.0.1:$PA\"} 0"
"$TLSGATE" status --config "$T/tlsgate.json" >"$T/status.out" || fail "tlsgate status"
grep -A1 -x "  route /api/v2" "$T/status.out" | grep -q "^    backend 127.0.0.1:$PV *up " ||
    fail "status: /api/v2's backend: $(cat "$T/status.out")"
grep -A1 -x "  route /api/" "$T/status.out" | grep -q "^    backend 127.0.0.1:$PA *DOWN " ||
    fail "status: /api/'s backend: $(cat "$T/status.out")"
ok "/api/ pool down: /api/ gets 503, / and /api/v2 still served; /metrics and status say so"

backend A2 http "$PA"
wait_log "backend 127.0.0.1:$PA of r.test /api/ is UP" 20
expect --http2 GET /api/users "200 A2"
metric_is "tlsgate_backend_up{site=\"r.test\",route=\"/api/\",backend=\"127.0.0.1:$PA\"} 1"
ok "the /api/ backend is back after its own check (and up in /metrics)"

# A reload that moves /api/v2 from V to S drains V as it would a site's
# backend; the site's own S and the other routes' backends stay.
sed -i "s|\"backends\": \\[\"127.0.0.1:$PV\"\\]|\"backends\": [\"127.0.0.1:$PS\"]|" "$T/tlsgate.json"
grep -q "127.0.0.1:$PV" "$T/tlsgate.json" && fail "config edit did not take"
kill -HUP "$TG_PID"
wait_log "backend 127.0.0.1:$PV of r.test /api/v2 removed: draining its [0-9]* connections" 30
wait_log "reload: done" 30
expect --http1.1 GET /api/v2/items "200 S"
grep -E "backend 127.0.0.1:($PS|$PA|$PP|$PE) of .* removed" "$T/tlsgate.log" &&
    fail "a reload marked a kept backend as removed"
ok "a reload that drops a route's backend drains it, like a site's"

# Errors name the file, line and column.
cat >"$T/bad.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "sites": [{"names": ["r.test"], "backends": ["127.0.0.1:$PS"],
   "certificates": [{"cert": "s.pem", "key": "s.key"}],
   "routes": [{"path": "/a/", "backends": ["127.0.0.1:$PA"]},
              {"path": "api", "backends": ["127.0.0.1:$PA"], "names": ["x.test"]}]}]}
JSON
out=$("$TLSGATE" check --config "$T/bad.json" 2>&1) && fail "bad routes accepted"
grep -q "bad.json:5:[0-9]*: sites\[0\].routes\[1\].path: expected a path starting with /" <<<"$out" ||
    fail "no positioned path error: $out"
grep -q "bad.json:5:[0-9]*: sites\[0\].routes\[1\].names: not a route key" <<<"$out" ||
    fail "no positioned key error: $out"
ok "route config errors carry file:line:column"
