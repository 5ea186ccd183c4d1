/*
 * etcd_harness.h - a real etcd for tests: Debian's etcd (etcd-server) on
 * 127.0.0.1, and raw access to its values through the v3 JSON gateway
 * (what someone who can read etcd sees). Test threads only.
 */
#ifndef TLSGATE_ETCD_HARNESS_H
#define TLSGATE_ETCD_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

/* 1 if an etcd is on PATH. */
int		 etcdh_have(void);
/* A TCP port on 127.0.0.1 that nothing listens on now, or -1. */
int		 etcdh_free_port(void);
/*
 * Start an etcd named name with its data and log (NAME.log) under dir,
 * listening on 127.0.0.1 only: its client URL ("http" or "https", with the
 * TLS arguments in tls, NULL-terminated) in url. Its pid, or -1.
 */
pid_t		 etcdh_spawn(const char *dir, const char *name, const char *scheme,
		    const char *const *tls, int cport, int pport, char *url,
		    size_t cap);
/* POST req (taken) to endpoint's path, with token as Authorization if not
 * NULL: the answer as JSON (new), or NULL. */
json_t		*etcdh_gw(const char *endpoint, const char *token, const char *path,
		    json_t *req);
/* The raw bytes stored at key (new, NUL-terminated beyond *len), or NULL;
 * put stores raw bytes: 0 or -1. */
unsigned char	*etcdh_raw_get(const char *endpoint, const char *key, size_t *len);
int		 etcdh_raw_put(const char *endpoint, const char *key, const void *p,
		    size_t n);

#endif
