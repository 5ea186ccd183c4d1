/*
 * helloprobe.c - send one hand-made TLS 1.3 ClientHello and report what the
 * server chose in its first answer, without finishing the handshake: for
 * tests of the server's group and suite choices that a real client library
 * cannot make (AWS-LC's client always sends two key shares, for instance).
 *
 * Usage: tg_helloprobe --connect HOST:PORT --sni NAME --groups IDS
 *            --shares IDS [--suites IDS]
 *   IDS: comma-separated TLS code points, decimal or 0x hex (29 = X25519,
 *   23 = P-256, 0x11ec = X25519MLKEM768; suites 0x1301 AES-128-GCM, 0x1302
 *   AES-256-GCM, 0x1303 ChaCha20). --groups is the supported_groups list;
 *   --shares the groups that get a key share (X25519 and P-256 only: real
 *   keys are made for them).
 * Prints "hrr=0|1 group=0xNNNN suite=0xNNNN" (group: the server's key share
 * or, for a HelloRetryRequest, the group it asks for), or "alert=N" if the
 * server refused; exits 1 on a transport or parse error.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bytestring.h>
#include <openssl/curve25519.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/rand.h>

/* SHA-256("HelloRetryRequest"), RFC 8446 section 4.1.3. */
static const uint8_t hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02,
	0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
	0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

static void
die(const char *m)
{
	fprintf(stderr, "helloprobe: %s\n", m);
	exit(1);
}

