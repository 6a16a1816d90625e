/*
 * test_vmath.c - element-wise array functions (vmath.c, vmath_avx2.c) and
 * the BLAS product split over threads (gemm.c).
 *
 * The AVX2 versions are compared with the scalar reference on random and
 * edge-case inputs; the product is compared with a naive triple loop, and
 * each output element is checked to be bit-identical whatever the number
 * of rows in the call and the number of threads (the property that makes
 * an embedding independent of the batch it was computed in).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fgemm.h"
#include "kernels.h"
#include "llm_util.h"
#include "tap.h"
#include "vmath.h"

/* deterministic uniform float in [lo, hi) */
static float
rnd(unsigned *s, float lo, float hi)
{
	*s = *s * 1103515245u + 12345u;
	return lo + (hi - lo) * (float) ((*s >> 8) & 0xffffff) / 16777216.0f;
}

/*
 * x rounded to bfloat16 and back (llm_f32_to_bf16_rne), as a float.
 */
static float
bf16_round(float x)
{
	uint32_t	u = (uint32_t) llm_f32_to_bf16_rne(x) << 16;
	float		f;

	memcpy(&f, &u, 4);
	return f;
}

/*
 * AVX2 against the scalar reference.
 */
static void
test_elementwise(void)
{
	llm_vmath	ref,
				vec;
	unsigned	seed = 7;
	int			n;

	llm_vmath_init(&ref, "scalar");
	ok(strcmp(ref.isa, "scalar") == 0, "scalar vmath selected");
	if (!llm_cpu_has_avx2())
	{
		tap_skip_n(6, "no AVX2 on this CPU");
		return;
	}
	llm_vmath_init(&vec, "avx2");
	ok(strcmp(vec.isa, "avx2") == 0, "avx2 vmath selected");

	{
		double		worst = 0;

		for (n = 1; n <= 70; n++)
		{
			float		a[70],
						b[70];

			for (int i = 0; i < n; i++)
				a[i] = b[i] = rnd(&seed, -12.0f, 12.0f);
			a[0] = b[0] = n == 1 ? 0.0f : a[0];
			ref.gelu(a, n);
			vec.gelu(b, n);
			for (int i = 0; i < n; i++)
			{
				double		e = fabs((double) a[i] - b[i]) / (1.0 + fabs(a[i]));

				if (e > worst)
					worst = e;
			}
		}
		ok(worst < 2e-6, "gelu: avx2 within 2e-6 (relative+absolute) of erff-based reference (worst %.3g)",
		   worst);
	}
	{
		double		worst = 0;
		bool		same = true;

		for (n = 1; n <= 70; n++)
		{
			float		a[70],
						b[70],
						c[70],
						u[70];

			for (int i = 0; i < n; i++)
			{
				a[i] = b[i] = c[i] = rnd(&seed, -20.0f, 20.0f);
				u[i] = rnd(&seed, -3.0f, 3.0f);
			}
			if (n == 70)		/* saturating arguments */
				a[0] = b[0] = c[0] = -100.0f, a[1] = b[1] = c[1] = 100.0f;
			ref.swiglu(a, u, n);
			vec.swiglu(b, u, n);
			for (int i = 0; i < n; i++)
			{
				double		e = fabs((double) a[i] - b[i]) / (1.0 + fabs(a[i]));

				if (e > worst)
					worst = e;
			}
			/* an element's result does not depend on where it sits */
			for (int i = 0; i < n; i++)
			{
				float		one = c[i];

				vec.swiglu(&one, &u[i], 1);
				same &= memcmp(&one, &b[i], sizeof(one)) == 0;
			}
		}
		ok(worst < 2e-6, "swiglu: avx2 within 2e-6 (relative+absolute) of expf-based reference (worst %.3g)",
		   worst);
		ok(same, "swiglu: avx2 gives an element the same bits alone as in an array");
	}
	{
		double		worst = 0,
					worst_sum = 0;

		for (n = 1; n <= 70; n++)
		{
			float		a[70],
						b[70],
						sa,
						sb,
						mx = -INFINITY;

			for (int i = 0; i < n; i++)
			{
				a[i] = b[i] = rnd(&seed, -100.0f, 10.0f);
				if (a[i] > mx)
					mx = a[i];
			}
			if (n > 3)
				a[3] = b[3] = -INFINITY;	/* masked score */
			sa = ref.exp_shift_sum(a, mx, n);
			sb = vec.exp_shift_sum(b, mx, n);
			for (int i = 0; i < n; i++)
			{
				/* relative, except below float's normal range */
				double		e = fabs((double) a[i] - b[i]) / ((double) a[i] + 1e-30);

				if (e > worst)
					worst = e;
			}
			if (fabs((double) sa - sb) / sa > worst_sum)
				worst_sum = fabs((double) sa - sb) / sa;
		}
		ok(worst < 1e-6 && worst_sum < 1e-5,
		   "exp_shift_sum: avx2 within 1e-6 relative of expf (worst %.3g, sums %.3g)",
		   worst, worst_sum);
	}
	{
		double		worst = 0;

		for (n = 1; n <= 400; n += 13)
		{
			float		a[400],
						b[400],
						r[400],
						w[400],
						bb[400];

			for (int i = 0; i < n; i++)
			{
				a[i] = b[i] = rnd(&seed, -3.0f, 5.0f);
				r[i] = rnd(&seed, -1.0f, 1.0f);
				w[i] = rnd(&seed, 0.5f, 1.5f);
				bb[i] = rnd(&seed, -0.2f, 0.2f);
			}
			ref.add_layernorm(a, n % 2 ? r : NULL, w, bb, n, 1e-12f);
			vec.add_layernorm(b, n % 2 ? r : NULL, w, bb, n, 1e-12f);
			for (int i = 0; i < n; i++)
				if (fabs((double) a[i] - b[i]) > worst)
					worst = fabs((double) a[i] - b[i]);
		}
		ok(worst < 1e-4, "add_layernorm: avx2 within 1e-4 of the double-precision reference (worst %.3g)",
		   worst);
	}
}

