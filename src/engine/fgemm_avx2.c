/*
 * fgemm_avx2.c - the AVX2/FMA float product C = A * B^T over packed B
 * (see fgemm.h). Compiled with -mavx2 -mfma; called after a cpuid check.
 *
 * Micro-kernel: R <= 6 rows of A against one 16-column panel, 2R
 * accumulators of 8 lanes; per k, two panel loads, R broadcasts of A and
 * 2R FMAs. Each lane is one element of C: a single FMA chain over k, so
 * the result equals llm_fgemm_ref() bit for bit.
 *
 * Blocking: panels are taken in groups that stay in L2 while every block
 * of 6 rows of A (in L1) runs against each panel of the group.
 */
#include "fgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define GEMM_MR 6				/* rows of A per micro-kernel call */
#define GEMM_L2_FLOATS (48 * 1024)	/* panel group budget: 192 kB */

/*
 * C[0..R) x panel = A[0..R) * panel (+ bias), R a compile-time constant
 * after inlining; nj (<= 16) columns are stored.
 */
static inline __attribute__((always_inline)) void
gemm_kernel(const int R, int64_t k, const float *a, int64_t lda, const float *panel,
			const float *bias, float *c, int64_t ldc, int64_t nj)
{
	__m256		acc[GEMM_MR][2];
	int			r;

#pragma GCC unroll 6
	for (r = 0; r < R; r++)
	{
		if (bias && nj == LLM_FGEMM_PANEL)
		{
			acc[r][0] = _mm256_loadu_ps(bias);
			acc[r][1] = _mm256_loadu_ps(bias + 8);
		}
		else if (bias)
		{
			float		tmp[LLM_FGEMM_PANEL] = {0};

			for (int64_t j = 0; j < nj; j++)
				tmp[j] = bias[j];
			acc[r][0] = _mm256_loadu_ps(tmp);
			acc[r][1] = _mm256_loadu_ps(tmp + 8);
		}
		else
		{
			acc[r][0] = _mm256_setzero_ps();
			acc[r][1] = _mm256_setzero_ps();
		}
	}
	for (int64_t kk = 0; kk < k; kk++)
	{
		__m256		b0 = _mm256_load_ps(panel + kk * LLM_FGEMM_PANEL);
		__m256		b1 = _mm256_load_ps(panel + kk * LLM_FGEMM_PANEL + 8);

#pragma GCC unroll 6
		for (r = 0; r < R; r++)
		{
			__m256		av = _mm256_broadcast_ss(a + r * lda + kk);

			acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
			acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
		}
	}
#pragma GCC unroll 6
	for (r = 0; r < R; r++)
	{
		if (nj == LLM_FGEMM_PANEL)
		{
			_mm256_storeu_ps(c + r * ldc, acc[r][0]);
			_mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
		}
		else
		{
			float		tmp[LLM_FGEMM_PANEL];

			_mm256_storeu_ps(tmp, acc[r][0]);
			_mm256_storeu_ps(tmp + 8, acc[r][1]);
			for (int64_t j = 0; j < nj; j++)
				c[r * ldc + j] = tmp[j];
		}
	}
}

/*
 * See fgemm.h.
 */
void
llm_fgemm_avx2(int64_t m, const float *a, int64_t lda, const llm_fgemm_b *b, int64_t p0,
			  int64_t p1, const float *bias, float *c, int64_t ldc)
{
	int64_t		k = b->k;
	int64_t		group = GEMM_L2_FLOATS / (k * LLM_FGEMM_PANEL);

	if (group < 1)
		group = 1;
	for (int64_t g0 = p0; g0 < p1; g0 += group)
	{
		int64_t		g1 = g0 + group < p1 ? g0 + group : p1;

		for (int64_t i = 0; i < m; i += GEMM_MR)
		{
			int64_t		R = m - i < GEMM_MR ? m - i : GEMM_MR;
			const float *ai = a + i * lda;

			for (int64_t p = g0; p < g1; p++)
			{
				const float *panel = b->data + p * k * LLM_FGEMM_PANEL;
				int64_t		j0 = p * LLM_FGEMM_PANEL;
				int64_t		nj = b->n - j0 < LLM_FGEMM_PANEL ? b->n - j0 : LLM_FGEMM_PANEL;
				const float *bj = bias ? bias + j0 : NULL;
				float	   *cij = c + i * ldc + j0;

				switch (R)
				{
					case 6:
						gemm_kernel(6, k, ai, lda, panel, bj, cij, ldc, nj);
						break;
					case 5:
						gemm_kernel(5, k, ai, lda, panel, bj, cij, ldc, nj);
						break;
					case 4:
						gemm_kernel(4, k, ai, lda, panel, bj, cij, ldc, nj);
						break;
					case 3:
						gemm_kernel(3, k, ai, lda, panel, bj, cij, ldc, nj);
						break;
					case 2:
						gemm_kernel(2, k, ai, lda, panel, bj, cij, ldc, nj);
						break;
					default:
						gemm_kernel(1, k, ai, lda, panel, bj, cij, ldc, nj);
						break;
				}
			}
		}
	}
}

#endif							/* __x86_64__ */
