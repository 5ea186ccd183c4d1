#!/bin/bash
# Config validation is linear: `tlsgate check` on 100,000 names across sites,
# on 200,000 backends, and on 200,000 backends with 36,000 duplicate names,
# each under a generous hang guard; every duplicated name is reported exactly
# once, at its second appearance, pointing at the first. Then the same code
# on SIGHUP: a reload with the duplicates is refused and the old config
# keeps serving, a reload to 200,000 backends succeeds. Times are printed,
# not asserted (the guard is the only limit).
. "$(dirname "$0")/lib.sh"
need curl openssl awk timeout

cert s ec '*.s.test'
P=$(free_port); PB=$(free_port)
backend S http "$PB"

# gen SITES NAMES_PER_SITE BACKENDS_PER_SITE DISTINCT_NAMES EXTRA_REPEATS:
# name k of the whole file is "nK.s.test" with K = k % DISTINCT_NAMES (so a
# name repeats when DISTINCT_NAMES is smaller than the count); site 0 also
# lists "many.s.test" EXTRA_REPEATS times. The first backend of each site is
# the test backend; the others are loopback ports nothing listens on.
gen() {
	awk -v port="$P" -v pb="$PB" -v sites="$1" -v names="$2" -v backends="$3" \
	    -v distinct="$4" -v extra="$5" 'BEGIN {
		printf "{\"allow_root\": true, \"listen\": {\"https\": [\"127.0.0.1:%d\"]},\n", port
		printf " \"sites\": [\n"
		for (i = 0; i < sites; i++) {
			printf "  {\"mode\": \"tcp\", \"names\": ["
			for (j = 0; j < names; j++)
				printf "%s\"n%d.s.test\"", (j ? "," : ""), (i * names + j) % distinct
			for (j = 0; i == 0 && j < extra; j++)
				printf ",\"many.s.test\""
			printf "],\n   \"backends\": [\"127.0.0.1:%d\"", pb
			for (j = 1; j < backends; j++)
				printf ",\"127.0.%d.%d:%d\"", int(j / 200) % 200, j % 200 + 1, 1024 + (i * 7 + j) % 60000
			printf "],\n   \"certificates\": [{\"cert\": \"s.pem\", \"key\": \"s.key\"}]}%s\n", (i + 1 < sites ? "," : "")
		}
		printf " ]}\n"
	}' >"$T/$6"
}

# check FILE: tlsgate check under the guard; sets RC and prints the time.
check() {
	local t0 t1
	t0=$(date +%s.%N)
	set +e
	timeout 60 "$TLSGATE" check --config "$T/$1" >"$T/$1.out" 2>&1
	RC=$?
	set -e
	t1=$(date +%s.%N)
	[ "$RC" -ne 124 ] || fail "tlsgate check $1 ran past 60 s"
	echo "time: tlsgate check $1: $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s (exit $RC)"
}

# Few sites with many names or backends each: every site loads its
# certificate, which is slow under ASan and not what is measured here.
# 1. 100,000 names over 200 sites, every one distinct: valid.
gen 200 500 1 1000000 0 names.json
check names.json
[ "$RC" -eq 0 ] || { tail -5 "$T/names.json.out"; fail "100,000 names: exit $RC"; }
grep -q "names.json: OK, 200 sites" "$T/names.json.out" || fail "100,000 names: no OK line"
ok "100,000 names across 200 sites checked"

# 2. 200,000 backends over 200 sites: valid.
gen 200 1 1000 1000000 0 backends.json
check backends.json
[ "$RC" -eq 0 ] || { tail -5 "$T/backends.json.out"; fail "200,000 backends: exit $RC"; }
grep -q "backends.json: OK, 200 sites" "$T/backends.json.out" || fail "200,000 backends: no OK line"
ok "200,000 backends checked"

# 3. The same backends, and 48,000 names that are 12,000 names four times
# each (36,000 duplicates), plus one name 1,600 times in one site.
gen 2000 24 100 12000 1599 dups.json
check dups.json
[ "$RC" -eq 1 ] || fail "duplicates: exit $RC, expected 1"
grep "is already named by" "$T/dups.json.out" >"$T/dups.lines" || true
n=$(wc -l <"$T/dups.lines")
[ "$n" -eq 12001 ] || { head -5 "$T/dups.lines"; fail "$n duplicate reports, expected 12001 (one per name)"; }
sed 's/^[^"]*"\([^"]*\)".*/\1/' "$T/dups.lines" | sort | uniq -d >"$T/dups.twice"
[ ! -s "$T/dups.twice" ] || fail "reported more than once: $(head -3 "$T/dups.twice")"
# Each report is at the second appearance and points at the first.
grep -q '^.*/dups.json:[0-9]*:[0-9]*: sites\[500\]\.names\[0\]: "n0.s.test" (named 4 times in all) is already named by sites\[0\]\.names\[0\] at .*/dups.json:[0-9]*:[0-9]*$' \
    "$T/dups.lines" || { grep '"n0.s.test"' "$T/dups.lines"; fail "n0.s.test report"; }
grep -q '"many.s.test" (named 1599 times in all) is already named by sites\[0\]\.names\[24\]' \
    "$T/dups.lines" || fail "many.s.test report"
bad=$(grep -v -c -E '^/.*dups\.json:[0-9]+:[0-9]+: sites\[[0-9]+\]\.names\[[0-9]+\]: "[^"]+"( \(named [0-9]+ times in all\))? is already named by sites\[[0-9]+\]\.names\[[0-9]+\] at /.*dups\.json:[0-9]+:[0-9]+$' "$T/dups.lines" || true)
[ "$bad" -eq 0 ] || fail "$bad duplicate reports without both positions"
ok "36,000 duplicates: each of 12,001 names reported once, with both positions"

# 4. SIGHUP runs the same code: start on the 100,000 names, reload with
# the duplicates (refused, old config serves), then to 200,000 backends.
cp "$T/names.json" "$T/tlsgate.json"
"$TLSGATE" run --config "$T/tlsgate.json" >"$T/tlsgate.log" 2>&1 &
TG_PID=$!
PIDS+=($TG_PID)
wait_port "$P" 60
get() { curl -sS --max-time 5 --cacert "$T/s.pem" --resolve "$1:$P:127.0.0.1" "https://$1:$P/"; }
[ "$(get n99999.s.test)" = S ] || fail "not serving n99999.s.test"
t0=$SECONDS
cp "$T/dups.json" "$T/tlsgate.json"
kill -HUP "$TG_PID"
wait_log "reload failed: keeping the running configuration" 60
echo "time: reload with duplicates refused within $((SECONDS - t0)) s"
n=$(grep -c "reload failed: .*is already named by" "$T/tlsgate.log" || true)
[ "$n" -eq 12001 ] || fail "reload logged $n duplicate reports, expected 12001"
[ "$(get n99999.s.test)" = S ] || fail "stopped serving after the refused reload"
t0=$SECONDS
cp "$T/backends.json" "$T/tlsgate.json"
kill -HUP "$TG_PID"
wait_log "reload: done, 200 sites" 60
echo "time: reload to 200,000 backends within $((SECONDS - t0)) s"
[ "$(get n199.s.test)" = S ] || fail "not serving n199.s.test after the reload"
ok "SIGHUP: duplicates refused, 200,000 backends loaded"
