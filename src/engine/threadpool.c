/*
 * threadpool.c - persistent worker threads for the forward pass.
 *
 * A decode step runs a few hundred short parallel regions, so waking
 * threads through a condition variable each time would cost more than the
 * work. Workers therefore spin on a generation counter for a while after
 * each region and only then sleep on the condition variable. The
 * "sleeping" count and the generation counter are both sequentially
 * consistent atomics, so the publisher either sees a sleeper and
 * broadcasts, or the sleeper sees the new generation before waiting.
 */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LLM_CPU_RELAX() _mm_pause()
#else
#define LLM_CPU_RELAX() ((void) 0)
#endif

/*
 * Waiting strategy, for workers between regions and for the caller at the
 * end of one: LLM_POOL_PAUSE iterations of a CPU pause, then yields of
 * the core (so a descheduled thread of ours, or anything else runnable,
 * gets it when the machine is oversubscribed), and for workers, after
 * LLM_POOL_YIELD yields, sleep on the condition variable.
 */
#define LLM_POOL_PAUSE 2000
#define LLM_POOL_YIELD 5000

typedef struct llm_pool_worker
{
	llm_pool   *pool;
	int			ith;
	pthread_t	thread;
} llm_pool_worker;

struct llm_pool
{
	int			n_threads;
	llm_pool_worker *workers;	/* n_threads - 1 of them */
	int			n_started;

	_Atomic uint64_t generation;	/* bumped to publish a region */
	_Atomic int n_done;			/* workers finished with the region */
	_Atomic int n_sleeping;
	_Atomic bool stop;

	llm_pool_fn fn;				/* written before generation is bumped */
	void	   *arg;

	pthread_mutex_t mutex;
	pthread_cond_t cond;
};

/*
 * Body of a worker thread: wait for a new generation, run the region,
 * report completion; exit when the pool stops.
 */
static void *
llm_pool_main(void *p)
{
	llm_pool_worker *w = p;
	llm_pool   *pool = w->pool;
	uint64_t	seen = 0;

	for (;;)
	{
		uint64_t	g;
		int			spins = 0;

		while ((g = atomic_load(&pool->generation)) == seen &&
			   !atomic_load(&pool->stop))
		{
			if (++spins < LLM_POOL_PAUSE)
			{
				LLM_CPU_RELAX();
				continue;
			}
			if (spins < LLM_POOL_PAUSE + LLM_POOL_YIELD)
			{
				sched_yield();
				continue;
			}
			pthread_mutex_lock(&pool->mutex);
			atomic_fetch_add(&pool->n_sleeping, 1);
			while (atomic_load(&pool->generation) == seen &&
				   !atomic_load(&pool->stop))
				pthread_cond_wait(&pool->cond, &pool->mutex);
			atomic_fetch_sub(&pool->n_sleeping, 1);
			pthread_mutex_unlock(&pool->mutex);
			spins = 0;
		}
		if (atomic_load(&pool->stop))
			return NULL;
		seen = g;
		pool->fn(pool->arg, w->ith, pool->n_threads);
		atomic_fetch_add(&pool->n_done, 1);
	}
}

/*
 * Create a pool of n_threads (the caller counts as one of them). The
 * workers start with every signal blocked (a new thread inherits the mask
 * of its creator, which is set so only around pthread_create): signals
 * meant for the process then always go to a thread of the embedder,
 * whose handlers never run on our threads. The caller's mask is restored
 * before returning.
 */
llm_pool *
llm_pool_new(int n_threads, char *err)
{
	llm_pool   *pool;
	sigset_t	all,
				old;
	int			i,
				failed = -1;

	if (n_threads < 1 || n_threads > 512)
	{
		llm_err(err, "thread count %d is out of range (1..512)", n_threads);
		return NULL;
	}
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
	{
		llm_err(err, "out of memory creating the thread pool");
		return NULL;
	}
	pool->n_threads = n_threads;
	pthread_mutex_init(&pool->mutex, NULL);
	pthread_cond_init(&pool->cond, NULL);
	if (n_threads > 1)
	{
		pool->workers = calloc((size_t) n_threads - 1, sizeof(llm_pool_worker));
		if (pool->workers == NULL)
		{
			llm_pool_free(pool);
			llm_err(err, "out of memory creating the thread pool");
			return NULL;
		}
	}
	sigfillset(&all);
	if (n_threads > 1 && pthread_sigmask(SIG_BLOCK, &all, &old) != 0)
	{
		llm_pool_free(pool);
		llm_err(err, "could not block signals to create the thread pool");
		return NULL;
	}
	for (i = 0; i < n_threads - 1; i++)
	{
		llm_pool_worker *w = &pool->workers[i];

		w->pool = pool;
		w->ith = i + 1;
		if (pthread_create(&w->thread, NULL, llm_pool_main, w) != 0)
		{
			failed = i;
			break;
		}
		pool->n_started++;
	}
	if (n_threads > 1)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (failed >= 0)
	{
		llm_pool_free(pool);
		llm_err(err, "could not create thread %d of %d", failed + 2, n_threads);
		return NULL;
	}
	return pool;
}

/*
 * Stop and join the workers, then free the pool.
 */
void
llm_pool_free(llm_pool *pool)
{
	int			i;

	if (pool == NULL)
		return;
	atomic_store(&pool->stop, true);
	pthread_mutex_lock(&pool->mutex);
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->mutex);
	for (i = 0; i < pool->n_started; i++)
		pthread_join(pool->workers[i].thread, NULL);
	pthread_mutex_destroy(&pool->mutex);
	pthread_cond_destroy(&pool->cond);
	free(pool->workers);
	free(pool);
}

/*
 * Number of threads, the caller included.
 */
int
llm_pool_size(const llm_pool *pool)
{
	return pool->n_threads;
}

/*
 * Publish fn/arg, run part 0 on the calling thread, wait for the rest.
 */
void
llm_pool_run(llm_pool *pool, llm_pool_fn fn, void *arg)
{
	if (pool->n_threads == 1)
	{
		fn(arg, 0, 1);
		return;
	}
	pool->fn = fn;
	pool->arg = arg;
	atomic_store(&pool->n_done, 0);
	atomic_fetch_add(&pool->generation, 1);
	if (atomic_load(&pool->n_sleeping) > 0)
	{
		pthread_mutex_lock(&pool->mutex);
		pthread_cond_broadcast(&pool->cond);
		pthread_mutex_unlock(&pool->mutex);
	}
	fn(arg, 0, pool->n_threads);
	{
		int			spins = 0;

		while (atomic_load(&pool->n_done) < pool->n_threads - 1)
		{
			if (++spins < LLM_POOL_PAUSE)
				LLM_CPU_RELAX();
			else
				sched_yield();
		}
	}
}
