/*
 * threadpool.h - a fixed pool of threads running one parallel region at a
 * time. The caller is thread 0 and takes part in the work.
 */
#ifndef LLM_THREADPOOL_H
#define LLM_THREADPOOL_H

#include <stdint.h>

typedef struct llm_pool llm_pool;

/* fn(arg, ith, nth) runs once on every thread, ith in [0, nth) */
typedef void (*llm_pool_fn) (void *arg, int ith, int nth);

/* NULL (with err) when threads cannot be created. */
llm_pool   *llm_pool_new(int n_threads, char *err);
void		llm_pool_free(llm_pool *p);
int			llm_pool_size(const llm_pool *p);

/* Run fn on all threads and return when every thread has finished. */
void		llm_pool_run(llm_pool *p, llm_pool_fn fn, void *arg);

/* Split [0, n) evenly: the part of thread ith of nth. */
static inline void
llm_split_range(int64_t n, int ith, int nth, int64_t *begin, int64_t *end)
{
	int64_t		per = n / nth;
	int64_t		rem = n % nth;

	*begin = ith * per + (ith < rem ? ith : rem);
	*end = *begin + per + (ith < rem ? 1 : 0);
}

#endif							/* LLM_THREADPOOL_H */
