#!/bin/bash
# tlsgate exports no symbol of its TLS library (AWS-LC, or BoringSSL) and
# links no shared copy of it: libcurl
# brings OpenSSL 3 into the same process, and the two must never bind to each
# other's symbols.
. "$(dirname "$0")/lib.sh"
need nm ldd

syms=$(nm -D --defined-only "$TLSGATE" | awk '{print $NF}')
leaked=$(echo "$syms" | grep -Ei '^(SSL_|EVP_|X509_|CRYPTO_|BIO_|ERR_|OPENSSL_|EC_|RSA_|PEM_|d2i_|i2d_|aws_?lc)' || true)
[ -z "$leaked" ] || fail "TLS library symbols exported: $(echo "$leaked" | head -5)"
ok "no SSL_/EVP_/X509_ symbol exported ($(echo "$syms" | wc -l) dynamic symbols)"

libs=$(ldd "$TLSGATE")
if echo "$libs" | grep -Ei 'boringssl|/android/|aws-?lc|libcrypto\.so\.0|libssl\.so\.0'; then
	fail "a shared AWS-LC or BoringSSL is linked"
fi
ok "ldd lists no AWS-LC or BoringSSL library"

# And it is really in there, statically: the version names it.
lib=$("$TLSGATE" version | grep -E '^(AWS-LC [0-9]+\.[0-9]+\.[0-9]+|BoringSSL [0-9a-f]{40}) \(static\)$') ||
    fail "tlsgate version does not name a static AWS-LC or BoringSSL"
all=$(nm "$TLSGATE")
grep -q ' t SSL_do_handshake$' <<<"$all" ||
    fail "SSL_do_handshake is not linked in as a local (hidden) symbol"
ok "$lib is linked with hidden symbols"

# AWS-LC's record buffers come from tlsgate's buffer cache
# (cmake/awslc.cmake): the one libssl file that takes them renames malloc and
# free, which holds only while no other libssl file calls the two directly.
# A new AWS-LC that does fails here, to be looked at. Not in sanitizer
# builds (AWS-LC keeps its own malloc there) nor on BoringSSL.
libssl=$(dirname "$TLSGATE")/awslc/src/ssl/libssl.a
if [ -f "$libssl" ] && ! grep -q ' __asan_init$' <<<"$all"; then
	refs=$(nm -A "$libssl" 2>/dev/null | grep -E ' U (malloc|free|bufcache_tls_malloc|bufcache_tls_free)$' |
	    sed 's/^.*libssl\.a://; s/: *U / /' | sort)
	want=$(printf '%s\n' "ssl_buffer.cc.o bufcache_tls_free" "ssl_buffer.cc.o bufcache_tls_malloc")
	[ "$refs" = "$want" ] ||
	    fail "libssl's malloc/free callers changed (cmake/awslc/ssl_buffer_alloc.h): $(echo $refs)"
	grep -qE ' [tT] bufcache_tls_malloc$' <<<"$all" || fail "bufcache_tls_malloc is not linked in"
	ok "AWS-LC's record buffers go through bufcache_tls_malloc/free (ssl_buffer.cc alone)"
fi
