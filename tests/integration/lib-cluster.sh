# lib-cluster.sh - a fleet on loopback for the cluster tests (76-79,
# docs/cluster.md): a 3-member etcd cluster, names resolving to the three
# node addresses through Pebble's DNS, and tlsgate nodes on 127.0.0.11, .12
# and .13 sharing one etcd store. Source after lib.sh and pebble.sh, and
# call after start_pebble.
NODES="11 12 13"
USED=" "

# cluster_port: a free port, distinct from every one handed out before.
cluster_port() {
	local p
	while :; do
		p=$(free_port)
		case "$USED $ACME_TLS_PORT $ACME_HTTP_PORT " in *" $p "*) continue ;; esac
		USED="$USED$p "
		echo "$p"
		return
	done
}

# wait_addr ADDR PORT: until something listens there (20 s).
wait_addr() {
	local deadline=$((SECONDS + 20))
	while ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
		[ $SECONDS -lt "$deadline" ] || fail "nothing listens on $1:$2"
		sleep 0.05
	done
}

# start_etcd3: a 3-member etcd cluster, data in $T/etcdM, healthy on return.
# Sets EC[M] (client ports), ETCD_PID[M], ETCD_ENDPOINTS (a JSON list's
# members), and makes the fleet's encryption key $T/etcd.key.
start_etcd3() {
	local m
	ETCD_ENDPOINTS=""
	ETCD_INIT=""
	for m in 1 2 3; do
		EC[m]=$(cluster_port); EPEER[m]=$(cluster_port)
		ETCD_INIT="${ETCD_INIT:+$ETCD_INIT,}m$m=http://127.0.0.1:${EPEER[m]}"
		ETCD_ENDPOINTS="${ETCD_ENDPOINTS:+$ETCD_ENDPOINTS, }\"http://127.0.0.1:${EC[m]}\""
	done
	for m in 1 2 3; do etcd_member "$m"; done
	etcd_healthy 1 2 3
	(umask 077; head -c 32 /dev/urandom >"$T/etcd.key")
}

# etcd_member M: start member M of the cluster start_etcd3 made, on its
# ports and data folder (a restart keeps its data); log appended to
# $T/etcdM.log; sets ETCD_PID[M]. Does not wait (etcd_healthy does).
etcd_member() {
	local m=$1
	etcd --name "m$m" --data-dir "$T/etcd$m" \
	    --listen-client-urls "http://127.0.0.1:${EC[m]}" \
	    --advertise-client-urls "http://127.0.0.1:${EC[m]}" \
	    --listen-peer-urls "http://127.0.0.1:${EPEER[m]}" \
	    --initial-advertise-peer-urls "http://127.0.0.1:${EPEER[m]}" \
	    --initial-cluster "$ETCD_INIT" --initial-cluster-state new \
	    --initial-cluster-token "tg-$$" --log-level warn >>"$T/etcd$m.log" 2>&1 &
	ETCD_PID[m]=$!
	PIDS+=($!)
}

# etcd_healthy M...: until each member M reports itself healthy (60 s).
etcd_healthy() {
	local m deadline=$((SECONDS + 60))
	for m in "$@"; do
		until curl -sf --max-time 2 "http://127.0.0.1:${EC[m]}/health" 2>/dev/null |
		    grep -q '"true"'; do
			[ $SECONDS -lt $deadline ] || fail "etcd member m$m not healthy after 60 s"
			sleep 0.1
		done
	done
}

# etcd_status M FIELD: FIELD ("member_id", "leader") of member M's status.
etcd_status() {
	{ curl -s --max-time 5 -X POST -d '{}' \
	    "http://127.0.0.1:${EC[$1]}/v3/maintenance/status" || true; } |
	    grep -o "\"$2\":\"[0-9]*\"" | head -1 | grep -o '[0-9][0-9]*' || true
}

# etcd_make_leader M: move the cluster's leadership to member M (15 s).
etcd_make_leader() {
	local id leader m deadline=$((SECONDS + 15))
	id=$(etcd_status "$1" member_id)
	[ -n "$id" ] || fail "etcd member m$1 has no member_id"
	until [ "$(etcd_status "$1" leader)" = "$id" ]; do
		leader=$(etcd_status "$1" leader)
		for m in 1 2 3; do
			[ "$(etcd_status "$m" member_id)" = "$leader" ] || continue
			curl -s --max-time 5 -X POST -d "{\"targetID\": \"$id\"}" \
			    "http://127.0.0.1:${EC[m]}/v3/maintenance/transfer-leadership" \
			    >/dev/null || true
		done
		[ $SECONDS -lt $deadline ] || fail "etcd member m$1 did not become the leader"
		sleep 0.2
	done
}

# etcd_stop SIGNAL M...: send SIGNAL (TERM, KILL) to members M and wait
# until they are gone.
etcd_stop() {
	local sig=$1 m
	shift
	for m in "$@"; do kill "-$sig" "${ETCD_PID[m]}" 2>/dev/null || true; done
	for m in "$@"; do wait "${ETCD_PID[m]}" 2>/dev/null || true; done
}

