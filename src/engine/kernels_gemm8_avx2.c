/*
 * kernels_gemm8_avx2.c - AVX2 products of weights packed eight rows at a
 * time (llm_gemm8_fn): q4_1 (llm_block_q4_1x8) with q8_1 activation rows,
 * q8_0 (llm_block_q8_0x8) with q8_0 activation rows.
 *
 * The eight rows of a group sit in the eight 32-bit lanes of a vector: one
 * vpmaddubsw multiplies four weights of each row by the same four
 * activation bytes (broadcast), so a token's results for eight rows come
 * out in one vector and need no horizontal sum. The same code runs for one
 * token (decode) and for many (batches, prompts): every lane does the
 * float operations of ref_gemm8_q4_1_q8_1 / ref_gemm8_q8_0_q8_0 in
 * kernels_ref.c, in their order, so results are the same bits for any
 * batch and either ISA.
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

/* activation rows whose scales are converted together, at most */
#define G8_TC 16
/* activation rows whose accumulators stay in registers together */
#define G8_TG 4
/* activation rows whose q4_1 min-term chains run together */
#define G8_TM 8
/* floats of activation scales converted per call (fewer rows when long) */
#define G8_SCALES (G8_TC * 512)
_Static_assert(G8_SCALES >= LLM_GEMM8_MAX_N / LLM_QK, "one activation row's scales fit");
/* rows of up to this many blocks are unpacked once per group (scratch) */
#define G8_SCR_NB 128

/*
 * Weight vector j (0..7) of block i of a group: the 4-element slice j of
 * every row. q4_1: bytes 0..15 (j < 4: low nibbles of qs vector j, else
 * high nibbles of qs vector j - 4), from the scratch copy when scr. q8_0:
 * signed bytes, vector j of the block.
 */
static inline __attribute__((always_inline)) __m256i
g8_weights(const bool q41, const bool scr, const void *x, const __m256i *uq, int64_t i, int j)
{
	__m256i		p;

	if (!q41)
		return _mm256_loadu_si256((const __m256i *) (((const llm_block_q8_0x8 *) x)[i].qs + 32 * j));
	if (scr)
		return _mm256_load_si256(&uq[8 * i + j]);
	p = _mm256_loadu_si256((const __m256i *) (((const llm_block_q4_1x8 *) x)[i].qs + 32 * (j & 3)));
	if (j >= 4)
		p = _mm256_srli_epi16(p, 4);
	return _mm256_and_si256(p, _mm256_set1_epi8(0x0f));
}

/* the fp16 scales d[8] of block i of a group, as floats */
static inline __attribute__((always_inline)) __m256
g8_dw(const bool q41, const void *x, int64_t i)
{
	const uint16_t *d = q41 ? ((const llm_block_q4_1x8 *) x)[i].d : ((const llm_block_q8_0x8 *) x)[i].d;

	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) d));
}

/* activation row c's quantized values of block i (q8_1 or q8_0) */
static inline __attribute__((always_inline)) const int8_t *
g8_aqs(const bool q41, const char *a, size_t a_stride, int c, int64_t i)
{
	const char *row = a + (size_t) c * a_stride;

	return q41 ? ((const llm_block_q8_1 *) row)[i].qs : ((const llm_block_q8_0 *) row)[i].qs;
}

/*
 * One group x of 8 rows against C (1..G8_TG) activation rows at a
 * (a_stride apart): y[c * ldy + r] for r < 8, without q4_1's min terms
 * (llm_avx2_q41x8_min_terms adds them). The activation scales are
 * da[c * nb + i].
 */
static inline __attribute__((always_inline)) void
g8_tile(const bool q41, const int C, const bool scr, int64_t nb, const void *x,
		const __m256i *uq, const char *a, size_t a_stride, const float *da, float *y, int64_t ldy)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256		acc[G8_TG];
	__m256i		s[G8_TG];
	int64_t		i;

	#pragma GCC unroll 4
	for (int c = 0; c < C; c++)
		acc[c] = _mm256_setzero_ps();
	for (i = 0; i < nb; i++)
	{
		__m256		dw = g8_dw(q41, x, i);

		/*
		 * Exact integer sums. q4_1: at most 8 * 2 * 15 * 128 in an int16
		 * lane; q8_0: a pair of products can reach 2 * 127 * 127, so
		 * every pair goes to int32 at once.
		 */
		#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			s[c] = _mm256_setzero_si256();
		#pragma GCC unroll 8
		for (int j = 0; j < 8; j++)
		{
			__m256i		w = g8_weights(q41, scr, x, uq, i, j);
			__m256i		aw = q41 ? w : _mm256_sign_epi8(w, w);

			#pragma GCC unroll 4
			for (int c = 0; c < C; c++)
			{
				/* four activation bytes in every lane (a float load: one uop) */
				__m256i		v = _mm256_castps_si256(_mm256_broadcast_ss((const float *)
																	   (g8_aqs(q41, a, a_stride, c, i) + 4 * j)));

				if (q41)
					s[c] = _mm256_add_epi16(s[c], _mm256_maddubs_epi16(w, v));
				else
					s[c] = _mm256_add_epi32(s[c], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(v, w)),
																	ones));
				/* keep the sum a chain: reassociated, its terms spill */
				__asm__("" : "+x"(s[c]));
			}
		}
		#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
		{
			__m256		f = _mm256_cvtepi32_ps(q41 ? _mm256_madd_epi16(s[c], ones) : s[c]);

			acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(&da[c * nb + i])), f, acc[c]);
		}
	}
	#pragma GCC unroll 4
	for (int c = 0; c < C; c++)
		_mm256_storeu_ps(y + c * ldy, acc[c]);
}

