#!/bin/bash
# On-demand TLS with many stored certificates (issue 14; bench/ondemand-scale
# measures the same at 100,000 names). tg_mkstore puts N certificates
# (c1..cN.scale.test, one test CA) through the store and its on-demand
# index; tlsgate then runs with on_demand on, cache_size C < N, and its CA
# unreachable. Checks: it starts and listens, and counts the N stored names;
# a sweep over every name (each handshaken once, its chain verified against
# the test CA) succeeds for all of them while /metrics never shows more
# than C names in memory; no name asks the ask endpoint, none is ordered,
# every one is a load from the store; names are served again after the
# sweep pushed them out of memory. No timing is asserted.
. "$(dirname "$0")/lib.sh"
need curl shuf
: "${TG_ASK:?}" "${TG_MKSTORE:?}"
N=${OD_SCALE_NAMES:-20000}
C=${OD_SCALE_CACHE:-2000}
# A sanitizer build handshakes ~20 times slower: fewer names, the same
# checks (still ten times cache_size, so the sweep fills and churns it).
if grep -qa __asan_init "$TLSGATE"; then
	N=${OD_SCALE_NAMES:-4000}
	C=${OD_SCALE_CACHE:-400}
fi

# The store lives on tmpfs when there is one: N certificates through the
# store are 2N fsynced files, minutes on a VM disk, and tlsgate reads them
# from the page cache either way.
S=$T
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	S=$(mktemp -d /dev/shm/tlsgate-it74.XXXXXX)
	trap 'rc=$?; rm -rf "$S"; set +e; (exit $rc); finish' EXIT
fi
P=$(free_port); ADM=$(free_port); AP=$(free_port); BP=$(free_port); DEAD=$(free_port)
DIR_URL="https://127.0.0.1:$DEAD/directory"	# nothing listens there

"$TG_MKSTORE" --state "$S/state" --directory "$DIR_URL" --count "$N" --ca-out "$T/ca.pem" \
    >"$T/mkstore.log" 2>&1 || { cat "$T/mkstore.log"; fail "tg_mkstore"; }
[ "$(ls "$S"/state/*/on-demand | wc -l)" -eq "$N" ] || fail "the index lacks names"
ok "$(cat "$T/mkstore.log")"

# Ask says no to everything: a stored name must never get that far.
"$TG_ASK" --listen "127.0.0.1:$AP" >"$T/ask.log" 2>&1 &
PIDS+=($!)
start_httpecho APP "$BP"
wait_port "$AP"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "admin": {"listen": "127.0.0.1:$ADM"},
 "limits": {"handshake_rate_per_client": 1000000, "handshake_burst_per_client": 1000000},
 "acme": {"directory": "$DIR_URL", "state_dir": "$S/state"},
 "on_demand": {"ask": "http://127.0.0.1:$AP/ask", "cache_size": $C,
               "max_certificates": $((N + 100)), "handshake_wait": 60,
               "site": {"backends": ["127.0.0.1:$BP"]}}}
JSON
"$TLSGATE" check --config "$T/tlsgate.json" || fail "check"
start_tlsgate "$P" --config "$T/tlsgate.json"
wait_port "$ADM"
metric() { curl -sS --max-time 10 "http://127.0.0.1:$ADM/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
deadline=$((SECONDS + 60))
until [ "$(metric tlsgate_on_demand_stored_names)" = "$N" ]; do
	[ $SECONDS -lt "$deadline" ] || fail "stored names: '$(metric tlsgate_on_demand_stored_names)', not $N"
	sleep 0.1
done
ok "tlsgate listens with its CA unreachable and counts $N stored names; RSS $(( $(rss_kib "$TG_PID") / 1024 )) MiB"

# The sweep: every name once, verified; /metrics polled meanwhile.
seq 1 "$N" | shuf | sed 's/^/c/; s/$/.scale.test/' >"$T/all"
"$TG_CLIENT" names --connect "127.0.0.1:$P" --ca "$T/ca.pem" --names "$T/all" \
    --conns 2 --seconds 250 >"$T/sweep.out" 2>"$T/sweep.err" &
SW=$!
maxc=0; polls=0
while kill -0 "$SW" 2>/dev/null; do
	c=$(metric tlsgate_on_demand_cached_names)
	[ -n "$c" ] || fail "no tlsgate_on_demand_cached_names in /metrics"
	polls=$((polls + 1))
	[ "$c" -le "$C" ] || fail "$c names in memory during the sweep (cache_size $C)"
	[ "$c" -le "$maxc" ] || maxc=$c
	sleep 0.1
done
wait "$SW" || { cat "$T/sweep.out" "$T/sweep.err"; fail "the sweep"; }
grep -q "^names ok=$N failed=0 " "$T/sweep.out" || fail "sweep: $(cat "$T/sweep.out")"
# The sweep filled the cache: the bound was reached, not just never tested.
[ "$polls" -ge 3 ] && [ "$maxc" -ge $((C / 2)) ] || fail "only $polls polls, at most $maxc names seen in memory"
c=$(metric tlsgate_on_demand_cached_names)
[ "$c" -le "$C" ] && [ "$c" -ge $((C / 2)) ] || fail "$c names in memory after the sweep (cache_size $C)"
ok "sweep over all $N names, each verified; at most $maxc names in memory over $polls polls (cache_size $C), $c after; RSS $(( $(rss_kib "$TG_PID") / 1024 )) MiB"

asks=$(curl -sS "http://127.0.0.1:$AP/count")
[ "$asks" = 0 ] || fail "$asks asks for stored names"
[ "$(metric tlsgate_on_demand_orders_total)" = 0 ] || fail "on-demand orders: $(metric tlsgate_on_demand_orders_total)"
att=$(curl -sS "http://127.0.0.1:$ADM/metrics" | awk '/^tlsgate_acme_attempts_total/ {s += $2} END {print s + 0}')
[ "$att" = 0 ] || fail "$att ACME attempts"
loads=$(metric tlsgate_on_demand_loads_total)
[ "$loads" -ge "$N" ] || fail "only $loads loads from the store for $N names"
! grep -q "refused" "$T/tlsgate.log" || { grep refused "$T/tlsgate.log" | head -3; fail "a stored name was refused"; }
ok "no ask, no order, no ACME attempt; $loads loads from the store"

# Names the sweep pushed out of memory load again; the first ones surely left.
head -200 "$T/all" >"$T/again"
"$TG_CLIENT" names --connect "127.0.0.1:$P" --ca "$T/ca.pem" --names "$T/again" \
    --conns 2 --seconds 60 >"$T/again.out" || { cat "$T/again.out"; fail "names again"; }
[ "$(metric tlsgate_on_demand_loads_total)" -ge $((loads + 200)) ] || fail "evicted names were not loaded again"
[ "$(curl -sS "http://127.0.0.1:$AP/count")" = 0 ] || fail "asks after eviction"
ok "evicted names load again from the store: $(cat "$T/again.out")"
