#!/bin/bash
# ACME, continued, against a real Pebble with 30% of nonces rejected:
# - badNonce is retried with the fresh nonce, and issuance still succeeds;
# - a wildcard name is validated over DNS-01 through the user's hook;
# - when the first challenge type fails (HTTP-01 with no port-80 listener),
#   the next one (TLS-ALPN-01) is tried and succeeds;
# - ARI: the directory's renewalInfo is read, and a renewal sends "replaces";
# - a CA that is down: tlsgate starts, serves what it has, and retries.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl

PEBBLE_NONCEREJECT=30 PEBBLE_ALTROOTS=1 start_pebble
# The alternate chain's root: tlsgate is told to prefer it.
curl -sS --cacert "$PEBBLE_CA" "https://127.0.0.1:$PEBBLE_MGMT/roots/1" >"$T/root1.pem"
ALT_CN=$(openssl x509 -in "$T/root1.pem" -noout -subject -nameopt multiline | sed -n 's/ *commonName *= //p')
[ -n "$ALT_CN" ] || fail "Pebble offers no alternate root"
grep -q renewalInfo "$T/directory.json" && ARI=1 || ARI=0
PB=$(free_port)
backend APP http "$PB"
cat >"$T/hook" <<HOOK
#!/bin/sh
# dns_hook: set|clear NAME VALUE, through pebble-challtestsrv's API.
echo "\$@" >>"$T/hook.calls"
case "\$1" in
set) curl -sS -X POST -d "{\"host\":\"\$2.\",\"value\":\"\$3\"}" http://127.0.0.1:$CHALL_MGMT/set-txt ;;
clear) curl -sS -X POST -d "{\"host\":\"\$2.\"}" http://127.0.0.1:$CHALL_MGMT/clear-txt ;;
esac
HOOK
chmod +x "$T/hook"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "dns_hook": "$T/hook", "preferred_chain": "$ALT_CN"},
 "sites": [
   {"mode": "tcp", "names": ["*.wild.test"], "backends": ["127.0.0.1:$PB"]
    , "acme": true},
   {"mode": "tcp", "names": ["fallback.test"], "backends": ["127.0.0.1:$PB"],
    "acme": {"challenges": ["http-01", "tls-alpn-01"]}}]}
JSON
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme \*.wild.test: new certificate in service" 90
wait_log "acme fallback.test: new certificate in service" 90
pebble_root "$T/root.pem"
get() { curl -sS --max-time 5 --cacert "$T/root.pem" --resolve "$1:$ACME_TLS_PORT:127.0.0.1" "https://$1:$ACME_TLS_PORT/"; }

[ "$(get a.wild.test)" = APP ] && fail "default chain served though an alternate was preferred"
get() { curl -sS --max-time 5 --cacert "$T/root1.pem" --resolve "$1:$ACME_TLS_PORT:127.0.0.1" "https://$1:$ACME_TLS_PORT/"; }
[ "$(get a.wild.test)" = APP ] || fail "wildcard certificate not served with the preferred chain"
ok "preferred chain: the alternate ending at \"$ALT_CN\" is served"
grep -q "^set _acme-challenge.wild.test " "$T/hook.calls" || fail "dns hook not called with set"
grep -q "^clear _acme-challenge.wild.test " "$T/hook.calls" || fail "dns hook not called with clear"
ok "wildcard over DNS-01 through the hook"

grep -q "acme fallback.test: http-01 failed" "$T/tlsgate.log" || fail "http-01 did not fail first"
grep -q "acme fallback.test: trying tls-alpn-01 next" "$T/tlsgate.log" || fail "no fallback"
[ "$(get fallback.test)" = APP ] || fail "fallback certificate not served"
ok "first challenge type failed, the next one succeeded"

grep -q "badNonce, retrying with the fresh nonce" "$T/tlsgate.log" ||
    fail "no badNonce seen or retried with 30% of nonces rejected"
ok "badNonce retried with the fresh nonce; issuance succeeded"

if [ "$ARI" = 1 ]; then
	grep -q "directory .* loaded (with ARI)" "$T/tlsgate.log" || fail "ARI not detected"
	"$TLSGATE" renew fallback.test --config "$T/tlsgate.json" >/dev/null
	n=$(grep -c "acme fallback.test: new certificate in service" "$T/tlsgate.log")
	wait_logn "acme fallback.test: new certificate in service" $((n + 1)) 60
	grep -q "acme fallback.test: new order replaces [A-Za-z0-9_-]*\.[A-Za-z0-9_-]* (ARI)" \
	    "$T/tlsgate.log" || fail "renewal order without replaces"
	ls "$T"/state/*/certs/fallback.test/ecdsa.json >/dev/null || fail "metadata missing"
	ok "ARI directory: renewal ordered with replaces and installed"
else
	echo "note: this Pebble has no renewalInfo (ARI checks skipped)"
fi

# The CA goes away: tlsgate keeps serving and logs the retry schedule.
kill "$TG_PID"; wait "$TG_PID" || true
mv "$T/tlsgate.log" "$T/tlsgate-1.log"
sed -i "s|$PEBBLE_DIR_URL|https://127.0.0.1:1/dir|" "$T/tlsgate.json"
# A new site under the dead CA gets nothing yet; nothing crashes.
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme: directory https://127.0.0.1:1/dir: .* retrying in 60s" 20
out=$(s_client "$ACME_TLS_PORT" -servername fallback.test)
grep -q "handshake failure\|unrecognized name\|alert" <<<"$out" ||
    fail "a site without a certificate under this CA should fail the handshake cleanly"
kill -0 "$TG_PID" || fail "tlsgate died with its CA down"
ok "CA down: tlsgate runs, fails handshakes for certificate-less sites cleanly, retries"
