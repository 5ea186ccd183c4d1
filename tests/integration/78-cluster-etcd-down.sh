#!/bin/bash
# Losing etcd (issue 15, docs/cluster.md "What happens in each failure"):
# three nodes on a 3-member etcd with two sites (TLS-ALPN-01, HTTP-01).
# With every etcd member stopped:
#  - each node says so, once, and keeps serving both names (handshakes
#    verified against Pebble's root);
#  - /healthz answers 200 "degraded: store etcd unreachable ...", and
#    /metrics has tlsgate_store_up 0 and the failed requests counted;
#  - a renewal forced on node 11 (SIGUSR1) places no order: Pebble's count
#    of POST /order-plz does not move, and the node says once that orders
#    wait;
#  - node 12, restarted, starts from its local copy (it says so) and serves
#    the same certificates.
# With etcd back: every node says so, /healthz is "ok" and tlsgate_store_up
# 1; the renewal forced during the outage completes by itself and every
# node serves it, the restarted one included; then a renewal asked through
# etcd (tlsgate renew) completes on the fleet.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/lib-cluster.sh"
need openssl curl etcd
A=a.down.test
B=b.down.test

start_pebble
start_etcd3
PB=$(cluster_port)
backend APP http "$PB"
cluster_names "$A" "$B"
site() {
	echo "{\"mode\": \"tcp\", \"names\": [\"$1\"], \"backends\": [\"127.0.0.1:$PB\"], \"acme\": {\"challenges\": [\"$2\"]}}"
}
declare -A ADM
for n in $NODES; do
	ADM[$n]=$(cluster_port)
	node_config "$n" "$(site "$A" tls-alpn-01), $(site "$B" http-01)" "" \
	    ", \"admin\": {\"listen\": \"127.0.0.1:${ADM[$n]}\"}"
done
for n in $NODES; do start_node "$n"; done
for n in $NODES; do wait_node "$n"; done
pebble_root "$T/root.pem"
printf '%s\n' "$A" "$B" >"$T/names.txt"

# serves_all NODE: NODE serves both names, verified against Pebble's root.
serves_all() {
	"$TG_CLIENT" names --connect "127.0.0.$1:$ACME_TLS_PORT" --names "$T/names.txt" \
	    --ca "$T/root.pem" --conns 2 --seconds 10 >"$T/names$1.out" 2>&1
}
# orders: newOrder requests Pebble has seen.
orders() { grep -c 'POST /order-plz' "$T/pebble.log" || true; }
# issued: certificates Pebble has issued (finalized orders); an order sent
# again (without ARI's "replaces" after the CA refused it) counts once.
issued() { grep -c 'POST /finalize-order' "$T/pebble.log" || true; }
# healthz NODE: "CODE BODY" of NODE's /healthz.
healthz() {
	curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:${ADM[$1]}/healthz" || true
}
# metric NODE NAME: the value of the metric NAME (with its labels) on NODE.
metric() {
	{ curl -s --max-time 5 "http://127.0.0.1:${ADM[$1]}/metrics" || true; } |
	    awk -v m="$2" '$1 == m {print $2}'
}
# wait_fps NAME OLD: until every node serves NAME with a certificate other
# than OLD, the same on all (60 s); prints it.
wait_fps() {
	local deadline=$((SECONDS + 60)) n f a b c
	for n in $NODES; do
		until f=$(node_fp "$n" "$1"); [ -n "$f" ] && [ "$f" != "$2" ]; do
			[ $SECONDS -lt $deadline ] || fail "node $n does not serve a new certificate for $1 (still ${f:-none})"
			sleep 0.1
		done
	done
	a=$(node_fp 11 "$1"); b=$(node_fp 12 "$1"); c=$(node_fp 13 "$1")
	[ "$a" = "$b" ] && [ "$a" = "$c" ] || fail "$1: the nodes serve $a $b $c"
	echo "$a"
}

deadline=$((SECONDS + 60))
for n in $NODES; do
	until serves_all "$n"; do
		[ $SECONDS -lt $deadline ] || fail "node $n does not serve both names: $(cat "$T/names$n.out")"
		sleep 0.2
	done
