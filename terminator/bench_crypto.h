/*
 * bench_crypto.h - what the linked BoringSSL does per second: ECDSA P-256
 * signatures, X25519 operations and AES-128-GCM throughput. It shows whether
 * the fast paths (no OPENSSL_SMALL, x86-64 assembly) are built in. The
 * `tlsgate bench-crypto` command, on its only thread.
 */
#ifndef TLSGATE_BENCH_CRYPTO_H
#define TLSGATE_BENCH_CRYPTO_H

/* Run each measurement for about secs seconds and print results. 0 or 1. */
int	bench_crypto_run(double secs);

#endif
