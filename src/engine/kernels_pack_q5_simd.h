/*
 * kernels_pack_q5_simd.h - the packed q4_0 / q5_0 products with q8_0
 * activation rows (llm_gemm8_fn), written once for the two x86 files that
 * include it: kernels_pack_q5_avx2.c (PQ5_VNNI 0: vpmaddubsw + vpmaddwd)
 * and kernels_pack_q5_avx512.c (PQ5_VNNI 1: vpdpbusd on 256-bit vectors,
 * AVX-512 VL + VNNI). Include only from files built with those flags,
 * after defining PQ5_VNNI.
 *
 * The eight rows of a group sit in the eight 32-bit lanes: weight vector
 * j of a block holds elements 4j .. 4j + 3 of every row as unsigned bytes
 * (q, without the offset), and the four activation bytes 4j .. 4j + 3 are
 * broadcast to every lane. The integer sum of q * a is exact in int32;
 * the offset term (8 or 16 times the block's activation sum, computed
 * once per activation row) is subtracted in int32, so the block's sum is
 * exactly ref's sum of (q - offset) * a for any int8 activations. Then
 * per block one rounded product d_w * d_a and one fused multiply-add, in
 * block order: the float operations of pq5_gemm8 in
 * kernels_pack_q5_ref.c, lane by lane, so every ISA and every batch size
 * gives the same bits.
 */
#ifndef LLM_KERNELS_PACK_Q5_SIMD_H
#define LLM_KERNELS_PACK_Q5_SIMD_H

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels_pack_q5.h"
#include "quant.h"

/* activation rows whose scales and sums are prepared together, at most */
#define PQ5_TC 16
/*
 * activation rows whose accumulators stay in registers together: 8 with
 * AVX-512 (32 vector registers, each decoded weight vector serves eight
 * vpdpbusd), 4 with AVX2's 16
 */
#if PQ5_VNNI
#define PQ5_TG 8
#else
#define PQ5_TG 4
#endif
/* per-block activation values prepared per chunk (fewer rows when long) */
#define PQ5_SCALES (PQ5_TC * 512)
_Static_assert(PQ5_SCALES >= LLM_GEMM8_MAX_N / LLM_QK, "one activation row's scales fit");
/* groups of rows of up to this many blocks are decoded once (scratch) */
#define PQ5_SCR_NB 128

/* bytes of one packed block */
#define PQ5_BSZ(q5) ((q5) ? sizeof(llm_block_q5_0x8) : sizeof(llm_block_q4_0x8))

/*
 * Weight vector j (0..7) of the packed block x: elements 4j .. 4j + 3 of
 * each row as unsigned quants (0..15 for q4_0, 0..31 for q5_0). Low
 * nibbles of qs vector j for j < 4, high nibbles of vector j - 4 after;
 * for q5_0 bit b of the word qh[4j ..] becomes bit 4 of byte b (AVX-512:
 * the word is the byte mask of one masked move).
 */
static inline __attribute__((always_inline)) __m256i
pq5_weights(const bool q5, const void *x, int j)
{
	const uint8_t *qs = q5 ? ((const llm_block_q5_0x8 *) x)->qs : ((const llm_block_q4_0x8 *) x)->qs;
	__m256i		p = _mm256_loadu_si256((const __m256i *) (qs + 32 * (j & 3)));
	uint32_t	word;

	if (j >= 4)
		p = _mm256_srli_epi16(p, 4);
	p = _mm256_and_si256(p, _mm256_set1_epi8(0x0f));
	if (!q5)
		return p;
	memcpy(&word, ((const llm_block_q5_0x8 *) x)->qh + 4 * j, sizeof(word));
#if PQ5_VNNI
	return _mm256_or_si256(p, _mm256_maskz_mov_epi8((__mmask32) word, _mm256_set1_epi8(0x10)));
#else
	{
		/* byte b gets byte b / 8 of the word, then keeps bit b % 8 */
		const __m256i m = _mm256_set1_epi64x((long long) 0x8040201008040201ULL);
		__m256i		h = _mm256_shuffle_epi8(_mm256_set1_epi32((int) word),
											_mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
															 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));

		h = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, m), m), _mm256_set1_epi8(0x10));
		return _mm256_or_si256(p, h);
	}
