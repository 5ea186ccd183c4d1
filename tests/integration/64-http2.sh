#!/bin/bash
# HTTP/2 to clients (terminator/http/h2.c): a site in HTTP mode in front of
# an HTTP/1.1 backend, checked with curl --http2, nghttp and h2load. h2 is
# negotiated by ALPN, every request gets the backend's 200, a Host naming
# another site gets 421, and 1,000 requests over 4 connections with 100
# streams each all succeed.
. "$(dirname "$0")/lib.sh"
need openssl curl nghttp h2load

cert front ec h2.test
PB=$(free_port); P=$(free_port)
backend be1 http "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "sites": [
 {"names": ["h2.test"], "default": true, "backends": ["127.0.0.1:$PB"],
  "certificates": [{"cert": "front.pem", "key": "front.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
URL="https://h2.test:$P"
CURL=(curl -sS --max-time 20 --cacert "$T/front.pem" --resolve "h2.test:$P:127.0.0.1")

# curl: h2 negotiated, the backend's answer.
out=$("${CURL[@]}" --http2 -o "$T/body" -w '%{http_version} %{http_code}' "$URL/a")
[ "$out" = "2 200" ] || fail "curl --http2: $out"
grep -q be1 "$T/body" || fail "curl --http2: body: $(cat "$T/body")"
ok "curl --http2: h2, 200 from the backend"
# A Host of no site of ours.
out=$("${CURL[@]}" --http2 -H "Host: other.test" -o /dev/null -w '%{http_version} %{http_code}' "$URL/")
[ "$out" = "2 421" ] || fail "Host/SNI mismatch: $out"
ok "421 for a Host the SNI's site does not have"
# Several requests on one connection, HEAD without a body.
out=$("${CURL[@]}" --http2 -w "%{http_code} " -o /dev/null "$URL/1" -o /dev/null "$URL/2" -o /dev/null "$URL/3")
[ "$out" = "200 200 200 " ] || fail "three on one connection: $out"
out=$("${CURL[@]}" --http2 -I -w '%{http_code}' -o "$T/head" "$URL/h")
[ "$out" = 200 ] || fail "HEAD: $out"

# nghttp: no SNI (an address), so the default site routes by :authority.
timeout 30 nghttp -nv -H ":authority: h2.test" "https://127.0.0.1:$P/n" >"$T/nghttp.log" 2>&1 ||
    fail "nghttp failed: $(tail -5 "$T/nghttp.log")"
grep -q "h2 is negotiated\|negotiated protocol: h2" "$T/nghttp.log" || fail "nghttp: no h2"
grep -q ":status: 200" "$T/nghttp.log" || fail "nghttp: no 200"
ok "nghttp -nv: h2, 200"

# h2load: 1,000 requests, 4 connections, 100 streams each.
timeout 120 h2load -n 1000 -c 4 -m 100 -H ":authority: h2.test" "https://127.0.0.1:$P/l" \
    >"$T/h2load.log" 2>&1 || fail "h2load failed: $(tail -5 "$T/h2load.log")"
grep -q "Application protocol: h2" "$T/h2load.log" || fail "h2load: not h2"
grep -q "requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, 0 failed, 0 errored" \
    "$T/h2load.log" || fail "h2load: $(grep requests: "$T/h2load.log")"
grep -q "status codes: 1000 2xx, 0 3xx, 0 4xx, 0 5xx" "$T/h2load.log" ||
    fail "h2load: $(grep 'status codes' "$T/h2load.log")"
ok "h2load: 1000 requests, 1000 2xx over h2"

# The worker is still serving, and nothing crashed.
out=$("${CURL[@]}" --http2 -o /dev/null -w '%{http_version} %{http_code}' "$URL/end")
[ "$out" = "2 200" ] || fail "after the load: $out"
kill -0 "$TG_PID" || fail "tlsgate died"
FAILED=0
ok "62-http2"
