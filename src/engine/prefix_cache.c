/*
 * prefix_cache.c - the KV rows of one recent prompt, reused by later
 * prompts that start with the same tokens (see llm_engine.h).
 *
 * The worker of the extension keeps one per generation model: a batch
 * UPDATE whose prompts share an instruction, or many sessions sending the
 * same prompt, then prefill only what differs. The cache is a sequence of
 * its own plus the tokens it holds; reuse and store are row copies.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "llm_engine.h"
#include "llm_util.h"
#include "model_int.h"
#include "prefix_cache.h"

struct llm_prefix_cache
{
	const llm_model *m;
	llm_seq    *seq;			/* rows 0 .. n - 1 hold the prompt's K and V */
	int32_t    *tok;			/* [max_pos] */
	int32_t		n;
	int32_t		max_pos;
};

/*
 * An empty cache for model m holding at most max_pos positions (capped at
 * the model's context). NULL with err on failure.
 */
llm_prefix_cache *
llm_prefix_cache_new(const llm_model *m, int32_t max_pos, char *err)
{
	llm_prefix_cache *c;

	if (max_pos > m->info.n_ctx)
		max_pos = m->info.n_ctx;
	if (max_pos < 1)
	{
		llm_err(err, "prefix cache of %d positions is too small", max_pos);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->tok = malloc(sizeof(int32_t) * (size_t) max_pos)) == NULL)
	{
		free(c);
		llm_err(err, "out of memory creating the prefix cache");
		return NULL;
	}
	c->seq = llm_seq_new(m, max_pos, err);
	if (c->seq == NULL)
	{
		free(c->tok);
		free(c);
		return NULL;
	}
	c->m = m;
	c->max_pos = max_pos;
	return c;
}

/*
 * Free a cache (NULL is fine).
 */
void
llm_prefix_cache_free(llm_prefix_cache *c)
{
	if (c == NULL)
		return;
	llm_seq_free(c->seq);
	free(c->tok);
	free(c);
}

/*
 * Forget the cached prompt (the memory is kept for the next one).
 */
void
llm_prefix_cache_clear(llm_prefix_cache *c)
{
	if (c == NULL)
		return;
	c->n = 0;
	llm_seq_clear(c->seq);
}

/*
 * Tokens the cache holds.
 */
int32_t
llm_prefix_cache_len(const llm_prefix_cache *c)
{
	return c ? c->n : 0;
}

/*
 * Length of the common prefix of the cached tokens and tok[0..n).
 */
int32_t
llm_prefix_cache_match(const llm_prefix_cache *c, const int32_t *tok, int32_t n)
{
	int32_t		i = 0;

	if (c == NULL)
		return 0;
	while (i < n && i < c->n && c->tok[i] == tok[i])
		i++;
	return i;
}

/*
 * Whether the cache already holds tok[0..n) (its first max_pos tokens
 * when longer), so that storing it again would change nothing.
 */
bool
llm_prefix_cache_holds(const llm_prefix_cache *c, const int32_t *tok, int32_t n)
{
	if (n > c->max_pos)
		n = c->max_pos;
	return c->n == n && llm_prefix_cache_match(c, tok, n) == n;
}

/*
 * Copy rows 0 .. n - 1 of every layer's K and V from src into dst, which
 * must be empty and of the same model; dst then holds n positions.
 */
static int
prefix_copy_rows(llm_seq *dst, const llm_seq *src, int32_t n, char *err)
{
	const llm_model *m = src->model;
	size_t		bytes = (size_t) n * (size_t) m->n_embd_kv * LLM_SEQ_ELT(src);

	if (dst->model != m || dst->f16 != src->f16 || dst->pos != 0 || n > src->pos)
		return llm_err(err, "prefix copy between incompatible sequences");
	if (src->dev_ops != NULL || dst->dev_ops != NULL)
	{
		/* a device-side cache: its owner copies (dst becomes device-side) */
		const llm_seq_dev_ops *ops = src->dev_ops ? src->dev_ops : dst->dev_ops;

		if ((src->dev_ops && dst->dev_ops && src->dev_ops != dst->dev_ops) ||
			(src->dev_ops == NULL && n > 0))
			return llm_err(err, "prefix copy between sequences on different devices");
		if (n == 0)
			return 0;
		return ops->copy(dst, src, n, err);
	}
	if (llm_seq_reserve(dst, n, err) < 0)
		return -1;
	for (int l = 0; l < m->info.n_layer; l++)
	{
		memcpy(dst->k[l], src->k[l], bytes);
		memcpy(dst->v[l], src->v[l], bytes);
	}
	dst->pos = n;
	return 0;
}

/*
 * Copy the first n cached positions into the empty sequence dst.
 */
int
llm_prefix_cache_load(const llm_prefix_cache *c, llm_seq *dst, int32_t n, char *err)
{
	if (n > c->n)
		return llm_err(err, "prefix of %d tokens is longer than the cache (%d)", n, c->n);
	return prefix_copy_rows(dst, c->seq, n, err);
}

/*
 * Replace the cache with the first n positions of src, whose tokens are
 * tok[0..n) (cut to the cache's size).
 */
int
llm_prefix_cache_store(llm_prefix_cache *c, const llm_seq *src, const int32_t *tok,
					   int32_t n, char *err)
{
	if (n > c->max_pos)
		n = c->max_pos;
	c->n = 0;
	llm_seq_clear(c->seq);
	if (prefix_copy_rows(c->seq, src, n, err) < 0)
		return -1;
	memcpy(c->tok, tok, sizeof(int32_t) * (size_t) n);
	c->n = n;
	return 0;
}
