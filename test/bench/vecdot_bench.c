/*
 * vecdot_bench.c - single-thread vec_dot throughput of the scalar and AVX2
 * kernel tables (GB/s of weight bytes) on SmolLM2-shaped matrices: q4_1
 * and q8_0 576x1536 both ways round, q4_K and f16 for reference, and one
 * matrix of each too big for the caches. Not part of the test suite (it
 * was test_kernels --bench).
 *
 * Build (after make engine):
 *   cc -std=gnu11 -O2 -Isrc/engine test/bench/vecdot_bench.c -o build/vecdot_bench \
 *      build/libllmengine.a -lpcre2-8 -lutf8proc -lm -lpthread
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "kernels.h"
#include "llm_types.h"

/*
 * n uniform floats in [-1, 1) from a 64-bit LCG.
 */
static void
rnd_floats(uint64_t *s, float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
	{
		*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
		x[i] = (float) ((double) (*s >> 11) * (2.0 / 9007199254740992.0) - 1.0);
	}
}

/*
 * Time vec_dot of every row of a rows x n matrix of type t with one
 * activation row (single thread); print GB/s of weight bytes.
 */
static void
bench_one(const llm_kernels *k, llm_type t, int64_t rows, int64_t n)
{
	llm_type	at = k->type[t].vec_dot_type;
	size_t		rb = llm_row_size(t, n);
	size_t		total = rb * (size_t) rows;
	uint8_t    *w = malloc(total);
	uint8_t    *a = malloc(llm_row_size(at, n));
	float	   *x = malloc((size_t) n * sizeof(float));
	float	   *out = malloc((size_t) rows * sizeof(float));
	uint64_t	s = 3;
	double		best = INFINITY;
	volatile float sink = 0.0f;

	if (!w || !a || !x || !out)
	{
		printf("# out of memory\n");
		goto done;
	}
	for (int64_t r = 0; r < rows; r++)
	{
		rnd_floats(&s, x, n);
		k->type[t].from_float(x, w + rb * (size_t) r, n);
	}
	rnd_floats(&s, x, n);
	k->type[at].from_float(x, a, n);
	/* best of 5 runs of >= 0.1 s each: the machine may be shared */
	for (int trial = 0; trial < 5; trial++)
	{
		long		reps = 0;
		double		el;
		double		t0 = bench_now();

		do
		{
			for (int64_t r = 0; r < rows; r++)
				k->type[t].vec_dot(n, &out[r], w + rb * (size_t) r, a);
			sink += out[rows - 1];
			reps++;
			el = bench_now() - t0;
		} while (el < 0.1);
		best = fmin(best, el / reps);
	}
	printf("# %-6s %-5s vec_dot %6lld x %-5lld (%6.2f MB): %7.2f GB/s, %8.1f us per matrix%s\n",
		   k->isa, llm_type_name(t), (long long) rows, (long long) n, total / 1e6,
		   (double) total / best / 1e9, best * 1e6, isfinite(sink) ? "" : " (non-finite)");
done:
	free(w);
	free(a);
	free(x);
	free(out);
}

/*
 * --bench: q4_1 and q8_0 (plus q4_K and f16 for reference) over 576x1536
 * matrices both ways round, and one matrix too big for the caches.
 */
static int
run_bench(int have_avx2)
{
	llm_kernels k;

	for (int w = 0; w < 1 + have_avx2; w++)
	{
		llm_kernels_init(&k, w ? "avx2" : "scalar");
		bench_one(&k, LLM_TYPE_Q4_1, 1536, 576);
		bench_one(&k, LLM_TYPE_Q4_1, 576, 1536);
		bench_one(&k, LLM_TYPE_Q8_0, 1536, 576);
		bench_one(&k, LLM_TYPE_Q8_0, 576, 1536);
		bench_one(&k, LLM_TYPE_Q4_K, 1536, 768);
		bench_one(&k, LLM_TYPE_F16, 1536, 576);
		bench_one(&k, LLM_TYPE_Q8_0, 49152, 576);
		bench_one(&k, LLM_TYPE_Q4_1, 65536, 576);
	}
	return 0;
}

/*
 * Benchmark the scalar table, and the AVX2 one when the CPU has it.
 */
int
main(void)
{
	return run_bench(llm_cpu_has_avx2());
}
