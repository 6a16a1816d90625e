/*
 * llm_engine.h - the public API of the inference engine.
 *
 * Plain C, no PostgreSQL: used by llm-cli and by the extension's
 * background worker. Objects:
 *
 *   llm_model   a GGUF model mapped read-only: weights, tokenizer, chat
 *               template. Immutable after load, shareable.
 *   llm_engine  run-time state: chosen kernels, thread pool, scratch
 *               buffers. One per thread that calls llm_engine_step().
 *   llm_seq     the KV cache of one sequence (grows as tokens are added).
 *   llm_gen     one generation request: prompt, sampler, stop rules and
 *               output text, driven step by step so that many requests
 *               can share each engine step (continuous batching).
 *
 * Errors: functions return -1 (or NULL) and write a message into err, a
 * buffer of LLM_ERRLEN bytes. Nothing here aborts or exits.
 */
#ifndef LLM_ENGINE_H
#define LLM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat.h"
#include "json_schema.h"
#include "llm_util.h"
#include "sample.h"
#include "tokenizer.h"

typedef struct llm_model llm_model;
typedef struct llm_engine llm_engine;
typedef struct llm_seq llm_seq;
typedef struct llm_gen llm_gen;

/* ---------------------------------------------------------------- model */

typedef struct llm_model_info
{
	char		arch[32];		/* "llama", "qwen2", "qwen3" */
	char		name[128];		/* general.name, may be empty */
	char		quant[16];		/* type of most weight bytes, e.g. "q4_1" */
	int32_t		n_layer;
	int32_t		n_embd;
	int32_t		n_head;
	int32_t		n_head_kv;
	int32_t		n_ff;
	int32_t		n_vocab;
	int32_t		n_rot;			/* rotary dims per head */
	int32_t		n_ctx_train;	/* context length from metadata */
	int32_t		n_ctx;			/* usable context: min(train, cap) */
	float		rope_theta;
	float		norm_eps;
	uint64_t	n_params;		/* elements in all weight tensors */
	uint64_t	weight_bytes;	/* bytes of all weight tensors */
	uint64_t	file_bytes;
	uint64_t	packed_bytes;	/* weights copied to the 8-row layout, in memory */
	const char *chat_format;	/* name of the recognised template, or NULL */
} llm_model_info;

/*
 * Load a GGUF model (mmap). ctx_cap > 0 caps the context length. Checks
 * the architecture, hyper-parameters and every tensor's presence, type and
 * shape; -1 with a message on any problem.
 */
int			llm_model_load(llm_model **out, const char *path, int32_t ctx_cap,
						   char *err);

/*
 * llm_model_load that calls ab (NULL: never) between layers and between
 * packed weights; when it asks to stop, the load frees what it made and
 * fails with LLM_ABORT_MSG.
 */
int			llm_model_load_ex(llm_model **out, const char *path, int32_t ctx_cap,
							  const llm_abort *ab, char *err);
void		llm_model_free(llm_model *m);
const llm_model_info *llm_model_get_info(const llm_model *m);
const llm_tokenizer *llm_model_tokenizer(const llm_model *m);
/* NULL when the model has no template we recognise */
const llm_chat_template *llm_model_chat_template(const llm_model *m);
/* KV-cache bytes one position of one sequence takes (current kv type) */
size_t		llm_model_kv_bytes_per_pos(const llm_model *m);

/*
 * Element type of the KV cache: f32 (the default) or f16, which halves
 * its memory and attention reads (values rounded to nearest even when
 * stored). It applies to the sequences created after the call; a
 * sequence keeps its type, and prefix copies need equal types.
 */
typedef enum llm_kv_type
{
	LLM_KV_F32 = 0,
	LLM_KV_F16 = 1
} llm_kv_type;

void		llm_model_set_kv_type(llm_model *m, llm_kv_type t);
llm_kv_type llm_model_kv_type(const llm_model *m);
/* "f32" or "f16" to a type; -1 for anything else */
int			llm_kv_type_parse(const char *name, llm_kv_type *out);
const char *llm_kv_type_name(llm_kv_type t);

/* --------------------------------------------------------------- engine */

