/*
 * storetask.h - the main thread's store work, on a thread of its own.
 *
 * Store calls block: with etcd each waits up to store.etcd.timeout per
 * member. The main loop answers port 80 (HTTP-01 challenges, redirects),
 * the admin endpoint, health checks and signals, so it never makes them
 * itself once it serves: the session-ticket and ECH key rotations and
 * adoptions, and the renewal requests, are handed here. One thread runs the
 * tasks in the order given, one at a time.
 *
 * A task already waiting (same function, same argument) is not queued
 * twice: a timer that fires while etcd hangs adds nothing. Whatever a task
 * reads that the main thread may replace (the store, the ACME client) is
 * replaced only after storetask_drain.
 */
#ifndef TLSGATE_STORETASK_H
#define TLSGATE_STORETASK_H

struct errbuf;
struct storetask;

/* The thread, waiting for tasks; NULL with eb set. */
struct storetask	*storetask_start(struct errbuf *eb);
/* Queue fn(arg) (unless the same is waiting already). Any thread. */
void			 storetask_run(struct storetask *, void (*fn)(void *),
			    void *arg);
/* Until every queued task has run and none runs. Not from a task. NULL
 * is a no-op. */
void			 storetask_drain(struct storetask *);
/* End the thread once the running task returns, dropping those still
 * waiting (at shutdown a rotation is of no use, and etcd may hang), and
 * free. NULL is a no-op. */
void			 storetask_stop(struct storetask *);

#endif
