#!/bin/bash
# Fallback CAs (acme.issuers): two Pebbles on loopback, each its own CA with
# its own root. The first refuses every order for the site's name (its
# domainBlocklist); after acme.fallback_failures (2) failed orders there,
# tlsgate orders from the second, with an account of its own there, and the
# certificate it serves chains to the second Pebble's root, not the first's.
# `tlsgate certs`, /status and the renewal state name that CA. After a
# restart, a renewal (tlsgate renew) asks the certificate's CA (the second)
# first: the first is not asked again (a refusal persists; a fallback that a
# rate limit caused goes back once the limit has passed: 84b).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl

start_pebble ', "domainBlocklist": ["fallback.test"]'
start_pebble2
pebble_root "$T/root1.pem"
pebble2_root "$T/root2.pem"
cmp -s "$T/root1.pem" "$T/root2.pem" && fail "the two Pebbles share a root"

PE=$(free_port); ADMIN=$(free_port)
backend ECHO echo "$PE"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "admin": {"listen": "127.0.0.1:$ADMIN"},
 "acme": {"issuers": [{"directory": "$PEBBLE_DIR_URL"}, "$PEBBLE2_DIR_URL"],
          "ca_bundle": "$PEBBLE_CA", "state_dir": "$T/state", "retry_base": 1},
 "sites": [{"mode": "tcp", "names": ["fallback.test"], "backends": ["127.0.0.1:$PE"],
            "acme": true}]}
JSON
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"

# served_chain FILE-PREFIX: the leaf and the rest of the chain tlsgate serves
# for fallback.test, in PREFIX-leaf.pem and PREFIX-chain.pem.
served_chain() {
	s_client "$ACME_TLS_PORT" -servername fallback.test -showcerts |
	    awk '/BEGIN CERT/,/END CERT/' >"$1-all.pem"
	awk '/BEGIN CERT/ {n++} n == 1' "$1-all.pem" >"$1-leaf.pem"
	awk '/BEGIN CERT/ {n++} n > 1' "$1-all.pem" >"$1-chain.pem"
	[ -s "$1-leaf.pem" ] && [ -s "$1-chain.pem" ] || fail "no chain served for fallback.test"
}

# chains_to ROOT PREFIX: whether PREFIX-leaf.pem verifies up to ROOT.
chains_to() {
	openssl verify -CAfile "$1" -untrusted "$2-chain.pem" "$2-leaf.pem" >/dev/null 2>&1
}

wait_log "acme fallback.test: falling back from issuer 1 ($PEBBLE_DIR_URL) to issuer 2 ($PEBBLE2_DIR_URL): 2 failed attempts in a row" 60
wait_log "acme fallback.test: new certificate in service" 60
grep -q "acme fallback.test: attempt 1 failed: .*rejectedIdentifier" "$T/tlsgate.log" ||
    fail "the first CA's refusal is not logged"
grep -q "acme fallback.test: attempt 3 failed" "$T/tlsgate.log" && fail "a third failure"
grep -q "acme fallback.test: ordering ecdsa certificate .* from $PEBBLE2_DIR_URL" "$T/tlsgate.log" ||
    fail "no order logged at the second CA"
grep -q "acme fallback.test: the certificate came from issuer 2" "$T/tlsgate.log" ||
    fail "the new issuer is not logged"
served_chain "$T/first"
chains_to "$T/root2.pem" "$T/first" || fail "the certificate does not chain to the second Pebble's root"
chains_to "$T/root1.pem" "$T/first" && fail "the certificate chains to the first Pebble's root"
ok "the first CA refused twice; the certificate came from the second and chains to its root"

