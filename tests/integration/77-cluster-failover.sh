#!/bin/bash
# Locks across a fleet (issue 15, docs/cluster.md): three tlsgate nodes on one
# etcd cluster with two dns-01 sites. The dns_hook holds each order in
# flight until the test creates a go file for its name.
#  - Keep-alive: k.cluster.test's order is held for longer than the lock's
#    lease (30 s). Its holder refreshes the lease, so no other node orders
#    the name meanwhile, and the holder's certificate is written (the fence
#    passes) and served by every node.
#  - Node death: the node holding f.cluster.test's lock is killed (-9) in the
#    middle of its order. Its lease is no longer refreshed: once it ends,
#    another node takes the name over and completes the certificate, which
#    both survivors serve. Exactly one certificate is issued per name (one
#    finalize at Pebble each). The takeover time is printed (not asserted).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/lib-cluster.sh"
need openssl curl etcd
NAME=f.cluster.test
K=k.cluster.test

start_pebble
start_etcd3
PB=$(cluster_port)
backend APP http "$PB"
cluster_names "$NAME" "$K"
cat >"$T/hook" <<HOOK
#!/bin/bash
# dns_hook: set|clear NAME VALUE. A "set" waits for $T/go-<site> (110 s at
# most) before publishing: the order stays in flight until the test says.
echo "\$PPID \$1 \$2" >>"$T/hook.calls"
if [ "\$1" = set ]; then
	go="$T/go-\${2#_acme-challenge.}"
	for _ in \$(seq 1 1100); do [ -e "\$go" ] && break; sleep 0.1; done
	curl -sS -X POST -d "{\"host\":\"\$2.\",\"value\":\"\$3\"}" http://127.0.0.1:$CHALL_MGMT/set-txt
else
	curl -sS -X POST -d "{\"host\":\"\$2.\"}" http://127.0.0.1:$CHALL_MGMT/clear-txt
fi
HOOK
chmod +x "$T/hook"
site() {
	echo "{\"mode\": \"tcp\", \"names\": [\"$1\"], \"backends\": [\"127.0.0.1:$PB\"], \"acme\": {\"challenges\": [\"dns-01\"]}}"
}
for n in $NODES; do
	node_config "$n" "$(site "$K"), $(site "$NAME")" ", \"dns_hook\": \"$T/hook\""
done
for n in $NODES; do start_node "$n"; done
for n in $NODES; do wait_node "$n"; done
pebble_root "$T/root.pem"

# hook_node NAME: the node whose hook runs for NAME (the lock holder), once
# it runs (60 s).
hook_node() {
	local deadline=$((SECONDS + 60)) pid n
	until grep -q " set _acme-challenge.$1\$" "$T/hook.calls" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "no dns_hook call for $1 after 60 s"
		sleep 0.1
	done
	pid=$(awk -v h="_acme-challenge.$1" '$2 == "set" && $3 == h {print $1; exit}' "$T/hook.calls")
	for n in $NODES; do
		if [ "${NODE_PID[n]}" = "$pid" ]; then echo "$n"; fi
	done
}
# orderers NAME: the nodes that logged an order for NAME.
orderers() {
	local n
	for n in $NODES; do
		if grep -q "acme $1: ordering ecdsa" "$T/node$n.log"; then echo "$n"; fi
	done
}
# served_by NODE NAME: NODE serves NAME with a certificate from Pebble.
served_by() {
	[ "$(curl -s --max-time 5 --cacert "$T/root.pem" --resolve "$2:$ACME_TLS_PORT:127.0.0.$1" \
	    "https://$2:$ACME_TLS_PORT/")" = APP ]
}

# Keep-alive: the order of K outlives the lease's TTL; nobody else orders.
kn=$(hook_node "$K")
[ -n "$kn" ] || fail "the dns_hook for $K runs under no node"
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 40 ]; do
	[ "$(orderers "$K" | wc -l)" -eq 1 ] || fail "a second node ordered $K while node $kn held it: $(orderers "$K" | tr '\n' ' ')"
	sleep 0.5
done
touch "$T/go-$K"
deadline=$((SECONDS + 60))
for n in $NODES; do
	until served_by "$n" "$K"; do
		[ $SECONDS -lt $deadline ] || fail "node $n does not serve $K"
		sleep 0.2
	done
done
[ "$(orderers "$K")" = "$kn" ] || fail "$K ordered by $(orderers "$K" | tr '\n' ' ')"
grep -q "acme $K: new ecdsa certificate" "$T/node$kn.log" ||
    fail "node $kn did not write the certificate of $K"
ok "node $kn held $K's lock for 40 s (lease 30 s, kept alive), alone ordered it, and every node serves it"

# Node death: the lock holder of NAME is killed mid-order.
holder=$(hook_node "$NAME")
[ -n "$holder" ] || fail "the dns_hook for $NAME runs under no node"
holder_pid=${NODE_PID[$holder]}
[ "$(orderers "$NAME")" = "$holder" ] || fail "$NAME ordered by $(orderers "$NAME" | tr '\n' ' ') before the kill"
kill -9 "$holder_pid"
killed=$(date +%s%N)
touch "$T/go-$NAME"
ok "node $holder (pid $holder_pid) held $NAME's lock and was killed mid-order"

# A survivor takes the name over once the lease ends, and both serve it.
survivors=""
for n in $NODES; do [ "$n" = "$holder" ] || survivors="$survivors $n"; done
deadline=$((SECONDS + 150))
for n in $survivors; do
	until served_by "$n" "$NAME"; do
		[ $SECONDS -lt $deadline ] || fail "node $n does not serve $NAME 150 s after the kill"
		sleep 0.2
	done
done
served=$(date +%s%N)
orderer=""
for n in $survivors; do
	grep -q "acme $NAME: new ecdsa certificate" "$T/node$n.log" && orderer="$orderer $n"
done
[ "$(echo $orderer | wc -w)" -eq 1 ] || fail "certificate completed by node(s) '$orderer'"
survivors=${survivors# }
a=$(node_fp "${survivors% *}" "$NAME"); b=$(node_fp "${survivors#* }" "$NAME")
[ -n "$a" ] && [ "$a" = "$b" ] || fail "the survivors serve different certificates ($a $b)"
finalized=$(grep -c 'POST /finalize-order' "$T/pebble.log" || true)
[ "$finalized" -eq 2 ] || fail "$finalized finalize requests at Pebble (one certificate per name expected)"
echo "takeover: served by both survivors $(( (served - killed) / 1000000 )) ms after the kill (lock lease: 30 s)"
ok "node${orderer} completed $NAME after node $holder died mid-order; one certificate issued, served by both survivors"
