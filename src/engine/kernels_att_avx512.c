/*
 * kernels_att_avx512.c - AVX-512 versions of the attention helpers of
 * llm_kernels (dot_f32 / dot_f32_rows / dot_f16_rows, axpy_f32 /
 * axpy_f32_rows / axpy_f16_rows) and their grouped forms.
 *
 * Dot products: two 16-lane accumulators, 16 values at a time taken
 * alternately into the first and the second (a last partial block, masked,
 * into the second when the full ones ended on the first, else the first),
 * then one fixed tree: v = acc0 + acc1, s8[j] = v[j] + v[j + 8],
 * s4[j] = s8[j] + s8[j + 4], s2[j] = s4[j] + s4[j + 2], s = s2[0] + s2[1].
 * The row forms keep the query in registers (heads of up to 256 values)
 * and run eight rows at a time (four above 128 values), each row with
 * exactly that arithmetic, their trees computed across rows with the same
 * pairs added, so dot_f32_rows is dot_f32 row by row, bit for bit, and the
 * f16 forms are the f32 ones on the widened rows. These are not the bits
 * of the AVX2 table (which sums in other groups); a kernel table is one
 * arithmetic, chosen once per engine.
 *
 * axpy: one fused multiply-add per element and row, rows in order, as in
 * every other table (the same bits whatever the vector width).
 *
 * The softmax stays the scalar reference's (expf, one double sum): a
 * vectorized one (own exp, lane sums) stayed within 1e-6 of it but moved
 * Gemma 3's greedy chat replies off llama.cpp's where the reference keeps
 * them (test_gemma3), so it was not kept.
 *
 * Built with the AVX-512 flags; nothing here may run before
 * llm_cpu_has_avx512() said yes.
 */
#include "kernels.h"

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
 * The fixed tree of one row: sum of the 16 lanes of v as described above.
 */
static inline float
tree16(__m512 v)
{
	__m256		s8 = _mm256_add_ps(_mm512_castps512_ps256(v),
									_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
	__m128		s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
	__m128		s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));

	return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

/*
 * The fixed tree of eight rows at once: out[r] = tree16(v[r]), the same
 * pairs added (floating-point addition is commutative, so only the pairs
 * matter), computed across rows.
 */
static inline void
tree16x8(const __m512 *v, float *out)
{
	/* s8 of rows (2i, 2i+1): lanes [s8 of 2i | s8 of 2i+1] */
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
		w[i] = _mm512_add_ps(_mm512_permutex2var_ps(v[2 * i], lo8, v[2 * i + 1]),
							 _mm512_permutex2var_ps(v[2 * i], hi8, v[2 * i + 1]));
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
 * Load 16 values (f32, or f16 widened) of y at i, the first m (< 16 when
 * masked) only, the others zero.
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
 * The two accumulators of x . y (see the file comment), y f32 or f16
 * (F16 a compile-time constant), added: v = acc0 + acc1.
 */
static inline __attribute__((always_inline)) __m512
dot_acc(int64_t n, const float *x, const void *y, const bool F16)
{
	__m512		acc0 = _mm512_setzero_ps(),
				acc1 = _mm512_setzero_ps();
	int64_t		i = 0;
	bool		second = false;

	for (; i + 32 <= n; i += 32)
	{
		acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i),
							   F16 ? ld_f16(y, i) : ld_f32(y, i), acc0);
		acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16),
							   F16 ? ld_f16(y, i + 16) : ld_f32(y, i + 16), acc1);
	}
	if (i + 16 <= n)
	{
		acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), F16 ? ld_f16(y, i) : ld_f32(y, i), acc0);
		i += 16;
		second = true;
	}
	if (i < n)
	{
		__mmask16	m = tail_mask(n - i);
		__m512		p = _mm512_maskz_loadu_ps(m, x + i);
		__m512		q = F16 ? ldm_f16(y, i, m) : ldm_f32(y, i, m);

		if (second)
			acc1 = _mm512_fmadd_ps(p, q, acc1);
		else
			acc0 = _mm512_fmadd_ps(p, q, acc0);
	}
	return _mm512_add_ps(acc0, acc1);
}

/*
 * dot_f32: x . y (see the file comment).
 */
static float
avx512_dot_f32(int64_t n, const float *x, const float *y)
{
	return tree16(dot_acc(n, x, y, false));
}

/*
 * dot_acc of G rows y_r (stride apart) against a query held in registers
 * (Q16 = n / 16 full blocks, n a multiple of 16, at most ATT_MAX_Q):
 * the same accumulators and order as dot_acc.
 */
