#!/bin/bash
# Many names at once (issue 14): 300 configured sites, all due at start,
# against a real Pebble. Before, every order started together over hundreds
# of connections to the CA, and Pebble deadlocked at about 500. Now orders run
# at most acme.max_concurrent_orders (8 by default) at a time over one or two
# connections (HTTP/2: Pebble offers h2), and each name is ordered exactly
# once. Asserted by counting: connections to Pebble (sampled with ss, every
# one seen kept), names in flight (from the log), descriptors, newOrder
# requests at Pebble, and every certificate verified against Pebble's root.
# bench/acme-many runs the same with 1,000 names and reports the timings.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl ss
N=300
CAP=8

start_pebble
PB=$(free_port)
backend APP http "$PB"
{
	echo "{\"allow_root\": true, \"listen\": {\"https\": [\"127.0.0.1:$ACME_TLS_PORT\"]},"
	echo " \"log\": {\"level\": \"notice\"},"
	echo " \"acme\": {\"directory\": \"$PEBBLE_DIR_URL\", \"ca_bundle\": \"$PEBBLE_CA\","
	echo "          \"state_dir\": \"$T/state\"}, \"sites\": ["
	for i in $(seq 1 "$N"); do
		[ "$i" = 1 ] || echo ","
		echo "{\"mode\": \"tcp\", \"names\": [\"m$i.many.test\"], \"backends\": [\"127.0.0.1:$PB\"], \"acme\": true}"
	done
	echo "]}"
} >"$T/tlsgate.json"
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
PP=${PEBBLE_DIR_URL#https://127.0.0.1:}
PP=${PP%%/*}
idle_fds=$(ls "/proc/$TG_PID/fd" | wc -l)

# Watch until every name has its certificate (hang guard: 250 s).
max_conns=0 max_flight=0 max_fds=0 got=0
: >"$T/conns.txt"
deadline=$((SECONDS + 250))
while :; do
	got=$(grep -c 'new certificate in service' "$T/tlsgate.log" || true)
	[ "$got" -ge "$N" ] && break
	[ $SECONDS -lt $deadline ] || fail "$got of $N certificates after 250 s"
	kill -0 "$TG_PID" || fail "tlsgate exited"
	ss -Htnp state established "( dport = :$PP )" 2>/dev/null |
	    grep "pid=$TG_PID," | awk '{print $3}' >"$T/conns-now.txt" || true
	cat "$T/conns-now.txt" >>"$T/conns.txt"
	c=$(wc -l <"$T/conns-now.txt")
	started=$(grep -c ': ordering ecdsa' "$T/tlsgate.log" || true)
	ended=$(grep -c 'new ecdsa certificate\|attempt [0-9]* failed' "$T/tlsgate.log" || true)
	fds=$(ls "/proc/$TG_PID/fd" | wc -l)
	[ "$c" -le "$max_conns" ] || max_conns=$c
	[ $((started - ended)) -le "$max_flight" ] || max_flight=$((started - ended))
	[ "$fds" -le "$max_fds" ] || max_fds=$fds
	sleep 0.1
done
distinct=$(sort -u "$T/conns.txt" | wc -l)
ok "$N certificates; at most $max_flight names in flight, $max_conns connection(s) to Pebble at once ($distinct seen in all), $max_fds descriptors (idle: $idle_fds)"
[ "$max_flight" -ge 2 ] || fail "orders never overlapped (max $max_flight in flight)"
[ "$max_flight" -le "$CAP" ] || fail "$max_flight orders in flight: the cap of $CAP did not hold"
[ "$max_conns" -ge 1 ] || fail "no connection to Pebble ever seen: the count is broken"
[ "$max_conns" -le 2 ] || fail "$max_conns connections to Pebble at once (at most 2 allowed)"
[ "$distinct" -le 4 ] || fail "$distinct different connections to Pebble: not reused"
# Before: about 1.85 descriptors per name in flight, here 555 for 300 names.
[ $((max_fds - idle_fds)) -le $((4 * CAP + 8)) ] ||
    fail "$((max_fds - idle_fds)) descriptors above idle with $max_flight names in flight"
ok "orders capped at $CAP, connections to the CA capped and reused, descriptors bounded"

# Each name ordered exactly once: no failure, no duplicate order.
failed=$(grep -c 'attempt [0-9]* failed' "$T/tlsgate.log" || true)
[ "$failed" -eq 0 ] || fail "$failed failed attempts"
orders=$(grep -c 'POST /order-plz' "$T/pebble.log" || true)
[ "$orders" -eq "$N" ] || fail "$orders newOrder requests at Pebble for $N names"
ok "$orders newOrder requests at Pebble for $N names, none failed"

# Every certificate against this run's Pebble root, in one openssl call.
pebble_root "$T/root.pem"
curl -sS --cacert "$PEBBLE_CA" "https://127.0.0.1:$PEBBLE_MGMT/intermediates/0" >"$T/inter.pem"
find "$T/state" -name ecdsa.pem >"$T/pems.txt"
[ "$(wc -l <"$T/pems.txt")" -eq "$N" ] || fail "$(wc -l <"$T/pems.txt") stored certificates"
verified=$(xargs openssl verify -CAfile "$T/root.pem" -untrusted "$T/inter.pem" <"$T/pems.txt" 2>&1 |
    grep -c ': OK$' || true)
[ "$verified" -eq "$N" ] || fail "$verified of $N certificates verify against Pebble's root"
for i in 1 150 "$N"; do
	[ "$(curl -sS --max-time 5 --cacert "$T/root.pem" \
	    --resolve "m$i.many.test:$ACME_TLS_PORT:127.0.0.1" \
	    "https://m$i.many.test:$ACME_TLS_PORT/")" = APP ] || fail "m$i.many.test not served"
done
ok "all $N certificates verify against Pebble's root; served (3 names checked by curl)"
