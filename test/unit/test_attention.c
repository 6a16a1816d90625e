/*
 * test_attention.c - the attention helpers of the kernel tables: the
 * grouped forms (several query heads per K/V row) of the AVX-512 table
 * against its single forms, its helpers against the AVX2 table's (the
 * same bits) and its softmax against the scalar reference's, and whole
 * attention rows of every table against a double-precision reference.
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
 * The AVX-512 table's attention helpers against the AVX2 table's: the
 * same bits over head sizes with and without vector tails and row counts
 * around the blocks, f32 and f16 rows; its softmax against the scalar
 * reference's (large and small spreads, -inf, +0 and -0 ties, lengths
 * around 16). Five checks.
 */
static void
test_same_as_avx2(const llm_kernels *k5, const llm_kernels *k2, const llm_kernels *ks)
{
	static const int lens[] = {1, 7, 8, 13, 16, 24, 32, 40, 64, 72, 96, 128, 136, 192, 256, 300};
	static float x[20 * 310],
				q[310],
				a[20],
				o5[20],
				o2[20],
				y5[310],
				y2[310],
				s5[600],
				s2[600];
	static uint16_t h[20 * 310];
	uint32_t	s = 99;
	bool		dot = true,
				dot16 = true,
				axpy = true,
				axpy16 = true,
				soft = true;

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
		for (int rows = 0; rows <= 20; rows++)
		{
			int			n = lens[li],
						stride = n + 3;

			for (int i = 0; i < rows * stride; i++)
			{
				h[i] = llm_fp32_to_fp16(rnd(&s, -2, 2));
				x[i] = rnd(&s, -2, 2);
			}
			for (int i = 0; i < n; i++)
				q[i] = rnd(&s, -3, 3);
			for (int i = 0; i < rows; i++)
				a[i] = rnd(&s, 0, 1);
			k5->dot_f32_rows(n, q, x, stride, rows, 0.125f, o5);
			k2->dot_f32_rows(n, q, x, stride, rows, 0.125f, o2);
			if (rows && memcmp(o5, o2, rows * sizeof(float)) != 0)
				dot = false;
			if (rows && k5->dot_f32(n, q, x) != k2->dot_f32(n, q, x))
				dot = false;
			k5->dot_f16_rows(n, q, h, stride, rows, 0.125f, o5);
			k2->dot_f16_rows(n, q, h, stride, rows, 0.125f, o2);
			if (rows && memcmp(o5, o2, rows * sizeof(float)) != 0)
				dot16 = false;
			for (int i = 0; i < n; i++)
				y5[i] = y2[i] = rnd(&s, -1, 1);
			k5->axpy_f32_rows(n, a, x, stride, rows, y5);
			k2->axpy_f32_rows(n, a, x, stride, rows, y2);
			if (memcmp(y5, y2, n * sizeof(float)) != 0)
				axpy = false;
			k5->axpy_f16_rows(n, a, h, stride, rows, y5);
			k2->axpy_f16_rows(n, a, h, stride, rows, y2);
			if (memcmp(y5, y2, n * sizeof(float)) != 0)
				axpy16 = false;
		}
	for (int n = 1; n <= 600; n += (n < 40 ? 1 : 37))
		for (int kind = 0; kind < 4; kind++)
		{
			for (int i = 0; i < n; i++)
				s5[i] = s2[i] = rnd(&s, kind == 1 ? -40 : -4, kind == 1 ? 40 : 4);
			if (kind == 2)		/* masked positions and an exact tie */
				for (int i = 0; i < n; i += 3)
					s5[i] = s2[i] = -INFINITY;
			if (kind == 3)		/* all at zero: +0 and -0 */
				for (int i = 0; i < n; i++)
					s5[i] = s2[i] = (i & 1) ? -0.0f : 0.0f;
			if (kind == 2 && n > 1)
				s5[n - 1] = s2[n - 1] = 1e9f;
			k5->softmax(n, s5);
			ks->softmax(n, s2);
			if (memcmp(s5, s2, n * sizeof(float)) != 0)
				soft = false;
		}
	ok(dot, "avx512 dot_f32_rows / dot_f32: the AVX2 table's bits");
	ok(dot16, "avx512 dot_f16_rows: the AVX2 table's bits");
	ok(axpy, "avx512 axpy_f32_rows: the AVX2 table's bits");
	ok(axpy16, "avx512 axpy_f16_rows: the AVX2 table's bits");
	ok(soft, "avx512 softmax: the scalar reference's bits");
}

/*
 * llm_avx512_expf_rows against expf: every 61st float in [-100, -0] (the
 * exhaustive run is test/bench/expf_check.c), the values around the edges
 * of its fast path, and NaN, infinities and positive values (expf's own
 * path). One check.
 */
