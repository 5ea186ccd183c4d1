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
 "sites": [{"names": ["redir.test"], "backends": ["127.0.0.1:$PB"], "acme": true}]}
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
