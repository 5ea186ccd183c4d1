#!/bin/bash
# HTTP mode end to end, over HTTP/1.1 and HTTP/2 with curl: the fields a
# backend needs reach it (X-Forwarded-*, Forwarded, X-Request-ID, the
# client's Host), spoofed forwarding fields from an untrusted client are
# removed and a trusted proxy's are extended, hop-by-hop fields stop at
# tlsgate, HSTS is added, a Host/SNI mismatch gets 421, a dead backend 502,
# no backend up 503, a slow one 504, and request bodies arrive whole.
. "$(dirname "$0")/lib.sh"
need curl jq openssl sha256sum

cert s ec h.test f.test down.test slow.test
PB=$(free_port); P=$(free_port); PDEAD=$(free_port)
backend E httpecho "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "http": {"trusted_proxies": ["127.0.0.2/32"]},
 "sites": [
  {"names": ["h.test"], "backends": ["127.0.0.1:$PB"], "default": true,
   "certificates": [{"cert": "s.pem", "key": "s.key"}],
   "hsts": {"max_age": 31536000, "include_subdomains": true}},
  {"names": ["f.test"], "backends": ["127.0.0.1:$PB"],
   "certificates": [{"cert": "s.pem", "key": "s.key"}],
   "http": {"forwarded": "forwarded"}},
  {"names": ["down.test"], "backends": ["127.0.0.1:$PDEAD"],
   "certificates": [{"cert": "s.pem", "key": "s.key"}]},
  {"names": ["slow.test"], "backends": ["127.0.0.1:$PB"],
   "certificates": [{"cert": "s.pem", "key": "s.key"}],
   "http": {"backend_timeout": 1}}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"

# req HOST PATH [CURL ARGS...]: an HTTPS request to HOST through tlsgate.
req() {
	local host=$1 path=$2; shift 2
	curl -sS --cacert "$T/s.pem" --resolve "$host:$P:127.0.0.1" "$@" \
	    "https://$host:$P$path"
}
# field JSON NAME: the value of the echoed request field NAME (lowercase).
field() { jq -r --arg n "$2" '[.headers[] | select((.[0] | ascii_downcase) == $n) | .[1]] | join("|")' <<<"$1"; }

for v in --http1.1 --http2; do
	out=$(req h.test /x?y=1 "$v" -H 'X-Forwarded-For: 6.6.6.6' \
	    -H 'X-Forwarded-Host: evil.test' -H 'Forwarded: for=6.6.6.6' \
	    -H 'X-Request-ID: abc-123_x' -D "$T/h.txt")
	[ "$(jq -r .path <<<"$out")" = "/x?y=1" ] || fail "$v: path: $out"
	[ "$(field "$out" host)" = "h.test:$P" ] || fail "$v: Host: $out"
	[ "$(field "$out" x-forwarded-for)" = 127.0.0.1 ] || fail "$v: XFF: $out"
	[ "$(field "$out" x-forwarded-proto)" = https ] || fail "$v: XFP: $out"
	[ "$(field "$out" x-forwarded-host)" = "h.test:$P" ] || fail "$v: XFH: $out"
	[ "$(field "$out" forwarded)" = "" ] || fail "$v: spoofed Forwarded kept: $out"
	[ "$(field "$out" x-request-id)" = abc-123_x ] || fail "$v: request id: $out"
	[ "$(field "$out" content-length)" = "" ] || fail "$v: a GET got a content-length: $out"
	grep -qi '^strict-transport-security: max-age=31536000; includeSubDomains' "$T/h.txt" ||
	    fail "$v: no HSTS: $(cat "$T/h.txt")"
	grep -q 'rid=abc-123_x' "$T/tlsgate.log" || fail "$v: request id not logged"
	ok "$v: X-Forwarded-*, Host, path, request id and HSTS; spoofed fields removed"
done
grep -q 'proto=h2 status=200' "$T/tlsgate.log" || fail "no h2 request in the access log"
grep -q 'proto=http/1.1 status=200' "$T/tlsgate.log" || fail "no http/1.1 request logged"

# A generated request id: 32 hex digits, the same in the log.
out=$(req h.test /gen --http1.1 -H 'X-Request-ID: bad id with spaces')
rid=$(field "$out" x-request-id)
[[ "$rid" =~ ^[0-9a-f]{32}$ ]] || fail "generated request id: $rid"
grep -q "path=/gen .*rid=$rid" "$T/tlsgate.log" || fail "generated id not logged"
ok "an invalid X-Request-ID is replaced by a generated one, logged"

# A trusted proxy (127.0.0.2): its X-Forwarded-For is extended, its
# X-Forwarded-Proto and -Host kept.
out=$(curl -sS --cacert "$T/s.pem" --resolve "h.test:$P:127.0.0.1" --interface 127.0.0.2 \
    -H 'X-Forwarded-For: 198.51.100.7' -H 'X-Forwarded-Host: www.example' \
    "https://h.test:$P/t")
[ "$(field "$out" x-forwarded-for)" = "198.51.100.7, 127.0.0.2" ] ||
    fail "trusted XFF not extended: $out"
[ "$(field "$out" x-forwarded-host)" = www.example ] || fail "trusted XFH: $out"
ok "a trusted proxy's X-Forwarded-For is extended"

# RFC 7239 Forwarded on f.test, and no X-Forwarded-*.
out=$(req f.test /f --http2 -H 'X-Forwarded-For: 6.6.6.6')
[ "$(field "$out" forwarded)" = "for=127.0.0.1;proto=https;host=\"f.test:$P\"" ] ||
    fail "Forwarded: $out"
[ "$(field "$out" x-forwarded-for)" = "" ] || fail "XFF with forwarded style: $out"
ok "Forwarded (RFC 7239) instead of X-Forwarded-*"

# Hop-by-hop fields stop at tlsgate, with the ones Connection names.
out=$(req h.test /hop --http1.1 -H 'Connection: keep-alive, X-Secret' -H 'X-Secret: 1' \
    -H 'Keep-Alive: timeout=5' -H 'Proxy-Authorization: Basic eA==' -H 'X-Kept: yes')
for f in connection x-secret keep-alive proxy-authorization; do
	[ "$(field "$out" $f)" = "" ] || fail "hop-by-hop $f reached the backend: $out"
done
[ "$(field "$out" x-kept)" = yes ] || fail "end-to-end field lost: $out"
ok "hop-by-hop fields removed, end-to-end ones kept"

# Bodies: Content-Length and chunked uploads arrive whole.
head -c 300000 /dev/urandom >"$T/body"
sum=$(sha256sum "$T/body" | cut -c1-64)
for v in --http1.1 --http2; do
	out=$(req h.test /up "$v" --data-binary "@$T/body")
	[ "$(jq -r .body_sha256 <<<"$out")" = "$sum" ] || fail "$v: body changed: $out"
	out=$(req h.test /up "$v" -H 'Transfer-Encoding: chunked' --data-binary "@$T/body")
	[ "$(jq -r .body_sha256 <<<"$out")" = "$sum" ] || fail "$v: chunked body changed"
done
n=$(req h.test /bytes/1000000 --http2 | wc -c)
[ "$n" = 1000000 ] || fail "1 MB response: $n bytes"
ok "uploads (length and chunked) and a 1 MB download arrive whole"

# 421: the Host names no name of the site the SNI chose.
for v in --http1.1 --http2; do
	code=$(req h.test / "$v" -o /dev/null -w '%{http_code}' -H 'Host: f.test')
	[ "$code" = 421 ] || fail "$v: Host/SNI mismatch got $code"
done
grep -q 'status=421 .*err=misdirected' "$T/tlsgate.log" || fail "421 not logged"
ok "421 on a Host/SNI mismatch"

# No SNI (the default site's certificate): routed by Host. f.test's
# Forwarded style shows which site answered.
out=$(curl -sS -k --http1.1 -H 'Host: f.test' "https://127.0.0.1:$P/nosni")
[ "$(jq -r .path <<<"$out")" = /nosni ] || fail "no SNI: not routed by Host: $out"
[ -n "$(field "$out" forwarded)" ] || fail "no SNI: not f.test's settings: $out"
ok "without SNI, the Host chooses the site"

# 502 (nothing listens), 503 (every backend down), 504 (no answer in time).
code=$(req down.test / --http1.1 -o "$T/b" -w '%{http_code}')
[ "$code" = 502 ] || fail "dead backend got $code"
grep -q 'status=502 .*err=connect-failed' "$T/tlsgate.log" || fail "502 reason not logged"
code=$(req h.test /drop --http2 -o /dev/null -w '%{http_code}')
[ "$code" = 502 ] || fail "backend closing without answer got $code"
ok "502 when the backend is dead or hangs up"
# Passive health marks the dead backend down after a few failed connects:
# then there is no backend to try at all.
for _ in $(seq 1 10); do
	code=$(req down.test / --http2 -o /dev/null -w '%{http_code}')
	[ "$code" = 503 ] && break
done
[ "$code" = 503 ] || fail "no 503 once the only backend is down (last: $code)"
grep -q 'status=503 .*err=no-backend' "$T/tlsgate.log" || fail "503 not logged"
ok "503 when every backend is down"
code=$(req slow.test /delay/3000 --http1.1 -o /dev/null -w '%{http_code}')
[ "$code" = 504 ] || fail "slow backend got $code"
grep -q 'status=504 .*err=backend-timeout' "$T/tlsgate.log" || fail "504 not logged"
ok "504 when the backend does not answer in time"

# Every request of this test has its access-log line, and metrics count them.
n=$(grep -c '^<6>http ' "$T/tlsgate.log")
[ "$n" -ge 20 ] || fail "only $n access-log lines"
ok "$n access-log lines"
