#!/bin/bash
# kill -9 in the middle of certificate writes, in a loop: Pebble issues
# 20-second certificates so tlsgate renews (and writes) constantly, and we
# kill it at random moments. After every restart the store loads, nothing in
# it is unreadable, and the served certificate verifies and covers the name.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl

start_pebble ', "certificateValidityPeriod": 20'
PB=$(free_port)
backend APP http "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "retry_base": 1},
 "sites": [{"mode": "tcp", "names": ["k1.test"], "backends": ["127.0.0.1:$PB"], "acme": {"rsa": true}},
           {"mode": "tcp", "names": ["k2.test"], "backends": ["127.0.0.1:$PB"], "acme": true}]}
JSON
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme k2.test: new certificate in service" 60
pebble_root "$T/root.pem"

served_ok() { # name: the served chain verifies and names it (or none yet)
	local out
	out=$(curl -sS --max-time 5 --cacert "$T/root.pem" --resolve "$1:$ACME_TLS_PORT:127.0.0.1" \
	    "https://$1:$ACME_TLS_PORT/" 2>&1) && [ "$out" = APP ] && return 0
	# A certificate that just expired is fine (it is being renewed); a broken one is not.
	grep -q "expired" <<<"$out" && return 0
	echo "$out"; return 1
}

kills=0
for i in $(seq 1 15); do
	# Ask for renewals, then kill somewhere in the middle of them.
	"$TLSGATE" renew k1.test --config "$T/tlsgate.json" >/dev/null
	"$TLSGATE" renew k2.test --config "$T/tlsgate.json" >/dev/null
	sleep "$((1 + RANDOM % 4)).$((RANDOM % 10))"
	kill -9 "$TG_PID"; wait "$TG_PID" 2>/dev/null || true
	kills=$((kills + 1))
	cat "$T/tlsgate.log" >>"$T/all.log"
	"$TLSGATE" certs --config "$T/tlsgate.json" >"$T/certs.out" 2>&1 || fail "certs failed after kill $i"
	! grep -q UNREADABLE "$T/certs.out" || { cat "$T/certs.out"; fail "unreadable store file after kill $i"; }
	start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
	grep -q "stored certificate .*unreadable\|stored certificate .*: " "$T/tlsgate.log" &&
	    fail "a stored certificate failed to load after kill $i"
	for n in k1.test k2.test; do served_ok "$n" || fail "$n served a bad certificate after kill $i"; done
done
writes=$(grep -c "new certificate in service" "$T/all.log" || true)
[ "$writes" -ge 5 ] || fail "only $writes certificate writes: the loop did not exercise writes"
ok "$kills kills -9 during $writes certificate writes: store always loads, served chains always verify"
# Temporary files an interrupted write left are removed when that name's
# certificate is next written, once they are a minute old (younger ones may
# be another process's write in progress). Age what is left, plant one more
# per name so there is always something to sweep, force a write per name,
# and check that every aged file is gone.
for d in "$T"/state/*/certs/k1.test "$T"/state/*/certs/k2.test; do
	[ -d "$d" ] || fail "no certificate folder $d"
	: >"$d/planted.pem.tmp.XXXXXX"
done
find "$T/state" -name '*.tmp.*' >"$T/aged"
xargs -r touch -c -d '2 minutes ago' <"$T/aged" || true
aged=$(wc -l <"$T/aged")
for n in k1.test k2.test; do
	before=$(grep -c "acme $n: new certificate in service" "$T/tlsgate.log" || true)
	"$TLSGATE" renew "$n" --config "$T/tlsgate.json" >/dev/null
	wait_logn "acme $n: new certificate in service" $((before + 1)) 60
done
left=0
while read -r f; do [ ! -e "$f" ] || left=$((left + 1)); done <"$T/aged"
[ "$left" = 0 ] || fail "$left of $aged aged temporary files left after a write to their folder"
ok "$aged aged temporary files from interrupted writes are swept by the next write"
