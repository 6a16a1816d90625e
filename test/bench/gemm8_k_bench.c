/*
 * gemm8_k_bench.c - microbenchmark of the packed K-quant products (gemm8
 * of q4_K, q5_K, q6_K) against the unpacked path they replace (vec_dot
 * per row and token, what the forward pass runs for an unpacked K-quant
 * matrix), same run, one thread, on Gemma-3-270M-shaped matrices (640
 * rows of 1024 or 2048), for 1 and 16 activation rows. Not a test; it
 * prints the ratio only.
 *
 *   gemm8_k_bench [avx2|avx512] [SECONDS_PER_CASE]   (default auto 0.3)
 *
 * Build (after make engine):
 *   cc -std=gnu11 -O2 -Isrc/engine test/bench/gemm8_k_bench.c -o build/gemm8_k_bench \
 *      build/libllmengine.a -lpcre2-8 -lutf8proc -lm -lpthread
 */
#include <stdio.h>
#include <stdlib.h>
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
 * One pass of the packed (p) or unpacked path over rows x n weights and nc
 * activation rows.
 */
static void
pass(const llm_kernels *k, llm_type t, bool p, int64_t n, int64_t rows, int64_t nc,
	 const char *w, const char *w8, const char *a, size_t wb, size_t ab, float *y)
{
	if (p)
	{
		k->type[t].gemm8(n, rows / 8, nc, w8, a, ab, y, rows);
		return;
	}
	for (int64_t c = 0; c < nc; c++)
		for (int64_t r = 0; r < rows; r++)
			k->type[t].vec_dot(n, &y[c * rows + r], w + r * wb, a + c * ab);
}

/*
 * Seconds per pass: best of 5 rounds of enough passes for secs / 5.
 */
static double
time_pass(const llm_kernels *k, llm_type t, bool p, int64_t n, int64_t rows, int64_t nc,
		  const char *w, const char *w8, const char *a, size_t wb, size_t ab, float *y, double secs)
{
	long		reps = 1;
	double		best = 1e30;

	for (;;)
	{
		double		t0 = now_s();

		for (long i = 0; i < reps; i++)
			pass(k, t, p, n, rows, nc, w, w8, a, wb, ab, y);
		if (now_s() - t0 > secs / 20 || reps > (1L << 24))
			break;
		reps *= 2;
	}
	for (int round = 0; round < 5; round++)
	{
		double		t0 = now_s(),
					dt;

		for (long i = 0; i < reps; i++)
			pass(k, t, p, n, rows, nc, w, w8, a, wb, ab, y);
		dt = (now_s() - t0) / (double) reps;
		if (dt < best)
			best = dt;
	}
	return best;
}

/*
 * Time every case and print GMAC/s of both paths and their ratio.
 */
int
main(int argc, char **argv)
{
	static const struct
	{
		llm_type	t;
		int64_t		rows,
					n;
	}			mats[] = {
		{LLM_TYPE_Q4_K, 640, 1024}, {LLM_TYPE_Q4_K, 640, 2048},
		{LLM_TYPE_Q5_K, 640, 2048}, {LLM_TYPE_Q6_K, 640, 2048},
	};
	static const int64_t ncs[] = {1, 16};
	double		secs = argc > 2 ? atof(argv[2]) : 0.3;
	llm_kernels k;
	uint64_t	s = 99;

	printf("isa %s\n", llm_kernels_init(&k, argc > 1 ? argv[1] : NULL));
	printf("%-5s %10s %6s %14s %14s %6s\n", "type", "rows x n", "tokens", "vec_dot GMAC/s",
		   "gemm8 GMAC/s", "ratio");
	for (size_t m = 0; m < sizeof(mats) / sizeof(mats[0]); m++)
	{
		llm_type	t = mats[m].t;
		int64_t		n = mats[m].n,
					rows = mats[m].rows;
		size_t		wb = llm_row_size(t, n),
					ab = llm_row_size(LLM_TYPE_Q8_K, n);
		char	   *w = malloc(wb * rows),
				   *w8 = malloc(wb * rows),
				   *a = malloc(ab * 16);
		float	   *x = malloc(sizeof(float) * n),
				   *y = malloc(sizeof(float) * rows * 16);

		if (!w || !w8 || !a || !x || !y)
			return 1;
		for (int64_t r = 0; r < rows + 16; r++)
		{
			for (int64_t j = 0; j < n; j++)
			{
				s = s * 6364136223846793005ULL + 1442695040888963407ULL;
				x[j] = (float) ((double) (s >> 11) / 9007199254740992.0 - 0.5);
			}
			if (r < rows)
				k.type[t].from_float(x, w + r * wb, n);
			else
				k.type[LLM_TYPE_Q8_K].from_float(x, a + (r - rows) * ab, n);
		}
		for (int64_t g = 0; g < rows / 8; g++)
			k.type[t].pack8(n, w + g * 8 * wb, wb, w8 + g * 8 * wb);
		for (size_t q = 0; q < sizeof(ncs) / sizeof(ncs[0]); q++)
		{
			int64_t		nc = ncs[q];
			double		tu = time_pass(&k, t, false, n, rows, nc, w, w8, a, wb, ab, y, secs);
			double		tp = time_pass(&k, t, true, n, rows, nc, w, w8, a, wb, ab, y, secs);
			double		macs = (double) rows * (double) n * (double) nc;
			char		shape[32];

			snprintf(shape, sizeof(shape), "%lldx%lld", (long long) rows, (long long) n);
			printf("%-5s %10s %6lld %14.2f %14.2f %6.2f\n", llm_type_name(t), shape, (long long) nc,
				   macs / tu * 1e-9, macs / tp * 1e-9, tu / tp);
		}
		free(w), free(w8), free(a), free(x), free(y);
	}
	return 0;
}
