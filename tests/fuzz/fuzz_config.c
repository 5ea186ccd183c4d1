/*
 * fuzz_config - the configuration parser (terminator/config.h): JSON through
 * config_load_text(), flags through config_from_args().
 *
 * Input: one mode byte, then the data.
 *  - mode & 1 == 0: the rest is a JSON config file's text.
 *  - mode & 1 == 1: the rest is argv after "run", arguments separated by NUL.
 * Backend addresses are names the parser resolves with getaddrinfo(); the
 * link wraps getaddrinfo (-Wl,--wrap) so that only literals are looked up and
 * no input reaches DNS.
 */
#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

int __real_getaddrinfo(const char *, const char *, const struct addrinfo *,
    struct addrinfo **);
int __wrap_getaddrinfo(const char *, const char *, const struct addrinfo *,
    struct addrinfo **);

int
__wrap_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo h;

	memset(&h, 0, sizeof(h));
	if (hints != NULL)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	return __real_getaddrinfo(node, service, &h, res);
}

#define MAX_ARGS 256

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors	 errs = { NULL, 0 };
	struct config		*c = NULL;
	char			*text, *argv[MAX_ARGS + 1];
	int			 argc = 0;

	if (size < 1)
		return 0;
	log_set_level(LOG_LVL_ERR);
	/* A private, NUL-terminated copy: the parser may keep pointers into it. */
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if ((data[0] & 1) == 0) {
		c = config_load_text("/fuzz/tlsgate.json", text, size - 1, &errs);
	} else {
		for (char *p = text; p < text + size - 1 && argc < MAX_ARGS;
		    p += strlen(p) + 1)
			argv[argc++] = p;
		argv[argc] = NULL;
		c = config_from_args(argc, argv, &errs);
	}
	if (c != NULL) {
		(void)config_uses_acme(c);
		config_free(c);
	}
	config_errors_clear(&errs);
	free(text);
	return 0;
}
