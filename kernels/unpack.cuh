/*
 * unpack.cuh - device functions that read one 32-element block of a
 * quantized weight row: the 32 integer quants packed four per int (in
 * element order, as int8) and the affine form of each half of the block,
 * x = a * q + b (a0, b0 for elements 0..15, a1, b1 for 16..31). Layouts
 * are those of src/engine/quant.h (GGUF's); every multi-byte field is
 * read byte by byte because blocks are not 4-byte aligned. Host-callable
 * too, so that the layouts can be checked against the CPU's to_float
 * without a GPU.
 */
#ifndef LLM_CUDA_UNPACK_CUH
#define LLM_CUDA_UNPACK_CUH

#include <cuda_fp16.h>
#include <stdint.h>

#include "cuda_int.h"
#include "llm_types.h"

/* whether type is one of the quantized types cu_unpack32 reads */
static __host__ __device__ __forceinline__ int
cu_type_is_quant_dev(int type)
{
	return type == LLM_TYPE_Q4_0 || type == LLM_TYPE_Q4_1 || type == LLM_TYPE_Q5_0 ||
		type == LLM_TYPE_Q5_1 || type == LLM_TYPE_Q8_0 || type == LLM_TYPE_Q4_K || type == LLM_TYPE_Q5_K ||
		type == LLM_TYPE_Q6_K;
}

/* a half-precision value stored little endian at p */
static __host__ __device__ __forceinline__ float
cu_ld_f16(const uint8_t *p)
{
	unsigned short h = (unsigned short) (p[0] | (p[1] << 8));

	return __half2float(__ushort_as_half(h));
}

