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

struct replay_step {
	const char	*method;
	const char	*url_has;
	long		 status;
	const char	*location;
	const char	*retry_after;
	const char	*body;
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
	/* Optional: the body of a step whose body is NULL, made from the
	 * request's (new string); e.g. a certificate for the CSR's key. */
	char			*(*make_body)(const struct replay_step *,
				    const char *req_body, void *arg);
	void			 *make_arg;
};

/* A transport for acme_cfg.transport that plays steps[0..n). */
void	replay_init(struct replay *r, const struct replay_step *steps, size_t n);

#endif
