/*
 * kernels_att_avx512.c - AVX-512 versions of the attention helpers of
 * llm_kernels (dot_f32 / dot_f32_rows / dot_f16_rows, axpy_f32 /
 * axpy_f32_rows / axpy_f16_rows) and their grouped forms.
 *
 * Dot products keep the AVX2 table's bits: its four 8-lane accumulators
 * acc0..acc3 over runs of 32 values are the halves of two 16-lane ones,
 * a = [acc0 | acc1] over values i..i+15 and b = [acc2 | acc3] over
 * i+16..i+31; a run of 8 goes into acc0 (the lower half of a, masked);
 * then (acc0 + acc1) + (acc2 + acc3), the same eight-lane horizontal sum,
 * and the last n % 8 values one rounded product and sum each. The row
 * forms keep the query in registers (heads of up to 256 values, a
 * multiple of 32) and run eight rows at a time (four above 128 values),
 * their sums computed across rows with the same pairs added, so every
 * form is dot_f32 row by row, bit for bit, and the f16 forms are the f32
 * ones on the widened rows.
 *
 * axpy: one fused multiply-add per element and row, rows in order, as in
 * every other table (the same bits whatever the vector width).
 *
 * softmax: the scalar reference's bits (expf, one double sum in order),
 * with the maximum and the final scaling in vectors. A softmax with its
 * own vector exp (within 1e-6 of the reference) and the earlier dot
 * products with their own summation tree were tried: they are as
 * accurate against a double-precision attention (test_attention), but
 * any change of bits moves the long-prompt and Gemma 3 goldens of
 * test_engine and test_gemma3 by about as much as the distance to
 * llama.cpp itself, so the table keeps the AVX2 arithmetic and the same
 * logits (PERFORMANCE.md, issue 12 prefill).
 *
 * Built with the AVX-512 flags; nothing here may run before
 * llm_cpu_has_avx512() said yes.
 */
#include "kernels.h"

#include <math.h>

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "quant.h"

/* rows of the row forms per group: 8, or 4 for heads above 128 values */
#define ATT_ROWS 8
/* longest head kept in registers by the row forms */
#define ATT_MAX_Q 256

/*
 * Mask of the first n (< 16) lanes.
 */
static inline __mmask16
tail_mask(int64_t n)
{
	return (__mmask16) ((1u << n) - 1u);
}

/*
 * Half to float.
 */
static inline float
h2f(uint16_t h)
{
	return _cvtsh_ss(h);
}

/*
 * The AVX2 table's eight-lane accumulator sum of one row from its two
 * 16-lane accumulators a = [acc0 | acc1], b = [acc2 | acc3]:
 * (acc0 + acc1) + (acc2 + acc3).
 */
static inline __m256
sum8(__m512 a, __m512 b)
{
	__m256		ab = _mm256_add_ps(_mm512_castps512_ps256(a),
								   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
	__m256		cd = _mm256_add_ps(_mm512_castps512_ps256(b),
								   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(b), 1)));

	return _mm256_add_ps(ab, cd);
}

/*
 * The AVX2 table's horizontal sum of eight lanes: s4[j] = v[j] + v[j + 4],
 * s2[j] = s4[j] + s4[j + 2], s = s2[0] + s2[1].
 */
static inline float
hsum8(__m256 v)
{
	__m128		s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	__m128		s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));

	return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

/*
 * sum8 and hsum8 of eight rows at once (row r's accumulators a[r], b[r]):
 * out[r] = hsum8(sum8(a[r], b[r])), the same pairs added (floating-point
 * addition is commutative, so only the pairs matter), computed across
 * rows.
 */
static inline void
sum8x8(const __m512 *a, const __m512 *b, float *out)
{
	/* [lower 8 of 2i | lower 8 of 2i+1] and the upper halves */
	const __m512i lo8 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	const __m512i hi8 = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	/* s4 of four rows: [r0 | r1 | r2 | r3], 4 lanes each */
	const __m512i lo4 = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
	const __m512i hi4 = _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
	/* s2 of eight rows: 2 lanes each */
	const __m512i lo2 = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
	const __m512i hi2 = _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
	/* s of eight rows */
	const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
	const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 1, 3, 5, 7, 9, 11, 13, 15);
	__m512		w[4],
				x[2],
				y,
				z;

