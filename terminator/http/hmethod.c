/*
 * hmethod.c - the request methods tlsgate tells apart (enum hmethod in
 * hstream.h): their names, lengths and parsing. Any thread.
 */
#include <string.h>

#include "hstream.h"

static const struct hname hmethod_names[HM__MAX] = {
	HNAME("GET"), HNAME("HEAD"), HNAME("POST"), HNAME("PUT"),
	HNAME("DELETE"), HNAME("OPTIONS"), HNAME("TRACE"), HNAME("PATCH"),
	HNAME("CONNECT"), HNAME("OTHER"),
};

const char *
hmethod_name(enum hmethod m)
{
	return m < HM__MAX ? hmethod_names[m].name : "OTHER";
}

size_t
hmethod_len(enum hmethod m)
{
	return m < HM__MAX ? hmethod_names[m].len : 5;
}

enum hmethod
hmethod_parse(const char *p, size_t n)
{
	for (int i = 0; i < HM_OTHER; i++)
		if (hmethod_names[i].len == n && memcmp(hmethod_names[i].name, p, n) == 0)
			return (enum hmethod)i;
	return HM_OTHER;
}
