/*
 * config_schema.c - the key tables and the per-type parse-and-validate
 * functions behind both the JSON file and the flags.
 *
 * A row says where a value lives (offset and size in struct config or
 * struct site_cfg), how it is checked (type, bounds, allowed values) and how
 * it is documented. cfg_apply() is the only code that checks and stores a
 * typed value; the flag translator first turns a flag's text into the JSON
 * value it stands for (cfg_from_text), so `--idle-timeout x` and
 * `"idle_timeout": "x"` meet the same checks and name the same bounds.
 */
#include "config_schema.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "cidr.h"
#include "config_impl.h"
#include "ipname.h"
#include "log.h"
#include "tlsnego.h"
#include "xalloc.h"

const char *const cfg_type_names[CFG__MAX] = {
	"boolean", "integer", "seconds", "one of", "string", "path",
	"array of addresses", "array of strings", "array of IP ranges", "special",
};

static const char *const log_levels[] = { "error|err", "warning|warn", "notice",
    "info", "debug", NULL };
static const char *const log_formats[] = { "text", "json", NULL };
static const char *const balances[] = { "round_robin", "least_conn",
    "source_hash", "p2c", NULL };
static const char *const challenges[] = { "tls-alpn-01", "http-01", "dns-01",
    "dns-persist-01", NULL };
static const char *const store_backends[] = { "file", "etcd", NULL };
static const char *const health_types[] = { "tcp", "http", NULL };
/* In the order of SITE_MODE_* and FWD_* (config.h). */
static const char *const site_modes[] = { "http", "tcp", NULL };
static const char *const fwd_styles[] = { "x-forwarded", "forwarded", "both",
    "none", NULL };

static const char *
check_alpn(const char *s)
{
	size_t n = strlen(s);

	return n == 0 || n > 255 ? "ALPN protocol names are 1-255 bytes" : NULL;
}

static const char *
check_http_path(const char *s)
{
	return s[0] != '/' || strpbrk(s, " \r\n") != NULL ?
	    "expected a path starting with /" : NULL;
}

static const char *
check_cidr(const char *s)
{
	struct cidr c;

	return cidr_parse_why(s, &c);
}

static const char *
check_groups(const char *s)
{
	struct tlsnego_groups g;

	return tlsnego_groups_parse(s, &g);
}

/* ECH's public name: a DNS name, no wildcard (clients put it in the SNI). */
static const char *
check_public_name(const char *s)
{
	char	*l = cfg_lowercase_dup(s);
	int	 bad = l[0] == '*' || !cfg_valid_name(l) || ipname_is(l);

	free(l);
	return bad ? "expected a DNS name (letters, digits, '-' and '.'; no "
	    "wildcard, no IP address)" : NULL;
}

/* An ACME profile name: the CA's directory says which exist (checked when
 * it loads); here only its shape, as it goes into the renewal state. */
static const char *
check_acme_profile(const char *s)
{
	size_t n = strlen(s);

	return n == 0 || n > 63 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n ?
	    "expected a profile name (1-63 letters, digits, '.', '-' or '_')" : NULL;
}

/* The admin endpoint has no authentication: loopback or a unix socket. */
static const char *
check_admin(const char *s)
{
	struct addr	a;
	char		err[256];

	if (strncmp(s, "unix:/", 6) == 0)
		return NULL;
	if (config_parse_addr(s, 0, &a, err, sizeof(err)) == -1)
		return "expected \"127.0.0.1:PORT\", \"[::1]:PORT\" or \"unix:/path\"";
	free(a.str);
	return NULL;
}

#define C(f)	offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define S(f)	offsetof(struct site_cfg, f), sizeof(((struct site_cfg *)0)->f)