#pragma GCC unroll 4
	for (int i = 0; i < 4; i++)
	{
		/* (acc0 + acc1) and (acc2 + acc3) of rows 2i and 2i+1, then their sum */
		__m512		ab = _mm512_add_ps(_mm512_permutex2var_ps(a[2 * i], lo8, a[2 * i + 1]),
									   _mm512_permutex2var_ps(a[2 * i], hi8, a[2 * i + 1]));
		__m512		cd = _mm512_add_ps(_mm512_permutex2var_ps(b[2 * i], lo8, b[2 * i + 1]),
									   _mm512_permutex2var_ps(b[2 * i], hi8, b[2 * i + 1]));

		w[i] = _mm512_add_ps(ab, cd);
	}
#pragma GCC unroll 2
	for (int i = 0; i < 2; i++)
		x[i] = _mm512_add_ps(_mm512_permutex2var_ps(w[2 * i], lo4, w[2 * i + 1]),
							 _mm512_permutex2var_ps(w[2 * i], hi4, w[2 * i + 1]));
	y = _mm512_add_ps(_mm512_permutex2var_ps(x[0], lo2, x[1]),
					  _mm512_permutex2var_ps(x[0], hi2, x[1]));
	z = _mm512_add_ps(_mm512_permutexvar_ps(ev, y), _mm512_permutexvar_ps(od, y));
	_mm256_storeu_ps(out, _mm512_castps512_ps256(z));
}

/*
 * Load 16 values (f32, or f16 widened) of y at i, or the first lanes of
 * mask m only, the others zero.
 */
static inline __m512
ld_f32(const float *y, int64_t i)
{
	return _mm512_loadu_ps(y + i);
}

static inline __m512
ld_f16(const uint16_t *y, int64_t i)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (y + i)));
}

static inline __m512
ldm_f32(const float *y, int64_t i, __mmask16 m)
{
	return _mm512_maskz_loadu_ps(m, y + i);
}

static inline __m512
ldm_f16(const uint16_t *y, int64_t i, __mmask16 m)
{
	return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, y + i));
}

/*
 * x . y with the AVX2 table's arithmetic (see the file comment), y f32 or
 * f16 (F16 a compile-time constant).
 */
static inline __attribute__((always_inline)) float
dot1(int64_t n, const float *x, const void *y, const bool F16)
{
	const float *yf = y;
	const uint16_t *yh = y;
	__m512		a = _mm512_setzero_ps(),
				b = _mm512_setzero_ps();
	int64_t		i = 0;
	float		sum;

	for (; i + 32 <= n; i += 32)
	{
		a = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), F16 ? ld_f16(yh, i) : ld_f32(yf, i), a);
		b = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16),
							F16 ? ld_f16(yh, i + 16) : ld_f32(yf, i + 16), b);
	}
	/* runs of 8 into acc0, the lower half of a */
	for (; i + 8 <= n; i += 8)
		a = _mm512_mask3_fmadd_ps(ldm_f32(x, i, 0xff), F16 ? ldm_f16(yh, i, 0xff) : ldm_f32(yf, i, 0xff),
								  a, 0xff);
	sum = hsum8(sum8(a, b));
	/* the last n % 8 values: a rounded product, then a rounded sum each */
	for (; i < n; i++)
	{
		__m128		p = _mm_mul_ss(_mm_set_ss(x[i]), _mm_set_ss(F16 ? h2f(yh[i]) : yf[i]));

		sum = _mm_cvtss_f32(_mm_add_ss(_mm_set_ss(sum), p));
	}
	return sum;
}

/*
 * dot_f32: x . y (see the file comment).
 */
static float
avx512_dot_f32(int64_t n, const float *x, const float *y)
{
	return dot1(n, x, y, false);
}

/*
 * The accumulators of G rows y_r (stride apart) against a query held in
 * registers (n a multiple of 32, at most ATT_MAX_Q): the same as dot1's.
 */
