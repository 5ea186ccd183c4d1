#!/bin/bash
# Fallback CAs and rate limits: two Pebbles, the first behind
# tests/support/acmeproxy.py, which answers newOrder with HTTP 429
# rateLimited and a Retry-After, per name, as its rules file says, and counts
# every newOrder the first CA is sent (never hammering a CA: the counts are
# asserted exactly). acme.fallback_failures is 2, acme.fallback_retry_after
# 5 s. Three sites:
#   rl-short.test: Retry-After 3 s, twice: waited out at the first CA both
#     times (a short limit is no failure that counts towards moving on); the
#     third order there succeeds. 3 newOrders at the first CA, 3 s apart.
#   rl-wait.test: Retry-After 12 s: to the second CA at once, which issues.
#     Once those 12 s have passed and the proxy lets orders through, a
#     forced renewal goes to the first CA again, without "replaces" (a
#     certID of the second CA's certificate), and the certificate comes from
#     there. 2 newOrders at the first CA.
#   rl-hold.test: Retry-After 2 hours: to the second CA, which issues. With
#     the proxy letting orders through, a forced renewal still goes to the
#     second CA (the first asked for 2 hours), with "replaces"; after a
#     restart too (the limit is in the renewal state). 1 newOrder at the
#     first CA.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl python3
SUP="$TG_SRC/tests/support"

start_pebble
start_pebble2
pebble_root "$T/root1.pem"
pebble2_root "$T/root2.pem"
cmp -s "$T/root1.pem" "$T/root2.pem" && fail "the two Pebbles share a root"

# The proxy presents Pebble's own API certificate: PEBBLE_CA trusts it.
PX=$(free_port)
cat >"$T/rules" <<'RULES'
rl-short.test 3 2
rl-wait.test 12
rl-hold.test 7200
RULES
python3 "$SUP/acmeproxy.py" --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$PP" \
    --cert "$T/pebble.pem" --key "$T/pebble.key" --ca "$PEBBLE_CA" --rules "$T/rules" \
    --log "$T/proxy.log" 2>"$T/proxy-err.log" &
PIDS+=($!)
wait_port "$PX"
PX_URL="https://127.0.0.1:$PX/dir"
curl -sS --cacert "$PEBBLE_CA" "$PX_URL" | grep -q "\"newOrder\": \"https://127.0.0.1:$PX/" ||
    fail "the proxy's directory does not point at the proxy"

PE=$(free_port)
ADMIN=$(free_port)
backend ECHO echo "$PE"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "admin": {"listen": "127.0.0.1:$ADMIN"},
 "acme": {"issuers": ["$PX_URL", "$PEBBLE2_DIR_URL"], "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "retry_base": 1, "fallback_failures": 2,
          "fallback_retry_after": 5},
 "sites": [{"mode": "tcp", "names": ["rl-short.test"], "backends": ["127.0.0.1:$PE"], "acme": true},
           {"mode": "tcp", "names": ["rl-wait.test"], "backends": ["127.0.0.1:$PE"], "acme": true},
           {"mode": "tcp", "names": ["rl-hold.test"], "backends": ["127.0.0.1:$PE"], "acme": true}]}
JSON
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"

# orders NAME: how many newOrders for NAME the first CA was sent.
orders() { grep -c "^neworder .* names=$1 " "$T/proxy.log" || true; }
# order_field NAME I FIELD: FIELD (rewritten, replaces...) of NAME's I-th newOrder.
order_field() {
	grep "^neworder .* names=$1 " "$T/proxy.log" | sed -n "$2p" |
	    sed "s/.* $3=\\([^ ]*\\).*/\\1/"
}
# served NAME PREFIX: the chain served for NAME, in PREFIX-leaf.pem, PREFIX-chain.pem.
served() {
	s_client "$ACME_TLS_PORT" -servername "$1" -showcerts |
	    awk '/BEGIN CERT/,/END CERT/' >"$2-all.pem"
	awk '/BEGIN CERT/ {n++} n == 1' "$2-all.pem" >"$2-leaf.pem"
	awk '/BEGIN CERT/ {n++} n > 1' "$2-all.pem" >"$2-chain.pem"
	[ -s "$2-leaf.pem" ] && [ -s "$2-chain.pem" ] || fail "no chain served for $1"
}
# from NAME PREFIX ROOT OTHER-ROOT: the served certificate chains to ROOT only.
from() {
	served "$1" "$2"
	openssl verify -CAfile "$3" -untrusted "$2-chain.pem" "$2-leaf.pem" >/dev/null 2>&1 ||
	    fail "$1: the served certificate does not chain to $(basename "$3")"
	! openssl verify -CAfile "$4" -untrusted "$2-chain.pem" "$2-leaf.pem" >/dev/null 2>&1 ||
	    fail "$1: the served certificate chains to $(basename "$4")"
}
slug=$(echo "${PX_URL#*://}" | sed 's/[^A-Za-z0-9.-]/_/g')
state() { cat "$T/state/$slug/certs/$1/ecdsa.json"; }
field() { state "$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2') or '')"; }

