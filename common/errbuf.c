/* errbuf.c - formatting helpers for struct errbuf. */
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

int
errbuf_set(struct errbuf *eb, const char *fmt, ...)
{
	va_list ap;

	if (eb == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
errbuf_prefix(struct errbuf *eb, const char *fmt, ...)
{
	char	 pre[256], old[sizeof(eb->msg)];
	va_list	 ap;

	if (eb == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, eb->msg, sizeof(old));
	/* Truncation is fine: the message is for people. */
	if (snprintf(eb->msg, sizeof(eb->msg), "%s: %.*s", pre,
	    (int)(sizeof(eb->msg) / 2), old) < 0)
		eb->msg[0] = '\0';
	return -1;
}

int
errbuf_ssl(struct errbuf *eb, const char *what)
{
	char		 reason[256] = "";
	uint32_t	 e;

	/* Keep the first (root-cause) error, drop the rest of the queue. */
	if ((e = ERR_get_error()) != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	if (reason[0] != '\0')
		return errbuf_set(eb, "%s: %s", what, reason);
	return errbuf_set(eb, "%s", what);
}
