/*
 * kernels_avx2.c - AVX2 / FMA / F16C versions of the CPU kernels.
 *
 * Built with -mavx2 -mfma -mf16c; nothing here may run before
 * llm_cpu_has_avx2() said yes. Every function computes the same thing as
 * its scalar reference in kernels_ref.c:
 *   - dequantization and activation quantization give identical bits
 *     (same operations in the same order, no fused multiply-add: the
 *     pragma below stops the compiler from fusing a*b+c on its own; FMA is
 *     used only where written explicitly);
 *   - dot products and axpy differ only by float rounding (summation
 *     order, fused multiply-add).
 *
 * Integer dot products of 32 quants use the usual maddubs scheme:
 * _mm256_maddubs_epi16 multiplies unsigned by signed bytes and adds pairs
 * into int16 (no saturation is possible with our value ranges), then
 * _mm256_madd_epi16 against ones (or a scale) widens to int32.
 *
 * The batched products (gemm) of the q4_1 and q8_0 hot paths are in
 * kernels_gemm_avx2.c; helpers both files use are in kernels_avx2_int.h.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize ("fp-contract=off")
#endif

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels_avx2_int.h"
#include "kernels_pack_q5.h"
#include "llm_util.h"
#include "quant.h"

/*
 * Store 32 signed bytes as 32 floats multiplied by d.
 */
static inline void
store_i8_scaled(__m256i q, __m256 d, float *y)
{
	__m128i		lo = _mm256_castsi256_si128(q);
	__m128i		hi = _mm256_extracti128_si256(q, 1);

	_mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
	_mm256_storeu_ps(y + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
	_mm256_storeu_ps(y + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
	_mm256_storeu_ps(y + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
}

/*
 * Store 32 unsigned bytes as 32 floats d * q + m (two roundings, as the
 * scalar code), or d * q - m when sub is set.
 */
static inline void
store_u8_affine(__m256i q, __m256 d, __m256 m, int sub, float *y)
{
	__m128i		part[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};

	#pragma GCC unroll 8
	for (int h = 0; h < 2; h++)
		for (int k = 0; k < 2; k++)
		{
			__m128i		b = k ? _mm_srli_si128(part[h], 8) : part[h];
			__m256		v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), d);

			v = sub ? _mm256_sub_ps(v, m) : _mm256_add_ps(v, m);
			_mm256_storeu_ps(y + 16 * h + 8 * k, v);
		}
}

/*
 * roundf() of 8 floats: round half away from zero. Exact: x - trunc(x) is
 * computed without rounding error.
 */
static inline __m256
round_away(__m256 x)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__m256		r = _mm256_andnot_ps(sign, _mm256_sub_ps(x, t));
	__m256		up = _mm256_cmp_ps(r, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
	__m256		one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(x, sign));

	return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

/*
 * Four vectors of 8 int32 (values within int8) to 32 int8 in order.
 */
static inline __m256i
pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d)
{
	__m256i		ab = _mm256_packs_epi32(a, b);
	__m256i		cd = _mm256_packs_epi32(c, d);
	__m256i		v = _mm256_packs_epi16(ab, cd);

	/* the packs work per 128-bit lane: put the 4-byte groups back in order */
	return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/*
 * Largest |x| over 32 floats.
 */
static inline float
amax32(const float *x)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
	__m128		s;

	m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
	m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)));
	m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
	s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/*
 * roundf(x * id) of 32 floats, packed into int8 at q; returns their sum.
 */
static inline int
quantize32(const float *x, float id, int8_t *q)
{
	const __m256 mul = _mm256_set1_ps(id);
	__m256i		v[4];

	#pragma GCC unroll 8
	for (int k = 0; k < 4; k++)
		v[k] = _mm256_cvttps_epi32(round_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), mul)));
	_mm256_storeu_si256((__m256i *) q, pack_i32_to_i8(v[0], v[1], v[2], v[3]));
	return hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3])));
}

/* ------------------------------------------------------------- f16 / bf16 */

/*
 * f16 row to f32; groups holding a NaN go through the scalar conversion so
 * that NaN payloads match it exactly.
 */
static void
avx2_f16_to_float(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m128i		h = _mm_loadu_si128((const __m128i *) (x + i));
		__m128i		nan = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7fff)),
										  _mm_set1_epi16(0x7c00));

		if (_mm_movemask_epi8(nan) == 0)
			_mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
		else
			for (int k = 0; k < 8; k++)
				y[i + k] = llm_fp16_to_fp32(x[i + k]);
	}
	for (; i < n; i++)
		y[i] = llm_fp16_to_fp32(x[i]);
}

/*
 * f32 to f16, round to nearest even; groups holding a NaN go through the
 * scalar conversion.
 */
static void
avx2_f16_from_float(const float *x, void *vy, int64_t n)
{
	uint16_t   *y = vy;
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		v = _mm256_loadu_ps(x + i);

		if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) == 0)
			_mm_storeu_si128((__m128i *) (y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
		else
			for (int k = 0; k < 8; k++)
				y[i + k] = llm_fp32_to_fp16(x[i + k]);
	}
	for (; i < n; i++)
		y[i] = llm_fp32_to_fp16(x[i]);
}

/*
 * bf16 row to f32 (a shift).
 */
static void
avx2_bf16_to_float(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256i		v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) (x + i)));

		_mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
	}
	for (; i < n; i++)
		y[i] = llm_bf16_to_fp32(x[i]);
}

