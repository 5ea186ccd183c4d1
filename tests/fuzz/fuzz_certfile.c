/*
 * fuzz_certfile - certificate and key file parsing (store/certfile.h).
 *
 * Input: one mode byte, then the data.
 *  - mode & 1 == 0 (DER): the rest is one or more DER certificates, wrapped
 *    here into PEM blocks, with the fixed P-256 key below. Base64 hides the
 *    DER from the fuzzer's mutations, so this mode is the one that reaches the
 *    ASN.1 of the leaf (names, dates, key match). The seed is a certificate
 *    for that key, so mutations away from its public key get past the match.
 *  - mode & 1 == 1 (PEM): the rest is "cert PEM \0 key PEM", taken verbatim.
 * Every loaded certfile is then asked certfile_matches() about a few names.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/base64.h>

#include "certfile.h"
#include "errbuf.h"

/* A throwaway key made for this fuzzer; it protects nothing. */
static const char fuzz_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAFNZMoZ7Yp8kxEtU\n"
    "MyhfGngSvsOX5tINUvHZfgMacbahRANCAAQ1gB+BGilJ05I4I7sV/n9Sz6qReITa\n"
    "nRafIFD/gwlsicqW04j0pV4KHmULc+EKlrrv4wL27uYLYcGLLkneL4/6\n"
    "-----END PRIVATE KEY-----\n";

/* Wrap DER bytes into one PEM CERTIFICATE block. Returns a new string. */
static char *
der_to_pem(const uint8_t *der, size_t len, size_t *outlen)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "\n-----END CERTIFICATE-----\n";
	size_t b64len, n;
	char *pem;

	if (!EVP_EncodedLength(&b64len, len))
		return NULL;
	pem = malloc(sizeof(head) + b64len + b64len / 64 + sizeof(tail));
	if (pem == NULL)
		return NULL;
	memcpy(pem, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	n += EVP_EncodeBlock((uint8_t *)pem + n, der, len);
	memcpy(pem + n, tail, sizeof(tail));
	*outlen = n + sizeof(tail) - 1;
	return pem;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = { "fuzz.test", "a.wild.test",
	    "wild.test", "x.y.wild.test", "", "." };
	struct errbuf eb;
	struct certfile *cf;
	char *pem = NULL;

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		size_t pemlen;
		if ((pem = der_to_pem(data + 1, size - 1, &pemlen)) == NULL)
			return 0;
		cf = certfile_load_mem(pem, pemlen, fuzz_key, sizeof(fuzz_key) - 1, &eb);
	} else {
		const char *cert = (const char *)data + 1;
		const char *nul = memchr(cert, '\0', size - 1);
		size_t certlen = nul ? (size_t)(nul - cert) : size - 1;
		const char *key = nul ? nul + 1 : "";
		size_t keylen = nul ? size - 1 - certlen - 1 : 0;
		cf = certfile_load_mem(cert, certlen, key, keylen, &eb);
	}
	if (cf != NULL) {
		for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
			(void)certfile_matches(cf, hosts[i]);
		certfile_unref(cf);
	}
	free(pem);
	return 0;
}
