/*
 * fuzz_http1 - the bytes an HTTP/1.1 client sends in HTTP mode: one session
 * (HSESS_H1: llhttp in strict mode, h1.c, hproxy.c, hlog.c) per input, fed
 * in up to four reads, with the event loop turned between them so deferred
 * hooks run. Requests that parse end in 503 (a.test's backend is held down),
 * 502 (b.test's refuses the connection), 421, 4xx or a closed connection.
 * The harness and the input's option bytes are in hsess_fuzz.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "hsess_fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hsess_fuzz_run(HSESS_H1, NULL, 0, data, size);
	return 0;
}