/*
 * f32 to bf16, round to nearest even, NaN kept quiet, as the scalar code.
 */
static void
avx2_bf16_from_float(const float *x, void *vy, int64_t n)
{
	uint16_t   *y = vy;
	int64_t		i = 0;

	for (; i + 16 <= n; i += 16)
	{
		__m256i		r[2];

		#pragma GCC unroll 8
		for (int k = 0; k < 2; k++)
		{
			__m256i		u = _mm256_loadu_si256((const __m256i *) (x + i + 8 * k));
			__m256i		odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
			__m256i		rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), odd), 16);
			__m256i		nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
												 _mm256_set1_epi32(0x7f800000));
			__m256i		quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));

			r[k] = _mm256_blendv_epi8(rounded, quiet, nan);
		}
		_mm256_storeu_si256((__m256i *) (y + i),
							_mm256_permute4x64_epi64(_mm256_packus_epi32(r[0], r[1]), _MM_SHUFFLE(3, 1, 2, 0)));
	}
	for (; i < n; i++)
		y[i] = llm_fp32_to_bf16(x[i]);
}

/*
 * The vector part of avx2_dot_f32 over the first *end = n & ~7 values:
 * four accumulators over runs of 32, then runs of 8 into the first, summed
 * as (a0 + a1) + (a2 + a3).
 */
static inline __attribute__((always_inline)) __m256
dot_f32_body(int64_t n, const float *x, const float *y, int64_t *end)
{
	__m256		acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	int64_t		i = 0;

	for (; i + 32 <= n; i += 32)
		#pragma GCC unroll 8
		for (int k = 0; k < 4; k++)
			acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
	for (; i + 8 <= n; i += 8)
		acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc[0]);
	*end = i;
	return _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
}

/*
 * Dot product of two f32 vectors with four independent accumulators.
 */
static float
avx2_dot_f32(int64_t n, const float *x, const float *y)
{
	int64_t		i;
	float		sum = hsum_ps(dot_f32_body(n, x, y, &i));

	for (; i < n; i++)
		sum += x[i] * y[i];
	return sum;
}

/*
 * out[r] = avx2_dot_f32(n, x, y + r * stride) * scale, four rows at a time
 * when n is a multiple of 8 (their horizontal sums done together, with
 * the same additions), else row by row.
 */
static void
avx2_dot_f32_rows(int64_t n, const float *x, const float *y, int64_t stride, int64_t rows,
				  float scale, float *out)
{
	float		u[8] __attribute__((aligned(32)));
	int64_t		r = 0,
				end;

	if ((n & 7) == 0)
		for (; r + 4 <= rows; r += 4)
		{
			const float *y0 = y + r * stride;
			__m256		v0 = dot_f32_body(n, x, y0, &end);
			__m256		v1 = dot_f32_body(n, x, y0 + stride, &end);
			__m256		v2 = dot_f32_body(n, x, y0 + 2 * stride, &end);
			__m256		v3 = dot_f32_body(n, x, y0 + 3 * stride, &end);

			hsum4_ps(v0, v1, v2, v3, u);
			_mm_storeu_ps(out + r, _mm_mul_ps(_mm_load_ps(u), _mm_set1_ps(scale)));
		}
	for (; r < rows; r++)
		out[r] = avx2_dot_f32(n, x, y + r * stride) * scale;
}

/*
 * f32 . f32 as a vec_dot.
 */
static void
avx2_vec_dot_f32(int64_t n, float *s, const void *w, const void *a)
{
	*s = avx2_dot_f32(n, w, a);
}

/*
 * f16 . f16
 */
static void
avx2_vec_dot_f16(int64_t n, float *s, const void *vw, const void *va)
{
	const uint16_t *w = vw;
	const uint16_t *a = va;
	__m256		acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	int64_t		i = 0;
	float		sum;

	for (; i + 32 <= n; i += 32)
		#pragma GCC unroll 8
		for (int k = 0; k < 4; k++)
			acc[k] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (w + i + 8 * k))),
									 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (a + i + 8 * k))),
									 acc[k]);
	for (; i + 8 <= n; i += 8)
		acc[0] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (w + i))),
								 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (a + i))), acc[0]);
	sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
	for (; i < n; i++)
		sum += h2f(w[i]) * h2f(a[i]);
	*s = sum;
}

/*
 * 8 bf16 values to floats.
 */
static inline __m256
load_bf16(const uint16_t *p)
{
	__m256i		v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) p));

	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/*
 * bf16 . bf16
 */
static void
avx2_vec_dot_bf16(int64_t n, float *s, const void *vw, const void *va)
{
	const uint16_t *w = vw;
	const uint16_t *a = va;
	__m256		acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	int64_t		i = 0;
	float		sum;

	for (; i + 32 <= n; i += 32)
		#pragma GCC unroll 8
		for (int k = 0; k < 4; k++)
			acc[k] = _mm256_fmadd_ps(load_bf16(w + i + 8 * k), load_bf16(a + i + 8 * k), acc[k]);
	for (; i + 8 <= n; i += 8)
		acc[0] = _mm256_fmadd_ps(load_bf16(w + i), load_bf16(a + i), acc[0]);
	sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
	for (; i < n; i++)
		sum += llm_bf16_to_fp32(w[i]) * llm_bf16_to_fp32(a[i]);
	*s = sum;
}

/*
 * y += a * x (one rounding per element: fused).
 */
