#!/bin/bash
# Issue 12, "a real browser": headless Chromium, trusting the test CA through
# an NSS database (lib-browser.sh; never by ignoring certificate errors),
# loads a page through a site in HTTP mode, and the page's own script reports
# performance.getEntries()[0].nextHopProtocol == "h2". The backend is
# tg_backend --mode httpecho, which speaks HTTP/1.1 only, so h2 at the browser
# means tlsgate's HTTP engine terminated HTTP/2 and forwarded the request over
# HTTP/1.1 (68-browser-harness checks the harness itself, including that it
# fails when the CA is not trusted).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-browser.sh"
need curl jq

MK="$(dirname "$TG_BACKEND")/tg_mkcert"
[ -x "$MK" ] || fail "no tg_mkcert next to $TG_BACKEND"
"$MK" "$T/ca" --cn "Browser Test CA" --ca
"$MK" "$T/page" --names page.test --issuer "$T/ca"
PB=$(free_port); P=$(free_port)
start_httpecho E "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "sites": [{"names": ["page.test"], "mode": "http", "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "page.pem", "key": "page.key"}]}]}
JSON
"$TLSGATE" check --config "$T/tlsgate.json" >"$T/check.log" 2>&1 ||
    fail "tlsgate refuses a site with \"mode\": \"http\": $(cat "$T/check.log")"
start_tlsgate "$P" --config "$T/tlsgate.json"

before=$(curl -sS --max-time 10 "http://127.0.0.1:$PB/__stats" | jq .requests)
proto=$(browser_proto "$T/ca.pem" page.test "$P") || fail "the browser did not load /page"
[ "$proto" = h2 ] || fail "nextHopProtocol: $proto, want h2"
after=$(curl -sS --max-time 10 "http://127.0.0.1:$PB/__stats" | jq .requests)
[ "$after" -ge $((before + 2)) ] ||
    fail "the HTTP/1.1 backend saw $((after - before - 1)) requests from the browser"
ok "Chromium loaded /page over $proto through HTTP mode to an HTTP/1.1 backend ($((after - before - 1)) backend requests)"