/*
 * device: "cpu", "cuda" or NULL/"auto" (the GPU when the CUDA module
 * loads and finds a device, else the CPU). The CUDA backend is a separate
 * module (llm_cuda.so) opened with dlopen by llm_engine_new() only, so a
 * process that never asks for an engine on "auto"/"cuda" never starts the
 * CUDA runtime (a CUDA context must not exist before fork()).
 */
typedef struct llm_engine_params
{
	int32_t		n_threads;		/* <= 0: one per online CPU */
	const char *isa;			/* NULL/"auto", "scalar", "avx2", "avx512" */
	const char *device;			/* NULL/"auto", "cpu" or "cuda" */
	/*
	 * Path of llm_cuda.so; NULL: $LLM_CUDA_MODULE, else llm_cuda.so beside
	 * the running program (or in ../lib/llm from it)
	 */
	const char *cuda_module;
	/* GPU memory for weights and KV caches together; 0: what the device has */
	uint64_t	gpu_memory_bytes;
} llm_engine_params;

/* llm_engine_new(): "cuda" was asked and no CUDA device (or module) was found */
#define LLM_ERR_NO_DEVICE (-2)
/* llm_engine_step(): the device failed (lost, or a kernel fault); the
 * engine is unusable and the process should exit and start again */
#define LLM_ERR_DEVICE_LOST (-3)

/*
 * -1 (or LLM_ERR_NO_DEVICE) with err on failure. Under "auto" a missing
 * module or GPU is not an error: the engine runs on the CPU and
 * llm_engine_note() says why.
 */
int			llm_engine_new(llm_engine **out, const llm_engine_params *p, char *err);
void		llm_engine_free(llm_engine *e);
const char *llm_engine_isa(const llm_engine *e);
/* "cpu" or "cuda" */
const char *llm_engine_device(const llm_engine *e);
int32_t		llm_engine_threads(const llm_engine *e);
/* why "auto" chose the CPU, or "" */
const char *llm_engine_note(const llm_engine *e);

/*
 * Make model m ready on e's device: the CUDA backend uploads its weights
 * (kept quantized) once; the CPU backend has nothing to do. A model is
 * attached before it is stepped on a GPU engine and detached (which frees
 * its device memory) before llm_model_free(); sequences stepped on a GPU
 * engine hold their KV cache on the device and must be freed before the
 * engine. -1 with err (out of device memory, an architecture the device
 * backend does not run).
 */
int			llm_engine_attach(llm_engine *e, llm_model *m, char *err);
void		llm_engine_detach(llm_engine *e, const llm_model *m);
/* device memory model m takes on e: weights plus its sequences' KV caches */
uint64_t	llm_engine_device_bytes(const llm_engine *e, const llm_model *m);

/* ------------------------------------------------------------ sequences */

/* A sequence of model m holding at most max_pos positions (<= n_ctx). */
llm_seq    *llm_seq_new(const llm_model *m, int32_t max_pos, char *err);
void		llm_seq_free(llm_seq *s);
int32_t		llm_seq_pos(const llm_seq *s);	/* positions filled */
int32_t		llm_seq_max_pos(const llm_seq *s);
void		llm_seq_clear(llm_seq *s);

/*
 * One item of a batched step: append n_tokens tokens to seq (at its
 * current position) and, if logits is not NULL, write the n_vocab logits
 * that follow the last of them.
 */
typedef struct llm_batch_item
{
	llm_seq    *seq;
	const int32_t *tokens;
	int32_t		n_tokens;
	float	   *logits;
} llm_batch_item;

/*
 * Advance every item by one forward pass over all their tokens together
 * (weights are read once per step for the whole batch). Items must name
 * distinct sequences of model m. On error nothing is appended.
 */
int			llm_engine_step(llm_engine *e, const llm_model *m,
							llm_batch_item *items, int32_t n_items, char *err);

/*
 * llm_engine_step() that also returns final hidden states (embeddings):
 * for every item i whose hidden[i] is not NULL, the hidden states after
 * the output norm of all its tokens, n_tokens x n_embd floats. hidden
 * may be NULL (then this is llm_engine_step()).
 */
