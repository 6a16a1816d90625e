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
#include <string.h>

#include "quant.h"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define PK_VNNI 1
#define PK_TG 8					/* activation rows per tile */
#else
#define PK_VNNI 0
#define PK_TG 4
#endif

#define PK_INL static inline __attribute__((always_inline))

/*
 * The bodies (kernels_pack_k_body.h) are written once over a vector of
 * one group (256 bits: 8 rows) or, with VNNI, of two adjacent groups (512
 * bits: lanes 0..7 the first group's rows, lanes 8..15 the second's,
 * gap bytes apart in memory). Each lane does the same operations in
 * either width, so the results are the same bits. pk256_* / pk512_* are
 * the operations the bodies use.
 */
typedef __m256i pk256_vi;
typedef __m256 pk256_vf;

/* 32 bytes at p (gap unused: one group) */
PK_INL __m256i
pk256_ld(const void *p, size_t gap)
{
	return _mm256_loadu_si256((const __m256i *) p);
}

PK_INL __m256i
pk256_zero(void)
{
	return _mm256_setzero_si256();
}

PK_INL __m256i
pk256_and(__m256i a, __m256i b)
{
	return _mm256_and_si256(a, b);
}

PK_INL __m256i
pk256_or(__m256i a, __m256i b)
{
	return _mm256_or_si256(a, b);
}

/* 16-bit lane shifts by a constant n (0..15) */
PK_INL __m256i
pk256_srli16(__m256i a, int n)
{
	return _mm256_srli_epi16(a, n);
}

PK_INL __m256i
pk256_slli16(__m256i a, int n)
{
	return _mm256_slli_epi16(a, n);
}

PK_INL __m256i
pk256_set1_8(char c)
{
	return _mm256_set1_epi8(c);
}

PK_INL __m256i
pk256_add32(__m256i a, __m256i b)
{
	return _mm256_add_epi32(a, b);
}

PK_INL __m256i
pk256_sub32(__m256i a, __m256i b)
{
	return _mm256_sub_epi32(a, b);
}

PK_INL __m256i
pk256_slli32(__m256i a, int n)
{
	return _mm256_slli_epi32(a, n);
}

/*
 * acc + the pairs of int16 products of a and b summed into int32 lanes:
 * vpmaddwd then an add, or one vpdpwssd with VNNI (no saturation: same sums)
 */
PK_INL __m256i
pk256_madd_add(__m256i acc, __m256i a, __m256i b)
{
#if PK_VNNI
	return _mm256_dpwssd_epi32(acc, a, b);
#else
	return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

/* four activation bytes at p in every 32-bit lane */
PK_INL __m256i
pk256_bcast(const void *p)
{
	return _mm256_castps_si256(_mm256_broadcast_ss((const float *) p));
}

/*
 * Integer product step: acc + the products of the unsigned weight bytes w
 * with the signed activation bytes v, summed per 32-bit lane (VNNI, int32)
 * or per 16-bit pair (int16: the caller bounds the sum).
 */
PK_INL __m256i
pk256_dot(__m256i acc, __m256i w, __m256i v)
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
pk256_dup16(__m256i p, int h)
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
pk256_scale_add(__m256i sumq, __m256i s, __m256i p, int h)
{
#if PK_VNNI
	__m256i		sc = h ? _mm256_srai_epi32(p, 16) : _mm256_srai_epi32(_mm256_slli_epi32(p, 16), 16);

	return _mm256_add_epi32(sumq, _mm256_mullo_epi32(s, sc));
#else
	return _mm256_add_epi32(sumq, _mm256_madd_epi16(s, pk256_dup16(p, h)));
#endif
}

/*
 * The eight int16 scale pairs vectors of a q4_K x8 / q5_K x8 scales field:
 * pv[p] (p = 0..3) lane r = (sc of sub-blocks 2p, 2p + 1 of row r), pv[4
 * + p] the same for the mins (see quant.h).
 */
PK_INL void
pk256_k4_scales(const uint8_t *s, size_t gap, __m256i *pv)
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
 * The eight int16 scale pairs vectors of a q6_K x8 scales field: pv[p]
 * lane r = (scales 2p, 2p + 1 of row r).
 */
PK_INL void
pk256_q6_scales(const int8_t *s, size_t gap, __m256i *pv)
{
	#pragma GCC unroll 8
	for (int p = 0; p < 8; p++)
		pv[p] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (s + 16 * p)));
}

/* the eight (or sixteen) fp16 values at d as floats */
PK_INL __m256
pk256_half(const void *d, size_t gap)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) d));
}

PK_INL __m256
pk256_fzero(void)
{
	return _mm256_setzero_ps();
}

PK_INL __m256
pk256_fbcast(const float *p)
{
	return _mm256_broadcast_ss(p);
}

