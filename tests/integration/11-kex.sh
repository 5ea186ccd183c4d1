#!/bin/bash
# Key exchange and suites: the server's choices (terminator/tlsnego.c).
# - X25519MLKEM768 is preferred by default (AWS-LC builds), then X25519, P-256;
# - a client that offers the hybrid but sends only an X25519 key share gets
#   X25519 without a HelloRetryRequest; a retry still happens where no key
#   share it sent is acceptable (so the check can tell);
# - TLS 1.3: AES-128-GCM is chosen over a client's AES-256 first order on a
#   CPU with AES instructions;
# - handshakes are counted by group in /metrics and the group is logged;
# - tls.groups changes the order, and a bad list is a config error.
. "$(dirname "$0")/lib.sh"
need curl

awslc=0
"$TLSGATE" version | grep -q '^AWS-LC ' && awslc=1
cert s ec k.test
PB=$(free_port); P=$(free_port); PA=$(free_port)
backend B echo "$PB"
start_tlsgate "$P" --https "127.0.0.1:$P" --site "k.test=127.0.0.1:$PB" \
    --cert "k.test=$T/s.pem,$T/s.key" --mode k.test=tcp --admin "127.0.0.1:$PA"

info() { "$TG_CLIENT" info --connect "127.0.0.1:$P" --sni k.test --tls 1.3 "$@"; }
expect() {	# expect WHAT OUTPUT: WHAT (a key=value) must be in OUTPUT
	grep -qw -- "$1" <<<"$2" || fail "expected $1, got: $2"
}

# probe SUPPORTED SHARES [SUITES]: one hand-made ClientHello (tg_helloprobe).
probe() {
	"$TG_HELLOPROBE" --connect "127.0.0.1:$P" --sni k.test --groups "$1" \
	    --shares "$2" ${3:+--suites "$3"}
}
if [ $awslc = 1 ]; then
	out=$(info --groups X25519MLKEM768:X25519)
	expect group=X25519MLKEM768 "$out"; expect hrr=0 "$out"
	ok "a client offering X25519MLKEM768 gets it ($out)"
	out=$(probe 0x11ec,29 29)
	expect hrr=0 "$out"; expect group=0x001d "$out"
	ok "hybrid offered, X25519 key share only: X25519, no HelloRetryRequest ($out)"
	out=$(probe 0x11ec,29,23 23)
	expect hrr=0 "$out"; expect group=0x0017 "$out"
	ok "hybrid offered, P-256 key share only: P-256, no HelloRetryRequest"
	out=$(probe 0x11ec,29 "")
	expect hrr=1 "$out"; expect group=0x11ec "$out"
	ok "no key share at all: a HelloRetryRequest for the preferred hybrid"
fi
out=$(info --groups X25519:P-256)
expect group=X25519 "$out"; expect hrr=0 "$out"
out=$(info --tls 1.2 --groups P-256:X25519)
expect group=X25519 "$out"
ok "TLS 1.3 and 1.2 clients without the hybrid get X25519"

if [ $awslc = 1 ]; then
	if grep -qw aes /proc/cpuinfo; then want=TLS_AES_128_GCM_SHA256 want_id=1301
	else want=TLS_CHACHA20_POLY1305_SHA256 want_id=1303; fi
	out=$(info --suites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256)
	expect suite=$want "$out"
	out=$(info --suites TLS_AES_256_GCM_SHA384)
	expect suite=TLS_AES_256_GCM_SHA384 "$out"
	out=$(probe 29 29 0x1302,0x1303,0x1301)
	expect suite=0x${want_id} "$out"
	ok "TLS 1.3 suite by the server's preference: $want over the client's AES-256 first"
fi

# Counted and logged. curl (OpenSSL 3.0) offers X25519 first.
curl -sS -o /dev/null --cacert "$T/s.pem" --resolve "k.test:$P:127.0.0.1" \
    "https://k.test:$P/" --max-time 10 2>/dev/null || true
curl -sS "http://127.0.0.1:$PA/metrics" >"$T/metrics.txt"
x=$(awk -F' ' '/^tlsgate_handshake_groups_total\{group="X25519"\}/ {print $2}' "$T/metrics.txt")
[ "${x:-0}" -ge 2 ] || fail "X25519 handshakes not counted: $(grep groups_total "$T/metrics.txt")"
if [ $awslc = 1 ]; then
	m=$(awk '/^tlsgate_handshake_groups_total\{group="X25519MLKEM768"\}/ {print $2}' "$T/metrics.txt")
	[ "${m:-0}" -ge 1 ] || fail "hybrid handshakes not counted: $(grep groups_total "$T/metrics.txt")"
	wait_log "group=X25519MLKEM768 "
fi
wait_log "group=P-256 \|group=X25519 "
ok "handshakes counted by group in /metrics (X25519: $x) and logged"

# tls.groups: the server's order changes; a retry where it must happen.
stop_all_tlsgate() { kill "$TG_PID" 2>/dev/null; wait "$TG_PID" 2>/dev/null || true; }
stop_all_tlsgate
P=$(free_port)
start_tlsgate "$P" --https "127.0.0.1:$P" --site "k.test=127.0.0.1:$PB" \
    --cert "k.test=$T/s.pem,$T/s.key" --mode k.test=tcp --tls-groups P-256:X25519
out=$(info --groups X25519:P-256)
expect group=X25519 "$out"; expect hrr=0 "$out"
out=$(info --groups P-256:X25519)
expect group=P-256 "$out"; expect hrr=0 "$out"
stop_all_tlsgate
P=$(free_port)
start_tlsgate "$P" --https "127.0.0.1:$P" --site "k.test=127.0.0.1:$PB" \
    --cert "k.test=$T/s.pem,$T/s.key" --mode k.test=tcp --tls-groups P-256
out=$(probe 29,23 29)
expect hrr=1 "$out"; expect group=0x0017 "$out"
ok "tls.groups orders the server's choice; a needed HelloRetryRequest still happens"

# Bad lists are refused with the reason.
for bad in "X25519:bogus" "X25519:X25519" ""; do
	if err=$("$TLSGATE" check --https 127.0.0.1:1 --site k.test=127.0.0.1:1 \
	    --cert "k.test=$T/s.pem,$T/s.key" --tls-groups "$bad" --allow-root 2>&1); then
		fail "tls.groups \"$bad\" accepted"
	fi
	grep -q "tls.groups\|--tls-groups" <<<"$err" || fail "unclear error for \"$bad\": $err"
done
if [ $awslc = 0 ]; then
	err=$("$TLSGATE" check --https 127.0.0.1:1 --site k.test=127.0.0.1:1 \
	    --cert "k.test=$T/s.pem,$T/s.key" --tls-groups X25519MLKEM768 --allow-root 2>&1) &&
	    fail "X25519MLKEM768 accepted by a BoringSSL build"
	grep -q "AWS-LC" <<<"$err" || fail "unclear error: $err"
fi
ok "bad tls.groups lists are refused: $(head -1 <<<"$err")"
