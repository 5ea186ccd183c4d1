#!/bin/bash
# Backend pools with real connections: round robin (equal and 3:1 weights),
# least connections with long-lived connections held open, source-IP
# consistent hashing across many client addresses on 127.0.0.0/8 (and what
# moves when a backend is removed), active health checks with rise/fall while
# every client request still succeeds, all backends down, and PROXY v1/v2.
. "$(dirname "$0")/lib.sh"
need openssl curl

cert s ec pool.test '*.pool.test'
PA=$(free_port); PB=$(free_port); PC=$(free_port); PD=$(free_port); P=$(free_port)
backend A http "$PA"; backend B http "$PB"; backend C http "$PC"; backend D http "$PD"
site() { # name backends-json extra
	echo "{\"mode\": \"tcp\", \"names\": [\"$1\"], \"backends\": $2, \"certificates\": [{\"cert\": \"s.pem\", \"key\": \"s.key\"}] ${3:-}}"
}
conf() {
	echo "{\"allow_root\": true, \"listen\": {\"https\": [\"127.0.0.1:$P\"]}, \"log\": {\"level\": \"notice\"}, \"sites\": [$1]}" >"$T/tlsgate.json"
}
get() { # host [curl args]: one request on a new connection, prints the backend
	local h=$1; shift
	curl -sS --max-time 5 --cacert "$T/s.pem" --resolve "$h:$P:127.0.0.1" "$@" "https://$h:$P/" | cut -d' ' -f1
}
# getn N host: N requests, each on a new connection (a curl each, a few at
# a time); prints the backend of each, one per line.
getn() {
	seq 1 "$1" | xargs -P 6 -I{} curl -sS --max-time 30 --cacert "$T/s.pem" \
	    --resolve "$2:$P:127.0.0.1" -w '\n' "https://$2:$P/" | cut -d' ' -f1 | grep -v '^$'
}
# getsrc FIRST LAST host: one request from each of 127.0.0.FIRST..LAST (a
# few at a time), "ADDRESS BACKEND" per line, sorted by address.
getsrc() {
	seq "$1" "$2" | xargs -P 6 -I{} sh -c 'echo "127.0.0.{} $(curl -sS --max-time 30 \
	    --cacert "$0" --resolve "$1:$2:127.0.0.1" --interface 127.0.0.{} "https://$1:$2/" |
	    cut -d" " -f1)"' "$T/s.pem" "$3" "$P" | sort -t. -k4 -n
}
count() { sort | uniq -c | awk '{print $2"="$1}' | sort | tr '\n' ' '; }

conf "$(site rr.pool.test "[\"127.0.0.1:$PA\", \"127.0.0.1:$PB\", \"127.0.0.1:$PC\"]"),
      $(site w.pool.test "[{\"address\": \"127.0.0.1:$PA\", \"weight\": 3}, \"127.0.0.1:$PB\"]"),
      $(site lc.pool.test "[\"127.0.0.1:$PA\", \"127.0.0.1:$PB\", \"127.0.0.1:$PC\"]" ', "balance": "least_conn"'),
      $(site sh.pool.test "[\"127.0.0.1:$PA\", \"127.0.0.1:$PB\", \"127.0.0.1:$PC\", \"127.0.0.1:$PD\"]" ', "balance": "source_hash"'),
      $(site p2c.pool.test "[\"127.0.0.1:$PA\", \"127.0.0.1:$PB\"]" ', "balance": "p2c"')"
"$TLSGATE" check --config "$T/tlsgate.json" >/dev/null || fail "check"
start_tlsgate "$P" --config "$T/tlsgate.json"

# Round robin: 300 requests over 3 equal backends.
getn 300 rr.pool.test >"$T/rr"
c=$(count <"$T/rr"); echo "round robin: $c"
for b in A B C; do
	n=$(grep -c "^$b$" "$T/rr"); [ "$n" -ge 99 ] && [ "$n" -le 101 ] || fail "round robin gave $b $n of 300"
done
ok "round robin: 300 requests -> $c"
getn 400 w.pool.test >"$T/w"
a=$(grep -c "^A$" "$T/w"); b=$(grep -c "^B$" "$T/w")
[ "$a" -ge 299 ] && [ "$a" -le 301 ] && [ "$b" -ge 99 ] && [ "$b" -le 101 ] || fail "weights 3:1 gave A=$a B=$b"
ok "weighted 3:1: A=$a B=$b"

# Least connections: hold two connections open; new ones go to the third.
# Each is held only once tlsgate's backend connection for it is established
# (a fixed pause was not enough when the machine was busy).
est_to() { # PORT...: established TCP connections towards these ports
	local pats="" p
	for p in "$@"; do pats+="$(printf ':%04X ' "$p")"; done
	awk -v pats="$pats" 'NR > 1 && $4 == "01" { split($3, a, ":");
	    if (index(pats, ":" a[2] " ")) n++ } END { print n + 0 }' /proc/net/tcp
}
base=$(est_to "$PA" "$PB" "$PC")
for i in 1 2; do
	(sleep 6 | openssl s_client -connect "127.0.0.1:$P" -servername lc.pool.test -quiet \
	    >/dev/null 2>&1) &
	for _ in $(seq 1 50); do
		[ "$(est_to "$PA" "$PB" "$PC")" -ge $((base + i)) ] && break
		sleep 0.1
	done
	[ "$(est_to "$PA" "$PB" "$PC")" -ge $((base + i)) ] || fail "long connection $i not established"
done
for i in $(seq 1 5); do get lc.pool.test; done >"$T/lc"
[ "$(sort -u "$T/lc")" = C ] || fail "least_conn sent new requests to $(sort -u "$T/lc" | tr '\n' ' ') not C"
ok "least connections: with A and B holding long connections, 5 new requests all go to C"

