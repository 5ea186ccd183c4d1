#!/bin/bash
# Ticket keys rotate on schedule; a ticket made under the previous key still
# resumes (and the client gets a fresh ticket), one two rotations old does not.
# Also: IPv6 listeners, and a site added by reload is served at once.
. "$(dirname "$0")/lib.sh"
need openssl curl

cert s ec k.test
cert n ec new.test
PB=$(free_port); P=$(free_port)
backend B http "$PB"
conf() {
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P", "[::1]:$P"]}, "workers": 2,
 "tls": {"ticket_key_rotation": 5},
 "sites": [{"mode": "tcp", "names": ["k.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]} $1]}
JSON
}
conf ""
start_tlsgate "$P" --config "$T/tlsgate.json"

get_ticket() {
	tls13_session "$P" "$1" -servername k.test
	[ -s "$1" ] || fail "no ticket received"
}
resumed() { # session file -> 0 if resumed
	grep -q "^Reused, TLSv1.3" <<<"$(s_client "$P" -servername k.test -tls1_3 -sess_in "$1")"
}
rotations() { grep -c "keys rotated" "$T/tlsgate.log" || true; }
next_rotation() { # wait for the next "keys rotated" line (at most 20 s)
	local n0 deadline=$((SECONDS + 20))
	n0=$(rotations)
	until [ "$(rotations)" -gt "$n0" ]; do
		[ $SECONDS -lt "$deadline" ] || fail "no key rotation within 20 s"
		sleep 0.1
	done
}
# Align to a fresh key: wait for a rotation line, then take a ticket.
next_rotation
r0=$(rotations)
get_ticket "$T/t1"
resumed "$T/t1" || fail "fresh ticket did not resume"
# Every check below must see the ring the ticket was taken under, moved on
# by exactly the rotations named; a slow machine that rotated once more in
# between is caught rather than misread.
[ "$(rotations)" = "$r0" ] || fail "a rotation came while the ticket was taken: rerun"
next_rotation	# one rotation: the ticket's key is now the previous key
resumed "$T/t1" || fail "ticket under the previous key did not resume"
[ "$(rotations)" = $((r0 + 1)) ] || fail "more than one rotation during the check: rerun"
ok "ticket resumes under the current and the previous key"
next_rotation	# a second rotation: the key is gone
if resumed "$T/t1"; then fail "ticket two rotations old still resumed"; fi
ok "ticket two rotations old falls back to a full handshake"

# IPv6 listener.
body=$(curl -sS -6 --cacert "$T/s.pem" --resolve "k.test:$P:[::1]" "https://k.test:$P/")
[ "$body" = B ] || fail "IPv6 listener: $body"
ok "IPv6 listener serves"

# A site added by reload is served without a restart.
conf ', {"mode": "tcp", "names": ["new.test"], "backends": ["127.0.0.1:'"$PB"'"], "certificates": [{"cert": "n.pem", "key": "n.key"}]}'
kill -HUP "$TG_PID"
wait_log "reload: done" 30
body=$(curl -sS --cacert "$T/n.pem" --resolve "new.test:$P:127.0.0.1" "https://new.test:$P/")
[ "$body" = B ] || fail "added name not served: $body"
ok "a name added by reload is served at once"
