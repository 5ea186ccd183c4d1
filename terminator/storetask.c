/*
 * storetask.c - a queue of the main thread's store work and the thread that
 * runs it (storetask.h).
 */
#include "storetask.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "xalloc.h"

struct task {
	void		(*fn)(void *);
	void		 *arg;
	struct task	 *next;
};

struct storetask {
	pthread_t	 thr;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;		/* a task queued, or stop */
	pthread_cond_t	 idle;		/* the queue emptied and nothing runs */
	struct task	*head, **tail;
	int		 running;	/* a task is being run */
	int		 stop;
};

static void *
storetask_main(void *arg)
{
	struct storetask	*t = arg;
	struct task		*k;

	pthread_mutex_lock(&t->mtx);
	for (;;) {
		while (t->head == NULL && !t->stop)
			pthread_cond_wait(&t->cv, &t->mtx);
		if (t->stop)
			break;		/* what waits is dropped (storetask_stop) */
		k = t->head;
		if ((t->head = k->next) == NULL)
			t->tail = &t->head;
		t->running = 1;
		pthread_mutex_unlock(&t->mtx);
		k->fn(k->arg);
		free(k);
		pthread_mutex_lock(&t->mtx);
		t->running = 0;
		if (t->head == NULL)
			pthread_cond_broadcast(&t->idle);
	}
	pthread_mutex_unlock(&t->mtx);
	return NULL;
}

struct storetask *
storetask_start(struct errbuf *eb)
{
	struct storetask *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->mtx, NULL);
	pthread_cond_init(&t->cv, NULL);
	pthread_cond_init(&t->idle, NULL);
	t->tail = &t->head;
	if (pthread_create(&t->thr, NULL, storetask_main, t) != 0) {
		pthread_cond_destroy(&t->idle);
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mtx);
		free(t);
		errbuf_set(eb, "cannot start the store's task thread");
		return NULL;
	}
	return t;
}

void
storetask_run(struct storetask *t, void (*fn)(void *), void *arg)
{
	struct task *k;

	pthread_mutex_lock(&t->mtx);
	for (k = t->head; k != NULL; k = k->next)
		if (k->fn == fn && k->arg == arg) {
			pthread_mutex_unlock(&t->mtx);
			return;
		}
	k = xcalloc(1, sizeof(*k));
	k->fn = fn;
	k->arg = arg;
	*t->tail = k;
	t->tail = &k->next;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mtx);
}

void
storetask_drain(struct storetask *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mtx);
	while (t->head != NULL || t->running)
		pthread_cond_wait(&t->idle, &t->mtx);
	pthread_mutex_unlock(&t->mtx);
}

void
storetask_stop(struct storetask *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mtx);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mtx);
	pthread_join(t->thr, NULL);
	while (t->head != NULL) {
		struct task *k = t->head;

		t->head = k->next;
		free(k);
	}
	pthread_cond_destroy(&t->idle);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mtx);
	free(t);
}