static void
avx2_axpy_f32(int64_t n, float a, const float *x, float *y)
{
	const __m256 va = _mm256_set1_ps(a);
	int64_t		i = 0;

	for (; i + 16 <= n; i += 16)
	{
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
		_mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
	}
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] = fmaf(a, x[i], y[i]);
}

/*
 * For r = 0 .. rows - 1 in order, y += a[r] * (row r of x), with the
 * fused rounding of avx2_axpy_f32; y is kept in registers 64 values at
 * a time.
 */
static void
avx2_axpy_f32_rows(int64_t n, const float *a, const float *x, int64_t stride, int64_t rows,
				   float *y)
{
	int64_t		i = 0;

	for (; i + 64 <= n; i += 64)
	{
		__m256		acc[8];

		#pragma GCC unroll 8
		for (int k = 0; k < 8; k++)
			acc[k] = _mm256_loadu_ps(y + i + 8 * k);
		for (int64_t r = 0; r < rows; r++)
		{
			const __m256 va = _mm256_broadcast_ss(&a[r]);
			const float *xr = x + r * stride + i;

			#pragma GCC unroll 8
			for (int k = 0; k < 8; k++)
				acc[k] = _mm256_fmadd_ps(va, _mm256_loadu_ps(xr + 8 * k), acc[k]);
		}
		#pragma GCC unroll 8
		for (int k = 0; k < 8; k++)
			_mm256_storeu_ps(y + i + 8 * k, acc[k]);
	}
	if (i < n)
		for (int64_t r = 0; r < rows; r++)
			avx2_axpy_f32(n - i, a[r], x + r * stride + i, y + i);
}

/*
 * 8 f16 values widened to f32.
 */
static inline __m256
load_f16(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p));
}

/*
 * dot_f32_body with y in f16: the same accumulators and order.
 */
static inline __m256
dot_f16_body(int64_t n, const float *x, const uint16_t *y, int64_t *end)
{
	__m256		acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	int64_t		i = 0;

	for (; i + 32 <= n; i += 32)
		#pragma GCC unroll 8
		for (int k = 0; k < 4; k++)
			acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), load_f16(y + i + 8 * k), acc[k]);
	for (; i + 8 <= n; i += 8)
		acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), load_f16(y + i), acc[0]);
	*end = i;
	return _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
}

/*
 * avx2_dot_f32 with y in f16.
 */
static float
avx2_dot_f16(int64_t n, const float *x, const uint16_t *y)
{
	int64_t		i;
	float		sum = hsum_ps(dot_f16_body(n, x, y, &i));

	for (; i < n; i++)
		sum += x[i] * h2f(y[i]);
	return sum;
}

/*
 * avx2_dot_f32_rows over f16 rows of y (see llm_kernels.dot_f16_rows).
 */
static void
avx2_dot_f16_rows(int64_t n, const float *x, const uint16_t *y, int64_t stride, int64_t rows,
				  float scale, float *out)
{
	float		u[8] __attribute__((aligned(32)));
	int64_t		r = 0,
				end;

	if ((n & 7) == 0)
		for (; r + 4 <= rows; r += 4)
		{
			const uint16_t *y0 = y + r * stride;
			__m256		v0 = dot_f16_body(n, x, y0, &end);
			__m256		v1 = dot_f16_body(n, x, y0 + stride, &end);
			__m256		v2 = dot_f16_body(n, x, y0 + 2 * stride, &end);
			__m256		v3 = dot_f16_body(n, x, y0 + 3 * stride, &end);

			hsum4_ps(v0, v1, v2, v3, u);
			_mm_storeu_ps(out + r, _mm_mul_ps(_mm_load_ps(u), _mm_set1_ps(scale)));
		}
	for (; r < rows; r++)
		out[r] = avx2_dot_f16(n, x, y + r * stride) * scale;
}

/*
 * avx2_axpy_f32 with x in f16.
 */
static void
avx2_axpy_f16(int64_t n, float a, const uint16_t *x, float *y)
{
	const __m256 va = _mm256_set1_ps(a);
	int64_t		i = 0;

	for (; i + 16 <= n; i += 16)
	{
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16(x + i), _mm256_loadu_ps(y + i)));
		_mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(va, load_f16(x + i + 8), _mm256_loadu_ps(y + i + 8)));
	}
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16(x + i), _mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] = fmaf(a, h2f(x[i]), y[i]);
}

/*
 * avx2_axpy_f32_rows over f16 rows of x (see llm_kernels.axpy_f16_rows).
 */
static void
avx2_axpy_f16_rows(int64_t n, const float *a, const uint16_t *x, int64_t stride, int64_t rows,
				   float *y)
{
	int64_t		i = 0;

	for (; i + 64 <= n; i += 64)
	{
		__m256		acc[8];

		#pragma GCC unroll 8
		for (int k = 0; k < 8; k++)
			acc[k] = _mm256_loadu_ps(y + i + 8 * k);
		for (int64_t r = 0; r < rows; r++)
		{
			const __m256 va = _mm256_broadcast_ss(&a[r]);
			const uint16_t *xr = x + r * stride + i;

			#pragma GCC unroll 8
			for (int k = 0; k < 8; k++)
				acc[k] = _mm256_fmadd_ps(va, load_f16(xr + 8 * k), acc[k]);
		}
		#pragma GCC unroll 8
		for (int k = 0; k < 8; k++)
			_mm256_storeu_ps(y + i + 8 * k, acc[k]);
	}
	if (i < n)
		for (int64_t r = 0; r < rows; r++)
			avx2_axpy_f16(n - i, a[r], x + r * stride + i, y + i);
}

