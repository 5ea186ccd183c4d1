#!/bin/bash
# Session-ticket keys kept in the store: every process of one store uses the
# same ring, so a ticket from one resumes on another and after a restart
# (the same code shares them across a cluster through etcd). The stored ring
# is private (0600), a ring this version cannot read is replaced, and a
# rotation is written back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl

start_pebble
PE=$(free_port)
backend ECHO echo "$PE"
conf() { # PORT ROTATION -> config on stdout
	cat <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$1"]},
 "tls": {"ticket_key_rotation": $2},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "retry_base": 1},
 "sites": [{"mode": "tcp", "names": ["r.test"], "backends": ["127.0.0.1:$PE"], "acme": true}]}
JSON
}
conf "$ACME_TLS_PORT" 43200 >"$T/a.json"
start_tlsgate "$ACME_TLS_PORT" --config "$T/a.json"
A=$TG_PID
wait_log "acme r.test: new certificate in service" 60
wait_log "session ticket keys rotated (shared through the store)" 5
ring="$T/state/tickets.key"
[ -f "$ring" ] || fail "no ticket key ring in the store"
[ "$(stat -c %a "$ring")" = 600 ] || fail "the ring is mode $(stat -c %a "$ring"), not 600"
[ "$(head -c 5 "$ring")" = TGTK1 ] && [ "$(stat -c %s "$ring")" = 149 ] ||
    fail "the ring is not a TGTK1 ring of 149 bytes: $(od -c "$ring" | head -2)"
ok "the ring is in the store, mode 600"

get_ticket() { # PORT FILE
	tls13_session "$1" "$2" -servername r.test
	[ -s "$2" ] || fail "no ticket received from port $1"
}
resumed() { # PORT FILE -> 0 if resumed
	grep -q "^Reused, TLSv1.3" <<<"$(s_client "$1" -servername r.test -tls1_3 -sess_in "$2")"
}
get_ticket "$ACME_TLS_PORT" "$T/t1"
resumed "$ACME_TLS_PORT" "$T/t1" || fail "a fresh ticket did not resume on its own process"

# A second process on the same store: it takes the ring and resumes the ticket.
P2=$(free_port)
conf "$P2" 43200 >"$T/b.json"
mv "$T/tlsgate.log" "$T/a.log"
start_tlsgate "$P2" --config "$T/b.json"
B=$TG_PID
wait_log "session ticket keys taken from the store" 10
resumed "$P2" "$T/t1" || fail "a ticket from process A did not resume on process B"
get_ticket "$P2" "$T/t2"
resumed "$ACME_TLS_PORT" "$T/t2" || fail "a ticket from process B did not resume on process A"
ok "tickets resume across two processes of one store, both ways"

# A restart keeps the ring.
kill "$A"; wait "$A" 2>/dev/null || true
kill "$B"; wait "$B" 2>/dev/null || true
start_tlsgate "$ACME_TLS_PORT" --config "$T/a.json"
A=$TG_PID
wait_log "session ticket keys taken from the store" 10
resumed "$ACME_TLS_PORT" "$T/t1" || fail "a ticket did not resume after a restart"
ok "tickets resume after a restart"

# A ring this version cannot read is replaced, and serving goes on.
kill "$A"; wait "$A" 2>/dev/null || true
sum0=$(sha256sum <"$ring")
printf 'garbage' >"$ring"
start_tlsgate "$ACME_TLS_PORT" --config "$T/a.json"
A=$TG_PID
wait_log "not a key ring this version reads (7 bytes): replacing them" 10
wait_log "session ticket keys rotated (shared through the store)" 10
[ "$(stat -c %s "$ring")" = 149 ] || fail "the unreadable ring was not replaced"
if resumed "$ACME_TLS_PORT" "$T/t1"; then fail "a ticket resumed under keys that were replaced"; fi
get_ticket "$ACME_TLS_PORT" "$T/t3"
resumed "$ACME_TLS_PORT" "$T/t3" || fail "no resumption after the ring was replaced"
ok "an unreadable ring is replaced; tickets work on the new one"

# A short rotation: the process rotates and writes each new ring back.
kill "$A"; wait "$A" 2>/dev/null || true
conf "$ACME_TLS_PORT" 2 >"$T/c.json"
start_tlsgate "$ACME_TLS_PORT" --config "$T/c.json"
A=$TG_PID
sum1=$(sha256sum <"$ring")
wait_logn "session ticket keys rotated (shared through the store)" 2 20
[ "$(sha256sum <"$ring")" != "$sum1" ] || fail "a rotation did not change the stored ring"
[ "$sum0" != "$sum1" ] || fail "the ring did not change when it was replaced"
ok "rotations are written to the store"
