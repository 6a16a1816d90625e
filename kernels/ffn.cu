/*
 * ffn.cu - the gated activations of the feed-forward block: SwiGLU
 * (silu(g) * u) and GeGLU (gelu(g) * u, GELU in its tanh form).
 */
#include "cuda_int.h"

/* g = act(g) * u */
static __global__ void
k_glu(float *g, const float *u, int64_t n, int geglu)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
	float		x;

	if (i >= n)
		return;
	x = g[i];
	if (geglu)
		x = 0.5f * x * (1.0f + tanhf(0.7978845608f * x * (1.0f + 0.044715f * x * x)));
	else
		x = x / (1.0f + expf(-x));
	g[i] = x * u[i];
}

/*
 * Launcher of k_glu.
 */
extern "C" cudaError_t
cu_glu(float *g, const float *u, int64_t n, int geglu, cudaStream_t st)
{
	if (n <= 0)
		return cudaSuccess;
	k_glu<<<(unsigned) ((n + 255) / 256), 256, 0, st>>>(g, u, n, geglu);
	return cudaGetLastError();
}
