/*
 * config_schema.h - the one description of every configuration key: its
 * JSON path, its flag, its type, bounds, default and documentation. The JSON
 * walker, the flag translator and `tlsgate config-doc` all read these tables,
 * so the flags, the file and docs/config.md cannot disagree.
 *
 * Values reach a struct through one function per type (cfg_apply), whether
 * they came from JSON or from a flag (cfg_from_text turns a flag's text into
 * the JSON value it stands for). Tables are constant; any thread may read.
 */
#ifndef TLSGATE_CONFIG_SCHEMA_H
#define TLSGATE_CONFIG_SCHEMA_H

#include <stddef.h>
#include <stdio.h>

struct cfg_walk;
struct json_t;

enum cfg_type {
	CFG_BOOL,	/* true or false; as a flag, present means true */
	CFG_INT,	/* an integer within [min, max] */
	CFG_SECONDS,	/* a duration in seconds, fractions allowed, in [min, max] */
	CFG_ENUM,	/* one of values[]; stored as base + its index */
	CFG_STRING,	/* a non-empty string */
	CFG_PATH,	/* a file path, relative to the config file's folder */
	CFG_ADDRS,	/* an array of "IP:port" listen addresses */
	CFG_STRINGS,	/* an array of strings, each passing check() */
	CFG_CIDRS,	/* an array of "ADDR" or "ADDR/PREFIX" (struct cidr) */
	CFG_SPECIAL,	/* parsed by special() */
	CFG__MAX
};
extern const char *const cfg_type_names[CFG__MAX];

#define CFG_F_REPEAT	0x01	/* flag may be given many times (lists) */
#define CFG_F_SITE	0x02	/* flag is per site: NAME=VALUE, or NAME for bools */
#define CFG_F_LOWER	0x04	/* strings are lowercased */
#define CFG_F_NONEMPTY	0x08	/* CFG_STRINGS: at least one */

struct cfg_key {
	const char	*key;		/* "limits.idle_timeout"; NULL ends a table */
	const char	*flag;		/* "--idle-timeout", or NULL */
	const char	*flag_arg;	/* placeholder in docs: "S", "ADDR" */
	enum cfg_type	 type;
	size_t		 off, size;	/* the field in struct config or site_cfg */
	size_t		 count_off;	/* lists: the count field */
	double		 min, max;	/* CFG_INT, CFG_SECONDS */
	const char *const *values;	/* CFG_ENUM, or CFG_STRINGS items; NULL-ended;
					   "value|alias" accepts alias too */
	int		 base;		/* CFG_ENUM: stored for values[0] */
	const char	*def;		/* default as a JSON literal, or NULL */
	const char	*def_doc;	/* shown in docs instead of def, or NULL */
	const char	*type_doc;	/* shown in docs instead of the type, or NULL */
	unsigned	 flags;		/* CFG_F_* */
	/* CFG_STRINGS and CFG_CIDRS items, CFG_STRING: extra check; NULL or
	 * a message. */
	const char	*(*check)(const char *);
	/* CFG_STRING: the stored value from the given one (new string). */
	char		*(*conv)(const char *);
	/* CFG_SPECIAL: parse v at path into base. */
	void		 (*special)(struct cfg_walk *, const struct cfg_key *,
			    const char *path, struct json_t *v, void *base);
	const char	*doc;		/* markdown, one paragraph */
};

/* Top-level keys (base: struct config) and keys of sites[] (struct site_cfg). */
extern const struct cfg_key cfg_keys[];
extern const struct cfg_key cfg_site_keys[];
/* Keys of each item of acme.issuers (base: struct acme_issuer_entry). */
extern const struct cfg_key cfg_issuer_keys[];

/* The row for a key or a flag in table, or NULL. */
const struct cfg_key	*cfg_key_find(const struct cfg_key *table, const char *key);
const struct cfg_key	*cfg_flag_find(const struct cfg_key *table, const char *flag);
/* Whether some row of table lies under the object key ("limits"). */
int			 cfg_key_is_object(const struct cfg_key *table, const char *key);

/* Validate v against k and store it in base; errors go to w at path. */
void	cfg_apply(struct cfg_walk *w, const struct cfg_key *k, const char *path,
	    struct json_t *v, void *base);
/* Store every default of table in base (which starts zeroed). */
void	cfg_defaults(struct cfg_walk *w, const struct cfg_key *table, void *base);
/*
 * The JSON value a flag's text stands for (lists split at commas), or NULL
 * with err set, e.g. "not a number: x". A new reference.
 */
struct json_t	*cfg_from_text(const struct cfg_key *k, const char *s, char *err,
		    size_t errlen);
/* A flag's "a,b,c" as a JSON array of strings (empty items kept). New. */
struct json_t	*cfg_list_from_text(const char *s);
/* Free what cfg_apply stored for every row of table in base. */
void	cfg_free_fields(const struct cfg_key *table, void *base);

/*
 * `tlsgate config-doc [keys|flags]`: print the markdown table of the config
 * keys (docs/config.md) or of the flags (docs/cli.md). 0, or -1 if what is
 * unknown.
 */
int	config_schema_doc(FILE *out, const char *what);

#endif
