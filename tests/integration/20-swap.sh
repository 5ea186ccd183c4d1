#!/bin/bash
# Live certificate swap: 50 connections stream through an echo backend while
# their site's certificate is replaced (new file + SIGHUP). None is dropped,
# every byte comes back intact, and new handshakes see the new certificate.
. "$(dirname "$0")/lib.sh"
need openssl

cert old ec swap.test
cert new ec swap.test
cp "$T/old.pem" "$T/live.pem"; cp "$T/old.key" "$T/live.key"
PB=$(free_port); P=$(free_port)
backend E echo "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "sites": [{"mode": "tcp", "names": ["swap.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "live.pem", "key": "live.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
old_fp=$(fingerprint "$T/old.pem"); new_fp=$(fingerprint "$T/new.pem")

"$TG_CLIENT" stream --connect "127.0.0.1:$P" --sni swap.test --conns 50 --seconds 6 \
    >"$T/stream.log" 2>&1 &
SP=$!
wait_established "$P" 50
# Replace the files the way a deploy would (rename over), then reload.
cp "$T/new.pem" "$T/live.pem.tmp" && mv "$T/live.pem.tmp" "$T/live.pem"
cp "$T/new.key" "$T/live.key.tmp" && mv "$T/live.key.tmp" "$T/live.key"
kill -HUP "$TG_PID"
wait_log "reload: done" 30
now=$("$TG_CLIENT" info --connect "127.0.0.1:$P" --sni swap.test)
[[ "$now" == *"fp=$new_fp"* ]] || fail "new handshake did not get the new cert: $now"
ok "new handshakes get the new certificate ($new_fp)"
wait "$SP" || { cat "$T/stream.log"; fail "streaming connections were disturbed"; }
cat "$T/stream.log"
grep -q "conns=50 alive=50 verified=50" "$T/stream.log" || fail "not all 50 survived"
grep -q "fingerprints: $old_fp$" "$T/stream.log" ||
    fail "streams should all have handshaken with the old certificate"
grep -q "reload: done" "$T/tlsgate.log" || fail "reload not logged"
ok "50 streams survived the swap with every byte verified"