int			llm_engine_step_hidden(llm_engine *e, const llm_model *m,
								   llm_batch_item *items, int32_t n_items,
								   float *const *hidden, char *err);

/* ----------------------------------------------------------- generation */

/*
 * What to do with a prompt longer than the context minus max_tokens.
 * LEFT and RIGHT refuse (the error says "would be cut") when max_tokens
 * takes more than half of the context and the cut would keep less than
 * half of the prompt: the prompt would be cut to a sliver. For chats
 * (llm_chat_fit) both leave out whole turns, oldest first.
 */
typedef enum llm_truncation
{
	LLM_TRUNC_ERROR = 0,		/* prompt too long: error */
	LLM_TRUNC_LEFT,				/* keep the end of the prompt */
	LLM_TRUNC_RIGHT				/* keep the start of the prompt */
} llm_truncation;

typedef struct llm_gen_params
{
	llm_sampling_params sampling;
	int32_t		max_tokens;		/* tokens to generate at most (> 0) */
	const char *const *stop;	/* stop strings (not included in output) */
	int32_t		n_stop;
	int			add_bos;		/* -1: as the model's metadata says; 0/1 */
	bool		parse_special;	/* parse special-token text in the prompt */
	/* with parse_special false: the only ranges where it is parsed */
	const llm_text_span *special_marks;
	size_t		n_special_marks;
	llm_truncation truncation;
	/*
	 * Structured output: when json_schema is not NULL, every sampled token
	 * must keep the text a valid prefix of a document of the schema (the
	 * others are masked out of the logits), end-of-generation is allowed
	 * only once the document is complete, and the generation ends as soon
	 * as nothing can follow it. vocab_trie is the model's vocabulary trie
	 * (llm_vocab_trie_new on its tokenizer), shared by many requests; NULL
	 * makes the request build its own. Both must outlive the request. Stop
	 * strings cannot be combined with a schema.
	 */
	const llm_json_schema *json_schema;
	const llm_vocab_trie *vocab_trie;
	/*
	 * Asked (may be NULL) while llm_gen_new() and llm_chat_fit() tokenize
	 * the prompt; a stop fails them with LLM_ABORT_MSG. Must outlive those
	 * calls only.
	 */
	const llm_abort *abort;
} llm_gen_params;

void		llm_gen_defaults(llm_gen_params *p);

typedef enum llm_finish
{
	LLM_FINISH_NONE = 0,		/* still running */
	LLM_FINISH_LENGTH,			/* max_tokens or context full */
	LLM_FINISH_EOS,				/* end-of-generation token */
	LLM_FINISH_STOP				/* a stop string matched */
} llm_finish;

/*
 * Start a generation for prompt (len bytes). Tokenizes, applies
 * truncation, validates parameters, allocates the sequence.
 */
int			llm_gen_new(llm_gen **out, const llm_model *m, const char *prompt,
						size_t len, const llm_gen_params *p, char *err);
/*
 * llm_gen_new() for a prompt already tokenized (llm_tok_job), with BOS
 * first when llm_gen_wants_bos() says so and special tokens parsed as p
 * asks: takes ids (malloc'd) over, freeing them on failure too.
 */
int			llm_gen_new_ids(llm_gen **out, const llm_model *m, int32_t *ids, size_t n,
							const llm_gen_params *p, char *err);
/* whether a generation with parameters p on m begins with BOS */
bool		llm_gen_wants_bos(const llm_model *m, const llm_gen_params *p);
void		llm_gen_free(llm_gen *g);

/*
 * Render chat messages with template t (the model's) into the prompt of a
 * generation with parameters p on model m: *out, *marks and *n_marks as
 * llm_chat_apply_marked() gives them (assistant opening included), to be
 * passed to llm_gen_new() with parse_special false and these marks.
 * When p adds a BOS (add_bos, or the model's default), a leading BOS
 * marker of the template (gemma's "<bos>", llama3's "<|begin_of_text|>")
 * is left out of the render, so that the prompt holds one BOS.
 * Under LLM_TRUNC_LEFT or _RIGHT, when the render plus p->max_tokens
 * exceeds the context, the oldest turns (a user message and the messages
 * up to the next one) are left out, as few as needed; the system
 * messages and the last user turn (the last user message and what
 * follows it) are always kept. When even those do not fit, -1 with an
 * error that says "exceeds the context". Under LLM_TRUNC_ERROR the whole
 * conversation is rendered (llm_gen_new() then reports it too long).
 * *n_dropped (may be NULL) gets the number of messages left out.
 */
