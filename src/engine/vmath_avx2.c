/*
 * vmath_avx2.c - AVX2/FMA versions of the element-wise array functions
 * (compiled with -mavx2 -mfma; called only after a cpuid check).
 *
 * exp: x = n*ln2 + r with |r| <= ln2/2, e^r by a degree-6 Taylor
 * polynomial (relative error below 2e-7 on that range), times 2^n built
 * in the exponent bits. erf: the Abramowitz-Stegun formula 7.1.26,
 * absolute error below 1.5e-7, so GELU differs from the libm-based
 * reference by far less than the model's own float rounding.
 */
#include "vmath.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels_avx2_int.h"

/*
 * e^x for 8 lanes; inputs below -87.3 give 0 (as expf underflows), and
 * inputs are clamped at 88.
 */
static inline __m256
vm_exp8(__m256 x)
{
	const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
	const __m256 ln2_hi = _mm256_set1_ps(0.693359375f);
	const __m256 ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
	__m256		n,
				r,
				p;
	__m256i		e;
	__m256		under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);

	x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
	x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
	n = _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm256_fnmadd_ps(n, ln2_hi, x);
	r = _mm256_fnmadd_ps(n, ln2_lo, r);
	/* 1 + r + r^2/2 + ... + r^6/720, Horner */
	p = _mm256_set1_ps(1.0f / 720.0f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	p = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
	return _mm256_andnot_ps(under, p);
}

/*
 * gelu(x) for 8 lanes, erf by Abramowitz-Stegun 7.1.26.
 */
static inline __m256
vm_gelu8(__m256 x)
{
	const __m256 sign_mask = _mm256_set1_ps(-0.0f);
	__m256		z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
	__m256		az = _mm256_andnot_ps(sign_mask, z);
	__m256		t = _mm256_div_ps(_mm256_set1_ps(1.0f),
								  _mm256_fmadd_ps(az, _mm256_set1_ps(0.3275911f),
												  _mm256_set1_ps(1.0f)));
	__m256		p = _mm256_set1_ps(1.061405429f);
	__m256		erf_abs;

	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
	p = _mm256_mul_ps(p, t);
	/* erf(|z|) = 1 - p * exp(-z^2) */
	erf_abs = _mm256_fnmadd_ps(p, vm_exp8(_mm256_mul_ps(_mm256_xor_ps(az, sign_mask), az)),
							   _mm256_set1_ps(1.0f));
	/* 0.5 * x * (1 + sign(z) * erf(|z|)) */
	erf_abs = _mm256_or_ps(erf_abs, _mm256_and_ps(z, sign_mask));
	return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
						 _mm256_add_ps(_mm256_set1_ps(1.0f), erf_abs));
}

/*
 * y = gelu(y).
 */
void
llm_vmath_gelu_avx2(float *y, int64_t n)
{
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, vm_gelu8(_mm256_loadu_ps(y + i)));
	if (i < n)
	{
		float		tmp[8] = {0};
		int64_t		k;

		for (k = 0; k < n - i; k++)
			tmp[k] = y[i + k];
		_mm256_storeu_ps(tmp, vm_gelu8(_mm256_loadu_ps(tmp)));
		for (k = 0; k < n - i; k++)
			y[i + k] = tmp[k];
	}
}

/*
 * g = silu(g) * u = g / (1 + e^-g) * u; the tail goes through the same
 * vector code on a zero-padded copy, so every element gets the same
 * operations wherever it sits.
 */
void
llm_vmath_swiglu_avx2(float *g, const float *u, int64_t n)
{
	const __m256 one = _mm256_set1_ps(1.0f);
	const __m256 sign_mask = _mm256_set1_ps(-0.0f);
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		x = _mm256_loadu_ps(g + i);
		__m256		e = vm_exp8(_mm256_xor_ps(x, sign_mask));

		_mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)),
											  _mm256_loadu_ps(u + i)));
	}
	if (i < n)
	{
		float		tg[8] = {0},
					tu[8] = {0};
		int64_t		k;

		for (k = 0; k < n - i; k++)
			tg[k] = g[i + k], tu[k] = u[i + k];
		llm_vmath_swiglu_avx2(tg, tu, 8);
		for (k = 0; k < n - i; k++)
			g[i + k] = tg[k];
	}
}

/*
 * y = exp(y - mx); returns the sum of the results.
 */
float
llm_vmath_exp_shift_sum_avx2(float *y, float mx, int64_t n)
{
	__m256		m = _mm256_set1_ps(mx),
				acc = _mm256_setzero_ps();
	float		sum;
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		e = vm_exp8(_mm256_sub_ps(_mm256_loadu_ps(y + i), m));

		_mm256_storeu_ps(y + i, e);
		acc = _mm256_add_ps(acc, e);
	}
	sum = hsum_ps(acc);
	if (i < n)
	{
		float		tmp[8];
		int64_t		k;

		for (k = 0; k < 8; k++)
			tmp[k] = i + k < n ? y[i + k] - mx : -INFINITY;
		_mm256_storeu_ps(tmp, vm_exp8(_mm256_loadu_ps(tmp)));
		for (k = 0; k < n - i; k++)
		{
			y[i + k] = tmp[k];
			sum += tmp[k];
		}
	}
	return sum;
}

/*
 * x = LayerNorm(x + res) * w + b, statistics in float over 8 lanes (two
 * passes: mean, then the mean of squared deviations).
 */
void
llm_vmath_add_layernorm_avx2(float *x, const float *res, const float *w, const float *b,
							 int64_t n, float eps)
{
	__m256		acc = _mm256_setzero_ps(),
				vm,
				vi;
	float		mean,
				var,
				inv;
	int64_t		i = 0;

	if (res)
		for (i = 0; i + 8 <= n; i += 8)
			_mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(res + i)));
	for (; res && i < n; i++)
		x[i] += res[i];
	for (i = 0; i + 8 <= n; i += 8)
		acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
	mean = hsum_ps(acc);
	for (; i < n; i++)
		mean += x[i];
	mean /= (float) n;
	vm = _mm256_set1_ps(mean);
	acc = _mm256_setzero_ps();
	for (i = 0; i + 8 <= n; i += 8)
	{
		__m256		d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);

		acc = _mm256_fmadd_ps(d, d, acc);
	}
	var = hsum_ps(acc);
	for (; i < n; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= (float) n;
	inv = 1.0f / sqrtf(var + eps);
	vi = _mm256_set1_ps(inv);
	for (i = 0; i + 8 <= n; i += 8)
	{
		__m256		d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vi);

		_mm256_storeu_ps(x + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(w + i), _mm256_loadu_ps(b + i)));
	}
	for (; i < n; i++)
		x[i] = (x[i] - mean) * inv * w[i] + b[i];
}

#endif							/* __x86_64__ */
