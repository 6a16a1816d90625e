/*
 * gen.c - one generation request, driven step by step.
 *
 * The caller (llm-cli, or the extension's worker running many requests in
 * one batch) repeats: llm_gen_prepare() -> llm_engine_step() ->
 * llm_gen_advance(), until the request finishes. The prompt is fed in
 * chunks; after its last chunk every step feeds the previously sampled
 * token and samples the next one.
 */
#include "model_int.h"
#include "prefix_cache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct llm_gen
{
	const llm_model *m;
	llm_seq    *seq;
	llm_sampler *smp;
	int32_t    *prompt;
	int32_t		n_prompt;
	int32_t		n_fed;			/* prompt tokens already run */
	int32_t		n_pending;		/* tokens in the prepared item */
	int32_t		last;			/* last sampled token */
	bool		last_fed;		/* last has been run through the model */
	int32_t		n_gen;
	int32_t		max_tokens;
	float	   *logits;			/* [n_vocab] */
	char	  **stop;
	int32_t		n_stop;
	size_t		stop_max;		/* longest stop string */
	char	   *text;
	size_t		len;
	size_t		cap;
	llm_finish	finish;
	/* structured output (json_schema != NULL) */
	const llm_json_schema *json_schema;
	const llm_vocab_trie *trie;
	llm_vocab_trie *own_trie;	/* built here when the caller gave none */
	llm_json_masker *masker;
	uint8_t    *allowed;		/* [n_vocab] */
	llm_jm_state *jm;
	bool		json_dead;
	double		mask_sec;
};

/*
 * Defaults: greedy, 128 tokens, BOS as the model says, no stop strings.
 */
void
llm_gen_defaults(llm_gen_params *p)
{
	memset(p, 0, sizeof(*p));
	llm_sampling_defaults(&p->sampling);
	p->max_tokens = 128;
	p->add_bos = -1;
	p->parse_special = true;
	p->truncation = LLM_TRUNC_ERROR;
}

/*
 * Apply the truncation policy so that the prompt leaves room for
 * max_tokens in a context of n_ctx positions. left and right refuse to
 * cut a prompt to a sliver: when max_tokens takes more than half of the
 * context and the cut would keep less than half of the prompt, the
 * request fails instead.
 */
static int
llm_gen_truncate(llm_gen *g, const llm_gen_params *p, int32_t n_ctx, bool has_bos,
				 char *err)
{
	int32_t		room;

	if (p->max_tokens >= n_ctx)
		return llm_err(err, "max_tokens %d does not fit the context of %d tokens",
					   p->max_tokens, n_ctx);
	room = n_ctx - p->max_tokens;
	if (g->n_prompt <= room)
		return 0;
	if (p->truncation == LLM_TRUNC_ERROR)
		return llm_err(err, "prompt of %d tokens plus max_tokens %d exceeds the context of %d tokens",
					   g->n_prompt, p->max_tokens, n_ctx);
	if (p->truncation != LLM_TRUNC_LEFT && p->truncation != LLM_TRUNC_RIGHT)
		return llm_err(err, "unknown truncation mode %d", (int) p->truncation);
	if (2 * (int64_t) p->max_tokens > n_ctx && 2 * (int64_t) room < g->n_prompt)
		return llm_err(err, "prompt of %d tokens would be cut to %d tokens to leave room "
					   "for max_tokens %d in the context of %d tokens",
					   g->n_prompt, room, p->max_tokens, n_ctx);
	if (p->truncation == LLM_TRUNC_LEFT)
	{
		/* keep a leading BOS, drop the oldest tokens after it */
		int32_t		keep = has_bos ? 1 : 0;
		int32_t		drop = g->n_prompt - room;

		memmove(g->prompt + keep, g->prompt + keep + drop,
				(size_t) (g->n_prompt - keep - drop) * sizeof(int32_t));
	}
	/* right keeps the first room tokens */
	g->n_prompt = room;
	return 0;
}

/*
 * Structured output: the vocabulary trie (the caller's or our own), the
 * masker's scratch and the matcher's start state.
 */
