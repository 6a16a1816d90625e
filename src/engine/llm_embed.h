/*
 * llm_embed.h - sentence embeddings with BERT-family encoders and
 * decoder models.
 *
 * A model is either a Hugging Face sentence-transformers directory
 * (config.json, model.safetensors, tokenizer.json or vocab.txt, and
 * optionally modules.json, 1_Pooling/config.json,
 * sentence_bert_config.json), a GGUF file of architecture "bert" as
 * llama.cpp's converter writes it, or a decoder GGUF of architecture
 * llama, qwen2 or qwen3 (a generation model, or a decoder embedding
 * model such as Qwen3-Embedding): final-norm hidden states pooled as
 * <arch>.pooling_type says (mean when absent, last for Qwen3-Embedding),
 * L2-normalised; BOS/EOS added as the tokenizer metadata says.
 *
 * Embedding runs in an llm_embed_ctx holding a thread pool and the CPU
 * kernel table; a model may be shared by several contexts (it is only
 * read after loading).
 */
#ifndef LLM_EMBED_H
#define LLM_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm_util.h"

typedef enum llm_embed_pooling
{
	LLM_EMBED_POOL_MEAN = 0,	/* mean over the tokens (attention mask) */
	LLM_EMBED_POOL_CLS = 1,		/* the first token */
	LLM_EMBED_POOL_LAST = 2,	/* the last token */
	LLM_EMBED_POOL_MAX = 3,		/* element-wise max over the tokens */
	LLM_EMBED_POOL_MEAN_SQRT = 4	/* sum / sqrt(n tokens) */
} llm_embed_pooling;

/* (named apart from llm_engine.h's llm_truncation so both headers mix) */
typedef enum llm_embed_truncation
{
	LLM_TRUNCATE_END = 0,		/* cut texts longer than max_seq_len */
	LLM_TRUNCATE_ERROR = 1,		/* fail on texts longer than max_seq_len */
	LLM_TRUNCATE_START = 2		/* cut the start instead: keep the last tokens */
} llm_embed_truncation;

typedef struct llm_embed_info
{
	int			dim;			/* embedding dimension */
	int			max_positions;	/* longest sequence the position table allows */
	int			max_seq_len;	/* tokens per text, specials included */
	int			n_layers;
	int			n_heads;
	int			n_vocab;
	llm_embed_pooling pooling;
	bool		normalize;		/* L2-normalised output */
	const char *format;			/* "safetensors" or "gguf" */
	int64_t		n_params;		/* weights of the model */
	bool		f32_products;	/* f32 products whatever the context's
								 * precision (MPNet: bf16 is not accurate
								 * enough, see bert.c) */
} llm_embed_info;

typedef struct llm_embed_model llm_embed_model;
typedef struct llm_embed_ctx llm_embed_ctx;

/* Load a model directory or .gguf file; -1 with err on failure. */
int			llm_embed_model_load(llm_embed_model **out, const char *path, char *err);

/*
 * llm_embed_model_load that asks ab (NULL: never) whether to stop while
 * it loads a decoder GGUF (see llm_model_load_ex); encoder models load
 * without asking.
 */
int			llm_embed_model_load_ex(llm_embed_model **out, const char *path,
									const llm_abort *ab, char *err);
void		llm_embed_model_free(llm_embed_model *m);
void		llm_embed_model_info(const llm_embed_model *m, llm_embed_info *info);

/*
 * Lower the longest token sequence the model embeds (max_seq_len) to
 * max_seq when that is smaller; 0 leaves it. -1 with err below 2. Longer
 * inputs then follow the truncation mode like any over-long text. Call it
 * before the model is shared between contexts.
 */
int			llm_embed_model_cap_seq(llm_embed_model *m, int max_seq, char *err);

/*
 * Override the pooling mode the model's files name (decoder models take
 * mean, cls or last). -1 with err for a mode the model cannot use. Call
 * it before the model is shared between contexts.
 */
