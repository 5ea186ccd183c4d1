#!/bin/bash
# tlsgate exports no BoringSSL symbol and links no shared BoringSSL: libcurl
# brings OpenSSL 3 into the same process, and the two must never bind to each
# other's symbols.
. "$(dirname "$0")/lib.sh"
need nm ldd

syms=$(nm -D --defined-only "$TLSGATE" | awk '{print $NF}')
leaked=$(echo "$syms" | grep -E '^(SSL_|EVP_|X509_|CRYPTO_|BIO_|ERR_)' || true)
[ -z "$leaked" ] || fail "BoringSSL symbols exported: $(echo "$leaked" | head -5)"
ok "no SSL_/EVP_/X509_ symbol exported ($(echo "$syms" | wc -l) dynamic symbols)"

libs=$(ldd "$TLSGATE")
if echo "$libs" | grep -Ei 'boringssl|/android/'; then
	fail "a shared BoringSSL is linked"
fi
ok "ldd lists no BoringSSL library"

# And it is really in there, statically: the version names its revision.
"$TLSGATE" version | grep -Eq '^boringssl [0-9a-f]{40} \(static' ||
    fail "tlsgate version does not name a static BoringSSL"
all=$(nm "$TLSGATE")
grep -q ' t SSL_do_handshake$' <<<"$all" ||
    fail "SSL_do_handshake is not linked in as a local (hidden) symbol"
ok "BoringSSL is linked statically with hidden symbols"
