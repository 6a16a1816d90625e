/*
 * quant_mv.cu - decode-time matrix-vector products: activations quantized
 * to 8 bits once per step (cu_quantize_q8), then quantized weight rows
 * dotted with them four elements at a time with __dp4a; f16, bf16 and f32
 * weights are dotted with the f32 input. One warp per weight row computes
 * that row for up to CU_MV_MAX_T tokens, so each weight byte is read once
 * per launch whatever the batch.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_int.h"
#include "unpack.cuh"

#define MV_WARPS 4

/*
 * One warp per 32-element block of one row: the block's scale, its 8-bit
 * values and the scaled sums of each half.
 */
static __global__ void
k_quantize_q8(const float *x, int64_t ldx, int64_t n, cu_q8 *xq)
{
	int64_t		t = blockIdx.y;
	int64_t		jb = (int64_t) blockIdx.x * MV_WARPS + threadIdx.x / 32;
	int			lane = threadIdx.x % 32;
	int64_t		nb = n / 32;
	float		v,
				amax,
				d;
	int			q,
				s;

	if (jb >= nb)
		return;
	v = x[t * ldx + jb * 32 + lane];
	amax = fabsf(v);
	for (int o = 16; o > 0; o >>= 1)
		amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
	d = amax / 127.0f;
	q = d > 0.0f ? __float2int_rn(v / d) : 0;
	s = q;
	/* sums within each half (lanes 0..15 and 16..31) */
	for (int o = 8; o > 0; o >>= 1)
		s += __shfl_xor_sync(0xffffffffu, s, o);
	{
		cu_q8	   *b = xq + t * nb + jb;

		b->qs[lane] = (int8_t) q;
		if (lane == 0)
		{
			b->d = d;
			b->s0 = d * (float) s;
			b->pad = 0.0f;
		}
		if (lane == 16)
			b->s1 = d * (float) s;
	}
}

/*
 * Quantized rows against NT q8 inputs: lane l takes blocks l, l + 32, ...
 * of the row; the warp then sums its lanes.
 */
template <int NT>
static __global__ void
k_matvec_q(int type, const uint8_t *w, size_t row_bytes, int64_t rows, int64_t nb,
		   const cu_q8 *xq, float *y, int64_t ldy)
{
	int64_t		r = (int64_t) blockIdx.x * MV_WARPS + threadIdx.x / 32;
	int			lane = threadIdx.x % 32;
	float		acc[NT];

	if (r >= rows)
		return;
	for (int t = 0; t < NT; t++)
		acc[t] = 0.0f;
	for (int64_t jb = lane; jb < nb; jb += 32)
	{
		int			q[8];
		float		a0,
					b0,
					a1,
					b1;

		cu_unpack32(type, w + r * row_bytes, jb, q, &a0, &b0, &a1, &b1);
		for (int t = 0; t < NT; t++)
			acc[t] += cu_dot_block(q, a0, b0, a1, b1, xq + t * nb + jb);
	}
	for (int t = 0; t < NT; t++)
	{
		float		v = acc[t];

		for (int o = 16; o > 0; o >>= 1)
			v += __shfl_xor_sync(0xffffffffu, v, o);
		if (lane == 0)
			y[t * ldy + r] = v;
	}
}

/* element i of a float-typed row */
static __device__ __forceinline__ float
cu_float_at(int type, const void *row, int64_t i)
{
	if (type == LLM_TYPE_F32)
		return ((const float *) row)[i];
	if (type == LLM_TYPE_F16)
		return __half2float(((const __half *) row)[i]);
	return __bfloat162float(((const __nv_bfloat16 *) row)[i]);
}

/*
 * f32 / f16 / bf16 rows against NT f32 inputs (rows ldx floats apart).
 */
template <int NT>
static __global__ void
k_matvec_f(int type, const uint8_t *w, size_t row_bytes, int64_t rows, int64_t n,
		   const float *x, int64_t ldx, float *y, int64_t ldy)
{
	int64_t		r = (int64_t) blockIdx.x * MV_WARPS + threadIdx.x / 32;
	int			lane = threadIdx.x % 32;
	float		acc[NT];

	if (r >= rows)
		return;
	for (int t = 0; t < NT; t++)
		acc[t] = 0.0f;
	for (int64_t i = lane; i < n; i += 32)
	{
		float		wv = cu_float_at(type, w + r * row_bytes, i);

		for (int t = 0; t < NT; t++)
			acc[t] += wv * x[t * ldx + i];
	}
	for (int t = 0; t < NT; t++)
	{
		float		v = acc[t];

		for (int o = 16; o > 0; o >>= 1)
			v += __shfl_xor_sync(0xffffffffu, v, o);
		if (lane == 0)
			y[t * ldy + r] = v;
	}
}

