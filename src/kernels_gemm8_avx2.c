/*
 * kernels_gemm8_avx2.c - AVX2 products of q4_1 weights packed eight rows at
 * a time (llm_block_q4_1x8) with q8_1 activation rows (llm_gemm8_fn).
 *
 * The eight rows of a group sit in the eight 32-bit lanes of a vector: one
 * vpmaddubsw multiplies four weights of each row by the same four
 * activation bytes (broadcast), so a token's results for eight rows come
 * out in one vector and need no horizontal sum. The same code runs for one
 * token (decode) and for many (batches, prompts): every lane does the
 * float operations of ref_gemm8_q4_1_q8_1 in kernels_ref.c, in its order,
 * so results are the same bits for any batch and either ISA.
 *
 * Built with -mavx2 -mfma -mf16c; no implicit fused multiply-add (pragma
 * below), FMA only where written.
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

/* activation rows whose scales are converted together */
#define G8_TC 16
/* activation rows whose accumulators stay in registers together */
#define G8_TG 4
/* rows of up to this many blocks get their scales converted up front */
#define G8_NB_MAX 512
/* rows of up to this many blocks are unpacked once per group (scratch) */
#define G8_SCR_NB 128

/*
 * Weight vector j (0..7) of block i of a group: the 4-element slice j of
 * every row as bytes 0..15 (j < 4: low nibbles of qs vector j, else high
 * nibbles of qs vector j - 4), from the scratch copy when scr.
 */
static inline __attribute__((always_inline)) __m256i
g8_weights(const bool scr, const llm_block_q4_1x8 *x, const __m256i *uq, int64_t i, int j)
{
	__m256i		p;

	if (scr)
		return _mm256_load_si256(&uq[8 * i + j]);
	p = _mm256_loadu_si256((const __m256i *) (x[i].qs + 32 * (j & 3)));
	if (j >= 4)
		p = _mm256_srli_epi16(p, 4);
	return _mm256_and_si256(p, _mm256_set1_epi8(0x0f));
}

/*
 * One group x of 8 rows against C (1..G8_TG) activation rows at a
 * (a_stride apart): y[c * ldy + r] for r < 8. The activation scales come
 * from da / sa ([c * nb + i]) when pre, else straight from the blocks.
 */
static inline __attribute__((always_inline)) void
g8_tile(const int C, const bool scr, const bool pre, int64_t nb, const llm_block_q4_1x8 *x,
		const __m256i *uq, const char *a, size_t a_stride, const float *da, const float *sa,
		float *y, int64_t ldy)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256		acc[G8_TG],
				macc[G8_TG];
	__m256i		s[G8_TG];
	int64_t		i;

	#pragma GCC unroll 4
	for (int c = 0; c < C; c++)
		acc[c] = macc[c] = _mm256_setzero_ps();
	for (i = 0; i < nb; i++)
	{
		__m256		dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) x[i].d));

		/* exact integer sums: at most 8 * 2 * 15 * 128 in an int16 lane */
		#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			s[c] = _mm256_setzero_si256();
		#pragma GCC unroll 8
		for (int j = 0; j < 8; j++)
		{
			__m256i		w = g8_weights(scr, x, uq, i, j);

			#pragma GCC unroll 4
			for (int c = 0; c < C; c++)
			{
				const llm_block_q8_1 *q = (const llm_block_q8_1 *) (a + (size_t) c * a_stride) + i;
				/* four activation bytes in every lane (a float load: one uop) */
				__m256i		v = _mm256_castps_si256(_mm256_broadcast_ss((const float *) (q->qs + 4 * j)));

				s[c] = _mm256_add_epi16(s[c], _mm256_maddubs_epi16(w, v));
				/* keep the sum a chain: reassociated, its terms spill */
				__asm__("" : "+x"(s[c]));
			}
		}
		#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
		{
			const llm_block_q8_1 *q = (const llm_block_q8_1 *) (a + (size_t) c * a_stride) + i;
			__m256		f = _mm256_cvtepi32_ps(_mm256_madd_epi16(s[c], ones));
			__m256		d = pre ? _mm256_broadcast_ss(&da[c * nb + i]) : _mm256_set1_ps(h2f(q->d));

			acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, d), f, acc[c]);
		}
	}
	for (i = 0; i < nb; i++)
	{
		__m256		mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) x[i].m));

		#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
		{
			const llm_block_q8_1 *q = (const llm_block_q8_1 *) (a + (size_t) c * a_stride) + i;
			__m256		sv = pre ? _mm256_broadcast_ss(&sa[c * nb + i]) : _mm256_set1_ps(h2f(q->s));

			macc[c] = _mm256_fmadd_ps(mw, sv, macc[c]);
		}
	}
	#pragma GCC unroll 4
	for (int c = 0; c < C; c++)
		_mm256_storeu_ps(y + c * ldy, _mm256_add_ps(acc[c], macc[c]));
}

