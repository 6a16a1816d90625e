/*
 * pack_q5_bench.c - microbenchmark of the packed q4_0 / q5_0 products
 * (gemm8, AVX2 and AVX-512 VNNI) against the unpacked path they replace
 * (the table's vec_dot over every row and token, what the forward pass
 * does for these types without packing), one thread, in the same run, on
 * Gemma-3-270M-shaped matrices: 2048x640, 640x2048 and 1024x640 (rows x
 * row length), for 1, 4 and 16 activation rows (tokens). Not part of the
 * test suite; it also checks the two gemm8 ISAs give the same bits.
 *
 *   pack_q5_bench [SECONDS_PER_CASE]     (default 0.2)
 *
 * Build (after make engine):
 *   cc -std=gnu11 -O2 -Isrc/engine test/bench/pack_q5_bench.c -o build/pack_q5_bench \
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
 * One product of rows x n weights of type t with nc activation rows:
 * packed (gemm8 of k on w8) or, with packed false, vec_dot of k on every
 * (row, token) pair of the unpacked w.
 */
static void
run_once(const llm_kernels *k, llm_type t, bool packed, int64_t n, int64_t rows, int64_t nc,
		 const char *w, size_t wb, const char *w8, const char *a, size_t ab, float *y)
{
	if (packed)
	{
		k->type[t].gemm8(n, rows / 8, nc, w8, a, ab, y, rows);
		return;
	}
	for (int64_t c = 0; c < nc; c++)
		for (int64_t r = 0; r < rows; r++)
			k->type[t].vec_dot(n, &y[c * rows + r], w + r * wb, a + c * ab);
}

/*
 * Seconds per run_once: the best of 5 rounds of enough calls for secs / 5.
 */
static double
time_case(const llm_kernels *k, llm_type t, bool packed, int64_t n, int64_t rows, int64_t nc,
		  const char *w, size_t wb, const char *w8, const char *a, size_t ab, float *y,
		  double secs)
{
	double		best = 1e30;
	long		reps = 1;

	for (;;)
	{
		double		t0 = now_s();

		for (long r = 0; r < reps; r++)
			run_once(k, t, packed, n, rows, nc, w, wb, w8, a, ab, y);
		if (now_s() - t0 > secs / 20 || reps > (1L << 24))
			break;
		reps *= 2;
	}
	for (int round = 0; round < 5; round++)
	{
		double		t0 = now_s(),
					dt;

		for (long r = 0; r < reps; r++)
			run_once(k, t, packed, n, rows, nc, w, wb, w8, a, ab, y);
		dt = (now_s() - t0) / (double) reps;
		if (dt < best)
			best = dt;
	}
	return best;
}

/*
 * A pseudo-random float in [-0.5, 0.5) from the LCG state *s.
 */
static float
rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (float) ((double) (*s >> 11) / 9007199254740992.0 - 0.5);
}

/*
 * Time every case; one line per (type, matrix, tokens): GMAC/s of the
 * unpacked vec_dot path, of gemm8 AVX2 and AVX-512, and packed/unpacked.
 */
int
main(int argc, char **argv)
{
	static const llm_type types[] = {LLM_TYPE_Q4_0, LLM_TYPE_Q5_0};
	static const int64_t shapes[][2] = {{2048, 640}, {640, 2048}, {1024, 640}};
	static const int64_t ncs[] = {1, 4, 16};
	double		secs = argc > 1 ? atof(argv[1]) : 0.2;
	llm_kernels ka,
				kx;
	int			bad = 0;

	if (!llm_cpu_has_avx512())
	{
		fprintf(stderr, "pack_q5_bench: this CPU lacks AVX-512 VNNI\n");
		return 1;
	}
	llm_kernels_init(&ka, "avx2");
	llm_kernels_init(&kx, "avx512");
	printf("%-5s %10s %6s %10s %10s %10s %8s %8s\n", "type", "rows x n", "tokens",
		   "vec_dot", "gemm8 avx2", "gemm8 512", "avx2/vd", "512/vd");
	for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++)
		for (size_t m = 0; m < sizeof(shapes) / sizeof(shapes[0]); m++)
		{
			llm_type	t = types[ti];
			int64_t		rows = shapes[m][0],
						n = shapes[m][1];
			size_t		wb = llm_row_size(t, n),
						ab = llm_row_size(LLM_TYPE_Q8_0, n);
			char	   *w = malloc(wb * rows),
					   *w8 = malloc(wb * rows),
					   *a = malloc(ab * 16);
			float	   *x = malloc(sizeof(float) * n),
					   *y1 = malloc(sizeof(float) * rows * 16),
					   *y2 = malloc(sizeof(float) * rows * 16);
			uint64_t	s = 777 + 10 * ti + m;

			if (!w || !w8 || !a || !x || !y1 || !y2)
				return 1;
			for (int64_t r = 0; r < rows; r++)
			{
				for (int64_t j = 0; j < n; j++)
					x[j] = rnd(&s);
				ka.type[t].from_float(x, w + r * wb, n);
			}
			for (int64_t g = 0; g < rows / 8; g++)
				ka.type[t].pack8(n, w + g * 8 * wb, wb, w8 + g * 8 * wb);
			for (int c = 0; c < 16; c++)
			{
				for (int64_t j = 0; j < n; j++)
					x[j] = rnd(&s);
				ka.type[LLM_TYPE_Q8_0].from_float(x, a + c * ab, n);
			}
			for (size_t q = 0; q < sizeof(ncs) / sizeof(ncs[0]); q++)
			{
				int64_t		nc = ncs[q];
				double		tv = time_case(&ka, t, false, n, rows, nc, w, wb, w8, a, ab, y1, secs);
				double		ta = time_case(&ka, t, true, n, rows, nc, w, wb, w8, a, ab, y1, secs);
				double		tx = time_case(&kx, t, true, n, rows, nc, w, wb, w8, a, ab, y2, secs);
				double		gmac = (double) rows * (double) n * (double) nc * 1e-9;
				char		shape[32];

				if (memcmp(y1, y2, sizeof(float) * rows * nc) != 0)
					bad = 1;
				snprintf(shape, sizeof(shape), "%lldx%lld", (long long) rows, (long long) n);
				printf("%-5s %10s %6lld %10.2f %10.2f %10.2f %7.2fx %7.2fx\n", llm_type_name(t), shape,
					   (long long) nc, gmac / tv, gmac / ta, gmac / tx, tv / ta, tv / tx);
				fflush(stdout);
			}
			free(w), free(w8), free(a), free(x), free(y1), free(y2);
		}
	if (bad)
		printf("DIFFERENT BITS between avx2 and avx512\n");
	return bad;
}