/*
 * f32 row to f32 row (the packing's to_float for a float matrix).
 */
static void
copy_f32(const void *x, float *y, int64_t n)
{
	memcpy(y, x, (size_t) n * sizeof(float));
}

/*
 * C = A * B^T (+ bias) over packed B: the reference against a naive
 * double-precision loop; AVX2 bit-identical to the reference; each row
 * bit-identical alone, inside any batch and under any thread split.
 */
static void
test_gemm_case(int M, int N, int K)
{
	float	   *A = malloc(sizeof(float) * M * K),
			   *B = malloc(sizeof(float) * N * K),
			   *bias = malloc(sizeof(float) * N),
			   *C = malloc(sizeof(float) * M * N),
			   *C2 = malloc(sizeof(float) * M * N),
			   *C1 = malloc(sizeof(float) * N);
	unsigned	seed = 11 + M + N + K;
	double		worst = 0;
	bool		same_isa = true,
				same_rows = true,
				cover = true;
	char		err[LLM_ERRLEN];
	llm_fgemm_b	pb;
	llm_vmath	ref,
				vec;
	int64_t		c0,
				c1;

	llm_vmath_init(&ref, "scalar");
	llm_vmath_init(&vec, llm_cpu_has_avx2() ? "avx2" : "scalar");
	for (int i = 0; i < M * K; i++)
		A[i] = rnd(&seed, -1, 1);
	for (int i = 0; i < N * K; i++)
		B[i] = rnd(&seed, -1, 1);
	for (int i = 0; i < N; i++)
		bias[i] = rnd(&seed, -1, 1);
	if (llm_fgemm_pack(&pb, N, K, B, (size_t) K * sizeof(float), copy_f32, err) != 0)
	{
		ok(0, "pack %d x %d: %s", N, K, err);
		return;
	}

	/* reference, one thread, with bias; then a naive check */
	llm_fgemm_part(ref.gemm, M, A, K, &pb, bias, C, N, 0, 1, &c0, &c1);
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++)
		{
			double		s = bias[j];

			for (int k = 0; k < K; k++)
				s += (double) A[i * K + k] * B[j * K + k];
			if (fabs(s - C[i * N + j]) > worst)
				worst = fabs(s - C[i * N + j]);
		}

	/* the fast kernel under 1..3 threads: the same bits */
	for (int nth = 1; nth <= 3; nth++)
	{
		int64_t		next = 0;

		for (int i = 0; i < M * N; i++)
			C2[i] = NAN;
		for (int ith = 0; ith < nth; ith++)
		{
			llm_fgemm_part(vec.gemm, M, A, K, &pb, bias, C2, N, ith, nth, &c0, &c1);
			if (c1 > c0)
			{
				if (c0 != next)
					cover = false;
				next = c1;
			}
		}
		if (next != N)
			cover = false;
		if (memcmp(C, C2, sizeof(float) * M * N) != 0)
			same_isa = false;
	}
	/* every row alone, and every window of rows, gives the same bits */
	for (int i = 0; i < M; i++)
	{
		llm_fgemm_part(vec.gemm, 1, A + i * K, K, &pb, bias, C1, N, 0, 1, &c0, &c1);
		if (memcmp(C1, C + i * N, sizeof(float) * N) != 0)
			same_rows = false;
	}
	for (int r0 = 1; r0 + 7 <= M; r0 += 5)
	{
		llm_fgemm_part(vec.gemm, 7, A + r0 * K, K, &pb, bias, C2, N, 0, 2, &c0, &c1);
		llm_fgemm_part(vec.gemm, 7, A + r0 * K, K, &pb, bias, C2, N, 1, 2, &c0, &c1);
		if (memcmp(C2, C + r0 * N, sizeof(float) * 7 * N) != 0)
			same_rows = false;
	}
	ok(cover, "gemm %dx%dx%d: thread shares cover all columns once, in order", M, N, K);
	ok(worst < 1e-4 * sqrt((double) K), "gemm %dx%dx%d: reference matches a naive product (worst %.3g)",
	   M, N, K, worst);
	ok(same_isa, "gemm %dx%dx%d: %s kernel bit-identical to the reference with 1-3 threads",
	   M, N, K, vec.isa);
	ok(same_rows, "gemm %dx%dx%d: each row bit-identical alone, in any window of rows", M, N, K);
	llm_fgemm_b_free(&pb);
	free(A);
	free(B);
	free(bias);
	free(C);
	free(C2);
	free(C1);
}

