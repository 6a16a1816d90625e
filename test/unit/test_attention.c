/*
 * test_attention.c - the softmax of each kernel table against the scalar
 * reference: AVX-512's own exp and sums stay within a few float ulps of
 * expf and the double sum, over lengths with and without vector tails,
 * scores spread as attention produces them and extreme ones; and the
 * grouped (several query heads per K/V row) forms against the single ones.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels.h"
#include "llm_util.h"
#include "tap.h"

/*
 * Deterministic uniform float in [lo, hi).
 */
static float
rnd(uint32_t *s, float lo, float hi)
{
	*s = *s * 1664525u + 1013904223u;
	return lo + (hi - lo) * (float) (*s >> 8) / 16777216.0f;
}

/*
 * Worst relative difference of table k's softmax from the reference over
 * n values spread by width around offset; *sum_err gets the worst
 * |sum - 1| of k's result.
 */
static double
softmax_case(const llm_kernels *ref, const llm_kernels *k, int n, float width, float offset,
			 uint32_t *seed, double *sum_err)
{
	static float a[4096],
				b[4096];
	double		worst = 0,
				sum = 0;

	for (int i = 0; i < n; i++)
		a[i] = b[i] = offset + rnd(seed, -width, width);
	ref->softmax(n, a);
	k->softmax(n, b);
	for (int i = 0; i < n; i++)
	{
		double		d = fabs((double) a[i] - b[i]) / (a[i] > 1e-30f ? a[i] : 1e-30f);

		/* values the reference keeps as denormals may be flushed */
		if (a[i] >= 1e-37f && d > worst)
			worst = d;
		sum += b[i];
	}
	if (fabs(sum - 1.0) > *sum_err)
		*sum_err = fabs(sum - 1.0);
	return worst;
}

/*
 * The grouped forms of table k: every head bit-identical to the single
 * form, over head sizes with and without vector tails, 1 - 6 heads, row
 * counts around the blocks of 4 and 8, f32 and f16 rows.
 */
static void
test_grouped(const llm_kernels *k)
{
	static const int lens[] = {8, 13, 64, 72, 128, 256};
	static float x[20 * 300],
				q[6 * 256],
				a[6 * 20],
				got[6 * 20],
				want[20],
				y1[6 * 256],
				y2[6 * 256];
	static uint16_t h[20 * 300];
	uint32_t	s = 17;
	bool		dot = true,
				axpy = true,
				dot16 = true,
				axpy16 = true;

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
		for (int G = 1; G <= 6; G++)
			for (int rows = 0; rows <= 20; rows += (rows < 10 ? 1 : 5))
			{
				int			n = lens[li],
							stride = n + 5;

				for (int i = 0; i < rows * stride; i++)
				{
					h[i] = llm_fp32_to_fp16(rnd(&s, -1, 1));
					x[i] = llm_fp16_to_fp32(h[i]);
				}
				for (int i = 0; i < G * n; i++)
					q[i] = rnd(&s, -1, 1);
				for (int i = 0; i < G * rows; i++)
					a[i] = rnd(&s, 0, 1);
				for (int i = 0; i < G * n; i++)
					y1[i] = y2[i] = rnd(&s, -1, 1);
				k->dot_f32_rows_g(n, G, q, n, x, stride, rows, 0.125f, got, rows);
				for (int g = 0; g < G; g++)
				{
					k->dot_f32_rows(n, q + g * n, x, stride, rows, 0.125f, want);
					if (rows && memcmp(got + g * rows, want, rows * sizeof(float)) != 0)
						dot = false;
				}
				k->dot_f16_rows_g(n, G, q, n, h, stride, rows, 0.125f, got, rows);
				for (int g = 0; g < G; g++)
				{
					k->dot_f32_rows(n, q + g * n, x, stride, rows, 0.125f, want);
					if (rows && memcmp(got + g * rows, want, rows * sizeof(float)) != 0)
						dot16 = false;
				}
				k->axpy_f32_rows_g(n, G, a, rows, x, stride, rows, y1, n);
				for (int g = 0; g < G; g++)
					k->axpy_f32_rows(n, a + g * rows, x, stride, rows, y2 + g * n);
				if (memcmp(y1, y2, G * n * sizeof(float)) != 0)
					axpy = false;
				k->axpy_f16_rows_g(n, G, a, rows, h, stride, rows, y1, n);
				for (int g = 0; g < G; g++)
					k->axpy_f32_rows(n, a + g * rows, x, stride, rows, y2 + g * n);
				if (memcmp(y1, y2, G * n * sizeof(float)) != 0)
					axpy16 = false;
			}
	ok(dot, "avx512 dot_f32_rows_g: every head bit-identical to dot_f32_rows");
	ok(dot16, "avx512 dot_f16_rows_g: every head bit-identical to dot_f32_rows on the widened rows");
	ok(axpy, "avx512 axpy_f32_rows_g: every head bit-identical to axpy_f32_rows");
	ok(axpy16, "avx512 axpy_f16_rows_g: every head bit-identical to axpy_f32_rows on the widened rows");
}

/*
 * Entry point.
 */
int
main(void)
{
	llm_kernels ks,
				kx;
	uint32_t	seed = 3;
	double		worst = 0,
				sum_err = 0,
				worst_wide = 0;
	float		one = 5.0f;

	tap_plan(9);
	llm_kernels_init_scalar(&ks);
	llm_kernels_init(&kx, "avx512");
	if (strcmp(kx.isa, "avx512") != 0)
	{
		tap_skip_n(8, "no AVX-512 on this CPU: its softmax and grouped forms are not used");
		ok(ks.dot_f32_rows_g == NULL && ks.axpy_f32_rows_g == NULL,
		   "the scalar table has no grouped forms (the forward pass loops over heads)");
		return tap_done();
	}
	for (int n = 1; n <= 300; n++)
		worst = fmax(worst, softmax_case(&ks, &kx, n, 4.0f, 0.0f, &seed, &sum_err));
	for (int n = 500; n <= 4096; n += 1199)
		worst = fmax(worst, softmax_case(&ks, &kx, n, 8.0f, 30.0f, &seed, &sum_err));
	ok(worst < 1e-6, "avx512 softmax within 1e-6 relative of the reference, n = 1..300 and long rows (worst %.2e)",
	   worst);
	ok(sum_err < 1e-5, "avx512 softmax sums to 1 (worst |sum - 1| %.2e)", sum_err);
	/* scores 100 apart: tiny weights underflow, the large ones stay exact */
	for (int n = 16; n <= 64; n += 7)
		worst_wide = fmax(worst_wide, softmax_case(&ks, &kx, n, 60.0f, -20.0f, &seed, &sum_err));
	ok(worst_wide < 1e-6, "avx512 softmax over a wide range of scores (worst %.2e on values >= 1e-37)",
	   worst_wide);
	kx.softmax(1, &one);
	ok(one == 1.0f, "avx512 softmax of one value is 1 (%g)", one);
	test_grouped(&kx);
	ok(ks.dot_f32_rows_g == NULL && ks.axpy_f32_rows_g == NULL,
	   "the scalar table has no grouped forms (the forward pass loops over heads)");
	return tap_done();
}