#endif
}

/*
 * One group x (nb blocks) of 8 rows against C (1..PQ5_TG) q8_0 activation
 * rows at a (a_stride apart): y[c * ldy + r], r < 8. da[c * nb + i] is the
 * activation block's scale as float, oa[c * nb + i] the offset times the
 * sum of its quants. With scr the decoded weights come from uq.
 */
static inline __attribute__((always_inline)) void
pq5_tile(const bool q5, const int C, const bool scr, int64_t nb, const void *x,
		 const __m256i *uq, const char *a, size_t a_stride, const float *da,
		 const int32_t *oa, float *y, int64_t ldy)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256		acc[PQ5_TG];
	__m256i		s[PQ5_TG];
#if !PQ5_VNNI
	__m256i		p[PQ5_TG];
	/* q * a pairs reach 2 * 31 * 128: four vectors fit int16 for q5_0, 8 for q4_0 */
	const int	flush = q5 ? 4 : 8;
#endif

	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		acc[c] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++)
	{
		const void *xb = (const char *) x + i * PQ5_BSZ(q5);
		const uint16_t *d = q5 ? ((const llm_block_q5_0x8 *) xb)->d : ((const llm_block_q4_0x8 *) xb)->d;
		__m256		dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) d));

		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
		{
			s[c] = _mm256_setzero_si256();
#if !PQ5_VNNI
			p[c] = _mm256_setzero_si256();
#endif
		}
		#pragma GCC unroll 8
		for (int j = 0; j < 8; j++)
		{
			__m256i		w = scr ? _mm256_load_si256(&uq[8 * i + j]) : pq5_weights(q5, xb, j);

			#pragma GCC unroll 8
			for (int c = 0; c < C; c++)
			{
				const llm_block_q8_0 *ab = (const llm_block_q8_0 *) (a + (size_t) c * a_stride) + i;
				/* four activation bytes in every lane (a float load: one uop) */
				__m256i		v = _mm256_castps_si256(_mm256_broadcast_ss((const float *) (ab->qs + 4 * j)));

#if PQ5_VNNI
				s[c] = _mm256_dpbusd_epi32(s[c], w, v);
#else
				p[c] = _mm256_add_epi16(p[c], _mm256_maddubs_epi16(w, v));
				if ((j + 1) % flush == 0)
				{
					s[c] = _mm256_add_epi32(s[c], _mm256_madd_epi16(p[c], ones));
					p[c] = _mm256_setzero_si256();
				}
#endif
				/* keep the sum a chain: reassociated, its terms spill */
				__asm__("" : "+x"(s[c]));
			}
		}
		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
		{
			__m256i		si = _mm256_sub_epi32(s[c], _mm256_set1_epi32(oa[c * nb + i]));

			acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(&da[c * nb + i])),
									 _mm256_cvtepi32_ps(si), acc[c]);
		}
	}
	(void) ones;
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		_mm256_storeu_ps(y + c * ldy, acc[c]);
}

#if PQ5_VNNI
/*
 * Two adjacent groups x and x + gbytes (16 rows) against C (1..PQ5_TG)
 * activation rows, on 512-bit vectors: lanes 0..7 are the first group's
 * rows, lanes 8..15 the second's, each lane doing exactly what pq5_tile
 * does for its row (so the same bits). With scr, uq2 holds both groups'
 * decoded weights, vector 8 * i + j.
 */
