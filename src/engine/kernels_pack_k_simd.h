/*
 * kernels_pack_k_simd.h - the body of the packed K-quant products
 * (llm_block_q4_Kx8 / q5_Kx8 / q6_Kx8 against q8_K activation rows),
 * included by kernels_pack_k_avx2.c (vpmaddubsw into int16, then vpmaddwd
 * by the sub-block scales) and kernels_pack_k_avx512.c (vpdpbusd into
 * int32, then vpmulld by the scales: AVX512-VNNI on 256-bit vectors). The
 * integer sums of a super-block are exact either way (the int16 sums are
 * kept below 2^15: see the bounds below), so both give the same int32
 * sums; the float operations are those of kernels_pack_k_ref.c, in its
 * order, for every batch size.
 *
 * The eight rows of a group sit in the eight 32-bit lanes: one vector of
 * weights holds the same four elements of every row, multiplied by the
 * four activation bytes of those elements broadcast to every lane.
 *
 * Include only after the fp-contract pragma and immintrin.h, from a file
 * built with -mavx2 -mfma -mf16c (and the AVX-512 flags for VNNI).
 */
#ifndef LLM_KERNELS_PACK_K_SIMD_H
#define LLM_KERNELS_PACK_K_SIMD_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "quant.h"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define PK_VNNI 1
#define PK_TG 8					/* activation rows per tile */
#else
#define PK_VNNI 0
#define PK_TG 4
#endif

#define PK_INL static inline __attribute__((always_inline))

/* four activation bytes at p in every 32-bit lane */
PK_INL __m256i
pk_bcast(const void *p)
{
	return _mm256_castps_si256(_mm256_broadcast_ss((const float *) p));
}

/*
 * Integer product step: acc + the products of the unsigned weight bytes w
 * with the signed activation bytes v, summed per 32-bit lane (VNNI, int32)
 * or per 16-bit pair (int16: the caller bounds the sum).
 */
PK_INL __m256i
pk_dot(__m256i acc, __m256i w, __m256i v)
{
#if PK_VNNI
	return _mm256_dpbusd_epi32(acc, w, v);
#else
	return _mm256_add_epi16(acc, _mm256_maddubs_epi16(w, v));
#endif
}

/*
 * The int16 scale h (0 or 1) of each 32-bit lane of p in both halves of
 * the lane.
 */
PK_INL __m256i
pk_dup16(__m256i p, int h)
{
	const __m256i dup = h ? _mm256_set_epi8(15, 14, 15, 14, 11, 10, 11, 10, 7, 6, 7, 6, 3, 2, 3, 2,
											15, 14, 15, 14, 11, 10, 11, 10, 7, 6, 7, 6, 3, 2, 3, 2) :
		_mm256_set_epi8(13, 12, 13, 12, 9, 8, 9, 8, 5, 4, 5, 4, 1, 0, 1, 0,
						13, 12, 13, 12, 9, 8, 9, 8, 5, 4, 5, 4, 1, 0, 1, 0);

	return _mm256_shuffle_epi8(p, dup);
}

/*
 * sumq + s times the sub-block scale of each row: p holds per lane two
 * int16 scales, h picks one. AVX2: s is int16 pairs (vpmaddwd with the
 * scale in both halves); VNNI: s is int32 (vpmulld by the scale).
 */
PK_INL __m256i
pk_scale_add(__m256i sumq, __m256i s, __m256i p, int h)
{
#if PK_VNNI
	__m256i		sc = h ? _mm256_srai_epi32(p, 16) : _mm256_srai_epi32(_mm256_slli_epi32(p, 16), 16);

	return _mm256_add_epi32(sumq, _mm256_mullo_epi32(s, sc));
#else
	return _mm256_add_epi32(sumq, _mm256_madd_epi16(s, pk_dup16(p, h)));
#endif
}

