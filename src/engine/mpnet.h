/*
 * mpnet.h - what the MPNet encoder adds to BERT (bert.c): a learned bias
 * per attention head for the bucketed distance between key and query
 * positions, shared by every layer (MPNet's "relative_attention_bias").
 */
#ifndef LLM_MPNET_H
#define LLM_MPNET_H

#include <stdint.h>

/*
 * The bucket of a relative position rel = key position - query position,
 * as MPNet computes it: half of the n_buckets for keys after the query,
 * the first quarter of each half exact distances, the rest log-spaced up
 * to max_distance (farther distances share the last bucket). -1 when the
 * arguments are out of range (n_buckets < 4 or odd, max_distance too
 * small).
 */
int			llm_mpnet_bucket(int rel, int n_buckets, int max_distance);

/*
 * The bias each head adds to the attention score of a query at position i
 * and a key at position j, for |j - i| < max_len: out[h * (2 * max_len - 1)
 * + (j - i) + max_len - 1] = w[bucket(j - i) * n_heads + h], w being the
 * model's n_buckets x n_heads table. out is malloc'd (caller frees); -1
 * with err on failure.
 */
int			llm_mpnet_bias_table(const float *w, int n_buckets, int n_heads,
								 int max_distance, int max_len, float **out,
								 char *err);

#endif							/* LLM_MPNET_H */
