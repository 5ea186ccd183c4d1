#!/bin/bash
# The admin endpoint: /metrics passes promtool's parser; tlsgate status shows
# sites, backends and certificates; and the expiry safety net: Pebble issues a
# 30-second certificate, then goes away, and as the certificate nears expiry
# without renewal the expiry gauge and /healthz flag it, an error is logged,
# and the alert command runs. A non-loopback admin address is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl promtool

start_pebble ', "certificateValidityPeriod": 30'
PB=$(free_port); PA=$(free_port)
backend B http "$PB"
cat >"$T/alert" <<EOF2
#!/bin/sh
echo "\$@" >>"$T/alerts"
EOF2
chmod +x "$T/alert"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "admin": {"listen": "127.0.0.1:$PA"},
 "expiry": {"alert_command": "$T/alert", "check_interval": 1},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "retry_base": 1},
 "sites": [{"mode": "tcp", "names": ["adm.test"], "backends": ["127.0.0.1:$PB"], "acme": true}]}
JSON
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme adm.test: new certificate in service" 60
# The CA goes away right after the first certificate.
for p in "${PIDS[@]}"; do grep -q pebble "/proc/$p/cmdline" 2>/dev/null && kill "$p"; done

# Traffic, so the counters move.
pebble_root "$T/root.pem" 2>/dev/null || true
curl -sk --resolve "adm.test:$ACME_TLS_PORT:127.0.0.1" "https://adm.test:$ACME_TLS_PORT/" >/dev/null
curl -sS "http://127.0.0.1:$PA/metrics" >"$T/metrics.txt"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 ||
    { cat "$T/promtool.out"; fail "promtool check metrics rejects /metrics"; }
for m in 'tlsgate_connections_total{site="adm.test"} 1' 'tlsgate_handshakes_total{kind="full"}' \
    'tlsgate_certificate_not_after{site="adm.test",key="ecdsa"}' \
    'tlsgate_certificate_renewal_time{site="adm.test",key="ecdsa"}' \
    'tlsgate_acme_successes_total 1' "tlsgate_backend_up{site=\"adm.test\",backend=\"127.0.0.1:$PB\"} 1" \
    'tlsgate_bytes_total{site="adm.test",direction="out"}'; do
	grep -qF "$m" "$T/metrics.txt" || fail "metric missing: $m"
done
ok "/metrics passes promtool check metrics and has the expected series"

"$TLSGATE" status --config "$T/tlsgate.json" >"$T/status.out" || fail "tlsgate status"
cat "$T/status.out"
grep -q "^site adm.test (acme)" "$T/status.out" || fail "status: site"
grep -q "backend 127.0.0.1:$PB *up *weight 1" "$T/status.out" || fail "status: backend health"
grep -q "certificate ecdsa expires .* next renewal" "$T/status.out" || fail "status: certificate"
ok "tlsgate status shows sites, backends with health, certificates with expiry and renewal"

# Before the threshold (a third of 30 s): healthy.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/healthz")" = 200 ] ||
    echo "note: already within the threshold at the first look"
deadline=$((SECONDS + 45))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/healthz")" = 503 ]; do
	[ $SECONDS -lt $deadline ] || fail "/healthz never flagged the expiring certificate"
	sleep 0.5
done
grep -q "certificate expiring: adm.test (ecdsa)" <<<"$(curl -s "http://127.0.0.1:$PA/healthz")" ||
    fail "/healthz does not name the certificate"
grep -qF 'tlsgate_certificate_expiring{site="adm.test",key="ecdsa"} 1' <<<"$(curl -s "http://127.0.0.1:$PA/metrics")" ||
    fail "expiry gauge not set"
wait_log "certificate for adm.test (ecdsa) expires at .* has not been renewed" 30
deadline=$((SECONDS + 20))
until grep -q "^adm.test 20" "$T/alerts" 2>/dev/null; do
	[ $SECONDS -lt $deadline ] || fail "alert command not run"
	sleep 0.2
done
[ "$(wc -l <"$T/alerts")" = 1 ] || fail "alert command run more than once for one certificate"
# The renewal (due before expiry) fails with the CA gone, and is counted.
deadline=$((SECONDS + 30))
until grep -qE 'tlsgate_acme_failures_total\{type="transport"\} [1-9]' <<<"$(curl -s "http://127.0.0.1:$PA/metrics")"; do
	[ $SECONDS -lt $deadline ] || fail "failed renewals not counted"
	sleep 0.5
done
ok "expiring certificate with the CA down: /healthz 503, gauge 1, error logged, alert run once"

# The admin endpoint stays on loopback.
if "$TLSGATE" run --https "127.0.0.1:$(free_port)" --site x.test=127.0.0.1:1 --mode x.test=tcp \
    --acme x.test \
    --state-dir "$T/s2" --admin "0.0.0.0:$(free_port)" --allow-root >"$T/bad.log" 2>&1; then
	fail "non-loopback admin accepted"
fi
grep -q "is not a loopback address" "$T/bad.log" || fail "no loopback message"
ok "non-loopback admin address refused"
