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

#include "bench.h"
#include "kernels.h"
#include "llm_types.h"

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
			bench_qmat	qm;
			float	   *y1 = malloc(sizeof(float) * rows * BENCH_QMAT_TOKENS),
					   *y2 = malloc(sizeof(float) * rows * BENCH_QMAT_TOKENS);
			uint64_t	s = 777 + 10 * ti + m;

			if (!y1 || !y2 || !bench_qmat_new(&qm, &ka, t, rows, n, &s))
				return 1;
			for (size_t q = 0; q < sizeof(ncs) / sizeof(ncs[0]); q++)
			{
				int64_t		nc = ncs[q];
				double		tv = bench_qtime(&ka, &qm, false, nc, y1, secs);
				double		ta = bench_qtime(&ka, &qm, true, nc, y1, secs);
				double		tx = bench_qtime(&kx, &qm, true, nc, y2, secs);
				double		gmac = (double) rows * (double) n * (double) nc * 1e-9;
				char		shape[32];

				if (memcmp(y1, y2, sizeof(float) * rows * nc) != 0)
					bad = 1;
				snprintf(shape, sizeof(shape), "%lldx%lld", (long long) rows, (long long) n);
				printf("%-5s %10s %6lld %10.2f %10.2f %10.2f %7.2fx %7.2fx\n", llm_type_name(t), shape,
					   (long long) nc, gmac / tv, gmac / ta, gmac / tx, tv / ta, tv / tx);
				fflush(stdout);
			}
			bench_qmat_free(&qm);
			free(y1), free(y2);
		}
	if (bad)
		printf("DIFFERENT BITS between avx2 and avx512\n");
	return bad;
}