static inline __attribute__((always_inline)) void
dot_rows_q(const int G, int64_t n, const __m512 *qv, const void *y, int64_t stride,
		   const bool F16, __m512 *a, __m512 *b)
{
	int64_t		nb = n / 16;

#pragma GCC unroll 8
	for (int r = 0; r < G; r++)
		a[r] = b[r] = _mm512_setzero_ps();
#pragma GCC unroll 8
	for (int64_t k = 0; k + 2 <= nb; k += 2)
#pragma GCC unroll 8
		for (int r = 0; r < G; r++)
		{
			const float *yf = (const float *) y + r * stride;
			const uint16_t *yh = (const uint16_t *) y + r * stride;

			a[r] = _mm512_fmadd_ps(qv[k], F16 ? ld_f16(yh, 16 * k) : ld_f32(yf, 16 * k), a[r]);
			b[r] = _mm512_fmadd_ps(qv[k + 1],
								   F16 ? ld_f16(yh, 16 * k + 16) : ld_f32(yf, 16 * k + 16), b[r]);
		}
}

/*
 * out[r] = dot(x, row r of y) * scale (f32 or f16 rows): eight or four
 * rows at a time with the query in registers when its length allows,
 * else row by row; the same bits either way.
 */
static inline __attribute__((always_inline)) void
dot_rows(int64_t n, const float *x, const void *y, int64_t stride, int64_t rows, float scale,
		 float *out, const bool F16)
{
	const size_t esz = F16 ? sizeof(uint16_t) : sizeof(float);
	int64_t		r = 0;

	if (n % 32 == 0 && n <= ATT_MAX_Q)
	{
		__m512		qv[ATT_MAX_Q / 16] = {0};
		__m512		a[ATT_ROWS],
					b[ATT_ROWS];
		float		u[ATT_ROWS];

#pragma GCC unroll 16
		for (int64_t k = 0; k < n / 16; k++)
			qv[k] = _mm512_loadu_ps(x + 16 * k);
		if (n <= 128)
			for (; r + 8 <= rows; r += 8)
			{
				dot_rows_q(8, n, qv, (const char *) y + r * stride * esz, stride, F16, a, b);
				sum8x8(a, b, u);
#pragma GCC unroll 8
				for (int j = 0; j < 8; j++)
					out[r + j] = u[j] * scale;
			}
		else
			for (; r + 4 <= rows; r += 4)
			{
				dot_rows_q(4, n, qv, (const char *) y + r * stride * esz, stride, F16, a, b);
				for (int j = 0; j < 4; j++)
					out[r + j] = hsum8(sum8(a[j], b[j])) * scale;
			}
	}
	for (; r < rows; r++)
		out[r] = dot1(n, x, (const char *) y + r * stride * esz, F16) * scale;
}

/*
 * dot_rows with the common head sizes as constants (the query and the
 * loops then stay in registers), any other size at run time.
 */
static inline __attribute__((always_inline)) void
dot_rows_any(int64_t n, const float *x, const void *y, int64_t stride, int64_t rows,
			 float scale, float *out, const bool F16)
{
	switch (n)
	{
		case 64:
			dot_rows(64, x, y, stride, rows, scale, out, F16);
			break;
		case 128:
			dot_rows(128, x, y, stride, rows, scale, out, F16);
			break;
		case 256:
			dot_rows(256, x, y, stride, rows, scale, out, F16);
			break;
		default:
			dot_rows(n, x, y, stride, rows, scale, out, F16);
			break;
	}
}

/*
 * dot_f32_rows (see llm_kernels).
 */
static void
avx512_dot_f32_rows(int64_t n, const float *x, const float *y, int64_t stride, int64_t rows,
					float scale, float *out)
{
	dot_rows_any(n, x, y, stride, rows, scale, out, false);
}

/*
 * dot_f16_rows (see llm_kernels): dot_f32_rows on the widened rows.
 */
static void
avx512_dot_f16_rows(int64_t n, const float *x, const uint16_t *y, int64_t stride, int64_t rows,
					float scale, float *out)
{
	dot_rows_any(n, x, y, stride, rows, scale, out, true);
}

/*
 * y += a * x, one fused multiply-add per element.
 */
static void
avx512_axpy_f32(int64_t n, float a, const float *x, float *y)
{
	const __m512 va = _mm512_set1_ps(a);
	int64_t		i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
	if (i < n)
	{
		__mmask16	m = tail_mask(n - i);

		_mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i),
														_mm512_maskz_loadu_ps(m, y + i)));
	}
}

/*
 * For r = 0 .. rows - 1 in order, y += a[r] * (row r of x) (f32 or f16
 * rows), y held in registers 256 values at a time.
 */