static int
llm_gen_json_setup(llm_gen *g, const llm_gen_params *p, char *err)
{
	if (g->n_stop > 0)
		return llm_err(err, "stop strings cannot be combined with a JSON schema");
	g->json_schema = p->json_schema;
	g->trie = p->vocab_trie;
	if (g->trie == NULL)
	{
		if (llm_vocab_trie_new(&g->own_trie, g->m->tok, err) < 0)
			return -1;
		g->trie = g->own_trie;
	}
	if (llm_vocab_trie_n_vocab(g->trie) != g->m->info.n_vocab)
		return llm_err(err, "the vocabulary trie is not this model's");
	g->masker = llm_json_masker_new();
	g->allowed = malloc((size_t) g->m->info.n_vocab);
	g->jm = malloc(sizeof(llm_jm_state));
	if (g->masker == NULL || g->allowed == NULL || g->jm == NULL)
		return llm_err(err, "out of memory");
	llm_jm_init(g->json_schema, g->jm);
	return 0;
}

/*
 * Whether a generation with parameters p on m starts its prompt with BOS
 * (see llm_engine.h).
 */
bool
llm_gen_wants_bos(const llm_model *m, const llm_gen_params *p)
{
	bool		bos = p->add_bos < 0 ? llm_tokenizer_add_bos(m->tok) : p->add_bos != 0;

	return bos && llm_tokenizer_bos(m->tok) >= 0;
}

/*
 * Start a generation. See llm_engine.h.
 */
int
llm_gen_new(llm_gen **out, const llm_model *m, const char *prompt, size_t len,
			const llm_gen_params *p, char *err)
{
	int32_t    *ids = NULL;
	size_t		n = 0;
	bool		bos = llm_gen_wants_bos(m, p);

	*out = NULL;
	if (!p->parse_special && p->n_special_marks > 0)
	{
		if (llm_tokenize_marked_ex(m->tok, prompt, len, bos, p->special_marks,
								   p->n_special_marks, p->abort, &ids, &n, err) < 0)
			return -1;
	}
	else if (llm_tokenize_ex(m->tok, prompt, len, bos, p->parse_special, p->abort,
							 &ids, &n, err) < 0)
		return -1;
	return llm_gen_new_ids(out, m, ids, n, p, err);
}

/*
 * Start a generation from a tokenized prompt. See llm_engine.h.
 */
int
llm_gen_new_ids(llm_gen **out, const llm_model *m, int32_t *ids, size_t n,
				const llm_gen_params *p, char *err)
{
	llm_gen    *g;
	bool		bos = llm_gen_wants_bos(m, p);
	int32_t		i;

	*out = NULL;
	if (p->max_tokens <= 0)
	{
		free(ids);
		return llm_err(err, "max_tokens must be positive, got %d", p->max_tokens);
	}
	if (p->n_stop < 0 || (p->n_stop > 0 && p->stop == NULL))
	{
		free(ids);
		return llm_err(err, "invalid stop list");
	}
	if (llm_sampling_validate(&p->sampling, err) < 0)
	{
		free(ids);
		return -1;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL)
	{
		free(ids);
		return llm_err(err, "out of memory");
	}
	g->m = m;
	g->max_tokens = p->max_tokens;
	g->prompt = ids;
	if (n == 0)
	{
		llm_err(err, "the prompt is empty");
		goto fail;
	}
	if (n > (size_t) INT32_MAX / 2)
	{
		llm_err(err, "prompt is too long");
		goto fail;
	}
	g->n_prompt = (int32_t) n;
	if (llm_gen_truncate(g, p, m->info.n_ctx, bos, err) < 0)
		goto fail;
	g->seq = llm_seq_new(m, g->n_prompt + g->max_tokens, err);
	if (g->seq == NULL)
		goto fail;
	g->smp = llm_sampler_new(&p->sampling, m->info.n_vocab);
	g->logits = malloc((size_t) m->info.n_vocab * sizeof(float));
	if (g->smp == NULL || g->logits == NULL)
	{
		llm_err(err, "out of memory");
		goto fail;
	}
	for (i = 0; i < g->n_prompt; i++)
		llm_sampler_accept(g->smp, g->prompt[i]);
	if (p->n_stop > 0)
	{
		g->stop = calloc((size_t) p->n_stop, sizeof(char *));
		if (g->stop == NULL)
		{
			llm_err(err, "out of memory");
			goto fail;
		}
		for (i = 0; i < p->n_stop; i++)
		{
			if (p->stop[i] == NULL || p->stop[i][0] == '\0')
				continue;		/* empty stop strings are ignored */
			g->stop[g->n_stop] = strdup(p->stop[i]);
			if (g->stop[g->n_stop] == NULL)
			{
				llm_err(err, "out of memory");
				goto fail;
			}
			if (strlen(p->stop[i]) > g->stop_max)
				g->stop_max = strlen(p->stop[i]);
			g->n_stop++;
		}
	}
	if (p->json_schema != NULL && llm_gen_json_setup(g, p, err) < 0)
		goto fail;
	g->text = malloc(64);
	if (g->text == NULL)
	{
		llm_err(err, "out of memory");
		goto fail;
	}
	g->cap = 64;
	g->text[0] = '\0';
	*out = g;
	return 0;

fail:
	llm_gen_free(g);
	return -1;
}

