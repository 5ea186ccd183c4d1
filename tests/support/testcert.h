/* testcert.h - make keys and self-signed certificates in memory for tests. */
#ifndef TLSGATE_TESTCERT_H
#define TLSGATE_TESTCERT_H

#include <stddef.h>

/* A new key ("ec" or "rsa") and a certificate for the comma-separated DNS
 * names, valid for days days. PEM strings are new (free()). 0 or -1. */
int	testcert_make(const char *type, const char *names, int days, char **cert_pem,
	    char **key_pem);
/* Write s to dir/name with mode; returns the new path (free()). */
char	*testcert_write(const char *dir, const char *name, const char *s, int mode);

/* Remove path and everything below it (a test's temporary folder). 0 or -1. */
int	testcert_rmtree(const char *path);

#endif