int			llm_chat_fit(const llm_model *m, const llm_chat_template *t,
						 const llm_chat_msg *msgs, size_t n, const llm_gen_params *p,
						 char **out, llm_text_span **marks, size_t *n_marks,
						 size_t *n_dropped, char *err);

/*
 * Fill *item with the tokens this generation wants processed next: up to
 * max_tokens of its prompt while prefilling, else its last sampled token.
 * Returns the number of tokens (0 when finished).
 */
int32_t		llm_gen_prepare(llm_gen *g, llm_batch_item *item, int32_t max_tokens);

/*
 * After the step that ran the prepared item: when the prompt is complete,
 * sample a token from the logits, append its text, apply stop rules.
 * Returns the finish state.
 */
llm_finish	llm_gen_advance(llm_gen *g);

llm_finish	llm_gen_finish(const llm_gen *g);

typedef enum llm_json_status
{
	LLM_JSON_OFF = 0,			/* no schema */
	LLM_JSON_PARTIAL,			/* the document is not complete (yet) */
	LLM_JSON_COMPLETE,			/* the text is a complete valid document */
	LLM_JSON_DEAD				/* no token could continue it (depth limit) */
} llm_json_status;

/* where a schema-constrained generation stands */
llm_json_status llm_gen_json_status(const llm_gen *g);
/* seconds spent computing token masks so far (0 without a schema) */
double		llm_gen_mask_seconds(const llm_gen *g);
/* generated text so far (complete UTF-8 characters only until finished) */
const char *llm_gen_text(const llm_gen *g, size_t *len);
int32_t		llm_gen_n_prompt(const llm_gen *g);
/* the prompt tokens it runs (after truncation), llm_gen_n_prompt() of them */
const int32_t *llm_gen_prompt(const llm_gen *g);
int32_t		llm_gen_n_generated(const llm_gen *g);
const char *llm_finish_name(llm_finish f);

/* --------------------------------------------------------- prefix cache */

/*
 * The KV rows of one recent prompt of a model (at most max_pos positions
 * of it), so that a later prompt starting with the same tokens skips
 * computing them. A token's K and V depend only on the tokens before it
 * and our kernels give the same bits in any batch, so a reused prefix is
 * exactly what prefill would have computed. Not thread-safe: one owner.
 */
typedef struct llm_prefix_cache llm_prefix_cache;

llm_prefix_cache *llm_prefix_cache_new(const llm_model *m, int32_t max_pos, char *err);
void		llm_prefix_cache_free(llm_prefix_cache *c);
int32_t		llm_prefix_cache_len(const llm_prefix_cache *c);	/* tokens held */
/* forget the cached prompt: nothing matches until the next store */
void		llm_prefix_cache_clear(llm_prefix_cache *c);

/*
 * Before g has run anything: copy the cached rows of the longest common
 * prefix of g's prompt (all but its last token at most) into g's
 * sequence, so that prefill starts after them. Returns the positions
 * reused (0 when nothing matches), -1 with err when out of memory.
 */
int32_t		llm_gen_reuse_prefix(llm_gen *g, const llm_prefix_cache *c, char *err);

/*
 * Right after the step that ran the last prompt token of g (its sequence
 * holds exactly the prompt): make g's prompt the cached one, unless it is
 * already. Returns 1 when stored, 0 when not the moment or nothing new,
 * -1 with err.
 */
int			llm_gen_store_prefix(const llm_gen *g, llm_prefix_cache *c, char *err);

/* Run one generation to the end on engine e (the CLI's path). */
int			llm_generate_simple(llm_engine *e, const llm_model *m, const char *prompt,
								const llm_gen_params *p, char **out, char *err);

#endif							/* LLM_ENGINE_H */
