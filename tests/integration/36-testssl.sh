#!/bin/bash
# testssl.sh (Debian's testssl.sh 3.0.8) against tlsgate with its default TLS
# settings: protocols (-p), cipher categories (-s), forward secrecy (-f),
# server preferences (-P), server defaults (-S: extensions, tickets, the
# certificate) and vulnerabilities (-U). Any finding at LOW or
# above that comes from TLS settings fails the test; so does a scan that did
# not run its checks. Findings that come from this test's setup, not from
# tlsgate's settings, are filtered out by testssl id (see SETUP_IDS).
# The filter itself is checked first on a made-up report, so that a filter
# that lets nothing through cannot pass unnoticed.
. "$(dirname "$0")/lib.sh"
need openssl testssl jq

cert s ec ts.test
PB=$(free_port); P=$(free_port)
backend B http "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 1,
 "sites": [{"mode": "tcp", "names": ["ts.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"

# Findings about the test's certificate and name, not about TLS settings:
#  - cert_chain_of_trust, cert_trust: self-signed, hence untrusted; and
#    127.0.0.1 / ts.test resolve to nothing testssl can match or look up;
#  - cert_expirationStatus, cert_notAfter, cert_validityPeriod: lib.sh makes
#    30-day certificates, which testssl calls "expires soon";
#  - cert_revocation, cert_ocspURL, cert_crlDistributionPoints, OCSP_stapling,
#    OCSP_must_staple, cert_mustStapleExtension: a self-signed certificate has
#    no CRL or OCSP responder (and Let's Encrypt dropped OCSP in 2025);
#  - certificate_transparency: no CT log has seen a test certificate;
#  - DNS_CAArecord: no DNS for ts.test;
#  - cert_commonName_wo_SNI, cert_subjectAltName: a client without SNI or
#    with another name gets the default site's certificate, as configured.
SETUP_IDS='["cert_chain_of_trust","cert_trust","cert_expirationStatus",
 "cert_notAfter","cert_validityPeriod","cert_revocation","cert_ocspURL",
 "cert_crlDistributionPoints","OCSP_stapling","OCSP_must_staple",
 "cert_mustStapleExtension","certificate_transparency","DNS_CAArecord",
 "cert_commonName_wo_SNI","cert_subjectAltName"]'
# findings FILE: "SEVERITY id: finding" for each finding at LOW or above
# that is not a setup id, and for each scan problem (FATAL, scanProblem).
findings() {
	jq -r --argjson setup "$SETUP_IDS" '
	    .[] | select(
	        ((.severity | IN("LOW", "MEDIUM", "HIGH", "CRITICAL")) and
	         (.id | IN($setup[]) | not))
	        or .severity == "FATAL" or .id == "scanProblem")
	    | "\(.severity) \(.id): \(.finding)"' "$1"
}

# The filter: a CBC finding stays, a setup finding goes, OK and INFO go.
cat >"$T/canned.json" <<'JSON'
[{"id": "LUCKY13", "severity": "LOW", "finding": "potentially vulnerable"},
 {"id": "cert_chain_of_trust", "severity": "CRITICAL", "finding": "failed (self signed)."},
 {"id": "TLS1_3", "severity": "OK", "finding": "offered with final"},
 {"id": "service", "severity": "INFO", "finding": "HTTP"}]
JSON
[ "$(findings "$T/canned.json")" = "LOW LUCKY13: potentially vulnerable" ] ||
    fail "the findings filter is broken: $(findings "$T/canned.json")"
ok "the findings filter keeps settings findings and drops setup ones"

# NXCONNECT: testssl probes its openssl's options against this address;
# 127.0.0.1:0 fails at once without a DNS query for "invalid.".
NXCONNECT=127.0.0.1:0 timeout 1200 testssl --jsonfile "$T/testssl.json" --warnings off \
    --color 0 --nodns none -p -s -f -P -S -U --ip 127.0.0.1 "ts.test:$P" \
    >"$T/testssl.log" 2>&1 || true	# its exit code counts findings, setup ones too
[ -s "$T/testssl.json" ] || { tail -20 "$T/testssl.log"; fail "testssl wrote no report"; }

# The checks ran: each of these ids is in the report.
for id in SSLv2 SSLv3 TLS1 TLS1_1 TLS1_2 TLS1_3 cipherlist_NULL cipherlist_AVERAGE \
    cipherlist_3DES_IDEA PFS cipher_order heartbleed ROBOT secure_client_renego \
    CRIME_TLS POODLE_SSL fallback_SCSV SWEET32 FREAK LOGJAM BEAST LUCKY13 RC4 \
    TLS_session_ticket cert_chain_of_trust; do
	jq -e --arg id "$id" 'any(.[]; .id == $id)' "$T/testssl.json" >/dev/null ||
	    fail "testssl did not report $id: the scan did not run that check"
done
ok "testssl ran protocol, cipher, forward secrecy, preference, server default and vulnerability checks"

found=$(findings "$T/testssl.json")
if [ -n "$found" ]; then
	echo "$found"
	fail "testssl findings at LOW or above from tlsgate's TLS settings"
fi
echo "setup findings, not counted: $(jq -r --argjson setup "$SETUP_IDS" \
    '[.[] | select(.id | IN($setup[])) | select(.severity | IN("LOW","MEDIUM","HIGH","CRITICAL")) | .id] | join(" ")' \
    "$T/testssl.json")"
ok "testssl: no finding at LOW or above from tlsgate's TLS settings"