/*
 * The eight int16 scale pairs vectors of a q4_K x8 / q5_K x8 scales field:
 * pv[p] (p = 0..3) lane r = (sc of sub-blocks 2p, 2p + 1 of row r), pv[4
 * + p] the same for the mins (see quant.h).
 */
PK_INL void
pk_k4_scales(const uint8_t *s, __m256i *pv)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f),
				m30 = _mm256_set1_epi8(0x30);
	__m256i		l0 = _mm256_loadu_si256((const __m256i *) s),
				l1 = _mm256_loadu_si256((const __m256i *) (s + 32)),
				h = _mm256_loadu_si256((const __m256i *) (s + 64));
	__m256i		d[4];

	d[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
	d[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
	d[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m30));
	d[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
						   _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
	#pragma GCC unroll 4
	for (int k = 0; k < 4; k++)
	{
		pv[2 * k] = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(d[k]));
		pv[2 * k + 1] = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(d[k], 1));
	}
}

/*
 * The fifth bits of sub-block j of a q5_K x8 qh vector, as 0 or 16 per
 * byte (bit j of each byte moved to bit 4; 16-bit shifts of at most 4
 * keep bit 4 of every byte within its byte).
 */
PK_INL __m256i
pk_q5_bit(__m256i qh, int j)
{
	__m256i		t = j < 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);

	return _mm256_and_si256(t, _mm256_set1_epi8(0x10));
}

/*
 * One super-block b of a q4_K x8 / q5_K x8 group against the C activation
 * blocks a[c] (a_stride apart): the exact sumq[c] and summ[c] of every row
 * (see kernels_pack_k_ref.c). Bounds of the AVX2 int16 sums: q4_K 8 slices
 * of 2 * 15 * 128 = 30720, q5_K 4 slices of 2 * 31 * 128 = 31744.
 */
PK_INL void
pk_k4_block(const bool q5, const int C, const char *b, const char *a, size_t a_stride,
			__m256i *sumq, __m256i *summ)
{
	const llm_block_q4_Kx8 *b4 = (const llm_block_q4_Kx8 *) b;
	const llm_block_q5_Kx8 *b5 = (const llm_block_q5_Kx8 *) b;
	const uint8_t *qs = q5 ? b5->qs : b4->qs;
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	__m256i		pv[8];

	pk_k4_scales(q5 ? b5->scales : b4->scales, pv);
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
	{
		const int16_t *bs = ((const llm_block_q8_K *) (a + (size_t) c * a_stride))->bsums;

		sumq[c] = _mm256_setzero_si256();
		summ[c] = _mm256_setzero_si256();
		#pragma GCC unroll 4
		for (int p = 0; p < 4; p++)
		{
			/* m_j (bsum 2j + bsum 2j+1), j = 2p and 2p + 1 */
			summ[c] = _mm256_add_epi32(summ[c], _mm256_madd_epi16(pk_dup16(pv[4 + p], 0), pk_bcast(bs + 4 * p)));
			summ[c] = _mm256_add_epi32(summ[c], _mm256_madd_epi16(pk_dup16(pv[4 + p], 1), pk_bcast(bs + 4 * p + 2)));
		}
	}
	#pragma GCC unroll 4
	for (int p = 0; p < 4; p++)
		#pragma GCC unroll 2
		for (int h = 0; h < 2; h++)
		{
			__m256i		s[PK_TG];

			#pragma GCC unroll 8
			for (int c = 0; c < C; c++)
				s[c] = _mm256_setzero_si256();
			#pragma GCC unroll 8
			for (int e = 0; e < 8; e++)
			{
				__m256i		w = _mm256_loadu_si256((const __m256i *) (qs + 32 * (8 * p + e)));

				w = _mm256_and_si256(h ? _mm256_srli_epi16(w, 4) : w, m4);
				if (q5)
					w = _mm256_or_si256(w, pk_q5_bit(_mm256_loadu_si256((const __m256i *) (b5->qh + 32 * e)),
													 2 * p + h));
				#pragma GCC unroll 8
				for (int c = 0; c < C; c++)
				{
					const int8_t *q = ((const llm_block_q8_K *) (a + (size_t) c * a_stride))->qs;

					s[c] = pk_dot(s[c], w, pk_bcast(q + 64 * p + 32 * h + 4 * e));
				}
				if (!PK_VNNI && q5 && e == 3)
				{
					#pragma GCC unroll 8
					for (int c = 0; c < C; c++)
					{
						sumq[c] = pk_scale_add(sumq[c], s[c], pv[p], h);
						s[c] = _mm256_setzero_si256();
					}
				}
			}
			#pragma GCC unroll 8
			for (int c = 0; c < C; c++)
				sumq[c] = pk_scale_add(sumq[c], s[c], pv[p], h);
		}
}

