#!/bin/bash
# A fleet of three tlsgate nodes on one etcd cluster (issue 15, docs/cluster.md).
# The test starts a 3-member etcd on loopback, Pebble, and three nodes on
# 127.0.0.11, .12 and .13 with the same sites; Pebble's DNS gives every name
# all three addresses, so the CA validates through whichever node it picks,
# whichever node ordered. Asserted:
#  - a node without the fleet's encryption key refuses to start, saying so;
#  - one order per name across the fleet: exactly N newOrder requests at
#    Pebble for N sites configured on three nodes, no failed attempt;
#  - every node serves every name (verified against Pebble's root), and
#    the same certificate on each node;
#  - a forced renewal (tlsgate renew NAME --config, written to etcd) is taken
#    by exactly one node, ordered once, and served by the two other nodes;
#    how long after the ordering node they served it is printed (not
#    asserted: no timed assertions).
# Sites use TLS-ALPN-01 and HTTP-01 alternately. N is TG_CLUSTER_SITES (30).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/lib-cluster.sh"
need openssl curl etcd timeout
N=${TG_CLUSTER_SITES:-30}

start_pebble
start_etcd3
ok "3-member etcd cluster healthy"
PB=$(cluster_port)
backend APP http "$PB"
sites=""
for i in $(seq 1 "$N"); do
	cluster_names "s$i.cluster.test"
	if [ $((i % 2)) = 0 ]; then ch=http-01; else ch=tls-alpn-01; fi
	sites="$sites${sites:+,
}{\"mode\": \"tcp\", \"names\": [\"s$i.cluster.test\"], \"backends\": [\"127.0.0.1:$PB\"], \"acme\": {\"challenges\": [\"$ch\"]}}"
done
for n in $NODES; do node_config "$n" "$sites"; done

# A node without the encryption key refuses to start, and says why.
sed "s#$T/etcd.key#$T/missing.key#" "$T/node11.json" >"$T/nokey.json"
if timeout 30 "$TLSGATE" run --config "$T/nokey.json" >"$T/nokey.log" 2>&1; then
	fail "a node without the encryption key started"
fi
grep -q "encryption key $T/missing.key" "$T/nokey.log" ||
    fail "no clear error without the key: $(cat "$T/nokey.log")"
ok "a node without the encryption key refuses to start: $(grep -o 'encryption key.*' "$T/nokey.log" | head -1)"

start=$SECONDS
for n in $NODES; do start_node "$n"; done
for n in $NODES; do wait_node "$n"; done

# in_service NODE: how many names NODE has put in service.
in_service() {
	grep -o 'acme s[0-9]*\.cluster\.test: new certificate in service' "$T/node$1.log" |
	    sort -u | wc -l
}
deadline=$((SECONDS + 200))
for n in $NODES; do
	until [ "$(in_service "$n")" -ge "$N" ]; do
		[ $SECONDS -lt $deadline ] ||
		    fail "node $n has $(in_service "$n") of $N certificates in service after 200 s"
		kill -0 "${NODE_PID[n]}" || fail "node $n exited"
		sleep 0.2
	done
done
ok "$N certificates in service on all three nodes after $((SECONDS - start)) s"

per_node=""
for n in $NODES; do
	per_node="$per_node node$n=$(grep -c ': ordering ecdsa' "$T/node$n.log" || true)"
done
adopted=$(cat "$T"/node1[123].log | grep -c 'another node put a new' || true)
fleet_orders "$N"
ok "$FLEET_ORDERS on three nodes (orders by$per_node; $adopted adopted under the lock from another node)"
# Each order asked the CA to validate only once every node had acknowledged
# its challenge (store_challenge_acked), never on the 5 s fallback.
unacked=$(cat "$T"/node1[123].log | grep -c 'not every member has acknowledged' || true)
[ "$unacked" -eq 0 ] || fail "$unacked orders asked the CA before every node acknowledged the challenge: $(grep -h 'not every member' "$T"/node1[123].log | head -3)"
ok "every order's challenge was acknowledged by all three nodes before the CA was asked"

# Every node serves every name, with the same certificate, valid under
# Pebble's root.
pebble_root "$T/root.pem"
seq 1 "$N" | sed 's/^/s/; s/$/.cluster.test/' >"$T/names.txt"
for n in $NODES; do
	"$TG_CLIENT" names --connect "127.0.0.$n:$ACME_TLS_PORT" --names "$T/names.txt" \
	    --ca "$T/root.pem" --conns 4 --seconds 60 >"$T/names$n.out" 2>&1 ||
	    fail "node $n does not serve every name: $(cat "$T/names$n.out")"
done
for i in $(seq 1 "$N"); do
	a=$(node_fp 11 "s$i.cluster.test"); b=$(node_fp 12 "s$i.cluster.test")
	c=$(node_fp 13 "s$i.cluster.test")
	[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] ||
	    fail "s$i.cluster.test: the nodes serve different certificates ($a $b $c)"
done
[ "$(curl -sS --max-time 5 --cacert "$T/root.pem" \
    --resolve "s2.cluster.test:$ACME_TLS_PORT:127.0.0.13" \
    "https://s2.cluster.test:$ACME_TLS_PORT/")" = APP ] || fail "curl through node 13"
ok "every node serves all $N names (verified against Pebble's root), the same certificate on each"

# A forced renewal through etcd: one node takes it and orders; the two
# others serve the new certificate through their watch.
R=s1.cluster.test
old=$(node_fp 11 "$R")
asked=$(date +%s%N)
"$TLSGATE" renew "$R" --config "$T/node11.json" >"$T/renew.out" 2>&1 ||
    fail "tlsgate renew: $(cat "$T/renew.out")"
declare -A seen
deadline=$((SECONDS + 60))
while :; do
	now=$(date +%s%N)
	for n in $NODES; do
		[ -z "${seen[$n]:-}" ] || continue
		f=$(node_fp "$n" "$R")
		[ -z "$f" ] || [ "$f" = "$old" ] || seen[$n]=$now
	done
	[ -z "${seen[11]:-}" ] || [ -z "${seen[12]:-}" ] || [ -z "${seen[13]:-}" ] || break
	[ $SECONDS -lt $deadline ] ||
	    fail "the renewed certificate is not served everywhere after 60 s (served by: ${!seen[*]})"
	sleep 0.05
done
taker=""
for n in $NODES; do
	if grep -q "acme $R: renewal forced" "$T/node$n.log"; then taker="$taker $n"; fi
done
[ "$(echo $taker | wc -w)" -eq 1 ] || fail "renewal taken by node(s) '$taker', not by exactly one"
taker=${taker# }
fleet_orders $((N + 1))
a=$(node_fp 11 "$R"); b=$(node_fp 12 "$R"); c=$(node_fp 13 "$R")
[ -n "$a" ] && [ "$a" != "$old" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] ||
    fail "after the renewal the nodes serve $a $b $c (before: $old)"
# Each node polled in turn with a handshake: the times are as fine as a
# round of three handshakes.
for n in $NODES; do
	echo "propagation: node $n served the renewed certificate $(( (seen[$n] - asked) / 1000000 )) ms after the request ($(( (seen[$n] - seen[$taker]) / 1000000 )) ms after node $taker, which ordered it)"
done
ok "renewal asked on node 11, taken and ordered once by node $taker, served by all three nodes"

# Session tickets: one key ring for the fleet, in etcd (sealed). A ticket
# from node 11 resumes on nodes 12 and 13.
tls13_session "127.0.0.11:$ACME_TLS_PORT" "$T/t11" -servername "$R"
[ -s "$T/t11" ] || fail "no session ticket from node 11"
for n in 12 13; do
	grep -q "^Reused, TLSv1.3" <<<"$(s_client "127.0.0.$n:$ACME_TLS_PORT" -servername "$R" \
	    -tls1_3 -sess_in "$T/t11")" || fail "a ticket from node 11 did not resume on node $n"
done
ok "a session ticket from node 11 resumes on nodes 12 and 13"
