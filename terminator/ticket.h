/*
 * ticket.h - session-ticket keys shared by every worker, with rotation.
 *
 * All workers use one SSL_CTX, so one key ring serves them all: a session
 * issued by one worker resumes on any other. ticket_rotate() makes a new
 * current key; the previous one still decrypts (and such tickets are renewed),
 * so rotation never forces a full handshake on a recent client.
 * With a store (ticket_use_store), the ring lives in it as one blob: every
 * process of the store, every node of a cluster, encrypts with the same
 * current key, so a ticket one issued resumes on all, and across restarts.
 * A rotation is made by whichever process first finds the stored ring due
 * and holds the store's "_tickets" lock (a lease in etcd); the others adopt
 * it (from the store's feed, or at their own next timer). A store that
 * cannot be read or written leaves this process on keys of its own until it
 * can: serving never waits on it.
 * Threads: ticket_use_store on the main thread, with no store task
 * running (storetask_drain); ticket_rotate and ticket_store_changed, which
 * may wait on the store, on the store task thread (storetask.h) once the
 * main loop serves; the key callback on any worker (the ring is read under
 * a lock).
 */
#ifndef TLSGATE_TICKET_H
#define TLSGATE_TICKET_H

#include <openssl/base.h>

/* Install fresh random keys and the ticket callback on ctx. 0 or -1. */
int	ticket_init(SSL_CTX *ctx);
/* Make a new current key; the current one becomes the previous. With a
 * store: only when the stored ring is due (else adopt it), under its lock. */
void	ticket_rotate(void);
/* Share the ring through st from now on (NULL: keys of this process only);
 * interval is the rotation period in seconds. Adopts the stored ring, or
 * makes and stores one when there is none or it is due. st must outlive its
 * use: call ticket_use_store(NULL, ...) before closing it. */
struct store;
void	ticket_use_store(struct store *st, long interval);
/* The store says its ring changed (STORE_CHANGE_TICKETS): adopt it. */
void	ticket_store_changed(void);

#endif
