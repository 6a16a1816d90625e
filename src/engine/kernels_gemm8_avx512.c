/*
 * kernels_gemm8_avx512.c - AVX-512 VNNI products of weights packed eight
 * rows at a time (llm_gemm8_fn): q4_1 (llm_block_q4_1x8) with q8_1
 * activation rows, q8_0 (llm_block_q8_0x8) with q8_0 activation rows.
 *
 * Same layout and same float operations as kernels_gemm8_avx2.c: the eight
 * rows of a group sit in the eight 32-bit lanes of a 256-bit vector (two
 * adjacent groups in the two halves of a 512-bit vector, a last odd group
 * alone on 256 bits with AVX512VL), and one vpdpbusd (AVX512-VNNI) adds
 * the four products of four weights of each row with the same four
 * activation bytes (broadcast) to that row's int32 lane, without the int16
 * intermediate of vpmaddubsw. The per-block integer sums are therefore exact for any
 * input; per (row, activation row) the float operations are those of
 * ref_gemm8 in kernels_ref.c, in its order (per block one fused
 * multiply-add of d_w * d_a times the sum, then for q4_1 a second chain of
 * m_w * s_a, then the two added), so results are the same bits as the
 * scalar reference and the AVX2 kernel, for any batch.
 *
 * vpdpbusd multiplies unsigned by signed bytes. q4_1 nibbles are unsigned
 * already. q8_0 weights w are signed: the kernel uses w + 128 (w xor 0x80,
 * in 0..255) and subtracts 128 * sum(a) of the block, exact in int32.
 *
 * Built with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mfma -mf16c;
 * nothing here may run before llm_cpu_has_avx512() said yes. No implicit
 * fused multiply-add (pragma below), FMA only where written.
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
#include <string.h>

#include "kernels_avx2_int.h"
#include "kernels_pack_q5.h"
#include "quant.h"

/* activation rows whose scales are converted together, at most */
#define G5_TC 16
/* activation rows whose accumulators stay in registers together */
#define G5_TG 8
/* activation rows whose q4_1 min-term chains run together */
#define G5_TM 8
/* floats of activation scales converted per call (fewer rows when long) */
#define G5_SCALES (G5_TC * 512)
_Static_assert(G5_SCALES >= LLM_GEMM8_MAX_N / LLM_QK, "one activation row's scales fit");
/*
 * activation rows from which pairs of groups go in 512-bit vectors
 * (measured on Zen 4: below it the 256-bit path is as fast or faster,
 * notably for one token, where the weights stream from memory)
 */
#define G5_W16_Q4_1 2
#define G5_W16_Q8_0 8
/* rows of up to this many blocks are unpacked once per group (scratch) */
#define G5_SCR_NB 128

/*
 * Weight vector j (0..7) of block i of a group, as the unsigned first
 * operand of vpdpbusd: the 4-element slice j of every row (8 rows x 4
 * bytes). q4_1: nibbles 0..15 (j < 4: low nibbles of qs vector j, else
 * high nibbles of qs vector j - 4), from the scratch copy when scr. q8_0:
 * vector j of the block plus 128 (xor 0x80).
 */
static inline __attribute__((always_inline)) __m256i
g5_weights(const bool q41, const bool scr, const void *x, const __m256i *uq, int64_t i, int j)
{
	__m256i		p;

	if (!q41)
		return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (((const llm_block_q8_0x8 *) x)[i].qs + 32 * j)),
								_mm256_set1_epi8((char) 0x80));
	if (scr)
		return _mm256_load_si256(&uq[8 * i + j]);
	p = _mm256_loadu_si256((const __m256i *) (((const llm_block_q4_1x8 *) x)[i].qs + 32 * (j & 3)));
	if (j >= 4)
		p = _mm256_srli_epi16(p, 4);
	return _mm256_and_si256(p, _mm256_set1_epi8(0x0f));
}

/* the fp16 scales d[8] of block i of a group, as floats (8 lanes) */
static inline __attribute__((always_inline)) __m256
g5_dw(const bool q41, const void *x, int64_t i)
{
	const uint16_t *d = q41 ? ((const llm_block_q4_1x8 *) x)[i].d : ((const llm_block_q8_0x8 *) x)[i].d;

	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) d));
}

