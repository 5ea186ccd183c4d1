#!/bin/bash
# Log fields cannot be forged through the SNI. Clients send server names made
# of the bytes that break logs: space and '=' (to forge "key=value" fields),
# quotes and backslashes, DEL, bytes 0x80-0xff (invalid and valid UTF-8),
# and newline-like bytes (LF, CR, VT, FF, ESC, NEL, U+2028). With the text
# format, each connection must be exactly one line whose fields are exactly
# the documented keys, in order, with only printable ASCII; with the JSON
# format, each line must be valid UTF-8 and valid JSON, with the same fields in
# its message.
. "$(dirname "$0")/lib.sh"
need openssl jq iconv

cert d ec default.test
PB=$(free_port); P=$(free_port)
backend B http "$PB"

write_conf() { # format
	cat >"$T/tlsgate.json" <<-JSON
	{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 2,
	 "log": {"level": "info", "format": "$1"},
	 "sites": [{"mode": "tcp", "names": ["default.test"], "default": true,
	   "backends": ["127.0.0.1:$PB"],
	   "certificates": [{"cert": "d.pem", "key": "d.key"}]}]}
	JSON
}

# Each SNI starts with a unique marker "mN-", so its line can be found. Hex,
# because tg_tlsclient takes raw bytes that way (--sni-hex).
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
snis=(
	"$(hex 'm1-a.test sni=forged.test')"	# space and '=': a forged field
	"$(hex 'm2-x close=done backend=evil')"	# more forged fields
	"$(hex 'm3-q"uo\te')"			# quote and backslash
	"$(hex 'm4-del')7f"			# DEL
	"$(hex 'm5-')c328a0a1fffe80"		# invalid UTF-8
	"$(hex 'm6-caf')c3a9"			# valid UTF-8 ("café")
	"$(hex 'm7-lf')0a$(hex 'forged=1')"	# LF: a forged line
	"$(hex 'm8-cr')0d$(hex 'x')0b0c1b5b33316d"	# CR, VT, FF, ESC[31m
	"$(hex 'm9-')c285e280a8e280a9"		# NEL, U+2028, U+2029
)
n=${#snis[@]}
keys="client sni alpn tls group resumed backend in out ms close"

connect_all() {
	for h in "${snis[@]}"; do
		"$TG_CLIENT" info --connect "127.0.0.1:$P" --sni-hex "$h" >/dev/null ||
		    fail "handshake with SNI hex $h"
	done
	# Every connection's close line is written (the client closed each).
	# Lines without a marker are wait_port's probes (sni=-).
	local deadline=$((SECONDS + 30))
	until [ "$(grep -a -c 'sni=m[0-9]' "$T/tlsgate.log")" -ge "$n" ]; do
		[ $SECONDS -lt "$deadline" ] || fail "fewer than $n close lines"
		sleep 0.1
	done
}

# check_fields MSG: the fields of a close line, keys in order, no extra.
check_fields() {
	local got
	got=$(printf '%s\n' "$1" | tr ' ' '\n' | tail -n +3 | sed -n 's/=.*//p' | tr '\n' ' ')
	[ "$got" = "$keys " ] || fail "fields are \"$got\", not \"$keys \": $1"
}

# ---- text format
write_conf text
start_tlsgate "$P" --config "$T/tlsgate.json"
connect_all
lines=$(grep -a -c 'sni=m[0-9]' "$T/tlsgate.log")
[ "$lines" -eq "$n" ] || fail "$lines close lines for $n connections (text)"
for i in $(seq 1 "$n"); do
	[ "$(grep -c "sni=m$i-" "$T/tlsgate.log")" -eq 1 ] ||
	    fail "connection m$i is not exactly one line"
done
! grep -a 'forged=\|sni=forged' "$T/tlsgate.log" || fail "a forged field in the text log"
! LC_ALL=C grep -a -n 'close=' "$T/tlsgate.log" | LC_ALL=C grep -a '[^ -~]' ||
    fail "non-printable or non-ASCII bytes in a close line"
while IFS= read -r l; do
	check_fields "${l#<*>}"
done < <(grep -a 'close=' "$T/tlsgate.log")
grep -q 'sni=m1-a.test\\x20sni\\x3dforged.test ' "$T/tlsgate.log" ||
    fail "space and '=' not written as \\x20 and \\x3d"
grep -q 'sni=m5-\\xc3(\\xa0\\xa1\\xff\\xfe\\x80 ' "$T/tlsgate.log" ||
    fail "bytes >= 0x80 not written as \\xNN"
ok "text: $n connections, $n lines, only the documented fields, printable ASCII"

# ---- JSON format
kill "$TG_PID"; wait "$TG_PID" 2>/dev/null || true
write_conf json
start_tlsgate "$P" --config "$T/tlsgate.json"
connect_all
iconv -f UTF-8 -t UTF-8 "$T/tlsgate.log" >/dev/null || fail "the JSON log is not valid UTF-8"
while IFS= read -r l; do
	printf '%s\n' "$l" | jq -e 'type == "object" and (.msg | type) == "string"' \
	    >/dev/null || fail "not a JSON object with a msg: $l"
done <"$T/tlsgate.log"
msgs=$(jq -r 'select(.msg | test("sni=m[0-9]")) | .msg' "$T/tlsgate.log")
[ "$(printf '%s\n' "$msgs" | grep -c .)" -eq "$n" ] ||
    fail "not $n close records in the JSON log"
while IFS= read -r m; do
	check_fields "$m"
done <<<"$msgs"
printf '%s\n' "$msgs" | grep -q 'sni=m5-\\xc3(' || fail "JSON: invalid UTF-8 not shown as \\xNN"
ok "json: every line valid UTF-8 JSON, $n close records, only the documented fields"
