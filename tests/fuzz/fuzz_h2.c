/*
 * fuzz_h2 - the frames an HTTP/2 client sends in HTTP mode: one session
 * (HSESS_H2: nghttp2, h2.c, hproxy.c, hlog.c) per input. The target sends
 * the client preface and an empty SETTINGS frame first, so the input is
 * frames only; then as fuzz_http1 (options and reads: hsess_fuzz.h).
 * tests/fuzz/gen_h2_seeds.c wrote the seeds.
 */
#include <stddef.h>
#include <stdint.h>

#include "hsess_fuzz.h"

static const uint8_t preface[] =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    "\x00\x00\x00\x04\x00\x00\x00\x00\x00";	/* SETTINGS, empty */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hsess_fuzz_run(HSESS_H2, preface, sizeof(preface) - 1, data, size);
	return 0;
}
