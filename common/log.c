/*
 * log.c - the logging module. The level and the format are atomics, so that
 * workers read them without a lock while a reload changes them; the sink is
 * set once at start (or by tests) before threads run.
 *
 * Nothing a client sends can make one record look like two, or forge a field:
 * control characters anywhere in a message become '?', fields that carry
 * client bytes are escaped by log_field_escape(), and the JSON format writes
 * valid UTF-8 only (a byte that is not part of a valid UTF-8 sequence is
 * written as the text \xNN, as in the text format).
 */
#include "log.h"

#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static atomic_int	 log_level = LOG_LVL_INFO;
static atomic_int	 log_json;
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
	atomic_store(&log_json, on != 0);
}

void
log_set_sink(log_sink_fn *fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

const char *
log_field_escape(char *out, size_t cap, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t off = 0;

	if (cap == 0)
		return out;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\' && ch != '=') {
			if (off + 1 >= cap)
				break;
			out[off++] = (char)ch;
		} else {
			if (off + 4 >= cap)
				break;
			out[off++] = '\\';
			out[off++] = 'x';
			out[off++] = hex[ch >> 4];
			out[off++] = hex[ch & 15];
		}
	}
	out[off] = '\0';
	return out;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if there is none. */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Append s to buf as the inside of a JSON string: valid UTF-8 only. */
static size_t
json_escape(char *buf, size_t off, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p != '\0' && off + 7 < cap) {
		unsigned char ch = *p;
		if (ch == '"' || ch == '\\') {
			buf[off++] = '\\';
			buf[off++] = (char)ch;
			p++;
		} else if (ch < 0x20 || ch == 0x7f) {
			memcpy(buf + off, "\\u00", 4);
			buf[off + 4] = hex[ch >> 4];
			buf[off + 5] = hex[ch & 15];
			off += 6;
			p++;
		} else if ((n = utf8_len(p)) == 0) {
			/* Not UTF-8: the text \xNN, as the text format shows it. */
			memcpy(buf + off, "\\\\x", 3);
			buf[off + 3] = hex[ch >> 4];
			buf[off + 4] = hex[ch & 15];
			off += 5;
			p++;
		} else {
			memcpy(buf + off, p, n);
			off += n;
			p += n;
		}
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
	if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
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

int
log_is_json(void)
{
	return atomic_load_explicit(&log_json, memory_order_relaxed);
}

void
log_json_members(enum log_level lvl, const char *members)
{
	char	*line;
	size_t	 len = strlen(members);
	int	 n;

	if ((int)lvl > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	if (log_sink != NULL) {
		log_sink(lvl, members, log_sink_arg);
		return;
	}
	if ((line = malloc(len + 40)) == NULL)
		return;
	n = snprintf(line, len + 40, "{\"level\":\"%s\",%s}\n", log_names[lvl & 7],
	    members);
	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n);
	free(line);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}
