#!/bin/bash
# The fast path's system calls, counted by strace on a live tlsgate during
# full TLS 1.3 handshakes (one request each):
#  - the read-ahead BIO: sockets are read with recv(2), a flight at a time,
#    never with read(2), and a short read is not followed by a recv that
#    only says EAGAIN;
#  - the session tickets leave with the response, in one sendmsg(2);
#  - a nearby backend's connect is confirmed by a zero-byte send, not by
#    waiting for writability and asking getsockopt(SO_ERROR).
. "$(dirname "$0")/lib.sh"
need strace

cert s ec sc.test
PH=$(free_port); P=$(free_port)
backend H http "$PH"
start_tlsgate "$P" --https "127.0.0.1:$P" --workers 1 --log-level warning \
    --site "sc.test=127.0.0.1:$PH" --cert "sc.test=$T/s.pem,$T/s.key" \
    --mode sc.test=tcp

strace -f -c -o "$T/strace.out" -p "$TG_PID" 2>"$T/strace.err" &
ST=$!
for _ in $(seq 1 50); do
	grep -q attached "$T/strace.err" && break
	sleep 0.1
done
grep -q attached "$T/strace.err" || fail "strace did not attach: $(cat "$T/strace.err")"
"$TG_CLIENT" hs --connect "127.0.0.1:$P" --sni sc.test --tls 1.3 --conns 2 --seconds 2 \
    >"$T/hs.out" || { cat "$T/hs.out"; fail "handshakes failed"; }
# open_socks: tlsgate's sockets of those connections still open (ESTABLISHED
# or CLOSE_WAIT): on port P, or to the backend's port PH. The count stops
# once tlsgate has closed them all, so that their last calls are in it.
open_socks() {
	local p h; p=$(printf ':%04X' "$P"); h=$(printf ':%04X' "$PH")
	awk -v p="$p" -v h="$h" '($2 ~ p"$" || $3 ~ h"$") && ($4 == "01" || $4 == "08") {n++}
	    END {print n + 0}' /proc/net/tcp
}
deadline=$((SECONDS + 10))
until [ "$(open_socks)" = 0 ]; do
	[ $SECONDS -lt $deadline ] || fail "$(open_socks) connections still open 10 s after the handshakes"
	sleep 0.05
done
kill -INT "$ST"
wait "$ST" || true
cat "$T/hs.out" "$T/strace.out"
N=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' "$T/hs.out")
[ "${N:-0}" -ge 20 ] || fail "only ${N:-0} handshakes"

# calls NAME, errors NAME: from strace's summary (no errors column when 0).
calls() { awk -v s="$1" '$NF == s && $1 ~ /^[0-9.]+$/ { print $4; f=1 } END { if (!f) print 0 }' "$T/strace.out"; }
errors() { awk -v s="$1" '$NF == s && $1 ~ /^[0-9.]+$/ { print (NF == 6 ? $5 : 0); f=1 } END { if (!f) print 0 }' "$T/strace.out"; }
per() { awk -v a="$1" -v n="$N" 'BEGIN { printf "%.2f", a / n }'; }
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

reads=$(calls read); recvs=$(calls recvfrom); again=$(errors recvfrom)
sendmsgs=$(calls sendmsg); gso=$(calls getsockopt); total=$(calls total)
echo "per handshake: recvfrom $(per "$recvs") (EAGAIN $(per "$again")), read $(per "$reads"), sendmsg $(per "$sendmsgs"), getsockopt $(per "$gso"), all $(per "$total")"
at_most "$(per "$reads")" 0.05 || fail "read(2) used on sockets: $reads calls for $N handshakes"
at_most "$(per "$recvs")" 6 || fail "$(per "$recvs") recv calls per handshake (read-ahead should need about 5)"
at_most "$(per "$again")" 0.2 || fail "$(per "$again") recv calls per handshake came back EAGAIN"
at_most 0.9 "$(per "$sendmsgs")" || fail "tickets not sent with the response: $(per "$sendmsgs") sendmsg per handshake"
at_most "$(per "$gso")" 0.1 || fail "backend connects waited for writability: $(per "$gso") getsockopt per handshake"
at_most "$(per "$total")" 30 || fail "$(per "$total") system calls per handshake"
ok "per full handshake: $(per "$recvs") recv, no EAGAIN recv, tickets in the response's sendmsg, connect probed, $(per "$total") system calls in all"