/* activation row c's 32 quantized values of block i (q8_1 or q8_0) */
static inline __attribute__((always_inline)) const int8_t *
g5_aqs(const bool q41, const char *a, size_t a_stride, int c, int64_t i)
{
	const char *row = a + (size_t) c * a_stride;

	return q41 ? ((const llm_block_q8_1 *) row)[i].qs : ((const llm_block_q8_0 *) row)[i].qs;
}

/*
 * One group x of 8 rows against C (1..G5_TG) activation rows at a
 * (a_stride apart): y[c * ldy + r] for r < 8, without q4_1's min terms
 * (llm_avx2_q41x8_min_terms adds them). da[c * nb + i]: activation
 * scales as floats; q8_0 only, ca[c * nb + i]: 128 * sum of the block's
 * activation bytes.
 *
 * Per block and activation row the int32 sum is split over P partial
 * sums (slices j = P k + p go to sum p; integer addition, so exact) to
 * shorten the vpdpbusd dependency chains when C is small.
 */
static inline __attribute__((always_inline)) void
g5_tile(const bool q41, const int C, const bool scr, int64_t nb, const void *x,
		const __m256i *uq, const char *a, size_t a_stride, const float *da, const int32_t *ca,
		float *y, int64_t ldy)
{
	const int	P = C >= 8 ? 1 : C >= 4 ? 2 : 4;
	__m256		acc[G5_TG];
	__m256i		s[G5_TG][4];
	int64_t		i;

	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		acc[c] = _mm256_setzero_ps();
	for (i = 0; i < nb; i++)
	{
		__m256		dw = g5_dw(q41, x, i);

		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
			#pragma GCC unroll 4
			for (int p = 0; p < P; p++)
				s[c][p] = _mm256_setzero_si256();
		#pragma GCC unroll 8
		for (int j = 0; j < 8; j++)
		{
			__m256i		w = g5_weights(q41, scr, x, uq, i, j);

			#pragma GCC unroll 8
			for (int c = 0; c < C; c++)
			{
				/* four activation bytes in every lane (a float load: one uop) */
				__m256i		v = _mm256_castps_si256(_mm256_broadcast_ss((const float *)
																	   (g5_aqs(q41, a, a_stride, c, i) + 4 * j)));

				s[c][j % P] = _mm256_dpbusd_epi32(s[c][j % P], w, v);
			}
		}
		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
		{
			__m256i		t = s[c][0];
			__m256		f;

			#pragma GCC unroll 4
			for (int p = 1; p < P; p++)
				t = _mm256_add_epi32(t, s[c][p]);
			if (!q41)
				t = _mm256_sub_epi32(t, _mm256_set1_epi32(ca[c * nb + i]));
			f = _mm256_cvtepi32_ps(t);
			acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(&da[c * nb + i])), f, acc[c]);
		}
	}
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		_mm256_storeu_ps(y + c * ldy, acc[c]);
}

/*
 * Weight vector j of block i of two adjacent groups x and x + gbytes, as
 * g5_weights gives it for each: group x in the low 256 bits, the next
 * group in the high 256 bits (16 rows x 4 bytes). From the 16-row scratch
 * copy when scr.
 */
static inline __attribute__((always_inline)) __m512i
g5_weights16(const bool q41, const bool scr, const char *x, size_t gbytes, const __m512i *uq,
			 int64_t i, int j)
{
	__m512i		p;
	const int	off = q41 ? 32 * (j & 3) : 32 * j;
	const char *q0 = q41 ? (const char *) ((const llm_block_q4_1x8 *) x)[i].qs :
		(const char *) ((const llm_block_q8_0x8 *) x)[i].qs;

	if (scr)
		return _mm512_load_si512(&uq[8 * i + j]);
	p = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *) (q0 + off))),
						   _mm256_loadu_si256((const __m256i *) (q0 + gbytes + off)), 1);
	if (!q41)
		return _mm512_xor_si512(p, _mm512_set1_epi8((char) 0x80));
	if (j >= 4)
		p = _mm512_srli_epi16(p, 4);
	return _mm512_and_si512(p, _mm512_set1_epi8(0x0f));
}

