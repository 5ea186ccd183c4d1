/*
 * acmestub.c - tg_acmestub: stubca (see stubca.h) as a process, for
 * integration tests. Usage: tg_acmestub PORT. Prints "ready PORT" when it
 * listens, then serves until killed.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "stubca.h"

int
main(int argc, char **argv)
{
	struct event_base	*base;
	struct stubca		*s;

	if (argc != 2) {
		fprintf(stderr, "usage: tg_acmestub PORT\n");
		return 2;
	}
	base = event_base_new();
	if ((s = stubca_new(base, atoi(argv[1]))) == NULL) {
		fprintf(stderr, "tg_acmestub: cannot listen on port %s\n", argv[1]);
		return 1;
	}
	printf("ready %d\n", stubca_port(s));
	fflush(stdout);
	event_base_dispatch(base);
	stubca_free(s);
	event_base_free(base);
	return 0;
}