static void
test_expf_rows(void)
{
	static const float special[] = {
		0.0f, -0.0f, -87.0f, -86.99999f, -87.00001f, -87.5f, -88.0f, -103.9f, -104.0f,
		-150.0f, -INFINITY, INFINITY, NAN, 1e-30f, 0.5f, 1.0f, 10.0f, 88.7f, 89.0f,
		-1e-30f, -1e-45f, -0.693147f, -0.346574f
	};
	static float x[4096],
				got[4096];
	float		f = -100.0f;
	uint32_t	hi;
	long		n = 0,
				bad = 0;
	int			m = 0;

	memcpy(&hi, &f, sizeof(hi));
	for (uint64_t u = 0x80000000u; u <= hi; u += 61)
	{
		uint32_t	v = (uint32_t) u;

		memcpy(&x[m++], &v, sizeof(float));
		if (m == 4096 || u + 61 > hi)
		{
			llm_avx512_expf_rows(m, x, got);
			for (int i = 0; i < m; i++)
			{
				float		want = expf(x[i]);

				bad += memcmp(&want, &got[i], sizeof(float)) != 0;
			}
			n += m;
			m = 0;
		}
	}
	for (int len = 1; len <= 23; len++)
	{
		int			nn = (int) (sizeof(special) / sizeof(special[0]));

		for (int i = 0; i < len; i++)
			x[i] = special[(i + len) % nn];
		llm_avx512_expf_rows(len, x, got);
		for (int i = 0; i < len; i++)
		{
			float		want = expf(x[i]);

			bad += memcmp(&want, &got[i], sizeof(float)) != 0;
		}
		n += len;
	}
	ok(bad == 0, "avx512 expf_rows: expf's bits (%ld of %ld values differ)", bad, n);
}

/* SmolLM2-135M's attention shape */
#define ACC_H 9
#define ACC_HKV 3
#define ACC_D 64
#define ACC_P 512
#define ACC_KV (ACC_HKV * ACC_D)

/*
 * Standard normal sample (Box-Muller) from the generator above.
 */
