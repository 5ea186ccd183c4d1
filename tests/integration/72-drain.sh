#!/bin/bash
# Draining: a backend removed by a reload gets no new connections; its open
# connections go on until the drain timeout, then are closed.
. "$(dirname "$0")/lib.sh"
need openssl curl

cert s ec d.test
PA=$(free_port); PB=$(free_port); P=$(free_port)
backend A http "$PA"; backend B http "$PB"
conf() {
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "limits": {"drain_timeout": 2},
 "sites": [{"mode": "tcp", "names": ["d.test"], "backends": $1,
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
}
conf "[\"127.0.0.1:$PA\", \"127.0.0.1:$PB\"]"
start_tlsgate "$P" --config "$T/tlsgate.json"
get() { curl -sS --max-time 5 --cacert "$T/s.pem" --resolve "d.test:$P:127.0.0.1" "https://d.test:$P/"; }

# Round robin: the first connection goes to A. Hold it open.
(sleep 8 | openssl s_client -connect "127.0.0.1:$P" -servername d.test -quiet >/dev/null 2>&1) &
HOLD=$!
sleep 0.5
grep -q "d.test" "$T/tlsgate.log" && fail "held connection closed early"
conf "[\"127.0.0.1:$PB\"]"
kill -HUP "$TG_PID"
t0=$(date +%s.%N)
wait_log "backend 127.0.0.1:$PA of d.test removed: draining its 1 connections" 5
for i in $(seq 1 10); do get; done | sort -u | tr '\n' ' ' | grep -qx "B " || fail "new connections went to the removed backend"
ok "after the reload, new connections go only to B"
sleep 1
grep -q "close=shutdown err=backend removed" "$T/tlsgate.log" && fail "closed before the drain timeout"
wait_log "backend=127.0.0.1:$PA .*close=shutdown err=backend removed by a reload" 5
t1=$(date +%s.%N)
el=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
awk -v e="$el" 'BEGIN { exit !(e >= 1.9 && e < 4.5) }' || fail "closed after ${el}s, drain timeout is 2s"
ok "the removed backend's open connection lasted the drain timeout (closed after ${el}s)"
wait "$HOLD" 2>/dev/null || true
