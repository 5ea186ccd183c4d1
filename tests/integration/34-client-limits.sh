#!/bin/bash
# Per-client limits (issue 17, finding 2). Before, one address could take
# every connection: with max_connections 300, 300 idle connections from
# 127.0.0.1 left a client on 127.0.0.2 with 0 of 20 requests served.
#  1. Default limits: 2,000 idle TLS connections from 127.0.0.1 are cut at
#     the per-client limit, counted per reason in /metrics and summed up in
#     the log (not a line per refusal), and 127.0.0.2 is served. Its p99
#     handshake time, unloaded and loaded, is printed for the record (no
#     timed assertion).
#  2. Reloaded with max_connections 300 (the report's case): 300 from
#     127.0.0.1, and 127.0.0.2 gets 20 of 20.
#  3. Reloaded with a handshake rate of 5/s (burst 10): a handshake loop from
#     127.0.0.3 is cut by the token bucket, counted, and 127.0.0.2 is served.
. "$(dirname "$0")/lib.sh"
need openssl curl

ulimit -n 16384 2>/dev/null || ulimit -n 8192 2>/dev/null ||
    { [ "$(ulimit -n)" -ge 4200 ] || { echo "skip: cannot raise ulimit -n"; exit 77; }; }
cert s ec pc.test
PB=$(free_port); P=$(free_port); PA=$(free_port)
backend B http "$PB"
config() {	# config LIMITS
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 2,
 "admin": {"listen": "127.0.0.1:$PA"}, "limits": {$1},
 "sites": [{"mode": "tcp", "names": ["pc.test"], "backends": ["127.0.0.1:$PB"], "default": true,
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
}
metric() { curl -sS --max-time 10 "http://127.0.0.1:$PA/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
refused() { metric "tlsgate_connections_refused_total{reason=\"$1\"}"; }
open_conns() { metric 'tlsgate_connections{site="pc.test"}'; }
# lat ADDR RATE SECONDS: full handshakes from ADDR; prints tg_tlsclient's line.
lat() {
	timeout 60 "$TG_CLIENT" lat --connect "127.0.0.1:$P" --sni pc.test --bind "$1" \
	    --rate "$2" --conns 2 --seconds "$3"
}
p99() { sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p'; }
# hold N: N idle TLS connections from 127.0.0.1, until killed.
hold() {
	"$TG_CLIENT" hold --connect "127.0.0.1:$P" --sni pc.test --conns "$1" \
	    --deadline 20 --seconds 300 >"$T/hold.out" 2>"$T/hold.err" &
	HP=$!
	PIDS+=($HP)
	local deadline=$((SECONDS + 60))
	until grep -q pending= "$T/hold.out"; do
		[ $SECONDS -lt "$deadline" ] || fail "the holder did not settle"
		sleep 0.2
	done
	HELD=$(sed -n 's/^held=//p' "$T/hold.out")
}
unhold() {
	kill "$HP" 2>/dev/null || true
	wait "$HP" 2>/dev/null || true
	local deadline=$((SECONDS + 30))
	until [ "$(open_conns)" = 0 ]; do
		[ $SECONDS -lt "$deadline" ] || fail "held connections not closed"
		sleep 0.2
	done
}
reloads=0
reload() {	# reload LIMITS
	config "$1"
	kill -HUP "$TG_PID"
	reloads=$((reloads + 1))
	wait_logn "reload: done" "$reloads" 30
}

# 1. Default limits.
config ''
start_tlsgate "$P" --config "$T/tlsgate.json"
wait_port "$PA"
per=$(sed -n 's/.*limits: [0-9]* connections, \([0-9]*\) per client.*/\1/p' "$T/tlsgate.log")
[ -n "$per" ] && [ "$per" -lt 2000 ] || fail "default per-client limit is '$per'"
base=$(lat 127.0.0.2 100 4) || fail "unloaded: $base"
echo "unloaded, from 127.0.0.2: $base"
hold 2000
echo "from 127.0.0.1: held=$HELD of 2000 (per-client limit $per)"
[ "$HELD" -le "$per" ] || fail "127.0.0.1 holds $HELD connections, past the limit $per"
[ "$HELD" -ge $((per * 9 / 10)) ] || fail "127.0.0.1 holds only $HELD of its $per"
loaded=$(lat 127.0.0.2 100 4) || fail "127.0.0.2 not served while 127.0.0.1 holds its limit: $loaded"
echo "loaded, from 127.0.0.2: $loaded"
echo "p99 handshake ms from 127.0.0.2: unloaded $(p99 <<<"$base"), loaded $(p99 <<<"$loaded")"
ok "127.0.0.2 served while 127.0.0.1 tries to hold 2,000 connections"
n=$(refused client_connections)
[ "$n" -ge $((2000 - per)) ] || fail "refusals counted: $n, expected at least $((2000 - per))"
ok "$n per-client refusals counted in /metrics"
wait_log "refused [0-9]* connections at accept since the last report" 15
lines=$(grep -c 'client=127.0.0.1:' "$T/tlsgate.log" || true)
[ "$lines" -le "$per" ] || fail "$lines connection lines for 127.0.0.1: refusals are logged one by one"
ok "refusals summed up in the log, not a line each"
unhold

# 2. The report's case: max_connections 300.
reload '"max_connections": 300'
hold 300
echo "from 127.0.0.1: held=$HELD of 300"
out=$(timeout 60 "$TG_CLIENT" lat --connect "127.0.0.1:$P" --sni pc.test --bind 127.0.0.2 \
    --rate 20 --conns 1 --seconds 1) || fail "127.0.0.2: $out"
echo "$out"
n=$(sed -n 's/.* ok=\([0-9]*\) failed=0 .*/\1/p' <<<"$out")
[ -n "$n" ] && [ "$n" -ge 20 ] || fail "127.0.0.2 not served 20 of 20: $out"
ok "max_connections 300: 127.0.0.2 served $n of $n while 127.0.0.1 holds $HELD"
unhold

# 3. The handshake rate.
reload '"handshake_rate_per_client": 5, "handshake_burst_per_client": 10'
r0=$(refused client_handshake_rate)
out=$(timeout 60 "$TG_CLIENT" hs --connect "127.0.0.1:$P" --sni pc.test --bind 127.0.0.3 \
    --conns 2 --seconds 2 || true)
echo "from 127.0.0.3: $out"
ok3=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$out")
[ -n "$ok3" ] && [ "$ok3" -le 30 ] || fail "127.0.0.3 got $ok3 handshakes at 5/s with a burst of 10"
[ "$(refused client_handshake_rate)" -gt "$r0" ] || fail "rate refusals not counted"
ok "handshake rate: 127.0.0.3 cut to $ok3 in 2 s, refusals counted"
timeout 20 "$TG_CLIENT" info --connect "127.0.0.1:$P" --sni pc.test --bind 127.0.0.2 |
    grep -q version= || fail "127.0.0.2 not served during 127.0.0.3's flood"
ok "127.0.0.2 served during 127.0.0.3's handshake flood"
