#!/bin/bash
# 2,000 concurrent TLS connections stream through at once, every byte checked.
# Then a client that reads a large response slowly: tlsgate's memory stays
# bounded because it stops reading the backend while the client lags.
. "$(dirname "$0")/lib.sh"
need openssl

ulimit -n 16384 2>/dev/null || ulimit -n 8192 2>/dev/null ||
    { [ "$(ulimit -n)" -ge 4200 ] || { echo "skip: cannot raise ulimit -n"; exit 77; }; }
cert s ec l.test slow.test
PE=$(free_port); PH=$(free_port); P=$(free_port); P2=$(free_port)
backend E echo "$PE"
backend H http "$PH"
cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]}, "workers": 2,
 "log": {"level": "warning"},
 "limits": {"max_connections": 10000,
            "max_connections_per_client": 0, "handshake_rate_per_client": 0},
 "sites": [{"mode": "tcp", "names": ["l.test"], "backends": ["127.0.0.1:$PE"], "default": true,
            "certificates": [{"cert": "s.pem", "key": "s.key"}]},
           {"mode": "tcp", "names": ["slow.test"], "backends": ["127.0.0.1:$PH"],
            "certificates": [{"cert": "s.pem", "key": "s.key"}]}]}
JSON
start_tlsgate "$P" --config "$T/tlsgate.json"

"$TG_CLIENT" stream --connect "127.0.0.1:$P" --sni l.test --conns 2000 --seconds 20 \
    >"$T/stream.log" 2>&1 || { cat "$T/stream.log"; fail "2000 concurrent streams"; }
cat "$T/stream.log"
grep -q "conns=2000 alive=2000 verified=2000" "$T/stream.log" || fail "not all 2000 verified"
ok "2000 concurrent connections streamed, every byte verified"

# Slow reader: 200 MB offered by the backend, read at 200 KB/s for 6 s.
rss0=$(rss_kib "$TG_PID")
"$TG_CLIENT" slowread --connect "127.0.0.1:$P" --sni slow.test --bytes 200000000 \
    --rate 200000 --seconds 6 >"$T/slow.log" 2>&1 &
SP=$!
max=0
for _ in $(seq 1 50); do
	sleep 0.1
	r=$(rss_kib "$TG_PID"); [ "$r" -gt "$max" ] && max=$r
done
wait "$SP" || fail "slow reader failed"
cat "$T/slow.log"
got=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$T/slow.log")
[ "$got" -lt 5000000 ] || fail "slow reader read $got bytes: it was not slow"
growth=$((max - rss0))
echo "RSS before ${rss0} KiB, max during slow read ${max} KiB, growth ${growth} KiB"
# 200 MB were on offer; tlsgate may hold only its buffers plus socket slack.
[ "$growth" -lt 8192 ] || fail "RSS grew by $growth KiB under a slow reader"
ok "slow reader: RSS grew by ${growth} KiB while 200 MB were on offer"
