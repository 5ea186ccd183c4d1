#!/bin/bash
# A CA that answers every newOrder with 429 rateLimited and Retry-After: 3600
# gets exactly one newOrder within that hour: not again after three SIGHUPs,
# nor after a restart of tlsgate. The back-off and the CA's Retry-After live
# in the store and are read back (issue 11; before, each reload and restart
# ordered again at once).
. "$(dirname "$0")/lib.sh"
need curl
STUB="$(dirname "$TG_BACKEND")/tg_acmestub"
[ -x "$STUB" ] || fail "no tg_acmestub next to $TG_BACKEND"

CA=$(free_port)
"$STUB" "$CA" >"$T/stub.log" 2>&1 &
PIDS+=($!)
wait_port "$CA"
orders() { curl -sS "http://127.0.0.1:$CA/count?/ratelimited"; }
# no_new_order N SECONDS: the count stays N for that long (the bad event,
# if it comes, comes within 50 ms of its cause).
no_new_order() {
	local deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		[ "$(orders)" = "$1" ] || fail "a new order went out ($(orders) in all): $3"
		sleep 0.1
	done
}

HTTPS=$(free_port); PE=$(free_port)
backend ECHO echo "$PE"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$HTTPS"]},
 "acme": {"directory": "http://127.0.0.1:$CA/dir-429", "state_dir": "$T/state"},
 "sites": [{"mode": "tcp", "names": ["limited.test"], "backends": ["127.0.0.1:$PE"], "acme": true}]}
JSON
export TLSGATE_ACME_ALLOW_HTTP=1
start_tlsgate "$HTTPS" --config "$T/tlsgate.json"
wait_log "acme limited.test: attempt 1 failed: .*rateLimited" 30
[ "$(orders)" = 1 ] || fail "expected one newOrder, got $(orders)"
grep -q "next try in 3600s" "$T/tlsgate.log" || fail "Retry-After: 3600 not honoured"
ok "rate-limited once; next try in 3600 s"

for i in 1 2 3; do
	kill -HUP "$TG_PID"
	wait_logn "reload: done" "$i" 30
	no_new_order 1 1 "after SIGHUP $i"
done
[ "$(grep -c "acme: reload: 1 job(s) kept, 0 started, 0 ended" "$T/tlsgate.log")" = 3 ] ||
    fail "the reloads did not keep the ACME job"
grep -q "(rate_limited); next try in 3600s" "$T/tlsgate.log" || fail "not classed as rate_limited"
ok "three SIGHUPs: the job kept its schedule, no new order"

kill "$TG_PID"; wait "$TG_PID" || true
mv "$T/tlsgate.log" "$T/tlsgate-1.log"
start_tlsgate "$HTTPS" --config "$T/tlsgate.json"
wait_log "acme: directory .* loaded" 10
no_new_order 1 2 "after a restart"
grep -q "attempt 1 failed" "$T/tlsgate.log" && fail "the restart ordered again"
grep -q "acme limited.test: ecdsa: 1 failed attempt(s) in a row" "$T/tlsgate.log" ||
    fail "the restart did not say it resumed the back-off"
ok "restart: the back-off was read back from the store; still exactly one newOrder"