/* q4_K / q5_K: scale and min number j (0..7) from the packed 12 bytes */
static __host__ __device__ __forceinline__ void
cu_scale_min_k4(int j, const uint8_t *q, int *sc, int *mn)
{
	if (j < 4)
	{
		*sc = q[j] & 63;
		*mn = q[j + 4] & 63;
	}
	else
	{
		*sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
		*mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}

/* pack four int8 values into an int, first in the low byte */
static __host__ __device__ __forceinline__ int
cu_pack4(int a, int b, int c, int d)
{
	return (int) ((uint32_t) (a & 0xFF) | ((uint32_t) (b & 0xFF) << 8) |
				  ((uint32_t) (c & 0xFF) << 16) | ((uint32_t) (d & 0xFF) << 24));
}

/*
 * Block jb (32 elements) of row to q[8] (element 4i + k in byte k of q[i])
 * and its halves' affine forms. type is one of the quantized types.
 */
static __host__ __device__ __forceinline__ void
cu_unpack32(int type, const uint8_t *row, int64_t jb, int *q, float *a0, float *b0,
			float *a1, float *b1)
{
	int			e[32];
	int			i;

	switch (type)
	{
		case LLM_TYPE_Q4_0:
			{
				const uint8_t *b = row + jb * 18;
				float		d = cu_ld_f16(b);

				for (i = 0; i < 16; i++)
				{
					e[i] = b[2 + i] & 0xF;
					e[i + 16] = b[2 + i] >> 4;
				}
				*a0 = *a1 = d;
				*b0 = *b1 = -8.0f * d;
				break;
			}
		case LLM_TYPE_Q4_1:
			{
				const uint8_t *b = row + jb * 20;

				for (i = 0; i < 16; i++)
				{
					e[i] = b[4 + i] & 0xF;
					e[i + 16] = b[4 + i] >> 4;
				}
				*a0 = *a1 = cu_ld_f16(b);
				*b0 = *b1 = cu_ld_f16(b + 2);
				break;
			}
		case LLM_TYPE_Q5_0:
			{
				const uint8_t *b = row + jb * 22;
				float		d = cu_ld_f16(b);
				uint32_t	qh = (uint32_t) b[2] | ((uint32_t) b[3] << 8) |
					((uint32_t) b[4] << 16) | ((uint32_t) b[5] << 24);

				for (i = 0; i < 16; i++)
				{
					e[i] = (b[6 + i] & 0xF) | (((qh >> i) & 1) << 4);
					e[i + 16] = (b[6 + i] >> 4) | (((qh >> (i + 16)) & 1) << 4);
				}
				*a0 = *a1 = d;
				*b0 = *b1 = -16.0f * d;
				break;
			}
		case LLM_TYPE_Q5_1:
			{
				const uint8_t *b = row + jb * 24;
				uint32_t	qh = (uint32_t) b[4] | ((uint32_t) b[5] << 8) |
					((uint32_t) b[6] << 16) | ((uint32_t) b[7] << 24);

				for (i = 0; i < 16; i++)
				{
					e[i] = (b[8 + i] & 0xF) | (((qh >> i) & 1) << 4);
					e[i + 16] = (b[8 + i] >> 4) | (((qh >> (i + 16)) & 1) << 4);
				}
				*a0 = *a1 = cu_ld_f16(b);
				*b0 = *b1 = cu_ld_f16(b + 2);
				break;
			}
		case LLM_TYPE_Q8_0:
			{
				const uint8_t *b = row + jb * 34;

				for (i = 0; i < 32; i++)
					e[i] = (int8_t) b[2 + i];
				*a0 = *a1 = cu_ld_f16(b);
				*b0 = *b1 = 0.0f;
				break;
			}
		case LLM_TYPE_Q4_K:
		case LLM_TYPE_Q5_K:
			{
				int			k5 = type == LLM_TYPE_Q5_K;
				const uint8_t *b = row + (jb / 8) * (k5 ? 176 : 144);
				int			j = (int) (jb % 8),
							sc,
							mn;
				const uint8_t *qs = b + (k5 ? 48 : 16) + 32 * (j / 2);
				const uint8_t *qh = b + 16;
				float		d = cu_ld_f16(b),
							dmin = cu_ld_f16(b + 2);

				cu_scale_min_k4(j, b + 4, &sc, &mn);
				for (i = 0; i < 32; i++)
				{
					e[i] = (j & 1) ? qs[i] >> 4 : qs[i] & 0xF;
					if (k5)
						e[i] |= ((qh[i] >> j) & 1) << 4;
				}
				*a0 = *a1 = d * (float) sc;
				*b0 = *b1 = -dmin * (float) mn;
				break;
			}
		case LLM_TYPE_Q6_K:
		default:
			{
				const uint8_t *b = row + (jb / 8) * 210;
				int			j = (int) (jb % 8);
				int			n = j / 4,	/* which 128-element half */
							g = j % 4;	/* which 32 of it */
				const uint8_t *ql = b + n * 64 + (g & 1) * 32;
				const uint8_t *qh = b + 128 + n * 32;
				const int8_t *scales = (const int8_t *) (b + 192) + n * 8 + 2 * g;
				float		d = cu_ld_f16(b + 208);
				int			shift = g >= 2 ? 4 : 0;

				for (i = 0; i < 32; i++)
					e[i] = (((ql[i] >> shift) & 0xF) | (((qh[i] >> (2 * g)) & 3) << 4)) - 32;
				*a0 = d * (float) scales[0];
				*a1 = d * (float) scales[1];
				*b0 = *b1 = 0.0f;
				break;
			}
	}
	for (i = 0; i < 8; i++)
		q[i] = cu_pack4(e[4 * i], e[4 * i + 1], e[4 * i + 2], e[4 * i + 3]);
}

/* element i (0..31) of an unpacked block */
static __host__ __device__ __forceinline__ int
cu_q_at(const int *q, int i)
{
	return (int) (int8_t) ((q[i >> 2] >> (8 * (i & 3))) & 0xFF);
}

/* sum of the four int8 products of a and b, plus c (__dp4a on the device) */
static __host__ __device__ __forceinline__ int
cu_dp4a(int a, int b, int c)
{
#ifdef __CUDA_ARCH__
	return __dp4a(a, b, c);
#else
	for (int k = 0; k < 4; k++)
		c += (int) (int8_t) ((a >> (8 * k)) & 0xFF) * (int) (int8_t) ((b >> (8 * k)) & 0xFF);
	return c;
#endif
}

/*
 * Dot product of an unpacked weight block (q, a0, b0, a1, b1) with the
 * 8-bit activation block xb: per half, a * d * sum(q * xq) + b * s.
 */
static __host__ __device__ __forceinline__ float
cu_dot_block(const int *q, float a0, float b0, float a1, float b1, const cu_q8 *xb)
{
	const int  *xi = (const int *) xb->qs;
	int			s0 = 0,
				s1 = 0;

	for (int i = 0; i < 4; i++)
	{
		s0 = cu_dp4a(q[i], xi[i], s0);
		s1 = cu_dp4a(q[i + 4], xi[i + 4], s1);
	}
	return a0 * xb->d * (float) s0 + b0 * xb->s0 + a1 * xb->d * (float) s1 + b1 * xb->s1;
}

#endif							/* LLM_CUDA_UNPACK_CUH */
