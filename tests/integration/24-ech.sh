#!/bin/bash
# Encrypted Client Hello (terminator/ech.c), AWS-LC builds:
# - a client given the ECHConfigList that `tlsgate ech` prints reaches the
#   inner name (its certificate, not the public name's); tlsgate's log shows
#   the public name, and only it, as the outer ClientHello's SNI;
# - a client without ECH still reaches every site;
# - /status carries the same ECHConfigList;
# - a restart keeps the keys (same `tlsgate ech` output, and the old config
#   still decrypts);
# - after a rotation the previous config still decrypts for the grace period;
#   past it, a client gets the server's retry configs (ECH rejected, through
#   the public name's certificate), and the retry configs work;
# - a public name without a certificate is a config error.
# BoringSSL builds: tls.ech is a config error that names AWS-LC.
. "$(dirname "$0")/lib.sh"
need curl

cert pub ec pub.test
cert inner ec inner.test
PB=$(free_port); P=$(free_port); PA=$(free_port)
backend B echo "$PB"
conf() {	# conf ROTATION GRACE
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 2,
 "admin": {"listen": "127.0.0.1:$PA"}, "acme": {"state_dir": "$T/state"},
 "tls": {"ech": {"enabled": true, "public_name": "pub.test", "rotation": $1, "grace": $2}},
 "sites": [{"mode": "tcp", "names": ["pub.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "pub.pem", "key": "pub.key"}]},
           {"mode": "tcp", "names": ["inner.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "inner.pem", "key": "inner.key"}]}]}
JSON
}

if ! "$TLSGATE" version | grep -q '^AWS-LC '; then
	conf 3600 600
	if "$TLSGATE" check --config "$T/tlsgate.json" 2>"$T/check.log"; then
		fail "tls.ech accepted by a BoringSSL build"
	fi
	grep -q "needs the AWS-LC build" "$T/check.log" || fail "$(cat "$T/check.log")"
	ok "BoringSSL build: tls.ech is a config error naming AWS-LC"
	exit 0
fi

FP_PUB=$(fingerprint "$T/pub.pem"); FP_INNER=$(fingerprint "$T/inner.pem")
info() {	# info SNI [--ech LIST]: one TLS 1.3 handshake
	local sni=$1; shift
	"$TG_CLIENT" info --connect "127.0.0.1:$P" --sni "$sni" --tls 1.3 "$@"
}
expect() {	# expect WHAT OUTPUT: WHAT (a key=value) must be in OUTPUT
	grep -qw -- "$1" <<<"$2" || fail "expected $1, got: $2"
}
published() { "$TLSGATE" ech --config "$T/tlsgate.json" | head -1; }
stop_tlsgate() {
	kill "$TG_PID"
	local deadline=$((SECONDS + 30))
	while kill -0 "$TG_PID" 2>/dev/null; do
		[ $SECONDS -lt "$deadline" ] || fail "tlsgate did not stop"
		sleep 0.05
	done
}
# The connection lines so far; the next one is the handshake just made.
nlines() { grep -c " client=127.0.0.1" "$T/tlsgate.log" || true; }
next_line() {	# next_line N: wait for connection line N+1 and print it
	local deadline=$((SECONDS + 20))
	until [ "$(nlines)" -gt "$1" ]; do
		[ $SECONDS -lt "$deadline" ] || fail "no connection line after $1"
		sleep 0.05
	done
	grep " client=127.0.0.1" "$T/tlsgate.log" | sed -n "$(($1 + 1))p"
}

# A public name no site carries has no certificate: refused.
conf 3600 600
sed 's/"public_name": "pub.test"/"public_name": "other.test"/' "$T/tlsgate.json" >"$T/bad.json"
if "$TLSGATE" check --config "$T/bad.json" 2>"$T/check.log"; then
	fail "a public name without a certificate was accepted"
fi
grep -q '"other.test" is not a name of any site' "$T/check.log" || fail "$(cat "$T/check.log")"
ok "a public name without a certificate is a config error"

# Long rotation first: reach the inner name, publish, restart.
key1_made=$(date +%s)	# the first key is made at this start
start_tlsgate "$P" --config "$T/tlsgate.json"
wait_log "ech: on, public name pub.test"
id1=$(grep -o "ech: on, public name pub.test, config id [0-9]*" "$T/tlsgate.log" |
    grep -o "[0-9]*$")
out=$("$TLSGATE" ech --config "$T/tlsgate.json")
L1=$(head -1 <<<"$out")
[ -n "$L1" ] || fail "tlsgate ech printed nothing"
grep -qxF "inner.test. 300 IN HTTPS 1 . ech=$L1" <<<"$out" || fail "no HTTPS record: $out"
grep -qxF "pub.test. 300 IN HTTPS 1 . ech=$L1" <<<"$out" || fail "no HTTPS record: $out"
ok "tlsgate ech prints the ECHConfigList and HTTPS records"

n=$(nlines)
out=$(info inner.test --ech "$L1")
expect ech=1 "$out"; expect "fp=$FP_INNER" "$out"
line=$(next_line "$n")
grep -q "sni=inner.test .*ech=1 outer_sni=pub.test " <<<"$line" || fail "log: $line"
ok "ECH with the published config reaches inner.test ($out)"
ok "the log shows only the public name in clear: $line"
if grep " client=" "$T/tlsgate.log" | grep -q "outer_sni=inner.test"; then
	fail "the inner name was seen in an outer ClientHello"
fi

for s in pub.test:$FP_PUB inner.test:$FP_INNER; do
	out=$(info "${s%%:*}")
	expect "fp=${s#*:}" "$out"
	if grep -q "ech=" <<<"$out"; then fail "ech reported without --ech: $out"; fi
done
n=$(nlines); info inner.test >/dev/null
line=$(next_line "$n")
if grep -q "ech=" <<<"$line"; then fail "a client without ECH logged as ECH: $line"; fi
ok "clients without ECH reach every site"

st=$(curl -sS "http://127.0.0.1:$PA/status")
grep -qF "\"config_list\": \"$L1\"" <<<"$st" || fail "/status: $st"
grep -q '"public_name": "pub.test"' <<<"$st" || fail "/status: $st"
"$TLSGATE" status --admin "127.0.0.1:$PA" | grep -qF "ECHConfigList $L1" ||
    fail "tlsgate status: no ECHConfigList"
ok "/status and tlsgate status carry the ECHConfigList"

[ "$(stat -c %a "$T/state/ech.json")" = 600 ] || fail "ech.json not 0600"
stop_tlsgate
start_tlsgate "$P" --config "$T/tlsgate.json"	# a fresh log
wait_log "ech: on, public name pub.test, config id $id1,"
if grep -q "ech: new key" "$T/tlsgate.log"; then fail "a restart made a new key"; fi
[ "$(published)" = "$L1" ] || fail "restart changed the ECHConfigList"
out=$(info inner.test --ech "$L1")
expect ech=1 "$out"; expect "fp=$FP_INNER" "$out"
ok "a restart keeps the keys (same tlsgate ech output, config still decrypts)"

# Short rotation: every 2 s, with a 6 s grace. The old key is overdue: it
# is rotated out at start and keeps its grace period. On a fast machine the
# test gets here within 2 s of the key's making: wait until it is overdue.
stop_tlsgate
while [ "$(date +%s)" -le $((key1_made + 3)) ]; do sleep 0.2; done
conf 2 6
start_tlsgate "$P" --config "$T/tlsgate.json"
wait_log "ech: on, public name pub.test"
L2=$(published)
[ "$L2" != "$L1" ] || fail "an overdue key was not rotated"
rc=0; out=$(info inner.test --ech "$L1") || rc=$?
if [ $rc = 0 ]; then
	expect ech=1 "$out"
	ok "a rotated-out config still decrypts in its grace period"
elif ! grep -q "config id $id1 left its grace period" "$T/tlsgate.log"; then
	fail "a config in its grace period was refused: $out"
fi
wait_log "ech: key with config id $id1 left its grace period" 30
rc=0; out=$(info inner.test --ech "$L1") || rc=$?
[ $rc = 3 ] || fail "stale config: rc=$rc, $out"
retry=$(sed -n "s/.*retry=\([^ ]*\).*/\1/p" <<<"$out")
[ -n "$retry" ] && [ "$retry" != - ] || fail "no retry configs: $out"
ok "a config past its grace period gets the retry configs"
# The client's recovery: the retry configs work (current, or in grace).
out=$(info inner.test --ech "$retry")
expect ech=1 "$out"; expect "fp=$FP_INNER" "$out"
ok "the retry configs reach inner.test ($out)"
n0=$(grep -c "ech: new key" "$T/tlsgate.log")
wait_logn "ech: new key" $((n0 + 2)) 30	# a rotation
out=$(info inner.test --ech "$(published)")
expect ech=1 "$out"
ok "keys keep rotating on schedule, and the published config follows"
