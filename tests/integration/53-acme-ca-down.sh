#!/bin/bash
# The ACME server goes away: tlsgate keeps serving what it has and backs off.
# When the server comes back (a new Pebble: new root, no memory of our
# account), the pending renewal completes by itself.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl

start_pebble
PB=$(free_port)
backend APP http "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "retry_base": 1},
 "sites": [{"mode": "tcp", "names": ["down.test"], "backends": ["127.0.0.1:$PB"], "acme": true}]}
JSON
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme down.test: new certificate in service" 60
pebble_root "$T/root1.pem"
get() { curl -sS --max-time 5 --cacert "$1" --resolve "down.test:$ACME_TLS_PORT:127.0.0.1" "https://down.test:$ACME_TLS_PORT/"; }
[ "$(get "$T/root1.pem")" = APP ] || fail "not served"

# Stop Pebble (and its DNS), then ask for a renewal.
for p in "${PIDS[@]}"; do
	if grep -q "pebble" "/proc/$p/cmdline" 2>/dev/null; then kill "$p"; wait "$p" || true; fi
done
"$TLSGATE" renew down.test --config "$T/tlsgate.json" >/dev/null
wait_log "acme down.test: attempt 1 failed" 20
# The second step (10 s, or 100 s) lengthened by jitter of up to half of it.
wait_log "acme down.test: attempt 2 failed: .*next try in 1[0-4][0-9]s\|acme down.test: attempt 2 failed: .*next try in 1[0-4]s" 30
[ "$(get "$T/root1.pem")" = APP ] || fail "stopped serving while the CA is down"
ok "CA down: failures back off (1 s, 10 s with retry_base 1) and the old certificate serves"

# Bring a new Pebble up on the same ports (PP etc. are reused).
bin=$(pebble_bin)
"$bin/pebble-challtestsrv" -management "127.0.0.1:$CHALL_MGMT" -dns01 "127.0.0.1:$PDNS" \
    -http01 "" -https01 "" -tlsalpn01 "" -doh "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
    >>"$T/challtestsrv.log" 2>&1 &
PIDS+=($!)
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    "$bin/pebble" -config "$T/pebble.json" -dnsserver "127.0.0.1:$PDNS" -strict=false \
    >>"$T/pebble.log" 2>&1 &
PIDS+=($!)
wait_port "$PP"
n=$(grep -c "acme down.test: new certificate in service" "$T/tlsgate.log")
# The pending renewal completes once the CA is back: within the back-off
# step plus its jitter.
wait_logn "acme down.test: new certificate in service" $((n + 1)) 200
grep -q "does not know account" "$T/tlsgate.log" || fail "expected a re-registration with the new CA"
pebble_root "$T/root2.pem"
[ "$(get "$T/root2.pem")" = APP ] || fail "new certificate does not verify against the new root"
ok "CA back: the pending renewal completed by itself"
