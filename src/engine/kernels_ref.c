/*
 * kernels_ref.c - portable scalar reference of every CPU kernel.
 *
 * These functions define the results: the AVX2 versions are tested
 * against them, and they are tested against gguf-py's dequantization.
 * Dequantization evaluates exactly the expressions ggml and gguf-py use
 * (same operation order, no fused multiply-add) so that it is bit-for-bit
 * identical to them; activation quantizers follow ggml's reference
 * quantizers (q8_0/q8_1: d = amax / 127, q = roundf(x / d); q8_K: scale
 * -127 / max, round half to even).
 */
#include "kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels_pack_q5.h"
#include "llm_util.h"
#include "quant.h"

/* a*b+c must round twice here, as in ggml's reference code */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize ("fp-contract=off")
#endif

#define H2F(h) llm_fp16_to_fp32(h)
#define F2H(f) llm_fp32_to_fp16(f)

/*
 * Round to nearest, ties to even, for |x| < 2^22: adding 1.5 * 2^23 leaves
 * the integer in the low mantissa bits.
 */
static inline int
ref_nearest_int(float x)
{
	float		v = x + 12582912.0f;
	int32_t		i;

	memcpy(&i, &v, sizeof(i));
	return (i & 0x007fffff) - 0x00400000;
}

/*
 * Clamp v to [lo, hi].
 */
static inline int
ref_clamp(int v, int lo, int hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

/* ------------------------------------------------------------ f32 f16 bf16 */

/*
 * f32 row to f32 (a copy).
 */
static void
ref_f32_to_float(const void *x, float *y, int64_t n)
{
	memmove(y, x, (size_t) n * sizeof(float));
}

/*
 * f32 to f32 row (a copy).
 */
static void
ref_f32_from_float(const float *x, void *y, int64_t n)
{
	memmove(y, x, (size_t) n * sizeof(float));
}

/*
 * f16 row to f32.
 */
static void
ref_f16_to_float(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;

	for (int64_t i = 0; i < n; i++)
		y[i] = H2F(x[i]);
}

/*
 * f32 to f16, round to nearest even.
 */
static void
ref_f16_from_float(const float *x, void *vy, int64_t n)
{
	uint16_t   *y = vy;

	for (int64_t i = 0; i < n; i++)
		y[i] = F2H(x[i]);
}

/*
 * bf16 row to f32.
 */
static void
ref_bf16_to_float(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;

	for (int64_t i = 0; i < n; i++)
		y[i] = llm_bf16_to_fp32(x[i]);
}

/*
 * f32 to bf16, round to nearest even.
 */
static void
ref_bf16_from_float(const float *x, void *vy, int64_t n)
{
	uint16_t   *y = vy;

	for (int64_t i = 0; i < n; i++)
		y[i] = llm_fp32_to_bf16(x[i]);
}

/*
 * Dot product of two f32 rows, accumulated in double.
 */
static void
ref_vec_dot_f32(int64_t n, float *s, const void *vw, const void *va)
{
	const float *w = vw;
	const float *a = va;
	double		sum = 0.0;

	for (int64_t i = 0; i < n; i++)
		sum += (double) (w[i] * a[i]);
	*s = (float) sum;
}

/*
 * Dot product of two f16 rows (the products are exact in float).
 */
static void
ref_vec_dot_f16(int64_t n, float *s, const void *vw, const void *va)
{
	const uint16_t *w = vw;
	const uint16_t *a = va;
	double		sum = 0.0;

	for (int64_t i = 0; i < n; i++)
		sum += (double) (H2F(w[i]) * H2F(a[i]));
	*s = (float) sum;
}

/*
 * Dot product of two bf16 rows (the products are exact in float).
 */
static void
ref_vec_dot_bf16(int64_t n, float *s, const void *vw, const void *va)
{
	const uint16_t *w = vw;
	const uint16_t *a = va;
	double		sum = 0.0;

	for (int64_t i = 0; i < n; i++)
		sum += (double) (llm_bf16_to_fp32(w[i]) * llm_bf16_to_fp32(a[i]));
	*s = (float) sum;
}

/* --------------------------------------------------------- 32-element types */

/*
 * q4_0 row to f32: d * (q - 8).
 */
static void
ref_q4_0_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q4_0 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
	{
		float		d = H2F(x[i].d);

		for (int j = 0; j < LLM_QK / 2; j++)
		{
			y[j] = d * (float) ((x[i].qs[j] & 0x0f) - 8);
			y[j + 16] = d * (float) ((x[i].qs[j] >> 4) - 8);
		}
	}
}

/*
 * q4_1 row to f32: d * q + m.
 */
static void
ref_q4_1_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q4_1 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
	{
		float		d = H2F(x[i].d);
		float		m = H2F(x[i].m);

		for (int j = 0; j < LLM_QK / 2; j++)
		{
			y[j] = d * (float) (x[i].qs[j] & 0x0f) + m;
			y[j + 16] = d * (float) (x[i].qs[j] >> 4) + m;
		}
	}
}

/*
 * The 32 five-bit values of a q5 block (low nibbles plus bit j of qh).
 */
static inline void
ref_q5_unpack(const uint8_t *qs, const uint8_t *qhb, int *q)
{
	uint32_t	qh;

	memcpy(&qh, qhb, 4);		/* little-endian hosts only, as GGUF */
	for (int j = 0; j < LLM_QK / 2; j++)
	{
		q[j] = (qs[j] & 0x0f) | (int) (((qh >> j) & 1) << 4);
		q[j + 16] = (qs[j] >> 4) | (int) (((qh >> (j + 16)) & 1) << 4);
	}
}

