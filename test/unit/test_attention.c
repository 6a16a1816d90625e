/*
 * test_attention.c - the grouped attention forms (several query heads per
 * K/V row) of the AVX-512 table against its single forms.
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

	tap_plan(5);
	llm_kernels_init_scalar(&ks);
	ok(ks.dot_f32_rows_g == NULL && ks.axpy_f32_rows_g == NULL,
	   "the scalar table has no grouped forms (the forward pass loops over heads)");
	llm_kernels_init(&kx, "avx512");
	if (strcmp(kx.isa, "avx512") == 0)
		llm_kernels_overlay_avx512_att(&kx);	/* not in the default table yet */
	if (strcmp(kx.isa, "avx512") != 0)
	{
		tap_skip_n(4, "no AVX-512 on this CPU: its grouped forms are not used");
		return tap_done();
	}
	test_grouped(&kx);
	return tap_done();
}
