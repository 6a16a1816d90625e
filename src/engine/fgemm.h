/*
 * fgemm.h - float matrix products C = A * B^T (+ bias) for the encoder's
 * weights, with B packed once at load time.
 *
 * Every element of C is one chain of fused multiply-adds over k in order
 * 0..K-1, started from its bias (or zero). That holds for the scalar
 * reference and the AVX2 kernel alike (an FMA is exactly rounded whatever
 * the register width), and for any number of rows in the call, any
 * position of a row inside it and any split over threads. So an
 * embedding never depends on the batch it was computed in, and the AVX2
 * kernel is bit-identical to the reference. (OpenBLAS was tried first:
 * its result for a row depends on the row's position in the call.)
 *
 * On CPUs with AVX512_BF16 a second product is available:
 * llm_fgemm_avx512bf16 rounds A and B to bfloat16 (round to nearest even,
 * denormals to zero) and adds two exact products per step with vdpbf16ps,
 * twice the arithmetic per instruction of an FMA. Its element is also one
 * fixed chain (over pairs of k), so it too is independent of the batch and
 * of the split over threads, and llm_fgemm_bf16_ref gives its bits.
 */
#ifndef LLM_FGEMM_H
#define LLM_FGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* columns of C per packed panel */
#define LLM_FGEMM_PANEL 16

/*
 * B [n x k] packed: panel p holds rows 16p .. 16p+15 of B (zero rows past
 * n), stored k-major: data[(p * k + kk) * 16 + j] = B[16p + j][kk].
 */
typedef struct llm_fgemm_b
{
	int64_t		n,
				k,
				n_panels;
	float	   *data;
} llm_fgemm_b;

/*
 * Pack a weight matrix of n rows of k values, row r at w + r * row_bytes,
 * converted to float by to_float (any weight type). -1 with err on
 * allocation failure or bad sizes.
 */
int			llm_fgemm_pack(llm_fgemm_b *b, int64_t n, int64_t k, const void *w,
						  size_t row_bytes, llm_to_float_fn to_float, char *err);
void		llm_fgemm_b_free(llm_fgemm_b *b);

/*
 * Compute columns of panels [p0, p1) of C [m x n] (row stride ldc) =
 * A [m x k] (row stride lda) * B^T, plus bias[n] when not NULL.
 */
typedef void (*llm_fgemm_fn) (int64_t m, const float *a, int64_t lda,
							 const llm_fgemm_b *b, int64_t p0, int64_t p1,
							 const float *bias, float *c, int64_t ldc);

void		llm_fgemm_ref(int64_t m, const float *a, int64_t lda, const llm_fgemm_b *b,
						 int64_t p0, int64_t p1, const float *bias, float *c, int64_t ldc);
void		llm_fgemm_avx2(int64_t m, const float *a, int64_t lda, const llm_fgemm_b *b,
						  int64_t p0, int64_t p1, const float *bias, float *c, int64_t ldc);

/*
 * The bfloat16 product: per element s = bias (or 0), then for each pair
 * (2i, 2i+1) of k (a missing last one is 0) s += A'[2i+1] * B'[2i+1],
 * s += A'[2i] * B'[2i], A' and B' the bfloat16 roundings (products are
 * exact in f32; each sum rounded to nearest even, a denormal sum flushed
 * to zero), as vdpbf16ps does. The reference in plain C and the AVX-512
 * version (call only when llm_cpu_has_avx512_bf16(); it falls back to
 * llm_fgemm_avx2 if its scratch memory cannot be allocated).
 */
void		llm_fgemm_bf16_ref(int64_t m, const float *a, int64_t lda, const llm_fgemm_b *b,
							  int64_t p0, int64_t p1, const float *bias, float *c, int64_t ldc);
void		llm_fgemm_avx512bf16(int64_t m, const float *a, int64_t lda, const llm_fgemm_b *b,
								int64_t p0, int64_t p1, const float *bias, float *c,
								int64_t ldc);

/* f32 to bfloat16 bits as vcvtne2ps2bf16 (nearest even, denormal to 0) */
uint16_t	llm_f32_to_bf16_rne(float x);

/*
 * Thread ith of nth: compute its contiguous share of the panels with fn;
 * the columns done are returned in [*c0, *c1).
 */
void		llm_fgemm_part(llm_fgemm_fn fn, int64_t m, const float *a, int64_t lda,
						  const llm_fgemm_b *b, const float *bias, float *c, int64_t ldc,
						  int ith, int nth, int64_t *c0, int64_t *c1);

#endif							/* LLM_FGEMM_H */