/*
 * q5_0 row to f32: d * (q - 16).
 */
static void
ref_q5_0_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q5_0 *x = vx;
	int			q[LLM_QK];

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
	{
		float		d = H2F(x[i].d);

		ref_q5_unpack(x[i].qs, x[i].qh, q);
		for (int j = 0; j < LLM_QK; j++)
			y[j] = d * (float) (q[j] - 16);
	}
}

/*
 * q5_1 row to f32: d * q + m.
 */
static void
ref_q5_1_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q5_1 *x = vx;
	int			q[LLM_QK];

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
	{
		float		d = H2F(x[i].d);
		float		m = H2F(x[i].m);

		ref_q5_unpack(x[i].qs, x[i].qh, q);
		for (int j = 0; j < LLM_QK; j++)
			y[j] = d * (float) q[j] + m;
	}
}

/*
 * q8_0 row to f32: d * q.
 */
static void
ref_q8_0_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q8_0 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
	{
		float		d = H2F(x[i].d);

		for (int j = 0; j < LLM_QK; j++)
			y[j] = (float) x[i].qs[j] * d;
	}
}

/*
 * q8_1 row to f32: d * q (s is redundant).
 */
static void
ref_q8_1_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q8_1 *x = vx;

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
	{
		float		d = H2F(x[i].d);

		for (int j = 0; j < LLM_QK; j++)
			y[j] = (float) x[i].qs[j] * d;
	}
}

/*
 * f32 to q4_0 (ggml's round-to-nearest quantizer: the value of largest
 * magnitude maps to -8).
 */
static void
ref_q4_0_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q4_0 *y = vy;

	for (int64_t i = 0; i < n / LLM_QK; i++, x += LLM_QK)
	{
		float		amax = 0.0f;
		float		max = 0.0f;
		float		d;
		float		id;

		for (int j = 0; j < LLM_QK; j++)
			if (fabsf(x[j]) > amax)
			{
				amax = fabsf(x[j]);
				max = x[j];
			}
		d = max / -8.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = F2H(d);
		for (int j = 0; j < LLM_QK / 2; j++)
		{
			int			q0 = ref_clamp((int) (x[j] * id + 8.5f), 0, 15);
			int			q1 = ref_clamp((int) (x[j + 16] * id + 8.5f), 0, 15);

			y[i].qs[j] = (uint8_t) (q0 | (q1 << 4));
		}
	}
}

/*
 * f32 to q4_1: d = (max - min) / 15, m = min.
 */
static void
ref_q4_1_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q4_1 *y = vy;

	for (int64_t i = 0; i < n / LLM_QK; i++, x += LLM_QK)
	{
		float		min = FLT_MAX;
		float		max = -FLT_MAX;
		float		d;
		float		id;

		for (int j = 0; j < LLM_QK; j++)
		{
			min = fminf(min, x[j]);
			max = fmaxf(max, x[j]);
		}
		d = (max - min) / 15.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = F2H(d);
		y[i].m = F2H(min);
		for (int j = 0; j < LLM_QK / 2; j++)
		{
			int			q0 = ref_clamp((int) ((x[j] - min) * id + 0.5f), 0, 15);
			int			q1 = ref_clamp((int) ((x[j + 16] - min) * id + 0.5f), 0, 15);

			y[i].qs[j] = (uint8_t) (q0 | (q1 << 4));
		}
	}
}

/*
 * Pack 32 five-bit values into low nibbles and a 32-bit high-bit mask.
 */
static inline void
ref_q5_pack(const int *q, uint8_t *qs, uint8_t *qhb)
{
	uint32_t	qh = 0;

	for (int j = 0; j < LLM_QK / 2; j++)
	{
		qs[j] = (uint8_t) ((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
		qh |= (uint32_t) ((q[j] >> 4) & 1) << j;
		qh |= (uint32_t) ((q[j + 16] >> 4) & 1) << (j + 16);
	}
	memcpy(qhb, &qh, 4);
}

/*
 * f32 to q5_0: the value of largest magnitude maps to -16.
 */
static void
ref_q5_0_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q5_0 *y = vy;
	int			q[LLM_QK];

	for (int64_t i = 0; i < n / LLM_QK; i++, x += LLM_QK)
	{
		float		amax = 0.0f;
		float		max = 0.0f;
		float		d;
		float		id;

		for (int j = 0; j < LLM_QK; j++)
			if (fabsf(x[j]) > amax)
			{
				amax = fabsf(x[j]);
				max = x[j];
			}
		d = max / -16.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = F2H(d);
		for (int j = 0; j < LLM_QK; j++)
			q[j] = ref_clamp((int) (x[j] * id + 16.5f), 0, 31);
		ref_q5_pack(q, y[i].qs, y[i].qh);
	}
}

/*
 * f32 to q5_1: d = (max - min) / 31, m = min.
 */
static void
ref_q5_1_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q5_1 *y = vy;
	int			q[LLM_QK];

	for (int64_t i = 0; i < n / LLM_QK; i++, x += LLM_QK)
	{
		float		min = FLT_MAX;
		float		max = -FLT_MAX;
		float		d;
		float		id;

		for (int j = 0; j < LLM_QK; j++)
		{
			min = fminf(min, x[j]);
			max = fmaxf(max, x[j]);
		}
		d = (max - min) / 31.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = F2H(d);
		y[i].m = F2H(min);
		for (int j = 0; j < LLM_QK; j++)
			q[j] = ref_clamp((int) ((x[j] - min) * id + 0.5f), 0, 31);
		ref_q5_pack(q, y[i].qs, y[i].qh);
	}
}

