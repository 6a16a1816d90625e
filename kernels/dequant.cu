/*
 * dequant.cu - weights to floats: rows of a weight to f16 for the
 * tensor-core products of prefill (cuBLAS reads them), embedding rows to
 * f32, and f32 activations to f16. One thread per 32-element block.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_int.h"
#include "unpack.cuh"

/* element i of a float-typed row */
static __device__ __forceinline__ float
dq_float_at(int type, const uint8_t *row, int64_t i)
{
	if (type == LLM_TYPE_F32)
		return ((const float *) row)[i];
	if (type == LLM_TYPE_F16)
		return __half2float(((const __half *) row)[i]);
	return __bfloat162float(((const __nv_bfloat16 *) row)[i]);
}

/*
 * The 32 values of block jb of row into out[0..32) (f32), times scale.
 */
static __device__ __forceinline__ void
dq_block(int type, const uint8_t *row, int64_t jb, float scale, float *out)
{
	if (cu_type_is_quant_dev(type))
	{
		int			q[8];
		float		a0,
					b0,
					a1,
					b1;

		cu_unpack32(type, row, jb, q, &a0, &b0, &a1, &b1);
		for (int i = 0; i < 16; i++)
			out[i] = (a0 * (float) cu_q_at(q, i) + b0) * scale;
		for (int i = 16; i < 32; i++)
			out[i] = (a1 * (float) cu_q_at(q, i) + b1) * scale;
		return;
	}
	for (int i = 0; i < 32; i++)
		out[i] = dq_float_at(type, row, jb * 32 + i) * scale;
}

/* rows [r0, r0 + nr) to f16 */
static __global__ void
k_dequant_f16(int type, const uint8_t *w, size_t row_bytes, int64_t ne0, int64_t r0,
			  int64_t nr, __half *out)
{
	int64_t		nb = ne0 / 32;
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
	int64_t		r = i / nb,
				jb = i % nb;
	float		v[32];

	if (r >= nr)
		return;
	dq_block(type, w + (r0 + r) * row_bytes, jb, 1.0f, v);
	for (int k = 0; k < 32; k++)
		out[r * ne0 + jb * 32 + k] = __float2half_rn(v[k]);
}

/* rows ids[] to f32 */
static __global__ void
k_get_rows(int type, const uint8_t *w, size_t row_bytes, int64_t ne0, const int32_t *ids,
		   int64_t n, float scale, float *out)
{
	int64_t		nb = ne0 / 32;
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
	int64_t		t = i / nb,
				jb = i % nb;

	if (t >= n)
		return;
	dq_block(type, w + (int64_t) ids[t] * row_bytes, jb, scale, out + t * ne0 + jb * 32);
}

/* f32 rows to f16 */
static __global__ void
k_f32_to_f16(const float *x, int64_t ldx, int64_t T, int64_t n, __half *out)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (i >= T * n)
		return;
	out[i] = __float2half_rn(x[(i / n) * ldx + i % n]);
}

/*
 * Launcher of k_dequant_f16.
 */
extern "C" cudaError_t
cu_dequant_f16(const cu_weight *w, int64_t r0, int64_t nr, uint16_t *out, cudaStream_t st)
{
	int64_t		n = nr * (w->ne0 / 32);

	if (n <= 0)
		return cudaSuccess;
	k_dequant_f16<<<(unsigned) ((n + 255) / 256), 256, 0, st>>>(w->type, (const uint8_t *) w->d,
															   w->row_bytes, w->ne0, r0, nr,
															   (__half *) out);
	return cudaGetLastError();
}

/*
 * Launcher of k_get_rows.
 */
extern "C" cudaError_t
cu_get_rows(const cu_weight *w, const int32_t *ids, int64_t n, float scale, float *out,
			cudaStream_t st)
{
	int64_t		jobs = n * (w->ne0 / 32);

	if (jobs <= 0)
		return cudaSuccess;
	k_get_rows<<<(unsigned) ((jobs + 127) / 128), 128, 0, st>>>(w->type, (const uint8_t *) w->d,
															   w->row_bytes, w->ne0, ids, n,
															   scale, out);
	return cudaGetLastError();
}

/*
 * Launcher of k_f32_to_f16.
 */
extern "C" cudaError_t
cu_f32_to_f16(const float *x, int64_t ldx, int64_t T, int64_t n, uint16_t *out, cudaStream_t st)
{
	int64_t		total = T * n;

	if (total <= 0)
		return cudaSuccess;
	k_f32_to_f16<<<(unsigned) ((total + 255) / 256), 256, 0, st>>>(x, ldx, T, n, (__half *) out);
	return cudaGetLastError();
}