extern "C" int
cu_type_is_quant(int type)
{
	switch (type)
	{
		case LLM_TYPE_Q4_0:
		case LLM_TYPE_Q4_1:
		case LLM_TYPE_Q5_0:
		case LLM_TYPE_Q5_1:
		case LLM_TYPE_Q8_0:
		case LLM_TYPE_Q4_K:
		case LLM_TYPE_Q5_K:
		case LLM_TYPE_Q6_K:
			return 1;
		default:
			return 0;
	}
}

extern "C" int
cu_type_supported(int type)
{
	return cu_type_is_quant(type) || type == LLM_TYPE_F32 || type == LLM_TYPE_F16 ||
		type == LLM_TYPE_BF16;
}

/*
 * Launcher of k_quantize_q8 over T rows.
 */
extern "C" cudaError_t
cu_quantize_q8(const float *x, int64_t ldx, int64_t T, int64_t n, cu_q8 *xq, cudaStream_t st)
{
	dim3		grid((unsigned) ((n / 32 + MV_WARPS - 1) / MV_WARPS), (unsigned) T);

	if (T <= 0)
		return cudaSuccess;
	k_quantize_q8<<<grid, 32 * MV_WARPS, 0, st>>>(x, ldx, n, xq);
	return cudaGetLastError();
}

/*
 * One launch of NT tokens for weight w.
 */
template <int NT>
static void
mv_launch(const cu_weight *w, const cu_q8 *xq, const float *x, int64_t ldx, float *y,
		  int64_t ldy, cudaStream_t st)
{
	unsigned	blocks = (unsigned) ((w->ne1 + MV_WARPS - 1) / MV_WARPS);

	if (cu_type_is_quant(w->type))
		k_matvec_q<NT><<<blocks, 32 * MV_WARPS, 0, st>>>(w->type, (const uint8_t *) w->d,
														 w->row_bytes, w->ne1, w->ne0 / 32,
														 xq, y, ldy);
	else
		k_matvec_f<NT><<<blocks, 32 * MV_WARPS, 0, st>>>(w->type, (const uint8_t *) w->d,
														 w->row_bytes, w->ne1, w->ne0, x,
														 ldx, y, ldy);
}

/*
 * Launcher: chunks of up to CU_MV_MAX_T tokens.
 */
extern "C" cudaError_t
cu_matvec(const cu_weight *w, const cu_q8 *xq, const float *x, int64_t ldx, int64_t T,
		  float *y, int64_t ldy, cudaStream_t st)
{
	int64_t		nb = w->ne0 / 32;

	for (int64_t t0 = 0; t0 < T; t0 += CU_MV_MAX_T)
	{
		int64_t		nt = T - t0 < CU_MV_MAX_T ? T - t0 : CU_MV_MAX_T;
		const cu_q8 *xqt = xq ? xq + t0 * nb : NULL;
		const float *xt = x ? x + t0 * ldx : NULL;
		float	   *yt = y + t0 * ldy;
		cudaError_t rc;

		switch (nt)
		{
			case 1: mv_launch<1>(w, xqt, xt, ldx, yt, ldy, st); break;
			case 2: mv_launch<2>(w, xqt, xt, ldx, yt, ldy, st); break;
			case 3: mv_launch<3>(w, xqt, xt, ldx, yt, ldy, st); break;
			case 4: mv_launch<4>(w, xqt, xt, ldx, yt, ldy, st); break;
			case 5: mv_launch<5>(w, xqt, xt, ldx, yt, ldy, st); break;
			case 6: mv_launch<6>(w, xqt, xt, ldx, yt, ldy, st); break;
			case 7: mv_launch<7>(w, xqt, xt, ldx, yt, ldy, st); break;
			default: mv_launch<8>(w, xqt, xt, ldx, yt, ldy, st); break;
		}
		rc = cudaGetLastError();
		if (rc != cudaSuccess)
			return rc;
	}
	return cudaSuccess;
}