/*
 * f32 to q8_0 exactly as ggml's reference: d = amax / 127, q = roundf(x / d)
 * computed as x * (1 / d).
 */
static void
ref_q8_0_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q8_0 *y = vy;

	for (int64_t i = 0; i < n / LLM_QK; i++, x += LLM_QK)
	{
		float		amax = 0.0f;
		float		d;
		float		id;

		for (int j = 0; j < LLM_QK; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		d = amax / 127.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = F2H(d);
		for (int j = 0; j < LLM_QK; j++)
			y[i].qs[j] = (int8_t) roundf(x[j] * id);
	}
}

/*
 * f32 to q8_1 exactly as ggml's reference; s = fp16(d * sum(q)).
 */
static void
ref_q8_1_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q8_1 *y = vy;

	for (int64_t i = 0; i < n / LLM_QK; i++, x += LLM_QK)
	{
		float		amax = 0.0f;
		float		d;
		float		id;
		int			sum = 0;

		for (int j = 0; j < LLM_QK; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		d = amax / 127.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		y[i].d = F2H(d);
		for (int j = 0; j < LLM_QK; j++)
		{
			y[i].qs[j] = (int8_t) roundf(x[j] * id);
			sum += y[i].qs[j];
		}
		y[i].s = F2H((float) sum * d);
	}
}

/*
 * q4_0 . q8_0
 */
static void
ref_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q4_0 *x = vw;
	const llm_block_q8_0 *y = va;
	float		sum = 0.0f;

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		int			sumi = 0;

		for (int j = 0; j < LLM_QK / 2; j++)
			sumi += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j] +
				((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
		sum += (float) sumi * H2F(x[i].d) * H2F(y[i].d);
	}
	*s = sum;
}

/*
 * q4_1 . q8_1: sum(d_w d_a q_w q_a) + m_w * s_a.
 */
static void
ref_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q4_1 *x = vw;
	const llm_block_q8_1 *y = va;
	float		sum = 0.0f;

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		int			sumi = 0;

		for (int j = 0; j < LLM_QK / 2; j++)
			sumi += (x[i].qs[j] & 0x0f) * y[i].qs[j] +
				(x[i].qs[j] >> 4) * y[i].qs[j + 16];
		sum += H2F(x[i].d) * H2F(y[i].d) * (float) sumi +
			H2F(x[i].m) * H2F(y[i].s);
	}
	*s = sum;
}

/*
 * q5_0 . q8_0
 */
static void
ref_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q5_0 *x = vw;
	const llm_block_q8_0 *y = va;
	float		sum = 0.0f;
	int			q[LLM_QK];

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		int			sumi = 0;

		ref_q5_unpack(x[i].qs, x[i].qh, q);
		for (int j = 0; j < LLM_QK; j++)
			sumi += (q[j] - 16) * y[i].qs[j];
		sum += (float) sumi * H2F(x[i].d) * H2F(y[i].d);
	}
	*s = sum;
}

/*
 * q5_1 . q8_1
 */
static void
ref_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q5_1 *x = vw;
	const llm_block_q8_1 *y = va;
	float		sum = 0.0f;
	int			q[LLM_QK];

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		int			sumi = 0;

		ref_q5_unpack(x[i].qs, x[i].qh, q);
		for (int j = 0; j < LLM_QK; j++)
			sumi += q[j] * y[i].qs[j];
		sum += H2F(x[i].d) * H2F(y[i].d) * (float) sumi +
			H2F(x[i].m) * H2F(y[i].s);
	}
	*s = sum;
}

/*
 * q8_0 . q8_0
 */
static void
ref_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q8_0 *x = vw;
	const llm_block_q8_0 *y = va;
	float		sum = 0.0f;

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		int			sumi = 0;

		for (int j = 0; j < LLM_QK; j++)
			sumi += x[i].qs[j] * y[i].qs[j];
		sum += (float) sumi * H2F(x[i].d) * H2F(y[i].d);
	}
	*s = sum;
}

/*
 * The reference gemm: vec_dot over every (weight row, activation row) pair
 * (see llm_gemm_fn).
 */
static void
ref_gemm(llm_vec_dot_fn dot, int64_t n, int64_t nr, int64_t nc, const void *w,
		 size_t w_stride, const void *a, size_t a_stride, float *y, int64_t ldy)
{
	for (int64_t c = 0; c < nc; c++)
		for (int64_t r = 0; r < nr; r++)
			dot(n, &y[c * ldy + r], (const char *) w + r * w_stride,
				(const char *) a + c * a_stride);
}

/*
 * q4_1 weight rows against q8_1 activation rows.
 */
static void
ref_gemm_q4_1_q8_1(int64_t n, int64_t nr, int64_t nc, const void *w, size_t w_stride,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	ref_gemm(ref_vec_dot_q4_1_q8_1, n, nr, nc, w, w_stride, a, a_stride, y, ldy);
}

/*
 * The interleave of both 8-row layouts: the bytes qs[0..nbytes) of row r
 * go in 4-byte slices to dst[32 p + 4 r], p = 0, 1, ...
 */
static void
ref_pack8_slices(uint8_t *dst, int r, const void *qs, int nbytes)
{
	for (int p = 0; p < nbytes / 4; p++)
		memcpy(&dst[32 * p + 4 * r], (const uint8_t *) qs + 4 * p, 4);
}

/*
 * Pack 8 q4_1 rows (row_bytes apart) into the llm_block_q4_1x8 layout of
 * quant.h: block i of the group holds block i of every row.
 */
