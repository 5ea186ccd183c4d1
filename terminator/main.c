/*
 * main.c - the tlsgate command: run, check, version, bench-crypto.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "acme.h"
#include "bench_crypto.h"
#include "bufcache.h"
#include "certs_cmd.h"
#include "persist_cmd.h"
#include "status_cmd.h"
#include "config.h"
#include "config_store.h"
#include "config_schema.h"
#include "ech.h"
#include "errbuf.h"
#include "ipname.h"
#include "log.h"
#include "ondemand.h"
#include "server.h"
#include "sites.h"
#include "store.h"
#include "version.h"
#include "xalloc.h"

/*
 * tlsgate renew NAME: ask the running daemon to renew NAME now. The request
 * goes into the store (so only someone who can write the state directory can
 * ask), then SIGUSR1 to the daemon named by the store's pid file. With the
 * etcd store (--config), the request goes to etcd only: every node watches
 * it and one of them takes it.
 */
static int
cmd_renew(int argc, char **argv)
{
	const char	*name, *state = "/var/lib/tlsgate";
	struct config	*c = NULL;
	struct store	*st = NULL;
	struct errbuf	 eb;
	char		 ip[IPNAME_MAX];
	long		 pid;
	int		 rc = 1;

	if (argc < 1) {
		fprintf(stderr, "usage: tlsgate renew NAME [--config FILE | --state-dir DIR]\n");
		return 2;
	}
	name = argv[0];
	/* An address names its site in one spelling (ipname.h). */
	if (ipname_canon(name, ip) == 0)
		name = ip;
	if (strchr(name, '/') != NULL || name[0] == '.') {
		fprintf(stderr, "tlsgate renew: bad name \"%s\"\n", name);
		return 2;
	}
	if (argc == 3 && strcmp(argv[1], "--state-dir") == 0)
		state = argv[2];
	else if (argc == 3 && strcmp(argv[1], "--config") == 0) {
		struct config_errors errs = { 0 };
		if ((c = config_load_file(argv[2], &errs)) == NULL) {
			for (size_t i = 0; i < errs.n; i++)
				fprintf(stderr, "%s\n", errs.msgs[i]);
			config_errors_clear(&errs);
			return 1;
		}
		state = c->acme.state_dir;
		if (c->store.backend == STORE_BACKEND_ETCD) {
			/* Every node watches the store; one of them takes it. */
			if ((st = config_store_open(c, NULL, &eb)) == NULL ||
			    store_renew_request(st, name, &eb) == -1) {
				fprintf(stderr, "tlsgate renew: %s\n", eb.msg);
				goto out;
			}
			printf("renewal of %s requested through etcd\n", name);
			rc = 0;
			goto out;
		}
	}
	if ((pid = store_file_pid_read(state)) == 0) {
		fprintf(stderr, "tlsgate renew: no running tlsgate (no pid file in %s)\n",
		    state);
		goto out;
	}
	if ((st = store_open_file(state, NULL, &eb)) == NULL ||
	    store_renew_request(st, name, &eb) == -1) {
		fprintf(stderr, "tlsgate renew: %s\n", eb.msg);
		goto out;
	}
	if (kill((pid_t)pid, SIGUSR1) == -1) {
		fprintf(stderr, "tlsgate renew: signal %ld: %s\n", pid, strerror(errno));
		goto out;
	}
	printf("renewal of %s requested from tlsgate (pid %ld)\n", name, pid);
	rc = 0;
out:
	store_close(st);
	config_free(c);
	return rc;
}

/*
 * tlsgate approve NAME --config FILE: pre-order an on-demand name, as if
 * the ask endpoint had said yes. The name goes into the store's on-demand
 * index and a request into the store; SIGUSR1 tells the daemon. With the
 * etcd store, both go to etcd only: every node watches the requests and one
 * of them orders. Takes ownership of c.
 */
static int
cmd_approve(const char *name, struct config *c)
{
	struct store_ondemand	 rec = { 0, 0, 0 };
	struct store		*st = NULL;
	struct errbuf		 eb;
	const char		*why;
	long			 pid = 0;
	int			 rc = 1, etcd;

	if (c->on_demand.ask == NULL) {
		fprintf(stderr, "tlsgate approve: on-demand TLS is off in %s "
		    "(no on_demand.ask)\n", c->path ? c->path : "the command line");
		goto out;
	}
	if ((why = ondemand_name_check(name, c->on_demand.allow_ip)) != NULL) {
		fprintf(stderr, "tlsgate approve: \"%s\": %s\n", name, why);
		goto out;
	}
	etcd = c->store.backend == STORE_BACKEND_ETCD;
	if (!etcd && (pid = store_file_pid_read(c->acme.state_dir)) == 0) {
		fprintf(stderr, "tlsgate approve: no running tlsgate (no pid file "
		    "in %s)\n", c->acme.state_dir);
		goto out;
	}
	rec.last_used = time(NULL);
	if ((st = config_store_open(c, c->acme.directory != NULL ? c->acme.directory :
	    ACME_LETSENCRYPT, &eb)) == NULL ||
	    (store_ondemand_get(st, name, &rec) == -1 &&
	    store_ondemand_touch(st, name, &rec, &eb) == -1) ||
	    store_renew_request(st, name, &eb) == -1) {
		fprintf(stderr, "tlsgate approve: %s\n", eb.msg);
		goto out;
	}
	if (etcd) {
		printf("%s approved through etcd; a node of the fleet orders it "
		    "unless the store has it\n", name);
		rc = 0;
		goto out;
	}
	if (kill((pid_t)pid, SIGUSR1) == -1) {
		fprintf(stderr, "tlsgate approve: signal %ld: %s\n", pid,
		    strerror(errno));
		goto out;
	}
	printf("%s approved; tlsgate (pid %ld) orders it unless the store has it\n",
	    name, pid);
	rc = 0;
out:
	store_close(st);
	config_free(c);
	return rc;
}

