/*
 * vmath.h - element-wise float functions over arrays (exp, GELU, SwiGLU), with a
 * scalar reference and an AVX2 version chosen at run time.
 */
#ifndef LLM_VMATH_H
#define LLM_VMATH_H

#include <stdint.h>

#include "fgemm.h"

typedef struct llm_vmath
{
	const char *isa;			/* "scalar" or "avx2" */

	/* y[i] = gelu(y[i]) with the erf form of GELU */
	void		(*gelu) (float *y, int64_t n);
	/* g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i] (SwiGLU) */
	void		(*swiglu) (float *g, const float *u, int64_t n);
	/* y[i] = exp(y[i] - mx); returns the sum of the new y[i] */
	float		(*exp_shift_sum) (float *y, float mx, int64_t n);
	/* x = LayerNorm(x + res) * w + b over n elements (res may be NULL) */
	void		(*add_layernorm) (float *x, const float *res, const float *w,
								  const float *b, int64_t n, float eps);
	/* C = A * B^T (+ bias) over packed B, see gemm.h */
	llm_fgemm_fn gemm;
	/* "f32" (fused chains in f32) or "bf16" (llm_fgemm_avx512bf16) */
	const char *gemm_kind;
	/* the f32 product of the same isa, for models that need it */
	llm_fgemm_fn gemm_f32;
} llm_vmath;

/*
 * Fill v for the isa the kernels were chosen for ("avx2" or "avx512",
 * which share the AVX2 element-wise functions, or anything
 * else for the scalar reference). "avx512" on a CPU with AVX512_BF16
 * takes the bfloat16 matrix product (see fgemm.h).
 */
void		llm_vmath_init(llm_vmath *v, const char *isa);

/* the scalar reference (vmath.c) and AVX2 versions (vmath_avx2.c) */
void		llm_vmath_gelu_ref(float *y, int64_t n);
void		llm_vmath_swiglu_ref(float *g, const float *u, int64_t n);
float		llm_vmath_exp_shift_sum_ref(float *y, float mx, int64_t n);
void		llm_vmath_add_layernorm_ref(float *x, const float *res, const float *w,
										const float *b, int64_t n, float eps);
void		llm_vmath_gelu_avx2(float *y, int64_t n);
void		llm_vmath_swiglu_avx2(float *g, const float *u, int64_t n);
float		llm_vmath_exp_shift_sum_avx2(float *y, float mx, int64_t n);
void		llm_vmath_add_layernorm_avx2(float *x, const float *res, const float *w,
										 const float *b, int64_t n, float eps);

#endif							/* LLM_VMATH_H */
