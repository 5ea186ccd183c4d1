/*
 * main.c - the tlsgate command: run, check, version, bench-crypto.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_crypto.h"
#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "server.h"
#include "sites.h"
#include "version.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsgate run --config FILE\n"
	    "       tlsgate run --https ADDR --site NAME[,NAME]=HOST:PORT "
	    "--cert NAME=CERT.pem,KEY.pem [flags]\n"
	    "       tlsgate check --config FILE\n"
	    "       tlsgate version\n"
	    "       tlsgate bench-crypto [SECONDS]\n"
	    "See docs/cli.md and docs/config.md.\n");
}

/* Load the config named by argv (--config FILE, or flags). */
static struct config *
load(int argc, char **argv)
{
	struct config_errors	 errs = { 0 };
	struct config		*c;

	if (argc == 2 && strcmp(argv[0], "--config") == 0)
		c = config_load_file(argv[1], &errs);
	else if (argc >= 1 && strcmp(argv[0], "--config") == 0) {
		fprintf(stderr, "tlsgate: --config takes one FILE and no other flag\n");
		return NULL;
	} else
		c = config_from_args(argc, argv, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	config_errors_clear(&errs);
	return c;
}

int
main(int argc, char **argv)
{
	struct config	*c;
	struct view	*v;
	struct errbuf	 eb;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		version_print(stdout);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "bench-crypto") == 0)
		return bench_crypto_run(argc > 2 ? atof(argv[2]) : 1.0);
	if (strcmp(argv[1], "check") == 0) {
		if ((c = load(argc - 2, argv + 2)) == NULL)
			return 1;
		/* Certificates too: a config that cannot serve is not valid. */
		if ((v = view_build(c, &eb)) == NULL) {
			fprintf(stderr, "%s: %s\n", c->path ? c->path : "command line",
			    eb.msg);
			config_free(c);
			return 1;
		}
		printf("%s: OK, %zu sites\n", c->path ? c->path : "command line",
		    v->nsites);
		view_unref(v);
		config_free(c);
		return 0;
	}
	if (strcmp(argv[1], "run") == 0) {
		if ((c = load(argc - 2, argv + 2)) == NULL)
			return 1;
		return server_run(c);
	}
	fprintf(stderr, "tlsgate: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
