/*
 * embed.c - the public sentence-embedding API (llm_embed.h): one small
 * front that chooses, per model, the encoder path (bert.c: a
 * sentence-transformers directory or a bert GGUF) or the decoder path
 * (embed_decoder.c: a llama, qwen2 or qwen3 GGUF) and forwards every call
 * to it. The two paths do not call each other; what both need is in
 * embed_common.c.
 */
#include "llm_embed.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "embed_bert.h"
#include "embed_decoder.h"
#include "gguf.h"
#include "llm_util.h"
#include "tokenizer.h"
#include "wordpiece.h"

/* exactly one of the two is set */
struct llm_embed_model
{
	llm_bert   *enc;			/* encoder path */
	llm_embdec *dec;			/* decoder path */
};

struct llm_embed_ctx
{
	llm_bert_ctx *enc;			/* thread pool and kernels of the encoder */
	struct llm_engine *dec_engine;	/* for decoder models, made on first use */
	int64_t		n_tokens;		/* tokens embedded so far */
	llm_abort	abort;			/* the caller's check; fn NULL: none */
};

/*
 * Load a GGUF: its architecture picks the path. A decoder architecture
 * goes to embed_decoder.c (which maps the file itself), bert to bert.c
 * with the opened file.
 */
static int
embed_load_gguf(llm_embed_model *m, const char *path, const llm_abort *ab, char *err)
{
	gguf_file  *gg = NULL;
	char	   *arch = NULL;

	if (gguf_open(&gg, path, err) < 0)
		return -1;
	if (gguf_get_str(gg, "general.architecture", &arch, err) > 0 &&
		llm_embdec_arch_supported(arch))
	{
		free(arch);
		gguf_close(gg);
		return llm_embdec_load(&m->dec, path, ab, err);
	}
	if (arch == NULL || strcmp(arch, "bert") != 0)
	{
		llm_err(err, "GGUF architecture %s is not bert (nor llama, qwen2, qwen3)",
				arch ? arch : "missing");
		free(arch);
		gguf_close(gg);
		return -1;
	}
	free(arch);
	return llm_bert_load_gguf(&m->enc, gg, err);
}

/*
 * Load a model from a directory or a .gguf file.
 */
int
llm_embed_model_load(llm_embed_model **out, const char *path, char *err)
{
	return llm_embed_model_load_ex(out, path, NULL, err);
}

/*
 * Load a model, asking ab whether to stop (see llm_embed.h).
 */
