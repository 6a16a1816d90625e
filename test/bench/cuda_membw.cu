/*
 * cuda_membw.cu - device memory bandwidth, the ceiling that decode speed is
 * measured against (scripts/device-check.sh).
 *
 *   cuda_membw [MiB]      (default 2048 per buffer; at least 64)
 *
 * Three measurements over buffers many times the L2 cache, each the median
 * of 20 timed runs (CUDA events) after 3 warm-ups, on random data:
 *   read    a kernel reading the buffer with 16-byte loads (grid-stride,
 *           several loads in flight per thread), one word written per block
 *           so that the loads cannot be dropped; bytes = the buffer
 *   copy    a kernel copying one buffer to another with 16-byte accesses;
 *           bytes = read + written = 2 x the buffer
 *   memcpy  cudaMemcpy device to device, counted the same way as copy
 * Prints one JSON line: {"device":..,"mib":..,"read_gbs":..,"copy_gbs":..,
 * "memcpy_gbs":..} (GB = 1e9 bytes). Every CUDA call is checked; exit 1 on
 * any error (no device: "no CUDA device").
 */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
	fprintf(stderr, "cuda_membw: %s: %s\n", #x, cudaGetErrorString(e_)); exit(1); } } while (0)

#define UNROLL 4

/*
 * Read n16 16-byte words; each block writes the XOR of what it read.
 */
__global__ void
read_kernel(const uint4 *__restrict__ src, size_t n16, uint32_t *__restrict__ sink)
{
	size_t		stride = (size_t) gridDim.x * blockDim.x;
	size_t		i = (size_t) blockIdx.x * blockDim.x + threadIdx.x;
	uint32_t	acc = 0;

	for (; i + (UNROLL - 1) * stride < n16; i += UNROLL * stride)
	{
		uint4		v[UNROLL];

#pragma unroll
		for (int u = 0; u < UNROLL; u++)
			v[u] = __ldcs(&src[i + u * stride]);
#pragma unroll
		for (int u = 0; u < UNROLL; u++)
			acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
	}
	for (; i < n16; i += stride)
	{
		uint4		v = __ldcs(&src[i]);

		acc ^= v.x ^ v.y ^ v.z ^ v.w;
	}
	/* reduce in the warp, then one atomic per warp */
	for (int o = 16; o > 0; o >>= 1)
		acc ^= __shfl_xor_sync(0xffffffffu, acc, o);
	if ((threadIdx.x & 31) == 0)
		atomicXor(&sink[blockIdx.x], acc);
}

/*
 * Copy n16 16-byte words from src to dst.
 */
__global__ void
copy_kernel(const uint4 *__restrict__ src, uint4 *__restrict__ dst, size_t n16)
{
	size_t		stride = (size_t) gridDim.x * blockDim.x;
	size_t		i = (size_t) blockIdx.x * blockDim.x + threadIdx.x;

	for (; i + (UNROLL - 1) * stride < n16; i += UNROLL * stride)
	{
		uint4		v[UNROLL];

#pragma unroll
		for (int u = 0; u < UNROLL; u++)
			v[u] = __ldcs(&src[i + u * stride]);
#pragma unroll
		for (int u = 0; u < UNROLL; u++)
			__stcs(&dst[i + u * stride], v[u]);
	}
	for (; i < n16; i += stride)
		__stcs(&dst[i], __ldcs(&src[i]));
}

/*
 * Fill n 32-bit words with a xorshift sequence (not zeros: see METHOD.md).
 */
__global__ void
fill_kernel(uint32_t *p, size_t n, uint32_t seed)
{
	size_t		stride = (size_t) gridDim.x * blockDim.x;

	for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
	{
		uint32_t	x = (uint32_t) i * 2654435761u ^ seed;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = x;
	}
}

/*
 * qsort comparator of floats.
 */
static int
cmp_float(const void *a, const void *b)
{
	float		x = *(const float *) a,
				y = *(const float *) b;

	return x < y ? -1 : x > y;
}

enum { WARM = 3, REPS = 20 };

/*
 * Time one measurement (0 read, 1 copy, 2 memcpy): median milliseconds.
 */
static float
time_it(int what, const uint4 *a, uint4 *b, size_t bytes, uint32_t *sink,
		int grid, int block)
{
	cudaEvent_t e0, e1;
	float		ms[REPS];

	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	for (int r = -WARM; r < REPS; r++)
	{
		CK(cudaEventRecord(e0));
		if (what == 0)
			read_kernel<<<grid, block>>>(a, bytes / 16, sink);
		else if (what == 1)
			copy_kernel<<<grid, block>>>(a, b, bytes / 16);
		else
			CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
		CK(cudaGetLastError());
		CK(cudaEventRecord(e1));
		CK(cudaEventSynchronize(e1));
		if (r >= 0)
			CK(cudaEventElapsedTime(&ms[r], e0, e1));
	}
	CK(cudaEventDestroy(e0));
	CK(cudaEventDestroy(e1));
	qsort(ms, REPS, sizeof(float), cmp_float);
	return ms[REPS / 2];
}

int
main(int argc, char **argv)
{
	long		mib = argc > 1 ? strtol(argv[1], NULL, 10) : 2048;
	int			ndev = 0,
				block = 256,
				grid;
	cudaDeviceProp prop;
	size_t		bytes;
	uint4	   *a,
			   *b;
	uint32_t   *sink;
	float		t_read,
				t_copy,
				t_memcpy;
	cudaError_t e = cudaGetDeviceCount(&ndev);

	if (mib < 64 || mib > (1L << 20))
	{
		fprintf(stderr, "usage: cuda_membw [MiB per buffer, 64 .. 1048576]\n");
		return 2;
	}
	if (e != cudaSuccess || ndev == 0)
	{
		fprintf(stderr, "cuda_membw: no CUDA device (%s)\n",
				e != cudaSuccess ? cudaGetErrorString(e) : "none found");
		return 1;
	}
	CK(cudaGetDeviceProperties(&prop, 0));
	bytes = (size_t) mib << 20;
	grid = prop.multiProcessorCount * 8;
	CK(cudaMalloc((void **) &a, bytes));
	CK(cudaMalloc((void **) &b, bytes));
	CK(cudaMalloc((void **) &sink, sizeof(uint32_t) * (size_t) grid));
	CK(cudaMemset(sink, 0, sizeof(uint32_t) * (size_t) grid));
	fill_kernel<<<grid, block>>>((uint32_t *) a, bytes / 4, 12345u);
	CK(cudaGetLastError());
	fill_kernel<<<grid, block>>>((uint32_t *) b, bytes / 4, 777u);
	CK(cudaGetLastError());
	CK(cudaDeviceSynchronize());

	t_read = time_it(0, a, b, bytes, sink, grid, block);
	t_copy = time_it(1, a, b, bytes, sink, grid, block);
	t_memcpy = time_it(2, a, b, bytes, sink, grid, block);

	printf("{\"device\":\"%s\",\"sm\":%d,\"l2_mib\":%.1f,\"mib\":%ld,"
		   "\"read_gbs\":%.1f,\"copy_gbs\":%.1f,\"memcpy_gbs\":%.1f}\n",
		   prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1048576.0, mib,
		   bytes / (t_read * 1e6), 2.0 * bytes / (t_copy * 1e6),
		   2.0 * bytes / (t_memcpy * 1e6));
	CK(cudaFree(a));
	CK(cudaFree(b));
	CK(cudaFree(sink));
	return 0;
}
