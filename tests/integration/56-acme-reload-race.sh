#!/bin/bash
# Reloads and installs cannot lose each other: Pebble issues 20-second
# certificates, tlsgate renews them by itself while SIGHUP arrives every
# 50 ms, and the newest stored certificate is always the one served within
# about a second of its install. (Before, a reload restarted the ACME client,
# and an install between a reload's read of the store and its publish went
# into a view that was then dropped.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl

start_pebble ', "certificateValidityPeriod": 20'
start_one_acme_site race.test
wait_log "acme race.test: new certificate in service" 60
served() { "$TG_CLIENT" info --connect "127.0.0.1:$ACME_TLS_PORT" --sni race.test |
    sed 's/.*fp=\([0-9a-f]*\).*/\1/'; }
stored() { fingerprint "$(ls "$T"/state/*/certs/race.test/ecdsa.pem)"; }

installs() { grep -c "acme race.test: new ecdsa certificate" "$T/tlsgate.log" || true; }
n0=$(installs); stale_since=0
# The reloader: a SIGHUP every 50 ms, 1,400 at most (70 s).
( for _ in $(seq 1 1400); do kill -HUP "$TG_PID" 2>/dev/null || exit 0; sleep 0.05; done ) &
RL=$!
PIDS+=($RL)
deadline=$((SECONDS + 60))
while [ "$(installs)" -lt $((n0 + 3)) ]; do
	[ $SECONDS -lt $deadline ] ||
	    fail "fewer than 3 renewals in 60 s under reloads ($(grep -c "reload: done" "$T/tlsgate.log") done)"
	sleep 0.1
	s=$(stored); v=$(served)
	if [ "$s" != "$v" ]; then
		now=$(date +%s%N)
		[ "$stale_since" != 0 ] || stale_since=$now
		[ $(((now - stale_since) / 1000000)) -le 1500 ] ||
		    fail "stored certificate $s not served after 1.5 s (still $v)"
	else
		stale_since=0
	fi
done
kill "$RL" 2>/dev/null || true
hups=$(grep -c "reload: done" "$T/tlsgate.log")
grep -q "reload failed" "$T/tlsgate.log" && fail "a reload failed"
[ "$hups" -ge 20 ] || fail "only $hups reloads happened"
ok "$(($(installs) - n0)) renewals during $hups reloads; the newest certificate was always served within 1.5 s"
