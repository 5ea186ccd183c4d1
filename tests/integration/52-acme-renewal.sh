#!/bin/bash
# Renewal by itself: Pebble issues 30-second certificates; tlsgate renews them
# on its own schedule, again and again, while 10 clients stream through the
# terminator without a single error. With Pebble's ARI, each renewal time
# falls inside the window Pebble announces and the order carries "replaces".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl

start_pebble ', "certificateValidityPeriod": 30'
grep -q renewalInfo "$T/directory.json" && ARI=1 || ARI=0
start_one_acme_site short.test
wait_log "acme short.test: new certificate in service" 60
first=$("$TG_CLIENT" info --connect "127.0.0.1:$ACME_TLS_PORT" --sni short.test | sed 's/.*fp=\([0-9a-f]*\).*/\1/')

# Streams held open across renewals; new streams started as we go, too.
"$TG_CLIENT" stream --connect "127.0.0.1:$ACME_TLS_PORT" --sni short.test --conns 10 \
    --seconds 50 >"$T/stream.log" 2>&1 &
SP=$!
deadline=$((SECONDS + 70))
while [ "$(grep -c "acme short.test: new certificate in service" "$T/tlsgate.log")" -lt 3 ]; do
	[ $SECONDS -lt $deadline ] || fail "fewer than two renewals in 70 s"
	sleep 0.5
done
wait "$SP" || { cat "$T/stream.log"; fail "streams broke during renewals"; }
grep -q "conns=10 alive=10 verified=10" "$T/stream.log" || fail "not all streams survived"
last=$("$TG_CLIENT" info --connect "127.0.0.1:$ACME_TLS_PORT" --sni short.test | sed 's/.*fp=\([0-9a-f]*\).*/\1/')
[ "$first" != "$last" ] || fail "the served certificate did not change"
grep -c "acme short.test: renewing" "$T/tlsgate.log" | grep -qv '^0$' || fail "no renewal logged"
ok "renewed by itself $(($(grep -c "new certificate in service" "$T/tlsgate.log") - 1)) times; 10 streams unbroken; $first -> $last"

if [ "$ARI" = 1 ]; then
	lines=$(grep -o "ARI window [0-9TZ:-]*\.\.[0-9TZ:-]*, renewing at [0-9TZ:-]*" "$T/tlsgate.log") ||
	    fail "no ARI window logged"
	while read -r _ _ win _ _ at; do
		win=${win%,}
		s=$(date -d "${win%..*}" +%s); e=$(date -d "${win#*..}" +%s); at=$(date -d "$at" +%s)
		[ "$at" -ge "$s" ] && [ "$at" -le "$e" ] || fail "renewal time $at outside window $s..$e"
	done <<<"$lines"
	grep -q "acme short.test: new order replaces" "$T/tlsgate.log" || fail "no replaces"
	ok "ARI: every renewal time inside Pebble's window; orders carry replaces"
fi
