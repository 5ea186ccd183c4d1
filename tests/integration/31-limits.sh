#!/bin/bash
# Limits and timeouts: max_connections refuses new connections and keeps
# serving the open ones; a client that never finishes its handshake is cut at
# the handshake timeout; a dead backend is a logged connect failure; an idle
# connection is closed at the idle timeout.
. "$(dirname "$0")/lib.sh"
need openssl curl

cert s ec m.test dead.test
PE=$(free_port); P=$(free_port); DEAD=$(free_port)
backend E echo "$PE"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 1,
 "limits": {"max_connections": 5, "handshake_timeout": 1, "idle_timeout": 2,
            "connect_timeout": 1},
 "sites": [{"mode": "tcp", "names": ["m.test"], "backends": ["127.0.0.1:$PE"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]},
           {"mode": "tcp", "names": ["dead.test"], "backends": ["127.0.0.1:$DEAD"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
sleep 1.5	# let the readiness probe's connection time out

# Five streaming connections fill the limit for 4 seconds.
"$TG_CLIENT" stream --connect "127.0.0.1:$P" --sni m.test --conns 5 --seconds 4 \
    >"$T/five.log" 2>&1 &
FP=$!
sleep 1
out=$("$TG_CLIENT" info --connect "127.0.0.1:$P" --sni m.test 2>&1 || true)
[[ "$out" != *version=* ]] || fail "6th connection was served past max_connections"
wait "$FP" || { cat "$T/five.log"; fail "open connections were disturbed by the refused one"; }
grep -q "alive=5 verified=5" "$T/five.log" || fail "the five were not all served"
ok "past max_connections: new refused, the open five kept streaming"
sleep 0.5
"$TG_CLIENT" info --connect "127.0.0.1:$P" --sni m.test | grep -q version= ||
    fail "not accepting again below the limit"
ok "accepting again below the limit"

# Handshake timeout: connect and say nothing.
exec 5<>"/dev/tcp/127.0.0.1/$P"
sleep 1.6
grep -q "close=handshake-timeout" "$T/tlsgate.log" || fail "silent client not cut at the handshake timeout"
exec 5>&-
ok "silent client closed at the handshake timeout"

# Dead backend: the client is closed after the handshake, and it is logged.
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/s.pem" \
    --resolve "dead.test:$P:127.0.0.1" "https://dead.test:$P/" 2>/dev/null || true)
[ "$code" = 000 ] || fail "dead backend returned $code"
sleep 0.2
grep -q "sni=dead.test.*close=connect-failed err=connect 127.0.0.1:$DEAD: Connection refused" "$T/tlsgate.log" ||
    fail "dead backend not logged"
ok "dead backend: client closed, failure logged"

# Idle timeout: a handshaken connection that sends nothing is closed.
sleep 3 | openssl s_client -connect "127.0.0.1:$P" -servername m.test >/dev/null 2>&1 || true
grep -q "sni=m.test.*close=idle-timeout" "$T/tlsgate.log" || fail "idle connection not closed"
ok "idle connection closed at the idle timeout"