/*
 * g5_tile for two adjacent groups at once (rows 0..15 of y, group x then
 * group x + gbytes) in 512-bit vectors: every lane does exactly the
 * operations of the 8-row tile (same int32 sum, same float chain), with
 * half the activation broadcasts per multiply-add.
 */
static inline __attribute__((always_inline)) void
g5_tile16(const bool q41, const int C, const bool scr, int64_t nb, const char *x, size_t gbytes,
		  const __m512i *uq, const char *a, size_t a_stride, const float *da, const int32_t *ca,
		  float *y, int64_t ldy)
{
	const int	P = C >= 8 ? 1 : C >= 4 ? 2 : 4;
	__m512		acc[G5_TG];
	__m512i		s[G5_TG][4];
	int64_t		i;

	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		acc[c] = _mm512_setzero_ps();
	for (i = 0; i < nb; i++)
	{
		const uint16_t *d0 = q41 ? ((const llm_block_q4_1x8 *) x)[i].d : ((const llm_block_q8_0x8 *) x)[i].d;
		__m512		dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
					_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *) d0)),
					_mm_loadu_si128((const __m128i *) ((const char *) d0 + gbytes)), 1));

		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
			#pragma GCC unroll 4
			for (int p = 0; p < P; p++)
				s[c][p] = _mm512_setzero_si512();
		#pragma GCC unroll 8
		for (int j = 0; j < 8; j++)
		{
			__m512i		w = g5_weights16(q41, scr, x, gbytes, uq, i, j);

			#pragma GCC unroll 8
			for (int c = 0; c < C; c++)
			{
				int32_t		v4;

				memcpy(&v4, g5_aqs(q41, a, a_stride, c, i) + 4 * j, sizeof(v4));
				s[c][j % P] = _mm512_dpbusd_epi32(s[c][j % P], w, _mm512_set1_epi32(v4));
			}
		}
		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
		{
			__m512i		t = s[c][0];
			__m512		f;

			#pragma GCC unroll 4
			for (int p = 1; p < P; p++)
				t = _mm512_add_epi32(t, s[c][p]);
			if (!q41)
				t = _mm512_sub_epi32(t, _mm512_set1_epi32(ca[c * nb + i]));
			f = _mm512_cvtepi32_ps(t);
			acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da[c * nb + i])), f, acc[c]);
		}
	}
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		_mm512_storeu_ps(y + c * ldy, acc[c]);
}

/*
 * Tiles of up to G5_TG activation rows over cn rows for one group, then
 * (q4_1) the min terms G5_TM activation rows at a time.
 */
