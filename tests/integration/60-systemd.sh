#!/bin/bash
# systemd integration, for real: the unit files verify; the notify protocol
# (READY=1, RELOADING=1 then READY=1, STOPPING=1) arrives on a NOTIFY_SOCKET
# this test listens on; under systemd-socket-activate the listeners come in
# through LISTEN_FDS and traffic flows through them.
. "$(dirname "$0")/lib.sh"
need openssl curl systemd-analyze systemd-socket-activate
: "${TG_NOTIFY:?}"

# 1. The unit files verify (with ExecStart pointing at this build).
mkdir -p "$T/units"
sed "s|/usr/local/bin/tlsgate|$TLSGATE|g" "$TG_SRC/contrib/systemd/tlsgate.service" \
    >"$T/units/tlsgate.service"
cp "$TG_SRC/contrib/systemd/tlsgate.socket" "$T/units/"
systemd-analyze verify "$T/units/tlsgate.service" "$T/units/tlsgate.socket" 2>"$T/verify.log" ||
    { cat "$T/verify.log"; fail "systemd-analyze verify"; }
ok "systemd-analyze verify passes for tlsgate.service and tlsgate.socket"
score=$(systemd-analyze security --offline=true "$T/units/tlsgate.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for tlsgate.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security exposure: ${score:-unknown}"

# 2. The notify protocol.
cert s ec n.test
PB=$(free_port); P=$(free_port)
backend B http "$PB"
"$TG_NOTIFY" "$T/notify.sock" 30 >"$T/notify.log" 2>&1 &
PIDS+=($!)
# notified PATTERN N WHAT: until the listener has N messages matching
# PATTERN (10 s at most, else fail with WHAT).
notified() {
	local deadline=$((SECONDS + 10))
	until [ "$(grep -c -- "$1" "$T/notify.log")" -ge "$2" ]; do
		[ $SECONDS -lt $deadline ] || fail "$3"
		sleep 0.05
	done
}
notified listening 1 "the notify listener did not start"
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=400000 start_tlsgate "$P" --https "127.0.0.1:$P" \
    --site "n.test=127.0.0.1:$PB" --cert "n.test=$T/s.pem,$T/s.key" --mode n.test=tcp
notified "^READY=1" 1 "no READY=1"
notified "^WATCHDOG=1" 3 "no watchdog pings"
kill -HUP "$TG_PID"
notified "^RELOADING=1 MONOTONIC_USEC=[0-9]*" 1 "no RELOADING=1"
notified "^READY=1" 2 "no READY=1 after the reload"
kill -TERM "$TG_PID"; wait "$TG_PID" || true
notified "^STOPPING=1" 1 "no STOPPING=1"
cat "$T/notify.log"
ok "notify: READY=1, WATCHDOG=1 pings, RELOADING=1 + READY=1 around SIGHUP, STOPPING=1"

# 3. Socket activation: systemd-socket-activate binds both ports and starts
# tlsgate on the first connection, passing the sockets in.
PH=$(free_port)
systemd-socket-activate -l "127.0.0.1:$P" -l "127.0.0.1:$PH" \
    "$TLSGATE" run --https "127.0.0.1:$P" --http "127.0.0.1:$PH" \
    --site "n.test=127.0.0.1:$PB" --cert "n.test=$T/s.pem,$T/s.key" --mode n.test=tcp \
    --allow-root \
    >"$T/tlsgate.log" 2>&1 &
SA=$!
PIDS+=($SA)
wait_port "$P"
body=$(curl -sS --max-time 10 --cacert "$T/s.pem" --resolve "n.test:$P:127.0.0.1" "https://n.test:$P/")
[ "$body" = B ] || fail "no traffic through the activated socket: $body"
hdr=$(curl -sS -D - -o /dev/null -H "Host: n.test" "http://127.0.0.1:$PH/x")
grep -q "^Location: https://n.test:$P/x" <<<"$hdr" || fail "http socket not passed in: $hdr"
grep -q "listening on 127.0.0.1:$P: socket from systemd" "$T/tlsgate.log" ||
    fail "tlsgate did not take the HTTPS socket from LISTEN_FDS"
grep -q "listening on 127.0.0.1:$PH: socket from systemd" "$T/tlsgate.log" ||
    fail "tlsgate did not take the HTTP socket from LISTEN_FDS"
ok "socket activation: listeners from LISTEN_FDS, traffic flows"