static inline __attribute__((always_inline)) void
axpy_rows(int64_t n, const float *a, const void *x, int64_t stride, int64_t rows, float *y,
		  const bool F16)
{
	for (int64_t c = 0; c < n; c += 256)
	{
		int64_t		w = n - c < 256 ? n - c : 256;
		int64_t		nb = (w + 15) / 16;
		__mmask16	last = (w % 16) ? tail_mask(w % 16) : (__mmask16) 0xffff;
		__m512		acc[16];

		for (int64_t b = 0; b < nb; b++)
			acc[b] = _mm512_maskz_loadu_ps(b == nb - 1 ? last : 0xffff, y + c + 16 * b);
		for (int64_t r = 0; r < rows; r++)
		{
			const __m512 va = _mm512_set1_ps(a[r]);
			const float *xf = (const float *) x + r * stride + c;
			const uint16_t *xh = (const uint16_t *) x + r * stride + c;

#pragma GCC unroll 16
			for (int64_t b = 0; b < nb; b++)
			{
				__mmask16	m = b == nb - 1 ? last : 0xffff;
				__m512		xv = F16 ? ldm_f16(xh, 16 * b, m) : ldm_f32(xf, 16 * b, m);

				acc[b] = _mm512_fmadd_ps(va, xv, acc[b]);
			}
		}
		for (int64_t b = 0; b < nb; b++)
			_mm512_mask_storeu_ps(y + c + 16 * b, b == nb - 1 ? last : 0xffff, acc[b]);
	}
}

/*
 * axpy_rows with the common head sizes as constants.
 */
static inline __attribute__((always_inline)) void
axpy_rows_any(int64_t n, const float *a, const void *x, int64_t stride, int64_t rows, float *y,
			  const bool F16)
{
	switch (n)
	{
		case 64:
			axpy_rows(64, a, x, stride, rows, y, F16);
			break;
		case 128:
			axpy_rows(128, a, x, stride, rows, y, F16);
			break;
		case 256:
			axpy_rows(256, a, x, stride, rows, y, F16);
			break;
		default:
			axpy_rows(n, a, x, stride, rows, y, F16);
			break;
	}
}

/*
 * axpy_f32_rows (see llm_kernels).
 */
static void
avx512_axpy_f32_rows(int64_t n, const float *a, const float *x, int64_t stride, int64_t rows,
					 float *y)
{
	axpy_rows_any(n, a, x, stride, rows, y, false);
}

/*
 * axpy_f16_rows (see llm_kernels): axpy_f32_rows on the widened rows.
 */
static void
avx512_axpy_f16_rows(int64_t n, const float *a, const uint16_t *x, int64_t stride, int64_t rows,
					 float *y)
{
	axpy_rows_any(n, a, x, stride, rows, y, true);
}

/*
 * dot_rows_g (see llm_kernels): for each block of eight rows (four above
 * 128 values), every head's query against the block while its rows are in
 * L1; each (head, row) with exactly the arithmetic of dot_f32.
 */
static inline __attribute__((always_inline)) void
dot_rows_g(int64_t n, int G, const float *x, int64_t xs, const void *y, int64_t stride,
		   int64_t rows, float scale, float *out, int64_t os, const bool F16)
{
	const size_t esz = F16 ? sizeof(uint16_t) : sizeof(float);
	const int	B = n <= 128 ? 8 : 4;
	int64_t		r = 0;

	if (n % 32 == 0 && n <= ATT_MAX_Q)
		for (; r + B <= rows; r += B)
			for (int g = 0; g < G; g++)
			{
				__m512		qv[ATT_MAX_Q / 16] = {0};
				__m512		a[ATT_ROWS],
							b[ATT_ROWS];
				const float *xg = x + g * xs;
				float	   *og = out + g * os + r;

#pragma GCC unroll 16
				for (int64_t k = 0; k < n / 16; k++)
					qv[k] = _mm512_loadu_ps(xg + 16 * k);
				if (B == 8)
				{
					float		u[ATT_ROWS];

					dot_rows_q(8, n, qv, (const char *) y + r * stride * esz, stride, F16, a, b);
					sum8x8(a, b, u);
#pragma GCC unroll 8
					for (int j = 0; j < 8; j++)
						og[j] = u[j] * scale;
				}
				else
				{
					dot_rows_q(4, n, qv, (const char *) y + r * stride * esz, stride, F16, a, b);
					for (int j = 0; j < 4; j++)
						og[j] = hsum8(sum8(a[j], b[j])) * scale;
				}
			}
	for (int g = 0; g < G; g++)
		for (int64_t rr = r; rr < rows; rr++)
			out[g * os + rr] = dot1(n, x + g * xs, (const char *) y + rr * stride * esz, F16) * scale;
}

