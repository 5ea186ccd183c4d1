/* testcert.h - make keys and self-signed certificates in memory for tests. */
#ifndef TLSGATE_TESTCERT_H
#define TLSGATE_TESTCERT_H

#include <stddef.h>
#include <time.h>

/* A new key ("ec" or "rsa") and a certificate for the comma-separated DNS
 * names, valid for days days. PEM strings are new (free()). 0 or -1. */
int	testcert_make(const char *type, const char *names, int days, char **cert_pem,
	    char **key_pem);
/*
 * A certificate with chosen faults, for certcheck's tests. Zero fields take
 * defaults: a new "ec" key, valid from an hour ago for 30 days, no EKU,
 * not a CA, self-signed. Times are absolute (seconds since the epoch).
 */
struct testcert_opts {
	const char	*type;		/* "ec" (default) or "rsa" */
	const char	*cn;		/* subject CN; default: the first name */
	const char	*names;		/* comma-separated DNS SANs ("IP:addr"
					 * for an iPAddress); NULL: no SAN */
	time_t		 not_before, not_after;
	int		 ca;		/* basicConstraints CA:TRUE, keyCertSign */
	const char	*eku;		/* e.g. "serverAuth", "clientAuth" */
	int		 bad_signature;	/* corrupt the signature's last byte */
	const char	*issuer_cert;	/* PEM; NULL: self-signed */
	const char	*issuer_key;	/* PEM key of issuer_cert */
	const char	*pubkey;	/* PEM public key to certify instead of a
					 * new key (then *key_pem is NULL) */
};
/* The certificate (and new key) as PEM strings, new (free()). 0 or -1. */
int	testcert_issue(const struct testcert_opts *o, char **cert_pem, char **key_pem);

/* Write s to dir/name with mode; returns the new path (free()). */
char	*testcert_write(const char *dir, const char *name, const char *s, int mode);

/* Remove path and everything below it (a test's temporary folder). 0 or -1. */
int	testcert_rmtree(const char *path);

#endif
