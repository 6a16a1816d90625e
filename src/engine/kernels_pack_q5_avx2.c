/*
 * kernels_pack_q5_avx2.c - AVX2 (vpmaddubsw + vpmaddwd) products of packed
 * q4_0 / q5_0 weights (llm_block_q4_0x8, llm_block_q5_0x8) with q8_0
 * activation rows; the kernel itself is kernels_pack_q5_simd.h, the same
 * bits as the scalar reference in kernels_pack_q5_ref.c.
 *
 * Built with -mavx2 -mfma -mf16c; no implicit fused multiply-add
 * (pragma below), FMA only where written.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize ("fp-contract=off")
#endif

#include "kernels_pack_q5.h"

#if defined(__x86_64__) || defined(__i386__)

#define PQ5_VNNI 0
#include "kernels_pack_q5_simd.h"

/* packed q4_0 groups against q8_0 activation rows; see llm_gemm8_fn */
static void
pq5_avx2_gemm8_q4_0(int64_t n, int64_t ng, int64_t nc, const void *w8,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	pq5_run(false, n, ng, nc, w8, a, a_stride, y, ldy);
}

/* packed q5_0 groups against q8_0 activation rows; see llm_gemm8_fn */
static void
pq5_avx2_gemm8_q5_0(int64_t n, int64_t ng, int64_t nc, const void *w8,
				   const void *a, size_t a_stride, float *y, int64_t ldy)
{
	pq5_run(true, n, ng, nc, w8, a, a_stride, y, ldy);
}

/*
 * Replace the gemm8 of Q4_0 and Q5_0 in t (already holding their scalar
 * packed entries) with these.
 */
void
llm_pack_q5_overlay_avx2(llm_type_ops *t)
{
	t[LLM_TYPE_Q4_0].gemm8 = pq5_avx2_gemm8_q4_0;
	t[LLM_TYPE_Q5_0].gemm8 = pq5_avx2_gemm8_q5_0;
}

#else							/* not x86 */

/*
 * No x86 code in this build: t keeps the scalar entries.
 */
void
llm_pack_q5_overlay_avx2(llm_type_ops *t)
{
}

#endif							/* x86 */