for n in rl-short rl-wait rl-hold; do
	wait_log "acme $n.test: new certificate in service" 90
done

# rl-short.test: both short limits waited out at the first CA.
[ "$(orders rl-short.test)" = 3 ] || fail "rl-short.test: $(orders rl-short.test) newOrders at the first CA, not 3"
[ "$(order_field rl-short.test 1 rewritten)$(order_field rl-short.test 2 rewritten)$(order_field rl-short.test 3 rewritten)" = 110 ] ||
    fail "rl-short.test: the proxy did not answer the first two and pass the third"
grep "^neworder .* names=rl-short.test " "$T/proxy.log" | sed 's/.* t=\([0-9.]*\) .*/\1/' |
    awk 'NR > 1 && $1 - p < 2 { bad = 1 } { p = $1 } END { exit bad }' ||
    fail "rl-short.test: an order came before the Retry-After (3 s) had passed"
grep -q "acme rl-short.test: falling back" "$T/tlsgate.log" && fail "rl-short.test fell back"
grep -q "acme rl-short.test: issuer 1 ($PX_URL): 2 failed attempt(s) in a row; staying" "$T/tlsgate.log" ||
    fail "rl-short.test: the second short limit is not logged as waited out"
from rl-short.test "$T/short" "$T/root1.pem" "$T/root2.pem"
ok "a short Retry-After (3 s) twice: waited out at the first CA, 3 newOrders there, certificate from it"

# rl-wait.test and rl-hold.test: to the second CA after one newOrder at the first.
for n in rl-wait rl-hold; do
	[ "$(orders $n.test)" = 1 ] || fail "$n.test: $(orders $n.test) newOrders at the first CA, not 1"
	from $n.test "$T/$n-1" "$T/root2.pem" "$T/root1.pem"
	grep -q "acme $n.test: the certificate came from issuer 2 ($PEBBLE2_DIR_URL) because issuer 1 ($PX_URL) rate-limited us" "$T/tlsgate.log" ||
	    fail "$n.test: the way back to the first CA is not logged"
	[ "$(field $n.test issuer)" = "$PEBBLE2_DIR_URL" ] || fail "$n.test: state: issuer"
	[ "$(field $n.test rate_limit_issuer)" = "$PX_URL" ] || fail "$n.test: state: rate_limit_issuer"
done
grep -q "acme rl-wait.test: falling back from issuer 1 ($PX_URL) to issuer 2 ($PEBBLE2_DIR_URL): it rate-limited us for 12s, beyond acme.fallback_retry_after (5s)" "$T/tlsgate.log" ||
    fail "rl-wait.test: the fallback is not logged with its reason"
ok "a long Retry-After (12 s, 2 h): one newOrder at the first CA, certificates from the second; the state remembers the limit"

# Shown: tlsgate certs and /status name the CA and the end of its limit.
"$TLSGATE" certs --config "$T/tlsgate.json" >"$T/certs.out"
for n in rl-wait rl-hold; do
	until_txt=$(date -u -d "@$(field $n.test rate_limit_until)" '+%Y-%m-%d %H:%M UTC')
	grep -qF "($PX_URL rate-limited us until $until_txt)" <(grep "^$n.test " "$T/certs.out") ||
	    { cat "$T/certs.out"; fail "tlsgate certs: $n.test's rate limit not shown"; }
done
grep "^rl-short.test " "$T/certs.out" | grep -q "rate-limited" &&
    { cat "$T/certs.out"; fail "tlsgate certs: a rate limit shown for rl-short.test"; }
curl -sS "http://127.0.0.1:$ADMIN/status" >"$T/status.json"
python3 - "$T/status.json" "$PX_URL" "$(field rl-hold.test rate_limit_until)" <<'PY' ||
import json, sys
st, url, until = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
rl = {s["names"][0]: c.get("acme_rate_limit") for s in st["sites"] for c in s["certificates"]}
sys.exit(0 if rl["rl-hold.test"] == {"issuer": url, "until": until} and
         rl["rl-short.test"] is None else 1)
PY
    { cat "$T/status.json"; fail "/status: acme_rate_limit wrong"; }
ok "tlsgate certs and /status show the remembered rate limit (its CA and its end)"

# The proxy lets every order through from now on.
: >"$T/rules.new"; mv "$T/rules.new" "$T/rules"

