# pebble.sh - start a real ACME server (Pebble) and its DNS server
# (pebble-challtestsrv) on loopback, on random ports. Source after lib.sh.
# Sets: PEBBLE_DIR_URL, PEBBLE_CA (trusts Pebble's API), PEBBLE_MGMT,
# CHALL_MGMT, ACME_TLS_PORT and ACME_HTTP_PORT (where Pebble validates:
# tlsgate must listen there), PEBBLE_BIN_VERSION.

pebble_bin() {
	# PEBBLE_SID=1: Pebble 2.10.0 (profiles, IP identifiers), fetched by
	# scripts/fetch-pebble-sid; no fallback to another Pebble.
	if [ "${PEBBLE_SID:-}" = 1 ]; then
		local s="${TG_SRC:-.}/.cache/pebble-sid/root/usr/bin"
		if [ -x "$s/pebble" ]; then echo "$s"; return; fi
		if [ "${CI:-}" = true ]; then fail "Pebble 2.10 is not fetched (scripts/fetch-pebble-sid)"; fi
		echo "skip: Pebble 2.10 not fetched (scripts/fetch-pebble-sid)" >&2; exit 77
	fi
	local d="${TG_SRC:-.}/.cache/pebble/root/usr/bin"
	if [ -x "$d/pebble" ]; then echo "$d"; return; fi
	if command -v pebble >/dev/null; then dirname "$(command -v pebble)"; return; fi
	if [ "${CI:-}" = true ]; then fail "pebble is not installed (scripts/setup)"; fi
	echo "skip: pebble not installed" >&2; exit 77
}

# start_pebble [EXTRA-PEBBLE-CONFIG-JSON-MEMBERS]
start_pebble() {
	local bin; bin=$(pebble_bin)
	PP=$(free_port); PEBBLE_MGMT=$(free_port); PDNS=$(free_port); CHALL_MGMT=$(free_port)
	ACME_TLS_PORT=$(free_port); ACME_HTTP_PORT=$(free_port)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/pebble-ca.key" -out "$T/pebble-ca.pem" -days 2 -subj /CN=pebble-api-ca \
	    2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/pebble.key" \
	    -out "$T/pebble.csr" -subj /CN=localhost 2>/dev/null
	openssl x509 -req -in "$T/pebble.csr" -CA "$T/pebble-ca.pem" -CAkey "$T/pebble-ca.key" \
	    -CAcreateserial -out "$T/pebble.pem" -days 2 \
	    -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1') 2>/dev/null
	cat >"$T/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$PP", "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT",
  "certificate": "$T/pebble.pem", "privateKey": "$T/pebble.key",
  "httpPort": $ACME_HTTP_PORT, "tlsPort": $ACME_TLS_PORT, "ocspResponderURL": "",
  "externalAccountBindingRequired": false ${1:-}}}
JSON
	# pebble-challtestsrv's DNS flag: -dns01 up to 2.6, -dnsserver in 2.10.
	local dnsflag=-dns01 usage
	usage=$("$bin/pebble-challtestsrv" -help 2>&1 || true)
	case $usage in *-dnsserver*) dnsflag=-dnsserver ;; esac
	"$bin/pebble-challtestsrv" -management "127.0.0.1:$CHALL_MGMT" "$dnsflag" "127.0.0.1:$PDNS" \
	    -http01 "" -https01 "" -tlsalpn01 "" -doh "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
	    >"$T/challtestsrv.log" 2>&1 &
	PIDS+=($!)
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=${PEBBLE_NONCEREJECT:-0} \
	PEBBLE_AUTHZREUSE=0 PEBBLE_ALTERNATE_ROOTS=${PEBBLE_ALTROOTS:-0} \
	    "$bin/pebble" -config "$T/pebble.json" -dnsserver "127.0.0.1:$PDNS" -strict=false \
	    >"$T/pebble.log" 2>&1 &
	PIDS+=($!)
	wait_port "$PP"; wait_port "$PEBBLE_MGMT"; wait_port "$CHALL_MGMT"
	PEBBLE_DIR_URL="https://127.0.0.1:$PP/dir"
	PEBBLE_CA="$T/pebble-ca.pem"
	curl -sS --cacert "$PEBBLE_CA" "$PEBBLE_DIR_URL" >"$T/directory.json" ||
	    fail "Pebble's directory is not reachable"
}

# pebble_root FILE: the root that issues this run's certificates.
pebble_root() {
	curl -sS --cacert "$PEBBLE_CA" "https://127.0.0.1:$PEBBLE_MGMT/roots/0" >"$1"
}


# start_one_acme_site NAME: an echo backend and tlsgate with one ACME site
# NAME against this Pebble (retry_base 1, for short-lived certificates);
# waits for the HTTPS port. Sets PE (the backend's port) and TG_PID.
start_one_acme_site() {
	PE=$(free_port)
	backend ECHO echo "$PE"
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "retry_base": 1},
 "sites": [{"mode": "tcp", "names": ["$1"], "backends": ["127.0.0.1:$PE"], "acme": true}]}
JSON
	start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
}

# start_pebble2 [EXTRA-PEBBLE-CONFIG-JSON-MEMBERS]: a second Pebble, another
# CA with its own root, next to start_pebble's (call that first) on other
# ports. It shares the first one's DNS server and API certificate
# (PEBBLE_CA trusts both) and validates at the same ACME_TLS_PORT and
# ACME_HTTP_PORT. Sets PEBBLE2_DIR_URL and PEBBLE2_MGMT; log in
# $T/pebble2.log.
start_pebble2() {
	local bin; bin=$(pebble_bin)
	[ -n "${PP:-}" ] || fail "start_pebble2 needs start_pebble first"
	PP2=$(free_port); PEBBLE2_MGMT=$(free_port)
	cat >"$T/pebble2.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$PP2", "managementListenAddress": "127.0.0.1:$PEBBLE2_MGMT",
  "certificate": "$T/pebble.pem", "privateKey": "$T/pebble.key",
  "httpPort": $ACME_HTTP_PORT, "tlsPort": $ACME_TLS_PORT, "ocspResponderURL": "",
  "externalAccountBindingRequired": false ${1:-}}}
JSON
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=${PEBBLE_NONCEREJECT:-0} \
	PEBBLE_AUTHZREUSE=0 PEBBLE_ALTERNATE_ROOTS=${PEBBLE_ALTROOTS:-0} \
	    "$bin/pebble" -config "$T/pebble2.json" -dnsserver "127.0.0.1:$PDNS" -strict=false \
	    >"$T/pebble2.log" 2>&1 &
	PIDS+=($!)
	wait_port "$PP2"; wait_port "$PEBBLE2_MGMT"
	PEBBLE2_DIR_URL="https://127.0.0.1:$PP2/dir"
	curl -sS --cacert "$PEBBLE_CA" "$PEBBLE2_DIR_URL" >"$T/directory2.json" ||
	    fail "the second Pebble's directory is not reachable"
}

# pebble2_root FILE: the root that issues the second Pebble's certificates.
pebble2_root() {
	curl -sS --cacert "$PEBBLE_CA" "https://127.0.0.1:$PEBBLE2_MGMT/roots/0" >"$1"
}
