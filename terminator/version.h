/* version.h - what tlsgate is built from and runs with. Any thread. */
#ifndef TLSGATE_VERSION_H
#define TLSGATE_VERSION_H

#include <stdio.h>

/* Print tlsgate's version and its libraries' (BoringSSL revision, libevent,
 * libcurl, jansson), one per line. */
void	version_print(FILE *out);

#endif
