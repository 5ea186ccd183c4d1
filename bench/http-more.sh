# bench/http-more.sh - sourced by bench/http: its WebSocket and
# HTTP/2-backend scenarios, with the backends and the peers' config they
# need (bench/http's variables and functions are in scope).
#   ws1   WebSocket message rate over HTTP/1.1 upgrades: tg_wsload
#         (bench/wsload.c) with BENCH_WS_CONNS TLS connections (ALPN
#         http/1.1), each upgraded, each keeping BENCH_WS_WINDOW messages of
#         BENCH_WS_SIZE bytes in flight to the echo backend tg_wsecho
#         (bench/wsecho.c) for BENCH_WS_SECONDS or BENCH_WS_MESSAGES in all.
#         tlsgate (site ws.test, HTTP mode), nginx (proxy_http_version 1.1,
#         Upgrade and Connection set), HAProxy (mode http, timeout tunnel);
#         Caddy n/a (not set up here)
#   ws2   the same over HTTP/2, RFC 8441 extended CONNECT (ALPN h2), for the
#         proxies that offer it on their front: tlsgate and HAProxy; nginx
#         1.22 does not (n/a). Both turn it into an HTTP/1.1 upgrade to the
#         same backend.
#   h2be  HTTP/2 to the backend: h2load -c 4 -m 100 (like h2), the proxy
#         speaks HTTP/2 cleartext with prior knowledge to tg_h2be
#         (tests/support/h2be.c, libevent + nghttp2, one thread; its answer:
#         a 33-byte body): tlsgate http.backend_protocol "h2", HAProxy
#         "server ... proto h2", nginx grpc_pass to an upstream with
#         keepalive (nginx proxies HTTP/2 to backends only in its gRPC
#         module; a plain GET works through it, the harness checks every
#         answer is 2xx; nginx's upstreams carry one request per backend
#         connection at a time, so it does not multiplex: with 400 streams
#         in flight and a pool of BENCH_POOL it opens connections as in h2);
#         Caddy n/a.
# The WebSocket figures cover the message phase only: tg_wsload takes the
# CPU of the proxy's processes and the backend's (from /proc) once every
# connection is upgraded and again when the last echo is in, so handshakes
# and upgrades are not in them. Its own CPU is given as a share of one core:
# near BENCH_WS_THREADS cores means the load client was the bottleneck (a
# warning is printed, and the row shows it).
WS_CONNS=${BENCH_WS_CONNS:-64}
WS_SECS=${BENCH_WS_SECONDS:-5}
WS_MSGS=${BENCH_WS_MESSAGES:-5000000}
WS_SIZE=${BENCH_WS_SIZE:-32}
WS_WINDOW=${BENCH_WS_WINDOW:-1}
WS_THREADS=${BENCH_WS_THREADS:-2}
H2BE_N=${BENCH_H2BE_REQUESTS:-100000}
WSLOAD="$B/tests/tg_wsload"; WSECHO="$B/tests/tg_wsecho"; H2BE="$B/tests/tg_h2be"
PWS=19581; PH2BE=19582
# The peers' extra ports (tlsgate tells the scenarios apart by SNI).
declare -A PORT_WS PORT_H2BE
PORT_WS[tlsgate]=${PORT[tlsgate]}; PORT_H2BE[tlsgate]=${PORT[tlsgate]}
PORT_WS[nginx]=19554; PORT_H2BE[nginx]=19564
PORT_WS[haproxy]=19555; PORT_H2BE[haproxy]=19565
WSPID=""; H2BEPID=""