/*
 * y *= a
 */
static void
avx2_scale_f32(int64_t n, float a, float *y)
{
	const __m256 va = _mm256_set1_ps(a);
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] *= a;
}

/* ---------------------------------------------------- 32-element blocks */

/*
 * q8_0 row to f32.
 */
static void
avx2_q8_0_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q8_0 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
		store_i8_scaled(_mm256_loadu_si256((const __m256i *) x[i].qs), _mm256_set1_ps(h2f(x[i].d)), y);
}

/*
 * q8_1 row to f32.
 */
static void
avx2_q8_1_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q8_1 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
		store_i8_scaled(_mm256_loadu_si256((const __m256i *) x[i].qs), _mm256_set1_ps(h2f(x[i].d)), y);
}

/*
 * q4_0 row to f32.
 */
static void
avx2_q4_0_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q4_0 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
	{
		__m256i		q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));

		store_i8_scaled(q, _mm256_set1_ps(h2f(x[i].d)), y);
	}
}

/*
 * q4_1 row to f32.
 */
static void
avx2_q4_1_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q4_1 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
		store_u8_affine(unpack_nibbles(x[i].qs), _mm256_set1_ps(h2f(x[i].d)),
						_mm256_set1_ps(h2f(x[i].m)), 0, y);
}

/*
 * The 32 five-bit values of a q5 block as bytes 0..31.
 */
static inline __m256i
unpack_q5(const uint8_t *qs, const uint8_t *qh)
{
	__m256i		hi = _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10));

	return _mm256_or_si256(unpack_nibbles(qs), hi);
}

/*
 * q5_0 row to f32.
 */
static void
avx2_q5_0_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q5_0 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
	{
		__m256i		q = _mm256_sub_epi8(unpack_q5(x[i].qs, x[i].qh), _mm256_set1_epi8(16));

		store_i8_scaled(q, _mm256_set1_ps(h2f(x[i].d)), y);
	}
}

/*
 * q5_1 row to f32.
 */
static void
avx2_q5_1_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q5_1 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
		store_u8_affine(unpack_q5(x[i].qs, x[i].qh), _mm256_set1_ps(h2f(x[i].d)),
						_mm256_set1_ps(h2f(x[i].m)), 0, y);
}

/*
 * f32 to q8_0, bit-identical to the scalar reference (roundf semantics).
 */
static void
avx2_q8_0_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q8_0 *y = vy;

	for (int64_t i = 0; i < n / LLM_QK; i++, x += LLM_QK)
	{
		float		d = amax32(x) / 127.0f;
		float		id = d != 0.0f ? 1.0f / d : 0.0f;

		y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
		quantize32(x, id, y[i].qs);
	}
}

/*
 * f32 to q8_1, bit-identical to the scalar reference.
 */
static void
avx2_q8_1_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q8_1 *y = vy;

	for (int64_t i = 0; i < n / LLM_QK; i++, x += LLM_QK)
	{
		float		d = amax32(x) / 127.0f;
		float		id = d != 0.0f ? 1.0f / d : 0.0f;
		int			sum = quantize32(x, id, y[i].qs);

		y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
		y[i].s = _cvtss_sh((float) sum * d, _MM_FROUND_TO_NEAREST_INT);
	}
}

/*
 * q4_1 . q8_1, the hot path of q4_1 models: two blocks per iteration into
 * independent accumulators. The scale pairs (d_w, m_w) and (d_a, s_a) are
 * converted together and multiplied in one go: lane 0 gives d_w d_a, lane 1
 * m_w s_a.
 */
void
llm_avx2_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q4_1 *x = vw;
	const llm_block_q8_1 *y = va;
	const int64_t nb = n / LLM_QK;
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	__m128		accm = _mm_setzero_ps();
	int64_t		i = 0;

	for (; i + 2 <= nb; i += 2)
	{
		__m128		p0 = _mm_mul_ps(h2f_pair(&x[i].d), h2f_pair(&y[i].d));
		__m128		p1 = _mm_mul_ps(h2f_pair(&x[i + 1].d), h2f_pair(&y[i + 1].d));
		__m256i		d0 = dot_us8(unpack_nibbles(x[i].qs), _mm256_loadu_si256((const __m256i *) y[i].qs));
		__m256i		d1 = dot_us8(unpack_nibbles(x[i + 1].qs), _mm256_loadu_si256((const __m256i *) y[i + 1].qs));

		accm = _mm_add_ps(accm, _mm_add_ps(p0, p1));
		acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(p0), _mm256_cvtepi32_ps(d0), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(p1), _mm256_cvtepi32_ps(d1), acc1);
	}
	for (; i < nb; i++)
	{
		__m128		p0 = _mm_mul_ps(h2f_pair(&x[i].d), h2f_pair(&y[i].d));
		__m256i		d0 = dot_us8(unpack_nibbles(x[i].qs), _mm256_loadu_si256((const __m256i *) y[i].qs));

		accm = _mm_add_ps(accm, p0);
		acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(p0), _mm256_cvtepi32_ps(d0), acc0);
	}
	*s = hsum_ps(_mm256_add_ps(acc0, acc1)) + _mm_cvtss_f32(_mm_movehdup_ps(accm));
}

