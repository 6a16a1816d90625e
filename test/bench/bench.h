/*
 * bench.h - what the engine's C microbenchmarks in test/bench share: a
 * monotonic clock, the timing loop (the best of 5 rounds of a calibrated
 * number of calls), and quantized test matrices (random rows of a weight
 * type, the same rows packed eight at a time for gemm8, and 16 random
 * activation rows of its vec_dot type) with the two products the forward
 * pass can take over them (gemm8 on the packed rows, or vec_dot per row
 * and token on the unpacked ones).
 *
 * Header-only (static inline), found beside each bench's .c by its
 * quoted include: the build line in each bench's header stays as it is.
 * Not part of the test suite.
 */
#ifndef LLM_BENCH_H
#define LLM_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "kernels.h"
#include "llm_types.h"

/* activation rows (tokens) of a bench_qmat */
#define BENCH_QMAT_TOKENS 16

/*
 * Monotonic clock in seconds.
 */
static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

/* one timed call: the work of a case, on its arguments */
typedef void (*bench_fn) (void *arg);

/*
 * Seconds per call of fn(arg): the number of calls doubled until they
 * take over secs / 20 (or pass 2^24), then the best of 5 rounds of that
 * many calls.
 */
static inline double
bench_best(bench_fn fn, void *arg, double secs)
{
	double		best = 1e30;
	long		reps = 1;

	for (;;)
	{
		double		t0 = bench_now();

		for (long r = 0; r < reps; r++)
			fn(arg);
		if (bench_now() - t0 > secs / 20 || reps > (1L << 24))
			break;
		reps *= 2;
	}
	for (int round = 0; round < 5; round++)
	{
		double		t0 = bench_now(),
					dt;

		for (long r = 0; r < reps; r++)
			fn(arg);
		dt = (bench_now() - t0) / (double) reps;
		if (dt < best)
			best = dt;
	}
	return best;
}

/*
 * A pseudo-random float in [-0.5, 0.5) from the 64-bit LCG state *s.
 */
static inline float
bench_rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (float) ((double) (*s >> 11) / 9007199254740992.0 - 0.5);
}

/* a quantized weight matrix and activations for gemm8 / vec_dot */
typedef struct bench_qmat
{
	llm_type	t;				/* weight type */
	llm_type	at;				/* its vec_dot_type (the activations') */
	int64_t		rows,			/* a multiple of 8 */
				n;				/* row length */
	size_t		wb,				/* bytes of a weight row */
				ab;				/* bytes of an activation row */
	char	   *w,				/* rows x n weights */
			   *w8,				/* the same, packed by pack8 */
			   *a;				/* BENCH_QMAT_TOKENS activation rows */
} bench_qmat;

/*
 * Fill q with rows x n weights of type t and BENCH_QMAT_TOKENS
 * activation rows, floats of bench_rnd(s) (the weight rows first, then
 * the activations) converted by k's from_float, the weights also packed
 * by k's pack8. False when memory runs out (q is then empty).
 */
static inline bool
bench_qmat_new(bench_qmat *q, const llm_kernels *k, llm_type t, int64_t rows, int64_t n,
			   uint64_t *s)
{
	float	   *x = malloc(sizeof(float) * (size_t) n);

	q->t = t;
	q->at = k->type[t].vec_dot_type;
	q->rows = rows;
	q->n = n;
	q->wb = llm_row_size(t, n);
	q->ab = llm_row_size(q->at, n);
	q->w = malloc(q->wb * (size_t) rows);
	q->w8 = malloc(q->wb * (size_t) rows);
	q->a = malloc(q->ab * BENCH_QMAT_TOKENS);
	if (!x || !q->w || !q->w8 || !q->a)
	{
		free(x);
		free(q->w), free(q->w8), free(q->a);
		q->w = q->w8 = q->a = NULL;
		return false;
	}
	for (int64_t r = 0; r < rows + BENCH_QMAT_TOKENS; r++)
	{
		for (int64_t j = 0; j < n; j++)
			x[j] = bench_rnd(s);
		if (r < rows)
			k->type[t].from_float(x, q->w + r * q->wb, n);
		else
			k->type[q->at].from_float(x, q->a + (r - rows) * q->ab, n);
	}
	for (int64_t g = 0; g < rows / 8; g++)
		k->type[t].pack8(n, q->w + g * 8 * q->wb, q->wb, q->w8 + g * 8 * q->wb);
	free(x);
	return true;
}

/*
 * Free the buffers of q.
 */
static inline void
bench_qmat_free(bench_qmat *q)
{
	free(q->w), free(q->w8), free(q->a);
	q->w = q->w8 = q->a = NULL;
}

/* one product over a bench_qmat, a bench_fn argument */
typedef struct bench_qrun
{
	const llm_kernels *k;		/* the kernel table to call */
	const bench_qmat *q;
	bool		packed;			/* gemm8 on q->w8, else vec_dot on q->w */
	int64_t		nc;				/* activation rows, <= BENCH_QMAT_TOKENS */
	float	   *y;				/* nc x rows results */
} bench_qrun;

/*
 * The bench_fn of a bench_qrun: one product of its rows x n weights with
 * its nc activation rows, gemm8 over the packed rows or, unpacked,
 * vec_dot for every (row, token) pair (what the forward pass does for a
 * matrix that is not packed).
 */
static inline void
bench_qrun_once(void *arg)
{
	const bench_qrun *run = arg;
	const bench_qmat *q = run->q;
	const llm_type_ops *op = &run->k->type[q->t];

	if (run->packed)
	{
		op->gemm8(q->n, q->rows / 8, run->nc, q->w8, q->a, q->ab, run->y, q->rows);
		return;
	}
	for (int64_t c = 0; c < run->nc; c++)
		for (int64_t r = 0; r < q->rows; r++)
			op->vec_dot(q->n, &run->y[c * q->rows + r], q->w + r * q->wb, q->a + c * q->ab);
}

/*
 * Seconds per product of bench_qrun_once with these arguments
 * (bench_best over secs).
 */
static inline double
bench_qtime(const llm_kernels *k, const bench_qmat *q, bool packed, int64_t nc, float *y,
			double secs)
{
	bench_qrun	run = {k, q, packed, nc, y};

	return bench_best(bench_qrun_once, &run, secs);
}

#endif							/* LLM_BENCH_H */
