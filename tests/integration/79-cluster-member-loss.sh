#!/bin/bash
# Losing one etcd member (issue 15, docs/cluster.md "What happens in each
# failure"): three nodes on a 3-member etcd with two sites. The member every
# client talks to first (the first of store.etcd.endpoints), made the
# cluster's leader, is killed with kill -9; the two others elect a leader
# and keep quorum. Asserted:
#  - serving goes on: every node serves both names (verified against
#    Pebble's root);
#  - a forced renewal (tlsgate renew, written to etcd) is taken by one node,
#    issued once (one finalize at Pebble), and served by the three nodes: the renew command, the
#    lock, the fenced write and every node's watch failed over to the
#    members left;
#  - no node saw the store as lost: no "no member answers" in any log,
#    tlsgate_store_up stays 1.
# Then m2 or m3 is killed too (quorum lost, the other alone without a
# leader): the watch of each node on the one left, which asks for a leader,
# is ended by it with "no leader"; with both back, every node has the store
# again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/lib-cluster.sh"
need openssl curl etcd
A=a.member.test
B=b.member.test

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

serves_all() {
	"$TG_CLIENT" names --connect "127.0.0.$1:$ACME_TLS_PORT" --names "$T/names.txt" \
	    --ca "$T/root.pem" --conns 2 --seconds 10 >"$T/names$1.out" 2>&1
}
# issued: certificates Pebble has issued (finalized orders); an order sent
# again (without ARI's "replaces" after the CA refused it) counts once.
issued() { grep -c 'POST /finalize-order' "$T/pebble.log" || true; }
metric() {
	{ curl -s --max-time 5 "http://127.0.0.1:${ADM[$1]}/metrics" || true; } |
	    awk -v m="$2" '$1 == m {print $2}'
}

deadline=$((SECONDS + 60))
for n in $NODES; do
	until serves_all "$n"; do
		[ $SECONDS -lt $deadline ] || fail "node $n does not serve both names: $(cat "$T/names$n.out")"
		sleep 0.2
	done
done
issued0=$(issued)
old=$(node_fp 11 "$A")
ok "three nodes serve $A and $B ($issued0 certificates issued)"

# kill -9 of the first member, made the leader first: the clients fail
# over to the next endpoints, and the two others elect a leader and keep
# quorum.
etcd_make_leader 1
etcd_stop KILL 1
etcd_healthy 2 3
for n in $NODES; do
	serves_all "$n" || fail "node $n: $(cat "$T/names$n.out")"
done
ok "etcd member m1 (the leader, every client's first endpoint) killed (-9): every node still serves both names"

"$TLSGATE" renew "$A" --config "$T/node12.json" >"$T/renew.out" 2>&1 ||
    fail "tlsgate renew with m1 dead: $(cat "$T/renew.out")"
deadline=$((SECONDS + 60))
for n in $NODES; do
	until f=$(node_fp "$n" "$A"); [ -n "$f" ] && [ "$f" != "$old" ]; do
		[ $SECONDS -lt $deadline ] || fail "node $n does not serve the renewed $A (still ${f:-none})"
		sleep 0.1
	done
done
a=$(node_fp 11 "$A"); b=$(node_fp 12 "$A"); c=$(node_fp 13 "$A")
[ "$a" = "$b" ] && [ "$a" = "$c" ] || fail "after the renewal the nodes serve $a $b $c"
[ "$(issued)" -eq $((issued0 + 1)) ] || fail "$(( $(issued) - issued0 )) certificates issued for one renewal"
taker=""
for n in $NODES; do
	if grep -q "acme $A: renewal forced" "$T/node$n.log"; then taker="$taker $n"; fi
done
[ "$(echo $taker | wc -w)" -eq 1 ] || fail "renewal taken by node(s) '$taker'"
ok "forced renewal with m1 dead: taken by node${taker}, one certificate issued, served by all three nodes"

for n in $NODES; do
	! grep -q "etcd: no member answers" "$T/node$n.log" ||
	    fail "node $n lost the store with one member down: $(grep 'etcd: no member' "$T/node$n.log")"
	[ "$(metric "$n" 'tlsgate_store_up{backend="etcd"}')" = 1 ] || fail "node $n: tlsgate_store_up not 1"
	serves_all "$n" || fail "node $n: $(cat "$T/names$n.out")"
done
ok "no node lost the store; tlsgate_store_up 1 throughout"

# Quorum lost: one of m2 and m3 killed too, the other left alone without a
# leader. Each node's watch moved to m2 or m3 when m1 died (logged); the
# member most nodes watch is the one kept. A watch that asks for a leader
# ("hasleader") is ended by it with "no leader" within seconds, where a
# plain one would stay open with no events for as long as the member is cut
# off from a cluster that may go on without it.
watched() { # NODE: the etcd member (2 or 3) its watch went to
	local u
	u=$(grep "etcd: watching again through" "$T/node$1.log" | tail -1 | sed 's/.*through \([^,]*\),.*/\1/')
	case "$u" in
	"http://127.0.0.1:${EC[2]}") echo 2 ;;
	"http://127.0.0.1:${EC[3]}") echo 3 ;;
	*) fail "node $1: its watch did not move to m2 or m3 ($u)" ;;
	esac
}
declare -A W
on2=0
for n in $NODES; do W[$n]=$(watched "$n"); [ "${W[$n]}" = 2 ] && on2=$((on2 + 1)); done
if [ $on2 -ge 2 ]; then keep=2; gone=3; else keep=3; gone=2; fi
etcd_stop KILL $gone
deadline=$((SECONDS + 40))
asserted=""
for n in $NODES; do
	[ "${W[$n]}" = $keep ] || continue
	until grep -q "etcd: the member ended the watch: etcdserver: no leader" "$T/node$n.log"; do
		[ $SECONDS -lt $deadline ] || fail "node $n: its watch on m$keep, left without a leader, was not ended: $(grep 'etcd:' "$T/node$n.log" | tail -3)"
		sleep 0.2
	done
	asserted="$asserted $n"
done
ok "quorum lost (m$keep alone): the watch of node(s)$asserted, on m$keep, ended with 'no leader'"
etcd_member $gone
etcd_healthy 2 3
deadline=$((SECONDS + 40))
for n in $NODES; do
	until [ "$(metric "$n" 'tlsgate_store_up{backend="etcd"}')" = 1 ]; do
		[ $SECONDS -lt $deadline ] || fail "node $n: the store is not back after quorum returned"
		sleep 0.2
	done
	serves_all "$n" || fail "node $n: $(cat "$T/names$n.out")"
done
ok "quorum back (m2 and m3): every node has the store again and serves both names"
