#!/bin/bash
# What a fleet on etcd shares besides certificates (issue 15,
# docs/cluster.md): two nodes, 127.0.0.11 and .12, on a 3-member etcd.
#  - ECH keys: one key list for the fleet, made by one node under the
#    store's lock; an ECHConfigList printed by `tlsgate ech` on either node
#    decrypts on both; a rotation is made once and reaches the other node;
#  - `tlsgate certs --config` lists what is in etcd (the nodes' state
#    folders hold no certificate);
#  - `tlsgate approve NAME --config` goes through etcd: a node of the fleet
#    orders the on-demand name (the ask endpoint would refuse it), and both
#    nodes serve it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/lib-cluster.sh"
need openssl curl etcd python3
: "${TG_ASK:?}"
"$TLSGATE" version | grep -q AWS-LC || { echo "skip: ECH needs the AWS-LC build"; exit 77; }

start_pebble
pebble_root "$T/root.pem"
start_etcd3
PB=$(cluster_port); AP=$(cluster_port)
backend APP http "$PB"
"$TG_ASK" --listen "127.0.0.1:$AP" --allow .never.test >"$T/ask.log" 2>&1 &
PIDS+=($!)
wait_port "$AP"
cluster_names a.shared.test approved.od.test
ROT=30	# ECH rotation: once during the test, after the other checks
for n in 11 12; do
	node_config "$n" "{\"mode\": \"tcp\", \"names\": [\"a.shared.test\"], \"backends\": [\"127.0.0.1:$PB\"], \"acme\": true}"
	python3 - "$T/node$n.json" "$AP" "$PB" "$ROT" <<'PY'
import json, sys
p, ap, pb, rot = sys.argv[1:]
c = json.load(open(p))
c["tls"] = {"ech": {"enabled": True, "public_name": "a.shared.test",
                    "rotation": int(rot), "grace": 300}}
c["on_demand"] = {"ask": "http://127.0.0.1:%s/ask" % ap,
                  "site": {"mode": "tcp", "backends": ["127.0.0.1:%s" % pb]}}
json.dump(c, open(p, "w"))
PY
done
# wait_in LOG PATTERN SECONDS: until LOG has a line matching PATTERN.
wait_in() {
	local deadline=$((SECONDS + $3))
	until grep -q -- "$2" "$1"; do
		[ $SECONDS -lt "$deadline" ] || fail "no line matching \"$2\" in $1"
		sleep 0.2
	done
}
for n in 11 12; do start_node "$n"; done
for n in 11 12; do wait_node "$n"; done
for n in 11 12; do wait_in "$T/node$n.log" "acme a.shared.test: new certificate in service" 90; done
for n in 11 12; do wait_in "$T/node$n.log" "ech: on, public name a.shared.test" 30; done

# newkeys: "ech: new key" lines of both nodes.
newkeys() { cat "$T/node11.log" "$T/node12.log" | grep -c "ech: new key" || true; }
[ "$(newkeys)" = 1 ] || fail "$(newkeys) ECH keys made at start by two nodes (want 1)"
id11=$(grep -o "ech: on, public name a.shared.test, config id [0-9]*" "$T/node11.log" | grep -o "[0-9]*$")
id12=$(grep -o "ech: on, public name a.shared.test, config id [0-9]*" "$T/node12.log" | grep -o "[0-9]*$")
[ "$id11" = "$id12" ] || fail "the nodes serve different ECH keys ($id11, $id12)"
L1=$("$TLSGATE" ech --config "$T/node11.json" | head -1)
[ -n "$L1" ] || fail "tlsgate ech printed nothing"
[ "$("$TLSGATE" ech --config "$T/node12.json" | head -1)" = "$L1" ] ||
    fail "tlsgate ech differs between the nodes"
# ech_ok NODE LIST: an ECH handshake to NODE for a.shared.test is accepted.
ech_ok() {
	"$TG_CLIENT" info --connect "127.0.0.$1:$ACME_TLS_PORT" --sni a.shared.test \
	    --tls 1.3 --ech "$2" 2>&1 | grep -qw "ech=1"
}
for n in 11 12; do ech_ok "$n" "$L1" || fail "node $n does not accept the fleet's ECHConfigList"; done
ok "ECH: one key for the fleet (config id $id11, made once), accepted by both nodes"

# tlsgate certs reads etcd: the state folders hold no certificate.
if find "$T/state11" "$T/state12" -name '*.pem' 2>/dev/null | grep -q .; then
	fail "a certificate in a node's state folder with the etcd store"
fi
out=$("$TLSGATE" certs --config "$T/node12.json")
grep -q "^a.shared.test .*Pebble Intermediate" <<<"$out" || fail "tlsgate certs: $out"
ok "tlsgate certs --config lists the fleet's certificates from etcd"

# approve: through etcd, ordered by one node, served by both.
out=$("$TLSGATE" approve approved.od.test --config "$T/node11.json")
grep -q "approved through etcd" <<<"$out" || fail "approve: $out"
# Handshakes only once it is stored: before, a handshake would ask.
deadline=$((SECONDS + 60))
until cat "$T/node11.log" "$T/node12.log" | grep -q "acme approved.od.test: new ecdsa certificate"; do
	[ $SECONDS -lt $deadline ] || fail "approved.od.test not ordered by the fleet"
	sleep 0.2
done
for n in 11 12; do
	until curl -sS --max-time 5 --cacert "$T/root.pem" \
	    --resolve "approved.od.test:$ACME_TLS_PORT:127.0.0.$n" \
	    "https://approved.od.test:$ACME_TLS_PORT/" 2>/dev/null | grep -q APP; do
		[ $SECONDS -lt $deadline ] || fail "node $n does not serve approved.od.test"
		sleep 0.2
	done
done
[ "$(curl -sS "http://127.0.0.1:$AP/count")" = 0 ] || fail "the ask endpoint was asked"
fleet_orders 2
ok "tlsgate approve --config goes through etcd: one order ($FLEET_ORDERS), both nodes serve the name, no ask"

# Rotation: one node makes the next key; both accept it, and the old one
# still decrypts during its grace period.
deadline=$((SECONDS + ROT + 60))
until [ "$(newkeys)" -ge 2 ]; do
	[ $SECONDS -lt $deadline ] || fail "no ECH rotation after $ROT s"
	sleep 0.2
done
L2=$("$TLSGATE" ech --config "$T/node12.json" | head -1)
[ "$L2" != "$L1" ] || fail "the published list did not change with the rotation"
deadline=$((SECONDS + 30))
for n in 11 12; do
	until ech_ok "$n" "$L2"; do
		[ $SECONDS -lt $deadline ] || fail "node $n does not accept the rotated ECHConfigList"
		sleep 0.2
	done
	ech_ok "$n" "$L1" || fail "node $n no longer accepts the previous list in its grace"
done
[ "$(newkeys)" = 2 ] || fail "$(newkeys) ECH keys made by the fleet after one rotation (want 2)"
ok "ECH rotation: made once for the fleet, the new list accepted by both nodes, the old one in its grace"