/*
 * The bfloat16 product: the AVX-512 kernel against its scalar reference
 * (same bits with 1-3 threads, each row alone), the reference against a
 * double-precision product of the rounded inputs, and against f32.
 */
static void
test_gemm_bf16_case(int M, int N, int K)
{
	float	   *A = malloc(sizeof(float) * M * K),
			   *B = malloc(sizeof(float) * N * K),
			   *bias = malloc(sizeof(float) * N),
			   *C = malloc(sizeof(float) * M * N),
			   *C2 = malloc(sizeof(float) * M * N),
			   *Cf = malloc(sizeof(float) * M * N),
			   *C1 = malloc(sizeof(float) * N);
	unsigned	seed = 29 + M + N + K;
	double		worst = 0,
				e2 = 0,
				n2 = 0;
	bool		same = true,
				same_rows = true;
	char		err[LLM_ERRLEN];
	llm_fgemm_b	pb;
	int64_t		c0,
				c1;

	for (int i = 0; i < M * K; i++)
		A[i] = rnd(&seed, -1, 1);
	for (int i = 0; i < N * K; i++)
		B[i] = rnd(&seed, -1, 1);
	for (int i = 0; i < N; i++)
		bias[i] = rnd(&seed, -1, 1);
	if (llm_fgemm_pack(&pb, N, K, B, (size_t) K * sizeof(float), copy_f32, err) != 0)
	{
		ok(0, "pack %d x %d: %s", N, K, err);
		return;
	}
	llm_fgemm_part(llm_fgemm_bf16_ref, M, A, K, &pb, bias, C, N, 0, 1, &c0, &c1);
	llm_fgemm_part(llm_fgemm_ref, M, A, K, &pb, bias, Cf, N, 0, 1, &c0, &c1);
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++)
		{
			double		s = bias[j];

			for (int k = 0; k < K; k++)
				s += (double) bf16_round(A[i * K + k]) * bf16_round(B[j * K + k]);
			if (fabs(s - C[i * N + j]) > worst)
				worst = fabs(s - C[i * N + j]);
			e2 += (double) (C[i * N + j] - Cf[i * N + j]) * (C[i * N + j] - Cf[i * N + j]);
			n2 += (double) Cf[i * N + j] * Cf[i * N + j];
		}
	ok(worst < 1e-5 * K, "bf16 gemm %dx%dx%d: reference matches a double product of the rounded inputs (worst %.3g)",
	   M, N, K, worst);
	ok(sqrt(e2 / n2) < 1e-2, "bf16 gemm %dx%dx%d: within 1%% of the f32 product (relative RMS %.2e)",
	   M, N, K, sqrt(e2 / n2));
	if (!llm_cpu_has_avx512_bf16())
	{
		tap_skip_n(2, "no AVX512_BF16 on this CPU");
		goto done;
	}
	for (int nth = 1; nth <= 3; nth++)
	{
		for (int i = 0; i < M * N; i++)
			C2[i] = NAN;
		for (int ith = 0; ith < nth; ith++)
			llm_fgemm_part(llm_fgemm_avx512bf16, M, A, K, &pb, bias, C2, N, ith, nth, &c0, &c1);
		if (memcmp(C, C2, sizeof(float) * M * N) != 0)
			same = false;
	}
	for (int i = 0; i < M; i++)
	{
		llm_fgemm_part(llm_fgemm_avx512bf16, 1, A + i * K, K, &pb, i % 2 ? bias : NULL, C1, N,
					   0, 1, &c0, &c1);
		if (i % 2)
			same_rows &= memcmp(C1, C + i * N, sizeof(float) * N) == 0;
		else
		{
			float	   *R1 = malloc(sizeof(float) * N);

			llm_fgemm_part(llm_fgemm_bf16_ref, 1, A + i * K, K, &pb, NULL, R1, N, 0, 1, &c0, &c1);
			same_rows &= memcmp(C1, R1, sizeof(float) * N) == 0;
			free(R1);
		}
	}
	ok(same, "bf16 gemm %dx%dx%d: AVX-512 kernel bit-identical to the reference with 1-3 threads",
	   M, N, K);
	ok(same_rows, "bf16 gemm %dx%dx%d: each row alone (with and without bias) bit-identical", M, N, K);