const struct cfg_key cfg_keys[] = {
	{ .key = "listen.https", .flag = "--https", .flag_arg = "ADDR",
	  .type = CFG_ADDRS, C(https), .count_off = offsetof(struct config, nhttps),
	  .flags = CFG_F_REPEAT, .def_doc = "required",
	  .doc = "Where TLS is accepted. At least one." },
	{ .key = "listen.http", .flag = "--http", .flag_arg = "ADDR",
	  .type = CFG_ADDRS, C(http), .count_off = offsetof(struct config, nhttp),
	  .flags = CFG_F_REPEAT,
	  .doc = "Plain-HTTP listeners. Every request gets a `308 Permanent "
	  "Redirect` to `https://HOST/PATH?QUERY` (with the first HTTPS port when "
	  "it is not 443). A missing or malformed `Host` gets `400`." },
	{ .key = "workers", .flag = "--workers", .flag_arg = "N", .type = CFG_INT,
	  C(workers), .min = 0, .max = 256, .def = "0",
	  .doc = "Worker threads; 0 is one per online CPU. Each has its own event "
	  "loop and listening sockets." },
	{ .key = "log.level", .flag = "--log-level", .flag_arg = "LEVEL",
	  .type = CFG_ENUM, C(log_level), .values = log_levels, .base = LOG_LVL_ERR,
	  .def = "\"info\"",
	  .doc = "`info` logs one line per connection when it closes." },
	{ .key = "log.format", .flag = "--log-format", .flag_arg = "FORMAT",
	  .type = CFG_ENUM, C(log_json), .values = log_formats, .def = "\"text\"",
	  .doc = "`text` lines start with a `<N>` syslog priority that journald "
	  "understands; `json` writes one object per line (`level`, `msg`)." },
	{ .key = "log.access", .type = CFG_BOOL, C(access_log), .def = "true",
	  .doc = "In mode `http`, one line per request at `info` level: method, "
	  "host, path, status, bytes each way, backend, request id, time to the "
	  "first response byte and total time." },
	{ .key = "limits.max_connections", .flag = "--max-connections",
	  .flag_arg = "N", .type = CFG_INT, C(limits.max_connections), .min = 1,
	  .max = 10000000, .def = "20000",
	  .doc = "Client connections open at once, over all workers. Past it, new "
	  "connections are accepted and reset at once; open ones are unaffected. "
	  "Lowered, with a warning, to what the descriptor limit holds." },
	{ .key = "limits.handshake_timeout", .flag = "--handshake-timeout",
	  .flag_arg = "S", .type = CFG_SECONDS, C(limits.handshake_timeout),
	  .min = 0.01, .max = 86400, .def = "10",
	  .doc = "Time for a client to complete the TLS handshake." },
	{ .key = "limits.connect_timeout", .flag = "--connect-timeout",
	  .flag_arg = "S", .type = CFG_SECONDS, C(limits.connect_timeout),
	  .min = 0.01, .max = 86400, .def = "5",
	  .doc = "Time for the backend to accept the TCP connection." },
	{ .key = "limits.idle_timeout", .flag = "--idle-timeout", .flag_arg = "S",
	  .type = CFG_SECONDS, C(limits.idle_timeout), .min = 0.01, .max = 86400,
	  .def = "300",
	  .doc = "A connection with no bytes in either direction for this long is "
	  "closed." },
	{ .key = "limits.drain_timeout", .flag = "--drain-timeout", .flag_arg = "S",
	  .type = CFG_SECONDS, C(limits.drain_timeout), .min = 0.01, .max = 86400,
	  .def = "30",
	  .doc = "On SIGTERM/SIGINT, how long open connections may finish before "
	  "they are closed." },
	{ .key = "limits.max_connections_per_client",
	  .flag = "--max-connections-per-client", .flag_arg = "N", .type = CFG_INT,
	  C(limits.max_connections_per_client), .min = 0, .max = 10000000,
	  .def_doc = "a twentieth of the connection limit in force, at least 10 "
	  "(1,000 when the default `max_connections` fits the descriptor limit)",
	  .doc = "Connections one client may have open at once. A client is an "
	  "IPv4 address or an IPv6 /64. Past it, its new connections are reset at "
	  "accept, before any TLS work, and counted in /metrics. 0 turns it off." },
	{ .key = "limits.handshake_rate_per_client",
	  .flag = "--handshake-rate-per-client", .flag_arg = "N",
	  .type = CFG_SECONDS, C(limits.handshake_rate_per_client), .min = 0,
	  .max = 10000000, .def = "1000", .type_doc = "number per second",
	  .doc = "New connections (each one a handshake) per second one client "
	  "may open, as a token bucket refilled at this rate. Past it, they are "
	  "reset at accept and counted. 0 turns it off." },
	{ .key = "limits.handshake_burst_per_client", .type = CFG_SECONDS,
	  C(limits.handshake_burst_per_client), .min = 1, .max = 10000000,
	  .def = "2000", .type_doc = "number",
	  .doc = "The bucket's size: how many new connections a client may open "
	  "at once after a quiet spell." },
	{ .key = "limits.header_timeout", .flag = "--header-timeout",
	  .flag_arg = "S", .type = CFG_SECONDS, C(limits.header_timeout),
	  .min = 0.01, .max = 86400, .def = "10",
	  .doc = "Mode `http`: once a client has started a request, the time it "
	  "has to send the whole request head (against slowloris); past it, "
	  "the connection is closed." },
	{ .key = "limits.keepalive_timeout", .flag = "--keepalive-timeout",
	  .flag_arg = "S", .type = CFG_SECONDS, C(limits.keepalive_timeout),
	  .min = 0.01, .max = 86400, .def = "60",
	  .doc = "Mode `http`: a client connection idle between requests is "
	  "closed after this." },
	{ .key = "limits.body_timeout", .flag = "--body-timeout", .flag_arg = "S",
	  .type = CFG_SECONDS, C(limits.body_timeout), .min = 0.01, .max = 86400,
	  .def = "60",
	  .doc = "Mode `http`: a request body that sends nothing for this long "
	  "ends the request with `408`." },
	{ .key = "limits.max_header_size", .flag = "--max-header-size",
	  .flag_arg = "BYTES", .type = CFG_INT, C(limits.max_header_size),
	  .min = 1024, .max = 1048576, .def = "65536",
	  .doc = "Mode `http`: a request head (request line and header fields) "
	  "larger than this gets `431`." },
	{ .key = "limits.max_headers", .flag = "--max-headers", .flag_arg = "N",
	  .type = CFG_INT, C(limits.max_headers), .min = 8, .max = 1000,
	  .def = "100",
	  .doc = "Mode `http`: a request with more header fields gets `431`." },
	{ .key = "limits.max_uri_length", .flag = "--max-uri-length",
	  .flag_arg = "BYTES", .type = CFG_INT, C(limits.max_uri_length),
	  .min = 256, .max = 1048576, .def = "8192",
	  .doc = "Mode `http`: a longer request target gets `414`." },
	{ .key = "limits.h2_max_concurrent_streams",
	  .flag = "--h2-max-concurrent-streams", .flag_arg = "N", .type = CFG_INT,
	  C(limits.h2_max_streams), .min = 1, .max = 1000, .def = "100",
	  .doc = "Mode `http`: HTTP/2 streams a client may have open at once "
	  "(`SETTINGS_MAX_CONCURRENT_STREAMS`)." },
#include "config_schema_tls.inc"
	{ .key = "admin.listen", .flag = "--admin", .flag_arg = "ADDR",
	  .type = CFG_STRING, C(admin), .check = check_admin, .def_doc = "off",
	  .doc = "`127.0.0.1:PORT`, `[::1]:PORT` or `unix:/path` (made mode 0600). "
	  "Anything else is refused: the endpoint has no authentication." },
	{ .key = "expiry.threshold_days", .flag = "--expiry-threshold-days",
	  .flag_arg = "N", .type = CFG_INT, C(expiry_days), .min = 1, .max = 365,
	  .def = "14",
	  .doc = "A certificate in service is \"expiring\" when less than this is "
	  "left, or less than a third of its lifetime for certificates shorter "
	  "than 42 days." },
	{ .key = "expiry.alert_command", .flag = "--expiry-alert-command",
	  .flag_arg = "CMD", .type = CFG_PATH, C(alert_command),
	  .doc = "Run once per certificate as `COMMAND NAME NOT_AFTER` when it "
	  "becomes expiring." },
	{ .key = "expiry.check_interval", .flag = "--expiry-check-interval",
	  .flag_arg = "S", .type = CFG_SECONDS, C(expiry_check), .min = 1,
	  .max = 86400, .def = "60",
	  .doc = "Time between checks; each check logs every expiring certificate "
	  "at error level." },
	{ .key = "user", .flag = "--user", .flag_arg = "NAME", .type = CFG_STRING,
	  C(user),
	  .doc = "Started as root, tlsgate binds every port, hands "
	  "`acme.state_dir` to this user, then switches to it (and to `group`, or "
	  "the user's primary group) for good." },
	{ .key = "group", .flag = "--group", .flag_arg = "NAME", .type = CFG_STRING,
	  C(group), .def_doc = "the user's", .doc = "Group to switch to." },
	{ .key = "allow_root", .flag = "--allow-root", .type = CFG_BOOL,
	  C(allow_root), .def = "false",
	  .doc = "Started as root without `user`, tlsgate refuses to run unless "
	  "this is true." },
#include "config_schema_od.inc"
#include "config_schema_store.inc"
#include "config_schema_rotate.inc"
	{ .key = "acme.directory", .flag = "--acme-directory", .flag_arg = "URL",
	  .type = CFG_STRING, C(acme.directory), .conv = cfg_acme_directory,
	  .def = "\"production\"",
	  .doc = "The CA's directory URL; `production` and `staging` name Let's "
	  "Encrypt's. It must be `https://` (plain `http://` only with the "
	  "test-only environment switch `TLSGATE_ACME_ALLOW_HTTP=1`)." },
	{ .key = "acme.email", .flag = "--acme-email", .flag_arg = "ADDR",
	  .type = CFG_STRING, C(acme.email),
	  .doc = "Contact address for the account." },
	{ .key = "acme.state_dir", .flag = "--state-dir", .flag_arg = "DIR",
	  .type = CFG_PATH, C(acme.state_dir), .def = "\"/var/lib/tlsgate\"",
	  .doc = "Where accounts, keys, certificates and their metadata are kept "
	  "(folders 0700, keys 0600)." },
	{ .key = "acme.ca_bundle", .flag = "--acme-ca", .flag_arg = "FILE",
	  .type = CFG_PATH, C(acme.ca_file), .def_doc = "system store",
	  .doc = "Extra PEM CA bundle to trust the ACME server itself (a private "
	  "CA, Pebble in tests)." },
	{ .key = "acme.eab_kid", .flag = "--acme-eab-kid", .flag_arg = "KID",
	  .type = CFG_STRING, C(acme.eab_kid),
	  .doc = "External Account Binding key id, for CAs that require it. Give "
	  "both `eab_kid` and `eab_hmac_key`, or neither." },
	{ .key = "acme.eab_hmac_key", .flag = "--acme-eab-hmac-key",
	  .flag_arg = "KEY", .type = CFG_STRING, C(acme.eab_hmac),
	  .doc = "External Account Binding HMAC key, base64url." },
	{ .key = "acme.dns_hook", .flag = "--acme-dns-hook", .flag_arg = "CMD",
	  .type = CFG_PATH, C(acme.dns_hook),
	  .doc = "Command for `dns-01` (needed by any site that uses it): run as "
	  "`HOOK set _acme-challenge.NAME VALUE` before validation and `HOOK "
	  "clear _acme-challenge.NAME VALUE` after; exit 0 on success. It must "
	  "make the TXT record visible to the CA before it exits. For "
	  "`dns-persist-01` it is run once per record as `HOOK set-persist "
	  "_validation-persist.NAME VALUE` (never cleared; optional: without it, "
	  "the record is published by hand)." },
	{ .key = "acme.preferred_chain", .flag = "--acme-preferred-chain",
	  .flag_arg = "CN", .type = CFG_STRING, C(acme.preferred_chain),
	  .doc = "Issuer common name of the root to prefer among the chains the CA "
	  "offers (`Link: rel=\"alternate\"`), e.g. `ISRG Root X1`. Falls back to "
	  "the default chain." },
	{ .key = "acme.retry_base", .flag = "--acme-retry-base", .flag_arg = "S",
	  .type = CFG_INT, C(acme.retry_base), .min = 1, .max = 3600,
	  .def_doc = "`60`",
	  .doc = "First back-off step in seconds; failed attempts wait 1, 10, 100, "
	  "then 1440 times this. A longer `Retry-After` from the CA wins." },
	{ .key = "acme.max_concurrent_orders", .flag = "--acme-max-orders",
	  .flag_arg = "N", .type = CFG_INT, C(acme.max_concurrent_orders), .min = 1,
	  .max = 1000, .def_doc = "`8`",
	  .doc = "Orders in flight at once, across all sites. Due certificates "
	  "beyond this wait in a queue, those a handshake waits for (on-demand) "
	  "ahead of renewals. All requests to the CA share a few connections "
	  "(HTTP/2 when the CA offers it)." },
	{ .key = "acme.profile", .flag = "--acme-profile", .flag_arg = "NAME",
	  .type = CFG_STRING, C(acme.profile), .check = check_acme_profile,
	  .def_doc = "the CA's default",
	  .doc = "ACME profile to order under, for every site that names none "
	  "(on-demand names included), e.g. Let's Encrypt's `classic`, "
	  "`tlsserver` or `shortlived`. It must be one the CA's directory lists: "
	  "an unknown name is logged as an error when the directory loads and "
	  "the sites using it order nothing (they keep serving what they have). "
	  "See \"Profiles\" in `docs/acme.md`." },
#include "config_schema_issuers.inc"
	{ .key = "http.trusted_proxies", .flag = "--trusted-proxy",
	  .flag_arg = "CIDR", .type = CFG_CIDRS, C(trusted_proxies),
	  .count_off = offsetof(struct config, ntrusted_proxies),
	  .check = check_cidr, .flags = CFG_F_REPEAT,
	  .doc = "Mode `http`: clients in these ranges (`\"10.0.0.0/8\"`, "
	  "`\"::1/128\"`, or one address) are proxies whose `X-Forwarded-*` and "
	  "`Forwarded` headers are kept and appended to; from any other client "
	  "they are removed. A range with bits set past its prefix is refused. "
	  "An IPv4-mapped IPv6 peer matches IPv4 ranges." },
	{ .key = "sites", .flag = "--site", .flag_arg = "NAMES=BACKENDS",
	  .type = CFG_SPECIAL, .flags = CFG_F_REPEAT, .def_doc = "required",
	  .type_doc = "array of sites",
	  .doc = "The sites; see the next table. As a flag, "
	  "`NAME[,NAME...]=HOST:PORT[,HOST:PORT...]`." },
	{ .key = NULL }
};