# rl-hold.test: forced renewal while the first CA's 2 hours run: the second.
hold_until=$(field rl-hold.test rate_limit_until)
[ "$hold_until" -gt $(( $(date +%s) + 7000 )) ] || fail "rl-hold.test: rate_limit_until $hold_until"
"$TLSGATE" renew rl-hold.test --config "$T/tlsgate.json" >/dev/null || fail "tlsgate renew"
wait_log "acme rl-hold.test: issuer 1 ($PX_URL) asked us to wait until .*: this round starts at the certificate's own CA, issuer 2" 30
wait_log "acme rl-hold.test: renewing ecdsa certificate .* from $PEBBLE2_DIR_URL" 30
wait_logn "acme rl-hold.test: new certificate in service" 2 60
grep -q "acme rl-hold.test: new order replaces " "$T/tlsgate.log" ||
    fail "rl-hold.test: the renewal at its own CA did not send \"replaces\""
[ "$(orders rl-hold.test)" = 1 ] || fail "rl-hold.test: the first CA was asked during its rate limit"
from rl-hold.test "$T/rl-hold-2" "$T/root2.pem" "$T/root1.pem"
ok "during the first CA's limit a forced renewal asks the second CA (with replaces), not the first"

# rl-wait.test: once its 12 s have passed, a forced renewal goes to the first.
wait_until=$(field rl-wait.test rate_limit_until)
[ -n "$wait_until" ] || fail "rl-wait.test: no rate_limit_until"
deadline=$((SECONDS + 30))
until [ "$(date +%s)" -gt "$wait_until" ]; do
	[ $SECONDS -lt "$deadline" ] || fail "rl-wait.test: rate_limit_until $wait_until never came"
	sleep 0.2
done
"$TLSGATE" renew rl-wait.test --config "$T/tlsgate.json" >/dev/null || fail "tlsgate renew"
wait_log "acme rl-wait.test: issuer 1 ($PX_URL) asked us to wait until .*, which has passed; .* this round asks issuer 1 first again" 30
wait_log "acme rl-wait.test: renewing ecdsa certificate .* from $PX_URL" 30
wait_logn "acme rl-wait.test: new certificate in service" 2 60
[ "$(orders rl-wait.test)" = 2 ] || fail "rl-wait.test: $(orders rl-wait.test) newOrders at the first CA, not 2"
[ "$(order_field rl-wait.test 2 rewritten)" = 0 ] || fail "rl-wait.test: the renewal's order was not passed through"
[ "$(order_field rl-wait.test 2 replaces)" = 0 ] ||
    fail "rl-wait.test: \"replaces\" (the second CA's certID) was sent to the first CA"
from rl-wait.test "$T/rl-wait-2" "$T/root1.pem" "$T/root2.pem"
[ "$(field rl-wait.test issuer)" = "$PX_URL" ] || fail "rl-wait.test: state: issuer"
[ -z "$(field rl-wait.test rate_limit_issuer)" ] || fail "rl-wait.test: state still remembers the limit"
"$TLSGATE" certs --config "$T/tlsgate.json" | grep "^rl-wait.test " | grep -q "rate-limited" &&
    fail "tlsgate certs: rl-wait.test's ended limit still shown"
[ "$(grep -c "acme rl-wait.test: falling back" "$T/tlsgate.log")" = 1 ] ||
    fail "rl-wait.test: the renewal fell back"
ok "after the first CA's limit passed, the renewal went back to it (no replaces) and got its certificate"

# A restart: rl-hold.test's limit is in the renewal state; still the second.
kill "$TG_PID"; wait "$TG_PID" || true
mv "$T/tlsgate.log" "$T/tlsgate-1.log"
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme: directory $PX_URL loaded" 30
wait_log "acme: directory $PEBBLE2_DIR_URL loaded" 30
"$TLSGATE" renew rl-hold.test --config "$T/tlsgate.json" >/dev/null || fail "tlsgate renew"
wait_log "acme rl-hold.test: renewing ecdsa certificate .* from $PEBBLE2_DIR_URL" 30
wait_log "acme rl-hold.test: new certificate in service" 60
[ "$(orders rl-hold.test)" = 1 ] || fail "rl-hold.test: the first CA was asked after the restart"
[ "$(orders rl-short.test)" = 3 ] && [ "$(orders rl-wait.test)" = 2 ] ||
    fail "another site ordered at the first CA after the restart"
from rl-hold.test "$T/rl-hold-3" "$T/root2.pem" "$T/root1.pem"
[ "$(field rl-hold.test rate_limit_until)" = "$hold_until" ] || fail "rl-hold.test: the limit changed"
ok "after a restart the first CA's limit still holds: renewed at the second, the first not asked"