/*
 * dot_rows_g with the common head sizes as constants.
 */
static inline __attribute__((always_inline)) void
dot_rows_g_any(int64_t n, int G, const float *x, int64_t xs, const void *y, int64_t stride,
			   int64_t rows, float scale, float *out, int64_t os, const bool F16)
{
	switch (n)
	{
		case 64:
			dot_rows_g(64, G, x, xs, y, stride, rows, scale, out, os, F16);
			break;
		case 128:
			dot_rows_g(128, G, x, xs, y, stride, rows, scale, out, os, F16);
			break;
		case 256:
			dot_rows_g(256, G, x, xs, y, stride, rows, scale, out, os, F16);
			break;
		default:
			dot_rows_g(n, G, x, xs, y, stride, rows, scale, out, os, F16);
			break;
	}
}

/*
 * dot_f32_rows_g (see llm_kernels).
 */
static void
avx512_dot_f32_rows_g(int64_t n, int G, const float *x, int64_t xs, const float *y,
					  int64_t stride, int64_t rows, float scale, float *out, int64_t os)
{
	dot_rows_g_any(n, G, x, xs, y, stride, rows, scale, out, os, false);
}

/*
 * dot_f16_rows_g (see llm_kernels).
 */
static void
avx512_dot_f16_rows_g(int64_t n, int G, const float *x, int64_t xs, const uint16_t *y,
					  int64_t stride, int64_t rows, float scale, float *out, int64_t os)
{
	dot_rows_g_any(n, G, x, xs, y, stride, rows, scale, out, os, true);
}

/*
 * axpy_rows_g (see llm_kernels): 64 columns and up to four heads at a
 * time in registers, each row of x loaded once for those heads; per
 * element one fused multiply-add per row, rows in order.
 */
static inline __attribute__((always_inline)) void
axpy_rows_g(int64_t n, int G, const float *a, int64_t as, const void *x, int64_t stride,
			int64_t rows, float *y, int64_t ys, const bool F16)
{
	for (int64_t c = 0; c < n; c += 64)
	{
		int64_t		w = n - c < 64 ? n - c : 64;
		int64_t		nb = (w + 15) / 16;
		__mmask16	last = (w % 16) ? tail_mask(w % 16) : (__mmask16) 0xffff;

		for (int g0 = 0; g0 < G; g0 += 4)
		{
			int			gn = G - g0 < 4 ? G - g0 : 4;
			__m512		acc[4][4];

			for (int g = 0; g < gn; g++)
#pragma GCC unroll 4
				for (int64_t b = 0; b < nb; b++)
					acc[g][b] = _mm512_maskz_loadu_ps(b == nb - 1 ? last : 0xffff,
													  y + (g0 + g) * ys + c + 16 * b);
			for (int64_t r = 0; r < rows; r++)
			{
				__m512		xv[4] = {0};
				const float *xf = (const float *) x + r * stride + c;
				const uint16_t *xh = (const uint16_t *) x + r * stride + c;

#pragma GCC unroll 4
				for (int64_t b = 0; b < nb; b++)
				{
					__mmask16	m = b == nb - 1 ? last : 0xffff;

					xv[b] = F16 ? ldm_f16(xh, 16 * b, m) : ldm_f32(xf, 16 * b, m);
				}
#pragma GCC unroll 4
				for (int g = 0; g < gn; g++)
				{
					const __m512 va = _mm512_set1_ps(a[(g0 + g) * as + r]);

#pragma GCC unroll 4
					for (int64_t b = 0; b < nb; b++)
						acc[g][b] = _mm512_fmadd_ps(va, xv[b], acc[g][b]);
				}
			}
			for (int g = 0; g < gn; g++)
#pragma GCC unroll 4
				for (int64_t b = 0; b < nb; b++)
					_mm512_mask_storeu_ps(y + (g0 + g) * ys + c + 16 * b,
										  b == nb - 1 ? last : 0xffff, acc[g][b]);
		}
	}
}

/*
 * axpy_f32_rows_g (see llm_kernels).
 */