const struct cfg_key cfg_site_keys[] = {
	{ .key = "names", .type = CFG_SPECIAL, .special = cfg_site_names,
	  .def_doc = "required", .type_doc = "array of DNS names or IP addresses",
	  .doc = "Lowercase letters, digits, `-` and `.`; `*.example.com` matches "
	  "exactly one label. A name may appear once in the whole config. An IP "
	  "address (kept in RFC 5952 form) gets an IP certificate, served to "
	  "clients without SNI that connect to it (\"IP-address certificates\" "
	  "in `docs/acme.md`)." },
	{ .key = "backends", .type = CFG_SPECIAL, .special = cfg_site_backends,
	  .def_doc = "required", .type_doc = "array of `\"host:port\"` or "
	  "`{\"address\", \"weight\": 1-256}`",
	  .doc = "The site's pool. Host names are resolved at start and on reload. "
	  "A backend removed by a reload gets no new connections; its open ones "
	  "finish." },
	{ .key = "mode", .flag = "--mode", .flag_arg = "NAME=MODE",
	  .type = CFG_ENUM, S(mode), .values = site_modes, .flags = CFG_F_SITE,
	  .def = "\"http\"",
	  .def_doc = "`http`; `tcp` when `proxy_protocol` is set",
	  .doc = "`http`: tlsgate speaks HTTP/2 and HTTP/1.1 to clients and "
	  "HTTP/1.1 over pooled keep-alive connections to the backends, adding "
	  "`X-Forwarded-For` and the like. `tcp`: the decrypted bytes are relayed "
	  "as they are, one backend connection per client connection. See "
	  "\"HTTP mode and TCP mode\" below." },
	{ .key = "certificates", .flag = "--cert", .flag_arg = "NAME=CERT,KEY",
	  .type = CFG_SPECIAL, .special = cfg_site_certs,
	  .flags = CFG_F_SITE | CFG_F_REPEAT, .def_doc = "required unless `acme`",
	  .type_doc = "array of 1 or 2 `{\"cert\", \"key\"}`",
	  .doc = "PEM files: `cert` holds the leaf first, then the intermediates; "
	  "`key` the private key (EC P-256/P-384 or RSA >= 2048). One ECDSA and one "
	  "RSA certificate serve both kinds of client. Each is validated in full "
	  "(chain, dates, every name of the site, serverAuth, not a CA; see "
	  "acme.md); a file that fails stops the start or the reload, naming the "
	  "site, the file and the reason. Sites that name the same files (a "
	  "wildcard for many sites) share one copy: it is read and its chain "
	  "checked once per start or reload, and only each site's names are "
	  "checked against it (100,000 sites on one wildcard load in about 2 s)." },
	{ .key = "alpn", .flag = "--alpn", .flag_arg = "NAME=PROTO[,PROTO]",
	  .type = CFG_STRINGS, S(alpn), .count_off = offsetof(struct site_cfg, nalpn),
	  .check = check_alpn, .flags = CFG_F_SITE,
	  .doc = "Mode `tcp` only: ALPN protocols offered, in server preference "
	  "order, e.g. `[\"h2\", \"http/1.1\"]`. Without it, no protocol is "
	  "acknowledged. In mode `http`, tlsgate offers `h2` and `http/1.1` "
	  "itself (see `http.h2`)." },
	{ .key = "default", .flag = "--default", .flag_arg = "NAME",
	  .type = CFG_BOOL, S(is_default), .flags = CFG_F_SITE, .def = "false",
	  .doc = "The site for clients that send no SNI or an unknown name. At most "
	  "one." },
	{ .key = "acme", .flag = "--acme", .flag_arg = "NAME[,NAME]",
	  .type = CFG_SPECIAL, .special = cfg_site_acme, .flags = CFG_F_SITE,
	  .def_doc = "off", .type_doc = "`true`, or an object",
	  .doc = "The site's certificates come from the ACME CA (see "
	  "`docs/acme.md`). The store folder is named after the site's first "
	  "name." },
	{ .key = "acme.challenges", .flag = "--acme-challenges",
	  .flag_arg = "NAME=TYPE[,TYPE]", .type = CFG_STRINGS, S(challenges),
	  .count_off = offsetof(struct site_cfg, nchallenges), .values = challenges,
	  .flags = CFG_F_SITE | CFG_F_LOWER | CFG_F_NONEMPTY,
	  .def_doc = "`tls-alpn-01`, `http-01`; `dns-01` with a wildcard name",
	  .doc = "Challenge types to try, in order. A site with a wildcard name "
	  "needs `dns-01` or `dns-persist-01`, and `dns-01` needs "
	  "`acme.dns_hook`. `dns-persist-01` validates against a standing TXT "
	  "record `_validation-persist.NAME` (see `tlsgate persist-record` and "
	  "`docs/acme.md`); an IP address takes neither DNS type." },
	{ .key = "acme.rsa", .flag = "--acme-rsa", .flag_arg = "NAME",
	  .type = CFG_BOOL, S(acme_rsa), .flags = CFG_F_SITE, .def = "false",
	  .doc = "Also obtain an RSA-2048 certificate beside the ECDSA P-256 one." },
	{ .key = "acme.profile", .type = CFG_STRING, S(acme_profile),
	  .check = check_acme_profile, .def_doc = "`acme.profile`",
	  .doc = "The site's ACME profile, instead of the global `acme.profile`. "
	  "A change takes effect at the next order (renewals ask for the "
	  "configured profile). In `on_demand.site`: the profile of on-demand names." },
	{ .key = "balance", .flag = "--balance", .flag_arg = "NAME=POLICY",
	  .type = CFG_ENUM, S(balance), .values = balances, .flags = CFG_F_SITE,
	  .def = "\"round_robin\"",
	  .doc = "How a backend is chosen: smooth weighted round robin; fewest open "
	  "connections per weight; the client IP by weighted rendezvous hashing; "
	  "or the better of two random backends." },
	{ .key = "retries", .flag = "--retries", .flag_arg = "NAME=N",
	  .type = CFG_INT, S(retries), .min = 0, .max = 16, .flags = CFG_F_SITE,
	  .def = "2",
	  .doc = "When a connect fails, how many other backends to try before "
	  "giving up on the client." },
	{ .key = "proxy_protocol", .flag = "--proxy-protocol", .flag_arg = "NAME=V",
	  .type = CFG_INT, S(proxy_protocol), .min = 0, .max = 2,
	  .flags = CFG_F_SITE, .def = "0",
	  .doc = "Send a PROXY protocol header to the backend: 0 off, version 1 "
	  "(text) or 2 (binary, with the SNI, the ALPN and the TLS version). "
	  "Mode `tcp` only; a site with it and no `mode` is `tcp`." },
	{ .key = "http.forwarded", .flag = "--forwarded", .flag_arg = "NAME=STYLE",
	  .type = CFG_ENUM, S(forwarded), .values = fwd_styles,
	  .flags = CFG_F_SITE, .def = "\"x-forwarded\"",
	  .doc = "Headers that tell the backend who the client is: "
	  "`X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`; RFC "
	  "7239 `Forwarded`; both; or none. Copies sent by a client outside "
	  "`http.trusted_proxies` are removed either way." },
	{ .key = "http.h2", .type = CFG_BOOL, S(h2), .def = "true",
	  .doc = "Offer HTTP/2 (`h2`) in ALPN beside `http/1.1`." },
	{ .key = "http.max_body_size", .flag = "--max-body-size",
	  .flag_arg = "NAME=BYTES", .type = CFG_INT, S(max_body_size), .min = 0,
	  .max = 1099511627776.0, .flags = CFG_F_SITE, .def = "0",
	  .doc = "Largest request body in bytes (1 TiB at most); a larger one gets "
	  "`413`. 0: no limit." },
	{ .key = "http.backend_max_idle", .type = CFG_INT, S(backend_max_idle),
	  .min = 0, .max = 10000, .def = "32",
	  .doc = "Idle keep-alive connections kept per backend by each worker "
	  "thread, for reuse by any client. After a burst, up to 16 times as "
	  "many stay idle for a second, so a steady load with more requests in "
	  "flight is not a new connection per request. 0: a new backend "
	  "connection per request." },
	{ .key = "http.backend_idle_timeout", .type = CFG_SECONDS,
	  S(backend_idle_timeout), .min = 0.1, .max = 3600, .def = "60",
	  .doc = "An idle pooled backend connection is closed after this." },
	{ .key = "http.backend_timeout", .flag = "--backend-timeout",
	  .flag_arg = "NAME=S", .type = CFG_SECONDS, S(backend_timeout),
	  .min = 0.01, .max = 86400, .flags = CFG_F_SITE, .def = "60",
	  .doc = "Time the backend has to start its response once the request "
	  "is sent; past it, `504`." },
#include "config_schema_ws.inc"
#include "config_schema_h2up.inc"
	{ .key = "hsts.max_age", .flag = "--hsts", .flag_arg = "NAME=SECONDS",
	  .type = CFG_INT, S(hsts_max_age), .min = 0, .max = 2147483647.0,
	  .flags = CFG_F_SITE, .def = "0",
	  .doc = "Send `Strict-Transport-Security: max-age=N` on every response. "
	  "0: no header." },
	{ .key = "hsts.include_subdomains", .type = CFG_BOOL,
	  S(hsts_subdomains), .def = "false",
	  .doc = "Add `includeSubDomains`." },
	{ .key = "hsts.preload", .type = CFG_BOOL, S(hsts_preload),
	  .def = "false",
	  .doc = "Add `preload`. Needs `max_age` of at least 31536000 (a year) and "
	  "`include_subdomains`, as hstspreload.org requires." },
	{ .key = "health.type", .type = CFG_ENUM, S(health.type),
	  .values = health_types, .base = 1,
	  .def_doc = "required in `health`; no checks without `health`",
	  .doc = "`tcp`: a connect must succeed. `http`: `GET path` with `Host:` "
	  "the site's first name must answer 2xx or 3xx." },
	{ .key = "health.path", .type = CFG_STRING, S(health.path),
	  .check = check_http_path, .def_doc = "`/`",
	  .doc = "For `http` checks." },
	{ .key = "health.interval", .type = CFG_SECONDS, S(health.interval),
	  .min = 0.1, .max = 3600, .def = "2", .doc = "Time between checks." },
	{ .key = "health.timeout", .type = CFG_SECONDS, S(health.timeout),
	  .min = 0.05, .max = 600, .def = "1", .doc = "Time per check." },
	{ .key = "health.rise", .type = CFG_INT, S(health.rise), .min = 1,
	  .max = 100, .def = "2",
	  .doc = "Good checks in a row that bring a backend up." },
	{ .key = "health.fall", .type = CFG_INT, S(health.fall), .min = 1,
	  .max = 100, .def = "3",
	  .doc = "Bad checks (or connect failures) in a row that take it down." },
#include "config_schema_routes.inc"
	{ .key = "backend_tls.ca", .type = CFG_PATH, S(btls.ca),
	  .def_doc = "system store",
	  .doc = "Re-encrypt to the backends with TLS (any `backend_tls` key turns "
	  "it on), verifying them against this CA bundle." },
	{ .key = "backend_tls.server_name", .type = CFG_STRING,
	  S(btls.server_name),
	  .doc = "SNI sent to the backends, and the name verified." },
	{ .key = "backend_tls.verify", .type = CFG_BOOL, S(btls.verify),
	  .def = "true", .doc = "Verify the backends' certificates." },
	{ .key = "backend_tls.cert", .type = CFG_PATH, S(btls.cert),
	  .doc = "Client certificate for the backends; give `key` with it." },
	{ .key = "backend_tls.key", .type = CFG_PATH, S(btls.key),
	  .doc = "Its private key." },
	{ .key = NULL }
};

