#!/bin/bash
# On-demand certificates follow use: Pebble issues 20-second certificates; a
# name used all along is renewed (a new certificate served, without a new
# handshake waiting), a name used once and then left alone is not renewed
# once left alone: its ACME job is dropped when it has been unused for
# on_demand.renew_if_used_within, and once its certificate has expired the
# sweep deletes it from the store (certificate and index entry). A first
# handshake whose certificate is not ready within on_demand.handshake_wait
# ends with an unrecognized_name alert, not a bare close.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl
: "${TG_ASK:?}"

start_pebble ', "certificateValidityPeriod": 20'
pebble_root "$T/root.pem"
PB=$(free_port); AP=$(free_port)
start_httpecho APP "$PB"
"$TG_ASK" --listen "127.0.0.1:$AP" --allow .ok.test --slow .slow.test >"$T/ask.log" 2>&1 &
PIDS+=($!)
wait_port "$AP"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "retry_base": 1},
 "on_demand": {"ask": "http://127.0.0.1:$AP/ask", "renew_if_used_within": 5,
               "handshake_wait": 2, "ask_timeout": 15,
               "sweep_interval": 1, "site": {"backends": ["127.0.0.1:$PB"]}}}
JSON
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
fp() { "$TG_CLIENT" info --connect "127.0.0.1:$ACME_TLS_PORT" --sni "$1" --ca "$T/root.pem" |
    sed 's/.*fp=\([0-9a-f]*\).*/\1/'; }
# handshake_wait is 2 s here: a first handshake may time out on a slow
# machine, and then the client's next attempt gets the certificate.
get() {
	curl -sS --max-time 60 --retry 30 --retry-all-errors --retry-delay 1 \
	    --cacert "$T/root.pem" --resolve "$1:$ACME_TLS_PORT:127.0.0.1" \
	    -o /dev/null "https://$1:$ACME_TLS_PORT/" 2>/dev/null
}
get used.ok.test || fail "used.ok.test: first handshake"
get idle.ok.test || fail "idle.ok.test: first handshake"
first=$(fp used.ok.test)
dir=$(echo "$T"/state/*/)
[ -f "$dir/on-demand/idle.ok.test" ] && [ -d "$dir/certs/idle.ok.test" ] || fail "idle.ok.test not stored"

# used.ok.test every half second; idle.ok.test never again.
deadline=$((SECONDS + 60))
seen="$first"
until [ -n "$(grep "on-demand: idle.ok.test unused and expired: deleted" "$T/tlsgate.log")" ] &&
    [ "$(sort -u <<<"$seen" | wc -l)" -ge 2 ]; do
	[ $SECONDS -lt $deadline ] || fail "in 60 s: $(sort -u <<<"$seen" | wc -l) certificates for used.ok.test; idle.ok.test deleted: $(grep -c 'idle.ok.test unused and expired' "$T/tlsgate.log")"
	get used.ok.test || fail "used.ok.test failed while in use"
	seen+=$'\n'"$(fp used.ok.test)"
	sleep 0.5
done
ok "used.ok.test renewed while in use ($(sort -u <<<"$seen" | grep -c .) certificates served)"
grep -q "acme idle.ok.test: on-demand ecdsa job dropped" "$T/tlsgate.log" || fail "idle.ok.test's job was not dropped"
# A renewal while the name still counted as used (the first seconds) is
# fine; none after its job was dropped.
drop=$(grep -n "acme idle.ok.test: on-demand ecdsa job dropped" "$T/tlsgate.log" | head -1 | cut -d: -f1) || true
last=$(grep -n "acme idle.ok.test: renewing" "$T/tlsgate.log" | tail -1 | cut -d: -f1) || true
[ -z "$last" ] || [ "$last" -lt "$drop" ] || fail "idle.ok.test was renewed after it was left unused"
[ ! -e "$dir/on-demand/idle.ok.test" ] && [ ! -e "$dir/certs/idle.ok.test" ] ||
    fail "idle.ok.test still in the store"
[ -f "$dir/on-demand/used.ok.test" ] && [ -d "$dir/certs/used.ok.test" ] || fail "used.ok.test gone from the store"
ok "idle.ok.test: its job dropped when unused, not renewed since, deleted from the store once expired"

# A certificate not ready in time: the paused handshake ends with an alert.
out=$(s_client "$ACME_TLS_PORT" -servername late.slow.test)
grep -qi "unrecognized name" <<<"$out" || { echo "$out" | head -20; fail "no unrecognized_name alert after handshake_wait"; }
wait_log "late.slow.test not ready in time" 10
grep -q "sni=late.slow.test .*close=handshake-timeout" "$T/tlsgate.log" || fail "not logged as a handshake timeout"
ok "a certificate not ready within handshake_wait: unrecognized_name alert, logged as a handshake timeout"
