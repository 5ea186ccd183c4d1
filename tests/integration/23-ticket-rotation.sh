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
 "tls": {"ticket_key_rotation": 3},
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
# Align to a fresh key: wait for a rotation line, then take a ticket.
n0=$(grep -c "keys rotated" "$T/tlsgate.log" || true)
until [ "$(grep -c "keys rotated" "$T/tlsgate.log" || true)" -gt "$n0" ]; do sleep 0.1; done
get_ticket "$T/t1"
resumed "$T/t1" || fail "fresh ticket did not resume"
sleep 3.2	# one rotation: the ticket's key is now the previous key
resumed "$T/t1" || fail "ticket under the previous key did not resume"
ok "ticket resumes under the current and the previous key"
sleep 3.2	# a second rotation: the key is gone
if resumed "$T/t1"; then fail "ticket two rotations old still resumed"; fi
ok "ticket two rotations old falls back to a full handshake"

# IPv6 listener.
body=$(curl -sS -6 --cacert "$T/s.pem" --resolve "k.test:$P:[::1]" "https://k.test:$P/")
[ "$body" = B ] || fail "IPv6 listener: $body"
ok "IPv6 listener serves"

# A site added by reload is served without a restart.
conf ', {"mode": "tcp", "names": ["new.test"], "backends": ["127.0.0.1:'"$PB"'"], "certificates": [{"cert": "n.pem", "key": "n.key"}]}'
kill -HUP "$TG_PID"; sleep 0.5
body=$(curl -sS --cacert "$T/n.pem" --resolve "new.test:$P:127.0.0.1" "https://new.test:$P/")
[ "$body" = B ] || fail "added name not served: $body"
ok "a name added by reload is served at once"
