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

#include "bench.h"
#include "kernels.h"
#include "llm_types.h"

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
		bench_qmat	qm;
		float	   *y = malloc(sizeof(float) * rows * BENCH_QMAT_TOKENS);

		if (!y || !bench_qmat_new(&qm, &k, t, rows, n, &s))
			return 1;
		for (size_t q = 0; q < sizeof(ncs) / sizeof(ncs[0]); q++)
		{
			int64_t		nc = ncs[q];
			double		tu = bench_qtime(&k, &qm, false, nc, y, secs);
			double		tp = bench_qtime(&k, &qm, true, nc, y, secs);
			double		macs = (double) rows * (double) n * (double) nc;
			char		shape[32];

			snprintf(shape, sizeof(shape), "%lldx%lld", (long long) rows, (long long) n);
			printf("%-5s %10s %6lld %14.2f %14.2f %6.2f\n", llm_type_name(t), shape, (long long) nc,
				   macs / tu * 1e-9, macs / tp * 1e-9, tu / tp);
		}
		bench_qmat_free(&qm);
		free(y);
	}
	return 0;
}
