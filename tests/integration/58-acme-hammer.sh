#!/bin/bash
# A CA that issues certificates already expired, or due at once (Pebble with
# 1-second certificates: the same as a large clock skew) is not hammered.
# Before, each such "success" reset the back-off and 10 seconds saw 76
# order-finalize-install cycles (issue 17, finding 4). Now a certificate that
# fails the checks is a failed attempt, one that is already due keeps the
# back-off, and the orders in 12 s stay a handful.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl

start_pebble ', "certificateValidityPeriod": 1'
start_one_acme_site hammer.test
wait_log "acme hammer.test: ordering" 30
t0=$SECONDS
# Wait for the first outcome, then watch for 12 s in all.
wait_log "acme hammer.test: \(new ecdsa certificate\|attempt 1 failed\)" 30
while [ $((SECONDS - t0)) -lt 12 ]; do sleep 0.5; done
orders=$(grep -c "acme hammer.test: \(ordering\|renewing\)" "$T/tlsgate.log") || true
cycles=$(grep -o "POST /order-plz" "$T/pebble.log" | wc -l)
[ "$orders" -le 4 ] && [ "$cycles" -le 4 ] ||
    fail "$orders orders ($cycles newOrder at Pebble) in 12 s: the CA is hammered"
grep -q "already due for renewal\|the certificate expired at" "$T/tlsgate.log" ||
    fail "neither an expired nor an already-due certificate was reported"
ok "1-second certificates: $orders orders in 12 s ($cycles newOrder at Pebble), with back-off"