# cluster_names NAME...: each NAME resolves to the three node addresses.
cluster_names() {
	local n
	for n in "$@"; do
		curl -sSf -X POST -d "{\"host\":\"$n.\",\"addresses\":[\"127.0.0.11\",\"127.0.0.12\",\"127.0.0.13\"]}" \
		    "http://127.0.0.1:$CHALL_MGMT/add-a" >/dev/null || fail "add-a $n"
	done
}

# node_config NODE SITES [ACME-MEMBERS [TOP-MEMBERS]]: $T/nodeNODE.json,
# the fleet's config for node 127.0.0.NODE: SITES is the JSON of the sites
# array's members, ACME-MEMBERS extra members of "acme" (", \"dns_hook\":
# ..."), TOP-MEMBERS extra top-level members (", \"admin\": {...}").
# Only the listen addresses, the admin address and the state folder (pid
# file, local copy of the store) differ by node.
node_config() {
	cat >"$T/node$1.json" <<JSON
{"allow_root": true, "log": {"level": "notice"} ${4:-},
 "listen": {"https": ["127.0.0.$1:$ACME_TLS_PORT"], "http": ["127.0.0.$1:$ACME_HTTP_PORT"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state$1", "retry_base": 1 ${3:-}},
 "store": {"backend": "etcd", "etcd": {"endpoints": [$ETCD_ENDPOINTS],
           "key_file": "$T/etcd.key"}},
 "sites": [$2]}
JSON
}

# start_node NODE: tlsgate with $T/nodeNODE.json, log $T/nodeNODE.log; sets
# NODE_PID[NODE]. Does not wait (start_nodes does).
start_node() {
	"$TLSGATE" run --config "$T/node$1.json" >"$T/node$1.log" 2>&1 &
	NODE_PID[$1]=$!
	PIDS+=($!)
}

# wait_node NODE: until its TLS port listens.
wait_node() { wait_addr "127.0.0.$1" "$ACME_TLS_PORT"; }

# wait_node_log NODE PATTERN [SECONDS]: until NODE's log has a line matching
# PATTERN (60 s).
wait_node_log() {
	local deadline=$((SECONDS + ${3:-60}))
	until grep -q -- "$2" "$T/node$1.log"; do
		[ $SECONDS -lt "$deadline" ] || fail "node $1: no log line matching: $2"
		kill -0 "${NODE_PID[$1]}" 2>/dev/null || fail "node $1 exited"
		sleep 0.1
	done
}

# fleet_orders N: the fleet placed one order per name for its N names, as
# far as Pebble saw: N orders finalized, and any other newOrder is an order
# that failed because the CA could not connect to a node that was still
# starting: Pebble dials a name's first address, 127.0.0.11, and a node
# already up may order before that node has even joined the fleet (the
# node holding the lock then tries the next challenge type, and orders
# again). Each such challenge failed is one order set invalid. A second
# order for a name would be a second finalization. Sets FLEET_ORDERS.
fleet_orders() {
	local fin orders refused
	fin=$(grep -c 'POST /finalize-order/' "$T/pebble.log" || true)
	orders=$(grep -c 'POST /order-plz' "$T/pebble.log" || true)
	refused=$(cat "$T"/node1[1-3].log 2>/dev/null |
	    grep -c '\(tls-alpn-01\|http-01\) failed for .*\(connect: connection refused\|Failed to connect to\)' || true)
	[ "$fin" -eq "$1" ] ||
	    fail "$fin orders finalized at Pebble for $1 names ($orders newOrder requests)"
	[ "$orders" -eq $(($1 + refused)) ] ||
	    fail "$orders newOrder requests for $1 names, $refused of them failed on a node not yet up: $(grep -h ' failed for \| attempt [0-9]* failed' "$T"/node1[1-3].log)"
	FLEET_ORDERS="$fin orders finalized for $1 names, $refused more failed on a node still starting"
}

# node_fp NODE NAME: "fp=..." of the certificate NODE serves for NAME, or
# nothing.
node_fp() {
	"$TG_CLIENT" info --connect "127.0.0.$1:$ACME_TLS_PORT" --sni "$2" 2>/dev/null |
	    grep -o 'fp=[0-9a-f]*' || true
}

# etcd_count PREFIX: how many keys etcd holds under PREFIX (any live member).
etcd_count() {
	local end k e m
	end="${1%?}$(printf "\\$(printf '%03o' $(( $(printf '%d' "'${1: -1}") + 1 )))")"
	k=$(printf '%s' "$1" | base64 -w0)
	e=$(printf '%s' "$end" | base64 -w0)
	for m in 1 2 3; do
		curl -fsS -m 5 -X POST -d "{\"key\":\"$k\",\"range_end\":\"$e\",\"count_only\":true}" \
		    "http://127.0.0.1:${EC[m]}/v3/kv/range" 2>/dev/null |
		    python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))' &&
		    return 0
	done
	echo -1
}
