#!/bin/bash
# SIGHUP with a broken config (bad JSON, then a semantic error, then a broken
# certificate) logs the error with file:line:column, and the old config keeps
# serving. `tlsgate check` prints every error with its position and key.
. "$(dirname "$0")/lib.sh"
need curl openssl

cert s ec r.test
PB=$(free_port); P=$(free_port)
backend R http "$PB"
good() {
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "sites": [{"mode": "tcp", "names": ["r.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
}
good
start_tlsgate "$P" --config "$T/tlsgate.json"
get() { curl -sS --max-time 5 --cacert "$T/s.pem" --resolve "r.test:$P:127.0.0.1" "https://r.test:$P/"; }
# hup: SIGHUP, then until the reload has ended (done, or failed and the
# running configuration kept), 20 s at most.
hup() {
	local n; n=$(log_count "reload: done\|keeping the running configuration")
	kill -HUP "$TG_PID"
	wait_logn "reload: done\|keeping the running configuration" $((n + 1)) 20
}
[ "$(get)" = R ] || fail "not serving at start"

# 1. Syntax error.
printf '{"allow_root": true, "listen": {"https": ["127.0.0.1:%s"]},\n "sites": [ oops ]}\n' "$P" >"$T/tlsgate.json"
hup
grep -q "reload failed: $T/tlsgate.json:2:" "$T/tlsgate.log" || fail "syntax error not logged with position"
[ "$(get)" = R ] || fail "stopped serving after a bad reload"
ok "bad JSON: error logged with line:column, old config serves"

# 2. Semantic errors: every one reported, with position and key.
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "sites": [{"mode": "tcp", "names": ["r.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}],
            "alpn": "h2"}],
 "limits": {"idle_timout": 5}}
JSON
if "$TLSGATE" check --config "$T/tlsgate.json" 2>"$T/check.out"; then fail "check accepted a bad config"; fi
cat "$T/check.out"
grep -q "tlsgate.json:4:13: sites\[0\].alpn: expected an array of strings" "$T/check.out" || fail "alpn error"
grep -q "tlsgate.json:5:13: limits.idle_timout: unknown key" "$T/check.out" || fail "typo key error"
hup
grep -q "reload failed: .*limits.idle_timout: unknown key" "$T/tlsgate.log" || fail "semantic error not logged"
[ "$(get)" = R ] || fail "stopped serving after a bad reload"
ok "semantic errors: all reported with file:line:column and key"

# 3. A certificate file that is broken: the served one stays.
good
head -c 200 "$T/s.pem" >"$T/broken.pem"
sed -i 's/"s.pem"/"broken.pem"/' "$T/tlsgate.json"
hup
grep -q "reload failed: site r.test: .*broken.pem" "$T/tlsgate.log" || fail "broken cert not reported"
[ "$(get)" = R ] || fail "stopped serving after a broken certificate"
ok "broken certificate: rejected, the served one stays"

# 4. And a good reload still works afterwards.
good
hup
grep -q "reload: done" "$T/tlsgate.log" || fail "good reload not done"
[ "$(get)" = R ] || fail "not serving after a good reload"
ok "good reload after bad ones"
