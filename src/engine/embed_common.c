/*
 * embed_common.c - what both embedding paths use: pooling mode names and
 * the sequence cap (embed_int.h). A leaf: it calls no other embedding
 * file.
 */
#include "embed_int.h"

#include "llm_util.h"

/*
 * Pooling mode names.
 */
const char *
llm_embed_pooling_name(llm_embed_pooling p)
{
	switch (p)
	{
		case LLM_EMBED_POOL_MEAN:
			return "mean";
		case LLM_EMBED_POOL_CLS:
			return "cls";
		case LLM_EMBED_POOL_LAST:
			return "last";
		case LLM_EMBED_POOL_MAX:
			return "max";
		case LLM_EMBED_POOL_MEAN_SQRT:
			return "mean_sqrt_len";
	}
	return "?";
}

/*
 * Lower *max_seq_len to max_seq when that is smaller (0: leave it), for
 * both kinds of embedding model (see llm_embed_model_cap_seq).
 */
int
llm_embed_cap_len(int *max_seq_len, int max_seq, char *err)
{
	if (max_seq == 0)
		return 0;
	if (max_seq < 2)
		return llm_err(err, "sequence cap %d is too small to embed text (at least 2)", max_seq);
	if (max_seq < *max_seq_len)
		*max_seq_len = max_seq;
	return 0;
}
