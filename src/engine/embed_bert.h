/*
 * embed_bert.h - the BERT encoder path of sentence embeddings (bert.c),
 * behind the public llm_embed API of embed.c: sentence-transformers
 * directories and bert GGUF files. It never calls the decoder path
 * (embed_decoder.c).
 */
#ifndef LLM_EMBED_BERT_H
#define LLM_EMBED_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "llm_embed.h"

struct llm_wp_job;
typedef struct llm_bert llm_bert;
typedef struct llm_bert_ctx llm_bert_ctx;

/* Load a sentence-transformers directory; -1 with err on failure. */
int			llm_bert_load_dir(llm_bert **out, const char *dir, char *err);

/*
 * Load an opened GGUF file of architecture bert. The model owns gg from
 * the call on (it is closed on failure too).
 */
int			llm_bert_load_gguf(llm_bert **out, gguf_file *gg, char *err);
void		llm_bert_free(llm_bert *m);
void		llm_bert_info(const llm_bert *m, llm_embed_info *info);
/* see llm_embed_model_cap_seq and llm_embed_model_set_pooling */
int			llm_bert_cap_seq(llm_bert *m, int max_seq, char *err);
int			llm_bert_set_pooling(llm_bert *m, llm_embed_pooling p, char *err);
/* see llm_embed_tokenize */
int			llm_bert_tokenize(const llm_bert *m, const char *text, size_t len,
							  int max_len, int32_t **ids, int *n_ids, char *err);
/*
 * Start the tokenization of text in bounded parts (wordpiece.h's
 * llm_wp_job with [CLS] and [SEP]): once done, its ids are those of
 * llm_bert_tokenize(m, text, len, 0, ...). text must outlive the job.
 */
int			llm_bert_tok_job_new(const llm_bert *m, const char *text, size_t len,
								 struct llm_wp_job **out, char *err);

/*
 * A thread pool and kernel table for the encoder (see llm_embed_ctx_new);
 * n_threads < 1 is one thread per online CPU.
 */
int			llm_bert_ctx_new(llm_bert_ctx **out, int n_threads, const char *isa,
							 char *err);
void		llm_bert_ctx_free(llm_bert_ctx *c);
int			llm_bert_ctx_threads(const llm_bert_ctx *c);
const char *llm_bert_ctx_isa(const llm_bert_ctx *c);
/* "f32" or "bf16": how the context's matrix products compute (fgemm.h) */
const char *llm_bert_ctx_precision(const llm_bert_ctx *c);

/*
 * Embed n texts into out[n * dim] (see llm_embed_batch); the tokens
 * embedded (after truncation) are added to *n_tokens. ab (may be NULL)
 * is asked before each text is tokenized and before each batch.
 */
int			llm_bert_batch(llm_bert_ctx *c, const llm_bert *m,
						   const char *const *texts, const size_t *lens, int n,
						   float *out, llm_embed_truncation mode, const llm_abort *ab,
						   int64_t *n_tokens, char *err);

#endif							/* LLM_EMBED_BERT_H */
