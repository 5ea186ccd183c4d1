/* version.c - versions of tlsgate and of the libraries it runs with. */
#include "version.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

void
version_print(FILE *out)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

	fprintf(out, "tlsgate %s\n", TLSGATE_VERSION);
	fprintf(out, "%s (static)\n", TLS_LIB_DESC);
	fprintf(out, "libevent %s\n", event_get_version());
	fprintf(out, "libcurl %s (%s)\n", cv->version, cv->ssl_version ?
	    cv->ssl_version : "no TLS");
	fprintf(out, "jansson %s\n", jansson_version_str());
}
