/*
 * hsess_fuzz.h - the harness fuzz_http1 and fuzz_h2 share: one real HTTP
 * session (terminator/http/hsess.h) on a real event base, fed in memory,
 * without sockets, the way conn.c feeds it.
 *
 * Input: 4 option bytes, then the client's bytes.
 *  byte 0: bit 0 SNI matched a.test (else no SNI: routed by Host); bit 1
 *          the peer is a trusted proxy; bit 2 JSON access log; bit 3 the
 *          client's EOF after its last byte; bit 4 graceful shutdown after
 *          the first read; bit 5 output is drained only at the end (back-
 *          pressure); bit 6 the connection's site is b.test.
 *  bytes 1-3: three split points (fractions of 256) cutting the client's
 *          bytes into up to four hsess_input() reads.
 * Sites: a.test (HTTP mode, both forwarded styles, HSTS, a 1000-byte body
 * limit) has its one backend held down, so routed requests get 503 without
 * a system call; b.test's backend is 127.0.0.1:1, where nothing listens:
 * 502 after a refused connect (it is marked up again before every input).
 * The access log is formatted (level info) into a sink that checks each line
 * is one line (and printed with HSESS_FUZZ_LOG=1 in the environment).
 *
 * Threads: libFuzzer's one thread.
 */
#ifndef TLSGATE_HSESS_FUZZ_H
#define TLSGATE_HSESS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "hsess.h"

#define HSESS_FUZZ_OPTS	4

/* Run one session of proto: prefix (may be NULL) then the client's bytes
 * of data (after the option bytes) are fed to it. */
void	hsess_fuzz_run(enum hsess_proto proto, const uint8_t *prefix, size_t plen,
	    const uint8_t *data, size_t size);

#endif
