#!/bin/bash
# The HTTP-mode tests' backend checked on its own, with curl --http1.1 and
# raw sockets straight to it (no tlsgate): tg_backend --mode httpecho echoes
# method, raw target, version and headers in order with their names as sent;
# bodies (Content-Length and chunked, 100 KB) arrive intact by SHA-256; it
# numbers connections and requests per connection, counts them in /__stats,
# keeps pipelined answers in order, and its special paths (/status, /delay,
# /drop, /close, /bytes, /chunked, /page) and --idle-close do what the tests
# built on them expect.
. "$(dirname "$0")/lib.sh"
need curl jq sha256sum timeout

PE=$(free_port); PS=$(free_port); PI=$(free_port)
start_httpecho E "$PE"
start_httpecho S "$PS"
start_httpecho I "$PI" --idle-close 300
U="http://127.0.0.1:$PE"
c() { curl -sS --http1.1 --max-time 10 "$@"; }

# 1. What was received comes back, headers in order, names as sent.
j=$(c -H "X-Mixed-Case: One" -H "x-dup: 1" -H "X-Dup: 2" "$U/a/b?c=d&e")
jq -e --arg p "127.0.0.1:" '.name == "E" and .method == "GET" and .path == "/a/b?c=d&e"
    and .version == "1.1" and .body_len == 0 and .conn >= 1 and .req_on_conn == 1
    and (.peer | startswith($p))' <<<"$j" >/dev/null || fail "echo fields: $j"
[ "$(jq -c '[.headers[] | .[0]]' <<<"$j")" = '["Host","User-Agent","Accept","X-Mixed-Case","x-dup","X-Dup"]' ] ||
    fail "header names or order: $(jq -c .headers <<<"$j")"
[ "$(jq -r '[.headers[] | select(.[0] | ascii_downcase == "x-dup") | .[1]] | join(",")' <<<"$j")" = 1,2 ] ||
    fail "repeated header values: $j"
j=$(c -0 "$U/old")
[ "$(jq -r .version <<<"$j")" = 1.0 ] || fail "HTTP/1.0 not reported: $j"
ok "method, raw target, version and headers (order, case, repeats) echoed"

# 2. Two requests in one curl run share a connection; req_on_conn counts.
out=$(c "$U/one" "$U/two" | jq -s -c '[.[] | [.path, .conn, .req_on_conn]]')
n1=$(jq '.[0][1]' <<<"$out")
[ "$out" = "[[\"/one\",$n1,1],[\"/two\",$n1,2]]" ] || fail "keep-alive numbering: $out"
ok "keep-alive: one connection, requests numbered 1, 2 ($out)"

# 3. Bodies arrive intact: 100 KB chunked, and with Content-Length.
head -c 102400 /dev/urandom >"$T/up.bin"
want=$(sha256sum "$T/up.bin" | cut -d' ' -f1)
j=$(c -H "Transfer-Encoding: chunked" --data-binary @"$T/up.bin" "$U/up")
jq -e '.headers | map(.[0] | ascii_downcase) | index("transfer-encoding")' <<<"$j" >/dev/null ||
    fail "upload was not chunked: $j"
jq -e --arg h "$want" '.method == "POST" and .body_len == 102400 and .body_sha256 == $h' \
    <<<"$j" >/dev/null || fail "chunked body: $j (want $want)"
j=$(c -X PUT --data-binary @"$T/up.bin" "$U/up")
jq -e --arg h "$want" '.method == "PUT" and .body_len == 102400 and .body_sha256 == $h' \
    <<<"$j" >/dev/null || fail "Content-Length body: $j"
ok "100 KB bodies intact, chunked and with Content-Length (sha256 ${want:0:16})"

# 4. /__stats (on a backend only this step talks to; wait_port's probe was
# its first connection): curl run twice is two more connections.
s0=$(c "http://127.0.0.1:$PS/__stats")
c -o /dev/null "http://127.0.0.1:$PS/first"
s=$(c -o /dev/null "http://127.0.0.1:$PS/second" "http://127.0.0.1:$PS/__stats" -o -)
jq -e --argjson a "$s0" '.conns == $a.conns + 2 and .open == 1 and
    .requests == $a.requests + 3' <<<"$s" >/dev/null || fail "stats: $s0, then $s"
ok "/__stats: $s0, then $s after two curl runs"

# 5. Status codes; HEAD and 204 get no body.
[ "$(c -o /dev/null -w '%{http_code}' "$U/status/503")" = 503 ] || fail "/status/503"
out=$(c -i "$U/status/204")
grep -q "^HTTP/1.1 204" <<<"$out" && ! grep -qi "^content-length" <<<"$out" || fail "204: $out"
out=$(c -I "$U/bytes/100")
grep -qi "^content-length: 100" <<<"$out" || fail "HEAD /bytes/100: $out"
out=$(c -I "$U/anything" -o "$T/head.out" -w '%{size_download}')
[ "$out" = 0 ] || fail "HEAD got a body of $out bytes"
ok "/status/NNN; HEAD and 204 without a body"