/*
 * q8_0 . q8_0, the hot path of the q8_0 embedding / output matrix.
 */
void
llm_avx2_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q8_0 *x = vw;
	const llm_block_q8_0 *y = va;
	const int64_t nb = n / LLM_QK;
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	int64_t		i = 0;

	for (; i + 2 <= nb; i += 2)
	{
		__m256i		d0 = dot_s8(_mm256_loadu_si256((const __m256i *) x[i].qs),
								_mm256_loadu_si256((const __m256i *) y[i].qs));
		__m256i		d1 = dot_s8(_mm256_loadu_si256((const __m256i *) x[i + 1].qs),
								_mm256_loadu_si256((const __m256i *) y[i + 1].qs));

		acc0 = _mm256_fmadd_ps(scale_product(x[i].d, y[i].d), _mm256_cvtepi32_ps(d0), acc0);
		acc1 = _mm256_fmadd_ps(scale_product(x[i + 1].d, y[i + 1].d), _mm256_cvtepi32_ps(d1), acc1);
	}
	for (; i < nb; i++)
	{
		__m256i		d0 = dot_s8(_mm256_loadu_si256((const __m256i *) x[i].qs),
								_mm256_loadu_si256((const __m256i *) y[i].qs));

		acc0 = _mm256_fmadd_ps(scale_product(x[i].d, y[i].d), _mm256_cvtepi32_ps(d0), acc0);
	}
	*s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/*
 * q4_0 . q8_0: the weights are made signed (q - 8) first.
 */
static void
avx2_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q4_0 *x = vw;
	const llm_block_q8_0 *y = va;
	__m256		acc = _mm256_setzero_ps();

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		__m256i		q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
		__m256i		d = dot_s8(q, _mm256_loadu_si256((const __m256i *) y[i].qs));

		acc = _mm256_fmadd_ps(scale_product(x[i].d, y[i].d), _mm256_cvtepi32_ps(d), acc);
	}
	*s = hsum_ps(acc);
}

/*
 * q5_0 . q8_0
 */
static void
avx2_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q5_0 *x = vw;
	const llm_block_q8_0 *y = va;
	__m256		acc = _mm256_setzero_ps();

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		__m256i		q = _mm256_sub_epi8(unpack_q5(x[i].qs, x[i].qh), _mm256_set1_epi8(16));
		__m256i		d = dot_s8(q, _mm256_loadu_si256((const __m256i *) y[i].qs));

		acc = _mm256_fmadd_ps(scale_product(x[i].d, y[i].d), _mm256_cvtepi32_ps(d), acc);
	}
	*s = hsum_ps(acc);
}

/*
 * q5_1 . q8_1
 */
static void
avx2_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q5_1 *x = vw;
	const llm_block_q8_1 *y = va;
	__m256		acc = _mm256_setzero_ps();
	__m128		accm = _mm_setzero_ps();

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		__m128		p = _mm_mul_ps(h2f_pair(&x[i].d), h2f_pair(&y[i].d));
		__m256i		d = dot_us8(unpack_q5(x[i].qs, x[i].qh), _mm256_loadu_si256((const __m256i *) y[i].qs));

		accm = _mm_add_ps(accm, p);
		acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(p), _mm256_cvtepi32_ps(d), acc);
	}
	*s = hsum_ps(acc) + _mm_cvtss_f32(_mm_movehdup_ps(accm));
}

/* ---------------------------------------------------------------- K-quants */


/*
 * Unpack the 12 bytes of 6-bit scales and mins of a q4_K / q5_K
 * super-block into 16 bytes: scales 0..7, then mins 0..7. Same result as
 * llm_k4_scale_min(), done on 32-bit words: word 0 of the packed bytes
 * holds the low 6 bits of scales 0-3 (and the top bits of scales 4-7),
 * word 1 those of mins 0-3 (and the top bits of mins 4-7), word 2 the low
 * 4 bits of scales 4-7 (low nibbles) and mins 4-7 (high nibbles).
 */
static inline __m128i
k4_unpack_scales(const uint8_t *packed)
{
	const uint32_t low6 = 0x3f3f3f3f;
	const uint32_t low4 = 0x0f0f0f0f;
	const uint32_t low2 = 0x03030303;
	uint32_t	w[3];
	uint32_t	out[4];

	memcpy(w, packed, sizeof(w));
	out[0] = w[0] & low6;
	out[1] = (w[2] & low4) | (((w[0] >> 6) & low2) << 4);
	out[2] = w[1] & low6;
	out[3] = ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4);
	return _mm_loadu_si128((const __m128i *) out);
}

/*
 * q4_K row to f32.
 */
static void
avx2_q4_K_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q4_K *x = vx;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		float		d = h2f(x[i].d);
		float		dmin = h2f(x[i].dmin);
		uint8_t		sc[16];		/* 8 scales, then 8 mins */
		const uint8_t *m = sc + 8;

		_mm_storeu_si128((__m128i *) sc, k4_unpack_scales(x[i].scales));
		#pragma GCC unroll 8
		for (int c = 0; c < 4; c++, y += 64)
		{
			__m256i		q = _mm256_loadu_si256((const __m256i *) (x[i].qs + 32 * c));
			__m256i		lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
			__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f));

			store_u8_affine(lo, _mm256_set1_ps(d * (float) sc[2 * c]),
							_mm256_set1_ps(dmin * (float) m[2 * c]), 1, y);
			store_u8_affine(hi, _mm256_set1_ps(d * (float) sc[2 * c + 1]),
							_mm256_set1_ps(dmin * (float) m[2 * c + 1]), 1, y + 32);
		}
	}
}

