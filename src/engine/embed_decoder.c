/*
 * embed_decoder.c - sentence embeddings from decoder GGUF models (llama,
 * qwen2, qwen3), e.g. a chat model or Qwen3-Embedding.
 *
 * The model is loaded by the generation engine's loader (model.c); the
 * texts run through the engine's batched step (engine.c / forward.c),
 * each text its own sequence starting at position 0 with causal
 * attention inside it, and the step returns the final hidden states
 * (after the output norm) of every token instead of logits. Those are
 * pooled per text:
 *   mean  average over all tokens (BOS/EOS included, as llama.cpp does)
 *   cls   the first token
 *   last  the last token (Qwen3-Embedding: the appended EOS)
 * then L2-normalised. Normalisation: sentence-transformers' Normalize
 * module and llama.cpp's embedding example (Euclidean norm by default)
 * both return unit vectors, so cosine similarity is a plain dot product,
 * which is what vector indexes expect; we do the same for every model.
 *
 * Long texts and large batches are cut into steps of at most
 * EMBDEC_STEP_TOKENS tokens; a text may span several steps (its KV cache
 * carries over). Every kernel of the step computes each token's row
 * independently of the other tokens in the batch (see llm_gemm_fn in
 * kernels.h), so a text's embedding does not depend on which texts share
 * its steps or where the step boundaries fall.
 */
#include "embed_decoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed_int.h"
#include "model_int.h"

/* work of one llm_tok_job_run() while a text is tokenized */
#define EMBDEC_PART_BYTES (16 * 1024)

/* tokens and items per engine step */
#define EMBDEC_STEP_TOKENS 1024
#define EMBDEC_STEP_ITEMS 64

struct llm_embdec
{
	llm_model  *model;
	llm_embed_pooling pooling;
	bool		normalize;
	bool		add_bos;
	bool		add_eos;
	int32_t		bos;
	int32_t		eos;
	int			max_seq;		/* tokens per text: the training context */
};

/* one text being embedded */
typedef struct embdec_text
{
	int32_t    *ids;
	int			n;
	llm_seq    *seq;			/* while in flight */
	double	   *acc;			/* [dim] pooling accumulator, while in flight */
} embdec_text;

/*
 * Whether a GGUF architecture is one this file embeds.
 */
bool
llm_embdec_arch_supported(const char *arch)
{
	return arch != NULL && (strcmp(arch, "llama") == 0 || strcmp(arch, "qwen2") == 0 ||
							strcmp(arch, "qwen3") == 0);
}

/*
 * Read <arch>.pooling_type (llama.cpp's numbering: 0 none, 1 mean, 2 cls,
 * 3 last, 4 rank); missing or none means mean.
 */
static int
embdec_pooling(llm_embdec *d, char *err)
{
	char		key[96];
	uint32_t	v = 1;
	int			rc;

	snprintf(key, sizeof(key), "%s.pooling_type", d->model->info.arch);
	rc = gguf_get_u32(d->model->gf, key, &v, err);
	if (rc < 0)
		return -1;
	switch (v)
	{
		case 0:
		case 1:
			d->pooling = LLM_EMBED_POOL_MEAN;
			return 0;
		case 2:
			d->pooling = LLM_EMBED_POOL_CLS;
			return 0;
		case 3:
			d->pooling = LLM_EMBED_POOL_LAST;
			return 0;
		default:
			return llm_err(err, "%s = %u is not a supported pooling type (0..3)", key, v);
	}
}

/*
 * Load a decoder model for embedding.
 */
int
llm_embdec_load(llm_embdec **out, const char *path, const llm_abort *ab, char *err)
{
	llm_embdec *d;
	int			rc;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return llm_err(err, "out of memory");
	if (llm_model_load_ex(&d->model, path, 0, ab, err) < 0)
	{
		free(d);
		return -1;
	}
	if (embdec_pooling(d, err) < 0)
		goto fail;
	d->normalize = true;
	d->add_bos = llm_tokenizer_add_bos(d->model->tok);
	d->bos = llm_tokenizer_bos(d->model->tok);
	d->eos = llm_tokenizer_eos(d->model->tok);
	rc = gguf_get_bool(d->model->gf, "tokenizer.ggml.add_eos_token", &d->add_eos, err);
	if (rc < 0)
		goto fail;
	if (rc == 0)
		d->add_eos = false;
	if (d->add_eos && d->eos < 0)
	{
		llm_err(err, "tokenizer.ggml.add_eos_token is set but the model has no EOS token");
		goto fail;
	}
	d->max_seq = d->model->info.n_ctx_train;
	if (d->max_seq < 2)
	{
		llm_err(err, "context length %d is too small to embed text", d->max_seq);
		goto fail;
	}
	*out = d;
	return 0;

fail:
	llm_embdec_free(d);
	return -1;
}