void
llm_gen_free(llm_gen *g)
{
	int32_t		i;

	if (g == NULL)
		return;
	llm_seq_free(g->seq);
	llm_sampler_free(g->smp);
	free(g->prompt);
	free(g->logits);
	for (i = 0; i < g->n_stop; i++)
		free(g->stop[i]);
	free(g->stop);
	free(g->text);
	llm_vocab_trie_free(g->own_trie);
	llm_json_masker_free(g->masker);
	free(g->allowed);
	free(g->jm);
	free(g);
}

/*
 * Fill *item with the next tokens to run. See llm_engine.h.
 */
int32_t
llm_gen_prepare(llm_gen *g, llm_batch_item *item, int32_t max_tokens)
{
	memset(item, 0, sizeof(*item));
	g->n_pending = 0;
	if (g->finish != LLM_FINISH_NONE || max_tokens <= 0)
		return 0;
	item->seq = g->seq;
	if (g->n_fed < g->n_prompt)
	{
		int32_t		n = g->n_prompt - g->n_fed;

		if (n > max_tokens)
			n = max_tokens;
		item->tokens = g->prompt + g->n_fed;
		item->n_tokens = n;
		item->logits = g->n_fed + n == g->n_prompt ? g->logits : NULL;
	}
	else
	{
		item->tokens = &g->last;
		item->n_tokens = 1;
		item->logits = g->logits;
	}
	g->n_pending = item->n_tokens;
	return item->n_tokens;
}

/*
 * Append bytes to the output text.
 */
static int
llm_gen_append(llm_gen *g, const char *s, size_t n)
{
	if (g->len + n + 1 > g->cap)
	{
		size_t		cap = g->cap * 2;
		char	   *t;

		while (cap < g->len + n + 1)
			cap *= 2;
		t = realloc(g->text, cap);
		if (t == NULL)
			return -1;
		g->text = t;
		g->cap = cap;
	}
	memcpy(g->text + g->len, s, n);
	g->len += n;
	g->text[g->len] = '\0';
	return 0;
}

/*
 * Look for a stop string that ends in the text added since old_len; cut
 * the text at the earliest match.
 */
static bool
llm_gen_check_stop(llm_gen *g, size_t old_len)
{
	size_t		from = old_len > g->stop_max ? old_len - g->stop_max : 0;
	size_t		best = SIZE_MAX;
	int32_t		i;

	for (i = 0; i < g->n_stop; i++)
	{
		const char *hit = strstr(g->text + from, g->stop[i]);

		if (hit != NULL && (size_t) (hit - g->text) < best)
			best = (size_t) (hit - g->text);
	}
	if (best == SIZE_MAX)
		return false;
	g->len = best;
	g->text[best] = '\0';
	return true;
}

