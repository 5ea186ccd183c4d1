/*
 * ticket.h - session-ticket keys shared by every worker, with rotation.
 *
 * All workers use one SSL_CTX, so one key ring serves them all: a session
 * issued by one worker resumes on any other. ticket_rotate() makes a new
 * current key; the previous one still decrypts (and such tickets are renewed),
 * so rotation never forces a full handshake on a recent client.
 * Threads: ticket_rotate on the main thread; the key callback on any worker
 * (the ring is read under a lock).
 */
#ifndef TLSGATE_TICKET_H
#define TLSGATE_TICKET_H

#include <openssl/base.h>

/* Install fresh random keys and the ticket callback on ctx. 0 or -1. */
int	ticket_init(SSL_CTX *ctx);
/* Make a new current key; the current one becomes the previous. */
void	ticket_rotate(void);

#endif
