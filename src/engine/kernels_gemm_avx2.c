/*
 * kernels_gemm_avx2.c - AVX2 batched matrix products (llm_gemm_fn) for the
 * q4_1 x q8_1 and q8_0 x q8_0 hot paths.
 *
 * Built with -mavx2 -mfma -mf16c like kernels_avx2.c, and under the same
 * rule: no implicit fused multiply-add (pragma below), FMA only where
 * written, so that every (weight row, activation row) pair gives exactly
 * the bits of the single-row product in kernels_avx2.c.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize ("fp-contract=off")
#endif

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <stdbool.h>

#include "kernels_avx2_int.h"
#include "quant.h"

/* ------------------------------------------------ batched products (gemm) */

/*
 * gemm (see llm_gemm_fn): every (weight row, activation row) pair goes
 * through exactly the floating-point operations of the matching vec_dot
 * in kernels_avx2.c, in the same order, so results never depend on the
 * batch. Shared between pairs is only exact work or work done once per
 * pair anyway:
 * fp16 scale conversion, the products d_w d_a (and q4_1 min terms m_w s_a)
 * of 8 pairs per vector multiply, one weight unpack per row for GEMM_TC
 * activation rows. q4_1 x q8_1 and q8_0 x q8_0 share the code (flag q41).
 */

/* rows longer than this many blocks go pair by pair through vec_dot */
#define GEMM_NB_MAX 256
/* activation rows whose scales are prepared together (a multiple of 8) */
#define GEMM_TC 16
/* activation rows whose accumulators stay in registers together */
#define GEMM_TG 4

/*
 * fp16 scales of the first nc (<= GEMM_TC) activation rows at va as
 * floats, block-major: d[i * GEMM_TC + c] (zero for c >= nc); for q8_1 the
 * block sums likewise into s.
 */
static inline __attribute__((always_inline)) void
gemm_prep_scales(const bool q41, const char *va, size_t stride, int nc, int64_t nb,
				 float *d, float *s)
{
	for (int c = 0; c < GEMM_TC; c++)
	{
		const char *a = va + (size_t) (c < nc ? c : 0) * stride;

		for (int64_t i = 0; i < nb; i++)
		{
			d[i * GEMM_TC + c] = c >= nc ? 0.0f : h2f(q41 ? ((const llm_block_q8_1 *) a)[i].d
													  : ((const llm_block_q8_0 *) a)[i].d);
			s[i * GEMM_TC + c] = c >= nc || !q41 ? 0.0f : h2f(((const llm_block_q8_1 *) a)[i].s);
		}
	}
}

/*
 * For weight row x and V * 8 activation rows (scales da, sa): the scale
 * products d_w d_a into dd and, for q4_1, the sums of the min terms m_w s_a
 * into mm, summed as llm_avx2_vec_dot_q4_1_q8_1 sums them (the products
 * of two blocks added, then added to the running sum). The row's fp16
 * scales are converted one at a time straight into registers: staging them
 * through memory for a vector conversion stalled on store forwarding.
 */
static inline __attribute__((always_inline)) void
gemm_row_scales(const bool q41, const int V, int64_t nb, const void *x, const float *da,
				const float *sa, float *dd, float *mm)
{
	const llm_block_q4_1 *x41 = x;
	const llm_block_q8_0 *x80 = x;
	__m256		m[GEMM_TC / 8];
	int64_t		i;

	for (i = 0; i < nb; i++)
	{
		__m256		dw = _mm256_set1_ps(h2f(q41 ? x41[i].d : x80[i].d));

		#pragma GCC unroll 4
		for (int v = 0; v < V; v++)
			_mm256_store_ps(&dd[i * GEMM_TC + 8 * v],
							_mm256_mul_ps(dw, _mm256_load_ps(&da[i * GEMM_TC + 8 * v])));
	}
	if (!q41)
		return;
	#pragma GCC unroll 4
	for (int v = 0; v < V; v++)
		m[v] = _mm256_setzero_ps();
	for (i = 0; i + 2 <= nb; i += 2)
	{
		__m256		m0 = _mm256_set1_ps(h2f(x41[i].m));
		__m256		m1 = _mm256_set1_ps(h2f(x41[i + 1].m));

		#pragma GCC unroll 4
		for (int v = 0; v < V; v++)
		{
			const int64_t o = i * GEMM_TC + 8 * v;

			m[v] = _mm256_add_ps(m[v], _mm256_add_ps(_mm256_mul_ps(m0, _mm256_load_ps(&sa[o])),
													 _mm256_mul_ps(m1, _mm256_load_ps(&sa[o + GEMM_TC]))));
		}
	}
	if (i < nb)
	{
		__m256		m0 = _mm256_set1_ps(h2f(x41[i].m));

		#pragma GCC unroll 4
		for (int v = 0; v < V; v++)
			m[v] = _mm256_add_ps(m[v], _mm256_mul_ps(m0, _mm256_load_ps(&sa[i * GEMM_TC + 8 * v])));
	}
	#pragma GCC unroll 4
	for (int v = 0; v < V; v++)
		_mm256_store_ps(&mm[8 * v], m[v]);
}

