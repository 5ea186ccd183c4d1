#!/bin/bash
# HTTP/2 against hostile clients, over real TLS against the daemon
# (terminator/http/h2.c and h2_recv.c; test_h2.c checks the same limits in
# memory). tg_h2flood sends each attack on one connection:
#   - rapid reset (CVE-2023-44487), 1,000 HEADERS each followed by its
#     RST_STREAM: GOAWAY(ENHANCE_YOUR_CALM) once the resets pass the
#     per-window limit (2 x max_concurrent_streams), logged "rapid reset";
#   - a CONTINUATION flood, a header block that never ends: closed once
#     nghttp2's max_continuations (8 + max_header_size / 16384) is passed;
#   - PING and SETTINGS floods from a client that does not read: closed
#     once more than 100 acknowledgements wait (nghttp2 reports flooding).
# Meanwhile a legitimate client on the same (single) worker gets 200 over h2
# for every request, and tlsgate still serves after all of them.
. "$(dirname "$0")/lib.sh"
need curl openssl timeout
: "${TG_H2FLOOD:?}"

cert s ec h2h.test
PB=$(free_port); P=$(free_port)
start_httpecho E "$PB"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 1,
 "sites": [{"names": ["h2h.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
URL="https://h2h.test:$P"
FLOOD=(timeout 30 "$TG_H2FLOOD" --connect "127.0.0.1:$P" --sni h2h.test --timeout 10)

# legit NAME: curl --http2 requests, one per line "VERSION CODE" into
# $T/legit-NAME, until $T/stop-NAME exists (one more request after that),
# at most 300 requests.
legit() {
	local i out
	for ((i = 0; i < 300; i++)); do
		out=$(curl -sS --max-time 10 --http2 --cacert "$T/s.pem" \
		    --resolve "h2h.test:$P:127.0.0.1" -o /dev/null \
		    -w '%{http_version} %{http_code}' "$URL/legit/$1/$i" 2>&1) || true
		echo "$out" >>"$T/legit-$1"
		[ ! -e "$T/stop-$1" ] || break
	done
}

# lines FILE: its line count (0 when it does not exist yet).
lines() { if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# attack NAME EXPECT LOGLINE MAXSENT FLOOD-ARGS...: run tg_h2flood with the
# args while legit runs; its report must match the regex EXPECT, and
# tlsgate's log gain a line matching LOGLINE. With a MAXSENT other than -,
# fewer units than that went out: the server cut the flood short (the
# floods are far larger than what the socket buffers hold).
attack() {
	local name=$1 expect=$2 logline=$3 maxsent=$4 before out lp n i sent
	shift 4
	before=$(grep -c -E "$logline" "$T/tlsgate.log" || true)
	legit "$name" &
	lp=$!
	PIDS+=("$lp")
	# The legitimate client is served before the attack starts.
	for ((i = 0; i < 200 && $(lines "$T/legit-$name") < 1; i++)); do sleep 0.05; done
	[ "$(lines "$T/legit-$name")" -ge 1 ] || fail "$name: no legitimate request done"
	out=$("${FLOOD[@]}" "$@") || fail "$name: no reaction from the server: ${out:-tg_h2flood failed}"
	echo "$name: $out"
	touch "$T/stop-$name"
	wait "$lp"
	[[ $out =~ $expect ]] || fail "$name: expected /$expect/, got: $out"
	sent=${out##*sent=}
	[ "$maxsent" = - ] || [ "$sent" -lt "$maxsent" ] ||
	    fail "$name: the whole flood went out ($sent), not cut short"
	# The reaction is logged (wait_log-style, bounded).
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c -E "$logline" "$T/tlsgate.log" || true)" -gt "$before" ] && break
		sleep 0.05
	done
	[ "$(grep -c -E "$logline" "$T/tlsgate.log" || true)" -gt "$before" ] ||
	    fail "$name: no log line /$logline/"
	n=$(lines "$T/legit-$name")
	[ "$n" -ge 2 ] || fail "$name: only $n legitimate requests"
	if grep -v -x '2 200' "$T/legit-$name" >/dev/null; then
		fail "$name: legitimate client not served: $(grep -v -x '2 200' "$T/legit-$name" | sort | uniq -c)"
	fi
	kill -0 "$TG_PID" || fail "$name: tlsgate died"
	ok "$name: $out; the legitimate client got $n x 200 over h2"
}

# 1,000 resets (about 40 kB): the limit is 200 per 10 s with the default
# max_concurrent_streams of 100.
attack rapid-reset '^goaway=1 error=ENHANCE_YOUR_CALM closed=1 sent=[0-9]+$' \
    'HTTP/2 GOAWAY\(ENHANCE_YOUR_CALM\): rapid reset' - --rapid-reset 1000
# The others end in nghttp2 errors: the connection closes without GOAWAY.
# 20,000 CONTINUATIONs are 20 MB, a million PINGs 17 MB.
attack continuation '^goaway=0 error=- closed=1 sent=[0-9]+$' \
    'HTTP/2 closed: Too many CONTINUATION' 20000 --continuation 20000
attack ping '^goaway=0 error=- closed=1 sent=[0-9]+$' \
    'HTTP/2 closed: Flooding was detected' 1000000 --ping 1000000
attack settings '^goaway=0 error=- closed=1 sent=[0-9]+$' \
    'HTTP/2 closed: Flooding was detected' 1000000 --settings 1000000

grep -E 'HTTP/2 (GOAWAY|closed)' "$T/tlsgate.log" || true

# After all of them: still serving, on h2.
out=$(curl -sS --max-time 10 --http2 --cacert "$T/s.pem" --resolve "h2h.test:$P:127.0.0.1" \
    -o /dev/null -w '%{http_version} %{http_code}' "$URL/after")
[ "$out" = "2 200" ] || fail "after the attacks: $out"
kill -0 "$TG_PID" || fail "tlsgate died"
FAILED=0
ok "65-http2-hostile"
