# lib.sh - helpers for integration tests. Each test sources this, gets a
# private temp directory, and everything it starts is killed on exit. On
# failure the logs of every process are printed. TG_KEEP=DIR copies the
# temp directory (logs, state) to DIR before it is removed.
set -euo pipefail

: "${TLSGATE:?}" "${TG_BACKEND:?}" "${TG_CLIENT:?}"
T=$(mktemp -d /tmp/tlsgate-it.XXXXXX)
PIDS=()
FAILED=1

finish() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	# A sanitizer report from any process (a leak shows only at its exit)
	# fails the test.
	if [ "$rc" -eq 0 ] && grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
	    "$T"/*.log >/dev/null 2>&1; then
		echo "FAIL: sanitizer report in $(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.log | tr '\n' ' ')"
		rc=1
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		echo "---- FAILED (rc=$rc); logs from $T:"
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "== $f"; tail -n 60 "$f"
		done
	fi
	[ -z "${TG_KEEP:-}" ] || cp -r "$T" "$TG_KEEP"
	rm -rf "$T"
	exit "$rc"
}
trap finish EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# need CMD...: skip (77) outside CI when a tool is missing; fail under CI.
need() {
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			if [ "${CI:-}" = true ]; then fail "missing tool under CI: $c"; fi
			echo "skip: $c not installed"; exit 77
		fi
	done
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on, below the
# kernel's ephemeral range (32768+) so client sockets never take it first.
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((10000 + RANDOM % 22000))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
	done
	fail "no free port"
}

# wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT.
wait_port() {
	local deadline=$((SECONDS + ${2:-20}))
	while ! (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; do
		[ $SECONDS -lt "$deadline" ] || fail "nothing listens on port $1"
		sleep 0.05
	done
}

# cert NAME TYPE DNSNAMES...: self-signed cert and key in $T/NAME.{pem,key}.
cert() {
	local name=$1 type=$2; shift 2
	local san="" n
	for n in "$@"; do san="${san:+$san,}DNS:$n"; done
	if [ "$type" = rsa ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/$name.key" \
		    -out "$T/$name.pem" -days 30 -subj "/CN=$1" -addext "subjectAltName=$san" 2>/dev/null
	else
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout "$T/$name.key" -out "$T/$name.pem" -days 30 -subj "/CN=$1" \
		    -addext "subjectAltName=$san" 2>/dev/null
	fi
	chmod 600 "$T/$name.key"
}

# fingerprint FILE: SHA-256 of a PEM certificate, lowercase hex, first 8 bytes
# (the form tg_tlsclient prints).
fingerprint() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' |
	    tr 'A-F' 'a-f' | cut -c1-16
}

# backend NAME MODE PORT: start a test backend and wait for it.
backend() {
	"$TG_BACKEND" --listen "127.0.0.1:$3" --mode "$2" --name "$1" >"$T/backend-$1.log" 2>&1 &
	PIDS+=($!)
	wait_port "$3"
}

# start_httpecho NAME PORT [ARGS...]: tg_backend --mode httpecho (an HTTP/1.1
# server answering with what it received, as JSON; see tests/support/httpecho.c)
# with extra ARGS such as --idle-close MS; log in $T/backend-NAME.log.
start_httpecho() {
	local name=$1 port=$2; shift 2
	"$TG_BACKEND" --listen "127.0.0.1:$port" --mode httpecho --name "$name" "$@" \
	    >"$T/backend-$name.log" 2>&1 &
	PIDS+=($!)
	wait_port "$port"
}

# start_tlsgate PORT ARGS...: run tlsgate with ARGS, wait for PORT. Sets TG_PID.
start_tlsgate() {
	local port=$1; shift
	# Tests run as root: flag runs say so explicitly (configs carry allow_root).
	[ "$1" = --config ] || set -- "$@" --allow-root
	"$TLSGATE" run "$@" >"$T/tlsgate.log" 2>&1 &
	TG_PID=$!
	PIDS+=($TG_PID)
	wait_port "$port"
}

# s_client [ADDR:]PORT ARGS...: one openssl handshake; output to stdout.
s_client() {
	local port=$1; shift
	[[ $port == *:* ]] || port=127.0.0.1:$port
	openssl s_client -connect "$port" "$@" </dev/null 2>&1 || true
}

# rss_kib PID
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# wait_log PATTERN [SECONDS]: until tlsgate's log has a line matching PATTERN.
wait_log() {
	local deadline=$((SECONDS + ${2:-60}))
	until grep -q -- "$1" "$T/tlsgate.log"; do
		[ $SECONDS -lt "$deadline" ] || fail "no log line matching: $1"
		sleep 0.2
	done
}

# log_count PATTERN [LOG]: how many lines of LOG (tlsgate's log) match PATTERN.
log_count() { grep -c -- "$1" "${2:-$T/tlsgate.log}" || true; }

# wait_logn PATTERN N [SECONDS [LOG]]: until LOG (tlsgate's log) has N lines
# matching PATTERN, 60 s at most.
wait_logn() {
	local deadline=$((SECONDS + ${3:-60}))
	until [ "$(log_count "$1" "${4:-}")" -ge "$2" ]; do
		[ $SECONDS -lt "$deadline" ] || fail "fewer than $2 lines matching in ${4:-$T/tlsgate.log}: $1"
		sleep 0.1
	done
}

# tls13_session [ADDR:]PORT FILE ARGS...: a TLS 1.3 handshake held open until its
# session ticket has come (s_client writes FILE when it does), at most 20 s,
# rather than for a fixed time that a slow build (TSan) can outlast.
tls13_session() {
	local port=$1 file=$2 pid deadline
	shift 2
	[[ $port == *:* ]] || port=127.0.0.1:$port
	rm -f "$file"
	openssl s_client -connect "$port" -tls1_3 -ign_eof -sess_out "$file" \
	    "$@" </dev/null >/dev/null 2>&1 &
	pid=$!
	deadline=$((SECONDS + 20))
	until grep -q "END SSL SESSION PARAMETERS" "$file" 2>/dev/null ||
	    [ $SECONDS -ge "$deadline" ]; do
		sleep 0.05
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# established_to PORT: how many established TCP connections to 127.0.0.1:PORT
# there are now (from /proc/net/tcp: both ends of loopback connections are
# listed, so only the side whose remote port is PORT is counted).
established_to() {
	local hex; hex=$(printf '%04X' "$1")
	awk -v p=":$hex" '$3 ~ p"$" && $4 == "01" {n++} END {print n + 0}' /proc/net/tcp
}

# wait_established PORT N [SECONDS]: until N connections to PORT are established.
wait_established() {
	local deadline=$((SECONDS + ${3:-20}))
	until [ "$(established_to "$1")" -ge "$2" ]; do
		[ $SECONDS -lt "$deadline" ] || fail "fewer than $2 connections to port $1"
		sleep 0.05
	done
}
