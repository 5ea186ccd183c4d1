/*
 * log.h - one line per event on stderr, readable by journald.
 *
 * Each line starts with a "<N>" priority prefix (sd-daemon(3)) that journald
 * parses, or is a JSON object when log_set_json(1) was called. Lines are written
 * with one write(2) so threads never interleave within a line. Never pass key
 * material to these functions; pass values that come from clients through
 * log_field_escape() first.
 *
 * Any thread may log and may change the level or the format at any time.
 * log_set_sink() is for tests, before any other thread logs.
 */
#ifndef TLSGATE_LOG_H
#define TLSGATE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Messages above lvl are dropped. Default: LOG_LVL_INFO. */
void	log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parse "error", "warning", "notice", "info" or "debug"; -1 if unknown. */
int	log_level_parse(const char *s);
void	log_set_json(int on);
int	log_is_json(void);
/* A line that is already one JSON object's members ("k":v,...), escaped by
 * the caller: written as {"level":...,members} in JSON format. Text format
 * callers use log_msg. */
void	log_json_members(enum log_level lvl, const char *members);
/* Tests capture lines with a sink; NULL restores stderr. */
typedef void log_sink_fn(enum log_level, const char *line, void *arg);
void	log_set_sink(log_sink_fn *fn, void *arg);

/*
 * Escape a client-supplied value (SNI, ALPN, an HTTP path or header) for a
 * log field: every byte outside printable ASCII (0x21-0x7e), and '"', '\\'
 * and '=', becomes the four characters \xNN. The result is one token of
 * printable ASCII that cannot end its field, start another or split the line.
 * in is len bytes (NULs allowed). Writes at most cap bytes to out, NUL
 * included, cutting only between whole escapes; LOG_FIELD_CAP(len) never
 * cuts. Returns out. Pure; any thread.
 */
#define LOG_FIELD_CAP(len)	(4 * (len) + 1)
const char *log_field_escape(char *out, size_t cap, const char *in, size_t len);

void	log_msg(enum log_level lvl, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));

#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warnx(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	do { if (log_get_level() >= LOG_LVL_DEBUG) \
	log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