# Each CA has its own account, in the folder of its directory URL; the
# certificate and its state stay in the first CA's folder.
slug1=$(echo "${PEBBLE_DIR_URL#*://}" | sed 's/[^A-Za-z0-9.-]/_/g')
slug2=$(echo "${PEBBLE2_DIR_URL#*://}" | sed 's/[^A-Za-z0-9.-]/_/g')
[ -s "$T/state/$slug1/account.url" ] || fail "no account in the first CA's folder"
[ -s "$T/state/$slug2/account.url" ] || fail "no account in the second CA's folder"
cmp -s "$T/state/$slug1/account.key" "$T/state/$slug2/account.key" && fail "one key for two accounts"
[ ! -d "$T/state/$slug2/certs" ] || [ -z "$(ls "$T/state/$slug2/certs")" ] ||
    fail "certificates in the second CA's folder"
state="$T/state/$slug1/certs/fallback.test/ecdsa.json"
grep -q "\"issuer\": \"$PEBBLE2_DIR_URL\"" "$state" || { cat "$state"; fail "the renewal state does not name the second CA"; }
grep -q '"rate_limit_issuer": null' "$state" || { cat "$state"; fail "a refusal is remembered as a rate limit"; }
"$TLSGATE" certs --config "$T/tlsgate.json" >"$T/certs.out"
cat "$T/certs.out"
grep -q "^fallback.test *ecdsa .*(CA $PEBBLE2_DIR_URL)" "$T/certs.out" || fail "certs: no CA named"
curl -sS "http://127.0.0.1:$ADMIN/status" >"$T/status.json"
grep -q "\"acme_issuer\": \"$PEBBLE2_DIR_URL\"" "$T/status.json" || { cat "$T/status.json"; fail "/status: no acme_issuer"; }
ok "an account per CA; the state, tlsgate certs and /status name the second CA"

# A restart, then a renewal: it goes to the certificate's CA, the second.
fp1=$(fingerprint "$T/first-leaf.pem")
kill "$TG_PID"; wait "$TG_PID" || true
mv "$T/tlsgate.log" "$T/tlsgate-1.log"
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme: directory $PEBBLE2_DIR_URL loaded" 30
wait_log "acme: directory $PEBBLE_DIR_URL loaded" 30
"$TLSGATE" renew fallback.test --config "$T/tlsgate.json" >/dev/null || fail "tlsgate renew"
wait_log "acme fallback.test: renewing ecdsa certificate .* from $PEBBLE2_DIR_URL" 30
wait_log "acme fallback.test: new certificate in service" 60
grep -q "from $PEBBLE_DIR_URL" "$T/tlsgate.log" && fail "the renewal asked the first CA"
grep -q "falling back" "$T/tlsgate.log" && fail "the renewal fell back"
served_chain "$T/second"
[ "$(fingerprint "$T/second-leaf.pem")" != "$fp1" ] || fail "the served certificate did not change"
chains_to "$T/root2.pem" "$T/second" || fail "the renewed certificate does not chain to the second root"
ok "after a restart the renewal asked the second CA first and got its certificate"

# A first CA that is down (nothing listens): its directory never loads, which
# counts as a failed attempt there like any other; the second CA issues.
# Another first CA means another store folder: the site is ordered afresh.
DEAD=$(free_port)
kill "$TG_PID"; wait "$TG_PID" || true
mv "$T/tlsgate.log" "$T/tlsgate-2.log"
sed -i "s|{\"directory\": \"$PEBBLE_DIR_URL\"}|\"https://127.0.0.1:$DEAD/dir\"|" "$T/tlsgate.json"
grep -q "127.0.0.1:$DEAD/dir" "$T/tlsgate.json" || fail "config not rewritten"
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme fallback.test: attempt 1 failed: issuer 1: the directory https://127.0.0.1:$DEAD/dir is not loaded" 30
wait_log "acme fallback.test: falling back from issuer 1 (https://127.0.0.1:$DEAD/dir) to issuer 2 ($PEBBLE2_DIR_URL)" 30
wait_log "acme fallback.test: new certificate in service" 60
served_chain "$T/third"
chains_to "$T/root2.pem" "$T/third" || fail "the certificate does not chain to the second root"
ok "a first CA that is down: its directory counts as failed attempts; the second CA issued"
