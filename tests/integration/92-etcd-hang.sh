#!/bin/bash
# etcd that hangs (every member stopped with SIGSTOP: connections open,
# requests never answered) must not stall the main loop (storetask.h): port
# 80 (HTTP-01 answers, redirects) and the admin endpoint keep answering
# while a session-ticket rotation (and, in the AWS-LC build, an ECH key
# rotation) waits on etcd, and the rotation falls back to keys of the
# node's own. Once etcd answers again, the ring is shared through it again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/lib-cluster.sh"
need curl etcd

start_pebble
start_etcd3
PB=$(cluster_port); ADM=$(cluster_port)
backend APP http "$PB"
cluster_names a.hang.test
# Rotation every second: a store task is always due; each etcd request
# waits 2 s per member. ECH keys rotate every 2 s (/status lists them).
tls='"ticket_key_rotation": 1'
if "$TLSGATE" version | grep -q AWS-LC; then
	tls="$tls, \"ech\": {\"enabled\": true, \"public_name\": \"a.hang.test\", \"rotation\": 2, \"grace\": 3}"
fi
node_config 11 "{\"mode\": \"tcp\", \"names\": [\"a.hang.test\"], \"backends\": [\"127.0.0.1:$PB\"], \"acme\": true}" \
    "" ", \"admin\": {\"listen\": \"127.0.0.1:$ADM\"}, \"tls\": {$tls}"
sed -i -e 's/"key_file":/"timeout": 2, "key_file":/' \
    -e 's/"level": "notice"/"level": "info"/' "$T/node11.json"
start_node 11
wait_node 11
wait_node_log 11 "acme a.hang.test: new certificate in service" 60
wait_node_log 11 "session ticket keys rotated (shared through the store)" 30

# probe: port 80 redirects and /status answers, each within 3 s (both
# answer in milliseconds; a main loop waiting on etcd would not for 6 s).
probes=0
probe() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 -H "Host: a.hang.test" \
	    "http://127.0.0.11:$ACME_HTTP_PORT/x" || true)
	[ "$code" = 308 ] || fail "port 80 did not answer while etcd hangs (got '$code', probe $probes)"
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$ADM/status" || true)
	[ "$code" = 200 ] || fail "/status did not answer while etcd hangs (got '$code', probe $probes)"
	probes=$((probes + 1))
}
probe
for m in 1 2 3; do kill -STOP "${ETCD_PID[m]}"; done
resumed=0
resume() {
	[ "$resumed" = 1 ] && return
	for m in 1 2 3; do kill -CONT "${ETCD_PID[m]}" 2>/dev/null || true; done
	resumed=1
}
trap 'r=$?; resume; (exit $r); finish' EXIT
# Until a rotation has waited out etcd and given up on it (the lock's
# lease could not be granted: 3 members x 2 s after the ring's read).
gave_up="session ticket keys: the store's lock: .*rotating keys of this process only"
n=$(log_count "$gave_up" "$T/node11.log")
deadline=$((SECONDS + 90))
until [ "$(log_count "$gave_up" "$T/node11.log")" -gt "$n" ]; do
	[ $SECONDS -lt $deadline ] || fail "no rotation gave up on the hung etcd in 90 s"
	probe
	sleep 0.2
done
[ "$probes" -ge 10 ] || fail "only $probes probes while a rotation waited on etcd"
"$TG_CLIENT" info --connect "127.0.0.11:$ACME_TLS_PORT" --sni a.hang.test | grep -q version= ||
    fail "no handshake while etcd hangs"
ok "while etcd hung, $probes probes of port 80 and /status all answered; the rotation fell back to local keys"

resume
# The ring goes through etcd again once it answers.
shared="session ticket keys rotated (shared through the store)\|session ticket keys taken from the store"
wait_logn "$shared" $(($(log_count "$shared" "$T/node11.log") + 1)) 60 "$T/node11.log"
probe
ok "etcd answering again: the ring goes through it again"
