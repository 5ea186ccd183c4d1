#!/bin/bash
# ACME profiles against Pebble 2.10 (PEBBLE_SID=1: scripts/fetch-pebble-sid),
# with Let's Encrypt's three profile names and lifetimes:
# - sites naming `shortlived` and `tlsserver`, and one taking the global
#   acme.profile (`classic`), are served certificates of exactly those
#   lifetimes (notAfter - notBefore of what a handshake gets);
# - the renewal state keeps the profile; a forced renewal of the shortlived
#   certificate asks for shortlived again (the CA's order echoes it, and the
#   new certificate has the shortlived lifetime);
# - the config wins: after a reload that names `tlsserver` for that site, the
#   next renewal asks for it and the log says the profile changed;
# - a profile the CA does not offer is an error naming it and the CA's list;
#   that site orders nothing and the others are not held up;
# - after an account change, Pebble refuses "replaces" (unauthorized): the
#   renewal goes again at once without it, under the same profile;
# - an on-demand name orders under on_demand.site's acme.profile
#   (`shortlived`), not the global one, and is served a 160-hour certificate.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl jq
: "${TG_ASK:?}"

PEBBLE_SID=1
# Pebble's validity is inclusive: a certificate covers validityPeriod - 1 s.
CLASSIC=7776000 TLSSERVER=3888000 SHORT=576000
start_pebble ", \"profiles\": {
  \"classic\": {\"description\": \"90 days\", \"validityPeriod\": $CLASSIC},
  \"tlsserver\": {\"description\": \"45 days\", \"validityPeriod\": $TLSSERVER},
  \"shortlived\": {\"description\": \"160 hours\", \"validityPeriod\": $SHORT}}"
jq -e '.meta.profiles.shortlived and .meta.profiles.tlsserver' "$T/directory.json" \
    >/dev/null || fail "Pebble's directory lists no profiles: $(cat "$T/directory.json")"

PE=$(free_port); AP=$(free_port)
backend ECHO echo "$PE"
"$TG_ASK" --listen "127.0.0.1:$AP" --allow .ok.test >"$T/ask.log" 2>&1 &
PIDS+=($!)
wait_port "$AP"
# write_config SHORT_PROFILE
write_config() {
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "retry_base": 1, "profile": "classic"},
 "on_demand": {"ask": "http://127.0.0.1:$AP/ask",
               "site": {"mode": "tcp", "backends": ["127.0.0.1:$PE"],
                        "acme": {"profile": "shortlived"}}},
 "sites": [
  {"mode": "tcp", "names": ["short.test"], "backends": ["127.0.0.1:$PE"],
   "acme": {"profile": "$1"}},
  {"mode": "tcp", "names": ["server.test"], "backends": ["127.0.0.1:$PE"],
   "acme": {"profile": "tlsserver"}},
  {"mode": "tcp", "names": ["classic.test"], "backends": ["127.0.0.1:$PE"], "acme": true},
  {"mode": "tcp", "names": ["bogus.test"], "backends": ["127.0.0.1:$PE"],
   "acme": {"profile": "nope"}}]}
JSON
}
write_config shortlived
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"

# served NAME: the PEM certificate a handshake for NAME gets.
served() {
	s_client "$ACME_TLS_PORT" -servername "$1" | openssl x509 2>/dev/null ||
	    fail "no certificate served for $1"
}
# life NAME: notAfter - notBefore of the served certificate, in seconds.
life() {
	local pem nb na
	pem=$(served "$1")
	nb=$(openssl x509 -noout -startdate <<<"$pem" | cut -d= -f2)
	na=$(openssl x509 -noout -enddate <<<"$pem" | cut -d= -f2)
	echo $(($(date -d "$na" +%s) - $(date -d "$nb" +%s)))
}
# installed NAME: how many certificates tlsgate has put in service for NAME.
installed() { grep -c "acme $1: new certificate in service" "$T/tlsgate.log" || true; }
# orders NAME PROFILE: how many of NAME's orders the CA took under PROFILE.
orders() { grep -c "acme $1: order .*, profile \"$2\")" "$T/tlsgate.log" || true; }

for n in short.test server.test classic.test; do
	wait_log "acme $n: new certificate in service" 60
done
[ "$(life short.test)" = $((SHORT - 1)) ] || fail "short.test: lifetime $(life short.test), want $((SHORT - 1))"
[ "$(life server.test)" = $((TLSSERVER - 1)) ] || fail "server.test: lifetime $(life server.test)"
[ "$(life classic.test)" = $((CLASSIC - 1)) ] || fail "classic.test: lifetime $(life classic.test)"
[ "$(orders short.test shortlived)" = 1 ] || fail "short.test's order was not under shortlived"
[ "$(orders classic.test classic)" = 1 ] || fail "classic.test did not take the global profile"
ok "shortlived, tlsserver and classic (global) certificates with 160 h, 45 d and 90 d lifetimes"