static void
avx512_axpy_f32_rows_g(int64_t n, int G, const float *a, int64_t as, const float *x,
					   int64_t stride, int64_t rows, float *y, int64_t ys)
{
	if (n == 64 && G == 3)
		axpy_rows_g(64, 3, a, as, x, stride, rows, y, ys, false);
	else if (n == 64)
		axpy_rows_g(64, G, a, as, x, stride, rows, y, ys, false);
	else
		axpy_rows_g(n, G, a, as, x, stride, rows, y, ys, false);
}

/*
 * axpy_f16_rows_g (see llm_kernels).
 */
static void
avx512_axpy_f16_rows_g(int64_t n, int G, const float *a, int64_t as, const uint16_t *x,
					   int64_t stride, int64_t rows, float *y, int64_t ys)
{
	if (n == 64 && G == 3)
		axpy_rows_g(64, 3, a, as, x, stride, rows, y, ys, true);
	else if (n == 64)
		axpy_rows_g(64, G, a, as, x, stride, rows, y, ys, true);
	else
		axpy_rows_g(n, G, a, as, x, stride, rows, y, ys, true);
}

/*
 * expf of the 16 lanes of x that are in m, with the bits of the C
 * library's expf: exp in double (x = k ln2 + r, |r| <= ln2 / 2, the
 * Taylor polynomial of degree 9, relative error below 1e-11, then scaled
 * by 2^k) rounded once to float. That is the correctly rounded value, and
 * so expf's, unless the double lies within EXP_TOL of a float ulp from a
 * rounding midpoint (expf's own error before its rounding is about 0.002
 * ulp): the low 29 bits of the double's mantissa are the fraction of a
 * float ulp, whatever the binade, as long as the result is a normal
 * float, which x in [-87, 88] ensures. Those lanes and the lanes outside
 * [-87, 88] (NaN, infinities, subnormal or overflowing results) are
 * computed by expf itself. test/bench/expf_check.c compares every float
 * in [-120, -0] with expf.
 */
#define EXP_TOL (1.0 / 128.0)

static inline __attribute__((always_inline)) __m256
exp8_pd(__m256 xf, __mmask8 *slow)
{
	const __m512d ln2_hi = _mm512_set1_pd(0x1.62e42fefa39efp-1);
	const __m512d ln2_lo = _mm512_set1_pd(0x1.abc9e3b39803fp-56);
	const __m512d inv_ln2 = _mm512_set1_pd(0x1.71547652b82fep0);
	/* 1 / j! for j = 9 .. 2 */
	static const double c[8] = {
		1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0,
		1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 1.0 / 2.0
	};
	const __m512i low29 = _mm512_set1_epi64((1LL << 29) - 1);
	__m512d		x = _mm512_cvtps_pd(xf);
	__m512d		k = _mm512_roundscale_pd(_mm512_mul_pd(x, inv_ln2),
										 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512d		r = _mm512_fnmadd_pd(k, ln2_lo, _mm512_fnmadd_pd(k, ln2_hi, x));
	__m512d		p = _mm512_set1_pd(c[0]),
				d;
	__m512i		frac;

#pragma GCC unroll 8
	for (int j = 1; j < 8; j++)
		p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(c[j]));
	p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
	p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
	d = _mm512_scalef_pd(p, k);
	/* distance of the fraction of a float ulp from one half, in 2^-29 ulp */
	frac = _mm512_abs_epi64(_mm512_sub_epi64(_mm512_and_si512(_mm512_castpd_si512(d), low29),
											 _mm512_set1_epi64(1LL << 28)));
	*slow = _mm512_cmplt_epi64_mask(frac, _mm512_set1_epi64((long long) (EXP_TOL * (1 << 29))));
	return _mm512_cvtpd_ps(d);
}

/*
 * y[i] = expf(v[i]) for the 16 lanes of m (the others of v zero).
 */