/*
 * Before sampling under a schema: set to -inf the logits of every token
 * that cannot continue the document (end-of-generation tokens count as
 * continuing once it is complete). false when no token is left: the
 * generation is then finished (complete, or dead).
 */
static bool
llm_gen_json_mask(llm_gen *g)
{
	double		t0 = llm_time_sec();
	int32_t		n_vocab = g->m->info.n_vocab;
	int32_t		n, i;
	bool		complete = llm_jm_complete(g->json_schema, g->jm);

	n = llm_json_mask(g->masker, g->trie, g->json_schema, g->jm, g->allowed);
	if (n == 0)
	{
		g->mask_sec += llm_time_sec() - t0;
		g->json_dead = !complete;
		g->finish = complete ? LLM_FINISH_EOS : LLM_FINISH_LENGTH;
		return false;
	}
	if (complete)
		llm_vocab_trie_allow_eog(g->trie, g->allowed);
	for (i = 0; i < n_vocab; i++)
		if (!g->allowed[i])
			g->logits[i] = -INFINITY;
	g->mask_sec += llm_time_sec() - t0;
	return true;
}

/*
 * After sampling tok under a schema: feed its bytes to the matcher.
 * true when the document is now complete and nothing can follow it.
 */
static bool
llm_gen_json_accept(llm_gen *g, int32_t tok)
{
	size_t		len;
	const char *b = llm_vocab_trie_piece(g->trie, tok, &len);
	int			t;

	if (b == NULL || !llm_jm_feed_bytes(g->json_schema, g->jm, b, len))
	{
		g->json_dead = true;	/* cannot happen: the mask allowed it */
		return false;
	}
	for (t = 0; t < g->jm->n_threads; t++)
		if (!g->jm->started || g->jm->depth[t] != 0)
			return false;
	return true;
}

/*
 * Account for the step that ran the prepared item; sample when logits are
 * due. See llm_engine.h.
 */
llm_finish
llm_gen_advance(llm_gen *g)
{
	char		piece[256];
	int			n;
	int32_t		tok;
	size_t		old_len;

	if (g->finish != LLM_FINISH_NONE || g->n_pending == 0)
		return g->finish;
	if (g->n_fed < g->n_prompt)
	{
		g->n_fed += g->n_pending;
		g->n_pending = 0;
		if (g->n_fed < g->n_prompt)
			return LLM_FINISH_NONE;
	}
	g->n_pending = 0;

	if (g->json_schema != NULL && !llm_gen_json_mask(g))
		return g->finish;
	tok = llm_sampler_sample(g->smp, g->logits);
	llm_sampler_accept(g->smp, tok);
	g->n_gen++;
	g->last = tok;
	if (llm_tokenizer_is_eog(g->m->tok, tok))
	{
		g->finish = LLM_FINISH_EOS;
		return g->finish;
	}
	old_len = g->len;
	n = llm_token_to_piece(g->m->tok, tok, false, piece, sizeof(piece));
	if (n > (int) sizeof(piece))
	{
		char	   *big = malloc((size_t) n);

		if (big == NULL || llm_token_to_piece(g->m->tok, tok, false, big, (size_t) n) != n ||
			llm_gen_append(g, big, (size_t) n) < 0)
		{
			free(big);
			g->finish = LLM_FINISH_LENGTH;	/* out of memory: stop cleanly */
			return g->finish;
		}
		free(big);
	}
	else if (n > 0 && llm_gen_append(g, piece, (size_t) n) < 0)
	{
		g->finish = LLM_FINISH_LENGTH;
		return g->finish;
	}
	if (g->json_schema != NULL && llm_gen_json_accept(g, tok))
		g->finish = LLM_FINISH_EOS;
	else if (g->json_dead)
		g->finish = LLM_FINISH_LENGTH;
	else if (g->n_stop > 0 && llm_gen_check_stop(g, old_len))
		g->finish = LLM_FINISH_STOP;
	else if (g->n_gen >= g->max_tokens || g->seq->pos >= g->seq->max_pos)
		g->finish = LLM_FINISH_LENGTH;
	return g->finish;
}