/*
 * Free a decoder embedder.
 */
void
llm_embdec_free(llm_embdec *d)
{
	if (d == NULL)
		return;
	llm_model_free(d->model);
	free(d);
}

/*
 * Describe the model in the llm_embed terms.
 */
void
llm_embdec_info(const llm_embdec *d, llm_embed_info *info)
{
	const llm_model_info *in = &d->model->info;

	info->dim = in->n_embd;
	info->max_positions = in->n_ctx_train;
	info->max_seq_len = d->max_seq;
	info->n_layers = in->n_layer;
	info->n_heads = in->n_head;
	info->n_vocab = in->n_vocab;
	info->pooling = d->pooling;
	info->normalize = d->normalize;
	info->format = "gguf";
	info->n_params = (int64_t) in->n_params;
}

/*
 * Lower the longest embedded sequence to max_seq tokens.
 */
int
llm_embdec_cap_seq(llm_embdec *d, int max_seq, char *err)
{
	return llm_embed_cap_len(&d->max_seq, max_seq, err);
}

/*
 * Override the pooling mode.
 */
int
llm_embdec_set_pooling(llm_embdec *d, llm_embed_pooling p, char *err)
{
	if (p != LLM_EMBED_POOL_MEAN && p != LLM_EMBED_POOL_CLS && p != LLM_EMBED_POOL_LAST)
		return llm_err(err, "pooling \"%s\" is not supported for decoder models (mean, cls, last)",
					   llm_embed_pooling_name(p));
	d->pooling = p;
	return 0;
}

/*
 * Tokenize: BOS when the metadata asks, the text (special-token text is
 * not parsed, as llama.cpp's embedding path does), EOS when
 * tokenizer.ggml.add_eos_token is true. max_len > 0 cuts the ids to
 * max_len, keeping the EOS as the last id.
 */
int
llm_embdec_tokenize(const llm_embdec *d, const char *text, size_t len,
					int max_len, int32_t **ids, int *n_ids, char *err)
{
	return llm_embdec_tokenize_ex(d, text, len, max_len, NULL, ids, n_ids, err);
}

/*
 * Check the count of the n ids *v and append the model's EOS when it adds
 * one; frees *v and returns -1 with err on failure.
 */
static int
embdec_add_eos(const llm_embdec *d, int32_t **v, size_t *n, char *err)
{
	int32_t    *w;

	if (*n >= (size_t) INT32_MAX - 1)
	{
		free(*v);
		*v = NULL;
		return llm_err(err, "text has too many tokens");
	}
	if (!d->add_eos)
		return 0;
	w = realloc(*v, (*n + 1) * sizeof(int32_t));
	if (w == NULL)
	{
		free(*v);
		*v = NULL;
		return llm_err(err, "out of memory");
	}
	*v = w;
	w[(*n)++] = d->eos;
	return 0;
}

/*
 * llm_embdec_tokenize whose tokenization asks ab whether to stop.
 */
int
llm_embdec_tokenize_ex(const llm_embdec *d, const char *text, size_t len, int max_len,
					   const llm_abort *ab, int32_t **ids, int *n_ids, char *err)
{
	int32_t    *v = NULL;
	size_t		n = 0;

	*ids = NULL;
	*n_ids = 0;
	if (text == NULL && len > 0)
		return llm_err(err, "text is NULL");
	if (llm_tokenize_ex(d->model->tok, text ? text : "", len, d->add_bos, false, ab,
						&v, &n, err) < 0)
		return -1;
	if (embdec_add_eos(d, &v, &n, err) < 0)
		return -1;
	if (max_len > 0 && n > (size_t) max_len)
	{
		n = (size_t) max_len;
		if (d->add_eos)
			v[n - 1] = d->eos;
	}
	*ids = v;
	*n_ids = (int) n;
	return 0;
}

/*
 * Start the tokenization of text in parts, as llm_embdec_tokenize_ex()
 * does it in one call: the model's BOS, special-token text not parsed.
 */
int
llm_embdec_tok_job_new(const llm_embdec *d, const char *text, size_t len,
					   llm_tok_job **out, char *err)
{
	*out = NULL;
	if (text == NULL && len > 0)
		return llm_err(err, "text is NULL");
	return llm_tok_job_new(out, d->model->tok, text ? text : "", len, d->add_bos, false,
						   NULL, 0, err);
}

