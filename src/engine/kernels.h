/*
 * kernels.h - CPU compute kernels behind a function table.
 *
 * Every kernel has a portable scalar reference (kernels_ref.c); faster
 * versions (kernels_avx2.c, built with -mavx2 -mfma -mf16c; the packed
 * products also in AVX-512 VNNI, kernels_gemm8_avx512.c) are chosen at
 * start-up after a cpuid check. The table is filled once and then only
 * read, so it may be shared between threads.
 *
 * Matrix products use the "vec_dot" scheme: an activation row of f32 is
 * first converted to the type's vec_dot_type (e.g. q8_1 for q4_1 weights,
 * q8_K for K-quants, f32 for f32 weights), then dotted with weight rows.
 */
#ifndef LLM_KERNELS_H
#define LLM_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "llm_types.h"

/* s[0] = dot(weight row w, activation row a), n elements */
typedef void (*llm_vec_dot_fn) (int64_t n, float *s, const void *w, const void *a);
/*
 * A block of a matrix product: y[c * ldy + r] = dot(w_r, a_c) for the nr
 * weight rows w_r = w + r * w_stride bytes and the nc activation rows
 * a_c = a + c * a_stride bytes. Optional; when present every result is
 * bit-identical to the same table's vec_dot on that pair, so results do
 * not depend on how tokens are grouped into a batch.
 */
typedef void (*llm_gemm_fn) (int64_t n, int64_t nr, int64_t nc,
							 const void *w, size_t w_stride,
							 const void *a, size_t a_stride,
							 float *y, int64_t ldy);
/*
 * Weights packed eight rows at a time (see llm_pack8_fn): for ng groups of
 * 8 rows at w8 (group g at w8 + g * 8 * row size) and nc activation rows
 * a_c = a + c * a_stride bytes, y[c * ldy + 8 * g + r] = dot(row 8g + r,
 * a_c). Every pair's result is the same bits whatever ng, nc and the ISA
 * (the scalar reference and the SIMD kernels do the same float
 * operations), so results do not depend on batching. They may differ in
 * the last bits from vec_dot on the unpacked row. Rows have at most
 * LLM_GEMM8_MAX_N elements (the loader packs no longer ones).
 */
#define LLM_GEMM8_MAX_N (32 * 8192)
typedef void (*llm_gemm8_fn) (int64_t n, int64_t ng, int64_t nc, const void *w8,
							  const void *a, size_t a_stride, float *y, int64_t ldy);
/* pack 8 rows of n elements, row_bytes apart at w, into one group at dst */
typedef void (*llm_pack8_fn) (int64_t n, const void *w, size_t row_bytes, void *dst);
/*
 * Row r (0..7) of the packed group w8 of rows of n elements (one group of
 * llm_pack8_fn's output) to n f32 values: the same bits as to_float on
 * that row before packing.
 */
typedef void (*llm_row8_to_float_fn) (int64_t n, const void *w8, int r, float *y);
/* convert n f32 values into a row of this type (n multiple of block) */
typedef void (*llm_from_float_fn) (const float *x, void *y, int64_t n);
/* convert a row of this type into n f32 values */
typedef void (*llm_to_float_fn) (const void *x, float *y, int64_t n);

typedef struct llm_type_ops
{
	llm_to_float_fn to_float;	/* every weight and activation type */
	llm_from_float_fn from_float;	/* activation types, and weight types
									 * (round-to-nearest, for fixtures) */
	llm_vec_dot_fn vec_dot;		/* weight types */
	llm_type	vec_dot_type;	/* activation format vec_dot expects */
	llm_gemm_fn gemm;			/* optional, see llm_gemm_fn */
	llm_pack8_fn pack8;			/* optional: weight types with an 8-row layout */
	llm_gemm8_fn gemm8;			/* present with pack8, see llm_gemm8_fn */
	llm_row8_to_float_fn row8_to_float;	/* present with pack8 */
} llm_type_ops;