/*
 * K (1 or 2) blocks from block i of weight row x against C activation
 * rows: block i + k goes into accumulator acc[k][c]. For q4_1, uq holds
 * the row's unpacked nibbles.
 */
static inline __attribute__((always_inline)) void
gemm_step(const bool q41, const int C, const int K, int64_t i, const void *x,
		  const __m256i *uq, const char *va, size_t stride, const float *dd,
		  __m256 acc[2][GEMM_TG])
{
	const llm_block_q8_0 *x80 = x;
	__m256i		w[2],
				u[2];

	#pragma GCC unroll 2
	for (int k = 0; k < K; k++)
	{
		w[k] = q41 ? _mm256_load_si256(&uq[i + k]) : _mm256_loadu_si256((const __m256i *) x80[i + k].qs);
		u[k] = q41 ? w[k] : _mm256_sign_epi8(w[k], w[k]);
	}
	#pragma GCC unroll 4
	for (int c = 0; c < C; c++)
		#pragma GCC unroll 2
		for (int k = 0; k < K; k++)
		{
			const char *a = va + (size_t) c * stride;
			__m256i		av = _mm256_loadu_si256((const __m256i *) (q41 ? ((const llm_block_q8_1 *) a)[i + k].qs
																   : ((const llm_block_q8_0 *) a)[i + k].qs));
			__m256i		d = dot_us8(u[k], q41 ? av : _mm256_sign_epi8(av, w[k]));

			acc[k][c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dd[(i + k) * GEMM_TC + c]),
										_mm256_cvtepi32_ps(d), acc[k][c]);
		}
}

/*
 * One weight row x against C (1..GEMM_TG) activation rows: the integer and
 * fused multiply-add part of the vec_dot (even and odd blocks in two
 * accumulators), with the scale products dd[i * GEMM_TC + c] and min terms
 * mm[c] (q4_1 only) already formed.
 */
static inline __attribute__((always_inline)) void
gemm_tile(const bool q41, const int C, int64_t nb, const void *x, const __m256i *uq,
		  const char *va, size_t stride, const float *dd, const float *mm, float *y, int64_t ldy)
{
	__m256		acc[2][GEMM_TG];
	float		u[8] __attribute__((aligned(32)));
	int64_t		i = 0;

	#pragma GCC unroll 4
	for (int c = 0; c < C; c++)
		acc[0][c] = acc[1][c] = _mm256_setzero_ps();
	for (; i + 2 <= nb; i += 2)
		gemm_step(q41, C, 2, i, x, uq, va, stride, dd, acc);
	if (i < nb)
		gemm_step(q41, C, 1, i, x, uq, va, stride, dd, acc);
	#pragma GCC unroll 4
	for (int c = C; c < GEMM_TG; c++)
		acc[0][c] = acc[1][c] = _mm256_setzero_ps();	/* unused lanes */
	hsum4_ps(_mm256_add_ps(acc[0][0], acc[1][0]), _mm256_add_ps(acc[0][1], acc[1][1]),
			 _mm256_add_ps(acc[0][2], acc[1][2]), _mm256_add_ps(acc[0][3], acc[1][3]), u);
	#pragma GCC unroll 4
	for (int c = 0; c < C; c++)
		y[c * ldy] = q41 ? u[c] + mm[c] : u[c];
}