static size_t
parse_ids(const char *s, uint16_t *out, size_t cap)
{
	size_t	 n = 0;
	char	*end;

	while (s != NULL && *s != '\0' && n < cap) {
		out[n++] = (uint16_t)strtoul(s, &end, 0);
		if (end == s)
			die("bad id list");
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static int
add_share(CBB *shares, uint16_t group)
{
	CBB	 key;

	if (!CBB_add_u16(shares, group) || !CBB_add_u16_length_prefixed(shares, &key))
		return 0;
	if (group == 29) {
		uint8_t pub[32], priv[32];
		X25519_keypair(pub, priv);
		return CBB_add_bytes(&key, pub, sizeof(pub)) && CBB_flush(shares);
	}
	if (group == 23) {
		EC_KEY	*k = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
		uint8_t	 pt[65];
		int	 ok = k != NULL && EC_KEY_generate_key(k) &&
		    EC_POINT_point2oct(EC_KEY_get0_group(k), EC_KEY_get0_public_key(k),
		    POINT_CONVERSION_UNCOMPRESSED, pt, sizeof(pt), NULL) == sizeof(pt) &&
		    CBB_add_bytes(&key, pt, sizeof(pt)) && CBB_flush(shares);
		EC_KEY_free(k);
		return ok;
	}
	die("--shares: only 29 (X25519) and 23 (P-256)");
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*connect_to = NULL, *sni = NULL, *groups = NULL, *shares = NULL;
	const char	*suites = "0x1301,0x1302,0x1303";
	uint16_t	 g[16], sh[4], su[8];
	size_t		 ng, nsh, nsu, len;
	uint8_t		 rnd[32], sid[32], *msg, buf[16384];
	CBB		 cbb, rec, hs, body, l, ext, e, e2;
	struct addrinfo	 hints, *res;
	char		 host[256], *colon;
	int		 fd;
	size_t		 got = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--connect")) connect_to = argv[i + 1];
		else if (!strcmp(argv[i], "--sni")) sni = argv[i + 1];
		else if (!strcmp(argv[i], "--groups")) groups = argv[i + 1];
		else if (!strcmp(argv[i], "--shares")) shares = argv[i + 1];
		else if (!strcmp(argv[i], "--suites")) suites = argv[i + 1];
		else die("unknown flag");
	}
	if (connect_to == NULL || sni == NULL || groups == NULL || shares == NULL)
		die("usage: --connect HOST:PORT --sni NAME --groups IDS --shares IDS [--suites IDS]");
	ng = parse_ids(groups, g, 16);
	nsh = parse_ids(shares, sh, 4);
	nsu = parse_ids(suites, su, 8);
	RAND_bytes(rnd, sizeof(rnd));
	RAND_bytes(sid, sizeof(sid));

	if (!CBB_init(&cbb, 512) ||
	    !CBB_add_u8(&cbb, 22) || !CBB_add_u16(&cbb, 0x0301) ||
	    !CBB_add_u16_length_prefixed(&cbb, &rec) ||
	    !CBB_add_u8(&rec, 1) || !CBB_add_u24_length_prefixed(&rec, &hs) ||
	    !CBB_add_u16(&hs, 0x0303) || !CBB_add_bytes(&hs, rnd, 32) ||
	    !CBB_add_u8_length_prefixed(&hs, &l) || !CBB_add_bytes(&l, sid, 32) ||
	    !CBB_add_u16_length_prefixed(&hs, &l))
		die("cbb");
	for (size_t i = 0; i < nsu; i++)
		CBB_add_u16(&l, su[i]);
	if (!CBB_add_u8(&hs, 1) || !CBB_add_u8(&hs, 0) ||	/* null compression */
	    !CBB_add_u16_length_prefixed(&hs, &body))
		die("cbb");
	/* server_name */
	CBB_add_u16(&body, 0); CBB_add_u16_length_prefixed(&body, &ext);
	CBB_add_u16_length_prefixed(&ext, &e); CBB_add_u8(&e, 0);
	CBB_add_u16_length_prefixed(&e, &e2);
	CBB_add_bytes(&e2, (const uint8_t *)sni, strlen(sni));
	CBB_flush(&body);
	/* supported_groups */
	CBB_add_u16(&body, 10); CBB_add_u16_length_prefixed(&body, &ext);
	CBB_add_u16_length_prefixed(&ext, &e);
	for (size_t i = 0; i < ng; i++)
		CBB_add_u16(&e, g[i]);
	CBB_flush(&body);
	/* signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256 */
	CBB_add_u16(&body, 13); CBB_add_u16_length_prefixed(&body, &ext);
	CBB_add_u16_length_prefixed(&ext, &e);
	CBB_add_u16(&e, 0x0403); CBB_add_u16(&e, 0x0804);
	CBB_flush(&body);
	/* supported_versions: TLS 1.3 */
	CBB_add_u16(&body, 43); CBB_add_u16_length_prefixed(&body, &ext);
	CBB_add_u8_length_prefixed(&ext, &e); CBB_add_u16(&e, 0x0304);
	CBB_flush(&body);
	/* psk_key_exchange_modes: psk_dhe_ke */
	CBB_add_u16(&body, 45); CBB_add_u16_length_prefixed(&body, &ext);
	CBB_add_u8_length_prefixed(&ext, &e); CBB_add_u8(&e, 1);
	CBB_flush(&body);
	/* key_share */
	CBB_add_u16(&body, 51); CBB_add_u16_length_prefixed(&body, &ext);
	CBB_add_u16_length_prefixed(&ext, &e);
	for (size_t i = 0; i < nsh; i++)
		if (!add_share(&e, sh[i]))
			die("key share");
	if (!CBB_finish(&cbb, &msg, &len))
		die("cbb finish");

	colon = strrchr(connect_to, ':');
	if (colon == NULL)
		die("--connect HOST:PORT");
	snprintf(host, sizeof(host), "%.*s", (int)(colon - connect_to), connect_to);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		die("cannot resolve --connect");
	if ((fd = socket(res->ai_family, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, res->ai_addr, res->ai_addrlen) == -1)
		die("connect");
	freeaddrinfo(res);
	if (write(fd, msg, len) != (ssize_t)len)
		die("write");
	OPENSSL_free(msg);
	/* Read the first record (the ServerHello or an alert). */
	while (got < 5 || got < 5 + (size_t)(buf[3] << 8 | buf[4])) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n <= 0)
			die("connection closed before the server's first record");
		got += (size_t)n;
		if (got == sizeof(buf))
			die("record too long");
	}
	close(fd);
	if (buf[0] == 21) {
		printf("alert=%d\n", buf[6]);
		return 0;
	}
	{
		CBS	 r, m, sh_body, srnd, ssid, exts, x, xd;
		uint16_t suite, type, ver, group = 0;
		uint8_t	 mt, comp;

		CBS_init(&r, buf + 5, (size_t)(buf[3] << 8 | buf[4]));
		if (buf[0] != 22 || !CBS_get_u8(&r, &mt) || mt != 2 ||
		    !CBS_get_u24_length_prefixed(&r, &m) ||
		    !CBS_get_u16(&m, &ver) || !CBS_get_bytes(&m, &srnd, 32) ||
		    !CBS_get_u8_length_prefixed(&m, &ssid) || !CBS_get_u16(&m, &suite) ||
		    !CBS_get_u8(&m, &comp) || !CBS_get_u16_length_prefixed(&m, &exts))
			die("not a ServerHello");
		(void)sh_body;
		while (CBS_get_u16(&exts, &type) && CBS_get_u16_length_prefixed(&exts, &x)) {
			if (type != 51)
				continue;
			xd = x;
			if (!CBS_get_u16(&xd, &group))
				die("bad key_share");
		}
		printf("hrr=%d group=0x%04x suite=0x%04x\n",
		    memcmp(CBS_data(&srnd), hrr_random, 32) == 0, group, suite);
	}
	return 0;
}