/*
 * One super-block b of a q6_K x8 group against the C activation blocks
 * a[c]: the exact sumq[c] = sum_j sc_j dot(q_j, a_j) - 32 sum_j sc_j
 * bsum_j of every row, q the unsigned six-bit values. Bound of the AVX2
 * int16 sums: 2 slices of 2 * 63 * 128 = 32256.
 */
PK_INL void
pk_q6_block(const int C, const llm_block_q6_Kx8 *b, const char *a, size_t a_stride, __m256i *sumq)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f),
				m30 = _mm256_set1_epi8(0x30);
	__m256i		pv[8];
	__m256i		corr[PK_TG];

	#pragma GCC unroll 8
	for (int p = 0; p < 8; p++)
		pv[p] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b->scales + 16 * p)));
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
	{
		const int16_t *bs = ((const llm_block_q8_K *) (a + (size_t) c * a_stride))->bsums;

		sumq[c] = _mm256_setzero_si256();
		corr[c] = _mm256_setzero_si256();
		#pragma GCC unroll 8
		for (int p = 0; p < 8; p++)
			corr[c] = _mm256_add_epi32(corr[c], _mm256_madd_epi16(pv[p], pk_bcast(bs + 2 * p)));
	}
	/* half hf, element group k (elements 128 hf + 32 k + 4 t), t quad T */
	#pragma GCC unroll 2
	for (int hf = 0; hf < 2; hf++)
		#pragma GCC unroll 4
		for (int k = 0; k < 4; k++)
			#pragma GCC unroll 2
			for (int T = 0; T < 2; T++)
			{
				__m256i		s[PK_TG];

				#pragma GCC unroll 8
				for (int c = 0; c < C; c++)
					s[c] = _mm256_setzero_si256();
				#pragma GCC unroll 4
				for (int tt = 0; tt < 4; tt++)
				{
					const int	t = 4 * T + tt;
					__m256i		ql = _mm256_loadu_si256((const __m256i *) (b->ql + 32 * (16 * hf + t + 8 * (k & 1))));
					__m256i		qh = _mm256_loadu_si256((const __m256i *) (b->qh + 32 * (8 * hf + t)));
					__m256i		lo = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(ql, 4) : ql, m4);
					__m256i		hi;
					__m256i		w;

					hi = k == 0 ? _mm256_slli_epi16(qh, 4) : k == 1 ? _mm256_slli_epi16(qh, 2) :
						k == 2 ? qh : _mm256_srli_epi16(qh, 2);
					w = _mm256_or_si256(lo, _mm256_and_si256(hi, m30));
					#pragma GCC unroll 8
					for (int c = 0; c < C; c++)
					{
						const int8_t *q = ((const llm_block_q8_K *) (a + (size_t) c * a_stride))->qs;

						s[c] = pk_dot(s[c], w, pk_bcast(q + 128 * hf + 32 * k + 4 * t));
					}
					if (!PK_VNNI && tt == 1)
					{
						#pragma GCC unroll 8
						for (int c = 0; c < C; c++)
						{
							sumq[c] = pk_scale_add(sumq[c], s[c], pv[4 * hf + k], T);
							s[c] = _mm256_setzero_si256();
						}
					}
				}
				#pragma GCC unroll 8
				for (int c = 0; c < C; c++)
					sumq[c] = pk_scale_add(sumq[c], s[c], pv[4 * hf + k], T);
			}
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		sumq[c] = _mm256_sub_epi32(sumq[c], _mm256_slli_epi32(corr[c], 5));
}