static inline __attribute__((always_inline)) void
g5_group(const bool q41, const bool scr, int64_t nb, const void *x, const __m256i *uq,
		 const char *a, size_t a_stride, int cn, const float *da, const float *sa,
		 const int32_t *ca, float *y, int64_t ldy)
{
	/* tiles of 8, then 4, 2 and 1 (a chain's bits do not depend on its tile) */
	for (int c = 0, C; c < cn; c += C)
	{
		const char *ac = a + (size_t) c * a_stride;

		C = cn - c >= 8 ? 8 : cn - c >= 4 ? 4 : cn - c >= 2 ? 2 : 1;
		if (C == 8)
			g5_tile(q41, 8, scr, nb, x, uq, ac, a_stride, da + c * nb, ca + c * nb, y + c * ldy, ldy);
		else if (C == 4)
			g5_tile(q41, 4, scr, nb, x, uq, ac, a_stride, da + c * nb, ca + c * nb, y + c * ldy, ldy);
		else if (C == 2)
			g5_tile(q41, 2, scr, nb, x, uq, ac, a_stride, da + c * nb, ca + c * nb, y + c * ldy, ldy);
		else
			g5_tile(q41, 1, scr, nb, x, uq, ac, a_stride, da + c * nb, ca + c * nb, y + c * ldy, ldy);
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
 * g5_group for two adjacent groups (16 rows): the tiles 16 rows wide, the
 * q4_1 min terms per group.
 */
static inline __attribute__((always_inline)) void
g5_group16(const bool q41, const bool scr, int64_t nb, const char *x, size_t gbytes,
		   const __m512i *uq, const char *a, size_t a_stride, int cn, const float *da,
		   const float *sa, const int32_t *ca, float *y, int64_t ldy)
{
	for (int c = 0, C; c < cn; c += C)
	{
		const char *ac = a + (size_t) c * a_stride;

		C = cn - c >= 8 ? 8 : cn - c >= 4 ? 4 : cn - c >= 2 ? 2 : 1;
		if (C == 8)
			g5_tile16(q41, 8, scr, nb, x, gbytes, uq, ac, a_stride, da + c * nb, ca + c * nb, y + c * ldy, ldy);
		else if (C == 4)
			g5_tile16(q41, 4, scr, nb, x, gbytes, uq, ac, a_stride, da + c * nb, ca + c * nb, y + c * ldy, ldy);
		else if (C == 2)
			g5_tile16(q41, 2, scr, nb, x, gbytes, uq, ac, a_stride, da + c * nb, ca + c * nb, y + c * ldy, ldy);
		else
			g5_tile16(q41, 1, scr, nb, x, gbytes, uq, ac, a_stride, da + c * nb, ca + c * nb, y + c * ldy, ldy);
	}
	for (int h = 0; q41 && h < 2; h++)
		for (int c = 0, C; c < cn; c += C)
		{
			const char *xh = x + h * gbytes;
			float	   *yh = y + 8 * h + c * ldy;

			C = cn - c >= 8 ? 8 : cn - c >= 4 ? 4 : cn - c >= 2 ? 2 : 1;
			if (C == 8)
				llm_avx2_q41x8_min_terms(8, nb, xh, sa + c * nb, yh, ldy);
			else if (C == 4)
				llm_avx2_q41x8_min_terms(4, nb, xh, sa + c * nb, yh, ldy);
			else if (C == 2)
				llm_avx2_q41x8_min_terms(2, nb, xh, sa + c * nb, yh, ldy);
			else
				llm_avx2_q41x8_min_terms(1, nb, xh, sa + c * nb, yh, ldy);
		}
}

/*
 * 128 times the sum of the 32 signed bytes at q (q8_0 only): the term
 * that turns sum (w + 128) a into sum w a. sad_epu8 sums a + 128.
 */
static inline __attribute__((always_inline)) int32_t
g5_asum128(const int8_t *q)
{
	__m256i		v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) q), _mm256_set1_epi8((char) 0x80));
	__m256i		t = _mm256_sad_epu8(v, _mm256_setzero_si256());
	__m128i		u = _mm_add_epi64(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));

	u = _mm_add_epi64(u, _mm_unpackhi_epi64(u, u));
	return 128 * ((int32_t) _mm_cvtsi128_si32(u) - 32 * 128);
}

/*
 * The driver (see llm_gemm8_fn). Per chunk of up to G5_TC activation rows
 * (fewer when rows are long: their scales must fit G5_SCALES): their
 * scales as floats (q8_0: and their 128 * block sums) once; then per
 * group of 8 weight rows, for q4_1 its nibbles unpacked once when more
 * than one tile shares them, then tiles of G5_TG activation rows.
 */