/*
 * The 32 high bits of q5_K sub-block j, as 0 or 16 per byte.
 */
static inline __m256i
q5_K_high(__m256i qh, int j)
{
	__m256i		b = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(j)), _mm256_set1_epi8(1));

	return _mm256_slli_epi16(b, 4);
}

/*
 * q5_K row to f32.
 */
static void
avx2_q5_K_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q5_K *x = vx;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		float		d = h2f(x[i].d);
		float		dmin = h2f(x[i].dmin);
		__m256i		qh = _mm256_loadu_si256((const __m256i *) x[i].qh);
		uint8_t		sc[16];		/* 8 scales, then 8 mins */
		const uint8_t *m = sc + 8;

		_mm_storeu_si128((__m128i *) sc, k4_unpack_scales(x[i].scales));
		#pragma GCC unroll 8
		for (int c = 0; c < 4; c++, y += 64)
		{
			__m256i		q = _mm256_loadu_si256((const __m256i *) (x[i].qs + 32 * c));
			__m256i		lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
			__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f));

			lo = _mm256_or_si256(lo, q5_K_high(qh, 2 * c));
			hi = _mm256_or_si256(hi, q5_K_high(qh, 2 * c + 1));
			store_u8_affine(lo, _mm256_set1_ps(d * (float) sc[2 * c]),
							_mm256_set1_ps(dmin * (float) m[2 * c]), 1, y);
			store_u8_affine(hi, _mm256_set1_ps(d * (float) sc[2 * c + 1]),
							_mm256_set1_ps(dmin * (float) m[2 * c + 1]), 1, y + 32);
		}
	}
}

/*
 * The four groups of 32 unsigned six-bit values (0..63) of one 128-element
 * half of a q6_K super-block: elements 0-31, 32-63, 64-95, 96-127.
 */
static inline void
q6_K_unpack_half(const uint8_t *ql, const uint8_t *qhp, __m256i *q)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	const __m256i m2 = _mm256_set1_epi8(0x30);
	__m256i		l0 = _mm256_loadu_si256((const __m256i *) ql);
	__m256i		l1 = _mm256_loadu_si256((const __m256i *) (ql + 32));
	__m256i		qh = _mm256_loadu_si256((const __m256i *) qhp);

	q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2));
	q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2));
	q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2));
	q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
						   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2));
}

/*
 * q6_K row to f32: (d * sc) * (q - 32), 16 elements per scale.
 */
static void
avx2_q6_K_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q6_K *x = vx;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		float		d = h2f(x[i].d);

		#pragma GCC unroll 8
		for (int c = 0; c < 2; c++)
		{
			__m256i		q[4];

			q6_K_unpack_half(x[i].ql + 64 * c, x[i].qh + 32 * c, q);
			#pragma GCC unroll 8
			for (int g = 0; g < 4; g++, y += 32)
			{
				__m256i		v = _mm256_sub_epi8(q[g], _mm256_set1_epi8(32));
				__m128i		lo = _mm256_castsi256_si128(v);
				__m128i		hi = _mm256_extracti128_si256(v, 1);
				__m256		d0 = _mm256_set1_ps(d * (float) x[i].scales[8 * c + 2 * g]);
				__m256		d1 = _mm256_set1_ps(d * (float) x[i].scales[8 * c + 2 * g + 1]);

				_mm256_storeu_ps(y, _mm256_mul_ps(d0, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
				_mm256_storeu_ps(y + 8, _mm256_mul_ps(d0, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
				_mm256_storeu_ps(y + 16, _mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
				_mm256_storeu_ps(y + 24, _mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
			}
		}
	}
}

/*
 * q8_K row to f32.
 */
static void
avx2_q8_K_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q8_K *x = vx;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		__m256		d = _mm256_set1_ps(x[i].d);

		for (int c = 0; c < 8; c++, y += 32)
		{
			__m256i		q = _mm256_loadu_si256((const __m256i *) (x[i].qs + 32 * c));

			/* d * q, the operand order of the scalar code */
			__m128i		lo = _mm256_castsi256_si128(q);
			__m128i		hi = _mm256_extracti128_si256(q, 1);

			_mm256_storeu_ps(y, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
			_mm256_storeu_ps(y + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
			_mm256_storeu_ps(y + 16, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
			_mm256_storeu_ps(y + 24, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
		}
	}
}

/*
 * f32 to q8_K, bit-identical to the scalar reference: the value of largest
 * magnitude (the first one on ties) maps to -127, round half to even.
 */
static void
avx2_q8_K_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q8_K *y = vy;

	for (int64_t i = 0; i < n / LLM_QK_K; i++, x += LLM_QK_K)
	{
		__m256		vmax = _mm256_set1_ps(-INFINITY);
		__m256		vmin = _mm256_set1_ps(INFINITY);
		__m128		s;
		float		mx;
		float		mn;
		float		max;
		float		iscale;
		__m256		mul;

		for (int k = 0; k < LLM_QK_K; k += 8)
		{
			__m256		v = _mm256_loadu_ps(x + k);

			vmax = _mm256_max_ps(vmax, v);
			vmin = _mm256_min_ps(vmin, v);
		}
		s = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
		s = _mm_max_ps(s, _mm_movehl_ps(s, s));
		mx = _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
		s = _mm_min_ps(_mm256_castps256_ps128(vmin), _mm256_extractf128_ps(vmin, 1));
		s = _mm_min_ps(s, _mm_movehl_ps(s, s));
		mn = _mm_cvtss_f32(_mm_min_ss(s, _mm_movehdup_ps(s)));

		if (mx == 0.0f && mn == 0.0f)
		{
			memset(&y[i], 0, sizeof(y[i]));
			continue;
		}
		if (mx > -mn)
			max = mx;
		else if (-mn > mx)
			max = mn;
		else
		{
			/* +a and -a both present: the first one wins */
			max = mx;
			for (int k = 0; k < LLM_QK_K; k++)
				if (fabsf(x[k]) == mx)
				{
					max = x[k];
					break;
				}
		}
		iscale = -127.0f / max;
		mul = _mm256_set1_ps(iscale);
		for (int c = 0; c < 8; c++)
		{
			__m256i		v[4];

			#pragma GCC unroll 8
			for (int k = 0; k < 4; k++)
			{
				__m256		t = _mm256_mul_ps(_mm256_loadu_ps(x + 32 * c + 8 * k), mul);

				t = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
				v[k] = _mm256_min_epi32(_mm256_cvtps_epi32(t), _mm256_set1_epi32(127));
			}
			_mm256_storeu_si256((__m256i *) (y[i].qs + 32 * c), pack_i32_to_i8(v[0], v[1], v[2], v[3]));
			y[i].bsums[2 * c] = (int16_t) hsum_epi32(_mm256_add_epi32(v[0], v[1]));
			y[i].bsums[2 * c + 1] = (int16_t) hsum_epi32(_mm256_add_epi32(v[2], v[3]));
		}
		y[i].d = 1.0f / iscale;
	}
}

/*
 * Per-lane int32 terms of sum_j m_j * (bsums[2j] + bsums[2j+1]) for the 8
 * mins in bytes 8..15 of sm.
 */
static inline __m256i
k4_min_terms(__m128i sm, const int16_t *bsums)
{
	__m128i		m8 = _mm_srli_si128(sm, 8);
	__m256i		mdup = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));

	return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) bsums), mdup);
}

