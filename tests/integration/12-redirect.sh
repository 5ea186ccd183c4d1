#!/bin/bash
# Port 80 answers every request with a 308 to https://host/path (with the
# HTTPS port when it is not 443), and refuses a bad Host with 400.
. "$(dirname "$0")/lib.sh"
need curl openssl

cert s ec h.test
PB=$(free_port); P=$(free_port); PH=$(free_port)
backend H http "$PB"
start_tlsgate "$P" --https "127.0.0.1:$P" --http "127.0.0.1:$PH" \
    --site "h.test=127.0.0.1:$PB" --cert "h.test=$T/s.pem,$T/s.key" --mode h.test=tcp
wait_port "$PH"

hdrs=$(curl -sS -o /dev/null -D - -H "Host: h.test" "http://127.0.0.1:$PH/a/b?x=1&y=2")
grep -q "^HTTP/1.1 308" <<<"$hdrs" || fail "no 308: $hdrs"
grep -q "^Location: https://h.test:$P/a/b?x=1&y=2" <<<"$hdrs" || fail "bad Location: $hdrs"
ok "308 to https://h.test:$P/a/b?x=1&y=2"

hdrs=$(curl -sS -o /dev/null -D - -X POST -H "Host: h.test:80" "http://127.0.0.1:$PH/")
grep -q "^Location: https://h.test:$P/" <<<"$hdrs" || fail "port in Host not replaced: $hdrs"
ok "POST redirected too; the Host port is replaced"

code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Host: evil.test/x' "http://127.0.0.1:$PH/")
[ "$code" = 400 ] || fail "bad Host got $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Host:' "http://127.0.0.1:$PH/")
[ "$code" = 400 ] || fail "missing Host got $code"
ok "bad or missing Host: 400"

# Following the redirect lands on the site.
body=$(curl -sS -L --cacert "$T/s.pem" --resolve "h.test:$P:127.0.0.1" \
    --resolve "h.test:$PH:127.0.0.1" "http://h.test:$PH/")
[ "$body" = H ] || fail "redirect did not lead to the site: $body"
ok "curl -L from http reaches the backend over https"
