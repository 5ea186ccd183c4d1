#!/bin/bash
# Sticky sessions: the first response sets an opaque cookie; 100 requests
# with it (HTTP/1.1 and HTTP/2, each a new connection) all reach that one
# backend although the pool is round robin; killed, the next request is
# served by another backend with a new cookie, which then sticks. A tampered
# or forged cookie is ignored (balanced as usual, and replaced). The key is
# kept in the state folder, so a cookie outlives a restart. A route has
# its own sticky cookie, scoped to its path.
. "$(dirname "$0")/lib.sh"
need curl

cert s ec st.test
PA=$(free_port); PB=$(free_port); PC=$(free_port); PR=$(free_port); PQ=$(free_port)
P=$(free_port)
backend A http "$PA"; backend B http "$PB"; backend C http "$PC"
backend R1 http "$PR"; backend R2 http "$PQ"
mkdir -m 700 "$T/state"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "acme": {"state_dir": "$T/state"},
 "sites": [{"names": ["st.test"],
   "backends": ["127.0.0.1:$PA", "127.0.0.1:$PB", "127.0.0.1:$PC"],
   "sticky": {"cookie": "tg_srv", "ttl": 3600},
   "certificates": [{"cert": "s.pem", "key": "s.key"}],
   "routes": [{"path": "/r/", "backends": ["127.0.0.1:$PR", "127.0.0.1:$PQ"],
               "sticky": {"cookie": "tg_srv"}}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"
[ "$(stat -c %a "$T/state/sticky.key")" = 600 ] || fail "sticky.key is not mode 600"

# get JAR VERSION [PATH]: one request on a new connection with the jar's
# cookies; the jar takes what is set. Prints the backend; the response head
# goes to $T/head.
get() {
	curl -sS --max-time 10 "$2" --cacert "$T/s.pem" --resolve "st.test:$P:127.0.0.1" \
	    -b "$1" -c "$1" -D "$T/head" "https://st.test:$P${3:-/}" | head -n 1
}
value() { awk -v n="${2:-tg_srv}" '$6 == n {print $7}' "$1" | head -n 1; }

: >"$T/jar"
first=$(get "$T/jar" --http1.1)
grep -qi "^set-cookie: tg_srv=[A-Za-z0-9_-]*; Path=/; Max-Age=3600; Secure; HttpOnly" "$T/head" ||
    fail "no sticky cookie: $(cat "$T/head")"
grep -qi "^set-cookie:.*127\.0\.0\.1" "$T/head" && fail "the cookie shows the address"
[ -n "$(value "$T/jar")" ] || fail "the jar has no cookie"
for i in $(seq 1 50); do get "$T/jar" --http1.1; get "$T/jar" --http2; done >"$T/sticky"
n=$(grep -c "^$first$" "$T/sticky" || true)
[ "$n" = 100 ] || fail "only $n of 100 requests with the cookie reached $first: $(sort "$T/sticky" | uniq -c | tr '\n' ' ')"
grep -qi "^set-cookie:" "$T/head" && fail "a valid cookie was replaced"
ok "100 requests with the cookie (HTTP/1.1 and HTTP/2) all reached $first"

# Without a cookie the pool is round robin: more than one backend.
for i in 1 2 3 4 5 6; do get /dev/null --http2; done | sort -u >"$T/plain"
[ "$(wc -l <"$T/plain")" -ge 2 ] || fail "without cookies only $(cat "$T/plain")"

# Tampered: one character of the value changed; forged: an arbitrary value.
v=$(value "$T/jar")
c=${v:5:1}; [ "$c" = A ] && r=B || r=A
bad="${v:0:5}$r${v:6}"
for cookie in "tg_srv=$bad" "tg_srv=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "tg_srv=$v$v"; do
	for i in 1 2 3 4 5 6; do
		curl -sS --max-time 10 --http1.1 --cacert "$T/s.pem" --resolve "st.test:$P:127.0.0.1" \
		    -H "Cookie: $cookie" -D "$T/head" "https://st.test:$P/" | head -n 1
		grep -qi "^set-cookie: tg_srv=" "$T/head" || fail "a bad cookie was not replaced"
	done | sort -u >"$T/bad"
	[ "$(wc -l <"$T/bad")" -ge 2 ] || fail "a bad cookie ($cookie) was obeyed: all to $(cat "$T/bad")"
done
ok "tampered and forged cookies are ignored (balanced, and replaced)"

# The key is kept: after a restart the same cookie still sticks.
kill "$TG_PID"; wait "$TG_PID" || true
mv "$T/tlsgate.log" "$T/tlsgate-1.log"
start_tlsgate "$P" --config "$T/tlsgate.json"
for i in 1 2 3 4 5 6; do get "$T/jar" --http2; done | sort -u >"$T/after"
[ "$(cat "$T/after")" = "$first" ] || fail "after a restart the cookie led to $(cat "$T/after")"
ok "after a restart (key from the state folder) the cookie still leads to $first"

# Kill the sticky backend: the next request succeeds elsewhere, with a new
# cookie, which then sticks.
case $first in A) idx=0 ;; B) idx=1 ;; C) idx=2 ;; *) fail "unknown backend $first" ;; esac
kill "${PIDS[$idx]}"
second=$(get "$T/jar" --http1.1)
[ -n "$second" ] && [ "$second" != "$first" ] || fail "after $first died got \"$second\""
grep -qi "^set-cookie: tg_srv=" "$T/head" || fail "no new cookie after $first died"
[ "$(value "$T/jar")" != "$v" ] || fail "the jar still has the old cookie"
for i in $(seq 1 10); do get "$T/jar" --http2; done | sort -u >"$T/new"
[ "$(cat "$T/new")" = "$second" ] || fail "the new cookie did not stick: $(cat "$T/new")"
ok "$first killed: the next request went to $second with a new cookie, which sticks"

# A route's cookie: Path=/r/, its own pool; the site's cookie is not obeyed there.
: >"$T/rjar"
rfirst=$(get "$T/rjar" --http2 /r/x)
case $rfirst in R1|R2) ;; *) fail "route answered by \"$rfirst\"" ;; esac
grep -qi "^set-cookie: tg_srv=[A-Za-z0-9_-]*; Path=/r/; Secure; HttpOnly" "$T/head" ||
    fail "no route cookie: $(cat "$T/head")"
for i in $(seq 1 10); do get "$T/rjar" --http1.1 /r/y; done | sort -u >"$T/r"
[ "$(cat "$T/r")" = "$rfirst" ] || fail "the route cookie did not stick: $(cat "$T/r")"
# The site's cookie means nothing to the route's pool: balanced there.
for i in 1 2 3 4; do
	curl -sS --max-time 10 --http2 --cacert "$T/s.pem" --resolve "st.test:$P:127.0.0.1" \
	    -b "$T/jar" "https://st.test:$P/r/z" | head -n 1
done | sort -u >"$T/rsite"
[ "$(wc -l <"$T/rsite")" = 2 ] || fail "the site's cookie pinned the route: $(cat "$T/rsite")"
ok "a route has its own cookie (Path=/r/) that sticks to $rfirst; the site's is not obeyed there"
