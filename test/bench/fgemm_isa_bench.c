/*
 * fgemm_isa_bench.c - can AVX-512 make the encoder's float GEMM faster?
 *
 * Times, in the same run and on the same matrices, the engine's AVX2/FMA
 * product (llm_fgemm_avx2, the path embeddings take today) against two
 * AVX-512 candidates written here only for the measurement:
 *   f32x16  one 512-bit FMA chain per row and 16-column panel (the same
 *           bits as the engine's kernels: one fused chain over k);
 *   bf16    vdpbf16ps on A and B rounded to bfloat16 (two products per
 *           32-bit lane and instruction; not the same bits, the relative
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
#include <time.h>

#include "fgemm.h"
#include "llm_util.h"

#define BENCH_MR 12				/* rows of A per micro-kernel call */
#define BENCH_M 128				/* tokens: a batch of short texts */

/*
 * Monotonic seconds.
 */
static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/*
 * f32 to bfloat16, rounding to nearest even (inputs are finite).
 */
static uint16_t
to_bf16(float f)
{
	uint32_t	u;

	memcpy(&u, &f, 4);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t) (u >> 16);
}

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
 * R rows of A (bf16 pairs, one 32-bit word per two k) times one bf16
 * panel ([k/2][16 columns][2]).
 */
__attribute__((target("avx512f,avx512bf16,avx512bw")))
static inline __attribute__((always_inline)) void
kern_bf16(int R, int64_t k2, const uint32_t *a, int64_t lda2, const uint16_t *panel, float *c,
		  int64_t ldc)
{
	__m512		acc[BENCH_MR];

#pragma GCC unroll 12
	for (int r = 0; r < R; r++)
		acc[r] = _mm512_setzero_ps();
	for (int64_t kk = 0; kk < k2; kk++)
	{
		__m512bh	b = (__m512bh) _mm512_load_si512(panel + kk * 32);

	#pragma GCC unroll 12
	for (int r = 0; r < R; r++)
			acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh) _mm512_set1_epi32((int) a[r * lda2 + kk]), b);
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
 * C [m x n] = A * B^T over every panel with kern_bf16.
 */
__attribute__((target("avx512f,avx512bf16,avx512bw")))
static void
gemm_bf16(int64_t m, const uint32_t *a, int64_t k2, const uint16_t *b, int64_t np, float *c,
		  int64_t ldc)
{
	for (int64_t i = 0; i < m; i += BENCH_MR)
		for (int64_t p = 0; p < np; p++)
		{
			const uint16_t *panel = b + p * k2 * 32;

			if (m - i >= BENCH_MR)
				kern_bf16(BENCH_MR, k2, a + i * k2, k2, panel, c + i * ldc + p * 16, ldc);
			else
				kern_bf16((int) (m - i), k2, a + i * k2, k2, panel, c + i * ldc + p * 16, ldc);
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

	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16"))
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
					m = BENCH_M,
					k2 = k / 2;
		float	   *A = malloc(sizeof(float) * m * k),
				   *B = malloc(sizeof(float) * n * k),
				   *C = malloc(sizeof(float) * m * n),
				   *C2 = malloc(sizeof(float) * m * n),
				   *C3 = malloc(sizeof(float) * m * n);
		uint16_t   *bb = aligned_alloc(64, sizeof(uint16_t) * n * k);
		uint32_t   *aa = malloc(sizeof(uint32_t) * m * k2);
		llm_fgemm_b pb;
		double		t1 = 1e9,
					t2 = 1e9,
					t3 = 1e9,
					flop = 2.0 * m * n * k;

		if (!A || !B || !C || !C2 || !C3 || !bb || !aa)
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
		for (int64_t j = 0; j < n; j++)
			for (int64_t kk = 0; kk < k; kk++)
				bb[((j / 16) * k2 + kk / 2) * 32 + (j % 16) * 2 + (kk & 1)] = to_bf16(B[j * k + kk]);
		for (int64_t i = 0; i < m; i++)
			for (int64_t kk = 0; kk < k2; kk++)
				aa[i * k2 + kk] = to_bf16(A[i * k + 2 * kk]) |
					((uint32_t) to_bf16(A[i * k + 2 * kk + 1]) << 16);
		for (int rep = 0; rep < 20; rep++)
		{
			double		t = now();

			llm_fgemm_avx2(m, A, k, &pb, 0, pb.n_panels, NULL, C, n);
			t = now() - t;
			t1 = t < t1 ? t : t1;
			t = now();
			gemm_f32x16(m, A, k, &pb, C2, n);
			t = now() - t;
			t2 = t < t2 ? t : t2;
			t = now();
			gemm_bf16(m, aa, k2, bb, pb.n_panels, C3, n);
			t = now() - t;
			t3 = t < t3 ? t : t3;
		}
		if (memcmp(C, C2, sizeof(float) * m * n) != 0)
			printf("f32x16 differs from avx2 for %lld x %lld\n", (long long) n, (long long) k);
		printf("| %lld x %lld | %lld | %.1f | %.1f | %.1f | %.2f | %.2f | %.1e |\n",
			   (long long) n, (long long) k, (long long) m, flop / t1 / 1e9, flop / t2 / 1e9,
			   flop / t3 / 1e9, t1 / t2, t1 / t3, rel_err(C, C3, m * n));
		llm_fgemm_b_free(&pb);
		free(A); free(B); free(C); free(C2); free(C3); free(bb); free(aa);
	}
	return 0;
}