done
orders0=$(orders)
issued0=$(issued)
[ "$issued0" -eq 2 ] || fail "$issued0 certificates issued for 2 names"
fa=$(node_fp 11 "$A"); fb=$(node_fp 11 "$B")
for n in $NODES; do
	[ "$(healthz "$n")" = "ok
 200" ] || fail "node $n: /healthz with etcd up: $(healthz "$n")"
	[ "$(metric "$n" 'tlsgate_store_up{backend="etcd"}')" = 1 ] || fail "node $n: store not up"
done
ok "three nodes serve $A and $B ($orders0 orders, $issued0 certificates); /healthz ok, tlsgate_store_up 1"

# Every etcd member stops.
etcd_stop TERM 1 2 3
for n in $NODES; do wait_node_log "$n" "etcd: no member answers" 30; done
for n in $NODES; do
	serves_all "$n" || fail "node $n stopped serving without etcd: $(cat "$T/names$n.out")"
done
ok "etcd stopped: every node says so and serves both names (verified against Pebble's root)"

# A renewal forced during the outage waits, and says so once.
kill -USR1 "${NODE_PID[11]}"
wait_node_log 11 "acme $A: renewal forced" 20
wait_node_log 11 "the store is unreachable; no order until it is back" 20

# Node 12 restarts while etcd is down: it serves from its local copy.
kill -TERM "${NODE_PID[12]}"
wait "${NODE_PID[12]}" 2>/dev/null || true
mv "$T/node12.log" "$T/node12-first.log"
start_node 12
wait_node 12
grep -q "etcd: starting from the local copy in $T/state12/etcd-copy/.* (2 certificate(s))" \
    "$T/node12.log" || fail "node 12 did not say it starts from its local copy: $(head -20 "$T/node12.log")"
serves_all 12 || fail "node 12, restarted without etcd, does not serve: $(cat "$T/names12.out")"
[ "$(node_fp 12 "$A")" = "$fa" ] && [ "$(node_fp 12 "$B")" = "$fb" ] ||
    fail "node 12 serves other certificates after its restart"
ok "node 12 restarted while etcd is down: $(grep -o 'etcd: starting from the local copy.*' "$T/node12.log" | head -1)"

# The loss in /healthz and /metrics, on every node.
for n in $NODES; do
	h=$(healthz "$n")
	case $h in
	*"degraded: store etcd unreachable for"*"no ACME order until it is back"*" 200") ;;
	*) fail "node $n: /healthz without etcd: $h" ;;
	esac
	[ "$(metric "$n" 'tlsgate_store_up{backend="etcd"}')" = 0 ] || fail "node $n: tlsgate_store_up is not 0"
	e=$(metric "$n" 'tlsgate_store_errors_total{backend="etcd"}')
	[ "${e:-0}" -gt 0 ] || fail "node $n: no store error counted"
	[ "$(metric "$n" 'tlsgate_store_down_since{backend="etcd"}')" -gt 0 ] || fail "node $n: no down_since"
	[ "$(metric "$n" 'tlsgate_store_local_copy_certificates{backend="etcd"}')" = 2 ] ||
	    fail "node $n: not 2 certificates in its local copy"
done
ok "/healthz: 200 \"$(healthz 13 | head -1 | cut -c1-60)...\"; tlsgate_store_up 0 and errors counted on every node"

# No order, no lock, and each loss logged once.
[ "$(orders)" -eq "$orders0" ] || fail "$(( $(orders) - orders0 )) order(s) placed while etcd was down"
! grep -q "acme $A: renewing\|acme $B: renewing" "$T/node11.log" ||
    fail "node 11 started an order while etcd was down"
for n in 11 13; do
	[ "$(grep -c 'etcd: no member answers' "$T/node$n.log")" -eq 1 ] ||
	    fail "node $n logged the loss $(grep -c 'etcd: no member answers' "$T/node$n.log") times"
done
[ "$(grep -c 'the store is unreachable; no order' "$T/node11.log")" -eq 1 ] ||
    fail "node 11 logged the order gate more than once"
ok "no order at Pebble while etcd was down (forced renewal pending on node 11); the loss logged once per node"

# etcd comes back: the nodes resume by themselves.
for m in 1 2 3; do etcd_member "$m"; done
etcd_healthy 1 2 3
for n in $NODES; do wait_node_log "$n" "etcd: a member answers again" 30; done
wait_node_log 12 "etcd: caught up at revision" 30
na=$(wait_fps "$A" "$fa")
nb=$(wait_fps "$B" "$fb")
[ "$(issued)" -eq $((issued0 + 2)) ] ||
    fail "$(( $(issued) - issued0 )) certificates issued for the pending renewal of 2 names"
grep -q "acme: the store answers again; orders resume" "$T/node11.log" || fail "node 11 did not say orders resume"
for n in $NODES; do
	[ "$(healthz "$n")" = "ok
 200" ] || fail "node $n: /healthz with etcd back: $(healthz "$n")"
	[ "$(metric "$n" 'tlsgate_store_up{backend="etcd"}')" = 1 ] || fail "node $n: store not up again"
done
ok "etcd back: the renewal forced during the outage completed (2 certificates issued), every node serves it, /healthz ok"

# The orders after the outage wait for every member's acknowledgement. The
# old process of node 12 could not leave the members (etcd was down when it
# stopped): its entry lives until its lease ends, up to 10 s after etcd's
# return, and an order in that span asks the CA after 5 s, naming it. Wait
# for exactly three members before the next order.
until [ "$(etcd_count /tlsgate/member/)" = 3 ]; do
	[ $SECONDS -lt 600 ] || fail "never 3 members in etcd"
	sleep 0.2
done
unacked0=$(cat "$T"/node1[123].log | grep -c 'not every member has acknowledged' || true)

# A renewal through etcd completes on the fleet, node 12 included.
"$TLSGATE" renew "$A" --config "$T/node13.json" >"$T/renew.out" 2>&1 ||
    fail "tlsgate renew: $(cat "$T/renew.out")"
na2=$(wait_fps "$A" "$na")
[ "$(issued)" -eq $((issued0 + 3)) ] ||
    fail "$(( $(issued) - issued0 - 2 )) certificates issued for one renewal"
for n in $NODES; do serves_all "$n" || fail "node $n: $(cat "$T/names$n.out")"; done
ok "tlsgate renew after the outage: one certificate issued, served by all three nodes ($na2)"

# Node 12 started without etcd and could not join the members at start: it
# joined once etcd answered. The renewal above asked the CA only once all
# three nodes had its challenge.
grep -q "joined the store's members again" "$T/node12.log" ||
    fail "node 12 did not join the members once etcd was back"
unacked=$(cat "$T"/node1[123].log | grep -c 'not every member has acknowledged' || true)
[ "$unacked" -eq "$unacked0" ] || fail "the renewal asked the CA before every node had the challenge: $(grep -h 'not every member' "$T"/node1[123].log | tail -1)"
ok "after the outage: 3 members (node 12 joined when etcd came back); the renewal's challenge acknowledged by all three before the CA was asked"
