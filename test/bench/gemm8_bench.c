/*
 * gemm8_bench.c - microbenchmark of the packed 8-row products (gemm8),
 * AVX2 against AVX-512 VNNI, one thread, on SmolLM2-135M-shaped matrices:
 * q4_1 576x576, 1536x576 and 576x1536 (rows x row length), q8_0 49152x576
 * (the output projection), for 1, 4 and 16 activation rows (tokens).
 * Not part of the test suite; it also checks the two ISAs give the same
 * bits on every case it times.
 *
 *   gemm8_bench [SECONDS_PER_CASE]     (default 0.3)
 *
 * Build (after make engine):
 *   cc -std=gnu11 -O2 -Isrc/engine test/bench/gemm8_bench.c -o build/gemm8_bench \
 *      build/libllmengine.a -lpcre2-8 -lutf8proc -lm -lpthread
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"
#include "llm_types.h"

/*
 * Monotonic clock in seconds.
 */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

/*
 * Seconds per call of k's gemm8 for type t: ng groups of packed rows of n
 * elements at w8 against nc activation rows at a (ab bytes apart), output
 * y (ldy = 8 ng); the best of 5 rounds of enough calls for secs / 5.
 */
static double
time_gemm8(const llm_kernels *k, llm_type t, int64_t n, int64_t ng, int64_t nc,
		   const void *w8, const void *a, size_t ab, float *y, double secs)
{
	double		best = 1e30;
	long		reps = 1;

	/* calibrate the repetition count */
	for (;;)
	{
		double		t0 = now_s();

		for (long r = 0; r < reps; r++)
			k->type[t].gemm8(n, ng, nc, w8, a, ab, y, 8 * ng);
		if (now_s() - t0 > secs / 20 || reps > (1L << 24))
			break;
		reps *= 2;
	}
	for (int round = 0; round < 5; round++)
	{
		double		t0 = now_s(),
					dt;

		for (long r = 0; r < reps; r++)
			k->type[t].gemm8(n, ng, nc, w8, a, ab, y, 8 * ng);
		dt = (now_s() - t0) / (double) reps;
		if (dt < best)
			best = dt;
	}
	return best;
}

/*
 * Time every case; print one line per (matrix, tokens) with both ISAs'
 * multiply-adds per second and their ratio.
 */
int
main(int argc, char **argv)
{
	static const struct
	{
		llm_type	t;
		int64_t		rows;
		int64_t		n;
	}			mats[] = {
		{LLM_TYPE_Q4_1, 576, 576}, {LLM_TYPE_Q4_1, 1536, 576},
		{LLM_TYPE_Q4_1, 576, 1536}, {LLM_TYPE_Q8_0, 49152, 576},
	};
	static const int64_t ncs[] = {1, 4, 16};
	double		secs = argc > 1 ? atof(argv[1]) : 0.3;
	llm_kernels ka,
				kx;
	int			bad = 0;

	if (!llm_cpu_has_avx512())
	{
		fprintf(stderr, "gemm8_bench: this CPU lacks AVX-512 VNNI\n");
		return 1;
	}
	llm_kernels_init(&ka, "avx2");
	llm_kernels_init(&kx, "avx512");
	printf("%-6s %12s %6s %12s %12s %7s\n", "type", "rows x n", "tokens", "avx2 GMAC/s",
		   "avx512 GMAC/s", "ratio");
	for (size_t m = 0; m < sizeof(mats) / sizeof(mats[0]); m++)
	{
		llm_type	t = mats[m].t;
		llm_type	at = ka.type[t].vec_dot_type;
		int64_t		n = mats[m].n,
					rows = mats[m].rows,
					ng = rows / 8;
		size_t		wb = llm_row_size(t, n),
					ab = llm_row_size(at, n);
		char	   *w = malloc(wb * (size_t) rows);
		char	   *w8 = malloc(wb * (size_t) rows);
		char	   *a = malloc(ab * 16);
		float	   *x = malloc(sizeof(float) * (size_t) n);
		float	   *y1 = malloc(sizeof(float) * (size_t) (rows * 16));
		float	   *y2 = malloc(sizeof(float) * (size_t) (rows * 16));
		uint64_t	s = 12345 + m;

		if (!w || !w8 || !a || !x || !y1 || !y2)
			return 1;
		for (int64_t r = 0; r < rows; r++)
		{
			for (int64_t j = 0; j < n; j++)
			{
				s = s * 6364136223846793005ULL + 1442695040888963407ULL;
				x[j] = (float) ((double) (s >> 11) / 9007199254740992.0 - 0.5);
			}
			ka.type[t].from_float(x, w + r * wb, n);
		}
		for (int64_t g = 0; g < ng; g++)
			ka.type[t].pack8(n, w + g * 8 * wb, wb, w8 + g * 8 * wb);
		for (int c = 0; c < 16; c++)
		{
			for (int64_t j = 0; j < n; j++)
			{
				s = s * 6364136223846793005ULL + 1442695040888963407ULL;
				x[j] = (float) ((double) (s >> 11) / 9007199254740992.0 - 0.5);
			}
			ka.type[at].from_float(x, a + c * ab, n);
		}
		for (size_t q = 0; q < sizeof(ncs) / sizeof(ncs[0]); q++)
		{
			int64_t		nc = ncs[q];
			double		ta = time_gemm8(&ka, t, n, ng, nc, w8, a, ab, y1, secs);
			double		tx = time_gemm8(&kx, t, n, ng, nc, w8, a, ab, y2, secs);
			double		macs = (double) rows * (double) n * (double) nc;
			char		shape[32];

			if (memcmp(y1, y2, sizeof(float) * (size_t) (rows * nc)) != 0)
				bad = 1;
			snprintf(shape, sizeof(shape), "%lldx%lld", (long long) rows, (long long) n);
			printf("%-6s %12s %6lld %12.2f %12.2f %6.2fx\n", llm_type_name(t), shape,
				   (long long) nc, macs / ta * 1e-9, macs / tx * 1e-9, ta / tx);
			fflush(stdout);
		}
		free(w), free(w8), free(a), free(x), free(y1), free(y2);
	}
	if (bad)
		printf("DIFFERENT BITS between avx2 and avx512\n");
	return bad;
}