static inline __attribute__((always_inline)) void
dot_rows_q(const int G, int64_t n, const __m512 *qv, const void *y, int64_t stride,
		   const bool F16, __m512 *v)
{
	__m512		a0[ATT_ROWS],
				a1[ATT_ROWS];
	int64_t		b = 0,
				nb = n / 16;

#pragma GCC unroll 8
	for (int r = 0; r < G; r++)
		a0[r] = a1[r] = _mm512_setzero_ps();
#pragma GCC unroll 8
	for (; b + 2 <= nb; b += 2)
#pragma GCC unroll 8
		for (int r = 0; r < G; r++)
		{
			const float *yf = (const float *) y + r * stride;
			const uint16_t *yh = (const uint16_t *) y + r * stride;

			a0[r] = _mm512_fmadd_ps(qv[b], F16 ? ld_f16(yh, 16 * b) : ld_f32(yf, 16 * b), a0[r]);
			a1[r] = _mm512_fmadd_ps(qv[b + 1],
									F16 ? ld_f16(yh, 16 * b + 16) : ld_f32(yf, 16 * b + 16), a1[r]);
		}
	if (b < nb)
#pragma GCC unroll 8
		for (int r = 0; r < G; r++)
		{
			const float *yf = (const float *) y + r * stride;
			const uint16_t *yh = (const uint16_t *) y + r * stride;

			a0[r] = _mm512_fmadd_ps(qv[b], F16 ? ld_f16(yh, 16 * b) : ld_f32(yf, 16 * b), a0[r]);
		}
#pragma GCC unroll 8
	for (int r = 0; r < G; r++)
		v[r] = _mm512_add_ps(a0[r], a1[r]);
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
	int64_t		r = 0;

	if (n % 16 == 0 && n <= ATT_MAX_Q)
	{
		__m512		qv[ATT_MAX_Q / 16] = {0};
		__m512		v[ATT_ROWS];
		float		u[ATT_ROWS];
		const size_t esz = F16 ? sizeof(uint16_t) : sizeof(float);

#pragma GCC unroll 16
		for (int64_t b = 0; b < n / 16; b++)
			qv[b] = _mm512_loadu_ps(x + 16 * b);
		if (n <= 128)
			for (; r + 8 <= rows; r += 8)
			{
				dot_rows_q(8, n, qv, (const char *) y + r * stride * esz, stride, F16, v);
				tree16x8(v, u);
#pragma GCC unroll 8
				for (int j = 0; j < 8; j++)
					out[r + j] = u[j] * scale;
			}
		else
			for (; r + 4 <= rows; r += 4)
			{
				dot_rows_q(4, n, qv, (const char *) y + r * stride * esz, stride, F16, v);
				for (int j = 0; j < 4; j++)
					out[r + j] = tree16(v[j]) * scale;
			}
	}
	for (; r < rows; r++)
	{
		const void *yr = F16 ? (const void *) ((const uint16_t *) y + r * stride)
			: (const void *) ((const float *) y + r * stride);

		out[r] = tree16(dot_acc(n, x, yr, F16)) * scale;
	}
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

	if (n % 16 == 0 && n <= ATT_MAX_Q)
		for (; r + B <= rows; r += B)
			for (int g = 0; g < G; g++)
			{
				__m512		qv[ATT_MAX_Q / 16] = {0};
				__m512		v[ATT_ROWS];
				const float *xg = x + g * xs;
				float	   *og = out + g * os + r;

#pragma GCC unroll 16
				for (int64_t b = 0; b < n / 16; b++)
					qv[b] = _mm512_loadu_ps(xg + 16 * b);
				if (B == 8)
				{
					float		u[ATT_ROWS];

					dot_rows_q(8, n, qv, (const char *) y + r * stride * esz, stride, F16, v);
					tree16x8(v, u);
#pragma GCC unroll 8
					for (int j = 0; j < 8; j++)
						og[j] = u[j] * scale;
				}
				else
				{
					dot_rows_q(4, n, qv, (const char *) y + r * stride * esz, stride, F16, v);
					for (int j = 0; j < 4; j++)
						og[j] = tree16(v[j]) * scale;
				}
			}
	for (int g = 0; g < G; g++)
		for (int64_t rr = r; rr < rows; rr++)
		{
			const void *yr = (const char *) y + rr * stride * esz;

			out[g * os + rr] = tree16(dot_acc(n, x + g * xs, yr, F16)) * scale;
		}
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
	return true;
}

#else							/* not x86 */

/*
 * No AVX-512 code in this build.
 */
bool
llm_kernels_overlay_avx512_att(llm_kernels *k)
{
	return false;
}

#endif							/* x86 */
