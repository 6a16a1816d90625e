/*
 * fgemm_bf16_avx512.c - the bfloat16 product C = A * B^T over packed B
 * (see fgemm.h) with AVX512_BF16: vcvtne2ps2bf16 rounds, vdpbf16ps adds
 * two exact products per 32-bit lane and instruction, twice the work of
 * an FMA on Zen 4 (test/bench/fgemm_isa_bench.c measured 1.8 - 2.4x the
 * AVX2 f32 kernel on the encoder's shapes, one thread).
 *
 * The packed f32 B of the model is used as it is: each 16-column panel is
 * rounded into a scratch panel of k/2 pairs ([k/2][16 columns][2]) and the
 * rows of A once per call into pairs (one 32-bit word per two k). Then the
 * micro-kernel runs R <= 12 rows of A against the panel: 12 accumulators
 * of 16 lanes, per pair of k one panel load, R broadcasts and R vdpbf16ps.
 * Every lane is one element of C and one chain over the pairs in order, so
 * the result is llm_fgemm_bf16_ref() bit for bit, for any batch and split.
 *
 * Built with the AVX-512 flags (-mavx512bf16 among them); nothing here may
 * run before llm_cpu_has_avx512_bf16() said yes.
 */
#include "fgemm.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define BF_MR 12				/* rows of A per micro-kernel call */

/*
 * Round rows [0, m) of A (k values each, row stride lda) into pairs:
 * out[i * k2 + q] holds bf16(A[i][2q]) in its low half and bf16(A[i][2q+1])
 * in its high half (0 past k).
 */
static void
bf_round_a(int64_t m, const float *a, int64_t lda, int64_t k, int64_t k2, uint32_t *out)
{
	for (int64_t i = 0; i < m; i++)
	{
		const float *ai = a + i * lda;
		uint32_t   *oi = out + i * k2;
		int64_t		kk = 0;

		for (; kk + 32 <= k; kk += 32)
		{
			__m512bh	h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(ai + kk + 16),
												_mm512_loadu_ps(ai + kk));

			_mm512_storeu_si512(oi + kk / 2, (__m512i) h);
		}
		for (; kk < k; kk += 2)
		{
			uint32_t	lo = llm_f32_to_bf16_rne(ai[kk]),
						hi = kk + 1 < k ? llm_f32_to_bf16_rne(ai[kk + 1]) : 0;

			oi[kk / 2] = lo | (hi << 16);
		}
	}
}

/*
 * Round one f32 panel ([k][16]) into bf16 pairs ([k2][16][2]): lane j of
 * pair q holds column j's values for k = 2q (low) and 2q + 1 (high).
 */
static void
bf_round_panel(const float *panel, int64_t k, int64_t k2, uint16_t *out)
{
	/* word w of the result: column w / 2 of row (w odd ? 16 : 0) + ... */
	const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10,
										 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
										 19, 3, 18, 2, 17, 1, 16, 0);

	for (int64_t q = 0; q < k2; q++)
	{
		__m512		lo = _mm512_load_ps(panel + 2 * q * LLM_FGEMM_PANEL);
		__m512		hi = 2 * q + 1 < k ? _mm512_load_ps(panel + (2 * q + 1) * LLM_FGEMM_PANEL)
			: _mm512_setzero_ps();
		__m512i		h = (__m512i) _mm512_cvtne2ps_pbh(hi, lo);

		_mm512_store_si512(out + q * 2 * LLM_FGEMM_PANEL, _mm512_permutexvar_epi16(idx, h));
	}
}

/*
 * C[0..R) x panel = A'[0..R) * panel' (+ bias), R a compile-time constant
 * after inlining; nj (<= 16) columns are stored.
 */
static inline __attribute__((always_inline)) void
bf_kernel(const int R, int64_t k2, const uint32_t *a, const uint16_t *panel,
		  const float *bias, float *c, int64_t ldc, int64_t nj)
{
	__mmask16	mask = (__mmask16) ((1u << nj) - 1u);
	__m512		acc[BF_MR];
	__m512		init = _mm512_setzero_ps();
	int			r;

	if (bias)
		init = _mm512_maskz_loadu_ps(mask, bias);
	/* a denormal bias enters the chain as a zero of its sign, as in the reference */
	{
		__m512i		u = _mm512_castps_si512(init);
		__mmask16	den = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));

		u = _mm512_mask_and_epi32(u, den, u, _mm512_set1_epi32((int) 0x80000000u));
		init = _mm512_castsi512_ps(u);
	}
#pragma GCC unroll 12
	for (r = 0; r < R; r++)
		acc[r] = init;
	for (int64_t q = 0; q < k2; q++)
	{
		__m512bh	b = (__m512bh) _mm512_load_si512(panel + q * 2 * LLM_FGEMM_PANEL);

#pragma GCC unroll 12
		for (r = 0; r < R; r++)
			acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh) _mm512_set1_epi32((int) a[r * k2 + q]), b);
	}
#pragma GCC unroll 12
	for (r = 0; r < R; r++)
		_mm512_mask_storeu_ps(c + r * ldc, mask, acc[r]);
}

/*
 * See fgemm.h.
 */
void
llm_fgemm_avx512bf16(int64_t m, const float *a, int64_t lda, const llm_fgemm_b *b, int64_t p0,
					int64_t p1, const float *bias, float *c, int64_t ldc)
{
	int64_t		k = b->k,
				k2 = (k + 1) / 2;
	uint32_t   *ab;
	uint16_t   *pb;

	if (m <= 0 || p1 <= p0)
		return;
	ab = malloc((size_t) m * (size_t) k2 * sizeof(uint32_t));
	pb = aligned_alloc(64, (size_t) k2 * 2 * LLM_FGEMM_PANEL * sizeof(uint16_t));
	if (!ab || !pb)
	{
		/* no scratch: the f32 product, same machine (AVX2 is implied) */
		free(ab);
		free(pb);
		llm_fgemm_avx2(m, a, lda, b, p0, p1, bias, c, ldc);
		return;
	}
	bf_round_a(m, a, lda, k, k2, ab);
	for (int64_t p = p0; p < p1; p++)
	{
		int64_t		j0 = p * LLM_FGEMM_PANEL;
		int64_t		nj = b->n - j0 < LLM_FGEMM_PANEL ? b->n - j0 : LLM_FGEMM_PANEL;
		const float *bj = bias ? bias + j0 : NULL;

		bf_round_panel(b->data + p * k * LLM_FGEMM_PANEL, k, k2, pb);
		for (int64_t i = 0; i < m; i += BF_MR)
		{
			const uint32_t *ai = ab + i * k2;
			float	   *cij = c + i * ldc + j0;

			switch (m - i < BF_MR ? m - i : BF_MR)
			{
				case 12:
					bf_kernel(12, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 11:
					bf_kernel(11, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 10:
					bf_kernel(10, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 9:
					bf_kernel(9, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 8:
					bf_kernel(8, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 7:
					bf_kernel(7, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 6:
					bf_kernel(6, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 5:
					bf_kernel(5, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 4:
					bf_kernel(4, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 3:
					bf_kernel(3, k2, ai, pb, bj, cij, ldc, nj);
					break;
				case 2:
					bf_kernel(2, k2, ai, pb, bj, cij, ldc, nj);
					break;
				default:
					bf_kernel(1, k2, ai, pb, bj, cij, ldc, nj);
					break;
			}
		}
	}
	free(ab);
	free(pb);
}

#endif							/* __x86_64__ */
