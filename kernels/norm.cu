/*
 * norm.cu - RMSNorm (one block per row, the sum of squares reduced in
 * float over the block) and the residual / bias additions.
 */
#include "cuda_int.h"

#define NORM_THREADS 256

/* out = x / rms(x) * w for one row per block */
static __global__ void
k_rmsnorm(const float *x, int64_t ldx, const float *w, int64_t n, float eps, float *out,
		  int64_t ldo)
{
	__shared__ float part[NORM_THREADS / 32];
	const float *xr = x + blockIdx.x * ldx;
	float	   *orow = out + blockIdx.x * ldo;
	float		ss = 0.0f,
				scale;

	for (int64_t i = threadIdx.x; i < n; i += NORM_THREADS)
		ss += xr[i] * xr[i];
	for (int o = 16; o > 0; o >>= 1)
		ss += __shfl_xor_sync(0xffffffffu, ss, o);
	if (threadIdx.x % 32 == 0)
		part[threadIdx.x / 32] = ss;
	__syncthreads();
	ss = 0.0f;
	for (int i = 0; i < NORM_THREADS / 32; i++)
		ss += part[i];
	scale = rsqrtf(ss / (float) n + eps);
	/* every thread has read part[] before anyone writes out (out may be x) */
	for (int64_t i = threadIdx.x; i < n; i += NORM_THREADS)
		orow[i] = xr[i] * scale * w[i];
}

/* x += y */
static __global__ void
k_add(float *x, const float *y, int64_t n)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		x[i] += y[i];
}

/* x[t][j] += b[j] */
static __global__ void
k_add_bias(float *x, const float *b, int64_t total, int64_t n)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (i < total)
		x[i] += b[i % n];
}

/*
 * Whether this module's code runs on the current device: the attributes
 * of one of its kernels can only be read when an image (SASS for its
 * architecture, or PTX the driver can compile) is there.
 */
extern "C" cudaError_t
cu_probe(void)
{
	struct cudaFuncAttributes attr;

	return cudaFuncGetAttributes(&attr, k_add);
}

/*
 * Launcher of k_rmsnorm: one block per row.
 */
extern "C" cudaError_t
cu_rmsnorm(const float *x, int64_t ldx, const float *w, int64_t rows, int64_t n, float eps,
		   float *out, int64_t ldo, cudaStream_t st)
{
	if (rows <= 0)
		return cudaSuccess;
	k_rmsnorm<<<(unsigned) rows, NORM_THREADS, 0, st>>>(x, ldx, w, n, eps, out, ldo);
	return cudaGetLastError();
}

/*
 * Launcher of k_add.
 */
extern "C" cudaError_t
cu_add(float *x, const float *y, int64_t n, cudaStream_t st)
{
	if (n <= 0)
		return cudaSuccess;
	k_add<<<(unsigned) ((n + 255) / 256), 256, 0, st>>>(x, y, n);
	return cudaGetLastError();
}

/*
 * Launcher of k_add_bias.
 */
extern "C" cudaError_t
cu_add_bias(float *x, const float *b, int64_t T, int64_t n, cudaStream_t st)
{
	int64_t		total = T * n;

	if (total <= 0)
		return cudaSuccess;
	k_add_bias<<<(unsigned) ((total + 255) / 256), 256, 0, st>>>(x, b, total, n);
	return cudaGetLastError();
}