more_wanted() { [[ " $SCEN " == *" $1 "* ]]; }
more_check() {
	if more_wanted ws1 || more_wanted ws2; then
		[ -x "$WSLOAD" ] && [ -x "$WSECHO" ] ||
		    { echo "bench: no $WSLOAD or $WSECHO: build first" >&2; exit 1; }
	fi
	if more_wanted h2be; then
		[ -x "$H2BE" ] || { echo "bench: no $H2BE: build first" >&2; exit 1; }
	fi
	return 0
}
more_backends() {
	if more_wanted ws1 || more_wanted ws2; then
		"$WSECHO" --listen 127.0.0.1:$PWS >"$W/wsecho.log" 2>&1 &
		WSPID=$!
		KILL+=($WSPID)
	fi
	if more_wanted h2be; then
		"$H2BE" --listen 127.0.0.1:$PH2BE --name bench --max-streams 1000 \
		    >"$W/h2be.log" 2>&1 &
		H2BEPID=$!
		KILL+=($H2BEPID)
	fi
	return 0
}
# tlsgate's extra sites (HTTP mode only), appended to its "sites".
more_tlsgate_sites() {
	local crt="\"certificates\": [{\"cert\": \"$W/cert.pem\", \"key\": \"$W/key.pem\"}]"
	printf ',\n {"names": ["ws.test"], "backends": ["127.0.0.1:%s"], "mode": "http", %s}' \
	    "$PWS" "$crt"
	printf ',\n {"names": ["h2be.test"], "backends": ["127.0.0.1:%s"], "mode": "http",
	  "http": {"backend_protocol": "h2"}, %s}' "$PH2BE" "$crt"
}
# nginx's extra servers, inside http {} (the HTTP/2 backend's through
# peer_nginx_proxy, bench/peer-conf.sh, like the main one).
more_nginx() {
	cat <<-CFG
	    upstream wsbe { server 127.0.0.1:$PWS; }
	    server {
	        listen 127.0.0.1:${PORT_WS[nginx]} ssl;
	        ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;
	        ssl_protocols TLSv1.2 TLSv1.3;
	        location / {
	            proxy_pass http://wsbe;
	            proxy_http_version 1.1;
	            proxy_set_header Upgrade \$http_upgrade;
	            proxy_set_header Connection "upgrade";
	            proxy_read_timeout 300s;
	            proxy_send_timeout 300s;
	        }
	    }
	$(peer_nginx_proxy "$W" "${PORT_H2BE[nginx]}" "$PH2BE" "$POOL" h2be \
	    '            grpc_pass grpc://h2be;')
	CFG
}
# HAProxy's extra frontends and backends.
more_haproxy() {
	cat <<-CFG
	frontend fews
	    bind 127.0.0.1:${PORT_WS[haproxy]} ssl crt $W/combined.pem alpn h2,http/1.1
	    default_backend bews
	frontend feh2be
	    bind 127.0.0.1:${PORT_H2BE[haproxy]} ssl crt $W/combined.pem alpn h2,http/1.1
	    default_backend beh2be
	backend bews
	    timeout tunnel 300s
	    server s1 127.0.0.1:$PWS
	backend beh2be
	    http-reuse safe
	    server s1 127.0.0.1:$PH2BE proto h2
	CFG
}

