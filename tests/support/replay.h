/*
 * replay.h - an ACME transport that answers from a script instead of the
 * network: each request must match the next step (method and a substring of
 * the URL), and gets that step's response from a zero-delay event, never from
 * inside the request call.
 */
#ifndef TLSGATE_REPLAY_H
#define TLSGATE_REPLAY_H

#include <stdatomic.h>
#include <stddef.h>

#include "acme.h"

struct replay;

struct replay_step {
	const char	*method;
	const char	*url_has;
	long		 status;
	const char	*location;
	const char	*retry_after;
	const char	*body;
	/* Optional: the body made from the request's (the JWS), e.g. a
	 * certificate for the CSR the client sent. A new string. */
	char		*(*make)(struct replay *, const char *request_body);
};

struct replay {
	const struct replay_step *steps;
	size_t			  n;
	atomic_size_t		  i;		/* requests answered so far */
	atomic_int		  mismatch;
	char			  why[512];
	struct event_base	 *base;
	int			  nonce;
	struct acme_transport	  tr;
	void			 *user;		/* for make() */
};

/* A transport for acme_cfg.transport that plays steps[0..n). */
void	replay_init(struct replay *r, const struct replay_step *steps, size_t n);

#endif