#undef C
#undef S

const struct cfg_key *
cfg_key_find(const struct cfg_key *t, const char *key)
{
	for (; t->key != NULL; t++)
		if (strcmp(t->key, key) == 0)
			return t;
	return NULL;
}

const struct cfg_key *
cfg_flag_find(const struct cfg_key *t, const char *flag)
{
	for (; t->key != NULL; t++)
		if (t->flag != NULL && strcmp(t->flag, flag) == 0)
			return t;
	return NULL;
}

int
cfg_key_is_object(const struct cfg_key *t, const char *key)
{
	size_t n = strlen(key);

	for (; t->key != NULL; t++)
		if (strncmp(t->key, key, n) == 0 && t->key[n] == '.')
			return 1;
	return 0;
}

/* values[i] matches s: "value" or "value|alias". */
static int
enum_match(const char *v, const char *s)
{
	size_t n = strlen(s);

	while (*v) {
		const char *bar = strchr(v, '|');
		size_t l = bar ? (size_t)(bar - v) : strlen(v);
		if (l == n && strncasecmp(v, s, n) == 0)
			return 1;
		v += l + (bar != NULL);
	}
	return 0;
}

static int
enum_index(const struct cfg_key *k, const char *s)
{
	for (int i = 0; k->values[i] != NULL; i++)
		if (enum_match(k->values[i], s))
			return i;
	return -1;
}