# ws_run PEER SCENARIO [--h2]: one tg_wsload run.
ws_run() {
	local p=$1 s=$2 out msgs sec pc bc cc share
	shift 2
	out=$(timeout -k 5 $((WS_SECS + 90)) "$WSLOAD" "$@" --connect 127.0.0.1:${PORT_WS[$p]} \
	    --sni ws.test --path /ws --conns "$WS_CONNS" --threads "$WS_THREADS" \
	    --seconds "$WS_SECS" --messages "$WS_MSGS" --size "$WS_SIZE" --window "$WS_WINDOW" \
	    --cpu-of "proxy=$(tree "${PID[$p]}" | paste -sd,)" --cpu-of "backend=$WSPID" 2>&1 || true)
	out=$(tail -n 1 <<<"$out")
	ws_field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $out"; }
	msgs=$(ws_field messages); sec=$(ws_field seconds); pc=$(ws_field cpu_proxy)
	bc=$(ws_field cpu_backend); cc=$(ws_field client_cpu); share=$(ws_field client_share)
	if [ "${out%% *}" != ok ] || [ -z "$msgs" ] || [ "$msgs" = 0 ]; then
		bad "$p" "$s.cpu" "$s: $out"
		return
	fi
	add "$p.$s.cpu" "$(awk -v n="$msgs" -v c="$pc" 'BEGIN{printf "%.1f", (c > 0 ? n/c : 0)}')"
	add "$p.$s.wall" "$(awk -v n="$msgs" -v w="$sec" 'BEGIN{printf "%.1f", n/w}')"
	add "$p.$s.back" "$(awk -v c="$bc" -v w="$sec" 'BEGIN{printf "%.0f", c/w*100}')"
	add "$p.$s.client" "$(awk -v s="$share" 'BEGIN{printf "%.0f", s*100}')"
	awk -v s="$share" -v t="$WS_THREADS" 'BEGIN{exit !(s >= 0.9 * t)}' &&
	    echo "bench: $s $(pname "$p"): the load client used ${share} cores of $WS_THREADS: it may be the bottleneck (BENCH_WS_THREADS)" >&2
	echo "  $s $(pname "$p"): $out" >&2
}
ws_na() { na "$1.$2.cpu"; na "$1.$2.wall"; na "$1.$2.back"; na "$1.$2.client"; }
scen_ws1() {
	case $1 in
	tlsgate|nginx|haproxy) [ "$1" = tlsgate ] && [ "$TG_MODE" = tcp ] && { ws_na "$1" ws1; return; }
	    ws_run "$1" ws1 ;;
	*) ws_na "$1" ws1 ;;
	esac
}
scen_ws2() {
	case $1 in
	tlsgate|haproxy) [ "$1" = tlsgate ] && [ "$TG_MODE" = tcp ] && { ws_na "$1" ws2; return; }
	    ws_run "$1" ws2 --h2 ;;
	*) ws_na "$1" ws2 ;;	# nginx 1.22: no RFC 8441; Caddy: not set up
	esac
}
scen_h2be() {
	case $1 in
	tlsgate|nginx|haproxy)
		if [ "$1" = tlsgate ] && [ "$TG_MODE" = tcp ]; then
			na "$1.h2be.cpu"; na "$1.h2be.wall"; na "$1.h2be.back"; return
		fi
		H2L_PORT=${PORT_H2BE[$1]} H2L_HOST=h2be.test H2L_PATH=/h2be H2L_BACK=$H2BEPID \
		    run_h2load "$1" h2be -n "$H2BE_N" -c "$H2_C" -m "$H2_M" ;;
	*) na "$1.h2be.cpu"; na "$1.h2be.wall"; na "$1.h2be.back" ;;
	esac
}
# Table rows of a scenario; 1 if it is not one of these.
more_rows() {
	local m="$WS_CONNS connections, $WS_SIZE-byte messages, $WS_WINDOW in flight each"
	case $1 in
	ws1) row "WebSocket messages (HTTP/1.1 upgrade; $m) per proxy CPU-second" ws1.cpu 0 high
	     row "WebSocket messages (HTTP/1.1 upgrade) per wall-second" ws1.wall 0 high
	     row "backend CPU during HTTP/1.1 WebSocket runs, % of one core" ws1.back 0 none
	     row "load client CPU during HTTP/1.1 WebSocket runs, % of one core ($WS_THREADS thread(s))" ws1.client 0 none ;;
	ws2) row "WebSocket messages (HTTP/2, RFC 8441; $m) per proxy CPU-second" ws2.cpu 0 high
	     row "WebSocket messages (HTTP/2, RFC 8441) per wall-second" ws2.wall 0 high
	     row "backend CPU during RFC 8441 runs, % of one core" ws2.back 0 none
	     row "load client CPU during RFC 8441 runs, % of one core ($WS_THREADS thread(s))" ws2.client 0 none ;;
	h2be) row "HTTP/2 requests to an HTTP/2 (h2c) backend per proxy CPU-second" h2be.cpu 0 high
	      row "HTTP/2 requests to an HTTP/2 (h2c) backend per wall-second" h2be.wall 0 high
	      row "backend (tg_h2be) CPU during those runs, % of one core" h2be.back 0 none ;;
	*) return 1 ;;
	esac
}
more_describe() {
	if more_wanted ws1 || more_wanted ws2; then
		echo "- ws1/ws2: tg_wsload (bench/wsload.c, $WS_THREADS thread(s), tlsgate's TLS library), $WS_CONNS TLS connections upgraded (HTTP/1.1 Upgrade, or RFC 8441 over HTTP/2), $WS_WINDOW message(s) of $WS_SIZE bytes in flight each, for ${WS_SECS}s (at most $WS_MSGS messages), to tg_wsecho (bench/wsecho.c, one thread); CPU taken over the message phase only; nginx: proxy_http_version 1.1 with Upgrade/Connection (no RFC 8441 in nginx 1.22: ws2 n/a); HAProxy: mode http, timeout tunnel"
	fi
	if more_wanted h2be; then
		echo "- h2be: h2load -t 1 -c $H2_C -m $H2_M -n $H2BE_N; the proxy speaks h2c (prior knowledge) to tg_h2be (tests/support/h2be.c, one thread, SETTINGS_MAX_CONCURRENT_STREAMS 1000): tlsgate http.backend_protocol h2, HAProxy server proto h2 with http-reuse safe, nginx grpc_pass grpc:// to an upstream with keepalive $POOL"
	fi
	return 0
}
