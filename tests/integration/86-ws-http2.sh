#!/bin/bash
# WebSockets over HTTP/2 (RFC 8441; terminator/http/ws.h): tlsgate offers
# SETTINGS_ENABLE_CONNECT_PROTOCOL, and an extended CONNECT with :protocol
# websocket is bridged to an HTTP/1.1 upgrade towards the backend (a fresh
# Sec-WebSocket-Key, version 13, the client's Sec-WebSocket-Protocol). A
# client written with nghttp2 (tests/support/wsh2.c) exchanges 1,000 echoed
# messages in DATA frames with the backend (tests/support/wsecho.py), with a
# reload that leaves the site as it was in the middle: the reload's GOAWAY
# reaches the client and the stream goes on. A backend's 403 passes back,
# and a :protocol other than websocket gets 501.
. "$(dirname "$0")/lib.sh"
need openssl python3

SUP="$TG_SRC/tests/support"
WSH2=${TG_WSH2:-$(dirname "$TG_CLIENT")/tg_wsh2}
[ -x "$WSH2" ] || fail "no tg_wsh2 at $WSH2"
cert front ec ws.test
PB=$(free_port); P=$(free_port)
python3 "$SUP/wsecho.py" --listen "127.0.0.1:$PB" >"$T/backend-ws.log" 2>&1 &
PIDS+=($!)
wait_port "$PB"
# One worker: the reload's pass over its connections (once a second)
# reaches the tunnel's connection and the idle probe below alike.
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "workers": 1, "listen": {"https": ["127.0.0.1:$P"]}, "sites": [
 {"names": ["ws.test"], "default": true, "backends": ["127.0.0.1:$PB"],
  "certificates": [{"cert": "front.pem", "key": "front.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
H2=(timeout 200 "$WSH2" --connect "127.0.0.1:$P" --sni ws.test --ca "$T/front.pem")

# 1,000 messages; after 500, a reload that changes nothing.
"${H2[@]}" --path /h2ws --protocol chat --count 1000 --pause-at 500 \
    --paused-file "$T/paused" --resume-file "$T/resume" >"$T/client.log" 2>&1 &
CP=$!
timeout 100 python3 "$SUP/wsclient.py" --connect "127.0.0.1:$P" --ca "$T/front.pem" \
    --sni ws.test --hold-idle >"$T/idle.log" 2>&1 &
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
grep -q "ok messages=1000 goaway=1" "$T/client.log" || fail "client: $(cat "$T/client.log")"
ok "1,000 messages echoed over extended CONNECT; the reload's GOAWAY left the stream open"
grep -q "upgrade path=/h2ws key=yes version=13 protocol=chat" "$T/backend-ws.log" ||
    fail "backend saw: $(grep upgrade "$T/backend-ws.log")"
deadline=$((SECONDS + 20))
until grep -q "tunnel ended path=/h2ws echoed=1000" "$T/backend-ws.log"; do
	[ $SECONDS -lt $deadline ] || fail "backend: $(tail -3 "$T/backend-ws.log")"
	sleep 0.05
done
wait_log "path=/h2ws proto=h2 status=101"
ok "bridged to an HTTP/1.1 upgrade: key, version 13 and protocol; 1,000 echoed"

# The backend refuses: its 403 is the stream's answer.
out=$("${H2[@]}" --path /refuse --expect-status 403) || fail "refused: $out"
[ "$out" = status=403 ] || fail "refused: $out"
ok "a refused upgrade's 403 passes back"
# Another :protocol is not bridged.
out=$("${H2[@]}" --xprotocol foo --expect-status 501) || fail ":protocol foo: $out"
[ "$out" = status=501 ] || fail ":protocol foo: $out"
ok ":protocol foo: 501"

kill -0 "$TG_PID" || fail "tlsgate died"
FAILED=0
ok "86-ws-http2"
