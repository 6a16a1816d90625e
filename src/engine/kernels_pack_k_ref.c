/*
 * kernels_pack_k_ref.c - the 8-row packed layouts of the K-quants q4_K,
 * q5_K and q6_K (llm_block_q4_Kx8 / q5_Kx8 / q6_Kx8 in quant.h): packing,
 * the row unpacking of the tied-embedding lookup, and the scalar reference
 * of their products with q8_K activation rows (llm_gemm8_fn).
 *
 * The reference defines the result of every (row, activation row) pair,
 * which the AVX2 (kernels_pack_k_avx2.c) and AVX-512 VNNI
 * (kernels_pack_k_avx512.c) kernels reproduce bit for bit. Per super-block
 * the integer sums are exact (any order gives the same int32); the float
 * operations are, in super-block order:
 *
 *   q4_K, q5_K: acc  = fma(d_w * d_a, (float) sumq, acc)
 *               macc = fma(dmin_w * d_a, (float) summ, macc)
 *               result acc - macc
 *   q6_K:       acc  = fma(d_w * d_a, (float) sumq, acc), result acc
 *
 * with sumq = sum over sub-blocks of scale * dot(quants, activations)
 * (q6_K quants minus 32) and summ = sum over sub-blocks of min * the sum of
 * its activations (from the q8_K bsums). They may differ in the last bits
 * from vec_dot on the unpacked row (which does not use fma).
 */
#include "kernels.h"

#include <math.h>
#include <string.h>

#include "llm_util.h"
#include "quant.h"

/* no implicit fused multiply-add: fma only where written */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize ("fp-contract=off")
#endif

#define H2F(h) llm_fp16_to_fp32(h)

/* --------------------------------------------------------------- layouts */

/*
 * The interleave of the packed layouts: the bytes src[0..nbytes) of row r
 * go in 4-byte slices to dst[32 p + 4 r], p = 0, 1, ...
 */
static void
pk_slices(uint8_t *dst, int r, const uint8_t *src, int nbytes)
{
	for (int p = 0; p < nbytes / 4; p++)
		memcpy(&dst[32 * p + 4 * r], src + 4 * p, 4);
}

/*
 * The inverse of pk_slices: row r's nbytes bytes back from src into dst.
 */
static void
pk_unslices(uint8_t *dst, int r, const uint8_t *src, int nbytes)
{
	for (int p = 0; p < nbytes / 4; p++)
		memcpy(dst + 4 * p, &src[32 * p + 4 * r], 4);
}

/*
 * The 128 six-bit values of a q4_K x8 / q5_K x8 scales field (see
 * quant.h): val[16 p + 2 r + h].
 */
static void
pk_scales_get(const uint8_t *s, uint8_t *val)
{
	for (int k = 0; k < 32; k++)
	{
		uint8_t		h = s[64 + k];

		val[k] = (uint8_t) ((s[k] & 0x0f) | ((h & 3) << 4));
		val[32 + k] = (uint8_t) ((s[32 + k] & 0x0f) | (((h >> 2) & 3) << 4));
		val[64 + k] = (uint8_t) ((s[k] >> 4) | (((h >> 4) & 3) << 4));
		val[96 + k] = (uint8_t) ((s[32 + k] >> 4) | (((h >> 6) & 3) << 4));
	}
}

/*
 * Store the 128 six-bit values val into a scales field (pk_scales_get's
 * inverse).
 */
static void
pk_scales_put(const uint8_t *val, uint8_t *s)
{
	for (int k = 0; k < 32; k++)
	{
		s[k] = (uint8_t) ((val[k] & 0x0f) | ((val[64 + k] & 0x0f) << 4));
		s[32 + k] = (uint8_t) ((val[32 + k] & 0x0f) | ((val[96 + k] & 0x0f) << 4));
		s[64 + k] = (uint8_t) ((val[k] >> 4) | ((val[32 + k] >> 4) << 2) |
							   ((val[64 + k] >> 4) << 4) | ((val[96 + k] >> 4) << 6));
	}
}

/*
 * Row r's scales and mins of one super-block of a q4_K x8 / q5_K x8 group
 * (sc[j], m[j] for sub-blocks j = 0..7).
 */
static void
pk_scales_row(const uint8_t *s, int r, uint8_t *sc, uint8_t *m)
{
	uint8_t		val[128];

	pk_scales_get(s, val);
	for (int j = 0; j < 8; j++)
	{
		sc[j] = val[16 * (j / 2) + 2 * r + j % 2];
		m[j] = val[64 + 16 * (j / 2) + 2 * r + j % 2];
	}
}