# On-demand names take on_demand.site's profile, not the global one.
s_client "$ACME_TLS_PORT" -servername od.ok.test >/dev/null	# the first handshake orders
wait_log "on-demand: od.ok.test has its certificate" 60
[ "$(orders od.ok.test shortlived)" = 1 ] || fail "od.ok.test's order was not under shortlived"
[ "$(orders od.ok.test classic)" = 0 ] || fail "od.ok.test ordered under the global profile"
[ "$(life od.ok.test)" = $((SHORT - 1)) ] || fail "od.ok.test: lifetime $(life od.ok.test), want $((SHORT - 1))"
ok "an on-demand name ordered under on_demand.site's profile (shortlived), not the global one"

wait_log 'acme bogus.test: the CA (.*) does not offer the profile "nope" (it offers: ' 20
grep -q 'acme bogus.test: the CA .*(it offers: classic, shortlived, tlsserver)' "$T/tlsgate.log" ||
    fail "the error does not list the CA's profiles"
if grep -q "acme bogus.test: order " "$T/tlsgate.log"; then fail "bogus.test ordered"; fi
ok "unknown profile: an error naming it and the CA's list; no order for that site"

# The renewal state keeps the profile; a forced renewal asks for it again.
state=$(ls "$T"/state/*/certs/short.test/ecdsa.json)
[ "$(jq -r .profile "$state")" = shortlived ] || fail "renewal state: $(cat "$state")"
fp1=$(served short.test | openssl x509 -noout -fingerprint -sha256)
"$TLSGATE" renew short.test --config "$T/tlsgate.json" || fail "tlsgate renew"
deadline=$((SECONDS + 60))
until [ "$(installed short.test)" -ge 2 ]; do
	[ $SECONDS -lt $deadline ] || fail "the forced renewal did not complete"
	sleep 0.2
done
[ "$(orders short.test shortlived)" = 2 ] || fail "the renewal was not ordered under shortlived"
[ "$(life short.test)" = $((SHORT - 1)) ] || fail "renewed short.test: lifetime $(life short.test)"
[ "$(served short.test | openssl x509 -noout -fingerprint -sha256)" != "$fp1" ] ||
    fail "the renewed certificate is not served"
ok "renewal of the shortlived certificate ordered under shortlived again"

# The config wins, and says so.
write_config tlsserver
kill -HUP "$TG_PID"
wait_log "acme: reload: 3 job(s) kept, 1 started, 1 ended" 10
"$TLSGATE" renew short.test --config "$T/tlsgate.json" || fail "tlsgate renew"
deadline=$((SECONDS + 60))
until [ "$(installed short.test)" -ge 3 ]; do
	[ $SECONDS -lt $deadline ] || fail "the renewal after the reload did not complete"
	sleep 0.2
done
grep -q 'acme short.test: ordering with the profile "tlsserver" (the certificate in service: "shortlived")' \
    "$T/tlsgate.log" || fail "the profile change was not logged"
[ "$(orders short.test tlsserver)" = 1 ] || fail "the renewal after the reload was not under tlsserver"
[ "$(life short.test)" = $((TLSSERVER - 1)) ] || fail "short.test after the change: lifetime $(life short.test)"
[ "$(jq -r .profile "$state")" = tlsserver ] || fail "renewal state after the change: $(cat "$state")"
if grep -q "acme bogus.test: order " "$T/tlsgate.log"; then fail "bogus.test ordered"; fi
ok "a changed profile: the next renewal asks for it, and the log says so"

# A new account (the state's account removed, tlsgate restarted): the CA
# refuses "replaces" for a certificate another account ordered; the renewal
# goes again at once without it, still under the site's profile.
kill "$TG_PID"
wait "$TG_PID" 2>/dev/null || true
rm -f "$T"/state/*/account.key "$T"/state/*/account.url
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme: directory .* loaded" 20
"$TLSGATE" renew server.test --config "$T/tlsgate.json" || fail "tlsgate renew"
wait_log "acme server.test: new certificate in service" 60
grep -q 'acme server.test: CA refused "replaces" (urn:ietf:params:acme:error:unauthorized); ordering without it' \
    "$T/tlsgate.log" || fail "no refusal of replaces after the account change"
[ "$(orders server.test tlsserver)" = 1 ] || fail "the order after the refusal was not under tlsserver"
[ "$(life server.test)" = $((TLSSERVER - 1)) ] || fail "server.test after the account change: lifetime $(life server.test)"
ok "replaces refused after an account change: ordered again without it, once"