/*
 * Shared body of the q4_K / q5_K dot products (qhp NULL for q4_K): the
 * int32 lanes of sum_j sc_j sum(q a) over one super-block, sm as from
 * k4_unpack_scales().
 */
static inline __m256i
k4_dot_super(const uint8_t *qs, const uint8_t *qhp, const int8_t *a, __m128i sm)
{
	/* scales 0..7 as int16 in both lanes; word k broadcast by shuffles */
	__m256i		sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
	__m256i		sumi = _mm256_setzero_si256();
	__m256i		qh = qhp ? _mm256_loadu_si256((const __m256i *) qhp) : _mm256_setzero_si256();

	#pragma GCC unroll 8
	for (int c = 0; c < 4; c++)
	{
		__m256i		q = _mm256_loadu_si256((const __m256i *) (qs + 32 * c));
		__m256i		lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
		__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f));
		__m256i		s0 = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short) (0x0100 + 0x0202 * (2 * c))));
		__m256i		s1 = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short) (0x0100 + 0x0202 * (2 * c + 1))));
		__m256i		p0, p1;

		if (qhp)
		{
			lo = _mm256_or_si256(lo, q5_K_high(qh, 2 * c));
			hi = _mm256_or_si256(hi, q5_K_high(qh, 2 * c + 1));
		}
		p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *) (a + 64 * c)));
		p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *) (a + 64 * c + 32)));
		sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, s0));
		sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, s1));
	}
	return sumi;
}

/*
 * q4_K . q8_K
 */
static void
avx2_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q4_K *x = vw;
	const llm_block_q8_K *y = va;
	__m256		acc = _mm256_setzero_ps();
	__m256		accm = _mm256_setzero_ps();

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		__m128i		sm = k4_unpack_scales(x[i].scales);
		__m256i		sumi = k4_dot_super(x[i].qs, NULL, y[i].qs, sm);

		acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
		accm = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].dmin) * y[i].d),
							   _mm256_cvtepi32_ps(k4_min_terms(sm, y[i].bsums)), accm);
	}
	*s = hsum_ps(_mm256_sub_ps(acc, accm));
}

/*
 * q5_K . q8_K
 */
static void
avx2_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q5_K *x = vw;
	const llm_block_q8_K *y = va;
	__m256		acc = _mm256_setzero_ps();
	__m256		accm = _mm256_setzero_ps();

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		__m128i		sm = k4_unpack_scales(x[i].scales);
		__m256i		sumi = k4_dot_super(x[i].qs, x[i].qh, y[i].qs, sm);

		acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
		accm = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].dmin) * y[i].d),
							   _mm256_cvtepi32_ps(k4_min_terms(sm, y[i].bsums)), accm);
	}
	*s = hsum_ps(_mm256_sub_ps(acc, accm));
}

/*
 * q6_K . q8_K: sum_s sc_s sum((q - 32) a) is computed as sum_s sc_s
 * sum(q a) (unsigned-by-signed byte products, two 16-element scales per
 * vector) minus 32 sum_s sc_s bsums_s.
 */