/*
 * Pack the scales of super-block i of 8 q4_K / q5_K rows (the 12-byte
 * field of each, at blocks[r]) into a scales field.
 */
static void
pk_scales_pack(const uint8_t *const *rows12, uint8_t *s)
{
	uint8_t		val[128];

	for (int r = 0; r < 8; r++)
		for (int j = 0; j < 8; j++)
		{
			uint8_t		sc,
						m;

			llm_k4_scale_min(j, rows12[r], &sc, &m);
			val[16 * (j / 2) + 2 * r + j % 2] = sc;
			val[64 + 16 * (j / 2) + 2 * r + j % 2] = m;
		}
	pk_scales_put(val, s);
}

/*
 * Pack 8 q4_K rows (row_bytes apart) into the llm_block_q4_Kx8 layout.
 */
static void
pk_pack8_q4_K(int64_t n, const void *w, size_t row_bytes, void *dst)
{
	llm_block_q4_Kx8 *y = dst;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		const uint8_t *s12[8];

		for (int r = 0; r < 8; r++)
		{
			const llm_block_q4_K *x = (const llm_block_q4_K *) ((const char *) w + r * row_bytes) + i;

			y[i].d[r] = x->d;
			y[i].dmin[r] = x->dmin;
			s12[r] = x->scales;
			pk_slices(y[i].qs, r, x->qs, sizeof(x->qs));
		}
		pk_scales_pack(s12, y[i].scales);
	}
}

/*
 * Pack 8 q5_K rows (row_bytes apart) into the llm_block_q5_Kx8 layout.
 */
static void
pk_pack8_q5_K(int64_t n, const void *w, size_t row_bytes, void *dst)
{
	llm_block_q5_Kx8 *y = dst;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		const uint8_t *s12[8];

		for (int r = 0; r < 8; r++)
		{
			const llm_block_q5_K *x = (const llm_block_q5_K *) ((const char *) w + r * row_bytes) + i;

			y[i].d[r] = x->d;
			y[i].dmin[r] = x->dmin;
			s12[r] = x->scales;
			pk_slices(y[i].qh, r, x->qh, sizeof(x->qh));
			pk_slices(y[i].qs, r, x->qs, sizeof(x->qs));
		}
		pk_scales_pack(s12, y[i].scales);
	}
}

/*
 * Pack 8 q6_K rows (row_bytes apart) into the llm_block_q6_Kx8 layout.
 */
static void
pk_pack8_q6_K(int64_t n, const void *w, size_t row_bytes, void *dst)
{
	llm_block_q6_Kx8 *y = dst;

	for (int64_t i = 0; i < n / LLM_QK_K; i++)
		for (int r = 0; r < 8; r++)
		{
			const llm_block_q6_K *x = (const llm_block_q6_K *) ((const char *) w + r * row_bytes) + i;

			y[i].d[r] = x->d;
			for (int j = 0; j < 16; j++)
				y[i].scales[16 * (j / 2) + 2 * r + j % 2] = x->scales[j];
			pk_slices(y[i].ql, r, x->ql, sizeof(x->ql));
			pk_slices(y[i].qh, r, x->qh, sizeof(x->qh));
		}
}

/* ----------------------------------------------------------- row8_to_float */

/*
 * Row r of a q4_K x8 (qh NULL) or q5_K x8 group to f32: the expressions of
 * the q4_K / q5_K to_float of kernels_ref.c, in its order, so the bits are
 * those of the row before packing.
 */
