#!/bin/bash
# A reload that removes one site and adds another leaves the other sites'
# orders running: keep.test's order is held in flight by its dns-01 hook
# (which waits for the test's go-ahead) while the reload happens; it then
# completes with the one order it had, and Pebble saw no second order for it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pebble.sh"
need openssl curl

start_pebble
PB=$(free_port)
backend APP http "$PB"
cat >"$T/hook" <<HOOK
#!/bin/sh
# dns_hook: "set" waits (at most 60 s) for the test to create \$T/go.
echo "\$@" >>"$T/hook.calls"
case "\$1" in
set) i=0; while [ ! -e "$T/go" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
     curl -sS -X POST -d "{\"host\":\"\$2.\",\"value\":\"\$3\"}" http://127.0.0.1:$CHALL_MGMT/set-txt ;;
clear) curl -sS -X POST -d "{\"host\":\"\$2.\"}" http://127.0.0.1:$CHALL_MGMT/clear-txt ;;
esac
HOOK
chmod +x "$T/hook"
conf() { # SITES...
	local sites="" n
	for n in "$@"; do
		case $n in
		keep.test) sites="$sites${sites:+,}{\"mode\": \"tcp\", \"names\": [\"keep.test\"], \"backends\": [\"127.0.0.1:$PB\"], \"acme\": {\"challenges\": [\"dns-01\"]}}" ;;
		*) sites="$sites${sites:+,}{\"mode\": \"tcp\", \"names\": [\"$n\"], \"backends\": [\"127.0.0.1:$PB\"], \"acme\": true}" ;;
		esac
	done
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$ACME_TLS_PORT"]},
 "acme": {"directory": "$PEBBLE_DIR_URL", "ca_bundle": "$PEBBLE_CA",
          "state_dir": "$T/state", "dns_hook": "$T/hook", "retry_base": 1},
 "sites": [$sites]}
JSON
}
conf keep.test gone.test
start_tlsgate "$ACME_TLS_PORT" --config "$T/tlsgate.json"
wait_log "acme keep.test: answering dns-01 for keep.test" 30
# gone.test may be anywhere in its order: the reload ends it.
conf keep.test new.test
kill -HUP "$TG_PID"
wait_log "acme: reload: 1 job(s) kept, 1 started, 1 ended" 10
touch "$T/go"
wait_log "acme keep.test: new certificate in service" 60
wait_log "acme new.test: new certificate in service" 60
[ "$(grep -c "acme keep.test: ordering" "$T/tlsgate.log")" = 1 ] ||
    fail "keep.test was ordered more than once"
[ "$(grep -c "^set _acme-challenge.keep.test " "$T/hook.calls")" = 1 ] ||
    fail "keep.test's challenge was set more than once"
# Pebble's side: every newOrder it received is one that tlsgate logged (keep.test
# once, new.test once, gone.test at most once before the reload).
pn=$(grep -c "POST /order-plz" "$T/pebble.log") || true
tn=$(grep -c "acme [a-z]*.test: ordering" "$T/tlsgate.log") || true
[ "$pn" = "$tn" ] && [ "$pn" -le 3 ] || fail "Pebble saw $pn newOrder requests, tlsgate logged $tn"
grep -q "acme gone.test: new certificate in service" "$T/tlsgate.log" &&
    grep -q "acme gone.test: .*order abandoned" "$T/tlsgate.log" &&
    fail "gone.test was both abandoned and installed"
root() { pebble_root "$T/root.pem"; }
root
get() { curl -sS --max-time 5 --cacert "$T/root.pem" --resolve "$1:$ACME_TLS_PORT:127.0.0.1" "https://$1:$ACME_TLS_PORT/"; }
[ "$(get keep.test)" = APP ] || fail "keep.test not served"
[ "$(get new.test)" = APP ] || fail "new.test not served"
ok "reload removed gone.test and added new.test; keep.test's in-flight order completed with its one order"