static inline __attribute__((always_inline)) void
pq5_tile2(const bool q5, const int C, const bool scr, int64_t nb, const void *x,
		  size_t gbytes, const __m512i *uq2, const char *a, size_t a_stride,
		  const float *da, const int32_t *oa, float *y, int64_t ldy)
{
	__m512		acc[PQ5_TG];
	__m512i		s[PQ5_TG];

	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		acc[c] = _mm512_setzero_ps();
	for (int64_t i = 0; i < nb; i++)
	{
		const void *xb = (const char *) x + i * PQ5_BSZ(q5);
		const void *xb2 = (const char *) xb + gbytes;
		const uint16_t *d = q5 ? ((const llm_block_q5_0x8 *) xb)->d : ((const llm_block_q4_0x8 *) xb)->d;
		const uint16_t *d2 = q5 ? ((const llm_block_q5_0x8 *) xb2)->d : ((const llm_block_q4_0x8 *) xb2)->d;
		/* both groups' scales (AVX-512 F only: no DQ insert) */
		__m512		dw = _mm512_castpd_ps(_mm512_insertf64x4(
			_mm512_castpd256_pd512(_mm256_castps_pd(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) d)))),
			_mm256_castps_pd(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) d2))), 1));

		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
			s[c] = _mm512_setzero_si512();
		#pragma GCC unroll 8
		for (int j = 0; j < 8; j++)
		{
			__m512i		w = scr ? _mm512_load_si512(&uq2[8 * i + j])
				: _mm512_inserti64x4(_mm512_castsi256_si512(pq5_weights(q5, xb, j)),
									 pq5_weights(q5, xb2, j), 1);

			#pragma GCC unroll 8
			for (int c = 0; c < C; c++)
			{
				const llm_block_q8_0 *ab = (const llm_block_q8_0 *) (a + (size_t) c * a_stride) + i;
				int32_t		a4;
				__m512i		v;

				/* four activation bytes in every lane (qs is not 4-byte aligned) */
				memcpy(&a4, ab->qs + 4 * j, sizeof(a4));
				v = _mm512_set1_epi32(a4);

				s[c] = _mm512_dpbusd_epi32(s[c], w, v);
				__asm__("" : "+v"(s[c]));
			}
		}
		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
		{
			__m512i		si = _mm512_sub_epi32(s[c], _mm512_set1_epi32(oa[c * nb + i]));

			acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da[c * nb + i])),
									 _mm512_cvtepi32_ps(si), acc[c]);
		}
	}
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
	{
		_mm256_storeu_ps(y + c * ldy, _mm512_castps512_ps256(acc[c]));
		_mm256_storeu_ps(y + c * ldy + 8,
						 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[c]), 1)));
	}
}
#endif

/*
 * The driver (llm_gemm8_fn). Per chunk of up to PQ5_TC activation rows
 * (fewer when rows are long): their scales as floats and their offset
 * sums once; then per group of 8 weight rows the quants decoded once
 * when more than one tile shares them, then tiles of 4, 2, 1 activation
 * rows (a lane's operations do not depend on its tile).
 */