/* "a, b or c" from values (aliases left out), into buf. */
static const char *
enum_list(const struct cfg_key *k, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; k->values[i] != NULL && n < cap; i++) {
		const char *v = k->values[i], *bar = strchr(v, '|');
		n += (size_t)snprintf(buf + n, cap - n, "%s%.*s",
		    i == 0 ? "" : k->values[i + 1] == NULL ? " or " : ", ",
		    (int)(bar ? (size_t)(bar - v) : strlen(v)), v);
	}
	return buf;
}

static void
store_str(void *base, const struct cfg_key *k, char *s)
{
	char **dst = (char **)((char *)base + k->off);

	free(*dst);
	*dst = s;
}

/* A JSON value shown in a message: as written, strings quoted, cut at 60. */
static const char *
shown(json_t *v, char *buf, size_t cap)
{
	char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

	if (d == NULL)
		snprintf(buf, cap, "?");
	else if (strlen(d) > 60)
		snprintf(buf, cap, "%.60s...", d);
	else
		snprintf(buf, cap, "%s", d);
	free(d);
	return buf;
}

static char **
strings(struct cfg_walk *w, const struct cfg_key *k, const char *path, json_t *v,
    size_t *n)
{
	char	**out, sub[600], lst[200];
	size_t	  i;
	json_t	 *e;

	*n = 0;
	if (!json_is_array(v)) {
		cfg_err(w, path, "expected an array of strings");
		return NULL;
	}
	out = xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e), *why = NULL;

		snprintf(sub, sizeof(sub), "%s/%zu", path, i);
		if (s == NULL) {
			cfg_err(w, sub, "expected a string");
			continue;
		}
		if (k->values != NULL && enum_index(k, s) < 0)
			why = "";
		else if (k->check != NULL)
			why = k->check(s);
		if (why != NULL) {
			if (why[0] == '\0')
				cfg_err(w, sub, "expected %s (got \"%s\")",
				    enum_list(k, lst, sizeof(lst)), s);
			else
				cfg_err(w, sub, "%s (got \"%s\")", why, s);
			continue;
		}
		out[(*n)++] = k->flags & CFG_F_LOWER ? cfg_lowercase_dup(s) :
		    xstrdup(s);
	}
	return out;
}

