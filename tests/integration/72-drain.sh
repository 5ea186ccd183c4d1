#!/bin/bash
# Draining: a backend removed by a reload gets no new connections; its open
# connections go on until the drain timeout, then are closed.
. "$(dirname "$0")/lib.sh"
need openssl curl ss

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
(sleep 30 | openssl s_client -connect "127.0.0.1:$P" -servername d.test -quiet >/dev/null 2>&1) &
HOLD=$!
PIDS+=($HOLD)
# Until tlsgate holds the relayed connection to A (ss sees it established).
for _ in $(seq 1 200); do
	ss -Htn state established "( dport = :$PA )" | grep -q . && break
	sleep 0.1
done
ss -Htn state established "( dport = :$PA )" | grep -q . || fail "no connection to A"
grep -q "d.test" "$T/tlsgate.log" && fail "held connection closed early"
conf "[\"127.0.0.1:$PB\"]"
kill -HUP "$TG_PID"
wait_log "backend 127.0.0.1:$PA of d.test removed: draining its 1 connections" 30
for i in $(seq 1 10); do get; done | sort -u | tr '\n' ' ' | grep -qx "B " || fail "new connections went to the removed backend"
ok "after the reload, new connections go only to B"
wait_log "backend=127.0.0.1:$PA .*close=shutdown err=backend removed by a reload" 30
# The close line's ms= is the connection's whole life, which began before
# the reload: at least the drain timeout if the drain was honoured, however
# slowly this test itself ran.
ms=$(grep "backend=127.0.0.1:$PA .*close=shutdown err=backend removed" "$T/tlsgate.log" |
    sed 's/.* ms=\([0-9]*\) .*/\1/' | head -n1)
[ "${ms:-0}" -ge 2000 ] || fail "closed after ${ms} ms, before the 2 s drain timeout"
ok "the removed backend's open connection lasted the drain timeout (${ms} ms)"
