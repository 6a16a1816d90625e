/*
 * cuda_int.h - declarations shared by the CUDA module's host file
 * (backend.c, plain C) and its kernel files (*.cu): the device copies of
 * a model and the launchers, one per kind of operation, each in the .cu
 * file of its kernels. Launchers enqueue work on a stream and return the
 * launch status (cudaGetLastError); the host file checks every one.
 */
#ifndef LLM_CUDA_INT_H
#define LLM_CUDA_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C"
{
#endif

/* a weight matrix on the device, in its GGUF row layout (never dequantized
 * in place): ne1 rows of ne0 elements, row_bytes apart */
typedef struct cu_weight
{
	const void *d;
	int			type;			/* llm_type */
	int64_t		ne0;
	int64_t		ne1;
	size_t		row_bytes;
} cu_weight;

/*
 * 8-bit activations, one per 32 elements: x ~= d * qs; s0 and s1 are
 * d * (sum of qs[0..15]) and d * (sum of qs[16..31]) for the weight types
 * with an offset (q4_0, q4_1, q5_0, K-quants). Written once per step per
 * input row by cu_quantize_q8 and read by every product with that input.
 */
typedef struct cu_q8
{
	float		d;
	float		s0;
	float		s1;
	float		pad;
	int8_t		qs[32];
} cu_q8;

/* whether the module has code for the current device (cudaSuccess) */
cudaError_t cu_probe(void);

/* whether a weight type has an integer (dp4a) matrix-vector kernel */
int			cu_type_is_quant(int type);
/* whether a weight type is supported at all (quantized or f16/bf16/f32) */
int			cu_type_supported(int type);

/* ------------------------------------------------------ quant_mv.cu */

/* xq[t][n/32] = q8 of x[t][n] (n a multiple of 32), rows ldx floats apart */
cudaError_t cu_quantize_q8(const float *x, int64_t ldx, int64_t T, int64_t n, cu_q8 *xq,
						   cudaStream_t st);

/*
 * y[t * ldy + r] = dot(row r of w, input t) for T tokens (T <= CU_MV_MAX_T
 * per launch; the launcher loops over more): quantized types read xq (the
 * q8 input), f16/bf16/f32 weights read x (f32, ldx floats per row).
 */
#define CU_MV_MAX_T 8
cudaError_t cu_matvec(const cu_weight *w, const cu_q8 *xq, const float *x, int64_t ldx,
					  int64_t T, float *y, int64_t ldy, cudaStream_t st);

/* ------------------------------------------------------- dequant.cu */

/* rows [r0, r0 + nr) of w to f16 at out (nr x ne0, row-major) */
cudaError_t cu_dequant_f16(const cu_weight *w, int64_t r0, int64_t nr, uint16_t *out,
						   cudaStream_t st);
/* rows ids[0..n) of w to f32 at out (n x ne0), each times scale */
cudaError_t cu_get_rows(const cu_weight *w, const int32_t *ids, int64_t n, float scale,
						float *out, cudaStream_t st);
/* f32 [T x n] (rows ldx apart) to f16 [T x n] */
cudaError_t cu_f32_to_f16(const float *x, int64_t ldx, int64_t T, int64_t n, uint16_t *out,
						  cudaStream_t st);

/* ------------------------------------------------------- norm.cu */

/* out[r] = x[r] / rms(x[r]) * w for rows of n floats (rows ld apart in
 * both); out may be x */
cudaError_t cu_rmsnorm(const float *x, int64_t ldx, const float *w, int64_t rows, int64_t n,
					   float eps, float *out, int64_t ldo, cudaStream_t st);
/* x += y over n floats */
cudaError_t cu_add(float *x, const float *y, int64_t n, cudaStream_t st);
/* x[t][j] += b[j] for T rows of n */
cudaError_t cu_add_bias(float *x, const float *b, int64_t T, int64_t n, cudaStream_t st);

/* ------------------------------------------------------- ffn.cu */

/* g = act(g) * u over n floats: SiLU, or GELU (tanh form) when geglu */
cudaError_t cu_glu(float *g, const float *u, int64_t n, int geglu, cudaStream_t st);

/* ------------------------------------------------------- rope.cu */

typedef struct cu_rope_params
{
	int			n_head;
	int			n_head_kv;
	int			head_dim;
	int			n_rot;
	int			neox;			/* rotate halves instead of adjacent pairs */
	float		theta_base;
	float		freq_scale;
	const float *freqs;			/* optional divisors [n_rot / 2], or NULL */
} cu_rope_params;

/*
 * Rotate q [T, n_head * D] and k [T, n_head_kv * D] at each token's
 * position pos[t], then store k and v (f32 [T, n_head_kv * D]) as f16 into
 * each token's KV cache: kv[t] + (2 * layer) * cap[t] * KVD (+ cap * KVD
 * for v), row pos[t].
 */
cudaError_t cu_rope_store(float *q, float *k, const float *v, int64_t T, const int32_t *pos,
						  const cu_rope_params *p, uint16_t *const *kv, const int32_t *cap,
						  int layer, cudaStream_t st);

/* ------------------------------------------------------ attention.cu */

/*
 * out[t, h * D ..] = softmax(q_t,h . K^T * scale) V over positions
 * 0..pos[t] of token t's cache (layer layer, grouped heads), f16 K and V.
 */
cudaError_t cu_attention(const float *q, int64_t T, const int32_t *pos, uint16_t *const *kv,
						 const int32_t *cap, int layer, int n_head, int n_head_kv, int D,
						 float scale, float *out, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif							/* LLM_CUDA_INT_H */
