/*
 * mkcert.c - tg_mkcert: certificates with chosen faults for integration
 * tests, made by testcert_issue (the same builder as the unit tests).
 *
 *   tg_mkcert OUT [--names a,b] [--cn CN] [--issuer NAME] [--ca]
 *             [--eku serverAuth|clientAuth] [--from SECS] [--until SECS]
 *             [--bad-signature]
 *
 * Writes OUT.pem (the certificate, then the issuer's when --issuer is given)
 * and OUT.key (0600). --issuer NAME signs with NAME.pem / NAME.key (the
 * first certificate of NAME.pem). --from and --until are offsets from now in
 * seconds (defaults -3600 and 30 days; negative is the past).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "testcert.h"

static char *
slurp(const char *path)
{
	FILE	*f = fopen(path, "rb");
	char	*buf;
	size_t	 n;

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	buf = calloc(1, 1 << 20);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
spit(const char *path, const char *a, const char *b, int mode)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fputs(a, f) < 0 || (b != NULL && fputs(b, f) < 0) ||
	    fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	chmod(path, (mode_t)mode);
}

int
main(int argc, char **argv)
{
	struct testcert_opts	 o;
	time_t			 now = time(NULL);
	char			*cert, *key, *icert = NULL, *ikey = NULL, path[4096];

	if (argc < 2) {
		fprintf(stderr, "usage: tg_mkcert OUT [flags]\n");
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.names = NULL;
	for (int i = 2; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(f, "--ca") == 0)
			o.ca = 1;
		else if (strcmp(f, "--bad-signature") == 0)
			o.bad_signature = 1;
		else if (v == NULL) {
			fprintf(stderr, "tg_mkcert: %s needs a value\n", f);
			return 2;
		} else if (strcmp(f, "--names") == 0)
			o.names = argv[++i];
		else if (strcmp(f, "--cn") == 0)
			o.cn = argv[++i];
		else if (strcmp(f, "--eku") == 0)
			o.eku = argv[++i];
		else if (strcmp(f, "--from") == 0)
			o.not_before = now + atol(argv[++i]);
		else if (strcmp(f, "--until") == 0)
			o.not_after = now + atol(argv[++i]);
		else if (strcmp(f, "--issuer") == 0) {
			snprintf(path, sizeof(path), "%s.pem", argv[++i]);
			o.issuer_cert = icert = slurp(path);
			snprintf(path, sizeof(path), "%s.key", argv[i]);
			o.issuer_key = ikey = slurp(path);
		} else {
			fprintf(stderr, "tg_mkcert: unknown flag %s\n", f);
			return 2;
		}
	}
	if (testcert_issue(&o, &cert, &key) == -1) {
		fprintf(stderr, "tg_mkcert: cannot make the certificate\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s.pem", argv[1]);
	spit(path, cert, icert, 0644);
	snprintf(path, sizeof(path), "%s.key", argv[1]);
	spit(path, key, NULL, 0600);
	free(cert);
	free(key);
	free(icert);
	free(ikey);
	return 0;
}
