/*
 * embed_int.h - helpers shared by the two paths of sentence embeddings,
 * the encoder (bert.c) and the decoder (embed_decoder.c). They live in
 * embed_common.c, which calls neither path, so the paths never call each
 * other or the front (embed.c).
 */
#ifndef LLM_EMBED_INT_H
#define LLM_EMBED_INT_H

#include "llm_embed.h"

/*
 * Lower *max_seq_len to max_seq when that is smaller (0: leave it); -1
 * with err below 2 (see llm_embed_model_cap_seq).
 */
int			llm_embed_cap_len(int *max_seq_len, int max_seq, char *err);

#endif							/* LLM_EMBED_INT_H */
