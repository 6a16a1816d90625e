/*
 * expf_check.c - every float x in [-120, -0] (the fast path covers [-104, 0])
 * through llm_avx512_expf_rows against the C library's expf: the AVX-512
 * softmax claims expf's bits (kernels_att_avx512.c). Prints the number of
 * values checked and how many differ; exits 1 on any difference.
 *
 * Build (after make engine):
 *   cc -std=gnu11 -O2 -Isrc/engine test/bench/expf_check.c -o build/expf_check \
 *      build/libllmengine.a -lpcre2-8 -lutf8proc -lm -lpthread
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels.h"

#define CHUNK 4096

/*
 * Entry point.
 */
int
main(void)
{
	static float x[CHUNK],
				got[CHUNK];
	uint32_t	lo,
				hi;
	float		f;
	long long	n = 0,
				bad = 0;

	if (!llm_cpu_has_avx512())
	{
		printf("no AVX-512 on this CPU\n");
		return 0;
	}
	/* negative floats: bits 0x80000000 (-0) up to those of -120 */
	f = -120.0f;
	memcpy(&hi, &f, sizeof(hi));
	lo = 0x80000000u;
	for (uint64_t b = lo; b <= hi; b += CHUNK)
	{
		int			m = 0;

		for (uint64_t u = b; u < b + CHUNK && u <= hi; u++)
		{
			uint32_t	v = (uint32_t) u;

			memcpy(&x[m++], &v, sizeof(float));
		}
		llm_avx512_expf_rows(m, x, got);
		for (int i = 0; i < m; i++)
		{
			float		want = expf(x[i]);

			if (memcmp(&want, &got[i], sizeof(float)) != 0)
			{
				if (bad < 10)
					printf("differs: x = %a, expf %a, got %a\n", x[i], want, got[i]);
				bad++;
			}
		}
		n += m;
	}
	printf("%lld values in [-120, -0], %lld differ from expf\n", n, bad);
	return bad != 0;
}
