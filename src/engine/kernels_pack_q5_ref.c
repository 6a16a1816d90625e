/*
 * kernels_pack_q5_ref.c - scalar reference of the packed 8-row layouts of
 * q4_0 and q5_0 weights (llm_block_q4_0x8, llm_block_q5_0x8): packing,
 * one row back to f32, and the product with q8_0 activation rows that
 * the AVX2 and AVX-512 kernels (kernels_pack_q5_avx2.c / _avx512.c)
 * reproduce bit for bit.
 *
 * Plain C, no implicit fused multiply-add (pragma below): every fmaf is
 * written.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize ("fp-contract=off")
#endif

#include "kernels_pack_q5.h"

#include <math.h>
#include <string.h>

#include "llm_util.h"
#include "quant.h"

#define H2F(h) llm_fp16_to_fp32(h)

/*
 * The interleave of the 4-bit quants (as llm_block_q4_1x8): the 16 bytes
 * qs of row r go in 4-byte slices to dst[32 p + 4 r], p = 0..3.
 */
static void
pq5_slices(uint8_t *dst, int r, const uint8_t *qs)
{
	for (int p = 0; p < 4; p++)
		memcpy(&dst[32 * p + 4 * r], qs + 4 * p, 4);
}

/* The inverse of pq5_slices: row r's 16 bytes back into qs. */
static void
pq5_unslices(uint8_t *qs, int r, const uint8_t *src)
{
	for (int p = 0; p < 4; p++)
		memcpy(qs + 4 * p, &src[32 * p + 4 * r], 4);
}

/*
 * Pack 8 q4_0 rows (row_bytes apart) into llm_block_q4_0x8 groups: block
 * i of the group holds block i of every row.
 */
static void
pq5_pack8_q4_0(int64_t n, const void *w, size_t row_bytes, void *dst)
{
	llm_block_q4_0x8 *y = dst;

	for (int64_t i = 0; i < n / LLM_QK; i++)
		for (int r = 0; r < 8; r++)
		{
			const llm_block_q4_0 *x = (const llm_block_q4_0 *) ((const char *) w + r * row_bytes) + i;

			y[i].d[r] = x->d;
			pq5_slices(y[i].qs, r, x->qs);
		}
}

/*
 * Pack 8 q5_0 rows into llm_block_q5_0x8 groups: the high bits by nibbles
 * (see quant.h), nibble j of row r's qh (the fifth bits of elements 4j ..
 * 4j + 3) at bits 4r .. 4r + 3 of the 32-bit word qh[4j .. 4j + 3].
 */
static void
pq5_pack8_q5_0(int64_t n, const void *w, size_t row_bytes, void *dst)
{
	llm_block_q5_0x8 *y = dst;

	for (int64_t i = 0; i < n / LLM_QK; i++)
	{
		uint32_t	words[8] = {0};

		for (int r = 0; r < 8; r++)
		{
			const llm_block_q5_0 *x = (const llm_block_q5_0 *) ((const char *) w + r * row_bytes) + i;
			uint32_t	qh;

			memcpy(&qh, x->qh, 4);	/* little-endian hosts, as GGUF */
			for (int j = 0; j < 8; j++)
				words[j] |= ((qh >> (4 * j)) & 0xfu) << (4 * r);
			y[i].d[r] = x->d;
			pq5_slices(y[i].qs, r, x->qs);
		}
		memcpy(y[i].qh, words, sizeof(words));
	}
}

/*
 * The 32 quants of row r of block x, minus the type's offset (8 for
 * q4_0, 16 for q5_0), in element order: the values the products use.
 */
static void
pq5_quants(bool q5, const void *x, int r, int *q)
{
	uint8_t		qs[LLM_QK / 2];
	uint32_t	qh = 0;

	if (q5)
	{
		const llm_block_q5_0x8 *b = x;

		uint32_t	words[8];

		pq5_unslices(qs, r, b->qs);
		memcpy(words, b->qh, sizeof(words));
		for (int j = 0; j < 8; j++)
			qh |= ((words[j] >> (4 * r)) & 0xfu) << (4 * j);
	}
	else
		pq5_unslices(qs, r, ((const llm_block_q4_0x8 *) x)->qs);
	for (int j = 0; j < LLM_QK / 2; j++)
	{
		int			lo = qs[j] & 0x0f,
					hi = qs[j] >> 4;

		if (q5)
		{
			q[j] = (lo | (int) (((qh >> j) & 1) << 4)) - 16;
			q[j + 16] = (hi | (int) (((qh >> (j + 16)) & 1) << 4)) - 16;
		}
		else
		{
			q[j] = lo - 8;
			q[j + 16] = hi - 8;
		}
	}
}