static inline __attribute__((always_inline)) void
pq5_run(const bool q5, int64_t n, int64_t ng, int64_t nc, const void *w8,
		const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK;
	const size_t gbytes = (size_t) nb * PQ5_BSZ(q5);
	const int64_t tc = PQ5_SCALES / nb < PQ5_TC ? PQ5_SCALES / nb : PQ5_TC;
	const int	off = q5 ? 16 : 8;
	float		da[PQ5_SCALES] __attribute__((aligned(32)));
	int32_t		oa[PQ5_SCALES] __attribute__((aligned(32)));
	__m256i		uq[8 * PQ5_SCR_NB];
#if PQ5_VNNI
	__m512i		uq2[8 * PQ5_SCR_NB];
#endif

	for (int64_t c0 = 0; c0 < nc; c0 += tc)
	{
		const int	cn = (int) (nc - c0 < tc ? nc - c0 : tc);
		const char *a0 = (const char *) a + (size_t) c0 * a_stride;
		const bool	scr = cn > PQ5_TG && nb <= PQ5_SCR_NB;

		for (int c = 0; c < cn; c++)
			for (int64_t i = 0; i < nb; i++)
			{
				const llm_block_q8_0 *ab = (const llm_block_q8_0 *) (a0 + (size_t) c * a_stride) + i;
				int32_t		sum = 0;

				for (int e = 0; e < LLM_QK; e++)
					sum += ab->qs[e];
				da[c * nb + i] = _cvtsh_ss(ab->d);
				oa[c * nb + i] = off * sum;
			}
		for (int64_t g = 0; g < ng; g++)
		{
			const char *x = (const char *) w8 + (size_t) g * gbytes;
			float	   *yg = y + c0 * ldy + 8 * g;

#if PQ5_VNNI
			/*
			 * From two activation rows, pairs of groups on 512 bits (one
			 * row keeps the 256-bit tile: loading weights dominates there)
			 */
			if (cn >= 2 && g + 1 < ng)
			{
				if (scr)
					for (int64_t i = 0; i < nb; i++)
						#pragma GCC unroll 8
						for (int j = 0; j < 8; j++)
							uq2[8 * i + j] = _mm512_inserti64x4(_mm512_castsi256_si512(pq5_weights(q5, x + i * PQ5_BSZ(q5), j)),
																pq5_weights(q5, x + gbytes + i * PQ5_BSZ(q5), j), 1);
				for (int c = 0, C; c < cn; c += C)
				{
					const char *ac = a0 + (size_t) c * a_stride;

					C = cn - c >= 8 ? 8 : cn - c >= 4 ? 4 : cn - c >= 2 ? 2 : 1;
					if (C == 8)
						pq5_tile2(q5, 8, scr, nb, x, gbytes, uq2, ac, a_stride, da + c * nb, oa + c * nb, yg + c * ldy, ldy);
					else if (C == 4)
						pq5_tile2(q5, 4, scr, nb, x, gbytes, uq2, ac, a_stride, da + c * nb, oa + c * nb, yg + c * ldy, ldy);
					else if (C == 2)
						pq5_tile2(q5, 2, scr, nb, x, gbytes, uq2, ac, a_stride, da + c * nb, oa + c * nb, yg + c * ldy, ldy);
					else
						pq5_tile2(q5, 1, scr, nb, x, gbytes, uq2, ac, a_stride, da + c * nb, oa + c * nb, yg + c * ldy, ldy);
				}
				g++;
				continue;
			}
#endif
			if (scr)
				for (int64_t i = 0; i < nb; i++)
					#pragma GCC unroll 8
					for (int j = 0; j < 8; j++)
						uq[8 * i + j] = pq5_weights(q5, x + i * PQ5_BSZ(q5), j);
			for (int c = 0, C; c < cn; c += C)
			{
				const char *ac = a0 + (size_t) c * a_stride;

				C = cn - c >= PQ5_TG ? PQ5_TG : cn - c >= 4 ? 4 : cn - c >= 2 ? 2 : 1;
#if PQ5_TG > 4
				if (C == 8)
					pq5_tile(q5, 8, scr, nb, x, uq, ac, a_stride, da + c * nb, oa + c * nb, yg + c * ldy, ldy);
				else
#endif
				if (C == 4)
					pq5_tile(q5, 4, scr, nb, x, uq, ac, a_stride, da + c * nb, oa + c * nb, yg + c * ldy, ldy);
				else if (C == 2)
					pq5_tile(q5, 2, scr, nb, x, uq, ac, a_stride, da + c * nb, oa + c * nb, yg + c * ldy, ldy);
				else
					pq5_tile(q5, 1, scr, nb, x, uq, ac, a_stride, da + c * nb, oa + c * nb, yg + c * ldy, ldy);
			}
		}
	}
}

#endif							/* LLM_KERNELS_PACK_Q5_SIMD_H */