/*
 * Hand over the ids of a finished job with the model's EOS: those of
 * llm_embdec_tokenize(..., max_len 0, ...).
 */
int
llm_embdec_tok_job_take(const llm_embdec *d, llm_tok_job *j, int32_t **ids, int *n_ids,
						char *err)
{
	int32_t    *v = NULL;
	size_t		n = 0;

	*ids = NULL;
	*n_ids = 0;
	if (llm_tok_job_take(j, &v, &n, err) < 0 || embdec_add_eos(d, &v, &n, err) < 0)
		return -1;
	*ids = v;
	*n_ids = (int) n;
	return 0;
}

/* LLM_TRUNCATE_ERROR counts a text's tokens up to this many times the limit */
#define EMBDEC_COUNT_CAP 8

/*
 * The ids of a text under LLM_TRUNCATE_END (count_cap = max_seq) or
 * LLM_TRUNCATE_ERROR (count_cap larger): tokenized in parts (llm_tok_job,
 * whose ids so far are a prefix of the whole's) only until more than
 * count_cap ids are made, so a long text costs about what is kept. The
 * result is llm_embdec_tokenize_ex()'s when the whole has at most
 * count_cap ids; else its first count_cap + 1 or more ids, with EOS
 * after them when the model adds one, and *over set.
 */
static int
embdec_tokenize_first(const llm_embdec *d, const char *text, size_t len, int count_cap,
					  const llm_abort *ab, int32_t **ids, int *n_ids, bool *over, char *err)
{
	llm_tok_job *j = NULL;
	int32_t    *v = NULL;
	size_t		n = 0;
	int			rc;

	*ids = NULL;
	*n_ids = 0;
	*over = false;
	if (text == NULL && len > 0)
		return llm_err(err, "text is NULL");
	rc = llm_tok_job_new(&j, d->model->tok, text ? text : "", len, d->add_bos, false,
						 NULL, 0, err);
	while (rc == 0 && llm_tok_job_n_ids(j) <= (size_t) count_cap)
		rc = llm_tok_job_run(j, EMBDEC_PART_BYTES, ab, err);
	if (rc == 0)
	{
		/* stopped early: hand over what is made */
		*over = true;
		rc = llm_tok_job_take_prefix(j, &v, &n, err);
	}
	else if (rc > 0)
		rc = llm_tok_job_take(j, &v, &n, err);
	llm_tok_job_free(j);
	if (rc < 0)
		return -1;
	if (embdec_add_eos(d, &v, &n, err) < 0)
		return -1;
	if (n > (size_t) count_cap)
		*over = true;
	*ids = v;
	*n_ids = (int) n;
	return 0;
}

/*
 * The ids of a text under LLM_TRUNCATE_START: when the tokenizer finds a
 * suffix whose ids are the tail of the whole's and are enough
 * (llm_tokenize_tail), BOS (when the model adds one), the last ids of
 * that suffix and EOS (when it adds one): max_seq ids, what embdec_cut()
 * keeps of the whole's; else the whole's ids (llm_embdec_tokenize_ex),
 * which the caller cuts.
 */
