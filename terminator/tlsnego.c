/* tlsnego.c - the server's choice of key-exchange group and TLS 1.3 suite. */
#include "tlsnego.h"

#include <string.h>
#include <strings.h>

#include <openssl/bytestring.h>
#include <openssl/cpu.h>

#ifndef SSL_GROUP_X25519_MLKEM768
#define SSL_GROUP_X25519_MLKEM768	0x11ec
#endif
#ifndef SSL_GROUP_SECP256R1_MLKEM768
#define SSL_GROUP_SECP256R1_MLKEM768	0x11eb
#endif

static const struct {
	uint16_t	 id;
	const char	*name;		/* as the library's group lists spell it */
	const char	*alias;
} groups[] = {
	{ SSL_GROUP_X25519_MLKEM768, "X25519MLKEM768", NULL },
	{ SSL_GROUP_SECP256R1_MLKEM768, "SecP256r1MLKEM768", NULL },
	{ SSL_CURVE_X25519, "X25519", "x25519" },
	{ SSL_CURVE_SECP256R1, "P-256", "prime256v1" },
	{ SSL_CURVE_SECP384R1, "P-384", "secp384r1" },
	{ SSL_CURVE_SECP521R1, "P-521", "secp521r1" },
};
#define NGROUPS	(sizeof(groups) / sizeof(groups[0]))
_Static_assert(NGROUPS == TLSNEGO_NKNOWN, "TLSNEGO_NKNOWN is the table's size");

/* TLS 1.3 suites, by id, with the names SSL_set_ciphersuites() takes. */
#define SUITE_AES128	0x1301
#define SUITE_AES256	0x1302
#define SUITE_CHACHA	0x1303

const char *
tlsnego_default_groups(void)
{
#ifdef OPENSSL_IS_AWSLC
	return "X25519MLKEM768:X25519:P-256";
#else
	return "X25519:P-256";
#endif
}

int
tlsnego_group_index(uint16_t id)
{
	for (size_t i = 0; i < NGROUPS; i++)
		if (groups[i].id == id)
			return (int)i;
	return -1;
}

uint16_t
tlsnego_group_id(int i)
{
	return groups[i].id;
}

const char *
tlsnego_group_name(uint16_t id)
{
	int i = tlsnego_group_index(id);

	return i >= 0 ? groups[i].name : "-";
}

static int
group_index(const char *name, size_t len)
{
	for (size_t i = 0; i < NGROUPS; i++)
		if ((strlen(groups[i].name) == len &&
		    strncasecmp(groups[i].name, name, len) == 0) ||
		    (groups[i].alias != NULL && strlen(groups[i].alias) == len &&
		    strncasecmp(groups[i].alias, name, len) == 0))
			return (int)i;
	return -1;
}

/* Names joined by ':' for the library, the first one being id[first]. */
static void
groups_string(const struct tlsnego_groups *g, size_t first, char *buf, size_t cap)
{
	size_t	 off = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < g->n; k++) {
		size_t	 j = k == 0 ? first : (k <= first ? k - 1 : k);
		int	 n = snprintf(buf + off, cap - off, "%s%s", k ? ":" : "",
		    tlsnego_group_name(g->id[j]));

		if (n < 0 || (size_t)n >= cap - off)
			return;
		off += (size_t)n;
	}
}

const char *
tlsnego_groups_parse(const char *list, struct tlsnego_groups *out)
{
	static SSL_CTX	*probe;
	const char	*p = list, *e;
	char		 buf[256];
	int		 i;

	memset(out, 0, sizeof(*out));
	while (*p != '\0') {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		if ((i = group_index(p, (size_t)(e - p))) == -1)
			return "unknown group (known: X25519MLKEM768, SecP256r1MLKEM768, "
			    "X25519, P-256, P-384, P-521)";
		for (size_t k = 0; k < out->n; k++)
			if (out->id[k] == groups[i].id)
				return "a group is named twice";
		if (out->n == TLSNEGO_MAX_GROUPS)
			return "too many groups";
		out->id[out->n++] = groups[i].id;
		p = *e == ':' ? e + 1 : e;
	}
	if (out->n == 0)
		return "expected a colon-separated list of groups, e.g. "
		    "\"X25519MLKEM768:X25519:P-256\"";
	/* And this build's library must know every one of them. */
	groups_string(out, 0, buf, sizeof(buf));
	if (probe == NULL && (probe = SSL_CTX_new(TLS_method())) == NULL)
		return "out of memory";
	if (!SSL_CTX_set1_curves_list(probe, buf))
		return "a group is not supported by this build's TLS library "
		    "(post-quantum groups need AWS-LC)";
	return NULL;
}

