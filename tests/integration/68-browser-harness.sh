#!/bin/bash
# The browser harness (lib-browser.sh) checked against what tlsgate does
# today: headless Chromium, trusting the test CA through its NSS database,
# loads tg_backend's /page through tlsgate with ALPN limited to http/1.1 and
# reports "http/1.1" from the page's own script. The same load without the CA
# in the database must fail (Chromium's certificate error page), so a broken
# trust setup cannot pass as a browser result. 67-browser-h2 builds on this.
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
 "sites": [{"names": ["page.test"], "backends": ["127.0.0.1:$PB"], "mode": "tcp", "alpn": ["http/1.1"],
            "certificates": [{"cert": "page.pem", "key": "page.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"

proto=$(browser_proto "$T/ca.pem" page.test "$P") || fail "the browser did not load /page"
[ "$proto" = http/1.1 ] || fail "nextHopProtocol: $proto, want http/1.1"
n=$(curl -sS --max-time 10 "http://127.0.0.1:$PB/__stats" | jq .requests)
[ "$n" -ge 2 ] || fail "the backend saw $((n - 1)) requests from the browser"
ok "Chromium trusting the test CA through NSS loaded /page over $proto"

if proto=$(browser_proto "" page.test "$P" 2>"$T/untrusted.err"); then
	fail "loaded without the CA in the NSS database (said $proto)"
fi
grep -q "ERR_CERT_AUTHORITY_INVALID" "$T/untrusted.err" ||
    fail "no certificate error without the CA: $(cat "$T/untrusted.err")"
ok "without the CA: refused ($(grep -o 'net::ERR_[A-Z_]*' "$T/untrusted.err"))"
