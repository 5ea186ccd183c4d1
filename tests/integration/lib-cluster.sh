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
	local init="" m deadline
	ETCD_ENDPOINTS=""
	for m in 1 2 3; do
		EC[m]=$(cluster_port); EPEER[m]=$(cluster_port)
		init="${init:+$init,}m$m=http://127.0.0.1:${EPEER[m]}"
		ETCD_ENDPOINTS="${ETCD_ENDPOINTS:+$ETCD_ENDPOINTS, }\"http://127.0.0.1:${EC[m]}\""
	done
	for m in 1 2 3; do
		etcd --name "m$m" --data-dir "$T/etcd$m" \
		    --listen-client-urls "http://127.0.0.1:${EC[m]}" \
		    --advertise-client-urls "http://127.0.0.1:${EC[m]}" \
		    --listen-peer-urls "http://127.0.0.1:${EPEER[m]}" \
		    --initial-advertise-peer-urls "http://127.0.0.1:${EPEER[m]}" \
		    --initial-cluster "$init" --initial-cluster-state new \
		    --initial-cluster-token "tg-$$" --log-level warn >"$T/etcd$m.log" 2>&1 &
		ETCD_PID[m]=$!
		PIDS+=($!)
	done
	deadline=$((SECONDS + 60))
	for m in 1 2 3; do
		until curl -sf "http://127.0.0.1:${EC[m]}/health" 2>/dev/null | grep -q '"true"'; do
			[ $SECONDS -lt $deadline ] || fail "etcd member m$m not healthy after 60 s"
			sleep 0.1
		done
	done
	(umask 077; head -c 32 /dev/urandom >"$T/etcd.key")
}

# cluster_names NAME...: each NAME resolves to the three node addresses.
cluster_names() {
	local n
	for n in "$@"; do
		curl -sSf -X POST -d "{\"host\":\"$n.\",\"addresses\":[\"127.0.0.11\",\"127.0.0.12\",\"127.0.0.13\"]}" \
		    "http://127.0.0.1:$CHALL_MGMT/add-a" >/dev/null || fail "add-a $n"
	done
}

# node_config NODE SITES [ACME-MEMBERS]: $T/nodeNODE.json, the fleet's
# config for node 127.0.0.NODE: SITES is the JSON of the sites array's
# members, ACME-MEMBERS extra members of "acme" (", \"dns_hook\": ...").
# Only the listen addresses and the folder of the pid file differ by node.
node_config() {
	cat >"$T/node$1.json" <<JSON
{"allow_root": true, "log": {"level": "notice"},
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

# node_fp NODE NAME: "fp=..." of the certificate NODE serves for NAME, or
# nothing.
node_fp() {
	"$TG_CLIENT" info --connect "127.0.0.$1:$ACME_TLS_PORT" --sni "$2" 2>/dev/null |
	    grep -o 'fp=[0-9a-f]*' || true
}
