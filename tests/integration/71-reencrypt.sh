#!/bin/bash
# Re-encryption: TLS to the backends with verification on. It works against a
# backend whose certificate is valid for the configured name; with a wrong
# name or an untrusted CA it fails closed and logs why; with a client
# certificate it works against a backend that requires mTLS (and fails
# without one).
. "$(dirname "$0")/lib.sh"
need openssl curl

# A private CA, a backend certificate from it, and a client certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
    -out "$T/ca.pem" -days 2 -subj /CN=backend-ca 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other-ca.key" \
    -out "$T/other-ca.pem" -days 2 -subj /CN=other-ca 2>/dev/null
leaf() { # name cn
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
	    -out "$T/$1.csr" -subj "/CN=$2" 2>/dev/null
	openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	    -out "$T/$1.pem" -days 2 -extfile <(printf "subjectAltName=DNS:%s" "$2") 2>/dev/null
}
leaf be backend.internal
leaf client tlsgate-client
cert front ec re.test mtls.test bad.test untrusted.test nocert.test
PB=$(free_port); PM=$(free_port); P=$(free_port)
openssl s_server -accept "$PB" -cert "$T/be.pem" -key "$T/be.key" -www -quiet \
    >"$T/s_server.log" 2>&1 &
PIDS+=($!)
openssl s_server -accept "$PM" -cert "$T/be.pem" -key "$T/be.key" -www -quiet \
    -Verify 1 -verify_return_error -CAfile "$T/ca.pem" >"$T/s_server_mtls.log" 2>&1 &
PIDS+=($!)
wait_port "$PB"; wait_port "$PM"
site() { # name port backend_tls
	echo "{\"mode\": \"tcp\", \"names\": [\"$1\"], \"backends\": [\"127.0.0.1:$2\"], \"retries\": 0,
	  \"certificates\": [{\"cert\": \"front.pem\", \"key\": \"front.key\"}], \"backend_tls\": $3}"
}
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "sites": [
 $(site re.test "$PB" "{\"ca\": \"ca.pem\", \"server_name\": \"backend.internal\"}"),
 $(site bad.test "$PB" "{\"ca\": \"ca.pem\", \"server_name\": \"wrong.internal\"}"),
 $(site untrusted.test "$PB" "{\"ca\": \"other-ca.pem\", \"server_name\": \"backend.internal\"}"),
 $(site mtls.test "$PM" "{\"ca\": \"ca.pem\", \"server_name\": \"backend.internal\", \"cert\": \"client.pem\", \"key\": \"client.key\"}"),
 $(site nocert.test "$PM" "{\"ca\": \"ca.pem\", \"server_name\": \"backend.internal\"}")]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
get() { curl -sS --max-time 5 --cacert "$T/front.pem" --resolve "$1:$P:127.0.0.1" "https://$1:$P/" 2>&1 || true; }

out=$(get re.test)
grep -q "s_server" <<<"$out" || fail "re-encrypted request failed: $out"
grep -q "sni=re.test.*close=" "$T/tlsgate.log" || fail "no connection line"
ok "re-encrypted to a backend with a valid certificate for the configured name"

out=$(get bad.test)
grep -q "s_server" <<<"$out" && fail "served through a backend with the wrong name"
wait_log "backend 127.0.0.1:$PB: backend 127.0.0.1:$PB TLS: certificate verify failed: .*; failing closed" 5
ok "wrong name: fails closed, logged ($(grep -o 'verify failed: [^;]*' "$T/tlsgate.log" | head -1))"

n=$(grep -c "failing closed" "$T/tlsgate.log")
out=$(get untrusted.test)
grep -q "s_server" <<<"$out" && fail "served through an untrusted backend"
wait_logn "failing closed" $((n + 1)) 30
grep "failing closed" "$T/tlsgate.log" | tail -1 | grep -q "unable to get local issuer certificate\|self.signed\|unable to verify" ||
    fail "untrusted CA not reported: $(grep 'failing closed' "$T/tlsgate.log" | tail -1)"
ok "untrusted CA: fails closed, logged"

out=$(get mtls.test)
grep -q "s_server" <<<"$out" || fail "mTLS backend refused the client certificate: $out"
out=$(get nocert.test)
grep -q "s_server" <<<"$out" && fail "mTLS backend served a client without a certificate"
ok "mTLS: works with the client certificate, refused without"

# A config whose client key does not match is rejected at check time.
sed 's/"key": "client.key"/"key": "be.key"/' "$T/tlsgate.json" >"$T/bad.json"
if "$TLSGATE" check --config "$T/bad.json" >"$T/check.out" 2>&1; then fail "mismatched client key accepted"; fi
grep -q "backend_tls" "$T/check.out" || fail "check does not name backend_tls: $(cat "$T/check.out")"
ok "a client key that does not match its certificate is refused by check"
