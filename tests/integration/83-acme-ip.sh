#!/bin/bash
# IP-address certificates (RFC 8738) against Pebble 2.10 (PEBBLE_SID=1):
# - sites named 127.0.0.1 and ::1 (written "0:0::1": the config keeps one
#   spelling) order "ip" identifiers under the shortlived profile, with a
#   CSR that has iPAddress SANs and no Common Name;
# - each address is validated once by HTTP-01 and once by TLS-ALPN-01 (two
#   runs, fresh state and account): the port-80 listener exists only on the
#   address whose challenge is HTTP-01, so Pebble can validate the other one
#   only over TLS-ALPN-01, whose handshake names the address by its
#   reverse-DNS name (RFC 8738 section 6); Pebble's log shows which;
# - curl https://127.0.0.1:PORT/ and https://[::1]:PORT/ (no SNI, no
#   --resolve) verify the served certificate against Pebble's root and reach
#   the IP site's backend, although a DNS site is the default; a client that
#   sends the address as SNI gets the same certificate;
# - the CSR rule for DNS names: a CN under "classic", none under "tlsserver".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl

PEBBLE_SID=1
start_pebble ", \"profiles\": {
  \"classic\": {\"description\": \"90 days\", \"validityPeriod\": 7776000},
  \"tlsserver\": {\"description\": \"45 days\", \"validityPeriod\": 3888000},
  \"shortlived\": {\"description\": \"160 hours\", \"validityPeriod\": 576000}}"
pebble_root "$T/root.pem"

PA=$(free_port); PD=$(free_port)
backend APP http "$PA"
backend DFLT http "$PD"
cert dflt ec dflt.test
P=$ACME_TLS_PORT
V6REV=1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa

# write_config RUN V4_CHALLENGE V6_CHALLENGE [EXTRA_SITES]: the port-80
# listener only on the address validated by HTTP-01.
write_config() {
	local http="127.0.0.1:$ACME_HTTP_PORT"
	[ "$2" = http-01 ] || http="[::1]:$ACME_HTTP_PORT"
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true,
 "listen": {"https": ["127.0.0.1:$P", "[::1]:$P"], "http": ["$http"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state$1", "retry_base": 1, "profile": "shortlived"},
 "sites": [
  {"names": ["dflt.test"], "backends": ["127.0.0.1:$PD"], "default": true,
   "certificates": [{"cert": "dflt.pem", "key": "dflt.key"}]},
  {"names": ["127.0.0.1"], "backends": ["127.0.0.1:$PA"], "acme": {"challenges": ["$2"]}},
  {"names": ["0:0::1"], "backends": ["127.0.0.1:$PA"], "acme": {"challenges": ["$3"]}}${4:-}]}
JSON
}

# served_san ADDR [ARGS]: the subjectAltName of the certificate served at
# ADDR:P; without ARGS, to a handshake with no SNI.
served_san() {
	local a=$1; shift
	[ $# -gt 0 ] || set -- -noservername
	s_client "$a:$P" "$@" | openssl x509 -noout -ext subjectAltName 2>/dev/null |
	    tail -n +2 | tr -d ' '
}

# check_run N V4_CHALLENGE V6_CHALLENGE PEBBLE_LOG_START
check_run() {
	local run=$1 c4=$2 c6=$3 from=$4 plog v4http v6http
	wait_log "acme 127.0.0.1: new certificate in service" 60
	wait_log "acme ::1: new certificate in service" 60
	grep -q "acme 127.0.0.1: answering $c4 for 127.0.0.1" "$T/tlsgate.log" ||
	    fail "run $run: 127.0.0.1 not answered over $c4"
	grep -q "acme ::1: answering $c6 for ::1" "$T/tlsgate.log" ||
	    fail "run $run: ::1 not answered over $c6"
	for n in 127.0.0.1 ::1; do
		grep -q "acme $n: finalizing (CSR without a Common Name)" "$T/tlsgate.log" ||
		    fail "run $run: $n's CSR had a CN"
	done
	# Pebble's own record of this run: HTTP-01 fetches name the address;
	# TLS-ALPN-01 leaves no such line (and needs no port-80 listener).
	plog=$(tail -n +"$from" "$T/pebble.log")
	v4http=$(grep -c "Attempting to validate w/ HTTP: http://127.0.0.1:$ACME_HTTP_PORT/.well-known/acme-challenge/" <<<"$plog" || true)
	v6http=$(grep -c "Attempting to validate w/ HTTP: http://\[::1\]:$ACME_HTTP_PORT/.well-known/acme-challenge/" <<<"$plog" || true)
	if [ "$c4" = http-01 ]; then
		[ "$v4http" -ge 1 ] && [ "$v6http" = 0 ] || fail "run $run: Pebble's HTTP-01 fetches: 127.0.0.1 $v4http, ::1 $v6http"
		rev=$V6REV
	else
		[ "$v6http" -ge 1 ] && [ "$v4http" = 0 ] || fail "run $run: Pebble's HTTP-01 fetches: 127.0.0.1 $v4http, ::1 $v6http"
		rev=1.0.0.127.in-addr.arpa
	fi
	[ "$(grep -c 'set VALID by completed challenge' <<<"$plog")" -ge 2 ] ||
	    fail "run $run: Pebble validated fewer than 2 authorizations"
	# The CA's TLS-ALPN-01 handshake asked by the reverse-DNS name and got
	# the challenge certificate (its connection ends there).
	grep -q "sni=$rev .*close=acme-challenge" "$T/tlsgate.log" ||
	    fail "run $run: no acme-tls/1 handshake with SNI $rev"
	ok "run $run: 127.0.0.1 validated by $c4, ::1 by $c6 (Pebble's log; TLS-ALPN-01 by SNI $rev)"

	# Served to clients that send no SNI, by the address they reached.
	[ "$(curl -sS --max-time 10 --cacert "$T/root.pem" "https://127.0.0.1:$P/")" = APP ] ||
	    fail "run $run: https://127.0.0.1:$P/ did not verify or reach the IP site"
	[ "$(curl -sS --max-time 10 --cacert "$T/root.pem" "https://[::1]:$P/")" = APP ] ||
	    fail "run $run: https://[::1]:$P/ did not verify or reach the IP site"
	[ "$(served_san 127.0.0.1)" = "IPAddress:127.0.0.1" ] ||
	    fail "run $run: 127.0.0.1 served SAN $(served_san 127.0.0.1)"
	[ "$(served_san '[::1]')" = "IPAddress:0:0:0:0:0:0:0:1" ] ||
	    fail "run $run: ::1 served SAN $(served_san '[::1]')"
	# An IP literal as SNI (RFC 6066 forbids it; some clients do it).
	[ "$(served_san 127.0.0.1 -servername 127.0.0.1)" = "IPAddress:127.0.0.1" ] ||
	    fail "run $run: SNI 127.0.0.1 got $(served_san 127.0.0.1 -servername 127.0.0.1)"
	# The default site still answers a DNS name.
	[ "$(served_san 127.0.0.1 -servername dflt.test)" = "DNS:dflt.test" ] ||
	    fail "run $run: dflt.test not served"
	ok "run $run: curl https://127.0.0.1:$P/ and https://[::1]:$P/ verified with no SNI; IP SNI too"
}

write_config 1 http-01 tls-alpn-01 ",
  {\"names\": [\"cn.test\"], \"backends\": [\"127.0.0.1:$PA\"], \"acme\": {\"profile\": \"classic\"}},
  {\"names\": [\"nocn.test\"], \"backends\": [\"127.0.0.1:$PA\"], \"acme\": {\"profile\": \"tlsserver\"}}"
"$TLSGATE" check --config "$T/tlsgate.json" || fail "check"
start_tlsgate "$P" --config "$T/tlsgate.json"
check_run 1 http-01 tls-alpn-01 1
# No SNI really was sent: the log's connection lines from curl say so.
wait_log "client=127.0.0.1:[0-9]* sni=- alpn=" 10
wait_log "client=\[::1\]:[0-9]* sni=- alpn=" 10
wait_log "acme cn.test: new certificate in service" 60
wait_log "acme nocn.test: new certificate in service" 60
grep -q "acme cn.test: finalizing (CSR with a Common Name)" "$T/tlsgate.log" ||
    fail "classic: the CSR had no CN"
grep -q "acme nocn.test: finalizing (CSR without a Common Name)" "$T/tlsgate.log" ||
    fail "tlsserver: the CSR had a CN"
ok "CSR: a CN under classic, none under tlsserver"

kill "$TG_PID"
wait "$TG_PID" 2>/dev/null || true
mv "$T/tlsgate.log" "$T/tlsgate-run1.log"
from=$(($(wc -l <"$T/pebble.log") + 1))
write_config 2 tls-alpn-01 http-01
start_tlsgate "$P" --config "$T/tlsgate.json"
check_run 2 tls-alpn-01 http-01 "$from"

# The chain of each issuance: Pebble makes a new root and intermediate at
# every start. Restarted (same ports), it issues the renewal under another
# intermediate, and that renewal's own chain is what is served: no
# intermediate is kept from the first issuance.
inter_fp() { openssl x509 -noout -fingerprint -sha256 | cut -d= -f2; }
# served_issuer_fp ADDR: the fingerprint of the second certificate served.
served_issuer_fp() {
	s_client "$1:$P" -noservername -showcerts |
	    awk '/BEGIN CERT/ {n++} n == 2 {print} /END CERT/ && n == 2 {exit}' | inter_fp
}
i1=$(curl -sS --cacert "$PEBBLE_CA" "https://127.0.0.1:$PEBBLE_MGMT/intermediates/0" | inter_fp)
[ -n "$i1" ] && [ "$(served_issuer_fp 127.0.0.1)" = "$i1" ] ||
    fail "the first chain is not Pebble's intermediate"
kill "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null || true
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    "$(pebble_bin)/pebble" -config "$T/pebble.json" -dnsserver "127.0.0.1:$PDNS" \
    -strict=false >>"$T/pebble.log" 2>&1 &
PIDS+=($!)
wait_port "$PP"; wait_port "$PEBBLE_MGMT"
i2=$(curl -sS --cacert "$PEBBLE_CA" "https://127.0.0.1:$PEBBLE_MGMT/intermediates/0" | inter_fp)
[ -n "$i2" ] && [ "$i2" != "$i1" ] || fail "the restarted Pebble kept its intermediate"
pebble_root "$T/root2.pem"
"$TLSGATE" renew 127.0.0.1 --config "$T/tlsgate.json" || fail "tlsgate renew"
wait_logn "acme 127.0.0.1: new certificate in service" 2 60	# the renewal at the restarted Pebble
[ "$(served_issuer_fp 127.0.0.1)" = "$i2" ] ||
    fail "the renewal is served with another chain than its own"
[ "$(curl -sS --max-time 10 --cacert "$T/root2.pem" "https://127.0.0.1:$P/")" = APP ] ||
    fail "the renewal does not verify against the new root"
ok "each issuance serves its own chain (a new intermediate after the CA changed it)"