/*
 * Row r of a packed group to f32: d * (q - offset) per element, the same
 * float operations (and so the same bits) as the scalar to_float of q4_0
 * / q5_0 on the row before packing.
 */
static void
pq5_row8_to_float(bool q5, int64_t n, const void *w8, int r, float *y)
{
	const size_t bsz = q5 ? sizeof(llm_block_q5_0x8) : sizeof(llm_block_q4_0x8);
	int			q[LLM_QK];

	for (int64_t i = 0; i < n / LLM_QK; i++, y += LLM_QK)
	{
		const void *x = (const char *) w8 + i * bsz;
		float		d = H2F(q5 ? ((const llm_block_q5_0x8 *) x)->d[r] : ((const llm_block_q4_0x8 *) x)->d[r]);

		pq5_quants(q5, x, r, q);
		for (int j = 0; j < LLM_QK; j++)
			y[j] = d * (float) q[j];
	}
}

/* pq5_row8_to_float for q4_0 */
static void
pq5_row8_to_float_q4_0(int64_t n, const void *w8, int r, float *y)
{
	pq5_row8_to_float(false, n, w8, r, y);
}

/* pq5_row8_to_float for q5_0 */
static void
pq5_row8_to_float_q5_0(int64_t n, const void *w8, int r, float *y)
{
	pq5_row8_to_float(true, n, w8, r, y);
}

/*
 * Packed q4_0 / q5_0 groups against q8_0 activation rows (llm_gemm8_fn).
 * This defines every (row, activation) result: per block the exact
 * integer sum of (q - offset) * a, times d_w * d_a (rounded product),
 * added by one fused multiply-add, in block order. It does not depend on
 * ng or nc.
 */
static void
pq5_gemm8(bool q5, int64_t n, int64_t ng, int64_t nc, const void *w8,
		  const void *a, size_t a_stride, float *y, int64_t ldy)
{
	const int64_t nb = n / LLM_QK;
	const size_t bsz = q5 ? sizeof(llm_block_q5_0x8) : sizeof(llm_block_q4_0x8);
	int			q[LLM_QK];

	for (int64_t g = 0; g < ng; g++)
		for (int64_t c = 0; c < nc; c++)
		{
			const llm_block_q8_0 *act = (const llm_block_q8_0 *) ((const char *) a + c * a_stride);

			for (int r = 0; r < 8; r++)
			{
				float		acc = 0.0f;

				for (int64_t i = 0; i < nb; i++)
				{
					const void *x = (const char *) w8 + (g * nb + i) * bsz;
					uint16_t	dw = q5 ? ((const llm_block_q5_0x8 *) x)->d[r] : ((const llm_block_q4_0x8 *) x)->d[r];
					int			sumi = 0;

					pq5_quants(q5, x, r, q);
					for (int j = 0; j < LLM_QK; j++)
						sumi += q[j] * act[i].qs[j];
					acc = fmaf(H2F(dw) * H2F(act[i].d), (float) sumi, acc);
				}
				y[c * ldy + 8 * g + r] = acc;
			}
		}
}

/* pq5_gemm8 for q4_0 x q8_0 */
static void
pq5_gemm8_q4_0_q8_0(int64_t n, int64_t ng, int64_t nc, const void *w8,
					const void *a, size_t a_stride, float *y, int64_t ldy)
{
	pq5_gemm8(false, n, ng, nc, w8, a, a_stride, y, ldy);
}

/* pq5_gemm8 for q5_0 x q8_0 */
static void
pq5_gemm8_q5_0_q8_0(int64_t n, int64_t ng, int64_t nc, const void *w8,
					const void *a, size_t a_stride, float *y, int64_t ldy)
{
	pq5_gemm8(true, n, ng, nc, w8, a, a_stride, y, ldy);
}

/*
 * Fill the packed entries of Q4_0 and Q5_0 in the scalar table t.
 */
void
llm_pack_q5_init_scalar(llm_type_ops *t)
{
	t[LLM_TYPE_Q4_0].pack8 = pq5_pack8_q4_0;
	t[LLM_TYPE_Q4_0].gemm8 = pq5_gemm8_q4_0_q8_0;
	t[LLM_TYPE_Q4_0].row8_to_float = pq5_row8_to_float_q4_0;
	t[LLM_TYPE_Q5_0].pack8 = pq5_pack8_q5_0;
	t[LLM_TYPE_Q5_0].gemm8 = pq5_gemm8_q5_0_q8_0;
	t[LLM_TYPE_Q5_0].row8_to_float = pq5_row8_to_float_q5_0;
}
