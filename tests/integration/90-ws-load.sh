#!/bin/bash
# bench/http's WebSocket tools against tlsgate, briefly: tg_wsload
# (bench/wsload.c) upgrades 16 TLS connections over HTTP/1.1, then over
# HTTP/2 with RFC 8441, and exchanges checked echoes (length, order,
# sequence number) with tg_wsecho (bench/wsecho.c) through a site in HTTP
# mode, 4 messages in flight per connection, for at most a second or a
# message budget. The budget is exact (500 sent, 500 echoed), and the
# backend's own count of echoed messages equals the sum of the client's:
# nothing is lost or made up on the way. The client reads the CPU of tlsgate
# and of the backend over the message phase.
. "$(dirname "$0")/lib.sh"
need openssl

D=$(dirname "$TG_CLIENT")
WSLOAD=$D/tg_wsload; WSECHO=$D/tg_wsecho
[ -x "$WSLOAD" ] && [ -x "$WSECHO" ] || fail "no tg_wsload or tg_wsecho in $D"
cert front ec ws.test
PB=$(free_port); P=$(free_port)
"$WSECHO" --listen "127.0.0.1:$PB" >"$T/backend-wsecho.log" 2>&1 &
EP=$!
PIDS+=($EP)
wait_port "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "workers": 2, "listen": {"https": ["127.0.0.1:$P"]},
 "limits": {"max_connections_per_client": 0, "handshake_rate_per_client": 0},
 "sites": [{"names": ["ws.test"], "default": true, "backends": ["127.0.0.1:$PB"],
            "mode": "http", "certificates": [{"cert": "front.pem", "key": "front.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
WL=(timeout 120 "$WSLOAD" --connect "127.0.0.1:$P" --sni ws.test --path /ws --threads 2
    --cpu-of "proxy=$TG_PID" --cpu-of "backend=$EP")
total=0
for mode in h1 h2; do
	flags=(); [ "$mode" = h2 ] && flags=(--h2)
	out=$("${WL[@]}" "${flags[@]}" --conns 16 --seconds 1 --messages 200000 --size 200 \
	    --window 4 2>&1) || fail "$mode: $out"
	[ "${out%% *}" = ok ] && [ "$(field conns "$out")" = 16 ] || fail "$mode: $out"
	n=$(field messages "$out")
	[ "${n:-0}" -ge 16 ] || fail "$mode: too few messages: $out"
	[ -n "$(field cpu_proxy "$out")" ] && [ -n "$(field cpu_backend "$out")" ] ||
	    fail "$mode: no CPU figures: $out"
	total=$((total + n))
	ok "$mode: $out"
done
# The message budget bounds a run exactly; 8-byte messages, one in flight.
out=$("${WL[@]}" --h2 --conns 4 --seconds 60 --messages 500 --size 8 2>&1) || fail "budget: $out"
[ "$(field messages "$out")" = 500 ] || fail "budget of 500: $out"
total=$((total + 500))
ok "a budget of 500 messages: 500 echoed"

kill -TERM "$EP"
wait "$EP" || true
grep -q "^conns=36 messages=$total\$" "$T/backend-wsecho.log" ||
    fail "backend: $(cat "$T/backend-wsecho.log"), client counted $total in 36 connections"
ok "the backend echoed exactly the $total messages the client counted"
wait_log "path=/ws proto=h2 status=101"
wait_log "path=/ws proto=http/1.1 status=101"
kill -0 "$TG_PID" || fail "tlsgate died"
FAILED=0
ok "90-ws-load"