done:
	llm_fgemm_b_free(&pb);
	free(A);
	free(B);
	free(bias);
	free(C);
	free(C2);
	free(Cf);
	free(C1);
}

/*
 * Rounding to bfloat16 in the kernel equals llm_f32_to_bf16_rne on
 * hard values (ties to even, denormals, signed zeros, huge values): A
 * times an identity B gives bf16(A) exactly, and an identity A times B
 * gives bf16(B).
 */
static void
test_bf16_rounding(void)
{
	enum
	{
		NV = 64
	};
	float		v[NV],
				bv[NV * NV],
				eye[NV * NV],
				C[NV * NV],
				R[NV * NV];
	unsigned	seed = 5;
	char		err[LLM_ERRLEN];
	llm_fgemm_b	pv,
				pe;
	int64_t		c0,
				c1;
	bool		same_a,
				same_b;

	for (int i = 0; i < NV; i++)
	{
		uint32_t	u = (uint32_t) (i * 2654435761u);

		switch (i % 8)
		{
			case 0:				/* exact tie below an even / odd mantissa */
				u = 0x3f808000u + ((uint32_t) (i / 8) << 16);
				break;
			case 1:				/* denormal */
				u = 0x00012345u | ((uint32_t) (i & 16) << 27);
				break;
			case 2:
				u = 0x80000000u;	/* -0 */
				break;
			case 3:				/* a tie near the largest finite bfloat16 */
				u = 0x7f7e8000u;
				break;
			default:
				memcpy(&u, &(float) {rnd(&seed, -100, 100)}, 4);
				break;
		}
		memcpy(&v[i], &u, 4);
	}
	for (int i = 0; i < NV * NV; i++)
	{
		eye[i] = i / NV == i % NV ? 1.0f : 0.0f;
		bv[i] = v[(i / NV + i % NV) % NV];
	}
	/* A = one row of the values (as a 1 x NV row), B = identity */
	if (llm_fgemm_pack(&pe, NV, NV, eye, NV * sizeof(float), copy_f32, err) != 0 ||
		llm_fgemm_pack(&pv, NV, NV, bv, NV * sizeof(float), copy_f32, err) != 0)
	{
		ok(0, "pack: %s", err);
		ok(0, "pack: %s", err);
		return;
	}
	if (!llm_cpu_has_avx512_bf16())
	{
		tap_skip_n(2, "no AVX512_BF16 on this CPU");
		llm_fgemm_b_free(&pe);
		llm_fgemm_b_free(&pv);
		return;
	}
	llm_fgemm_part(llm_fgemm_avx512bf16, 1, v, NV, &pe, NULL, C, NV, 0, 1, &c0, &c1);
	llm_fgemm_part(llm_fgemm_bf16_ref, 1, v, NV, &pe, NULL, R, NV, 0, 1, &c0, &c1);
	same_a = memcmp(C, R, sizeof(float) * NV) == 0;
	for (int i = 0; i < NV && same_a; i++)
		same_a = bf16_round(v[i]) == C[i] || (isnan(C[i]) && isnan(v[i]));
	/* B rows holding every value (row j = v rotated by j) against A = identity */
	llm_fgemm_part(llm_fgemm_avx512bf16, NV, eye, NV, &pv, NULL, C, NV, 0, 1, &c0, &c1);
	llm_fgemm_part(llm_fgemm_bf16_ref, NV, eye, NV, &pv, NULL, R, NV, 0, 1, &c0, &c1);
	same_b = memcmp(C, R, sizeof(float) * NV * NV) == 0;
	for (int i = 0; i < NV * NV && same_b; i++)
		same_b = bf16_round(bv[(i % NV) * NV + i / NV]) == C[i] || isnan(C[i]);
	ok(same_a, "bf16: the kernel rounds A as llm_f32_to_bf16_rne (ties, denormals, -0, near the largest)");
	ok(same_b, "bf16: the kernel rounds B as llm_f32_to_bf16_rne");
	llm_fgemm_b_free(&pe);
	llm_fgemm_b_free(&pv);
}

/*
 * Packing rejects impossible sizes.
 */
static void
test_gemm(void)
{
	char		err[LLM_ERRLEN];
	llm_fgemm_b	pb;
	float		one = 1;

	test_gemm_case(37, 70, 48);
	test_gemm_case(13, 384, 384);
	test_gemm_case(6, 16, 1);
	test_gemm_bf16_case(37, 70, 48);
	test_gemm_bf16_case(13, 384, 383);
	test_gemm_bf16_case(25, 16, 1);
	test_bf16_rounding();
	ok(llm_fgemm_pack(&pb, 0, 4, &one, 16, copy_f32, err) < 0 && pb.data == NULL,
	   "pack: 0 rows rejected (%s)", err);
}

/*
 * Entry point.
 */
int
main(void)
{
	tap_plan(34);
	test_elementwise();
	test_gemm();
	return tap_done();
}