void
cfg_apply(struct cfg_walk *w, const struct cfg_key *k, const char *path, json_t *v,
    void *base)
{
	char		 buf[80], lst[200];
	void		*field = (char *)base + k->off;
	const char	*s, *why;
	double		 d;
	int		 i;

	switch (k->type) {
	case CFG_BOOL:
		if (!json_is_boolean(v)) {
			cfg_err(w, path, "expected true or false (got %s)",
			    shown(v, buf, sizeof(buf)));
			return;
		}
		*(int *)field = json_is_true(v);
		return;
	case CFG_INT:
		if (!json_is_integer(v)) {
			cfg_err(w, path, "expected an integer %.0f-%.0f (got %s)", k->min,
			    k->max, shown(v, buf, sizeof(buf)));
			return;
		}
		if ((double)json_integer_value(v) < k->min ||
		    (double)json_integer_value(v) > k->max) {
			cfg_err(w, path, "must be between %.0f and %.0f (got %s)", k->min,
			    k->max, shown(v, buf, sizeof(buf)));
			return;
		}
		/* int, unsigned, long or long long fields, by size. */
		if (k->size == sizeof(long long)) {
			long long ll = json_integer_value(v);
			memcpy(field, &ll, sizeof(ll));
		} else if (k->size == sizeof(long))
			*(long *)field = (long)json_integer_value(v);
		else
			*(int *)field = (int)json_integer_value(v);
		return;
	case CFG_SECONDS:
		if (!json_is_number(v)) {
			cfg_err(w, path, "expected a number of seconds (got %s)",
			    shown(v, buf, sizeof(buf)));
			return;
		}
		d = json_number_value(v);
		if (!(d >= k->min && d <= k->max)) {
			cfg_err(w, path, "must be between %g and %g (got %s)", k->min,
			    k->max, shown(v, buf, sizeof(buf)));
			return;
		}
		if (k->size == sizeof(double))
			*(double *)field = d;
		else
			*(unsigned *)field = (unsigned)d;
		return;
	case CFG_ENUM:
		if ((s = json_string_value(v)) == NULL || (i = enum_index(k, s)) < 0) {
			cfg_err(w, path, "expected %s (got %s)",
			    enum_list(k, lst, sizeof(lst)), shown(v, buf, sizeof(buf)));
			return;
		}
		*(int *)field = k->base + i;
		return;
	case CFG_STRING:
	case CFG_PATH:
		if ((s = json_string_value(v)) == NULL || s[0] == '\0') {
			cfg_err(w, path, "expected a non-empty string (got %s)",
			    shown(v, buf, sizeof(buf)));
			return;
		}
		if (k->check != NULL && (why = k->check(s)) != NULL) {
			cfg_err(w, path, "%s (got \"%s\")", why, s);
			return;
		}
		store_str(base, k, k->type == CFG_PATH ? cfg_abs_path(w, s) :
		    k->conv != NULL ? k->conv(s) : xstrdup(s));
		return;
	case CFG_ADDRS: {
		struct addr	**out = field;
		size_t		 *nout = (size_t *)((char *)base + k->count_off);
		char		**strs, sub[600], err[256];
		size_t		  n;

		if ((strs = strings(w, k, path, v, &n)) == NULL)
			return;
		*out = xcalloc(n + 1, sizeof(struct addr));
		*nout = 0;
		for (size_t j = 0; j < n; j++) {
			if (config_parse_addr(strs[j], 0, &(*out)[*nout], err,
			    sizeof(err)) == -1) {
				snprintf(sub, sizeof(sub), "%s/%zu", path, j);
				cfg_err(w, sub, "%s", err);
				continue;
			}
			(*nout)++;
		}
		cfg_free_strs(strs, n);
		return;
	}
	case CFG_STRINGS: {
		char	***out = field;
		size_t	  *nout = (size_t *)((char *)base + k->count_off);
		char	 **l;
		size_t	   n;

		if ((l = strings(w, k, path, v, &n)) == NULL)
			return;
		cfg_free_strs(*out, *nout);
		*out = l;
		*nout = n;
		if (n == 0 && json_array_size(v) == 0 && (k->flags & CFG_F_NONEMPTY))
			cfg_err(w, path, "at least one is needed");
		return;
	}
	case CFG_CIDRS: {
		struct cidr	**out = field;
		size_t		 *nout = (size_t *)((char *)base + k->count_off);
		char		**strs;
		size_t		  n;

		/* strings() has reported each bad item through k->check. */
		if ((strs = strings(w, k, path, v, &n)) == NULL)
			return;
		free(*out);
		*out = xcalloc(n + 1, sizeof(struct cidr));
		*nout = 0;
		for (size_t j = 0; j < n; j++)
			if (cidr_parse(strs[j], &(*out)[*nout]) == 0)
				(*nout)++;
		cfg_free_strs(strs, n);
		return;
	}
	case CFG_SPECIAL:
		if (k->special != NULL)
			k->special(w, k, path, v, base);
		return;
	case CFG__MAX:
		break;
	}
}

