/*
 * rope.cu - rotary position embedding of q and k at each token's own
 * position, and the store of k and v into the token's f16 KV cache.
 */
#include <cuda_fp16.h>

#include "cuda_int.h"

/*
 * One block per token: threads take (head, pair) jobs of q and k, then
 * copy k and v into the cache row.
 */
static __global__ void
k_rope_store(float *q, float *k, const float *v, const int32_t *pos, cu_rope_params p,
			 __half *const *kv, const int32_t *cap, int layer)
{
	int64_t		t = blockIdx.x;
	int			D = p.head_dim,
				half = p.n_rot / 2;
	int64_t		Q = (int64_t) p.n_head * D,
				KVD = (int64_t) p.n_head_kv * D;
	float	   *qt = q + t * Q,
			   *kt = k + t * KVD;
	float		ps = (float) pos[t] * p.freq_scale;
	int			jobs = (p.n_head + p.n_head_kv) * half;

	for (int j = threadIdx.x; j < jobs; j += blockDim.x)
	{
		int			h = j / half,
					i = j % half;
		float	   *vec = h < p.n_head ? qt + (int64_t) h * D : kt + (int64_t) (h - p.n_head) * D;
		float		theta = ps * powf(p.theta_base, -2.0f * (float) i / (float) p.n_rot);
		float		c,
					s,
					x0,
					x1;
		int			a = p.neox ? i : 2 * i,
					b = p.neox ? i + half : 2 * i + 1;

		if (p.freqs)
			theta /= p.freqs[i];
		sincosf(theta, &s, &c);
		x0 = vec[a];
		x1 = vec[b];
		vec[a] = x0 * c - x1 * s;
		vec[b] = x0 * s + x1 * c;
	}
	__syncthreads();
	{
		__half	   *kc = kv[t] + (int64_t) (2 * layer) * cap[t] * KVD + (int64_t) pos[t] * KVD;
		__half	   *vc = kv[t] + (int64_t) (2 * layer + 1) * cap[t] * KVD + (int64_t) pos[t] * KVD;

		for (int64_t j = threadIdx.x; j < KVD; j += blockDim.x)
		{
			kc[j] = __float2half_rn(kt[j]);
			vc[j] = __float2half_rn(v[t * KVD + j]);
		}
	}
}

/*
 * Launcher of k_rope_store: one block per token.
 */
extern "C" cudaError_t
cu_rope_store(float *q, float *k, const float *v, int64_t T, const int32_t *pos,
			  const cu_rope_params *p, uint16_t *const *kv, const int32_t *cap, int layer,
			  cudaStream_t st)
{
	if (T <= 0)
		return cudaSuccess;
	k_rope_store<<<(unsigned) T, 128, 0, st>>>(q, k, v, pos, *p, (__half *const *) kv, cap,
											   layer);
	return cudaGetLastError();
}
