#!/bin/bash
# SIGTERM: stop accepting, let open connections finish within the drain
# timeout, then exit 0. A connection still open at the deadline is closed.
. "$(dirname "$0")/lib.sh"
need openssl

cert s ec d.test
PE=$(free_port); P=$(free_port)
backend E echo "$PE"
start_tlsgate "$P" --https "127.0.0.1:$P" --site "d.test=127.0.0.1:$PE" \
    --cert "d.test=$T/s.pem,$T/s.key" --mode d.test=tcp --drain-timeout 3

# A stream of 2 s finishes inside the drain window.
"$TG_CLIENT" stream --connect "127.0.0.1:$P" --sni d.test --conns 3 --seconds 2 \
    >"$T/stream.log" 2>&1 &
SP=$!
# The three streams reach the backend before the signal.
wait_established "$PE" 3
kill -TERM "$TG_PID"
wait_log "no new connections" 10
# The workers close their listeners as they get the command: within a
# moment, every new connection is refused.
refused=0
for _ in $(seq 1 50); do
	if ! "$TG_CLIENT" info --connect "127.0.0.1:$P" --sni d.test >/dev/null 2>&1; then
		refused=1; break
	fi
	sleep 0.1
done
[ "$refused" = 1 ] || fail "new connections still accepted 5 s into the drain"
if "$TG_CLIENT" info --connect "127.0.0.1:$P" --sni d.test >/dev/null 2>&1; then
	fail "new connection accepted while draining"
fi
ok "no new connections after SIGTERM"
wait "$SP" || { cat "$T/stream.log"; fail "open connections cut before they finished"; }
grep -q "alive=3 verified=3" "$T/stream.log" || fail "streams not complete"
rc=0; wait "$TG_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after drain"
ok "open connections finished, exit 0"

# A connection that outlives the drain timeout is closed at the deadline.
start_tlsgate "$P" --https "127.0.0.1:$P" --site "d.test=127.0.0.1:$PE" \
    --cert "d.test=$T/s.pem,$T/s.key" --mode d.test=tcp --drain-timeout 1
"$TG_CLIENT" stream --connect "127.0.0.1:$P" --sni d.test --conns 1 --seconds 4 \
    >"$T/long.log" 2>&1 &
SP=$!
wait_established "$PE" 1
start=$SECONDS
kill -TERM "$TG_PID"
rc=0; wait "$TG_PID" || rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after drain timeout"
[ $((SECONDS - start)) -le 3 ] || fail "drain took longer than its timeout"
grep -q "close=shutdown" "$T/tlsgate.log" || fail "forced close not logged"
wait "$SP" || true
ok "drain timeout closes what is left, exit 0"