llm_finish
llm_gen_finish(const llm_gen *g)
{
	return g->finish;
}

/*
 * The text so far. While running, an incomplete trailing UTF-8 sequence
 * is held back; once finished, it is dropped so the result is valid UTF-8
 * as far as the model's bytes allow.
 */
const char *
llm_gen_text(const llm_gen *g, size_t *len)
{
	*len = llm_utf8_complete_prefix(g->text, g->len);
	return g->text;
}

/*
 * Where the schema-constrained document stands. See llm_engine.h.
 */
llm_json_status
llm_gen_json_status(const llm_gen *g)
{
	if (g->json_schema == NULL)
		return LLM_JSON_OFF;
	if (g->json_dead)
		return LLM_JSON_DEAD;
	return llm_jm_complete(g->json_schema, g->jm) ? LLM_JSON_COMPLETE : LLM_JSON_PARTIAL;
}

double
llm_gen_mask_seconds(const llm_gen *g)
{
	return g->mask_sec;
}

int32_t
llm_gen_n_prompt(const llm_gen *g)
{
	return g->n_prompt;
}

/*
 * The prompt tokens the generation runs. See llm_engine.h.
 */
const int32_t *
llm_gen_prompt(const llm_gen *g)
{
	return g->prompt;
}

int32_t
llm_gen_n_generated(const llm_gen *g)
{
	return g->n_gen;
}

const char *
llm_finish_name(llm_finish f)
{
	switch (f)
	{
		case LLM_FINISH_NONE:
			return "running";
		case LLM_FINISH_LENGTH:
			return "length";
		case LLM_FINISH_EOS:
			return "eos";
		case LLM_FINISH_STOP:
			return "stop";
	}
	return "unknown";
}

/*
 * Start g's prefill after the longest cached prefix of its prompt (see
 * llm_engine.h). At least the last prompt token is always run, since its
 * logits are needed.
 */
int32_t
llm_gen_reuse_prefix(llm_gen *g, const llm_prefix_cache *c, char *err)
{
	int32_t		n;

	if (c == NULL || g->n_fed != 0 || g->seq->pos != 0 || g->finish != LLM_FINISH_NONE)
		return 0;
	n = llm_prefix_cache_match(c, g->prompt, g->n_prompt - 1);
	if (n <= 0)
		return 0;
	if (llm_prefix_cache_load(c, g->seq, n, err) < 0)
		return -1;
	g->n_fed = n;
	return n;
}

/*
 * Cache g's prompt right after it has been run (see llm_engine.h).
 */
int
llm_gen_store_prefix(const llm_gen *g, llm_prefix_cache *c, char *err)
{
	if (c == NULL || g->n_fed != g->n_prompt || g->seq->pos != g->n_prompt ||
		llm_prefix_cache_holds(c, g->prompt, g->n_prompt))
		return 0;
	if (llm_prefix_cache_store(c, g->seq, g->prompt, g->n_prompt, err) < 0)
		return -1;
	return 1;
}

/*
 * Run one generation to completion on e; *out is a malloc'd copy of the
 * text.
 */
int
llm_generate_simple(llm_engine *e, const llm_model *m, const char *prompt,
					const llm_gen_params *p, char **out, char *err)
{
	llm_gen    *g;
	llm_batch_item item;
	const char *txt;
	size_t		len;

	*out = NULL;
	if (llm_gen_new(&g, m, prompt, strlen(prompt), p, err) < 0)
		return -1;
	while (llm_gen_prepare(g, &item, 512) > 0)
	{
		if (llm_engine_step(e, m, &item, 1, err) < 0)
		{
			llm_gen_free(g);
			return -1;
		}
		llm_gen_advance(g);
	}
	txt = llm_gen_text(g, &len);
	*out = malloc(len + 1);
	if (*out == NULL)
	{
		llm_gen_free(g);
		return llm_err(err, "out of memory");
	}
	memcpy(*out, txt, len);
	(*out)[len] = '\0';
	llm_gen_free(g);
	return 0;
}
