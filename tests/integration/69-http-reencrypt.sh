#!/bin/bash
# HTTP mode with backend_tls: requests reach the backend re-encrypted, its
# certificate verified against the configured CA and name, over reused
# connections; a backend whose certificate names someone else gets 502
# (failing closed). Health checks mark a dead backend down: 503 without a
# connect attempt, and the access log is JSON with log.format json.
. "$(dirname "$0")/lib.sh"
need curl jq openssl

cert s ec h.test bad.test hc.test
cert be ec backend.internal
PE=$(free_port); PB=$(free_port); P=$(free_port); PDEAD=$(free_port)
backend E httpecho "$PE"
# The TLS backend: a second tlsgate relaying TLS for backend.internal.
cat >"$T/back.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$PB"]}, "log": {"level": "warning"},
 "sites": [{"names": ["backend.internal"], "backends": ["127.0.0.1:$PE"], "mode": "tcp",
            "certificates": [{"cert": "be.pem", "key": "be.key"}]}]}
JSON
"$TLSGATE" run --config "$T/back.json" >"$T/back.log" 2>&1 &
PIDS+=($!)
wait_port "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "log": {"format": "json"},
 "sites": [
  {"names": ["h.test"], "backends": ["127.0.0.1:$PB"],
   "backend_tls": {"ca": "be.pem", "server_name": "backend.internal"},
   "certificates": [{"cert": "s.pem", "key": "s.key"}]},
  {"names": ["bad.test"], "backends": ["127.0.0.1:$PB"],
   "backend_tls": {"ca": "be.pem", "server_name": "other.internal"},
   "certificates": [{"cert": "s.pem", "key": "s.key"}]},
  {"names": ["hc.test"], "backends": ["127.0.0.1:$PDEAD"],
   "health": {"type": "tcp", "interval": 0.2, "timeout": 0.2, "fall": 1},
   "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
req() {
	local host=$1; shift
	curl -sS --cacert "$T/s.pem" --resolve "$host:$P:127.0.0.1" "$@" "https://$host:$P/"
}
stats() { curl -sS "http://127.0.0.1:$PE/__stats" | jq -r .conns; }

before=$(stats)
for v in --http1.1 --http2 --http1.1 --http2 --http1.1; do
	out=$(req h.test "$v")
	[ "$(jq -r .name <<<"$out")" = E ] || fail "$v: no answer through TLS: $out"
	xff=$(jq -r '[.headers[] | select(.[0] == "x-forwarded-for") | .[1]] | join(",")' <<<"$out")
	[ "$xff" = 127.0.0.1 ] || fail "$v: X-Forwarded-For through TLS: $out"
done
used=$(( $(stats) - before - 1 ))
[ "$used" -le 2 ] || fail "5 re-encrypted requests used $used backend connections"
ok "5 requests re-encrypted to a verified backend over $used connection(s)"

code=$(req bad.test --http2 -o /dev/null -w '%{http_code}')
[ "$code" = 502 ] || fail "a backend certificate for another name got $code"
wait_log 'certificate verify failed'
ok "a backend whose certificate names someone else: 502, verify failure logged"

# Health checks: the dead backend is marked down, then requests get 503.
wait_log 'of hc.test is DOWN'
code=$(req hc.test --http1.1 -o /dev/null -w '%{http_code}')
[ "$code" = 503 ] || fail "a site whose only backend is down got $code"
ok "a backend marked down by health checks: 503"

# JSON access-log lines: one object per request with the documented members.
line=$(grep '"msg":"http"' "$T/tlsgate.log" | grep '"status":503' | tail -n 1)
[ -n "$line" ] || fail "no JSON access-log line for the 503"
for k in level conn client method host path proto status bytes_in bytes_out backend \
    ttfb_ms duration_ms request_id error; do
	jq -e --arg k "$k" 'has($k)' <<<"$line" >/dev/null || fail "JSON access log lacks $k: $line"
done
[ "$(jq -r .error <<<"$line")" = no-backend ] || fail "JSON error member: $line"
ok "JSON access-log lines carry every documented member"
