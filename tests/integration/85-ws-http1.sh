#!/bin/bash
# WebSockets over HTTP/1.1 (terminator/http/ws.h): an upgrade to a site in
# HTTP mode reaches the backend with its Upgrade fields and key, the
# backend's 101 comes back, and the connection becomes a tunnel. A client
# (tests/support/wsclient.py) exchanges 1,000 echoed messages with a
# backend (tests/support/wsecho.py), with a reload that leaves the site as
# it was in the middle: the tunnel goes on. A backend that refuses the
# upgrade (403) has its answer passed back; any other upgrade (h2c, foo) is
# not made: the request is answered as HTTP/1.1 without its Upgrade field
# and the connection goes on; an idle tunnel is closed after
# http.tunnel_idle_timeout. A tunnel to a re-encrypting site's TLS backend
# works the same.
. "$(dirname "$0")/lib.sh"
need openssl python3

SUP="$TG_SRC/tests/support"
cert front ec ws.test idle.test tls.test
cert be ec backend.internal
PB=$(free_port); PT=$(free_port); P=$(free_port)
python3 "$SUP/wsecho.py" --listen "127.0.0.1:$PB" >"$T/backend-ws.log" 2>&1 &
PIDS+=($!)
python3 "$SUP/wsecho.py" --listen "127.0.0.1:$PT" --cert "$T/be.pem" --key "$T/be.key" \
    >"$T/backend-wstls.log" 2>&1 &
PIDS+=($!)
wait_port "$PB"
wait_port "$PT"
# One worker: the reload's pass over its connections (once a second)
# reaches the tunnel and the idle probe below alike.
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "workers": 1, "listen": {"https": ["127.0.0.1:$P"]}, "sites": [
 {"names": ["ws.test"], "default": true, "backends": ["127.0.0.1:$PB"],
  "certificates": [{"cert": "front.pem", "key": "front.key"}]},
 {"names": ["idle.test"], "backends": ["127.0.0.1:$PB"],
  "http": {"tunnel_idle_timeout": 1},
  "certificates": [{"cert": "front.pem", "key": "front.key"}]},
 {"names": ["tls.test"], "backends": ["127.0.0.1:$PT"],
  "backend_tls": {"ca": "be.pem", "server_name": "backend.internal"},
  "certificates": [{"cert": "front.pem", "key": "front.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
WS=(timeout 200 python3 "$SUP/wsclient.py" --connect "127.0.0.1:$P" --ca "$T/front.pem")

# 1,000 messages; after 500, a reload that changes nothing.
"${WS[@]}" --sni ws.test --protocol chat --count 1000 --pause-at 500 \
    --paused-file "$T/paused" --resume-file "$T/resume" >"$T/client.log" 2>&1 &
CP=$!
# An idle keep-alive connection: the reload closes it, which shows that the
# reload's pass over the connections has run.
"${WS[@]}" --sni ws.test --hold-idle >"$T/idle.log" 2>&1 &
IP=$!
deadline=$((SECONDS + 120))
until [ -f "$T/paused" ] && grep -q answered "$T/idle.log"; do
	[ $SECONDS -lt $deadline ] || fail "client did not reach message 500: $(cat "$T/client.log")"
	kill -0 "$CP" 2>/dev/null || fail "client ended early: $(cat "$T/client.log")"
	sleep 0.05
done
kill -HUP "$TG_PID"
wait_log 'reload: done'
wait "$IP" || fail "idle probe: $(cat "$T/idle.log")"
grep -q closed "$T/idle.log" || fail "idle probe: $(cat "$T/idle.log")"
touch "$T/resume"
wait "$CP" || fail "client: $(cat "$T/client.log")"
grep -q "ok messages=1000" "$T/client.log" || fail "client: $(cat "$T/client.log")"
ok "1,000 messages echoed over an HTTP/1.1 upgrade, a reload in the middle"
grep -q "upgrade path=/ws key=yes version=13 protocol=chat" "$T/backend-ws.log" ||
    fail "backend saw: $(grep upgrade "$T/backend-ws.log")"
wait_until_backend() {
	local deadline=$((SECONDS + 20))
	until grep -q -- "$1" "$T/backend-ws.log"; do
		[ $SECONDS -lt $deadline ] || fail "backend log has no: $1"
		sleep 0.05
	done
}
wait_until_backend "tunnel ended path=/ws echoed=1000"
wait_log "path=/ws proto=http/1.1 status=101"
ok "the backend got the key, version 13 and the protocol, and echoed 1,000"

# Re-encryption: the tunnel runs over TLS to the backend too.
out=$("${WS[@]}" --sni tls.test --count 200) || fail "TLS backend: $out"
[ "$out" = "ok messages=200" ] || fail "TLS backend: $out"
grep -q "upgrade path=/ws key=yes version=13" "$T/backend-wstls.log" ||
    fail "TLS backend saw: $(cat "$T/backend-wstls.log")"
ok "200 messages through a tunnel re-encrypted to a TLS backend"

# A backend that refuses the upgrade: its 403 reaches the client.
out=$("${WS[@]}" --sni ws.test --path /refuse --expect-status 403) || fail "refused: $out"
[ "$out" = status=403 ] || fail "refused: $out"
ok "a refused upgrade's 403 passes back"

# Other upgrades are not made; the request is answered without its Upgrade
# field, and the connection stays HTTP/1.1 for the next request.
for tok in h2c foo; do
	out=$("${WS[@]}" --sni ws.test --other-upgrade "$tok") || fail "Upgrade: $tok: $out"
	[ "$out" = "statuses=200,200 upgrade_seen=0" ] || fail "Upgrade: $tok: $out"
done
ok "Upgrade: h2c and foo are not made: 200 without Upgrade, then a second request"

# A tunnel with no traffic is closed after tunnel_idle_timeout (1 s here).
out=$("${WS[@]}" --sni idle.test --idle-close) || fail "idle tunnel: $out"
[ "$out" = closed ] || fail "idle tunnel: $out"
wait_log "err=backend-timeout why=.*tunnel\\\\x20idle"
ok "an idle tunnel is closed after http.tunnel_idle_timeout"

kill -0 "$TG_PID" || fail "tlsgate died"
FAILED=0
ok "85-ws-http1"
