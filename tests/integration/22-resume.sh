#!/bin/bash
# Session tickets: a session saved from one handshake resumes on a later
# connection, including one answered by another worker (the workers share
# the ticket keys). The worker that answers is read from tlsgate's log line.
. "$(dirname "$0")/lib.sh"
need openssl

cert s ec t.test
PB=$(free_port); P=$(free_port)
backend B echo "$PB"
start_tlsgate "$P" --https "127.0.0.1:$P" --workers 2 --site "t.test=127.0.0.1:$PB" \
    --cert "t.test=$T/s.pem,$T/s.key" --mode t.test=tcp

# TLS 1.2 tickets: one handshake, one ticket, reusable.
s_client "$P" -servername t.test -tls1_2 -sess_out "$T/sess12" >/dev/null
wait_log 'c[0-9a-f]* w[0-9]' 10
first=$(grep -o 'c[0-9a-f]* w[0-9]' "$T/tlsgate.log" | tail -1 | awk '{print $2}')
[ -n "$first" ] || fail "no connection logged"
other=""
for i in $(seq 1 40); do
	out=$(s_client "$P" -servername t.test -tls1_2 -sess_in "$T/sess12")
	grep -q "^Reused, " <<<"$out" || fail "TLS 1.2 session not resumed (try $i)"
	wait_logn 'c[0-9a-f]* w[0-9].*resumed=1' "$i" 10
	w=$(grep -o 'c[0-9a-f]* w[0-9].*resumed=1' "$T/tlsgate.log" | tail -1 | awk '{print $2}')
	if [ -n "$w" ] && [ "$w" != "$first" ]; then other=$w; break; fi
done
[ -n "$other" ] || fail "never answered by a worker other than $first in 40 tries"
ok "TLS 1.2 ticket from $first resumed on $other"

# TLS 1.3 tickets (PSK with DHE), same idea.
# TLS 1.3 tickets come after the handshake: keep the client up to read them.
tls13_session "$P" "$T/sess13" -servername t.test
out=$(s_client "$P" -servername t.test -tls1_3 -sess_in "$T/sess13")
grep -q "^Reused, TLSv1.3" <<<"$out" || fail "TLS 1.3 session not resumed"
ok "TLS 1.3 session resumed"
grep -q "resumed=1" "$T/tlsgate.log" || fail "resumption not logged"