/*
 * The gemm driver: per GEMM_TC activation rows, their scales once; then per
 * weight row its scale products, and tiles of GEMM_TG activation rows.
 */
static inline __attribute__((always_inline)) void
gemm_run(const bool q41, llm_vec_dot_fn dot, int64_t n, int64_t nr, int64_t nc,
		 const void *vw, size_t w_stride, const void *va, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK;
	float		da[GEMM_NB_MAX * GEMM_TC] __attribute__((aligned(32)));
	float		sa[GEMM_NB_MAX * GEMM_TC] __attribute__((aligned(32)));
	float		dd[GEMM_NB_MAX * GEMM_TC] __attribute__((aligned(32)));
	float		mm[GEMM_TC] __attribute__((aligned(32)));
	__m256i		uq[GEMM_NB_MAX];

	if (nb > GEMM_NB_MAX)
	{
		for (int64_t c = 0; c < nc; c++)
			for (int64_t r = 0; r < nr; r++)
				dot(n, &y[c * ldy + r], (const char *) vw + r * w_stride,
					(const char *) va + c * a_stride);
		return;
	}
	for (int64_t c0 = 0; c0 < nc; c0 += GEMM_TC)
	{
		const int	cn = nc - c0 < GEMM_TC ? (int) (nc - c0) : GEMM_TC;
		const char *a0 = (const char *) va + c0 * a_stride;

		gemm_prep_scales(q41, a0, a_stride, cn, nb, da, sa);
		for (int64_t r = 0; r < nr; r++)
		{
			const char *x = (const char *) vw + r * w_stride;
			float	   *yr = y + c0 * ldy + r;

			if (cn > 8)
				gemm_row_scales(q41, GEMM_TC / 8, nb, x, da, sa, dd, mm);
			else
				gemm_row_scales(q41, 1, nb, x, da, sa, dd, mm);
			for (int64_t i = 0; q41 && i < nb; i++)
				uq[i] = unpack_nibbles(((const llm_block_q4_1 *) x)[i].qs);
			for (int cg = 0; cg < cn; cg += GEMM_TG)
			{
				const char *ag = a0 + (size_t) cg * a_stride;

				if (cn - cg >= 4)
					gemm_tile(q41, 4, nb, x, uq, ag, a_stride, dd + cg, mm + cg, yr + cg * ldy, ldy);
				else if (cn - cg == 3)
					gemm_tile(q41, 3, nb, x, uq, ag, a_stride, dd + cg, mm + cg, yr + cg * ldy, ldy);
				else if (cn - cg == 2)
					gemm_tile(q41, 2, nb, x, uq, ag, a_stride, dd + cg, mm + cg, yr + cg * ldy, ldy);
				else
					gemm_tile(q41, 1, nb, x, uq, ag, a_stride, dd + cg, mm + cg, yr + cg * ldy, ldy);
			}
		}
	}
}

/*
 * q4_1 weight rows against q8_1 activation rows, bit-identical to
 * llm_avx2_vec_dot_q4_1_q8_1 for every pair.
 */
void
llm_avx2_gemm_q4_1_q8_1(int64_t n, int64_t nr, int64_t nc, const void *w, size_t w_stride,
						const void *a, size_t a_stride, float *y, int64_t ldy)
{
	gemm_run(true, llm_avx2_vec_dot_q4_1_q8_1, n, nr, nc, w, w_stride, a, a_stride, y, ldy);
}

/*
 * q8_0 weight rows against q8_0 activation rows (the output projection of
 * a batch), bit-identical to llm_avx2_vec_dot_q8_0_q8_0 for every pair.
 */
void
llm_avx2_gemm_q8_0_q8_0(int64_t n, int64_t nr, int64_t nc, const void *w, size_t w_stride,
						const void *a, size_t a_stride, float *y, int64_t ldy)
{
	gemm_run(false, llm_avx2_vec_dot_q8_0_q8_0, n, nr, nc, w, w_stride, a, a_stride, y, ldy);
}

#endif							/* x86 */