int
llm_embed_model_load_ex(llm_embed_model **out, const char *path,
						const llm_abort *ab, char *err)
{
	llm_embed_model *m;
	struct stat st;
	int			rc;

	*out = NULL;
	if (stat(path, &st) < 0)
		return llm_err(err, "cannot access %s", path);
	m = calloc(1, sizeof(*m));
	if (!m)
		return llm_err(err, "out of memory");
	if (S_ISDIR(st.st_mode))
		rc = llm_bert_load_dir(&m->enc, path, err);
	else
		rc = embed_load_gguf(m, path, ab, err);
	if (rc < 0)
	{
		llm_embed_model_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

/*
 * Free a model.
 */
void
llm_embed_model_free(llm_embed_model *m)
{
	if (!m)
		return;
	llm_bert_free(m->enc);
	llm_embdec_free(m->dec);
	free(m);
}

/*
 * Describe a loaded model.
 */
void
llm_embed_model_info(const llm_embed_model *m, llm_embed_info *info)
{
	memset(info, 0, sizeof(*info));
	if (m->dec)
		llm_embdec_info(m->dec, info);
	else
		llm_bert_info(m->enc, info);
}

/*
 * Lower the longest embedded sequence (see llm_embed.h).
 */
int
llm_embed_model_cap_seq(llm_embed_model *m, int max_seq, char *err)
{
	if (m->dec)
		return llm_embdec_cap_seq(m->dec, max_seq, err);
	return llm_bert_cap_seq(m->enc, max_seq, err);
}

/*
 * Override the pooling mode (see llm_embed.h).
 */
int
llm_embed_model_set_pooling(llm_embed_model *m, llm_embed_pooling p, char *err)
{
	if (m->dec)
		return llm_embdec_set_pooling(m->dec, p, err);
	return llm_bert_set_pooling(m->enc, p, err);
}

/*
 * Tokenize with the model's tokenizer.
 */
int
llm_embed_tokenize(const llm_embed_model *m, const char *text, size_t len,
				   int max_len, int32_t **ids, int *n_ids, char *err)
{
	if (m->dec)
		return llm_embdec_tokenize(m->dec, text, len, max_len, ids, n_ids, err);
	return llm_bert_tokenize(m->enc, text, len, max_len, ids, n_ids, err);
}

/* a tokenization in parts: exactly one of the two jobs is set */
struct llm_embed_tok_job
{
	const llm_embed_model *m;
	llm_tok_job *dec;			/* decoder model */
	llm_wp_job *enc;			/* BERT-family model */
	bool		done;			/* run has returned 1 */
};

/*
 * Start tokenizing text in parts with the model's tokenizer (see
 * llm_embed.h).
 */
int
llm_embed_tok_job_new(llm_embed_tok_job **out, const llm_embed_model *m,
					  const char *text, size_t len, char *err)
{
	llm_embed_tok_job *j = calloc(1, sizeof(*j));
	int			rc;

	*out = NULL;
	if (!j)
		return llm_err(err, "out of memory");
	j->m = m;
	if (m->dec)
		rc = llm_embdec_tok_job_new(m->dec, text, len, &j->dec, err);
	else
		rc = llm_bert_tok_job_new(m->enc, text, len, &j->enc, err);
	if (rc < 0)
	{
		free(j);
		return -1;
	}
	*out = j;
	return 0;
}

/*
 * Do about budget bytes of the tokenization; 1 when it is complete.
 */
int
llm_embed_tok_job_run(llm_embed_tok_job *j, size_t budget, const llm_abort *ab,
					  char *err)
{
	int			rc;

	if (j->done)
		return 1;
	if (j->dec)
		rc = llm_tok_job_run(j->dec, budget, ab, err);
	else
		rc = llm_wp_job_run(j->enc, budget, ab, err);
	if (rc > 0)
		j->done = true;
	return rc;
}

/*
 * Hand over the ids of a complete job (the decoder's EOS appended as
 * llm_embed_tokenize() does).
 */
int
llm_embed_tok_job_take(llm_embed_tok_job *j, int32_t **ids, int *n_ids, char *err)
{
	*ids = NULL;
	*n_ids = 0;
	if (!j->done)
		return llm_err(err, "llm_embed_tok_job_take: the tokenization is not finished");
	if (j->dec)
		return llm_embdec_tok_job_take(j->m->dec, j->dec, ids, n_ids, err);
	return llm_wp_job_take(j->enc, ids, n_ids, err);
}

/*
 * Release a job (NULL is fine).
 */
void
llm_embed_tok_job_free(llm_embed_tok_job *j)
{
	if (!j)
		return;
	llm_tok_job_free(j->dec);
	llm_wp_job_free(j->enc);
	free(j);
}

/*
 * Create a compute context.
 */
int
llm_embed_ctx_new(llm_embed_ctx **out, int n_threads, const char *isa, char *err)
{
	llm_embed_ctx *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return llm_err(err, "out of memory");
	if (llm_bert_ctx_new(&c->enc, n_threads, isa, err) < 0)
	{
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

/*
 * Free a compute context.
 */
void
llm_embed_ctx_free(llm_embed_ctx *c)
{
	if (!c)
		return;
	llm_embdec_engine_free(c->dec_engine);
	llm_bert_ctx_free(c->enc);
	free(c);
}

/*
 * Set (fn NULL: clear) the check llm_embed_batch asks between texts and
 * batches.
 */
void
llm_embed_ctx_set_abort(llm_embed_ctx *c, int (*fn) (void *arg), void *arg)
{
	c->abort.fn = fn;
	c->abort.arg = arg;
}

/*
 * Number of threads the context computes with (the caller's included).
 */
int
llm_embed_ctx_threads(const llm_embed_ctx *c)
{
	return llm_bert_ctx_threads(c->enc);
}

/*
 * How the context's encoder matrix products compute (see llm_embed.h).
 */
const char *
llm_embed_ctx_precision(const llm_embed_ctx *c)
{
	return llm_bert_ctx_precision(c->enc);
}

/*
 * Tokens embedded by this context so far (after truncation, specials
 * included).
 */
int64_t
llm_embed_ctx_tokens(const llm_embed_ctx *c)
{
	return c->n_tokens;
}

/*
 * Embed n texts (see llm_embed.h). A decoder model runs on an engine
 * with the context's thread count and kernel set, made on first use.
 */
int
llm_embed_batch(llm_embed_ctx *c, const llm_embed_model *m,
				const char *const *texts, const size_t *lens, int n,
				float *out, llm_embed_truncation mode, char *err)
{
	if (m->dec)
		return llm_embdec_batch(&c->dec_engine, llm_bert_ctx_threads(c->enc),
								llm_bert_ctx_isa(c->enc), m->dec, texts, lens, n, out,
								mode, &c->abort, &c->n_tokens, err);
	return llm_bert_batch(c->enc, m->enc, texts, lens, n, out, mode, &c->abort,
						  &c->n_tokens, err);
}