# 6. /bytes and /chunked: sizes, and several chunks on the wire.
[ "$(c "$U/bytes/1000000" | wc -c)" = 1000000 ] || fail "/bytes/1000000"
[ "$(c "$U/chunked/100000" | wc -c)" = 100000 ] || fail "/chunked/100000 decoded size"
[ "$(c -H "Connection: close" "$U/bytes/1000000" | wc -c)" = 1000000 ] ||
    fail "/bytes/1000000 with Connection: close cut short"
[ "$(c -0 "$U/chunked/300000" | wc -c)" = 300000 ] || fail "/chunked/300000 to HTTP/1.0"
chunks=$(c --raw "$U/chunked/100000" | grep -c $'^[0-9a-f]*\r$' || true)
[ "$chunks" -ge 5 ] || fail "/chunked/100000 came in $chunks chunk lines"
out=$(c -sI "$U/chunked/10")
grep -qi "^transfer-encoding: chunked" <<<"$out" || fail "no chunked header: $out"
ok "/bytes/1000000, /chunked/100000 ($((chunks - 1)) chunks and the last)"

# 7. /delay answers late, /drop never, /close closes after answering.
rc=0; c -o /dev/null --max-time 0.2 "$U/delay/2000" 2>/dev/null || rc=$?
[ "$rc" = 28 ] || fail "/delay/2000 answered within 0.2 s (curl rc $rc)"
t=$(c -o /dev/null -w '%{time_total}' "$U/delay/300")
awk -v t="$t" 'BEGIN { exit !(t >= 0.3) }' || fail "/delay/300 took only $t s"
rc=0; c "$U/drop" >/dev/null 2>&1 || rc=$?
[ "$rc" = 52 ] || fail "/drop: curl rc $rc, want 52 (empty reply)"
out=$(c -i "$U/close" "$U/after" | tr -d '\r')
grep -qi "^connection: close" <<<"$out" || fail "/close without Connection: close"
[ "$(grep -o '"conn":[0-9]*' <<<"$out" | sort -u | wc -l)" = 2 ] ||
    fail "request after /close reused the connection: $out"
ok "/delay/MS answers late (${t} s for 300 ms), /drop gives nothing, /close closes"

# 8. Pipelining: three requests in one write, answered in order; the delayed
# first one does not let the second overtake it. Bad framing gets 400.
exec 3<>"/dev/tcp/127.0.0.1/$PE"
printf 'GET /delay/100 HTTP/1.1\r\nHost: p\r\n\r\nPOST /p2 HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\n\r\nhelloGET /p3 HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n' >&3
pipe=$(timeout 10 cat <&3 | grep -o '"path":"[^"]*","version":"1.1".*"req_on_conn":[0-9]*' |
    sed 's/"path":"\([^"]*\)".*"req_on_conn":\([0-9]*\)/\1=\2/' | tr '\n' ' ')
exec 3<&-
[ "$pipe" = "/delay/100=1 /p2=2 /p3=3 " ] || fail "pipelined answers: $pipe"
exec 3<>"/dev/tcp/127.0.0.1/$PE"
printf 'POST /s HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' >&3
timeout 10 cat <&3 >"$T/clte.out" || true
exec 3<&-
out=$(head -1 "$T/clte.out" | tr -d '\r')
[ "$out" = "HTTP/1.1 400 Bad Request" ] || fail "Content-Length with chunked: $out"
grep -q "bad request: HPE_UNEXPECTED_CONTENT_LENGTH" "$T/backend-E.log" || fail "400 not logged"
ok "pipelined answers in order ($pipe), CL+TE refused with 400"

# 9. /page is the browser test's page.
out=$(c -i "$U/page" | tr -d '\r')
grep -qi "^content-type: text/html" <<<"$out" && grep -q '<pre id="proto">' <<<"$out" &&
    grep -q "nextHopProtocol" <<<"$out" || fail "/page: $out"
ok "/page is text/html with <pre id=\"proto\"> and the nextHopProtocol script"

# 10. --idle-close: an idle keep-alive connection is closed by the backend; one
# to a backend without it stays open.
exec 3<>"/dev/tcp/127.0.0.1/$PI"
printf 'GET /x HTTP/1.1\r\nHost: i\r\n\r\n' >&3
rc=0; timeout 10 cat <&3 >"$T/idle.out" || rc=$?
exec 3<&-
[ "$rc" = 0 ] && grep -q '"name":"I"' "$T/idle.out" || fail "--idle-close: rc $rc, $(cat "$T/idle.out")"
exec 3<>"/dev/tcp/127.0.0.1/$PE"
printf 'GET /x HTTP/1.1\r\nHost: i\r\n\r\n' >&3
rc=0; timeout 1 cat <&3 >"$T/open.out" || rc=$?
exec 3<&-
[ "$rc" = 124 ] && grep -q '"name":"E"' "$T/open.out" || fail "closed without --idle-close: rc $rc"
s=$(c "http://127.0.0.1:$PI/__stats")
jq -e '.conns == 3 and .open == 1' <<<"$s" >/dev/null || fail "idle stats: $s"
ok "--idle-close 300 closes an idle connection after its answer; without it, it stays open"
