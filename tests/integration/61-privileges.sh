#!/bin/bash
# Started as root with a configured user, tlsgate binds its ports, hands the
# state directory over, and drops root for good: the process then runs with
# that uid, still serves, obtains a certificate from Pebble as that user, and
# the private keys it writes are mode 0600. Without a user it refuses to run
# as root unless the config says allow_root.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
id nobody >/dev/null 2>&1 || fail "no user nobody"

start_pebble
PB=$(free_port)
backend B http "$PB"
# A state directory the unprivileged user can reach.
S=$(mktemp -d /tmp/tlsgate-priv.XXXXXX)
chmod 711 "$S"
cp "$PEBBLE_CA" "$S/ca.pem"; chmod 644 "$S/ca.pem"
trap 'rm -rf "$S"' RETURN
cat >"$T/tlsgate.json" <<JSON
{"user": "nobody", "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$S/ca.pem", "state_dir": "$S/state"},
 "sites": [{"mode": "tcp", "names": ["priv.test"], "backends": ["127.0.0.1:$PB"], "acme": true}]}
JSON
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme priv.test: new certificate in service" 60
uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$TG_PID/status")
[ "$uid" = "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" ] ||
    fail "process uids are $uid, not nobody's"
grep -q "running as user nobody" "$T/tlsgate.log" || fail "drop not logged"
pebble_root "$T/root.pem"
body=$(curl -sS --cacert "$T/root.pem" --resolve "priv.test:$ACME_TLS_PORT:127.0.0.1" \
    "https://priv.test:$ACME_TLS_PORT/")
[ "$body" = B ] || fail "not serving after dropping privileges"
n=0
while IFS= read -r f; do
	n=$((n + 1))
	[ "$(stat -c '%a %U' "$f")" = "600 nobody" ] || fail "$f: $(stat -c '%a %U' "$f")"
done < <(find "$S/state" -name '*.pem' -o -name '*.key')
[ "$n" -ge 2 ] || fail "keys not found"
ok "runs as nobody (uid $(id -u nobody)), serves, keys 0600 owned by nobody"
kill "$TG_PID"; wait "$TG_PID" || true

# Root without a user, and without allow_root: refused.
sed -i 's/"user": "nobody", //' "$T/tlsgate.json"
if "$TLSGATE" run --config "$T/tlsgate.json" >"$T/root.log" 2>&1; then fail "ran as root"; fi
grep -q "refusing to run as root" "$T/root.log" || fail "no refusal message"
ok "refuses to keep running as root without allow_root"
rm -rf "$S"