/*
 * Tiles of up to G8_TG activation rows over cn rows for one group.
 */
static inline __attribute__((always_inline)) void
g8_group(const bool scr, const bool pre, int64_t nb, const llm_block_q4_1x8 *x,
		 const __m256i *uq, const char *a, size_t a_stride, int cn, const float *da,
		 const float *sa, float *y, int64_t ldy)
{
	for (int c = 0; c < cn; c += G8_TG)
	{
		const char *ac = a + (size_t) c * a_stride;
		const float *dc = pre ? da + c * nb : da,
				   *sc = pre ? sa + c * nb : sa;
		float	   *yc = y + c * ldy;

		switch (cn - c >= G8_TG ? G8_TG : cn - c)
		{
			case 4:
				g8_tile(4, scr, pre, nb, x, uq, ac, a_stride, dc, sc, yc, ldy);
				break;
			case 3:
				g8_tile(3, scr, pre, nb, x, uq, ac, a_stride, dc, sc, yc, ldy);
				break;
			case 2:
				g8_tile(2, scr, pre, nb, x, uq, ac, a_stride, dc, sc, yc, ldy);
				break;
			default:
				g8_tile(1, scr, pre, nb, x, uq, ac, a_stride, dc, sc, yc, ldy);
				break;
		}
	}
}

/*
 * Packed q4_1 groups against q8_1 activation rows; see llm_gemm8_fn. Per
 * G8_TC activation rows: their scales as floats once, then per group of 8
 * weight rows its nibbles unpacked once (when more than one tile shares
 * them), then tiles of G8_TG activation rows.
 */
void
llm_avx2_gemm8_q4_1_q8_1(int64_t n, int64_t ng, int64_t nc, const void *w8,
						 const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK;
	const bool	pre = nb <= G8_NB_MAX;
	float		da[G8_TC * G8_NB_MAX] __attribute__((aligned(32)));
	float		sa[G8_TC * G8_NB_MAX] __attribute__((aligned(32)));
	__m256i		uq[8 * G8_SCR_NB];

	for (int64_t c0 = 0; c0 < nc; c0 += G8_TC)
	{
		const int	cn = nc - c0 < G8_TC ? (int) (nc - c0) : G8_TC;
		const char *a0 = (const char *) a + (size_t) c0 * a_stride;
		const bool	scr = cn > G8_TG && nb <= G8_SCR_NB;

		for (int c = 0; pre && c < cn; c++)
		{
			const llm_block_q8_1 *q = (const llm_block_q8_1 *) (a0 + (size_t) c * a_stride);

			for (int64_t i = 0; i < nb; i++)
			{
				da[c * nb + i] = h2f(q[i].d);
				sa[c * nb + i] = h2f(q[i].s);
			}
		}
		for (int64_t g = 0; g < ng; g++)
		{
			const llm_block_q4_1x8 *x = (const llm_block_q4_1x8 *) w8 + g * nb;
			float	   *yg = y + c0 * ldy + 8 * g;

			if (scr)
			{
				for (int64_t i = 0; i < nb; i++)
					#pragma GCC unroll 8
					for (int j = 0; j < 8; j++)
						uq[8 * i + j] = g8_weights(false, x, NULL, i, j);
				if (pre)
					g8_group(true, true, nb, x, uq, a0, a_stride, cn, da, sa, yg, ldy);
				else
					g8_group(true, false, nb, x, uq, a0, a_stride, cn, da, sa, yg, ldy);
			}
			else if (pre)
				g8_group(false, true, nb, x, uq, a0, a_stride, cn, da, sa, yg, ldy);
			else
				g8_group(false, false, nb, x, uq, a0, a_stride, cn, da, sa, yg, ldy);
		}
	}
}

#endif							/* x86 */
