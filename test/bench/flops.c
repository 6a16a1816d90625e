/*
 * flops.c - measure this machine's peak float multiply-add throughput
 * (AVX2 FMA, 12 independent 8-lane chains per thread), the compute
 * ceiling used by the benchmark reports.
 *
 *   flops [THREADS]      prints "threads N gflops G"
 *
 * Build: cc -O2 -mavx2 -mfma -pthread test/bench/flops.c -o flops
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 200000000L

/*
 * One thread: ITERS / 12 rounds of 12 FMAs on 8 lanes.
 */
static void *
flops_thread(void *arg)
{
	__m256		a[12];
	__m256		x = _mm256_set1_ps(0.999999f),
				y = _mm256_set1_ps(1e-7f);
	float	   *sink = arg;

	for (int i = 0; i < 12; i++)
		a[i] = _mm256_set1_ps((float) i);
	for (long n = 0; n < ITERS / 12; n++)
#pragma GCC unroll 12
		for (int i = 0; i < 12; i++)
			a[i] = _mm256_fmadd_ps(a[i], x, y);
	for (int i = 1; i < 12; i++)
		a[0] = _mm256_add_ps(a[0], a[i]);
	*sink = _mm256_cvtss_f32(a[0]);
	return NULL;
}

/*
 * Entry point.
 */
int
main(int argc, char **argv)
{
	int			nt = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t  *th = calloc(nt, sizeof(pthread_t));
	float	   *sink = calloc(nt, sizeof(float));
	struct timespec t0,
				t1;
	double		s;

	if (nt < 1 || !th || !sink)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nt; i++)
		pthread_create(&th[i], NULL, flops_thread, &sink[i]);
	for (int i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
	printf("threads %d gflops %.1f\n", nt, (double) nt * (ITERS / 12) * 12 * 8 * 2 / s / 1e9);
	return sink[0] == 12345.0f;
}