static void
pk_row8_k4(int64_t n, const void *w8, int r, float *y, bool q5)
{
	for (int64_t i = 0; i < n / LLM_QK_K; i++)
	{
		const llm_block_q4_Kx8 *b4 = (const llm_block_q4_Kx8 *) w8 + i;
		const llm_block_q5_Kx8 *b5 = (const llm_block_q5_Kx8 *) w8 + i;
		uint8_t		qs[LLM_QK_K / 2],
					qh[LLM_QK_K / 8],
					sc[8],
					m[8];
		float		d = H2F(q5 ? b5->d[r] : b4->d[r]);
		float		dmin = H2F(q5 ? b5->dmin[r] : b4->dmin[r]);

		pk_unslices(qs, r, q5 ? b5->qs : b4->qs, sizeof(qs));
		if (q5)
			pk_unslices(qh, r, b5->qh, sizeof(qh));
		pk_scales_row(q5 ? b5->scales : b4->scales, r, sc, m);
		for (int j = 0; j < 8; j++)
		{
			float		dj = d * (float) sc[j];
			float		mj = dmin * (float) m[j];

			for (int l = 0; l < 32; l++)
			{
				int			q = (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f;

				if (q5)
					q += ((qh[l] >> j) & 1) << 4;
				*y++ = dj * (float) q - mj;
			}
		}
	}
}

/* row r of a q4_K x8 group to f32 (see llm_row8_to_float_fn) */
static void
pk_row8_to_float_q4_K(int64_t n, const void *w8, int r, float *y)
{
	pk_row8_k4(n, w8, r, y, false);
}

/* row r of a q5_K x8 group to f32 (see llm_row8_to_float_fn) */
static void
pk_row8_to_float_q5_K(int64_t n, const void *w8, int r, float *y)
{
	pk_row8_k4(n, w8, r, y, true);
}

/*
 * The 256 signed six-bit values (q - 32) of row r of a q6_K x8 super-block,
 * in element order.
 */
static void
pk_q6_row(const llm_block_q6_Kx8 *b, int r, int8_t *q)
{
	uint8_t		ql[LLM_QK_K / 2],
				qh[LLM_QK_K / 4];

	pk_unslices(ql, r, b->ql, sizeof(ql));
	pk_unslices(qh, r, b->qh, sizeof(qh));
	for (int c = 0; c < 2; c++)
		for (int l = 0; l < 32; l++)
		{
			const uint8_t *L = ql + 64 * c;
			uint8_t		h = qh[32 * c + l];
			int8_t	   *o = q + 128 * c;

			o[l] = (int8_t) (((L[l] & 0x0f) | ((h & 3) << 4)) - 32);
			o[l + 32] = (int8_t) (((L[l + 32] & 0x0f) | (((h >> 2) & 3) << 4)) - 32);
			o[l + 64] = (int8_t) (((L[l] >> 4) | (((h >> 4) & 3) << 4)) - 32);
			o[l + 96] = (int8_t) (((L[l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32);
		}
}

/*
 * Row r of a q6_K x8 group to f32: d * sc * (q - 32) as the q6_K to_float
 * of kernels_ref.c evaluates it.
 */
static void
pk_row8_to_float_q6_K(int64_t n, const void *w8, int r, float *y)
{
	for (int64_t i = 0; i < n / LLM_QK_K; i++, y += LLM_QK_K)
	{
		const llm_block_q6_Kx8 *b = (const llm_block_q6_Kx8 *) w8 + i;
		float		d = H2F(b->d[r]);
		int8_t		q[LLM_QK_K];

		pk_q6_row(b, r, q);
		for (int l = 0; l < LLM_QK_K; l++)
			y[l] = d * (float) b->scales[16 * (l / 32) + 2 * r + (l / 16) % 2] * (float) q[l];
	}
}

/* ------------------------------------------------------------------ gemm8 */

/*
 * Exact integer sums of row r of super-block b (q4_K x8, or q5_K x8 when
 * q5) against activation block a: *sumq = sum_j sc_j dot_j, *summ =
 * sum_j m_j (bsums[2j] + bsums[2j + 1]).
 */
static void
pk_sums_k4(const void *b, bool q5, int r, const llm_block_q8_K *a, int32_t *sumq, int32_t *summ)
{
	const llm_block_q4_Kx8 *b4 = b;
	const llm_block_q5_Kx8 *b5 = b;
	uint8_t		qs[LLM_QK_K / 2],
				qh[LLM_QK_K / 8],
				sc[8],
				m[8];

	pk_unslices(qs, r, q5 ? b5->qs : b4->qs, sizeof(qs));
	if (q5)
		pk_unslices(qh, r, b5->qh, sizeof(qh));
	pk_scales_row(q5 ? b5->scales : b4->scales, r, sc, m);
	*sumq = *summ = 0;
	for (int j = 0; j < 8; j++)
	{
		int32_t		dot = 0;

		for (int l = 0; l < 32; l++)
		{
			int			q = (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f;

			if (q5)
				q += ((qh[l] >> j) & 1) << 4;
			dot += q * a->qs[32 * j + l];
		}
		*sumq += sc[j] * dot;
		*summ += m[j] * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
	}
}

/*
 * Packed q4_K / q5_K groups against q8_K activation rows (llm_gemm8_fn),
 * the float operations of the file comment.
 */
static void
pk_gemm8_k4(bool q5, int64_t n, int64_t ng, int64_t nc, const void *w8,
			const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK_K;
	const size_t bsz = q5 ? sizeof(llm_block_q5_Kx8) : sizeof(llm_block_q4_Kx8);

	for (int64_t g = 0; g < ng; g++)
		for (int64_t c = 0; c < nc; c++)
		{
			const llm_block_q8_K *q = (const llm_block_q8_K *) ((const char *) a + c * a_stride);

			for (int r = 0; r < 8; r++)
			{
				float		acc = 0.0f,
							macc = 0.0f;

				for (int64_t i = 0; i < nb; i++)
				{
					const char *b = (const char *) w8 + (size_t) (g * nb + i) * bsz;
					const uint16_t *d = q5 ? ((const llm_block_q5_Kx8 *) b)->d : ((const llm_block_q4_Kx8 *) b)->d;
					const uint16_t *dm = q5 ? ((const llm_block_q5_Kx8 *) b)->dmin : ((const llm_block_q4_Kx8 *) b)->dmin;
					int32_t		sumq,
								summ;

					pk_sums_k4(b, q5, r, &q[i], &sumq, &summ);
					acc = fmaf(H2F(d[r]) * q[i].d, (float) sumq, acc);
					macc = fmaf(H2F(dm[r]) * q[i].d, (float) summ, macc);
				}
				y[c * ldy + 8 * g + r] = acc - macc;
			}
		}
}

/* pk_gemm8_k4 for q4_K */
static void
pk_gemm8_q4_K_q8_K(int64_t n, int64_t ng, int64_t nc, const void *w8,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	pk_gemm8_k4(false, n, ng, nc, w8, a, a_stride, y, ldy);
}

/* pk_gemm8_k4 for q5_K */
static void
pk_gemm8_q5_K_q8_K(int64_t n, int64_t ng, int64_t nc, const void *w8,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	pk_gemm8_k4(true, n, ng, nc, w8, a, a_stride, y, ldy);
}

/*
 * Packed q6_K groups against q8_K activation rows (llm_gemm8_fn): per
 * super-block the exact sum_j sc_j dot(q - 32, a) of sub-blocks of 16.
 */
static void
pk_gemm8_q6_K_q8_K(int64_t n, int64_t ng, int64_t nc, const void *w8,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK_K;

	for (int64_t g = 0; g < ng; g++)
		for (int64_t c = 0; c < nc; c++)
		{
			const llm_block_q8_K *q = (const llm_block_q8_K *) ((const char *) a + c * a_stride);

			for (int r = 0; r < 8; r++)
			{
				float		acc = 0.0f;

				for (int64_t i = 0; i < nb; i++)
				{
					const llm_block_q6_Kx8 *b = (const llm_block_q6_Kx8 *) w8 + g * nb + i;
					int8_t		v[LLM_QK_K];
					int32_t		sumq = 0;

					pk_q6_row(b, r, v);
					for (int j = 0; j < 16; j++)
					{
						int32_t		dot = 0;

						for (int l = 0; l < 16; l++)
							dot += v[16 * j + l] * q[i].qs[16 * j + l];
						sumq += b->scales[16 * (j / 2) + 2 * r + j % 2] * dot;
					}
					acc = fmaf(H2F(b->d[r]) * q[i].d, (float) sumq, acc);
				}
				y[c * ldy + 8 * g + r] = acc;
			}
		}
}

/*
 * Register the K-quant 8-row layouts in the scalar table k (called by
 * llm_kernels_init_scalar).
 */
void
llm_kernels_pack_k_scalar(llm_kernels *k)
{
	llm_type_ops *t = k->type;

	t[LLM_TYPE_Q4_K].pack8 = pk_pack8_q4_K;
	t[LLM_TYPE_Q4_K].gemm8 = pk_gemm8_q4_K_q8_K;
	t[LLM_TYPE_Q4_K].row8_to_float = pk_row8_to_float_q4_K;
	t[LLM_TYPE_Q5_K].pack8 = pk_pack8_q5_K;
	t[LLM_TYPE_Q5_K].gemm8 = pk_gemm8_q5_K_q8_K;
	t[LLM_TYPE_Q5_K].row8_to_float = pk_row8_to_float_q5_K;
	t[LLM_TYPE_Q6_K].pack8 = pk_pack8_q6_K;
	t[LLM_TYPE_Q6_K].gemm8 = pk_gemm8_q6_K_q8_K;
	t[LLM_TYPE_Q6_K].row8_to_float = pk_row8_to_float_q6_K;
}
