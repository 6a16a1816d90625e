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

#include "bench.h"
#include "kernels.h"
#include "llm_types.h"

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
		int64_t		n = mats[m].n,
					rows = mats[m].rows;
		bench_qmat	qm;
		float	   *y1 = malloc(sizeof(float) * (size_t) (rows * BENCH_QMAT_TOKENS));
		float	   *y2 = malloc(sizeof(float) * (size_t) (rows * BENCH_QMAT_TOKENS));
		uint64_t	s = 12345 + m;

		if (!y1 || !y2 || !bench_qmat_new(&qm, &ka, t, rows, n, &s))
			return 1;
		for (size_t q = 0; q < sizeof(ncs) / sizeof(ncs[0]); q++)
		{
			int64_t		nc = ncs[q];
			double		ta = bench_qtime(&ka, &qm, true, nc, y1, secs);
			double		tx = bench_qtime(&kx, &qm, true, nc, y2, secs);
			double		macs = (double) rows * (double) n * (double) nc;
			char		shape[32];

			if (memcmp(y1, y2, sizeof(float) * (size_t) (rows * nc)) != 0)
				bad = 1;
			snprintf(shape, sizeof(shape), "%lldx%lld", (long long) rows, (long long) n);
			printf("%-6s %12s %6lld %12.2f %12.2f %6.2fx\n", llm_type_name(t), shape,
				   (long long) nc, macs / ta * 1e-9, macs / tx * 1e-9, ta / tx);
			fflush(stdout);
		}
		bench_qmat_free(&qm);
		free(y1), free(y2);
	}
	if (bad)
		printf("DIFFERENT BITS between avx2 and avx512\n");
	return bad;
}
