/*
 * fgemm_isa_bench.c - can AVX-512 make the encoder's float GEMM faster?
 *
 * Times, in the same run and on the same matrices, the engine's two
 * products on an AVX512_BF16 CPU, taken from the table the encoder uses
 * (llm_vmath_init with "avx512": gemm_f32 is llm_fgemm_avx2, gemm is
 * llm_fgemm_avx512bf16), and one AVX-512 candidate written here only
 * for the measurement:
 *   f32x16  one 512-bit FMA chain per row and 16-column panel (the same
 *           bits as the engine's kernels: one fused chain over k);
 *   bf16    the engine's vdpbf16ps product (A and B rounded to bfloat16,
 *           A converted in each call; not the same bits, the relative
 *           error against f32 is printed).
 * Prints GFLOP/s (2*m*n*k per product, best of 20) and the ratios to
 * AVX2. Needs AVX-512 F and BF16; exits 0 with a message otherwise.
 *
 *   cc -O2 -Isrc/engine test/bench/fgemm_isa_bench.c build/libllmengine.a \
 *      -lm -lpthread -lpcre2-8 -lutf8proc -o build/fgemm_isa_bench
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "fgemm.h"
#include "llm_util.h"
#include "vmath.h"

#define BENCH_MR 12				/* rows of A per micro-kernel call */
#define BENCH_M 128				/* tokens: a batch of short texts */

/*
 * to_float callback of llm_fgemm_pack for a plain f32 matrix.
 */
static void
copy_f32(const void *x, float *y, int64_t n)
{
	memcpy(y, x, (size_t) n * sizeof(float));
}

/*
 * R rows of A (f32) times one packed f32 panel: R accumulators of 16
 * lanes, A broadcast from memory.
 */
__attribute__((target("avx512f")))
static inline __attribute__((always_inline)) void
kern_f32(int R, int64_t k, const float *a, int64_t lda, const float *panel, float *c,
		 int64_t ldc)
{
	__m512		acc[BENCH_MR];

#pragma GCC unroll 12
	for (int r = 0; r < R; r++)
		acc[r] = _mm512_setzero_ps();
	for (int64_t kk = 0; kk < k; kk++)
	{
		__m512		b = _mm512_load_ps(panel + kk * 16);

	#pragma GCC unroll 12
	for (int r = 0; r < R; r++)
			acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + kk]), b, acc[r]);
	}
#pragma GCC unroll 12
	for (int r = 0; r < R; r++)
		_mm512_storeu_ps(c + r * ldc, acc[r]);
}

/*
 * C [m x n] = A * B^T over every panel with kern_f32 (n a multiple of 16).
 */
__attribute__((target("avx512f")))
static void
gemm_f32x16(int64_t m, const float *a, int64_t k, const llm_fgemm_b *b, float *c, int64_t ldc)
{
	for (int64_t i = 0; i < m; i += BENCH_MR)
		for (int64_t p = 0; p < b->n_panels; p++)
		{
			const float *panel = b->data + p * k * 16;

			if (m - i >= BENCH_MR)
				kern_f32(BENCH_MR, k, a + i * k, k, panel, c + i * ldc + p * 16, ldc);
			else
				kern_f32((int) (m - i), k, a + i * k, k, panel, c + i * ldc + p * 16, ldc);
		}
}

/*
 * Relative RMS difference of y against x.
 */
static double
rel_err(const float *x, const float *y, int64_t n)
{
	double		e = 0,
				s = 0;

	for (int64_t i = 0; i < n; i++)
	{
		e += (double) (x[i] - y[i]) * (x[i] - y[i]);
		s += (double) x[i] * x[i];
	}
	return sqrt(e / s);
}

/*
 * Each MiniLM / MPNet-like shape: n x k weights against BENCH_M tokens.
 */
int
main(void)
{
	static const int shapes[][2] = {{384, 384}, {1536, 384}, {384, 1536}, {768, 768}, {3072, 768}};
	char		err[LLM_ERRLEN];
	llm_vmath	vm;

	__builtin_cpu_init();
	llm_vmath_init(&vm, "avx512");
	if (!__builtin_cpu_supports("avx512f") || strcmp(vm.gemm_kind, "bf16") != 0)
	{
		printf("fgemm_isa_bench: this CPU lacks AVX-512 F or BF16, nothing to compare\n");
		return 0;
	}
	printf("| weights (n x k) | tokens | avx2 GFLOP/s | f32x16 | bf16 | f32x16/avx2 | bf16/avx2 | bf16 rel. err |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
	{
		int64_t		n = shapes[s][0],
					k = shapes[s][1],
					m = BENCH_M;
		float	   *A = malloc(sizeof(float) * m * k),
				   *B = malloc(sizeof(float) * n * k),
				   *C = malloc(sizeof(float) * m * n),
				   *C2 = malloc(sizeof(float) * m * n),
				   *C3 = malloc(sizeof(float) * m * n);
		llm_fgemm_b pb;
		double		t1 = 1e9,
					t2 = 1e9,
					t3 = 1e9,
					flop = 2.0 * m * n * k;

		if (!A || !B || !C || !C2 || !C3)
			return 1;
		srand(1);
		for (int64_t i = 0; i < m * k; i++)
			A[i] = rand() / (float) RAND_MAX - 0.5f;
		for (int64_t i = 0; i < n * k; i++)
			B[i] = rand() / (float) RAND_MAX - 0.5f;
		if (llm_fgemm_pack(&pb, n, k, B, (size_t) k * sizeof(float), copy_f32, err) != 0)
		{
			fprintf(stderr, "pack: %s\n", err);
			return 1;
		}
		for (int rep = 0; rep < 20; rep++)
		{
			double		t = bench_now();

			vm.gemm_f32(m, A, k, &pb, 0, pb.n_panels, NULL, C, n);
			t = bench_now() - t;
			t1 = t < t1 ? t : t1;
			t = bench_now();
			gemm_f32x16(m, A, k, &pb, C2, n);
			t = bench_now() - t;
			t2 = t < t2 ? t : t2;
			t = bench_now();
			vm.gemm(m, A, k, &pb, 0, pb.n_panels, NULL, C3, n);
			t = bench_now() - t;
			t3 = t < t3 ? t : t3;
		}
		if (memcmp(C, C2, sizeof(float) * m * n) != 0)
			printf("f32x16 differs from avx2 for %lld x %lld\n", (long long) n, (long long) k);
		printf("| %lld x %lld | %lld | %.1f | %.1f | %.1f | %.2f | %.2f | %.1e |\n",
			   (long long) n, (long long) k, (long long) m, flop / t1 / 1e9, flop / t2 / 1e9,
			   flop / t3 / 1e9, t1 / t2, t1 / t3, rel_err(C, C3, m * n));
		llm_fgemm_b_free(&pb);
		free(A); free(B); free(C); free(C2); free(C3);
	}
	return 0;
}