# Source hashing: 150 client addresses, each pinned; remove D: only D's move.
getsrc 2 151 sh.pool.test >"$T/sh1"
getsrc 2 151 sh.pool.test >"$T/sh2"
cmp -s "$T/sh1" "$T/sh2" || fail "source hash not stable for the same client"
echo "source hash, 4 backends: $(awk '{print $2}' "$T/sh1" | count)"
for b in A B C D; do
	n=$(grep -c " $b$" "$T/sh1"); [ "$n" -ge 15 ] || fail "source hash gave $b only $n of 150"
done
sed -i "s|, \"127.0.0.1:$PD\"\\], \"certificates\"|], \"certificates\"|" "$T/tlsgate.json"
grep -q "\"127.0.0.1:$PD\"" "$T/tlsgate.json" && fail "test bug: D still configured"
kill -HUP "$TG_PID"
wait_log 'reload: done' 
getsrc 2 151 sh.pool.test >"$T/sh3"
moved=$(paste "$T/sh1" "$T/sh3" | awk '$2 != $4' | wc -l)
wrong=$(paste "$T/sh1" "$T/sh3" | awk '$2 != $4 && $2 != "D"' | wc -l)
onD=$(grep -c " D$" "$T/sh1")
[ "$wrong" = 0 ] || fail "removing D moved $wrong clients that were not on D"
[ "$moved" = "$onD" ] || fail "moved $moved clients, D had $onD"
[ "$moved" -ge 20 ] && [ "$moved" -le 55 ] || fail "moved $moved of 150: not about a quarter"
ok "source hash: stable per client; removing 1 of 4 moved only D's $moved of 150 clients"

# Power of two choices serves from both.
getn 40 p2c.pool.test | sort -u | tr '\n' ' ' | grep -q "A B" ||
    fail "p2c did not use both backends"
ok "power of two choices spreads over both backends"

# Health checks: kill B, it is taken out within interval x fall, every request
# still succeeds, and it comes back after rise.
kill "$TG_PID"; wait "$TG_PID" || true
mv "$T/tlsgate.log" "$T/tlsgate-1.log"
conf "$(site hc.pool.test "[\"127.0.0.1:$PA\", \"127.0.0.1:$PB\"]" \
    ', "health": {"type": "http", "path": "/health", "interval": 0.5, "timeout": 0.3, "rise": 2, "fall": 2}'),
      $(site pp1.pool.test "[\"127.0.0.1:$PD\"]" ', "proxy_protocol": 1'),
      $(site pp2.pool.test "[\"127.0.0.1:$PD\"]" ', "proxy_protocol": 2, "alpn": ["http/1.1"]')"
kill "${PIDS[3]}"	# D restarts as a PROXY-protocol backend
"$TG_BACKEND" --listen "127.0.0.1:$PD" --mode proxy --name D >"$T/backend-D2.log" 2>&1 &
PIDS+=($!)
wait_port "$PD"
start_tlsgate "$P" --config "$T/tlsgate.json"
bpid=${PIDS[1]}
kill "$bpid"; t0=$SECONDS
fails=0
for i in $(seq 1 30); do r=$(get hc.pool.test 2>/dev/null || true); [ "$r" = A ] || [ "$r" = B ] || fails=$((fails + 1)); sleep 0.05; done
[ "$fails" = 0 ] || fail "$fails of 30 requests failed while B went down"
wait_log "backend 127.0.0.1:$PB of hc.pool.test is DOWN" 5
ok "killed backend taken out (interval 0.5 s x fall 2), all 30 requests meanwhile succeeded"
for i in $(seq 1 20); do get hc.pool.test; done | sort -u | grep -qv A && fail "requests sent to B while down"
"$TG_BACKEND" --listen "127.0.0.1:$PB" --mode http --name B >"$T/backend-B2.log" 2>&1 &
PIDS+=($!)
wait_log "backend 127.0.0.1:$PB of hc.pool.test is UP" 5
for i in $(seq 1 20); do get hc.pool.test; done | sort -u | tr '\n' ' ' | grep -q "A B" ||
    fail "B not used again after coming back"
ok "restarted backend back after rise 2, traffic resumes"

# All backends down: closed cleanly after the handshake, logged.
kill "${PIDS[0]}" "${PIDS[-1]}"
wait_log "backend 127.0.0.1:$PA of hc.pool.test is DOWN" 5
wait_log "backend 127.0.0.1:$PB of hc.pool.test is DOWN" 5
out=$(get hc.pool.test 2>&1 || true)
[ -z "$(grep -E '^(A|B)$' <<<"$out")" ] || fail "served with all backends down"
wait_log "sni=hc.pool.test.*close=no-backend err=every backend of hc.pool.test is down" 5
ok "all backends down: client closed after the handshake, logged"

# PROXY protocol v1 and v2 reach the backend with the real client address.
out=$(curl -sS --cacert "$T/s.pem" --resolve "pp1.pool.test:$P:127.0.0.1" --interface 127.0.0.7 \
    "https://pp1.pool.test:$P/")
grep -q "^D v1 src=127.0.0.7:[0-9]* dst=127.0.0.1:$P$" <<<"$out" || fail "PROXY v1: $out"
out=$(curl -sS --http1.1 --cacert "$T/s.pem" --resolve "pp2.pool.test:$P:127.0.0.1" --interface 127.0.0.8 \
    "https://pp2.pool.test:$P/")
grep -q "^D v2 src=127.0.0.8:[0-9]* dst=127.0.0.1:$P sni=pp2.pool.test alpn=http/1.1 tls=TLSv1.3$" <<<"$out" ||
    fail "PROXY v2: $out"
ok "PROXY v1 and v2 (with SNI, ALPN and TLS TLVs) carry the real client address"