static int
embdec_tokenize_last(const llm_embdec *d, const char *text, size_t len,
					 const llm_abort *ab, int32_t **ids, int *n_ids, char *err)
{
	int			head = d->add_bos && d->bos >= 0 ? 1 : 0;
	int			keep = d->max_seq - head - (d->add_eos ? 1 : 0);
	int32_t    *v = NULL,
			   *w;
	size_t		n = 0,
				cut = 0;
	int			rc;

	*ids = NULL;
	*n_ids = 0;
	if (keep < 1 || text == NULL)
		return llm_embdec_tokenize_ex(d, text, len, 0, ab, ids, n_ids, err);
	rc = llm_tokenize_tail(d->model->tok, text, len, (size_t) keep, ab, &v, &n, &cut, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return llm_embdec_tokenize_ex(d, text, len, 0, ab, ids, n_ids, err);
	w = malloc((size_t) d->max_seq * sizeof(int32_t));
	if (w == NULL)
	{
		free(v);
		return llm_err(err, "out of memory");
	}
	if (head)
		w[0] = d->bos;
	memcpy(w + head, v + n - (size_t) keep, (size_t) keep * sizeof(int32_t));
	if (d->add_eos)
		w[head + keep] = d->eos;
	free(v);
	*ids = w;
	*n_ids = d->max_seq;
	return 0;
}

/*
 * Cut a text's ids to max_seq: LLM_TRUNCATE_START keeps a leading BOS and
 * the last ids, the others keep the first ids and a final EOS.
 */
static void
embdec_cut(const llm_embdec *d, embdec_text *t, llm_embed_truncation mode)
{
	int			keep = d->max_seq;

	if (mode == LLM_TRUNCATE_START)
	{
		int			head = d->add_bos && d->bos >= 0 && t->ids[0] == d->bos ? 1 : 0;

		memmove(t->ids + head, t->ids + t->n - (keep - head),
				(size_t) (keep - head) * sizeof(int32_t));
	}
	else if (d->add_eos)
		t->ids[keep - 1] = d->eos;
	t->n = keep;
}

/*
 * Free the engine a context created for decoder embeddings.
 */
void
llm_embdec_engine_free(struct llm_engine *e)
{
	llm_engine_free(e);
}

/*
 * Add the hidden states of tokens [off, off + cnt) of text tx (rows of
 * dim floats) to its pooling accumulator.
 */
static void
embdec_pool_rows(const llm_embdec *d, embdec_text *tx, int off, int cnt,
				 const float *h, int dim)
{
	int			j,
				c;

	for (j = 0; j < cnt; j++)
	{
		const float *row = h + (size_t) j * dim;
		int			p = off + j;

		if (d->pooling == LLM_EMBED_POOL_MEAN)
		{
			for (c = 0; c < dim; c++)
				tx->acc[c] += row[c];
		}
		else if ((d->pooling == LLM_EMBED_POOL_CLS && p == 0) ||
				 (d->pooling == LLM_EMBED_POOL_LAST && p == tx->n - 1))
		{
			for (c = 0; c < dim; c++)
				tx->acc[c] = row[c];
		}
	}
}

/*
 * Write the finished pooled vector of tx into out (dim floats).
 */
static void
embdec_finish(const llm_embdec *d, const embdec_text *tx, float *out, int dim)
{
	double		div = d->pooling == LLM_EMBED_POOL_MEAN ? (double) tx->n : 1.0;
	double		ss = 0.0;
	int			c;

	for (c = 0; c < dim; c++)
	{
		double		v = tx->acc[c] / div;

		ss += v * v;
	}
	ss = d->normalize && ss > 0.0 ? 1.0 / sqrt(ss) : 1.0;
	for (c = 0; c < dim; c++)
		out[c] = (float) (tx->acc[c] / div * ss);
}

/*
 * Release a text's sequence and accumulator.
 */
static void
embdec_text_done(embdec_text *tx)
{
	llm_seq_free(tx->seq);
	tx->seq = NULL;
	free(tx->acc);
	tx->acc = NULL;
}

/*
 * Embed n texts (see embed_decoder.h).
 */
int
llm_embdec_batch(struct llm_engine **eng, int n_threads, const char *isa,
				 const llm_embdec *d, const char *const *texts,
				 const size_t *lens, int n, float *out,
				 llm_embed_truncation mode, const llm_abort *ab,
				 int64_t *n_tokens, char *err)
{
	const llm_model *m = d->model;
	int			dim = m->info.n_embd;
	embdec_text *tx = NULL;
	llm_batch_item items[EMBDEC_STEP_ITEMS];
	float	   *item_hidden[EMBDEC_STEP_ITEMS];
	int			item_text[EMBDEC_STEP_ITEMS],
				item_off[EMBDEC_STEP_ITEMS];
	float	   *hidden = NULL;
	int			i,
				cur = 0,
				off = 0,
				rc = -1;

	if (n < 0)
		return llm_err(err, "negative text count");
	if (n == 0)
		return 0;
	if (texts == NULL || lens == NULL || out == NULL)
		return llm_err(err, "texts, lengths and output must not be NULL");
	if (mode != LLM_TRUNCATE_END && mode != LLM_TRUNCATE_ERROR && mode != LLM_TRUNCATE_START)
		return llm_err(err, "unknown truncation mode %d", (int) mode);
	if (*eng == NULL)
	{
		llm_engine_params p;

		memset(&p, 0, sizeof(p));
		p.n_threads = n_threads > 0 ? n_threads : 1;
		p.isa = isa;
		p.device = "cpu";
		if (llm_engine_new(eng, &p, err) < 0)
			return -1;
	}
	tx = calloc((size_t) n, sizeof(*tx));
	hidden = malloc((size_t) EMBDEC_STEP_TOKENS * (size_t) dim * sizeof(float));
	if (tx == NULL || hidden == NULL)
	{
		llm_err(err, "out of memory");
		goto done;
	}

	/*
	 * tokenize everything first: errors come before any compute; under
	 * truncation end or error only as far as is kept (or counted), under
	 * start only a suffix when the tokenizer can cut one
	 */
	for (i = 0; i < n; i++)
	{
		char		sub[LLM_ERRLEN];
		bool		over = false;
		int			trc;

		if (llm_should_abort(ab))
		{
			llm_err(err, LLM_ABORT_MSG);
			goto done;
		}
		if (texts[i] == NULL && lens[i] > 0)
		{
			llm_err(err, "text %d is NULL", i);
			goto done;
		}
		if (mode == LLM_TRUNCATE_START)
			trc = embdec_tokenize_last(d, texts[i], lens[i], ab, &tx[i].ids, &tx[i].n, sub);
		else
			trc = embdec_tokenize_first(d, texts[i], lens[i],
										mode == LLM_TRUNCATE_ERROR ?
										EMBDEC_COUNT_CAP * d->max_seq : d->max_seq,
										ab, &tx[i].ids, &tx[i].n, &over, sub);
		if (trc < 0)
		{
			if (strcmp(sub, LLM_ABORT_MSG) == 0)
				llm_err(err, LLM_ABORT_MSG);
			else
				llm_err(err, "text %d: %s", i, sub);
			goto done;
		}
		if (tx[i].n == 0)
		{
			llm_err(err, "text %d has no tokens (empty text and no BOS/EOS)", i);
			goto done;
		}
		if (tx[i].n > d->max_seq)
		{
			if (mode == LLM_TRUNCATE_ERROR && over)
			{
				llm_err(err, "text %d has more than %d tokens, the model takes %d", i,
						EMBDEC_COUNT_CAP * d->max_seq, d->max_seq);
				goto done;
			}
			if (mode == LLM_TRUNCATE_ERROR)
			{
				llm_err(err, "text %d has %d tokens, the model takes %d", i, tx[i].n,
						d->max_seq);
				goto done;
			}
			embdec_cut(d, &tx[i], mode);
		}
	}

	/* steps: pack tokens of consecutive texts, a text may span steps */
	while (cur < n)
	{
		int			n_items = 0,
					used = 0,
					k;

		while (cur < n && used < EMBDEC_STEP_TOKENS && n_items < EMBDEC_STEP_ITEMS)
		{
			embdec_text *t = &tx[cur];
			int			take = t->n - off;

			if (t->seq == NULL)
			{
				t->seq = llm_seq_new(m, t->n, err);
				if (t->seq == NULL)
					goto done;
				t->acc = calloc((size_t) dim, sizeof(double));
				if (t->acc == NULL)
				{
					llm_err(err, "out of memory");
					goto done;
				}
			}
			if (take > EMBDEC_STEP_TOKENS - used)
				take = EMBDEC_STEP_TOKENS - used;
			memset(&items[n_items], 0, sizeof(items[n_items]));
			items[n_items].seq = t->seq;
			items[n_items].tokens = t->ids + off;
			items[n_items].n_tokens = take;
			item_hidden[n_items] = hidden + (size_t) used * dim;
			item_text[n_items] = cur;
			item_off[n_items] = off;
			n_items++;
			used += take;
			off += take;
			if (off == t->n)
			{
				cur++;
				off = 0;
			}
		}
		if (llm_should_abort(ab))
		{
			llm_err(err, LLM_ABORT_MSG);
			goto done;
		}
		if (llm_engine_step_hidden(*eng, m, items, n_items, item_hidden, err) < 0)
			goto done;
		for (k = 0; k < n_items; k++)
		{
			embdec_text *t = &tx[item_text[k]];

			embdec_pool_rows(d, t, item_off[k], items[k].n_tokens, item_hidden[k], dim);
			if (item_off[k] + items[k].n_tokens == t->n)
			{
				embdec_finish(d, t, out + (size_t) item_text[k] * dim, dim);
				embdec_text_done(t);
			}
		}
	}
	for (i = 0; i < n; i++)
		*n_tokens += tx[i].n;
	rc = 0;
done:
	if (tx)
		for (i = 0; i < n; i++)
		{
			embdec_text_done(&tx[i]);
			free(tx[i].ids);
		}
	free(tx);
	free(hidden);
	return rc;
}
