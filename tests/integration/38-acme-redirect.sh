#!/bin/bash
# Issue 17, finding 5: the ACME client never follows a redirect and speaks
# https only. A stub CA (tg_acmestub, plain HTTP, reached only with the
# test-only switch TLSGATE_ACME_ALLOW_HTTP=1) answers the signed newAccount
# POST with a 302 to another address: the attempt fails naming the status
# and the Location, and the target receives no request. Without the switch
# an http:// directory is refused when the configuration is read.
. "$(dirname "$0")/lib.sh"
need curl

STUB="$(dirname "$TG_BACKEND")/tg_acmestub"
[ -x "$STUB" ] || fail "no tg_acmestub next to $TG_BACKEND"
SP=$(free_port); P=$(free_port); PB=$(free_port)
"$STUB" "$SP" >"$T/stub.log" 2>&1 &
PIDS+=($!)
wait_port "$SP"
count() { curl -sS --max-time 5 "http://127.0.0.1:$SP/count?${1:-}"; }
backend APP http "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "acme": {"directory": "http://127.0.0.1:$SP/dir", "state_dir": "$T/state", "retry_base": 60},
 "sites": [{"mode": "tcp", "names": ["redir.test"], "backends": ["127.0.0.1:$PB"], "acme": true}]}
JSON

# 1. Without the switch: refused at config time, before any request.
unset TLSGATE_ACME_ALLOW_HTTP
want="acme.directory: \"http://127.0.0.1:$SP/dir\" is not an https:// URL"
if "$TLSGATE" check --config "$T/tlsgate.json" >"$T/check.out" 2>&1; then
	fail "check accepted an http:// directory"
fi
grep -qF "$want" "$T/check.out" || { cat "$T/check.out"; fail "no clear error from check"; }
if timeout 30 "$TLSGATE" run --config "$T/tlsgate.json" >"$T/start.log" 2>&1; then
	fail "tlsgate started with an http:// directory"
fi
grep -qF "$want" "$T/start.log" || { cat "$T/start.log"; fail "no clear error at start"; }
[ "$(count)" = 0 ] || fail "the stub CA was contacted without the switch"
ok "http:// directory refused at config time without the switch"

# 2. With the switch: a loud warning, then the 302 to the signed POST.
TLSGATE_ACME_ALLOW_HTTP=1 start_tlsgate "$P" --config "$T/tlsgate.json"
wait_log "TLSGATE_ACME_ALLOW_HTTP=1: .*for tests only" 30
wait_log "acme redir.test: attempt 1 failed: http://127.0.0.1:$SP/redirect: HTTP 302 redirect to http://127.0.0.2:$SP/target refused" 60
[ "$(count /redirect)" -ge 1 ] || fail "the signed POST never reached the stub"
[ "$(count /target)" = 0 ] || fail "the redirect target received a request"
# The target is reachable, so zero above means the client did not go there.
curl -sS --max-time 5 "http://127.0.0.2:$SP/target" >/dev/null
[ "$(count /target)" = 1 ] || fail "the stub does not count the target"
grep "acme redir.test\|ALLOW_HTTP" "$T/tlsgate.log" | head -4
ok "302 to a signed POST: not followed, reported with its Location; target untouched"

# 3. An https directory (the stub behind a tlsgate that terminates TLS for
# it) that lists plain http:// URLs, without the switch: the client fetches
# the directory over https, then refuses the http:// newNonce URL; the stub
# sees the directory request and nothing else.
kill "$TG_PID"; wait "$TG_PID" 2>/dev/null || true
MK="$(dirname "$TG_BACKEND")/tg_mkcert"
"$MK" "$T/ca" --cn "Front CA" --ca
"$MK" "$T/front" --names localhost --issuer "$T/ca"
FP=$(free_port); P2=$(free_port)
before=$(count)
cat >"$T/front.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$FP"]},
 "sites": [{"mode": "tcp", "names": ["localhost"], "backends": ["127.0.0.1:$SP"],
            "certificates": [{"cert": "front.pem", "key": "front.key"}]}]}
JSON
mv "$T/tlsgate.log" "$T/tlsgate-switch.log"
start_tlsgate "$FP" --config "$T/front.json"
cat >"$T/client.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P2"]},
 "acme": {"directory": "https://localhost:$FP/dir", "ca_bundle": "$T/ca.pem",
          "state_dir": "$T/state2", "retry_base": 60},
 "sites": [{"mode": "tcp", "names": ["plain.test"], "backends": ["127.0.0.1:$PB"], "acme": true}]}
JSON
"$TLSGATE" run --config "$T/client.json" >"$T/client.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 60))
until grep -q "acme plain.test: attempt 1 failed" "$T/client.log"; do
	[ $SECONDS -lt $deadline ] || { cat "$T/client.log"; fail "no failed attempt"; }
	sleep 0.2
done
grep -q "acme plain.test: attempt 1 failed: newNonce: not an https:// URL: refused (ACME is https only)" \
    "$T/client.log" || { cat "$T/client.log"; fail "the http:// newNonce URL was not refused as such"; }
grep -q "ALLOW_HTTP" "$T/client.log" && fail "the switch warning appeared without the switch"
[ "$(count /dir)" = 2 ] || fail "the directory was not fetched over https through the front"
[ "$(count)" = $((before + 1)) ] || fail "the client sent more than the directory request"
ok "https directory listing http:// URLs: the http:// URL is refused, nothing sent to it"