static void
avx2_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q6_K *x = vw;
	const llm_block_q8_K *y = va;
	__m256		acc = _mm256_setzero_ps();

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		__m256i		sumi = _mm256_setzero_si256();
		__m256i		sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) x[i].scales));

		#pragma GCC unroll 8
		for (int c = 0; c < 2; c++)
		{
			__m256i		q[4];
			/* scales 8c .. 8c+7 as int16 in both lanes */
			__m256i		scc = _mm256_broadcastsi128_si256(c ? _mm256_extracti128_si256(sc16, 1)
														  : _mm256_castsi256_si128(sc16));

			q6_K_unpack_half(x[i].ql + 64 * c, x[i].qh + 32 * c, q);
			#pragma GCC unroll 8
			for (int g = 0; g < 4; g++)
			{
				__m256i		a = _mm256_loadu_si256((const __m256i *) (y[i].qs + 128 * c + 32 * g));
				__m256i		p = _mm256_maddubs_epi16(q[g], a);
				/* low lane: scale 2g, high lane: scale 2g + 1 */
				__m256i		sel = _mm256_set_m128i(_mm_set1_epi16((short) (0x0100 + 0x0202 * (2 * g + 1))),
												   _mm_set1_epi16((short) (0x0100 + 0x0202 * (2 * g))));

				sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(scc, sel)));
			}
		}
		/* minus 32 sum_s sc_s bsum_s (lane placement is irrelevant) */
		sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(
					_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y[i].bsums), sc16), 5));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = hsum_ps(acc);
}

/*
 * Replace the entries of k that have AVX2 versions. The weight quantizers
 * (from_float of weight types) stay scalar: they only make test data.
 */
bool
llm_kernels_overlay_avx2(llm_kernels *k)
{
	llm_type_ops *t = k->type;

	k->isa = "avx2";
	k->dot_f32 = avx2_dot_f32;
	k->axpy_f32 = avx2_axpy_f32;
	k->scale_f32 = avx2_scale_f32;
	k->dot_f32_rows = avx2_dot_f32_rows;
	k->axpy_f32_rows = avx2_axpy_f32_rows;
	k->dot_f16_rows = avx2_dot_f16_rows;
	k->axpy_f16_rows = avx2_axpy_f16_rows;

	t[LLM_TYPE_F32].vec_dot = avx2_vec_dot_f32;
	t[LLM_TYPE_F16].to_float = avx2_f16_to_float;
	t[LLM_TYPE_F16].from_float = avx2_f16_from_float;
	t[LLM_TYPE_F16].vec_dot = avx2_vec_dot_f16;
	t[LLM_TYPE_BF16].to_float = avx2_bf16_to_float;
	t[LLM_TYPE_BF16].from_float = avx2_bf16_from_float;
	t[LLM_TYPE_BF16].vec_dot = avx2_vec_dot_bf16;

	t[LLM_TYPE_Q4_0].to_float = avx2_q4_0_to_float;
	t[LLM_TYPE_Q4_0].vec_dot = avx2_vec_dot_q4_0_q8_0;
	t[LLM_TYPE_Q4_1].to_float = avx2_q4_1_to_float;
	t[LLM_TYPE_Q4_1].vec_dot = llm_avx2_vec_dot_q4_1_q8_1;
	t[LLM_TYPE_Q4_1].gemm = llm_avx2_gemm_q4_1_q8_1;
	t[LLM_TYPE_Q4_1].gemm8 = llm_avx2_gemm8_q4_1_q8_1;
	t[LLM_TYPE_Q5_0].to_float = avx2_q5_0_to_float;
	t[LLM_TYPE_Q5_0].vec_dot = avx2_vec_dot_q5_0_q8_0;
	t[LLM_TYPE_Q5_1].to_float = avx2_q5_1_to_float;
	t[LLM_TYPE_Q5_1].vec_dot = avx2_vec_dot_q5_1_q8_1;
	t[LLM_TYPE_Q8_0].to_float = avx2_q8_0_to_float;
	t[LLM_TYPE_Q8_0].from_float = avx2_q8_0_from_float;
	t[LLM_TYPE_Q8_0].vec_dot = llm_avx2_vec_dot_q8_0_q8_0;
	t[LLM_TYPE_Q8_0].gemm = llm_avx2_gemm_q8_0_q8_0;
	t[LLM_TYPE_Q8_0].gemm8 = llm_avx2_gemm8_q8_0_q8_0;
	llm_pack_q5_overlay_avx2(t);	/* q4_0, q5_0 gemm8 */
	t[LLM_TYPE_Q8_1].to_float = avx2_q8_1_to_float;
	t[LLM_TYPE_Q8_1].from_float = avx2_q8_1_from_float;

	t[LLM_TYPE_Q4_K].to_float = avx2_q4_K_to_float;
	t[LLM_TYPE_Q4_K].vec_dot = avx2_vec_dot_q4_K_q8_K;
	t[LLM_TYPE_Q5_K].to_float = avx2_q5_K_to_float;
	t[LLM_TYPE_Q5_K].vec_dot = avx2_vec_dot_q5_K_q8_K;
	t[LLM_TYPE_Q6_K].to_float = avx2_q6_K_to_float;
	t[LLM_TYPE_Q6_K].vec_dot = avx2_vec_dot_q6_K_q8_K;
	t[LLM_TYPE_Q8_K].to_float = avx2_q8_K_to_float;
	t[LLM_TYPE_Q8_K].from_float = avx2_q8_K_from_float;
	return true;
}

#else							/* not x86 */

/*
 * No AVX2 code in this build.
 */
bool
llm_kernels_overlay_avx2(llm_kernels *k)
{
	return false;
}

#endif