static void
ref_pack8_q4_1(int64_t n, const void *w, size_t row_bytes, void *dst)
{
	llm_block_q4_1x8 *y = dst;

	for (int64_t i = 0; i < n / LLM_QK; i++)
		for (int r = 0; r < 8; r++)
		{
			const llm_block_q4_1 *x = (const llm_block_q4_1 *) ((const char *) w + r * row_bytes) + i;

			y[i].d[r] = x->d;
			y[i].m[r] = x->m;
			ref_pack8_slices(y[i].qs, r, x->qs, sizeof(x->qs));
		}
}

/*
 * Pack 8 q8_0 rows (row_bytes apart) into the llm_block_q8_0x8 layout.
 */
static void
ref_pack8_q8_0(int64_t n, const void *w, size_t row_bytes, void *dst)
{
	llm_block_q8_0x8 *y = dst;

	for (int64_t i = 0; i < n / LLM_QK; i++)
		for (int r = 0; r < 8; r++)
		{
			const llm_block_q8_0 *x = (const llm_block_q8_0 *) ((const char *) w + r * row_bytes) + i;

			y[i].d[r] = x->d;
			ref_pack8_slices((uint8_t *) y[i].qs, r, x->qs, sizeof(x->qs));
		}
}

/*
 * The inverse of ref_pack8_slices: row r's nbytes bytes back from the
 * interleave at src into qs.
 */
static void
ref_unpack8_slices(void *qs, int r, const uint8_t *src, int nbytes)
{
	for (int p = 0; p < nbytes / 4; p++)
		memcpy((uint8_t *) qs + 4 * p, &src[32 * p + 4 * r], 4);
}

/*
 * Row r of a llm_block_q4_1x8 group to f32: each block of the row is put
 * back together and converted by ref_q4_1_to_float, so the bits are those
 * of the row before packing.
 */
static void
ref_row8_to_float_q4_1(int64_t n, const void *w8, int r, float *y)
{
	const llm_block_q4_1x8 *x = w8;

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		llm_block_q4_1 b;

		b.d = x[i].d[r];
		b.m = x[i].m[r];
		ref_unpack8_slices(b.qs, r, x[i].qs, sizeof(b.qs));
		ref_q4_1_to_float(&b, y + i * LLM_QK, LLM_QK);
	}
}

/*
 * Row r of a llm_block_q8_0x8 group to f32, as ref_row8_to_float_q4_1.
 */
static void
ref_row8_to_float_q8_0(int64_t n, const void *w8, int r, float *y)
{
	const llm_block_q8_0x8 *x = w8;

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		llm_block_q8_0 b;

		b.d = x[i].d[r];
		ref_unpack8_slices(b.qs, r, (const uint8_t *) x[i].qs, sizeof(b.qs));
		ref_q8_0_to_float(&b, y + i * LLM_QK, LLM_QK);
	}
}

/*
 * Packed groups (q4_1 against q8_1 activation rows when q41, else q8_0
 * against q8_0) as llm_gemm8_fn. This defines the result of every (row,
 * activation) pair, which the AVX2 kernels reproduce bit for bit: per
 * block the exact integer sum times d_w d_a added by a fused multiply-add,
 * in block order; for q4_1 the min terms m_w s_a likewise in a second sum,
 * then the two sums added.
 */
static void
ref_gemm8(bool q41, int64_t n, int64_t ng, int64_t nc, const void *w8,
		  const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK;

	for (int64_t g = 0; g < ng; g++)
		for (int64_t c = 0; c < nc; c++)
		{
			const char *row = (const char *) a + c * a_stride;

			for (int r = 0; r < 8; r++)
			{
				float		acc = 0.0f,
							macc = 0.0f;

				for (int64_t i = 0; i < nb; i++)
				{
					int			sumi = 0;
					uint16_t	dw,
								da;

					if (q41)
					{
						const llm_block_q4_1x8 *x = (const llm_block_q4_1x8 *) w8 + g * nb + i;
						const llm_block_q8_1 *q = (const llm_block_q8_1 *) row + i;

						for (int p = 0; p < 4; p++)
							for (int e = 0; e < 4; e++)
							{
								int			b = x->qs[32 * p + 4 * r + e];

								sumi += (b & 0x0f) * q->qs[4 * p + e] + (b >> 4) * q->qs[16 + 4 * p + e];
							}
						dw = x->d[r];
						da = q->d;
					}
					else
					{
						const llm_block_q8_0x8 *x = (const llm_block_q8_0x8 *) w8 + g * nb + i;
						const llm_block_q8_0 *q = (const llm_block_q8_0 *) row + i;

						for (int j = 0; j < 8; j++)
							for (int e = 0; e < 4; e++)
								sumi += x->qs[32 * j + 4 * r + e] * q->qs[4 * j + e];
						dw = x->d[r];
						da = q->d;
					}
					acc = fmaf(H2F(dw) * H2F(da), (float) sumi, acc);
				}
				for (int64_t i = 0; q41 && i < nb; i++)
					macc = fmaf(H2F(((const llm_block_q4_1x8 *) w8)[g * nb + i].m[r]),
								H2F(((const llm_block_q8_1 *) row)[i].s), macc);
				y[c * ldy + 8 * g + r] = q41 ? acc + macc : acc;
			}
		}
}

/* ref_gemm8 for q4_1 x q8_1 */
static void
ref_gemm8_q4_1_q8_1(int64_t n, int64_t ng, int64_t nc, const void *w8,
					const void *a, size_t a_stride, float *y, int64_t ldy)
{
	ref_gemm8(true, n, ng, nc, w8, a, a_stride, y, ldy);
}