static inline __attribute__((always_inline)) void
g5_run(const bool q41, int64_t n, int64_t ng, int64_t nc, const void *w8,
	   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK;
	const size_t gbytes = (size_t) nb * (q41 ? sizeof(llm_block_q4_1x8) : sizeof(llm_block_q8_0x8));
	const int64_t tc = G5_SCALES / nb < G5_TC ? G5_SCALES / nb : G5_TC;
	float		da[G5_SCALES] __attribute__((aligned(32)));
	float		sa[G5_SCALES] __attribute__((aligned(32)));
	int32_t		ca[G5_SCALES] __attribute__((aligned(32)));
	/* scratch of a pair of groups, or (first half) of the odd last group */
	__m512i		uq16[8 * G5_SCR_NB];
	__m256i    *uq = (__m256i *) uq16;

	for (int64_t c0 = 0; c0 < nc; c0 += tc)
	{
		const int	cn = (int) (nc - c0 < tc ? nc - c0 : tc);
		const char *a0 = (const char *) a + (size_t) c0 * a_stride;
		const bool	scr = q41 && cn > G5_TG && nb <= G5_SCR_NB;
		int64_t		g;

		for (int c = 0; c < cn; c++)
			for (int64_t i = 0; i < nb; i++)
			{
				const char *row = a0 + (size_t) c * a_stride;

				if (q41)
				{
					da[c * nb + i] = h2f(((const llm_block_q8_1 *) row)[i].d);
					sa[c * nb + i] = h2f(((const llm_block_q8_1 *) row)[i].s);
				}
				else
				{
					da[c * nb + i] = h2f(((const llm_block_q8_0 *) row)[i].d);
					ca[c * nb + i] = g5_asum128(((const llm_block_q8_0 *) row)[i].qs);
				}
			}
		/*
		 * pairs of groups in 512-bit vectors from G5_W16_* activation rows,
		 * then (a last odd group, or all when fewer rows) in 256
		 */
		for (g = 0; cn >= (q41 ? G5_W16_Q4_1 : G5_W16_Q8_0) && g + 1 < ng; g += 2)
		{
			const char *x = (const char *) w8 + (size_t) g * gbytes;
			float	   *yg = y + c0 * ldy + 8 * g;

			if (scr)
			{
				for (int64_t i = 0; i < nb; i++)
					#pragma GCC unroll 8
					for (int j = 0; j < 8; j++)
						uq16[8 * i + j] = g5_weights16(true, false, x, gbytes, NULL, i, j);
				g5_group16(true, true, nb, x, gbytes, uq16, a0, a_stride, cn, da, sa, ca, yg, ldy);
			}
			else
				g5_group16(q41, false, nb, x, gbytes, uq16, a0, a_stride, cn, da, sa, ca, yg, ldy);
		}
		for (; g < ng; g++)
		{
			const char *x = (const char *) w8 + (size_t) g * gbytes;
			float	   *yg = y + c0 * ldy + 8 * g;

			if (scr)
			{
				for (int64_t i = 0; i < nb; i++)
					#pragma GCC unroll 8
					for (int j = 0; j < 8; j++)
						uq[8 * i + j] = g5_weights(true, false, x, NULL, i, j);
				g5_group(true, true, nb, x, uq, a0, a_stride, cn, da, sa, ca, yg, ldy);
			}
			else
				g5_group(q41, false, nb, x, uq, a0, a_stride, cn, da, sa, ca, yg, ldy);
		}
	}
}

/*
 * Packed q4_1 groups against q8_1 activation rows; see llm_gemm8_fn.
 */
void
llm_avx512_gemm8_q4_1_q8_1(int64_t n, int64_t ng, int64_t nc, const void *w8,
						   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	g5_run(true, n, ng, nc, w8, a, a_stride, y, ldy);
}

/*
 * Packed q8_0 groups against q8_0 activation rows (the output projection);
 * see llm_gemm8_fn.
 */
void
llm_avx512_gemm8_q8_0_q8_0(int64_t n, int64_t ng, int64_t nc, const void *w8,
						   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	g5_run(false, n, ng, nc, w8, a, a_stride, y, ldy);
}

/*
 * Replace the packed products of k (already filled by
 * llm_kernels_overlay_avx2()) with their AVX-512 VNNI versions. Call only
 * when llm_cpu_has_avx512().
 */
bool
llm_kernels_overlay_avx512(llm_kernels *k)
{
	k->isa = "avx512";
	k->type[LLM_TYPE_Q4_1].gemm8 = llm_avx512_gemm8_q4_1_q8_1;
	k->type[LLM_TYPE_Q8_0].gemm8 = llm_avx512_gemm8_q8_0_q8_0;
	llm_pack_q5_overlay_avx512(k->type);	/* q4_0, q5_0 */
	return true;
}

#else							/* not x86 */

/*
 * No AVX-512 code in this build.
 */
bool
llm_kernels_overlay_avx512(llm_kernels *k)
{
	return false;
}

#endif							/* x86 */
