#!/bin/bash
# Issue 17, finding 3: a configured certificate file is validated in full.
# For a site with two names, a chain that misses the second name, or an
# expired one, stops tlsgate at start with the site, the file and the reason
# (and `tlsgate check` fails the same way); on SIGHUP a bad file (missing
# name, clientAuth-only, a foreign CA in the chain, a bad signature) is
# refused and the old certificate keeps serving both names. A good file
# after them is swapped in, so the reload path itself works.
. "$(dirname "$0")/lib.sh"
need openssl

MK="$(dirname "$TG_BACKEND")/tg_mkcert"
[ -x "$MK" ] || fail "no tg_mkcert next to $TG_BACKEND"
"$MK" "$T/ca" --cn "Test CA" --ca
"$MK" "$T/other" --cn "Other CA" --ca
"$MK" "$T/good" --names acme.test,www.acme.test --issuer "$T/ca"
"$MK" "$T/good2" --names acme.test,www.acme.test --issuer "$T/ca"
"$MK" "$T/oneName" --names acme.test --issuer "$T/ca"
"$MK" "$T/expired" --names acme.test,www.acme.test --issuer "$T/ca" --from -864000 --until -3600
"$MK" "$T/client" --names acme.test,www.acme.test --eku clientAuth --issuer "$T/ca"
"$MK" "$T/badsig" --names acme.test,www.acme.test --issuer "$T/ca" --bad-signature
# The right leaf and CA, then an unrelated CA.
"$MK" "$T/foreign" --names acme.test,www.acme.test --issuer "$T/ca"
cat "$T/other.pem" >>"$T/foreign.pem"

PB=$(free_port); P=$(free_port)
backend A http "$PB"
conf() { # CERTNAME
	cat >"$T/tlsgate.json" <<JSON
{"allow_root": true, "listen": {"https": ["127.0.0.1:$P"]},
 "sites": [{"mode": "tcp", "names": ["acme.test", "www.acme.test"], "backends": ["127.0.0.1:$PB"],
            "certificates": [{"cert": "$1.pem", "key": "$1.key"}]}]}
JSON
}

# 1. At start: refused, with the site, the file and the reason.
refused_at_start() { # CERTNAME REASON
	conf "$1"
	if "$TLSGATE" check --config "$T/tlsgate.json" >"$T/check.out" 2>&1; then
		fail "check accepted $1.pem"
	fi
	grep -q "site acme.test: $T/$1.pem: $2" "$T/check.out" ||
	    { cat "$T/check.out"; fail "check: no clear error for $1.pem"; }
	# The daemon exits (bounded: the harness timeout) and says the same.
	if timeout 30 "$TLSGATE" run --config "$T/tlsgate.json" >"$T/start-$1.log" 2>&1; then
		fail "tlsgate started with $1.pem"
	fi
	grep -q "site acme.test: $T/$1.pem: $2" "$T/start-$1.log" ||
	    { cat "$T/start-$1.log"; fail "run: no clear error for $1.pem"; }
	ok "start refused: $1.pem: $2"
}
refused_at_start oneName "the certificate does not cover www.acme.test (it names acme.test)"
refused_at_start expired "the certificate expired at "
refused_at_start client "the certificate's extended key usage lacks serverAuth (it has clientAuth)"

# 2. A good file starts; both names get it.
conf good
"$TLSGATE" check --config "$T/tlsgate.json" || fail "check refused the good file"
start_tlsgate "$P" --config "$T/tlsgate.json"
GOOD=$(fingerprint "$T/good.pem"); GOOD2=$(fingerprint "$T/good2.pem")
served() { # SNI -> fingerprint tg_tlsclient saw
	"$TG_CLIENT" info --connect "127.0.0.1:$P" --sni "$1" | sed -n 's/.* fp=\([0-9a-f]*\) .*/\1/p'
}
for n in acme.test www.acme.test; do
	[ "$(served $n)" = "$GOOD" ] || fail "$n: not the good certificate at start"
done
ok "good chain for both names serves"

# 3. Reloads to bad files: refused, the old certificate keeps serving.
reloads=0
refused_on_reload() { # CERTNAME REASON
	conf "$1"
	kill -HUP "$TG_PID"
	reloads=$((reloads + 1))
	wait_log "reload failed: site acme.test: $T/$1.pem: $2" 30
	for n in acme.test www.acme.test; do
		[ "$(served $n)" = "$GOOD" ] || fail "$n: old certificate not kept after $1.pem"
	done
	ok "reload refused: $1.pem: $2; the old certificate serves"
}
refused_on_reload oneName "the certificate does not cover www.acme.test (it names acme.test)"
refused_on_reload client "the certificate's extended key usage lacks serverAuth (it has clientAuth)"
refused_on_reload foreign "chain: certificate 3 (/CN=Other CA) did not issue certificate 2 (/CN=Test CA)"
refused_on_reload badsig "chain: the signature of certificate 1 (/CN=acme.test) does not verify under certificate 2 (/CN=Test CA)"
[ "$(grep -c 'reload: done' "$T/tlsgate.log")" = 0 ] || fail "a bad reload was applied"

# 4. A good file after the bad ones is swapped in.
conf good2
kill -HUP "$TG_PID"
wait_log "reload: done" 30
for n in acme.test www.acme.test; do
	[ "$(served $n)" = "$GOOD2" ] || fail "$n: the good reload was not applied"
done
# openssl agrees on the chain tlsgate serves.
s_client "$P" -servername www.acme.test -CAfile "$T/ca.pem" -verify_return_error \
    -verify_hostname www.acme.test | grep -q "Verify return code: 0 (ok)" ||
    fail "openssl does not verify the served chain for www.acme.test"
ok "good reload after bad ones serves the new certificate to both names"
