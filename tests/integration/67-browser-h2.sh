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

# Issue 18: Chromium offers X25519MLKEM768 (on by default since Chrome 131)
# and an AWS-LC build takes it; the log line of the browser's connection
# names the group.
if "$TLSGATE" version | grep -q '^AWS-LC '; then
	wait_log 'sni=page.test .*tls=TLSv1.3 group='
	grep -o 'sni=page.test .*tls=TLSv1.3 group=[^ ]*' "$T/tlsgate.log" | head -3 >&2 || true
	grep -q 'sni=page.test alpn=h2 tls=TLSv1.3 group=X25519MLKEM768 ' "$T/tlsgate.log" ||
	    fail "Chromium's connection did not use X25519MLKEM768: $(grep -o 'sni=page.test.*group=[^ ]*' "$T/tlsgate.log" | head -1)"
	ok "Chromium negotiated X25519MLKEM768 with tlsgate"
fi
