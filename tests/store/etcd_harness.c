/*
 * etcd_harness.c - a real etcd for tests (etcd_harness.h): spawn it on
 * 127.0.0.1, and read and write its raw values through the JSON gateway.
 */
#include "etcd_harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/base64.h>

struct buf {
	char	*p;
	size_t	 n;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	n *= size;
	b->p = realloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

json_t *
etcdh_gw(const char *endpoint, const char *token, const char *path,
    json_t *req)
{
	CURL			*h = curl_easy_init();
	char			*body = json_dumps(req, JSON_COMPACT), url[128];
	struct buf		 b = { NULL, 0 };
	struct curl_slist	*hdrs = NULL;
	json_t			*j = NULL;
	char			 auth[300];

	json_decref(req);
	if (token != NULL && token[0] != '\0') {
		snprintf(auth, sizeof(auth), "Authorization: %s", token);
		hdrs = curl_slist_append(hdrs, auth);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	}
	snprintf(url, sizeof(url), "%s%s", endpoint, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(h) == CURLE_OK && b.p != NULL)
		j = json_loads(b.p, 0, NULL);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(body);
	free(b.p);
	return j;
}

static char *
b64(const void *p, size_t n)
{
	size_t	 len;
	char	*s;

	EVP_EncodedLength(&len, n);
	s = malloc(len);
	EVP_EncodeBlock((uint8_t *)s, p, n);
	return s;
}

unsigned char *
etcdh_raw_get(const char *endpoint, const char *key, size_t *len)
{
	char		*k = b64(key, strlen(key));
	json_t		*resp = etcdh_gw(endpoint, NULL, "/v3/kv/range",
			    json_pack("{s:s}", "key", k));
	const char	*v;
	unsigned char	*out = NULL;
	size_t		 cap;

	free(k);
	v = json_string_value(json_object_get(json_array_get(json_object_get(resp,
	    "kvs"), 0), "value"));
	if (v != NULL) {
		EVP_DecodedLength(&cap, strlen(v));
		out = malloc(cap + 1);
		if (!EVP_DecodeBase64(out, len, cap, (const uint8_t *)v, strlen(v))) {
			free(out);
			out = NULL;
		}
	}
	json_decref(resp);
	return out;
}

int
etcdh_raw_put(const char *endpoint, const char *key, const void *p, size_t n)
{
	char	*k = b64(key, strlen(key)), *v = b64(p, n);
	json_t	*resp = etcdh_gw(endpoint, NULL, "/v3/kv/put",
		    json_pack("{s:s, s:s}", "key", k, "value", v));
	int	 rc = json_object_get(resp, "header") != NULL ? 0 : -1;

	json_decref(resp);
	free(k);
	free(v);
	return rc;
}

int
etcdh_free_port(void)
{
	struct sockaddr_in	sa;
	socklen_t		len = sizeof(sa);
	int			fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
		return -1;
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

pid_t
etcdh_spawn(const char *dir, const char *name, const char *scheme,
    const char *const *tls, int cport, int pport, char *url, size_t cap)
{
	int		 fd, n = 0;
	char		 purl[64], init[96], data[256], log[256];
	const char	*argv[40];
	pid_t		 pid;

	if (cport == -1 || pport == -1 || cport == pport)
		return -1;
	snprintf(url, cap, "%s://127.0.0.1:%d", scheme, cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
	snprintf(init, sizeof(init), "%s=%s", name, purl);
	snprintf(data, sizeof(data), "%s/%s-data", dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	argv[n++] = "etcd";
	argv[n++] = "--name"; argv[n++] = name;
	argv[n++] = "--data-dir"; argv[n++] = data;
	argv[n++] = "--listen-client-urls"; argv[n++] = url;
	argv[n++] = "--advertise-client-urls"; argv[n++] = url;
	argv[n++] = "--listen-peer-urls"; argv[n++] = purl;
	argv[n++] = "--initial-advertise-peer-urls"; argv[n++] = purl;
	argv[n++] = "--initial-cluster"; argv[n++] = init;
	argv[n++] = "--log-level"; argv[n++] = "warn";
	while (tls != NULL && *tls != NULL && n < 38)
		argv[n++] = *tls++;
	argv[n] = NULL;
	if ((pid = fork()) == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp("etcd", (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int
etcdh_have(void)
{
	char	*path = getenv("PATH"), *p, *dup, *save = NULL, buf[512];
	int	 found = 0;

	if (path == NULL)
		return 0;
	dup = strdup(path);
	for (p = strtok_r(dup, ":", &save); p != NULL && !found;
	    p = strtok_r(NULL, ":", &save)) {
		snprintf(buf, sizeof(buf), "%s/etcd", p);
		found = access(buf, X_OK) == 0;
	}
	free(dup);
	return found;
}
