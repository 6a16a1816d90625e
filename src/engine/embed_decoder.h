/*
 * embed_decoder.h - the decoder path of sentence embeddings (decoder GGUF
 * models of architecture llama, qwen2 or qwen3), behind the public
 * llm_embed API of embed.c.
 *
 * llm_embed_model_load() (embed.c) hands a GGUF whose architecture
 * llm_embdec_arch_supported() accepts to llm_embdec_load(); the other
 * llm_embed_* functions forward to the functions below when the model is
 * a decoder. The engine used to run it lives in the llm_embed_ctx and is
 * created on first use. This path never calls the encoder path (bert.c).
 */
#ifndef LLM_EMBED_DECODER_H
#define LLM_EMBED_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm_embed.h"

struct llm_engine;
struct llm_tok_job;
typedef struct llm_embdec llm_embdec;

/* true for the GGUF architectures embedded by a decoder (llama, qwen2, qwen3) */
bool		llm_embdec_arch_supported(const char *arch);

/* Load the decoder GGUF at path; -1 with err on failure. */
int			llm_embdec_load(llm_embdec **out, const char *path, const llm_abort *ab,
							char *err);
void		llm_embdec_free(llm_embdec *d);
void		llm_embdec_info(const llm_embdec *d, llm_embed_info *info);
/* mean, cls or last; -1 with err for the others */
int			llm_embdec_set_pooling(llm_embdec *d, llm_embed_pooling p, char *err);
/* see llm_embed_model_cap_seq */
int			llm_embdec_cap_seq(llm_embdec *d, int max_seq, char *err);

/*
 * Token ids of text as they are embedded: BOS and EOS as the metadata
 * says; max_len > 0 truncates to max_len tokens keeping a final EOS.
 */
int			llm_embdec_tokenize(const llm_embdec *d, const char *text, size_t len,
								int max_len, int32_t **ids, int *n_ids, char *err);
/* the same, asking ab (may be NULL) whether to stop while it tokenizes */
int			llm_embdec_tokenize_ex(const llm_embdec *d, const char *text, size_t len,
								   int max_len, const llm_abort *ab, int32_t **ids,
								   int *n_ids, char *err);

/*
 * llm_embdec_tokenize(d, text, len, 0, ...) in bounded parts: start an
 * llm_tok_job (tokenizer.h) with the model's BOS, run it, then
 * llm_embdec_tok_job_take() hands over its ids with the model's EOS (the
 * job is then finished with; the caller still frees it). text must
 * outlive the job.
 */
int			llm_embdec_tok_job_new(const llm_embdec *d, const char *text, size_t len,
								   struct llm_tok_job **out, char *err);
int			llm_embdec_tok_job_take(const llm_embdec *d, struct llm_tok_job *j,
									int32_t **ids, int *n_ids, char *err);

/*
 * Embed n texts into out[n * dim] with the engine *eng (created with
 * n_threads threads and kernels isa when *eng is NULL; the caller frees
 * it with llm_embdec_engine_free()). On success the tokens embedded
 * (after truncation) are added to *n_tokens. ab (may be NULL) is asked
 * before each text is tokenized and before each step.
 */
int			llm_embdec_batch(struct llm_engine **eng, int n_threads, const char *isa,
							 const llm_embdec *d, const char *const *texts,
							 const size_t *lens, int n, float *out,
							 llm_embed_truncation mode, const llm_abort *ab,
							 int64_t *n_tokens, char *err);
void		llm_embdec_engine_free(struct llm_engine *e);

#endif							/* LLM_EMBED_DECODER_H */
