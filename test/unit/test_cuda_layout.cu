/*
 * test_cuda_layout.cu - the CUDA kernels' block arithmetic, on the host
 * (built with nvcc when it is found; no GPU needed). kernels/unpack.cuh
 * is compiled for the host too, so the same code the kernels run is
 * checked here against the CPU reference (src/engine, scalar kernels):
 *   - cu_unpack32 of every block of a random row of each quantized type
 *     (q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K) gives the CPU's
 *     to_float values: |unpacked - to_float| <= 1e-6 * max|x|;
 *   - cu_dot_block (what k_matvec_q sums, with __dp4a emulated) of that
 *     row with an 8-bit quantized input, as k_quantize_q8 makes it,
 *     against the double dot of to_float(w) and the f32 input:
 *     |dot - ref| <= 2e-3 * sum|w x| (the bound test_cuda.c uses on the
 *     GPU);
 *   - the 8-bit input: every value within d/2 of the input, and s0, s1
 *     equal to d times the sums of each half.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern "C"
{
#include "kernels.h"
}
#include "tap.h"
#include "unpack.cuh"

#define N 512

static const int types[8] = {
	LLM_TYPE_Q4_0, LLM_TYPE_Q4_1, LLM_TYPE_Q5_0, LLM_TYPE_Q5_1, LLM_TYPE_Q8_0,
	LLM_TYPE_Q4_K, LLM_TYPE_Q5_K, LLM_TYPE_Q6_K
};

static unsigned long long rng = 12345;

/* uniform in [-1, 1) */
static float
frand(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (float) ((double) (rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/*
 * x to 8-bit blocks as k_quantize_q8 does: d = max|x| / 127, q rounded to
 * nearest even, s0 / s1 = d * sums of each half.
 */
static void
quantize(const float *x, int n, cu_q8 *out)
{
	for (int b = 0; b < n / 32; b++)
	{
		float		amax = 0.0f,
					d;
		int			s0 = 0,
					s1 = 0;

		for (int i = 0; i < 32; i++)
			amax = fmaxf(amax, fabsf(x[b * 32 + i]));
		d = amax / 127.0f;
		for (int i = 0; i < 32; i++)
		{
			int			q = d > 0.0f ? (int) nearbyintf(x[b * 32 + i] / d) : 0;

			out[b].qs[i] = (int8_t) q;
			if (i < 16)
				s0 += q;
			else
				s1 += q;
		}
		out[b].d = d;
		out[b].s0 = d * (float) s0;
		out[b].s1 = d * (float) s1;
		out[b].pad = 0.0f;
	}
}

int
main(void)
{
	llm_kernels k;
	float		x[N],
				wf[N],
				a[N];
	cu_q8		xq[N / 32];
	double		worst = 0.0;
	bool		sums = true;

	tap_plan(2 * 8 + 1);
	llm_kernels_init_scalar(&k);
	for (int i = 0; i < N; i++)
		a[i] = frand();
	quantize(a, N, xq);
	for (int b = 0; b < N / 32; b++)
	{
		int			s0 = 0,
					s1 = 0;

		for (int i = 0; i < 32; i++)
		{
			double		e = fabs(xq[b].d * xq[b].qs[i] - a[b * 32 + i]);

			if (e / (xq[b].d + 1e-30) > worst)
				worst = e / (xq[b].d + 1e-30);
			(i < 16 ? s0 : s1) += xq[b].qs[i];
		}
		sums &= xq[b].s0 == xq[b].d * (float) s0 && xq[b].s1 == xq[b].d * (float) s1;
	}
	ok(worst <= 0.5 + 1e-6 && sums, "8-bit input: worst error %.3f d (bound 0.5 d), half sums %s",
	   worst, sums ? "exact" : "wrong");
	for (int ti = 0; ti < 8; ti++)
	{
		int			t = types[ti];
		size_t		rb = llm_row_size((llm_type) t, N);
		unsigned char *w = (unsigned char *) malloc(rb);
		double		wu = 0.0,
					mx = 0.0,
					dot = 0.0,
					ref = 0.0,
					mag = 0.0;

		for (int i = 0; i < N; i++)
		{
			x[i] = frand();
			mx = fmax(mx, fabs(x[i]));
		}
		k.type[t].from_float(x, w, N);
		k.type[t].to_float(w, wf, N);
		for (int jb = 0; jb < N / 32; jb++)
		{
			int			q[8];
			float		a0,
						b0,
						a1,
						b1;

			cu_unpack32(t, w, jb, q, &a0, &b0, &a1, &b1);
			for (int i = 0; i < 32; i++)
			{
				float		v = (i < 16 ? a0 : a1) * (float) cu_q_at(q, i) + (i < 16 ? b0 : b1);

				wu = fmax(wu, fabs(v - wf[jb * 32 + i]));
			}
			dot += cu_dot_block(q, a0, b0, a1, b1, &xq[jb]);
		}
		for (int i = 0; i < N; i++)
		{
			ref += (double) wf[i] * a[i];
			mag += fabs((double) wf[i] * a[i]);
		}
		ok(wu <= 1e-6 * mx, "%s: unpacked blocks equal to_float (worst %.2e)",
		   llm_type_name((llm_type) t), wu);
		ok(fabs(dot - ref) <= 2e-3 * mag, "%s: block dots with the 8-bit input: |dot - ref| / sum|w x| = %.2e",
		   llm_type_name((llm_type) t), fabs(dot - ref) / mag);
		free(w);
	}
	return tap_done();
}
