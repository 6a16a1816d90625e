/*
 * kernels_pack_q5.h - the packed 8-row layouts of q4_0 and q5_0 weights
 * (llm_block_q4_0x8, llm_block_q5_0x8 in quant.h) and their products with
 * q8_0 activation rows (llm_gemm8_fn). Internal to the kernel tables:
 * kernels_pack_q5_ref.c (scalar reference, pack8, row8_to_float),
 * kernels_pack_q5_avx2.c and kernels_pack_q5_avx512.c (gemm8, same bits).
 */
#ifndef LLM_KERNELS_PACK_Q5_H
#define LLM_KERNELS_PACK_Q5_H

#include "kernels.h"

/* fill pack8, gemm8 and row8_to_float of Q4_0 and Q5_0 in the scalar table t */
void		llm_pack_q5_init_scalar(llm_type_ops *t);

/* replace gemm8 of Q4_0 and Q5_0 in t with the AVX2 versions (AVX2 only) */
void		llm_pack_q5_overlay_avx2(llm_type_ops *t);

/* replace gemm8 of Q4_0 and Q5_0 in t with the AVX-512 VNNI versions */
void		llm_pack_q5_overlay_avx512(llm_type_ops *t);

#endif							/* LLM_KERNELS_PACK_Q5_H */