static inline __attribute__((always_inline)) void
exp16(__m512 v, float *y, __mmask16 m)
{
	__mmask16	out = _mm512_cmp_ps_mask(v, _mm512_set1_ps(-87.0f), _CMP_NGE_UQ) |
		_mm512_cmp_ps_mask(v, _mm512_set1_ps(88.0f), _CMP_NLE_UQ);
	__mmask8	s0,
				s1;
	__m256		lo = exp8_pd(_mm512_castps512_ps256(v), &s0),
				hi = exp8_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)), &s1);
	unsigned	slow = ((unsigned) s0 | ((unsigned) s1 << 8) | out) & m;
	float		xs[16];

	_mm512_storeu_ps(xs, v);
	_mm512_mask_storeu_ps(y, m, _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1)));
	while (slow)
	{
		int			j = __builtin_ctz(slow);

		y[j] = expf(xs[j]);
		slow &= slow - 1;
	}
}

/*
 * See kernels.h: expf with its bits, 16 values at a time.
 */
void
llm_avx512_expf_rows(int64_t n, const float *x, float *y)
{
	int64_t		i = 0;

	for (; i + 16 <= n; i += 16)
		exp16(_mm512_loadu_ps(x + i), y + i, 0xffff);
	if (i < n)
		exp16(_mm512_maskz_loadu_ps(tail_mask(n - i), x + i), y + i, tail_mask(n - i));
}

/*
 * softmax (see llm_kernels) with the scalar reference's bits: the maximum
 * over 16 lanes (NaN never taken, as the reference's y > max; the
 * maximum of the other values does not depend on the order, and +0 and
 * -0 give the same differences for exp), y - max rounded as there, expf
 * with its bits 16 values at a time (exp16), the double sum in order
 * exactly as the reference's, then the 16-lane multiply by the float
 * inverse (one rounding per value, as the reference).
 */
static void
avx512_softmax(int64_t n, float *y)
{
	__m512		vmx = _mm512_set1_ps(-INFINITY),
				vinv;
	double		dsum = 0.0;
	int64_t		p = 0;

	for (; p + 16 <= n; p += 16)
	{
		__m512		v = _mm512_loadu_ps(y + p);

		vmx = _mm512_mask_mov_ps(vmx, _mm512_cmp_ps_mask(v, vmx, _CMP_GT_OQ), v);
	}
	if (p < n)
	{
		__mmask16	m = tail_mask(n - p);
		__m512		v = _mm512_mask_loadu_ps(vmx, m, y + p);

		vmx = _mm512_mask_mov_ps(vmx, _mm512_cmp_ps_mask(v, vmx, _CMP_GT_OQ), v);
	}
	vmx = _mm512_set1_ps(_mm512_reduce_max_ps(vmx));
	for (p = 0; p < n; p += 16)
	{
		__mmask16	m = n - p >= 16 ? (__mmask16) 0xffff : tail_mask(n - p);

		exp16(_mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, y + p), vmx), y + p, m);
	}
	/* the sum apart, with no call in its loop (the chain stays in a register) */
	for (p = 0; p < n; p++)
		dsum += y[p];
	vinv = _mm512_set1_ps((float) (1.0 / dsum));
	for (p = 0; p + 16 <= n; p += 16)
		_mm512_storeu_ps(y + p, _mm512_mul_ps(_mm512_loadu_ps(y + p), vinv));
	if (p < n)
	{
		__mmask16	m = tail_mask(n - p);

		_mm512_mask_storeu_ps(y + p, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + p), vinv));
	}
}

/*
 * See kernels.h.
 */
bool
llm_kernels_overlay_avx512_att(llm_kernels *k)
{
	k->dot_f32 = avx512_dot_f32;
	k->axpy_f32 = avx512_axpy_f32;
	k->dot_f32_rows = avx512_dot_f32_rows;
	k->axpy_f32_rows = avx512_axpy_f32_rows;
	k->dot_f16_rows = avx512_dot_f16_rows;
	k->axpy_f16_rows = avx512_axpy_f16_rows;
	k->dot_f32_rows_g = avx512_dot_f32_rows_g;
	k->dot_f16_rows_g = avx512_dot_f16_rows_g;
	k->axpy_f32_rows_g = avx512_axpy_f32_rows_g;
	k->axpy_f16_rows_g = avx512_axpy_f16_rows_g;
	k->softmax = avx512_softmax;
	return true;
}

#else							/* not x86 */

/*
 * No AVX-512 code in this build: expf itself.
 */
void
llm_avx512_expf_rows(int64_t n, const float *x, float *y)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = expf(x[i]);
}

/*
 * No AVX-512 code in this build.
 */
bool
llm_kernels_overlay_avx512_att(llm_kernels *k)
{
	return false;
}

#endif							/* x86 */