/* acc + a * b, one rounding (written FMA) */
PK_INL __m256
pk256_fmadd(__m256 a, __m256 b, __m256 acc)
{
	return _mm256_fmadd_ps(a, b, acc);
}

PK_INL __m256
pk256_fmul(__m256 a, __m256 b)
{
	return _mm256_mul_ps(a, b);
}

PK_INL __m256
pk256_fsub(__m256 a, __m256 b)
{
	return _mm256_sub_ps(a, b);
}

PK_INL __m256
pk256_fcvt(__m256i a)
{
	return _mm256_cvtepi32_ps(a);
}

PK_INL void
pk256_fstore(float *y, __m256 v)
{
	_mm256_storeu_ps(y, v);
}

#define PKW 256
#include "kernels_pack_k_body.h"
#undef PKW

#if PK_VNNI
typedef __m512i pk512_vi;
typedef __m512 pk512_vf;

/* 32 bytes at p (first group) and at p + gap (second group) */
PK_INL __m512i
pk512_ld(const void *p, size_t gap)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *) p)),
							  _mm256_loadu_si256((const __m256i *) ((const char *) p + gap)), 1);
}

PK_INL __m512i
pk512_zero(void)
{
	return _mm512_setzero_si512();
}

PK_INL __m512i
pk512_and(__m512i a, __m512i b)
{
	return _mm512_and_si512(a, b);
}

PK_INL __m512i
pk512_or(__m512i a, __m512i b)
{
	return _mm512_or_si512(a, b);
}

PK_INL __m512i
pk512_srli16(__m512i a, int n)
{
	return _mm512_srli_epi16(a, n);
}

PK_INL __m512i
pk512_slli16(__m512i a, int n)
{
	return _mm512_slli_epi16(a, n);
}

PK_INL __m512i
pk512_set1_8(char c)
{
	return _mm512_set1_epi8(c);
}

PK_INL __m512i
pk512_add32(__m512i a, __m512i b)
{
	return _mm512_add_epi32(a, b);
}

PK_INL __m512i
pk512_sub32(__m512i a, __m512i b)
{
	return _mm512_sub_epi32(a, b);
}

PK_INL __m512i
pk512_slli32(__m512i a, int n)
{
	return _mm512_slli_epi32(a, n);
}

PK_INL __m512i
pk512_madd_add(__m512i acc, __m512i a, __m512i b)
{
	return _mm512_dpwssd_epi32(acc, a, b);
}

/* four activation bytes at p in every 32-bit lane (p: any alignment) */
PK_INL __m512i
pk512_bcast(const void *p)
{
	int32_t		v;

	memcpy(&v, p, sizeof(v));
	return _mm512_set1_epi32(v);
}

PK_INL __m512i
pk512_dot(__m512i acc, __m512i w, __m512i v)
{
	return _mm512_dpbusd_epi32(acc, w, v);
}

/* pk256_dup16 on every 128-bit quarter */
PK_INL __m512i
pk512_dup16(__m512i p, int h)
{
	const __m128i dup = h ? _mm_set_epi8(15, 14, 15, 14, 11, 10, 11, 10, 7, 6, 7, 6, 3, 2, 3, 2) :
		_mm_set_epi8(13, 12, 13, 12, 9, 8, 9, 8, 5, 4, 5, 4, 1, 0, 1, 0);

	return _mm512_shuffle_epi8(p, _mm512_broadcast_i32x4(dup));
}

/* pk256_scale_add (VNNI form) on 16 lanes */
PK_INL __m512i
pk512_scale_add(__m512i sumq, __m512i s, __m512i p, int h)
{
	__m512i		sc = h ? _mm512_srai_epi32(p, 16) : _mm512_srai_epi32(_mm512_slli_epi32(p, 16), 16);

	return _mm512_add_epi32(sumq, _mm512_mullo_epi32(s, sc));
}

/* both groups' pk256_k4_scales, the second in the high halves */
PK_INL void
pk512_k4_scales(const uint8_t *s, size_t gap, __m512i *pv)
{
	__m256i		p0[8],
				p1[8];

	pk256_k4_scales(s, 0, p0);
	pk256_k4_scales(s + gap, 0, p1);
	#pragma GCC unroll 8
	for (int k = 0; k < 8; k++)
		pv[k] = _mm512_inserti64x4(_mm512_castsi256_si512(p0[k]), p1[k], 1);
}

/* both groups' pk256_q6_scales, the second in the high halves */
PK_INL void
pk512_q6_scales(const int8_t *s, size_t gap, __m512i *pv)
{
	#pragma GCC unroll 8
	for (int p = 0; p < 8; p++)
		pv[p] = _mm512_cvtepi8_epi16(_mm256_inserti128_si256(
			_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *) (s + 16 * p))),
			_mm_loadu_si128((const __m128i *) ((const char *) (s + 16 * p) + gap)), 1));
}

