/*
 * kernels_avx2_int.h - helpers shared by the AVX2 kernel files
 * (kernels_avx2.c, kernels_gemm_avx2.c, kernels_gemm8_avx2.c, and the
 * AVX-512 kernels_gemm8_avx512.c, built with flags that include these); internal
 * to the engine.
 *
 * Include only from files built with -mavx2 -mfma -mf16c, after the
 * fp-contract pragma those files start with, and only on x86. The helpers
 * are static inline so that every file generates the same arithmetic.
 */
#ifndef LLM_KERNELS_AVX2_INT_H
#define LLM_KERNELS_AVX2_INT_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "quant.h"

/*
 * The single-row products the gemm kernels must match bit for bit
 * (kernels_avx2.c); the gemm kernels fall back on them for long rows.
 */
void		llm_avx2_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *vw, const void *va);
void		llm_avx2_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vw, const void *va);

/* batched products (kernels_gemm_avx2.c), see llm_gemm_fn */
void		llm_avx2_gemm_q4_1_q8_1(int64_t n, int64_t nr, int64_t nc, const void *w, size_t w_stride,
									const void *a, size_t a_stride, float *y, int64_t ldy);
void		llm_avx2_gemm_q8_0_q8_0(int64_t n, int64_t nr, int64_t nc, const void *w, size_t w_stride,
									const void *a, size_t a_stride, float *y, int64_t ldy);

/* packed 8-row products (kernels_gemm8_avx2.c), see llm_gemm8_fn */
void		llm_avx2_gemm8_q4_1_q8_1(int64_t n, int64_t ng, int64_t nc, const void *w8,
									 const void *a, size_t a_stride, float *y, int64_t ldy);
void		llm_avx2_gemm8_q8_0_q8_0(int64_t n, int64_t ng, int64_t nc, const void *w8,
									 const void *a, size_t a_stride, float *y, int64_t ldy);

/* ----------------------------------------------------------------- helpers */

/*
 * Half to float with F16C.
 */
static inline float
h2f(uint16_t h)
{
	return _cvtsh_ss(h);
}

/*
 * Two adjacent halves (unaligned) to floats in lanes 0 and 1.
 */
static inline __m128
h2f_pair(const void *p)
{
	int32_t		v;

	memcpy(&v, p, sizeof(v));
	return _mm_cvtph_ps(_mm_cvtsi32_si128(v));
}

/*
 * Sum of the 8 floats of v.
 */
static inline float
hsum_ps(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/*
 * hsum_ps of four vectors at once, with exactly its additions: u[c] (of 8
 * floats at u) is the sum of vc.
 */
static inline void
hsum4_ps(__m256 v0, __m256 v1, __m256 v2, __m256 v3, float *u)
{
	/* per vector: lower half + upper half (s), in 128-bit lanes [s0 | s1] */
	__m256		s01 = _mm256_add_ps(_mm256_permute2f128_ps(v0, v1, 0x20),
									_mm256_permute2f128_ps(v0, v1, 0x31));
	__m256		s23 = _mm256_add_ps(_mm256_permute2f128_ps(v2, v3, 0x20),
									_mm256_permute2f128_ps(v2, v3, 0x31));
	/* s[0] + s[2], s[1] + s[3]: lanes [t0 t0' t2 t2' | t1 t1' t3 t3'] */
	__m256		t = _mm256_add_ps(_mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(1, 0, 1, 0)),
								  _mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(3, 2, 3, 2)));
	/* t + t': lanes [u0 u2 u0 u2 | u1 u3 u1 u3] */
	__m256		w = _mm256_add_ps(_mm256_shuffle_ps(t, t, _MM_SHUFFLE(2, 0, 2, 0)),
								  _mm256_shuffle_ps(t, t, _MM_SHUFFLE(3, 1, 3, 1)));

	/* to [u0 u1 u2 u3 ...] */
	_mm256_store_ps(u, _mm256_permutevar8x32_ps(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

/*
 * Sum of the 8 int32 of v.
 */
static inline int
hsum_epi32(__m256i v)
{
	__m128i		s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(s);
}

/*
 * 16 bytes of packed nibbles to 32 bytes 0..15: byte j of the input gives
 * element j (low nibble) and element j + 16 (high nibble).
 */
static inline __m256i
unpack_nibbles(const uint8_t *qs)
{
	__m128i		t = _mm_loadu_si128((const __m128i *) qs);
	__m256i		v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);

	return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/*
 * 32 bits (unaligned, little endian) to 32 bytes: 0xff where bit i is set.
 */
static inline __m256i
bits_to_bytes(const uint8_t *p)
{
	uint32_t	bits;
	__m256i		v;

	memcpy(&bits, p, sizeof(bits));
	v = _mm256_set1_epi32((int) bits);
	/* byte i takes byte i / 8 of the mask */
	v = _mm256_shuffle_epi8(v, _mm256_setr_epi64x(0x0000000000000000LL, 0x0101010101010101LL,
												  0x0202020202020202LL, 0x0303030303030303LL));
	/* set every bit but bit i % 8, then test for all ones */
	v = _mm256_or_si256(v, _mm256_set1_epi64x((long long) 0x7fbfdfeff7fbfdfeULL));
	return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

/*
 * Sum of products of unsigned bytes ux and signed bytes sy, in 8 int32
 * lanes (each the sum of 4 neighbouring products).
 */
static inline __m256i
dot_us8(__m256i ux, __m256i sy)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(ux, sy), _mm256_set1_epi16(1));
}

/*
 * Same for two signed byte vectors: |x| is multiplied by y with the sign of
 * x. Exact unless y holds -128 (our activation quantizers never produce
 * it; a weight x of -128 is fine).
 */
static inline __m256i
dot_s8(__m256i x, __m256i y)
{
	return dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/*
 * d_w * d_a for blocks whose scales are single halves.
 */
static inline __m256
scale_product(uint16_t dw, uint16_t da)
{
	return _mm256_set1_ps(h2f(dw) * h2f(da));
}

/*
 * q4_1 packed products only (kernels_gemm8_avx2.c, kernels_gemm8_avx512.c):
 * the min terms of one 8-row group x for C (1..8) activation rows, whose
 * q8_1 block sums are sa[c * nb + i]. One chain per (row, activation row)
 * runs over the nb blocks, and its result is added to the sum already in
 * y[c * ldy .. + 8]. Both packed kernels call this so that their min terms
 * are the same arithmetic.
 */
static inline __attribute__((always_inline)) void
llm_avx2_q41x8_min_terms(const int C, int64_t nb, const void *x, const float *sa,
						 float *y, int64_t ldy)
{
	__m256		macc[8];

	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		macc[c] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++)
	{
		__m256		mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) ((const llm_block_q4_1x8 *) x)[i].m));

		#pragma GCC unroll 8
		for (int c = 0; c < C; c++)
			macc[c] = _mm256_fmadd_ps(mw, _mm256_broadcast_ss(&sa[c * nb + i]), macc[c]);
	}
	#pragma GCC unroll 8
	for (int c = 0; c < C; c++)
		_mm256_storeu_ps(y + c * ldy, _mm256_add_ps(_mm256_loadu_ps(y + c * ldy), macc[c]));
}

#endif							/* LLM_KERNELS_AVX2_INT_H */