void
cfg_defaults(struct cfg_walk *w, const struct cfg_key *t, void *base)
{
	for (; t->key != NULL; t++) {
		json_t		*v;
		json_error_t	 jerr;

		if (t->def == NULL)
			continue;
		v = json_loads(t->def, JSON_DECODE_ANY, &jerr);
		cfg_apply(w, t, "", v, base);
		json_decref(v);
	}
}

json_t *
cfg_list_from_text(const char *s)
{
	json_t *a = json_array();

	/* "a,b,c"; an empty item stays, so that it is reported. */
	for (;;) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		json_array_append_new(a, json_stringn(s, n));
		if (c == NULL)
			return a;
		s = c + 1;
	}
}

json_t *
cfg_from_text(const struct cfg_key *k, const char *s, char *err, size_t errlen)
{
	char	*end;

	switch (k->type) {
	case CFG_BOOL:
		if (s == NULL || strcmp(s, "true") == 0)
			return json_true();
		if (strcmp(s, "false") == 0)
			return json_false();
		snprintf(err, errlen, "expected true or false: %s", s);
		return NULL;
	case CFG_INT: {
		long long ll;

		errno = 0;
		ll = strtoll(s, &end, 10);
		if (s[0] == '\0' || *end != '\0' || errno != 0) {
			if (end != s && *end == '.')
				snprintf(err, errlen, "not a whole number: %s", s);
			else
				snprintf(err, errlen, "not a number: %s", s);
			return NULL;
		}
		return json_integer(ll);
	}
	case CFG_SECONDS: {
		double d;

		errno = 0;
		d = strtod(s, &end);
		if (s[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(d)) {
			snprintf(err, errlen, "not a number: %s", s);
			return NULL;
		}
		return json_real(d);
	}
	case CFG_ADDRS:
	case CFG_STRINGS:
	case CFG_CIDRS:
		return cfg_list_from_text(s);
	default:
		return json_string(s);
	}
}

void
cfg_free_fields(const struct cfg_key *t, void *base)
{
	for (; t->key != NULL; t++) {
		void *field = (char *)base + t->off;

		switch (t->type) {
		case CFG_STRING:
		case CFG_PATH:
			free(*(char **)field);
			break;
		case CFG_STRINGS:
			cfg_free_strs(*(char ***)field,
			    *(size_t *)((char *)base + t->count_off));
			break;
		case CFG_CIDRS:
			free(*(struct cidr **)field);
			break;
		case CFG_ADDRS: {
			struct addr *a = *(struct addr **)field;
			size_t n = *(size_t *)((char *)base + t->count_off);
			for (size_t i = 0; i < n; i++)
				free(a[i].str);
			free(a);
			break;
		}
		default:
			break;
		}
	}
}

/* Markdown: a cell never holds a raw '|'. */
static void
cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else
			fputc(*s, out);
	}
}