typedef struct llm_kernels
{
	const char *isa;			/* "scalar", "avx2" or "avx512" */
	llm_type_ops type[LLM_TYPE_COUNT];

	/* f32 helpers used by the forward pass */
	float		(*dot_f32) (int64_t n, const float *x, const float *y);
	void		(*axpy_f32) (int64_t n, float a, const float *x, float *y);	/* y += a*x */
	void		(*scale_f32) (int64_t n, float a, float *y);	/* y *= a */

	/*
	 * Attention helpers, bit-identical to the loops they replace:
	 * dot_f32_rows: out[r] = dot_f32(n, x, y + r * stride) * scale, r < rows;
	 * axpy_f32_rows: axpy_f32(n, a[r], x + r * stride, y) for r = 0, 1, ...
	 */
	void		(*dot_f32_rows) (int64_t n, const float *x, const float *y, int64_t stride,
								 int64_t rows, float scale, float *out);
	void		(*axpy_f32_rows) (int64_t n, const float *a, const float *x, int64_t stride,
								  int64_t rows, float *y);

	/*
	 * The same over an f16 KV cache: y (dot) and x (axpy) hold f16 rows.
	 * Each element is widened to f32 and then goes through exactly the
	 * arithmetic of the f32 helper above, so the result is bit-identical
	 * to it on the widened rows.
	 */
	void		(*dot_f16_rows) (int64_t n, const float *x, const uint16_t *y, int64_t stride,
								 int64_t rows, float scale, float *out);
	void		(*axpy_f16_rows) (int64_t n, const float *a, const uint16_t *x, int64_t stride,
								  int64_t rows, float *y);

	/*
	 * Attention weights: y = exp(y - max y) / sum over n > 0 values. The
	 * scalar reference (expf, one double sum in order) serves the scalar
	 * and AVX2 tables; the AVX-512 one has the same bits.
	 */
	void		(*softmax) (int64_t n, float *y);

	/*
	 * Optional (NULL: the caller loops over the single forms): the same
	 * over G query heads that share their K/V rows (grouped-query
	 * attention), each head's result bit-identical to the single form.
	 * dot: out[g * os + r] = dot(x + g * xs, row r of y) * scale;
	 * axpy: for each g, y + g * ys += a[g * as + r] * (row r of x), r in order.
	 */
	void		(*dot_f32_rows_g) (int64_t n, int G, const float *x, int64_t xs, const float *y,
								   int64_t stride, int64_t rows, float scale, float *out,
								   int64_t os);
	void		(*dot_f16_rows_g) (int64_t n, int G, const float *x, int64_t xs,
								   const uint16_t *y, int64_t stride, int64_t rows, float scale,
								   float *out, int64_t os);
	void		(*axpy_f32_rows_g) (int64_t n, int G, const float *a, int64_t as, const float *x,
									int64_t stride, int64_t rows, float *y, int64_t ys);
	void		(*axpy_f16_rows_g) (int64_t n, int G, const float *a, int64_t as,
									const uint16_t *x, int64_t stride, int64_t rows, float *y,
									int64_t ys);
} llm_kernels;

/* Fill k with the scalar reference kernels. */
void		llm_kernels_init_scalar(llm_kernels *k);

/*
 * Fill k with the best kernels this CPU supports. want may be NULL or
 * "auto" (cpuid), "scalar", "avx2" (falls back to scalar when the CPU
 * lacks AVX2/FMA/F16C) or "avx512" (the AVX2 table with the packed
 * products in AVX-512 VNNI and the attention helpers in AVX-512 with the
 * AVX2 bits; falls back to "avx2", then scalar). Returns
 * the chosen isa name.
 */
const char *llm_kernels_init(llm_kernels *k, const char *want);

/* true when the CPU has AVX2, FMA and F16C (and the OS saves YMM state) */
int			llm_cpu_has_avx2(void);

/*
 * true when llm_cpu_has_avx2() and the CPU has AVX-512 F, BW, VL and VNNI
 * and the OS saves the opmask and ZMM state (XCR0 bits 5, 6, 7)
 */
int			llm_cpu_has_avx512(void);

/* true when llm_cpu_has_avx512() and the CPU has AVX512_BF16 */
int			llm_cpu_has_avx512_bf16(void);

/*
 * Internal (kernels.c, kernels_avx2.c): replace entries of k, already
 * filled by llm_kernels_init_scalar(), with their AVX2 versions. Call only
 * when llm_cpu_has_avx2(). Returns false when this build has no AVX2 code
 * (not an x86 target), leaving k unchanged.
 */
bool		llm_kernels_overlay_avx2(llm_kernels *k);

/*
 * Internal (kernels_gemm8_avx512.c): replace the packed 8-row products
 * (gemm8) of k, already filled by llm_kernels_overlay_avx2(), with their
 * AVX-512 VNNI versions (same bits). Call only when llm_cpu_has_avx512().
 * Returns false when this build has no AVX-512 code.
 */
bool		llm_kernels_overlay_avx512(llm_kernels *k);

/*
 * Internal (kernels_att_avx512.c): replace the attention helpers of k
 * (dot, axpy, their row and grouped forms, softmax) with AVX-512
 * versions of the same bits as the AVX2 table's (the softmax: the scalar
 * reference's). Part of the "avx512" table; call only when
 * llm_cpu_has_avx512().
 */
bool		llm_kernels_overlay_avx512_att(llm_kernels *k);

/*
 * Internal (kernels_att_avx512.c, for its softmax and the tests):
 * y[i] = expf(x[i]), i < n, with the C library's bits, 16 at a time (see
 * the file). Call only when llm_cpu_has_avx512().
 */
void		llm_avx512_expf_rows(int64_t n, const float *x, float *y);

/*
 * Internal (kernels_pack_k_*.c): the 8-row packed layouts of q4_K, q5_K
 * and q6_K. _scalar fills pack8, gemm8 and row8_to_float of the scalar
 * table (from llm_kernels_init_scalar); _avx2 and _avx512 replace gemm8
 * with versions of the same bits (from llm_kernels_init, after the
 * overlays above; call only when the CPU has the ISA). They return false
 * when the build has no such code.
 */
void		llm_kernels_pack_k_scalar(llm_kernels *k);
bool		llm_kernels_pack_k_avx2(llm_kernels *k);
bool		llm_kernels_pack_k_avx512(llm_kernels *k);

#endif							/* LLM_KERNELS_H */