/* ref_gemm8 for q8_0 x q8_0 */
static void
ref_gemm8_q8_0_q8_0(int64_t n, int64_t ng, int64_t nc, const void *w8,
					const void *a, size_t a_stride, float *y, int64_t ldy)
{
	ref_gemm8(false, n, ng, nc, w8, a, a_stride, y, ldy);
}

/*
 * q8_0 weight rows against q8_0 activation rows.
 */
static void
ref_gemm_q8_0_q8_0(int64_t n, int64_t nr, int64_t nc, const void *w, size_t w_stride,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	ref_gemm(ref_vec_dot_q8_0_q8_0, n, nr, nc, w, w_stride, a, a_stride, y, ldy);
}

/* ---------------------------------------------------------------- K-quants */

/*
 * q4_K row to f32: (d * sc) * q - (dmin * m) per sub-block of 32.
 */
static void
ref_q4_K_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q4_K *x = vx;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		float		d = H2F(x[i].d);
		float		dmin = H2F(x[i].dmin);
		const uint8_t *q = x[i].qs;

		for (int j = 0; j < 8; j += 2, q += 32)
		{
			uint8_t		sc;
			uint8_t		m;
			float		d1, m1, d2, m2;

			llm_k4_scale_min(j, x[i].scales, &sc, &m);
			d1 = d * (float) sc;
			m1 = dmin * (float) m;
			llm_k4_scale_min(j + 1, x[i].scales, &sc, &m);
			d2 = d * (float) sc;
			m2 = dmin * (float) m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float) (q[l] & 0x0f) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float) (q[l] >> 4) - m2;
		}
	}
}

/*
 * q5_K row to f32: as q4_K, bit j of qh[l] adds 16 in sub-block j.
 */
static void
ref_q5_K_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q5_K *x = vx;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		float		d = H2F(x[i].d);
		float		dmin = H2F(x[i].dmin);
		const uint8_t *q = x[i].qs;
		const uint8_t *qh = x[i].qh;

		for (int j = 0; j < 8; j += 2, q += 32)
		{
			uint8_t		sc;
			uint8_t		m;
			float		d1, m1, d2, m2;

			llm_k4_scale_min(j, x[i].scales, &sc, &m);
			d1 = d * (float) sc;
			m1 = dmin * (float) m;
			llm_k4_scale_min(j + 1, x[i].scales, &sc, &m);
			d2 = d * (float) sc;
			m2 = dmin * (float) m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float) ((q[l] & 0x0f) + (((qh[l] >> j) & 1) << 4)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float) ((q[l] >> 4) + (((qh[l] >> (j + 1)) & 1) << 4)) - m2;
		}
	}
}

/*
 * The 256 signed six-bit values (q - 32) of a q6_K super-block.
 */