static void
doc_type(FILE *out, const struct cfg_key *k)
{
	if (k->type_doc != NULL) {
		cell(out, k->type_doc);
		return;
	}
	switch (k->type) {
	case CFG_INT:
		fprintf(out, "integer %.0f-%.0f", k->min, k->max);
		break;
	case CFG_SECONDS:
		fprintf(out, "seconds, %g-%g", k->min, k->max);
		break;
	case CFG_ENUM:
	case CFG_STRINGS:
		if (k->values == NULL) {
			fputs(cfg_type_names[k->type], out);
			break;
		}
		fputs(k->type == CFG_ENUM ? "" : "array of ", out);
		for (int i = 0; k->values[i] != NULL; i++) {
			const char *v = k->values[i], *bar = strchr(v, '|');
			fprintf(out, "%s`%.*s`", i ? ", " : "",
			    (int)(bar ? (size_t)(bar - v) : strlen(v)), v);
		}
		break;
	default:
		fputs(cfg_type_names[k->type], out);
	}
}

static void
doc_default(FILE *out, const struct cfg_key *k)
{
	if (k->def_doc != NULL)
		cell(out, k->def_doc);
	else if (k->def == NULL)
		fputs("none", out);
	else if (k->def[0] == '"')
		fprintf(out, "`%.*s`", (int)strlen(k->def) - 2, k->def + 1);
	else
		fprintf(out, "`%s`", k->def);
}

static void
doc_flag(FILE *out, const struct cfg_key *k)
{
	if (k->flag == NULL) {
		fputs("-", out);
		return;
	}
	fprintf(out, "`%s%s", k->flag, k->flag_arg ? " " : "");
	if (k->flag_arg)
		cell(out, k->flag_arg);
	fputs("`", out);
}

static void
doc_keys(FILE *out, const struct cfg_key *t, const char *prefix)
{
	fputs("| key | type | default | flag | meaning |\n|---|---|---|---|---|\n",
	    out);
	for (; t->key != NULL; t++) {
		fprintf(out, "| `%s%s` | ", prefix, t->key);
		doc_type(out, t);
		fputs(" | ", out);
		doc_default(out, t);
		fputs(" | ", out);
		doc_flag(out, t);
		fputs(" | ", out);
		cell(out, t->doc);
		fputs(" |\n", out);
	}
}

static void
doc_flags(FILE *out, const struct cfg_key *t, const char *prefix)
{
	for (; t->key != NULL; t++) {
		if (t->flag == NULL)
			continue;
		fputs("| ", out);
		doc_flag(out, t);
		fprintf(out, " | %s | `%s%s` |\n",
		    t->flags & CFG_F_REPEAT ? "yes" : t->flags & CFG_F_SITE ?
		    "once per site" : "no", prefix, t->key);
	}
}

int
config_schema_doc(FILE *out, const char *what)
{
	if (strcmp(what, "keys") == 0) {
		doc_keys(out, cfg_keys, "");
		fputs("\nKeys of each site, in `sites[]`:\n\n", out);
		doc_keys(out, cfg_site_keys, "");
		fputs("\nKeys of each issuer, in `acme.issuers[]`:\n\n", out);
		doc_keys(out, cfg_issuer_keys, "");
		return 0;
	}
	if (strcmp(what, "flags") == 0) {
		fputs("| flag | repeatable | config key |\n|---|---|---|\n", out);
		doc_flags(out, cfg_keys, "");
		doc_flags(out, cfg_site_keys, "sites[].");
		return 0;
	}
	return -1;
}