int			llm_embed_model_set_pooling(llm_embed_model *m, llm_embed_pooling p,
										char *err);

/* Pooling mode name ("mean", "cls", ...). */
const char *llm_embed_pooling_name(llm_embed_pooling p);

/*
 * Token ids of text with [CLS]/[SEP] (decoders: BOS/EOS as the metadata
 * says); max_len > 0 truncates (specials kept), 0 does not. *ids is
 * malloc'd.
 */
int			llm_embed_tokenize(const llm_embed_model *m, const char *text, size_t len,
							   int max_len, int32_t **ids, int *n_ids, char *err);

/*
 * llm_embed_tokenize(m, text, len, 0, ...) in bounded parts, for a caller
 * that must not be held up for the whole of a long text (the extension's
 * worker between two generation steps). Each llm_embed_tok_job_run() does
 * about budget bytes of work (decoders: llm_tok_job of tokenizer.h; BERT
 * models: llm_wp_job of wordpiece.h, whose parts end before white space
 * or punctuation), asks ab (may be NULL) whether to stop, and returns 1
 * when the ids are complete, 0 when work is left, -1 with err
 * (LLM_ABORT_MSG on a stop). After 1, llm_embed_tok_job_take() hands over
 * the ids (malloc'd): exactly those of llm_embed_tokenize() with max_len
 * 0, specials included. text must stay valid until llm_embed_tok_job_free().
 */
typedef struct llm_embed_tok_job llm_embed_tok_job;

int			llm_embed_tok_job_new(llm_embed_tok_job **out, const llm_embed_model *m,
								  const char *text, size_t len, char *err);
int			llm_embed_tok_job_run(llm_embed_tok_job *j, size_t budget,
								  const llm_abort *ab, char *err);
int			llm_embed_tok_job_take(llm_embed_tok_job *j, int32_t **ids, int *n_ids,
								   char *err);
void		llm_embed_tok_job_free(llm_embed_tok_job *j);

/*
 * A compute context: n_threads threads (< 1: one per online CPU), kernels
 * chosen by isa (NULL/"auto", "scalar", "avx2", "avx512"). Its threads
 * start with every signal blocked.
 */
int			llm_embed_ctx_new(llm_embed_ctx **out, int n_threads, const char *isa,
							  char *err);
void		llm_embed_ctx_free(llm_embed_ctx *c);
/* Threads the context computes with, the caller's included. */
int			llm_embed_ctx_threads(const llm_embed_ctx *c);

/*
 * Have llm_embed_batch call fn(arg) (fn NULL: nothing) on the calling
 * thread before each text is tokenized and before each batch or step of
 * compute; nonzero makes it stop and fail with LLM_ABORT_MSG.
 */
void		llm_embed_ctx_set_abort(llm_embed_ctx *c, int (*fn) (void *arg), void *arg);

/*
 * How the encoder's matrix products compute: "f32" (one f32 fused chain per
 * element: the same bits on every CPU) or "bf16" (isa "auto"/"avx512" on a
 * CPU with AVX512_BF16: inputs rounded to bfloat16, about twice as fast;
 * within 1e-4 of the f32 cosine on the golden strings). A model whose
 * llm_embed_info.f32_products is set computes in f32 in any context.
 * Decoder models used as embedders always run their own quantized kernels.
 */
const char *llm_embed_ctx_precision(const llm_embed_ctx *c);

/* Tokens embedded by the context so far (after truncation). */
int64_t		llm_embed_ctx_tokens(const llm_embed_ctx *c);

/*
 * Embed n texts (texts[i] of lens[i] bytes, UTF-8) into out[n * dim].
 * Texts are sorted by token count and run in batches; each sequence
 * attends only to its own tokens (per-sequence attention mask).
 */
int			llm_embed_batch(llm_embed_ctx *c, const llm_embed_model *m,
							const char *const *texts, const size_t *lens, int n,
							float *out, llm_embed_truncation mode, char *err);

#endif							/* LLM_EMBED_H */