/*
 * Tiles of up to G8_TG activation rows over cn rows for one group, then
 * (q4_1) the min terms G8_TM activation rows at a time.
 */
static inline __attribute__((always_inline)) void
g8_group(const bool q41, const bool scr, int64_t nb, const void *x, const __m256i *uq,
		 const char *a, size_t a_stride, int cn, const float *da, const float *sa,
		 float *y, int64_t ldy)
{
	/* tiles of 4, then 2 and 1 (a chain's bits do not depend on its tile) */
	for (int c = 0, C; c < cn; c += C)
	{
		const char *ac = a + (size_t) c * a_stride;

		C = cn - c >= 4 ? 4 : cn - c >= 2 ? 2 : 1;
		if (C == 4)
			g8_tile(q41, 4, scr, nb, x, uq, ac, a_stride, da + c * nb, y + c * ldy, ldy);
		else if (C == 2)
			g8_tile(q41, 2, scr, nb, x, uq, ac, a_stride, da + c * nb, y + c * ldy, ldy);
		else
			g8_tile(q41, 1, scr, nb, x, uq, ac, a_stride, da + c * nb, y + c * ldy, ldy);
	}
	/* q4_1 min terms: 8 chains side by side, then 4, 2, 1 */
	for (int c = 0, C; q41 && c < cn; c += C)
	{
		C = cn - c >= 8 ? 8 : cn - c >= 4 ? 4 : cn - c >= 2 ? 2 : 1;
		if (C == 8)
			llm_avx2_q41x8_min_terms(8, nb, x, sa + c * nb, y + c * ldy, ldy);
		else if (C == 4)
			llm_avx2_q41x8_min_terms(4, nb, x, sa + c * nb, y + c * ldy, ldy);
		else if (C == 2)
			llm_avx2_q41x8_min_terms(2, nb, x, sa + c * nb, y + c * ldy, ldy);
		else
			llm_avx2_q41x8_min_terms(1, nb, x, sa + c * nb, y + c * ldy, ldy);
	}
}

/*
 * The driver (see llm_gemm8_fn). Per chunk of up to G8_TC activation rows
 * (fewer when rows are long: their scales must fit G8_SCALES): their
 * scales as floats once; then per group of 8 weight rows, for q4_1 its
 * nibbles unpacked once when more than one tile shares them, then tiles
 * of G8_TG activation rows.
 */
static inline __attribute__((always_inline)) void
g8_run(const bool q41, int64_t n, int64_t ng, int64_t nc, const void *w8,
	   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK;
	const size_t gbytes = (size_t) nb * (q41 ? sizeof(llm_block_q4_1x8) : sizeof(llm_block_q8_0x8));
	const int64_t tc = G8_SCALES / nb < G8_TC ? G8_SCALES / nb : G8_TC;
	float		da[G8_SCALES] __attribute__((aligned(32)));
	float		sa[G8_SCALES] __attribute__((aligned(32)));
	__m256i		uq[8 * G8_SCR_NB];

	for (int64_t c0 = 0; c0 < nc; c0 += tc)
	{
		const int	cn = (int) (nc - c0 < tc ? nc - c0 : tc);
		const char *a0 = (const char *) a + (size_t) c0 * a_stride;
		const bool	scr = q41 && cn > G8_TG && nb <= G8_SCR_NB;

		for (int c = 0; c < cn; c++)
			for (int64_t i = 0; i < nb; i++)
			{
				const char *row = a0 + (size_t) c * a_stride;

				da[c * nb + i] = h2f(q41 ? ((const llm_block_q8_1 *) row)[i].d : ((const llm_block_q8_0 *) row)[i].d);
				if (q41)
					sa[c * nb + i] = h2f(((const llm_block_q8_1 *) row)[i].s);
			}
		for (int64_t g = 0; g < ng; g++)
		{
			const char *x = (const char *) w8 + (size_t) g * gbytes;
			float	   *yg = y + c0 * ldy + 8 * g;

			if (scr)
			{
				for (int64_t i = 0; i < nb; i++)
					#pragma GCC unroll 8
					for (int j = 0; j < 8; j++)
						uq[8 * i + j] = g8_weights(true, false, x, NULL, i, j);
				g8_group(true, true, nb, x, uq, a0, a_stride, cn, da, sa, yg, ldy);
			}
			else
				g8_group(q41, false, nb, x, uq, a0, a_stride, cn, da, sa, yg, ldy);
		}
	}
}

/*
 * Packed q4_1 groups against q8_1 activation rows; see llm_gemm8_fn.
 */
void
llm_avx2_gemm8_q4_1_q8_1(int64_t n, int64_t ng, int64_t nc, const void *w8,
						 const void *a, size_t a_stride, float *y, int64_t ldy)
{
	g8_run(true, n, ng, nc, w8, a, a_stride, y, ldy);
}

/*
 * Packed q8_0 groups against q8_0 activation rows (the output projection);
 * see llm_gemm8_fn.
 */
void
llm_avx2_gemm8_q8_0_q8_0(int64_t n, int64_t ng, int64_t nc, const void *w8,
						 const void *a, size_t a_stride, float *y, int64_t ldy)
{
	g8_run(false, n, ng, nc, w8, a, a_stride, y, ldy);
}

#endif							/* x86 */
