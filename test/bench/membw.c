/*
 * membw.c - streaming-read memory bandwidth probe for test/bench/bench.sh.
 *
 * Usage: membw [-t THREADS] [-m MIB] [-r PASSES]
 *
 * Allocates one buffer of MIB mebibytes (default 512, far larger than any
 * cache), touches it so every page is resident, then runs PASSES timed
 * passes in which THREADS threads each sum their own contiguous slice.
 * Prints the best pass as decimal gigabytes per second on one line:
 *
 *   membw threads=2 mib=512 gbps=21.84
 *
 * The summing loop keeps eight independent 64-bit accumulators so the
 * compiler can vectorise it and the loads, not the adds, are the limit; the
 * result is printed so the loop cannot be optimised away.  Build with
 *   gcc -O3 -march=native -pthread test/bench/membw.c -o membw
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEMBW_MAX_THREADS 256

typedef struct membw_job
{
	const uint64_t *base;		/* start of this thread's slice */
	size_t		n;				/* number of uint64_t words in the slice */
	pthread_barrier_t *start;	/* all threads begin together */
	uint64_t	sum;			/* result, kept so the reads are not dead */
} membw_job;

/*
 * Return a monotonic time stamp in seconds.
 */
static double
membw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/*
 * Sum n words starting at p with eight independent accumulators.
 */
static uint64_t
membw_sum(const uint64_t *p, size_t n)
{
	uint64_t	a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		a0 += p[i + 0];
		a1 += p[i + 1];
		a2 += p[i + 2];
		a3 += p[i + 3];
		a4 += p[i + 4];
		a5 += p[i + 5];
		a6 += p[i + 6];
		a7 += p[i + 7];
	}
	for (; i < n; i++)
		a0 += p[i];
	return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

/*
 * Thread body: wait at the barrier, then read the slice once.
 */
static void *
membw_worker(void *arg)
{
	membw_job  *job = arg;

	pthread_barrier_wait(job->start);
	job->sum = membw_sum(job->base, job->n);
	return NULL;
}

/*
 * Run one timed pass over the buffer with nthreads threads and return the
 * elapsed seconds (the program exits if a thread cannot be started).
 */
static double
membw_pass(const uint64_t *buf, size_t words, int nthreads, uint64_t *sink)
{
	pthread_t	tid[MEMBW_MAX_THREADS];
	membw_job	job[MEMBW_MAX_THREADS];
	pthread_barrier_t start;
	size_t		per = words / (size_t) nthreads;
	double		t0, t1;
	int			started = 0;

	pthread_barrier_init(&start, NULL, (unsigned) nthreads + 1);
	for (int i = 0; i < nthreads; i++)
	{
		job[i].base = buf + (size_t) i * per;
		job[i].n = (i == nthreads - 1) ? words - (size_t) i * per : per;
		job[i].start = &start;
		job[i].sum = 0;
		if (pthread_create(&tid[i], NULL, membw_worker, &job[i]) != 0)
			break;
		started++;
	}
	if (started != nthreads)
	{
		/* The started threads wait at the barrier forever; just quit. */
		fprintf(stderr, "membw: pthread_create failed\n");
		exit(1);
	}
	pthread_barrier_wait(&start);
	t0 = membw_now();
	for (int i = 0; i < nthreads; i++)
	{
		pthread_join(tid[i], NULL);
		*sink += job[i].sum;
	}
	t1 = membw_now();
	pthread_barrier_destroy(&start);
	return t1 - t0;
}

/*
 * Parse options, allocate and fill the buffer, time the passes, print.
 */
int
main(int argc, char **argv)
{
	int			nthreads = 1;
	long		mib = 512;
	int			passes = 7;
	uint64_t   *buf;
	size_t		bytes, words;
	double		best = 1e30;
	uint64_t	sink = 0;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
			mib = atol(argv[++i]);
		else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
			passes = atoi(argv[++i]);
		else
		{
			fprintf(stderr, "usage: membw [-t THREADS] [-m MIB] [-r PASSES]\n");
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > MEMBW_MAX_THREADS || mib < 16 ||
		mib > 65536 || passes < 1 || passes > 1000)
	{
		fprintf(stderr, "membw: argument out of range\n");
		return 2;
	}

	bytes = (size_t) mib << 20;
	words = bytes / sizeof(uint64_t);
	if (posix_memalign((void **) &buf, 4096, bytes) != 0)
	{
		fprintf(stderr, "membw: cannot allocate %ld MiB\n", mib);
		return 1;
	}
	for (size_t i = 0; i < words; i++)
		buf[i] = i * 0x9E3779B97F4A7C15ull;

	/* One untimed pass to settle clocks and page tables. */
	(void) membw_pass(buf, words, nthreads, &sink);
	for (int p = 0; p < passes; p++)
	{
		double		dt = membw_pass(buf, words, nthreads, &sink);

		if (dt > 0 && dt < best)
			best = dt;
	}
	printf("membw threads=%d mib=%ld gbps=%.2f sink=%llu\n", nthreads, mib,
		   (double) bytes / best / 1e9, (unsigned long long) (sink & 0xff));
	free(buf);
	return 0;
}
