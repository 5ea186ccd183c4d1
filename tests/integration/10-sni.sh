#!/bin/bash
# Three sites (one a wildcard) plus a default on one address. Each SNI gets its
# own certificate and backend; no SNI and unknown SNI get the default; without
# a default an unknown SNI gets an unrecognized_name alert. A site with ECDSA
# and RSA certificates gives RSA to a client limited to RSA signatures.
. "$(dirname "$0")/lib.sh"
need openssl curl

cert a-ec ec a.test www.a.test
cert a-rsa rsa a.test www.a.test
cert b ec b.test
cert w ec '*.w.test'
cert d ec default.test
PA=$(free_port); PB=$(free_port); PW=$(free_port); PD=$(free_port); P=$(free_port)
backend A http "$PA"; backend B http "$PB"; backend W http "$PW"; backend D http "$PD"

site() { # names-json backend-port certs-json [extra]
	echo "{\"mode\": \"tcp\", \"names\": $1, \"backends\": [\"127.0.0.1:$2\"], \"certificates\": $3 ${4:-}}"
}
ecrsa="[{\"cert\": \"a-ec.pem\", \"key\": \"a-ec.key\"}, {\"cert\": \"a-rsa.pem\", \"key\": \"a-rsa.key\"}]"
write_conf() { # $1: 1 to include the default site
	{
		echo "{\"allow_root\": true, \"listen\": {\"https\": [\"127.0.0.1:$P\"]}, \"workers\": 2, \"sites\": ["
		site '["a.test", "www.a.test"]' "$PA" "$ecrsa" ', "alpn": ["h2", "http/1.1"]'
		echo ","
		site '["b.test"]' "$PB" '[{"cert": "b.pem", "key": "b.key"}]'
		echo ","
		site '["*.w.test"]' "$PW" '[{"cert": "w.pem", "key": "w.key"}]'
		if [ "$1" = 1 ]; then
			echo ","
			site '["default.test"]' "$PD" '[{"cert": "d.pem", "key": "d.key"}]' ', "default": true'
		fi
		echo "]}"
	} >"$T/tlsgate.json"
}
write_conf 1
"$TLSGATE" check --config "$T/tlsgate.json" || fail "check rejects a valid config"
start_tlsgate "$P" --config "$T/tlsgate.json"

get() { # host cafile -> backend name
	curl -sS --http1.1 --max-time 5 --cacert "$2" --resolve "$1:$P:127.0.0.1" "https://$1:$P/"
}
[ "$(get a.test "$T/a-ec.pem")" = A ] || fail "a.test not served by backend A"
[ "$(get www.a.test "$T/a-ec.pem")" = A ] || fail "www.a.test not served by A"
[ "$(get b.test "$T/b.pem")" = B ] || fail "b.test not served by B"
[ "$(get x.w.test "$T/w.pem")" = W ] || fail "x.w.test not served by wildcard site"
[ "$(get other.test "$T/d.pem" 2>/dev/null || true)" = "" ] ||
    fail "unknown SNI verified against the default cert for a name it lacks"
ok "curl verifies each site's certificate and reaches its backend"

subject() { s_client "$P" "$@" | sed -n 's/^subject=//p' | head -1; }
[[ "$(subject -servername b.test)" == *"CN = b.test"* ]] || fail "b.test subject"
[[ "$(subject -servername y.w.test)" == *'CN = *.w.test'* ]] || fail "wildcard subject"
[[ "$(subject -servername y.z.w.test)" == *"CN = default.test"* ]] ||
    fail "two labels under a wildcard must not match it"
[[ "$(subject -noservername)" == *"CN = default.test"* ]] || fail "no SNI -> default"
[[ "$(subject -servername nobody.example)" == *"CN = default.test"* ]] ||
    fail "unknown SNI -> default"
ok "openssl s_client: exact, wildcard, no SNI and unknown SNI"

# ECDSA-capable clients get ECDSA; an RSA-only client gets the RSA certificate.
out=$(s_client "$P" -servername a.test)
grep -q "Peer signature type: ECDSA" <<<"$out" || fail "default client did not get ECDSA"
out=$(s_client "$P" -servername a.test -sigalgs "RSA-PSS+SHA256:RSA+SHA256")
grep -Eq "Peer signature type: RSA" <<<"$out" || fail "RSA-only client did not get RSA: $out"
out=$(s_client "$P" -servername a.test -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)
grep -q "Peer signature type: RSA" <<<"$out" || fail "TLS 1.2 RSA-suite client did not get RSA"
ok "ECDSA to ECDSA-capable clients, RSA to RSA-only clients"

# ALPN: the site's list, server preference.
grep -q "ALPN protocol: h2" <<<"$(s_client "$P" -servername a.test -alpn http/1.1,h2)" ||
    fail "ALPN h2 not chosen for a.test"
grep -q "alpn=h2" "$T/tlsgate.log" || fail "chosen ALPN not logged"
ok "ALPN chosen from the site's list and logged"

# TLS 1.0/1.1 are refused.
out=$(s_client "$P" -servername a.test -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
grep -q "alert protocol version" <<<"$out" || fail "TLS 1.1 not refused with protocol_version: $out"
ok "TLS below 1.2 refused"

# Garbage instead of a ClientHello: closed, logged, the server goes on.
nfail=$(log_count "close=handshake-failed")
printf 'GET / HTTP/1.0\r\n\r\n\x16\x03\x01\xff\xff garbage' |
    timeout 5 bash -c "cat > /dev/tcp/127.0.0.1/$P" || true
wait_logn "close=handshake-failed" $((nfail + 1)) 10
[ "$(get b.test "$T/b.pem")" = B ] || fail "server unwell after garbage"
ok "garbage ClientHello: clean failure, still serving"

# Without a default site, an unknown name gets unrecognized_name (alert 112).
kill "$TG_PID"; wait "$TG_PID" || true
write_conf 0
start_tlsgate "$P" --config "$T/tlsgate.json"
out=$(s_client "$P" -servername nobody.example)
grep -qi "unrecognized name\|alert number 112" <<<"$out" ||
    fail "unknown SNI without default: no unrecognized_name alert: $out"
out=$(s_client "$P" -noservername)
grep -qi "unrecognized name\|alert number 112" <<<"$out" ||
    fail "no SNI without default: no unrecognized_name alert"
[ "$(get b.test "$T/b.pem")" = B ] || fail "known names must still work"
ok "unknown SNI without a default: unrecognized_name alert"