PK_INL __m512
pk512_half(const void *d, size_t gap)
{
	return _mm512_cvtph_ps(_mm256_inserti128_si256(
		_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *) d)),
		_mm_loadu_si128((const __m128i *) ((const char *) d + gap)), 1));
}

PK_INL __m512
pk512_fzero(void)
{
	return _mm512_setzero_ps();
}

PK_INL __m512
pk512_fbcast(const float *p)
{
	return _mm512_set1_ps(*p);
}

PK_INL __m512
pk512_fmadd(__m512 a, __m512 b, __m512 acc)
{
	return _mm512_fmadd_ps(a, b, acc);
}

PK_INL __m512
pk512_fmul(__m512 a, __m512 b)
{
	return _mm512_mul_ps(a, b);
}

PK_INL __m512
pk512_fsub(__m512 a, __m512 b)
{
	return _mm512_sub_ps(a, b);
}

PK_INL __m512
pk512_fcvt(__m512i a)
{
	return _mm512_cvtepi32_ps(a);
}

/* rows 8g .. 8g + 15: the two groups' outputs are adjacent */
PK_INL void
pk512_fstore(float *y, __m512 v)
{
	_mm512_storeu_ps(y, v);
}

#define PKW 512
#include "kernels_pack_k_body.h"
#undef PKW
#endif

/* groups of up to this many super-blocks are decoded once (scratch) */
#define PK_SCR_NB 8

/*
 * The driver (see llm_gemm8_fn): per group, tiles of PK_TG activation
 * rows, then 4, 2, 1 (a row's chain does not depend on its tile). With
 * VNNI and from two activation rows, pairs of adjacent groups go in
 * 512-bit vectors (for one row loading the weights dominates either way).
 * When more than one tile shares a group (pair) of at most PK_SCR_NB
 * super-blocks, its weight vectors are decoded once into a scratch copy.
 */
PK_INL void
pk_run(const int kind, int64_t n, int64_t ng, int64_t nc, const void *w8,
	   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK_K;
	const size_t gbytes = (size_t) nb * (kind == 4 ? sizeof(llm_block_q4_Kx8) : kind == 5 ?
										 sizeof(llm_block_q5_Kx8) : sizeof(llm_block_q6_Kx8));
	const bool	scr = nc > PK_TG && nb <= PK_SCR_NB;
	__m256i		uq[64 * PK_SCR_NB];
#if PK_VNNI
	__m512i		uq2[64 * PK_SCR_NB];
#endif

	for (int64_t g = 0; g < ng; g++)
	{
		const char *x = (const char *) w8 + (size_t) g * gbytes;
		const bool	pair = PK_VNNI && nc >= 2 && g + 1 < ng;

#if PK_VNNI
		if (pair && scr)
			pk512_decode(kind, nb, x, gbytes, uq2);
#endif
		if (!pair && scr)
			pk256_decode(kind, nb, x, 0, uq);
		for (int64_t c = 0, C; c < nc; c += C)
		{
			const char *ac = (const char *) a + (size_t) c * a_stride;
			float	   *yc = y + c * ldy + 8 * g;

			C = nc - c >= PK_TG ? PK_TG : nc - c >= 4 ? 4 : nc - c >= 2 ? 2 : 1;
#if PK_VNNI
			if (pair)
			{
				const __m512i *u2 = scr ? uq2 : NULL;

				if (C == PK_TG)
					pk512_tile(kind, PK_TG, nb, x, gbytes, u2, ac, a_stride, yc, ldy);
				else if (C == 4)
					pk512_tile(kind, 4, nb, x, gbytes, u2, ac, a_stride, yc, ldy);
				else if (C == 2)
					pk512_tile(kind, 2, nb, x, gbytes, u2, ac, a_stride, yc, ldy);
				else
					pk512_tile(kind, 1, nb, x, gbytes, u2, ac, a_stride, yc, ldy);
				continue;
			}
#endif
			{
				const __m256i *u = scr ? uq : NULL;

				if (C == PK_TG)
					pk256_tile(kind, PK_TG, nb, x, 0, u, ac, a_stride, yc, ldy);
#if PK_TG > 4
				else if (C == 4)
					pk256_tile(kind, 4, nb, x, 0, u, ac, a_stride, yc, ldy);
#endif
				else if (C == 2)
					pk256_tile(kind, 2, nb, x, 0, u, ac, a_stride, yc, ldy);
				else
					pk256_tile(kind, 1, nb, x, 0, u, ac, a_stride, yc, ldy);
			}
		}
		if (pair)
			g++;
	}
}

#endif							/* LLM_KERNELS_PACK_K_SIMD_H */
