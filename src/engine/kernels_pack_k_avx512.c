/*
 * kernels_pack_k_avx512.c - AVX-512 VNNI (vpdpbusd on 256-bit vectors) products of the K-quant
 * weights packed eight rows at a time (llm_block_q4_Kx8 / q5_Kx8 / q6_Kx8)
 * with q8_K activation rows: the body is kernels_pack_k_simd.h, the
 * results the bits of the scalar reference kernels_pack_k_ref.c.
 *
 * Built with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mfma -mf16c;
 * nothing here may run before the cpuid check said yes. No implicit fused
 * multiply-add (pragma below), FMA only where written.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize ("fp-contract=off")
#endif

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include "kernels_pack_k_simd.h"

/* packed q4_K groups against q8_K activation rows; see llm_gemm8_fn */
static void
avx512_gemm8_q4_K_q8_K(int64_t n, int64_t ng, int64_t nc, const void *w8,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	pk_run(4, n, ng, nc, w8, a, a_stride, y, ldy);
}

/* packed q5_K groups against q8_K activation rows; see llm_gemm8_fn */
static void
avx512_gemm8_q5_K_q8_K(int64_t n, int64_t ng, int64_t nc, const void *w8,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	pk_run(5, n, ng, nc, w8, a, a_stride, y, ldy);
}

/* packed q6_K groups against q8_K activation rows; see llm_gemm8_fn */
static void
avx512_gemm8_q6_K_q8_K(int64_t n, int64_t ng, int64_t nc, const void *w8,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	pk_run(6, n, ng, nc, w8, a, a_stride, y, ldy);
}

/*
 * Replace the K-quant packed products of k with the AVX-512 versions (same
 * bits). Call only when the CPU has AVX-512.
 */
bool
llm_kernels_pack_k_avx512(llm_kernels *k)
{
	k->type[LLM_TYPE_Q4_K].gemm8 = avx512_gemm8_q4_K_q8_K;
	k->type[LLM_TYPE_Q5_K].gemm8 = avx512_gemm8_q5_K_q8_K;
	k->type[LLM_TYPE_Q6_K].gemm8 = avx512_gemm8_q6_K_q8_K;
	return true;
}

#else							/* not x86 */

/*
 * No AVX-512 code in this build.
 */
bool
llm_kernels_pack_k_avx512(llm_kernels *k)
{
	return false;
}

#endif							/* x86 */
