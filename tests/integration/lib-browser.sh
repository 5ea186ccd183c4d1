# lib-browser.sh - a real browser for integration tests: headless Chromium
# (Debian's chromium) that trusts a test CA through its own NSS database, as
# a user's browser trusts an installed root. Certificate errors are never
# ignored: an untrusted certificate gives Chromium's error page, and the
# helpers below fail on it. Source after lib.sh; needs chromium and certutil
# (libnss3-tools). Works as root (--no-sandbox) and without a display.
#
#   browser_dump CA_PEM NAME PORT [PATH]
#       Loads https://NAME:PORT/PATH (default /page) with NAME resolving to
#       127.0.0.1 and nothing else resolving at all, and prints the DOM once
#       the page has loaded and its scripts ran. CA_PEM is added to a fresh
#       NSS database as a trusted SSL CA ("" adds none). Returns 1, with
#       Chromium's reason on stderr, when the page did not load.
#   browser_proto CA_PEM NAME PORT
#       browser_dump of /page (tg_backend --mode httpecho serves it), then
#       prints the text of its <pre id="proto">: the nextHopProtocol of the
#       page's own load ("h2", "http/1.1"). Returns 1 when it is missing or
#       the script did not run.
#
# Each call takes a few seconds (Chromium's start) and is bounded by
# BROWSER_TIMEOUT seconds (default 60). Chromium's stderr goes to
# $T/chromium-XXXXXX.log, which lib.sh prints when the test fails.
#
# Both run in a subshell of their own (they are usually called as $(...)),
# which drops lib.sh's EXIT trap there: a failure inside must return 1, not
# run the test's cleanup from the subshell.
need chromium certutil timeout

browser_dump() (
	trap - EXIT
	ca=$1 name=$2 port=$3 path=${4:-/page} rc=0
	home=$(mktemp -d "$T/browser.XXXXXX") || return 1
	log="$T/chromium-${home##*.}.log"
	out="$home/dom.html"
	mkdir -p "$home/.pki/nssdb"
	# Chromium on Linux reads certificates and trust from $HOME/.pki/nssdb.
	certutil -N -d "sql:$home/.pki/nssdb" --empty-password </dev/null || return 1
	if [ -n "$ca" ]; then
		certutil -A -d "sql:$home/.pki/nssdb" -n "tlsgate test CA" -t "C,," \
		    -i "$ca" </dev/null || return 1
	fi
	# --virtual-time-budget lets the page's load handler run before the dump
	# without a wall-clock wait. The resolver rules keep every name but NAME
	# off the network (no update checks, no DNS).
	HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_CACHE_HOME="$home/.cache" \
	    timeout -k 5 "${BROWSER_TIMEOUT:-60}" chromium --headless=new --no-sandbox \
	    --disable-gpu --disable-dev-shm-usage --no-first-run --no-default-browser-check \
	    --disable-background-networking --disable-component-update --disable-sync \
	    --disable-extensions --disable-default-apps --no-proxy-server \
	    --user-data-dir="$home/profile" \
	    --host-resolver-rules="MAP $name 127.0.0.1, MAP * ~NOTFOUND" \
	    --virtual-time-budget=5000 --dump-dom "https://$name:$port$path" \
	    >"$out" 2>"$log" </dev/null || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "browser: chromium exited with $rc (124: timed out); see $log" >&2
		return 1
	fi
	# A page that failed to load (certificate, connection, protocol) leaves
	# Chromium's reason in its log and an empty dump or an error page.
	if grep -q "Page load failed" "$log" || ! grep -q "<html" "$out"; then
		echo "browser: page did not load: $(grep -m1 -o 'Page load failed.*' "$log")" >&2
		return 1
	fi
	cat "$out"
)

browser_proto() (
	trap - EXIT
	dom=$(browser_dump "$1" "$2" "$3" /page) || return 1
	proto=$(sed -n '/<pre id="proto">/{s:.*<pre id="proto">\([^<]*\)</pre>.*:\1:p;q;}' <<<"$dom")
	if [ -z "$proto" ] || [ "$proto" = pending ]; then
		echo "browser: no protocol in <pre id=\"proto\">: $(head -c 600 <<<"$dom")" >&2
		return 1
	fi
	echo "$proto"
)
