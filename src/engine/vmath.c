/*
 * vmath.c - scalar reference of the element-wise array functions, and the
 * choice between it and the AVX2 versions.
 */
#include "vmath.h"

#include <math.h>
#include <string.h>

/*
 * y = gelu(y), gelu(x) = x/2 * (1 + erf(x / sqrt(2))).
 */
void
llm_vmath_gelu_ref(float *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = 0.5f * y[i] * (1.0f + erff(y[i] * 0.70710678118654752f));
}

/*
 * y = exp(y - mx), returning the sum (accumulated in float, in order).
 */
float
llm_vmath_exp_shift_sum_ref(float *y, float mx, int64_t n)
{
	float		sum = 0;

	for (int64_t i = 0; i < n; i++)
	{
		y[i] = expf(y[i] - mx);
		sum += y[i];
	}
	return sum;
}

/*
 * g = silu(g) * u with libm's expf.
 */
void
llm_vmath_swiglu_ref(float *g, const float *u, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/*
 * x = (x + res - mean) / sqrt(var + eps) * w + b, statistics in double.
 */
void
llm_vmath_add_layernorm_ref(float *x, const float *res, const float *w, const float *b,
							int64_t n, float eps)
{
	double		mean = 0,
				var = 0;
	float		inv;
	int64_t		i;

	if (res)
		for (i = 0; i < n; i++)
			x[i] += res[i];
	for (i = 0; i < n; i++)
		mean += x[i];
	mean /= (double) n;
	for (i = 0; i < n; i++)
	{
		double		d = x[i] - mean;

		var += d * d;
	}
	var /= (double) n;
	inv = (float) (1.0 / sqrt(var + eps));
	for (i = 0; i < n; i++)
		x[i] = (float) (x[i] - mean) * inv * w[i] + b[i];
}

/*
 * See vmath.h.
 */
void
llm_vmath_init(llm_vmath *v, const char *isa)
{
#if defined(__x86_64__)
	if (isa != NULL && (strcmp(isa, "avx2") == 0 || strcmp(isa, "avx512") == 0))
	{
		v->isa = "avx2";
		v->gelu = llm_vmath_gelu_avx2;
		v->swiglu = llm_vmath_swiglu_avx2;
		v->exp_shift_sum = llm_vmath_exp_shift_sum_avx2;
		v->add_layernorm = llm_vmath_add_layernorm_avx2;
		v->gemm = llm_fgemm_avx2;
		v->gemm_kind = "f32";
		v->gemm_f32 = llm_fgemm_avx2;
		if (strcmp(isa, "avx512") == 0 && llm_cpu_has_avx512_bf16())
		{
			v->gemm = llm_fgemm_avx512bf16;
			v->gemm_kind = "bf16";
		}
		return;
	}
#endif
	v->isa = "scalar";
	v->gelu = llm_vmath_gelu_ref;
	v->swiglu = llm_vmath_swiglu_ref;
	v->exp_shift_sum = llm_vmath_exp_shift_sum_ref;
	v->add_layernorm = llm_vmath_add_layernorm_ref;
	v->gemm = llm_fgemm_ref;
	v->gemm_kind = "f32";
	v->gemm_f32 = llm_fgemm_ref;
}