static inline void
ref_q6_K_unpack(const llm_block_q6_K *x, int8_t *q)
{
	for (int c = 0; c < 2; c++)
	{
		const uint8_t *ql = x->ql + 64 * c;
		const uint8_t *qh = x->qh + 32 * c;
		int8_t	   *o = q + 128 * c;

		for (int l = 0; l < 32; l++)
		{
			o[l] = (int8_t) (((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
			o[l + 32] = (int8_t) (((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
			o[l + 64] = (int8_t) (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
			o[l + 96] = (int8_t) (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
		}
	}
}

/*
 * q6_K row to f32: (d * sc) * (q - 32) per sub-block of 16.
 */
static void
ref_q6_K_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q6_K *x = vx;
	int8_t		q[LLM_QK_K];

	for (int64_t i = 0; i < n / LLM_QK_K; i++, y += LLM_QK_K)
	{
		float		d = H2F(x[i].d);

		ref_q6_K_unpack(&x[i], q);
		for (int l = 0; l < LLM_QK_K; l++)
			y[l] = d * (float) x[i].scales[l / 16] * (float) q[l];
	}
}

/*
 * q8_K row to f32: d * q.
 */
static void
ref_q8_K_to_float(const void *vx, float *y, int64_t n)
{
	const llm_block_q8_K *x = vx;

	for (int64_t i = 0; i < n / LLM_QK_K; i++, y += LLM_QK_K)
		for (int l = 0; l < LLM_QK_K; l++)
			y[l] = x[i].d * (float) x[i].qs[l];
}

/*
 * f32 to q8_K exactly as ggml's reference: the value of largest magnitude
 * maps to -127 (so d may be negative), round half to even, plus the sums
 * of each 16 quants.
 */
static void
ref_q8_K_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q8_K *y = vy;

	for (int64_t i = 0; i < n / LLM_QK_K; i++, x += LLM_QK_K)
	{
		float		amax = 0.0f;
		float		max = 0.0f;
		float		iscale;

		for (int j = 0; j < LLM_QK_K; j++)
			if (fabsf(x[j]) > amax)
			{
				amax = fabsf(x[j]);
				max = x[j];
			}
		if (amax == 0.0f)
		{
			memset(&y[i], 0, sizeof(y[i]));
			continue;
		}
		iscale = -127.0f / max;
		for (int j = 0; j < LLM_QK_K; j++)
		{
			int			v = ref_nearest_int(iscale * x[j]);

			y[i].qs[j] = (int8_t) (v > 127 ? 127 : v);
		}
		for (int j = 0; j < LLM_QK_K / 16; j++)
		{
			int			sum = 0;

			for (int l = 0; l < 16; l++)
				sum += y[i].qs[16 * j + l];
			y[i].bsums[j] = (int16_t) sum;
		}
		y[i].d = 1.0f / iscale;
	}
}

/*
 * Quantize one super-block's 8 (scale, min) pairs of q4_K / q5_K to 6 bits
 * and pack them; on return ds[j] and dm[j] hold the effective values.
 * mins[j] >= 0 is subtracted.
 */
static void
ref_k4_pack_scales(const float *scales, const float *mins, uint16_t *d16,
				   uint16_t *dmin16, uint8_t *packed, float *ds, float *dm)
{
	float		max_scale = 0.0f;
	float		max_min = 0.0f;
	float		d;
	float		dmin;
	int			ls[8];
	int			lm[8];

	for (int j = 0; j < 8; j++)
	{
		max_scale = fmaxf(max_scale, scales[j]);
		max_min = fmaxf(max_min, mins[j]);
	}
	*d16 = F2H(max_scale / 63.0f);
	*dmin16 = F2H(max_min / 63.0f);
	d = H2F(*d16);
	dmin = H2F(*dmin16);
	for (int j = 0; j < 8; j++)
	{
		ls[j] = d > 0.0f ? ref_clamp(ref_nearest_int(scales[j] / d), 0, 63) : 0;
		lm[j] = dmin > 0.0f ? ref_clamp(ref_nearest_int(mins[j] / dmin), 0, 63) : 0;
		ds[j] = d * (float) ls[j];
		dm[j] = dmin * (float) lm[j];
	}
	for (int j = 0; j < 4; j++)
	{
		packed[j] = (uint8_t) ((ls[j] & 63) | ((ls[j + 4] >> 4) << 6));
		packed[j + 4] = (uint8_t) ((lm[j] & 63) | ((lm[j + 4] >> 4) << 6));
		packed[j + 8] = (uint8_t) ((ls[j + 4] & 0x0f) | ((lm[j + 4] & 0x0f) << 4));
	}
}

/*
 * Simple round-to-nearest quantization of one super-block into 8
 * sub-blocks of 32 with nmax + 1 levels each (q4_K: 15, q5_K: 31).
 */
static void
ref_k4_quantize(const float *x, int nmax, uint16_t *d16, uint16_t *dmin16,
				uint8_t *packed, uint8_t *q)
{
	float		scales[8];
	float		mins[8];
	float		ds[8];
	float		dm[8];

	for (int j = 0; j < 8; j++)
	{
		float		mn = 0.0f;
		float		mx = 0.0f;

		for (int l = 0; l < 32; l++)
		{
			mn = fminf(mn, x[32 * j + l]);
			mx = fmaxf(mx, x[32 * j + l]);
		}
		scales[j] = (mx - mn) / (float) nmax;
		mins[j] = -mn;
	}
	ref_k4_pack_scales(scales, mins, d16, dmin16, packed, ds, dm);
	for (int j = 0; j < 8; j++)
		for (int l = 0; l < 32; l++)
			q[32 * j + l] = (uint8_t) (ds[j] > 0.0f ?
				ref_clamp(ref_nearest_int((x[32 * j + l] + dm[j]) / ds[j]), 0, nmax) : 0);
}

/*
 * f32 to q4_K (simple round to nearest, for test data).
 */
static void
ref_q4_K_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q4_K *y = vy;
	uint8_t		q[LLM_QK_K];

	for (int64_t i = 0; i < n / LLM_QK_K; i++, x += LLM_QK_K)
	{
		ref_k4_quantize(x, 15, &y[i].d, &y[i].dmin, y[i].scales, q);
		for (int c = 0; c < 4; c++)
			for (int l = 0; l < 32; l++)
				y[i].qs[32 * c + l] = (uint8_t) (q[64 * c + l] | (q[64 * c + 32 + l] << 4));
	}
}

/*
 * f32 to q5_K (simple round to nearest, for test data).
 */
static void
ref_q5_K_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q5_K *y = vy;
	uint8_t		q[LLM_QK_K];

	for (int64_t i = 0; i < n / LLM_QK_K; i++, x += LLM_QK_K)
	{
		ref_k4_quantize(x, 31, &y[i].d, &y[i].dmin, y[i].scales, q);
		memset(y[i].qh, 0, sizeof(y[i].qh));
		for (int c = 0; c < 4; c++)
			for (int l = 0; l < 32; l++)
			{
				int			lo = q[64 * c + l];
				int			hi = q[64 * c + 32 + l];

				y[i].qs[32 * c + l] = (uint8_t) ((lo & 0x0f) | ((hi & 0x0f) << 4));
				y[i].qh[l] |= (uint8_t) (((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
			}
	}
}

/*
 * f32 to q6_K (simple round to nearest, for test data).
 */
static void
ref_q6_K_from_float(const float *x, void *vy, int64_t n)
{
	llm_block_q6_K *y = vy;
	int			q[LLM_QK_K];

	for (int64_t i = 0; i < n / LLM_QK_K; i++, x += LLM_QK_K)
	{
		float		scales[16];
		float		max_scale = 0.0f;
		float		d;

		for (int j = 0; j < 16; j++)
		{
			float		amax = 0.0f;

			for (int l = 0; l < 16; l++)
				amax = fmaxf(amax, fabsf(x[16 * j + l]));
			scales[j] = amax / 31.0f;
			max_scale = fmaxf(max_scale, scales[j]);
		}
		y[i].d = F2H(max_scale / 127.0f);
		d = H2F(y[i].d);
		for (int j = 0; j < 16; j++)
		{
			int			ls = d > 0.0f ? ref_clamp(ref_nearest_int(scales[j] / d), 0, 127) : 0;
			float		ds = d * (float) ls;

			y[i].scales[j] = (int8_t) ls;
			for (int l = 0; l < 16; l++)
				q[16 * j + l] = ds > 0.0f ?
					ref_clamp(ref_nearest_int(x[16 * j + l] / ds), -32, 31) + 32 : 32;
		}
		for (int c = 0; c < 2; c++)
			for (int l = 0; l < 32; l++)
			{
				const int  *o = q + 128 * c;

				y[i].ql[64 * c + l] = (uint8_t) ((o[l] & 0x0f) | ((o[l + 64] & 0x0f) << 4));
				y[i].ql[64 * c + l + 32] = (uint8_t) ((o[l + 32] & 0x0f) | ((o[l + 96] & 0x0f) << 4));
				y[i].qh[32 * c + l] = (uint8_t) ((o[l] >> 4) | ((o[l + 32] >> 4) << 2) |
												 ((o[l + 64] >> 4) << 4) | ((o[l + 96] >> 4) << 6));
			}
	}
}

/*
 * q4_K . q8_K: per sub-block j, d sc_j sum(q a) - dmin m_j sum(a), the sums
 * of the activations coming from bsums.
 */
static void
ref_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q4_K *x = vw;
	const llm_block_q8_K *y = va;
	float		sum = 0.0f;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		int32_t		sumq = 0;
		int32_t		summ = 0;

		for (int j = 0; j < 8; j++)
		{
			const uint8_t *q = x[i].qs + 32 * (j / 2);
			const int8_t *a = y[i].qs + 32 * j;
			int			shift = (j & 1) * 4;
			int32_t		dot = 0;
			uint8_t		sc;
			uint8_t		m;

			llm_k4_scale_min(j, x[i].scales, &sc, &m);
			for (int l = 0; l < 32; l++)
				dot += ((q[l] >> shift) & 0x0f) * a[l];
			sumq += sc * dot;
			summ += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
		}
		sum += H2F(x[i].d) * y[i].d * (float) sumq -
			H2F(x[i].dmin) * y[i].d * (float) summ;
	}
	*s = sum;
}

/*
 * q5_K . q8_K
 */
static void
ref_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q5_K *x = vw;
	const llm_block_q8_K *y = va;
	float		sum = 0.0f;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		int32_t		sumq = 0;
		int32_t		summ = 0;

		for (int j = 0; j < 8; j++)
		{
			const uint8_t *q = x[i].qs + 32 * (j / 2);
			const int8_t *a = y[i].qs + 32 * j;
			int			shift = (j & 1) * 4;
			int32_t		dot = 0;
			uint8_t		sc;
			uint8_t		m;

			llm_k4_scale_min(j, x[i].scales, &sc, &m);
			for (int l = 0; l < 32; l++)
				dot += (((q[l] >> shift) & 0x0f) | (((x[i].qh[l] >> j) & 1) << 4)) * a[l];
			sumq += sc * dot;
			summ += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
		}
		sum += H2F(x[i].d) * y[i].d * (float) sumq -
			H2F(x[i].dmin) * y[i].d * (float) summ;
	}
	*s = sum;
}

/*
 * q6_K . q8_K
 */
static void
ref_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
	const llm_block_q6_K *x = vw;
	const llm_block_q8_K *y = va;
	float		sum = 0.0f;
	int8_t		q[LLM_QK_K];

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		int32_t		sumq = 0;

		ref_q6_K_unpack(&x[i], q);
		for (int j = 0; j < 16; j++)
		{
			int32_t		dot = 0;

			for (int l = 0; l < 16; l++)
				dot += q[16 * j + l] * y[i].qs[16 * j + l];
			sumq += x[i].scales[j] * dot;
		}
		sum += H2F(x[i].d) * y[i].d * (float) sumq;
	}
	*s = sum;
}

/* ------------------------------------------------------------ f32 helpers */

/*
 * Dot product of two f32 vectors, accumulated in double.
 */
static float
ref_dot_f32(int64_t n, const float *x, const float *y)
{
	double		sum = 0.0;

	for (int64_t i = 0; i < n; i++)
		sum += (double) x[i] * (double) y[i];
	return (float) sum;
}

/*
 * y += a * x
 */
static void
ref_axpy_f32(int64_t n, float a, const float *x, float *y)
{
	for (int64_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

/*
 * out[r] = dot(x, row r of y) * scale for rows rows of y, stride apart.
 */
static void
ref_dot_f32_rows(int64_t n, const float *x, const float *y, int64_t stride, int64_t rows,
				 float scale, float *out)
{
	for (int64_t r = 0; r < rows; r++)
		out[r] = ref_dot_f32(n, x, y + r * stride) * scale;
}

/*
 * y += a[r] * (row r of x) for r = 0 .. rows - 1 in order.
 */
static void
ref_axpy_f32_rows(int64_t n, const float *a, const float *x, int64_t stride, int64_t rows,
				  float *y)
{
	for (int64_t r = 0; r < rows; r++)
		ref_axpy_f32(n, a[r], x + r * stride, y);
}

/*
 * y = exp(y - max) / sum: expf per value, the sum in double in order, one
 * multiply by the float of its inverse.
 */
static void
ref_softmax(int64_t n, float *y)
{
	double		dsum = 0.0;
	float		mx = -INFINITY,
				inv;

	for (int64_t p = 0; p < n; p++)
		if (y[p] > mx)
			mx = y[p];
	for (int64_t p = 0; p < n; p++)
	{
		y[p] = expf(y[p] - mx);
		dsum += y[p];
	}
	inv = (float) (1.0 / dsum);
	for (int64_t p = 0; p < n; p++)
		y[p] *= inv;
}

/*
 * ref_dot_f32_rows over f16 rows of y: each row widened, then ref_dot_f32.
 */
static void
ref_dot_f16_rows(int64_t n, const float *x, const uint16_t *y, int64_t stride, int64_t rows,
				 float scale, float *out)
{
	for (int64_t r = 0; r < rows; r++)
	{
		const uint16_t *yr = y + r * stride;
		double		sum = 0.0;

		for (int64_t i = 0; i < n; i++)
			sum += (double) x[i] * (double) llm_fp16_to_fp32(yr[i]);
		out[r] = (float) sum * scale;
	}
}

/*
 * ref_axpy_f32_rows over f16 rows of x.
 */
static void
ref_axpy_f16_rows(int64_t n, const float *a, const uint16_t *x, int64_t stride, int64_t rows,
				  float *y)
{
	for (int64_t r = 0; r < rows; r++)
	{
		const uint16_t *xr = x + r * stride;

		for (int64_t i = 0; i < n; i++)
			y[i] += a[r] * llm_fp16_to_fp32(xr[i]);
	}
}

/*
 * y *= a
 */
static void
ref_scale_f32(int64_t n, float a, float *y)
{
	for (int64_t i = 0; i < n; i++)
		y[i] *= a;
}

/*
 * Fill k with the scalar kernels. Types without kernels keep NULL
 * pointers (and vec_dot_type F32), so callers must check.
 */
void
llm_kernels_init_scalar(llm_kernels *k)
{
	llm_type_ops *t = k->type;

	memset(k, 0, sizeof(*k));
	k->isa = "scalar";
	k->dot_f32 = ref_dot_f32;
	k->axpy_f32 = ref_axpy_f32;
	k->scale_f32 = ref_scale_f32;
	k->dot_f32_rows = ref_dot_f32_rows;
	k->softmax = ref_softmax;
	k->axpy_f32_rows = ref_axpy_f32_rows;
	k->dot_f16_rows = ref_dot_f16_rows;
	k->axpy_f16_rows = ref_axpy_f16_rows;

	t[LLM_TYPE_F32] = (llm_type_ops) {ref_f32_to_float, ref_f32_from_float, ref_vec_dot_f32, LLM_TYPE_F32, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_F16] = (llm_type_ops) {ref_f16_to_float, ref_f16_from_float, ref_vec_dot_f16, LLM_TYPE_F16, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_BF16] = (llm_type_ops) {ref_bf16_to_float, ref_bf16_from_float, ref_vec_dot_bf16, LLM_TYPE_BF16, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q4_0] = (llm_type_ops) {ref_q4_0_to_float, ref_q4_0_from_float, ref_vec_dot_q4_0_q8_0, LLM_TYPE_Q8_0, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q4_1] = (llm_type_ops) {ref_q4_1_to_float, ref_q4_1_from_float, ref_vec_dot_q4_1_q8_1, LLM_TYPE_Q8_1, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q5_0] = (llm_type_ops) {ref_q5_0_to_float, ref_q5_0_from_float, ref_vec_dot_q5_0_q8_0, LLM_TYPE_Q8_0, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q5_1] = (llm_type_ops) {ref_q5_1_to_float, ref_q5_1_from_float, ref_vec_dot_q5_1_q8_1, LLM_TYPE_Q8_1, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q8_0] = (llm_type_ops) {ref_q8_0_to_float, ref_q8_0_from_float, ref_vec_dot_q8_0_q8_0, LLM_TYPE_Q8_0, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q8_1] = (llm_type_ops) {ref_q8_1_to_float, ref_q8_1_from_float, NULL, LLM_TYPE_Q8_1, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q4_K] = (llm_type_ops) {ref_q4_K_to_float, ref_q4_K_from_float, ref_vec_dot_q4_K_q8_K, LLM_TYPE_Q8_K, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q5_K] = (llm_type_ops) {ref_q5_K_to_float, ref_q5_K_from_float, ref_vec_dot_q5_K_q8_K, LLM_TYPE_Q8_K, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q6_K] = (llm_type_ops) {ref_q6_K_to_float, ref_q6_K_from_float, ref_vec_dot_q6_K_q8_K, LLM_TYPE_Q8_K, NULL, NULL, NULL, NULL};
	t[LLM_TYPE_Q8_K] = (llm_type_ops) {ref_q8_K_to_float, ref_q8_K_from_float, NULL, LLM_TYPE_Q8_K, NULL, NULL, NULL, NULL};
	/* a table that replaces one of these vec_dot must replace its gemm */
	t[LLM_TYPE_Q4_1].gemm = ref_gemm_q4_1_q8_1;
	t[LLM_TYPE_Q8_0].gemm = ref_gemm_q8_0_q8_0;
	t[LLM_TYPE_Q4_1].pack8 = ref_pack8_q4_1;
	t[LLM_TYPE_Q4_1].gemm8 = ref_gemm8_q4_1_q8_1;
	t[LLM_TYPE_Q8_0].pack8 = ref_pack8_q8_0;
	t[LLM_TYPE_Q8_0].gemm8 = ref_gemm8_q8_0_q8_0;
	t[LLM_TYPE_Q4_1].row8_to_float = ref_row8_to_float_q4_1;
	t[LLM_TYPE_Q8_0].row8_to_float = ref_row8_to_float_q8_0;
	llm_pack_q5_init_scalar(t);	/* q4_0, q5_0: kernels_pack_q5_ref.c */
	llm_kernels_pack_k_scalar(k);
}