/*
 * tlsgate ech --config FILE (or run's flags): the ECHConfigList to publish,
 * from the store (what the daemon made and serves): the base64 alone on the
 * first line, then an HTTPS record for each site name, ready for a zone file.
 * Takes ownership of c.
 */
static int
cmd_ech(struct config *c)
{
	struct errbuf	 eb;
	char		*list;
	int		 rc = 1;

	if (!c->ech.enabled)
		fprintf(stderr, "tlsgate ech: %s does not enable tls.ech\n",
		    c->path ? c->path : "the command line");
	else if ((list = ech_published(c, &eb)) == NULL)
		fprintf(stderr, "tlsgate ech: %s\n", eb.msg);
	else {
		printf("%s\n", list);
		for (size_t i = 0; i < c->nsites; i++)
			for (size_t j = 0; j < c->sites[i].nnames; j++)
				printf("%s. 300 IN HTTPS 1 . ech=%s\n",
				    c->sites[i].names[j], list);
		free(list);
		rc = 0;
	}
	config_free(c);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsgate run --config FILE\n"
	    "       tlsgate run --https ADDR --site NAME[,NAME]=HOST:PORT "
	    "--cert NAME=CERT.pem,KEY.pem [flags]\n"
	    "       tlsgate check --config FILE\n"
	    "       tlsgate renew NAME [--config FILE | --state-dir DIR]\n"
	    "       tlsgate approve NAME --config FILE   (on-demand TLS)\n"
	    "       tlsgate certs [--config FILE | --state-dir DIR]\n"
	    "       tlsgate persist-record NAME --config FILE [--issuer DOMAIN] "
	    "[--value]\n"
	    "       tlsgate status [--config FILE | --admin ADDR]\n"
	    "       tlsgate ech --config FILE      (or the same flags as run)\n"
	    "       tlsgate version\n"
	    "       tlsgate config-doc [keys | flags]\n"
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
	/* Before any thread exists, as libcurl requires. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* libevent's evbuffer chains from per-thread caches (bufcache.h):
	 * before any libevent call. */
	if (BUFCACHE_EV_HOOKS)
		event_set_mem_functions(bufcache_ev_malloc, bufcache_ev_realloc,
		    bufcache_ev_free);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		version_print(stdout);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "config-doc") == 0) {
		/* The key and flag tables of docs/config.md and docs/cli.md. */
		if (config_schema_doc(stdout, argc > 2 ? argv[2] : "keys") == -1) {
			usage(stderr);
			return 2;
		}
		return 0;
	}
	if (strcmp(argv[1], "bench-crypto") == 0)
		return bench_crypto_run(argc > 2 ? atof(argv[2]) : 1.0);
	if (strcmp(argv[1], "check") == 0) {
		if ((c = load(argc - 2, argv + 2)) == NULL)
			return 1;
		/* Certificates too: a config that cannot serve is not valid. */
		if ((v = view_build(c, NULL, &eb)) == NULL) {
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
	if (strcmp(argv[1], "certs") == 0) {
		const char	*state = "/var/lib/tlsgate";
		int		 n;

		c = NULL;
		if (argc == 4 && strcmp(argv[2], "--state-dir") == 0)
			state = argv[3];
		else if (argc == 4 && strcmp(argv[2], "--config") == 0) {
			if ((c = load(2, argv + 2)) == NULL)
				return 1;
			state = c->acme.state_dir;
		} else if (argc != 2) {
			usage(stderr);
			return 2;
		}
		if ((n = certs_cmd_list(c, state, stdout, &eb)) == -1) {
			fprintf(stderr, "tlsgate certs: %s\n", eb.msg);
			config_free(c);
			return 1;
		}
		config_free(c);
		return 0;
	}
	if (strcmp(argv[1], "status") == 0) {
		int rc;
		if (argc == 4 && strcmp(argv[2], "--admin") == 0)
			return status_cmd_print(argv[3], stdout);
		if (argc != 4 || strcmp(argv[2], "--config") != 0) {
			usage(stderr);
			return 2;
		}
		if ((c = load(2, argv + 2)) == NULL)
			return 1;
		if (c->admin == NULL) {
			fprintf(stderr, "tlsgate status: %s has no \"admin\" endpoint\n",
			    argv[3]);
			config_free(c);
			return 1;
		}
		rc = status_cmd_print(c->admin, stdout);
		config_free(c);
		return rc;
	}
	if (strcmp(argv[1], "renew") == 0)
		return cmd_renew(argc - 2, argv + 2);
	if (strcmp(argv[1], "persist-record") == 0)
		return persist_cmd(argc - 2, argv + 2);
	if (strcmp(argv[1], "approve") == 0) {
		/* NAME --config FILE, or --config FILE NAME. */
		if (argc == 5 && strcmp(argv[2], "--config") == 0 &&
		    argv[4][0] != '-') {
			if ((c = load(2, argv + 2)) == NULL)
				return 1;
			return cmd_approve(argv[4], c);
		}
		if (argc < 3 || argv[2][0] == '-') {
			fprintf(stderr, "usage: tlsgate approve NAME --config FILE\n");
			return 2;
		}
		if ((c = load(argc - 3, argv + 3)) == NULL)
			return 1;
		return cmd_approve(argv[2], c);
	}
	if (strcmp(argv[1], "ech") == 0) {
		if ((c = load(argc - 2, argv + 2)) == NULL)
			return 1;
		return cmd_ech(c);
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