static double
gauss(uint32_t *s)
{
	double		u = rnd(s, 0, 1) + 1e-9,
				v = rnd(s, 0, 1);

	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/*
 * Attention of the ACC_H heads of one query (position pos, so pos + 1
 * rows) through table k as the forward pass runs it: grouped forms when
 * the table has them, else head by head.
 */
static void
att_table(const llm_kernels *k, const float *q, const void *K, const void *V, bool f16, int pos,
		  float *out, float *sc)
{
	int			n = pos + 1,
				G = ACC_H / ACC_HKV;

	for (int kvh = 0; kvh < ACC_HKV; kvh++)
	{
		const float *qg = q + kvh * G * ACC_D;
		float	   *og = out + kvh * G * ACC_D;
		const uint16_t *Kh = (const uint16_t *) K + kvh * ACC_D,
				   *Vh = (const uint16_t *) V + kvh * ACC_D;
		const float *Kf = (const float *) K + kvh * ACC_D,
				   *Vf = (const float *) V + kvh * ACC_D;

		memset(og, 0, G * ACC_D * sizeof(float));
		if (k->dot_f32_rows_g)
		{
			if (f16)
				k->dot_f16_rows_g(ACC_D, G, qg, ACC_D, Kh, ACC_KV, n, 0.125f, sc, ACC_P);
			else
				k->dot_f32_rows_g(ACC_D, G, qg, ACC_D, Kf, ACC_KV, n, 0.125f, sc, ACC_P);
			for (int g = 0; g < G; g++)
				k->softmax(n, sc + g * ACC_P);
			if (f16)
				k->axpy_f16_rows_g(ACC_D, G, sc, ACC_P, Vh, ACC_KV, n, og, ACC_D);
			else
				k->axpy_f32_rows_g(ACC_D, G, sc, ACC_P, Vf, ACC_KV, n, og, ACC_D);
			continue;
		}
		for (int g = 0; g < G; g++)
		{
			if (f16)
				k->dot_f16_rows(ACC_D, qg + g * ACC_D, Kh, ACC_KV, n, 0.125f, sc);
			else
				k->dot_f32_rows(ACC_D, qg + g * ACC_D, Kf, ACC_KV, n, 0.125f, sc);
			k->softmax(n, sc);
			if (f16)
				k->axpy_f16_rows(ACC_D, sc, Vh, ACC_KV, n, og + g * ACC_D);
			else
				k->axpy_f32_rows(ACC_D, sc, Vf, ACC_KV, n, og + g * ACC_D);
		}
	}
}

/*
 * The same attention in double precision (K and V as given, in f32).
 */
static void
att_double(const float *q, const float *K, const float *V, int pos, double *out)
{
	static double sc[ACC_P];
	int			n = pos + 1,
				G = ACC_H / ACC_HKV;

	for (int h = 0; h < ACC_H; h++)
	{
		int			kvh = h / G;
		double		mx = -INFINITY,
					sum = 0.0;

		for (int p = 0; p < n; p++)
		{
			double		d = 0.0;

			for (int i = 0; i < ACC_D; i++)
				d += (double) q[h * ACC_D + i] * K[p * ACC_KV + kvh * ACC_D + i];
			sc[p] = d * 0.125;
			mx = sc[p] > mx ? sc[p] : mx;
		}
		for (int p = 0; p < n; p++)
		{
			sc[p] = exp(sc[p] - mx);
			sum += sc[p];
		}
		for (int i = 0; i < ACC_D; i++)
		{
			double		acc = 0.0;

			for (int p = 0; p < n; p++)
				acc += sc[p] * V[p * ACC_KV + kvh * ACC_D + i];
			out[h * ACC_D + i] = acc / sum;
		}
	}
}

/*
 * Whole attention rows of table k (named name) against att_double on
 * SmolLM2's shape over 512 positions, f32 and f16 K/V (the f16 ones
 * against the double attention of the widened values): queries with an
 * outlier dimension every 16 (x8, as real keys have), scores spread over
 * tens of units. One check: the largest error within 2e-4 of outputs of
 * magnitude ~2 (measured: scalar 1.4e-5 with f32 KV and 1.2e-5 with f16,
 * AVX2 and AVX-512 3.1e-5 and 5.0e-5; mean errors ~2e-7 and ~4e-7).
 */
static void
test_accuracy(const llm_kernels *k, const char *name)
{
	static float q[ACC_H * ACC_D],
				K[ACC_P * ACC_KV],
				V[ACC_P * ACC_KV],
				Kw[ACC_P * ACC_KV],
				Vw[ACC_P * ACC_KV],
				out[ACC_H * ACC_D],
				sc[4 * ACC_P];
	static uint16_t Kh[ACC_P * ACC_KV],
				Vh[ACC_P * ACC_KV];
	static double ref[ACC_H * ACC_D];
	uint32_t	s = 5;
	double		worst[2] = {0, 0},
				mean[2] = {0, 0};
	long		cnt = 0;

	for (int i = 0; i < ACC_P * ACC_KV; i++)
	{
		double		dim = (i % 16 == 3) ? 8.0 : 1.0;

		K[i] = (float) (gauss(&s) * dim);
		V[i] = (float) (gauss(&s) * 2.0);
		Kh[i] = llm_fp32_to_fp16(K[i]);
		Vh[i] = llm_fp32_to_fp16(V[i]);
		Kw[i] = llm_fp16_to_fp32(Kh[i]);
		Vw[i] = llm_fp16_to_fp32(Vh[i]);
	}
	for (int pos = 0; pos < ACC_P; pos += (pos < 16 ? 1 : 13))
	{
		for (int i = 0; i < ACC_H * ACC_D; i++)
			q[i] = (float) (gauss(&s) * 3.0 * ((i % 16 == 3) ? 8.0 : 1.0));
		for (int f16 = 0; f16 < 2; f16++)
		{
			att_double(q, f16 ? Kw : K, f16 ? Vw : V, pos, ref);
			att_table(k, q, f16 ? (const void *) Kh : (const void *) K,
					  f16 ? (const void *) Vh : (const void *) V, f16, pos, out, sc);
			for (int i = 0; i < ACC_H * ACC_D; i++)
			{
				double		e = fabs(out[i] - ref[i]);

				worst[f16] = e > worst[f16] || isnan(e) ? (isnan(e) ? INFINITY : e) : worst[f16];
				mean[f16] += e;
			}
		}
		cnt += ACC_H * ACC_D;
	}
	ok(worst[0] <= 2e-4 && worst[1] <= 2e-4,
	   "%s attention (9 heads, 3 KV heads, 64 dims, 512 positions) against double: "
	   "max error f32 KV %.2e, f16 KV %.2e (mean %.2e / %.2e)", name, worst[0], worst[1],
	   mean[0] / cnt, mean[1] / cnt);
}

/*
 * Entry point.
 */
int
main(void)
{
	llm_kernels ks,
				k2,
				kx;

	tap_plan(14);
	llm_kernels_init_scalar(&ks);
	ok(ks.dot_f32_rows_g == NULL && ks.axpy_f32_rows_g == NULL,
	   "the scalar table has no grouped forms (the forward pass loops over heads)");
	test_accuracy(&ks, "scalar");
	llm_kernels_init(&k2, "avx2");
	if (strcmp(k2.isa, "avx2") == 0)
		test_accuracy(&k2, "avx2");
	else
		tap_skip_n(1, "no AVX2 on this CPU");
	llm_kernels_init(&kx, "avx512");
	if (strcmp(kx.isa, "avx512") != 0)
	{
		tap_skip_n(11, "no AVX-512 on this CPU: its attention helpers are not used");
		return tap_done();
	}
	test_accuracy(&kx, "avx512");
	test_grouped(&kx);
	test_same_as_avx2(&kx, &k2, &ks);
	test_expf_rows();
	return tap_done();
}
