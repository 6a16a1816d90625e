/*
 * attention.cu - causal attention of every token over its own sequence's
 * f16 KV cache (each token attends to positions 0..pos[t]; sequences of
 * any lengths share one launch). One block per (token, head): its warps
 * take positions in turn with an online softmax (running maximum and
 * sum), then the warps' partial results are merged: flash-decoding's
 * scheme inside one block.
 */
#include <cuda_fp16.h>
#include <math.h>

#include "cuda_int.h"

#define ATT_WARPS 4
#define ATT_MAX_D 256			/* head sizes up to this (8 values per lane) */

/* one block per (token, head) */
static __global__ void
k_attention(const float *q, const int32_t *pos, const __half *const *kv, const int32_t *cap,
			int layer, int n_head, int n_head_kv, int D, float scale, float *out)
{
	__shared__ float s_m[ATT_WARPS],
				s_l[ATT_WARPS];
	__shared__ float s_acc[ATT_WARPS][ATT_MAX_D];
	int64_t		t = blockIdx.x / n_head;
	int			h = blockIdx.x % n_head;
	int			kvh = h / (n_head / n_head_kv);
	int			warp = threadIdx.x / 32,
				lane = threadIdx.x % 32;
	int64_t		KVD = (int64_t) n_head_kv * D;
	const __half *K = kv[t] + (int64_t) (2 * layer) * cap[t] * KVD + (int64_t) kvh * D;
	const __half *V = kv[t] + (int64_t) (2 * layer + 1) * cap[t] * KVD + (int64_t) kvh * D;
	const float *qh = q + t * (int64_t) n_head * D + (int64_t) h * D;
	int			n = pos[t] + 1;
	float		qv[ATT_MAX_D / 32],
				acc[ATT_MAX_D / 32];
	float		m = -INFINITY,
				l = 0.0f;
	int			per = (D + 31) / 32;

	for (int i = 0; i < per; i++)
	{
		int			d = lane + 32 * i;

		qv[i] = d < D ? qh[d] * scale : 0.0f;
		acc[i] = 0.0f;
	}
	for (int p = warp; p < n; p += ATT_WARPS)
	{
		const __half *kp = K + (int64_t) p * KVD;
		const __half *vp = V + (int64_t) p * KVD;
		float		s = 0.0f,
					mn,
					corr,
					e;

		for (int i = 0; i < per; i++)
		{
			int			d = lane + 32 * i;

			if (d < D)
				s += qv[i] * __half2float(kp[d]);
		}
		for (int o = 16; o > 0; o >>= 1)
			s += __shfl_xor_sync(0xffffffffu, s, o);
		mn = fmaxf(m, s);
		corr = expf(m - mn);
		e = expf(s - mn);
		l = l * corr + e;
		for (int i = 0; i < per; i++)
		{
			int			d = lane + 32 * i;

			acc[i] = acc[i] * corr + (d < D ? e * __half2float(vp[d]) : 0.0f);
		}
		m = mn;
	}
	if (lane == 0)
	{
		s_m[warp] = m;
		s_l[warp] = l;
	}
	for (int i = 0; i < per; i++)
	{
		int			d = lane + 32 * i;

		if (d < D)
			s_acc[warp][d] = acc[i];
	}
	__syncthreads();
	if (warp == 0)
	{
		float		M = -INFINITY,
					L = 0.0f;

		for (int w = 0; w < ATT_WARPS; w++)
			M = fmaxf(M, s_m[w]);
		for (int w = 0; w < ATT_WARPS; w++)
			if (s_l[w] > 0.0f)
				L += s_l[w] * expf(s_m[w] - M);
		for (int i = 0; i < per; i++)
		{
			int			d = lane + 32 * i;
			float		v = 0.0f;

			if (d >= D)
				continue;
			for (int w = 0; w < ATT_WARPS; w++)
				if (s_l[w] > 0.0f)
					v += s_acc[w][d] * expf(s_m[w] - M);
			out[t * (int64_t) n_head * D + (int64_t) h * D + d] = v / L;
		}
	}
}

/*
 * Launcher of k_attention: T x n_head blocks. Head sizes above ATT_MAX_D
 * are refused (cudaErrorInvalidValue; the backend checks at attach).
 */
extern "C" cudaError_t
cu_attention(const float *q, int64_t T, const int32_t *pos, uint16_t *const *kv,
			 const int32_t *cap, int layer, int n_head, int n_head_kv, int D, float scale,
			 float *out, cudaStream_t st)
{
	if (D > ATT_MAX_D || n_head % n_head_kv != 0)
		return cudaErrorInvalidValue;
	if (T <= 0)
		return cudaSuccess;
	k_attention<<<(unsigned) (T * n_head), 32 * ATT_WARPS, 0, st>>>(q, pos,
																	(const __half *const *) kv,
																	cap, layer, n_head, n_head_kv,
																	D, scale, out);
	return cudaGetLastError();
}