int
tlsnego_ctx_groups(SSL_CTX *ctx, const struct tlsnego_groups *g)
{
	char	 buf[256];

	groups_string(g, 0, buf, sizeof(buf));
	return SSL_CTX_set1_curves_list(ctx, buf) ? 0 : -1;
}

int
tlsnego_has_u16(CBS list, uint16_t want)
{
	uint16_t v;

	while (CBS_get_u16(&list, &v))
		if (v == want)
			return 1;
	return 0;
}

/* Whether the key_share extension (ClientHello form) holds a share for id. */
static int
has_share(CBS shares, uint16_t id)
{
	uint16_t	 group;
	CBS		 key;

	while (CBS_get_u16(&shares, &group) &&
	    CBS_get_u16_length_prefixed(&shares, &key))
		if (group == id)
			return 1;
	return 0;
}

static int
choose_group(const SSL_CLIENT_HELLO *ch, const struct tlsnego_groups *g)
{
	const uint8_t	*data;
	size_t		 len, first = g->n, best = g->n;
	CBS		 ext, supported, shares;
	char		 buf[256];

	if (!SSL_early_callback_ctx_extension_get(ch, TLSEXT_TYPE_supported_groups,
	    &data, &len))
		return 0;
	CBS_init(&ext, data, len);
	if (!CBS_get_u16_length_prefixed(&ext, &supported))
		return 0;
	/* No key_share: a TLS 1.2 client, nothing to save. */
	if (!SSL_early_callback_ctx_extension_get(ch, TLSEXT_TYPE_key_share,
	    &data, &len))
		return 0;
	CBS_init(&ext, data, len);
	if (!CBS_get_u16_length_prefixed(&ext, &shares))
		return 0;
	for (size_t i = 0; i < g->n; i++) {
		if (!tlsnego_has_u16(supported, g->id[i]))
			continue;
		if (first == g->n)
			first = i;
		if (has_share(shares, g->id[i])) {
			best = i;
			break;
		}
	}
	/* Our first choice has a share (no retry), or no choice has one. */
	if (best == first || best == g->n)
		return 0;
	groups_string(g, best, buf, sizeof(buf));
	return SSL_set1_curves_list(ch->ssl, buf) ? 0 : -1;
}

static int
choose_suite(const SSL_CLIENT_HELLO *ch)
{
#ifdef OPENSSL_IS_AWSLC
	static const uint16_t	 aes_first[] = { SUITE_AES128, SUITE_CHACHA, SUITE_AES256 };
	static const uint16_t	 chacha_first[] = { SUITE_CHACHA, SUITE_AES128, SUITE_AES256 };
	const uint16_t		*pref = EVP_has_aes_hardware() ? aes_first : chacha_first;
	uint16_t		 v, client_first = 0;
	CBS			 suites;

	/* The client's first TLS 1.3 suite is what the library would take. */
	CBS_init(&suites, ch->cipher_suites, ch->cipher_suites_len);
	while (CBS_get_u16(&suites, &v))
		if ((v & 0xff00) == 0x1300) {
			client_first = v;
			break;
		}
	if (client_first == 0)
		return 0;
	CBS_init(&suites, ch->cipher_suites, ch->cipher_suites_len);
	for (size_t i = 0; i < 3; i++) {
		if (!tlsnego_has_u16(suites, pref[i]))
			continue;
		if (pref[i] == client_first)
			return 0;
		return SSL_set_ciphersuites(ch->ssl,
		    pref[i] == SUITE_AES128 ? "TLS_AES_128_GCM_SHA256" :
		    pref[i] == SUITE_CHACHA ? "TLS_CHACHA20_POLY1305_SHA256" :
		    "TLS_AES_256_GCM_SHA384") ? 0 : -1;
	}
#else
	(void)ch;
#endif
	return 0;
}

int
tlsnego_hello(const SSL_CLIENT_HELLO *ch, const struct tlsnego_groups *g)
{
	if (choose_group(ch, g) == -1 || choose_suite(ch) == -1)
		return -1;
	return 0;
}