/*
 * One group x of 8 rows (nb super-blocks of type 4 = q4_K, 5 = q5_K, 6 =
 * q6_K) against C activation rows: y[c * ldy + r], with the float
 * operations of kernels_pack_k_ref.c.
 */
PK_INL void
pk_tile(const int kind, const int C, int64_t nb, const char *x, const char *a, size_t a_stride,
		float *y, int64_t ldy)
{
	const size_t bsz = kind == 4 ? sizeof(llm_block_q4_Kx8) : kind == 5 ?
		sizeof(llm_block_q5_Kx8) : sizeof(llm_block_q6_Kx8);
	__m256		acc[PK_TG],
				macc[PK_TG];

	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		acc[c] = macc[c] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++)
	{
		const char *b = x + (size_t) i * bsz;
		const char *ai = a + (size_t) i * sizeof(llm_block_q8_K);
		__m256i		sumq[PK_TG],
					summ[PK_TG];
		__m256		dw;

		if (kind == 6)
		{
			pk_q6_block(C, (const llm_block_q6_Kx8 *) b, ai, a_stride, sumq);
			dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) ((const llm_block_q6_Kx8 *) b)->d));
		}
		else
		{
			pk_k4_block(kind == 5, C, b, ai, a_stride, sumq, summ);
			/* d[8] then dmin[8] start both layouts */
			dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) b));
		}
		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
		{
			__m256		da = _mm256_broadcast_ss(&((const llm_block_q8_K *) (ai + (size_t) c * a_stride))->d);

			acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(sumq[c]), acc[c]);
			if (kind != 6)
			{
				__m256		dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (b + 16)));

				macc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dm, da), _mm256_cvtepi32_ps(summ[c]), macc[c]);
			}
		}
	}
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		_mm256_storeu_ps(y + c * ldy, kind == 6 ? acc[c] : _mm256_sub_ps(acc[c], macc[c]));
}

/*
 * The driver (see llm_gemm8_fn): per group, tiles of PK_TG activation
 * rows, then 4, 2, 1 (a row's chain does not depend on its tile).
 */
PK_INL void
pk_run(const int kind, int64_t n, int64_t ng, int64_t nc, const void *w8,
	   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK_K;
	const size_t gbytes = (size_t) nb * (kind == 4 ? sizeof(llm_block_q4_Kx8) : kind == 5 ?
										 sizeof(llm_block_q5_Kx8) : sizeof(llm_block_q6_Kx8));

	for (int64_t g = 0; g < ng; g++)
	{
		const char *x = (const char *) w8 + (size_t) g * gbytes;

		for (int64_t c = 0, C; c < nc; c += C)
		{
			const char *ac = (const char *) a + (size_t) c * a_stride;
			float	   *yc = y + c * ldy + 8 * g;

			C = nc - c >= PK_TG ? PK_TG : nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;
			if (C == PK_TG)
				pk_tile(kind, PK_TG, nb, x, ac, a_stride, yc, ldy);
#if PK_TG > 4
			else if (C == 4)
				pk_tile(kind, 4, nb, x, ac, a_stride, yc, ldy);
#endif
			else if (C == 2)
				pk_tile(kind, 2, nb, x, ac, a_stride, yc, ldy);
			else
				pk_tile(kind, 1, nb, x, ac, a_stride, yc, ldy);
		}
	}
}

#endif							/* LLM_KERNELS_PACK_K_SIMD_H */
