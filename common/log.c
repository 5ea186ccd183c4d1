/*
 * log.c - the logging module. The level is an atomic so that workers read it
 * without a lock; the sink is set once at start (or by tests) before threads run.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static atomic_int	 log_level = LOG_LVL_INFO;
static int		 log_json;
static log_sink_fn	*log_sink;
static void		*log_sink_arg;

static const char *const log_names[8] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
};

void
log_set_level(enum log_level lvl)
{
	atomic_store(&log_level, (int)lvl);
}

enum log_level
log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int
log_level_parse(const char *s)
{
	for (int i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++)
		if (strcasecmp(s, log_names[i]) == 0)
			return i;
	if (strcasecmp(s, "warn") == 0)
		return LOG_LVL_WARN;
	if (strcasecmp(s, "err") == 0)
		return LOG_LVL_ERR;
	return -1;
}

void
log_set_json(int on)
{
	log_json = on;
}

void
log_set_sink(log_sink_fn *fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

/* Append s to buf as the inside of a JSON string. */
static size_t
json_escape(char *buf, size_t off, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s != '\0' && off + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			buf[off++] = '\\';
			buf[off++] = (char)ch;
		} else if (ch < 0x20) {
			memcpy(buf + off, "\\u00", 4);
			buf[off + 4] = hex[ch >> 4];
			buf[off + 5] = hex[ch & 15];
			off += 6;
		} else
			buf[off++] = (char)ch;
	}
	return off;
}

void
log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char	 msg[2048], line[4200];
	size_t	 len;
	int	 n;

	if ((int)lvl > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	/* Control characters from peers (SNI, headers) must not forge lines. */
	for (char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = '?';
	if (log_sink != NULL) {
		log_sink(lvl, msg, log_sink_arg);
		return;
	}
	if (log_json) {
		len = (size_t)snprintf(line, sizeof(line),
		    "{\"level\":\"%s\",\"msg\":\"", log_names[lvl & 7]);
		len = json_escape(line, len, sizeof(line) - 3, msg);
		memcpy(line + len, "\"}\n", 3);
		len += 3;
	} else {
		len = (size_t)snprintf(line, sizeof(line), "<%d>%s\n", (int)lvl, msg);
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
	}
	/* One write per line: concurrent workers never interleave. */
	(void)!write(STDERR_FILENO, line, len);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}
