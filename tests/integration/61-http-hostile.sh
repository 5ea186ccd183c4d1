#!/bin/bash
# HTTP mode against hostile HTTP/1.1 input: every request-smuggling pattern
# gets 400 and a closed connection (and never reaches the backend), a 1 MB
# header gets 431, a slowloris drip gets 408 and is closed, and a legitimate
# client is served all along.
. "$(dirname "$0")/lib.sh"
need curl openssl timeout

cert s ec h.test
PB=$(free_port); P=$(free_port)
backend E httpecho "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 1,
 "limits": {"header_timeout": 2},
 "sites": [{"names": ["h.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"

# raw FILE: send FILE's bytes over TLS, print what comes back until the
# server closes (10 s at most).
raw() {
	timeout 10 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$P" \
	    -servername h.test -alpn http/1.1 <"$1" 2>/dev/null || true
}
legit() {
	curl -sS --http1.1 --cacert "$T/s.pem" --resolve "h.test:$P:127.0.0.1" \
	    -o /dev/null -w '%{http_code}' "https://h.test:$P/legit"
}
stats() { curl -sS "http://127.0.0.1:$PB/__stats" | sed 's/.*"requests":\([0-9]*\).*/\1/'; }

i=0
check() {
	local code=$1 what=$2 req=$3 out before after
	i=$((i + 1))
	printf '%b' "$req" >"$T/req$i"
	before=$(stats)
	out=$(raw "$T/req$i")
	after=$(stats)
	head -n1 <<<"$out" | grep -q "^HTTP/1.1 $code" || fail "$what: not $code: $(head -n3 <<<"$out")"
	grep -qi '^connection: close' <<<"$out" || fail "$what: connection not closed"
	# Only the stats request itself reached the backend.
	[ "$after" = $((before + 1)) ] || fail "$what: reached the backend ($before -> $after)"
	[ "$(legit)" = 200 ] || fail "legitimate client not served after $what"
	ok "$what: $code, closed, nothing reached the backend"
}
check400() { check 400 "$@"; }

H='POST / HTTP/1.1\r\nHost: h.test\r\n'
check400 "Content-Length with Transfer-Encoding" \
    "${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h.test\r\n\r\n"
check400 "two different Content-Lengths" "${H}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"
check400 "duplicate Content-Length" "${H}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd"
check400 "invalid Content-Length" "${H}Content-Length: 4x\r\n\r\nabcd"
check400 "Content-Length list" "${H}Content-Length: 4, 4\r\n\r\nabcd"
check400 "Transfer-Encoding not ending in chunked" "${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"
check400 "obs-fold" "GET / HTTP/1.1\r\nHost: h.test\r\nX-A: 1\r\n  folded\r\n\r\n"
check400 "bare CR in a field" "GET / HTTP/1.1\r\nHost: h.test\r\nX-A: 1\rX-B: 2\r\n\r\n"
check400 "bare LF line end" "GET / HTTP/1.1\nHost: h.test\n\n"
check400 "space before the colon" "GET / HTTP/1.1\r\nHost: h.test\r\nX-A : 1\r\n\r\n"
check400 "no Host" "GET / HTTP/1.1\r\n\r\n"
check400 "two Hosts" "GET / HTTP/1.1\r\nHost: h.test\r\nHost: evil.test\r\n\r\n"
check 421 "absolute form naming another host" "GET http://evil.test/ HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n"

# A value that arrives in two reads, the second starting with a space, is
# not obs-fold.
( printf 'GET /split HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\nX-A: a'; sleep 0.3
  printf ' b\r\n\r\n'; sleep 5 ) | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$P" \
    -servername h.test -alpn http/1.1 >"$T/split.out" 2>/dev/null || true
head -n1 "$T/split.out" | grep -q '^HTTP/1.1 200' || fail "split value: $(head -n1 "$T/split.out")"
grep -q '"x-a","a b"' "$T/split.out" || fail "split value changed: $(tail -n1 "$T/split.out")"
ok "a field value split across reads is joined, not taken for obs-fold"

# A 1 MB header: 431 (or a closed connection), the worker unharmed.
{ printf 'GET / HTTP/1.1\r\nHost: h.test\r\nX-Big: '; head -c 1048576 /dev/zero | tr '\0' a
  printf '\r\n\r\n'; } >"$T/big"
out=$(raw "$T/big")
if [ -n "$out" ]; then
	head -n1 <<<"$out" | grep -q '^HTTP/1.1 431' || fail "1 MB header: $(head -n1 <<<"$out")"
fi
grep -q 'status=431 .*why=request\\x20header\\x20too\\x20large' "$T/tlsgate.log" ||
    fail "431 not logged"
[ "$(legit)" = 200 ] || fail "legitimate client not served after the 1 MB header"
ok "a 1 MB header: 431"

# Slowloris: a request head dripping one field every half second gets 408
# once limits.header_timeout (2 s) is up, and the connection is closed,
# while a legitimate client is served meanwhile.
( printf 'GET / HTTP/1.1\r\nHost: h.test\r\n'
  for n in $(seq 1 40); do printf 'X-%d: 1\r\n' "$n"; sleep 0.5; done ) |
    timeout 30 openssl s_client -quiet -connect "127.0.0.1:$P" -servername h.test \
    -alpn http/1.1 >"$T/drip.out" 2>/dev/null &
DRIP=$!
for _ in $(seq 1 5); do [ "$(legit)" = 200 ] || fail "legitimate client not served during the drip"; done
wait_log 'status=408 .*why=request\\x20head\\x20timed\\x20out' 30
head -n1 "$T/drip.out" | grep -q '^HTTP/1.1 408' || fail "drip: $(head -n1 "$T/drip.out")"
kill "$DRIP" 2>/dev/null || true
ok "slowloris: 408 after the header timeout, legitimate clients served meanwhile"
