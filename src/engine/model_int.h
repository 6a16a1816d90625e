/*
 * model_int.h - internals shared by the model loader (model.c), the
 * forward pass (forward.c) and the generation driver (gen.c).
 */
#ifndef LLM_MODEL_INT_H
#define LLM_MODEL_INT_H

#include "gguf.h"
#include "kernels.h"
#include "llm_engine.h"
#include "threadpool.h"

typedef enum llm_arch
{
	LLM_ARCH_LLAMA,
	LLM_ARCH_QWEN2,
	LLM_ARCH_QWEN3,				/* qwen2 without biases, RMSNorm on q and k heads */
	LLM_ARCH_GEMMA3				/* qwen3-like heads, sliding-window layers,
								 * extra norms after attention and FFN, GeGLU */
} llm_arch;

typedef enum llm_rope_type
{
	LLM_ROPE_NORM,				/* rotate adjacent pairs (x[2i], x[2i+1]) */
	LLM_ROPE_NEOX				/* rotate halves (x[i], x[i + n_rot/2]) */
} llm_rope_type;

/*
 * A weight matrix in the mapping: ne1 rows of ne0 elements. packed, when
 * not NULL, is a copy of the same rows in the type's 8-row layout
 * (llm_type_ops.pack8), inside llm_model.packed_arena; the forward pass
 * then uses it and its gemm8 kernel for every product with this matrix.
 */
typedef struct llm_weight
{
	const void *data;
	llm_type	type;
	int64_t		ne0;
	int64_t		ne1;
	size_t		row_bytes;
	void	   *packed;
} llm_weight;

typedef struct llm_layer
{
	float	   *attn_norm;		/* [n_embd] */
	llm_weight	wq;				/* [n_embd] -> [n_embd_q] */
	llm_weight	wk;				/* [n_embd] -> [n_embd_kv] */
	llm_weight	wv;				/* [n_embd] -> [n_embd_kv] */
	llm_weight	wo;				/* [n_embd_q] -> [n_embd] */
	float	   *bq;				/* qwen2 biases, NULL for llama */
	float	   *bk;
	float	   *bv;
	float	   *q_norm;			/* qwen3 per-head RMSNorm [n_embd_head], else NULL */
	float	   *k_norm;
	float	   *ffn_norm;		/* [n_embd] */
	llm_weight	w_gate;			/* [n_embd] -> [n_ff] */
	llm_weight	w_up;			/* [n_embd] -> [n_ff] */
	llm_weight	w_down;			/* [n_ff] -> [n_embd] */
	float	   *post_attn_norm; /* gemma3: RMSNorm of the attention output, else NULL */
	float	   *post_ffn_norm;	/* gemma3: RMSNorm of the FFN output, else NULL */
	bool		swa;			/* gemma3: attends to the last n_swa positions only */
} llm_layer;

struct llm_model
{
	gguf_file  *gf;
	llm_model_info info;
	llm_arch	arch;
	llm_tokenizer *tok;
	llm_chat_template chat;
	bool		has_chat;

	int32_t		n_embd_head;	/* <arch>.attention.key_length, or n_embd / n_head */
	int32_t		n_embd_q;		/* n_embd_head * n_head (n_embd unless key_length says otherwise) */
	int32_t		n_embd_kv;		/* n_embd_head * n_head_kv */
	llm_rope_type rope_type;
	float		rope_freq_scale;	/* 1 / linear scaling factor */
	float		rope_theta_swa; /* gemma3: rope base of the sliding-window layers */
	int32_t		n_swa;			/* gemma3: sliding window (positions), 0: none */
	int32_t		n_swa_pattern;	/* gemma3: every n-th layer is global */
	float		attn_scale;		/* q.k multiplier: 1 / sqrt(head size) */
	float		embd_scale;		/* token embeddings multiplied by it (gemma3: sqrt(n_embd)) */
	bool		geglu;			/* FFN gate activation: GELU (tanh form), else SiLU */
	float	   *rope_freqs;		/* optional per-pair divisors [n_rot/2] */

	llm_weight	tok_embd;		/* [n_embd] x n_vocab rows */
	float	   *output_norm;	/* [n_embd] */
	llm_weight	output;			/* [n_embd] -> [n_vocab]; may alias tok_embd */

	llm_layer  *layers;

	void	   *packed_arena;	/* every llm_weight.packed points into it */
	llm_kv_type kv_type;		/* element type of sequences created next */
	const llm_abort *abort;		/* the caller's check, during the load only */
};

/*
 * The KV cache of one sequence: per layer, positions x n_embd_kv values,
 * f32 (float) or f16 (uint16_t) as the model's kv_type was when the
 * sequence was created.
 */
struct llm_seq
{
	const llm_model *model;
	int32_t		pos;			/* positions filled */
	int32_t		max_pos;		/* hard limit */
	int32_t		cap;			/* positions allocated */
	bool		f16;			/* elements are f16 */
	void	  **k;				/* [n_layer] -> cap * n_embd_kv */
	void	  **v;
	/*
	 * A GPU backend's copy of the cache (then k and v stay unallocated):
	 * set by its seq_reserve on the first step, freed by llm_seq_free
	 */
	void	   *dev;
	const struct llm_seq_dev_ops *dev_ops;
};

/* What the owner of a device-side KV cache (llm_seq.dev) provides. */
typedef struct llm_seq_dev_ops
{
	void		(*release) (llm_seq *s);	/* free s->dev */
	/* rows 0 .. n - 1 of src into the empty dst (made device-side too) */
	int			(*copy) (llm_seq *dst, const llm_seq *src, int32_t n, char *err);
} llm_seq_dev_ops;

/* bytes of one KV element of s */
#define LLM_SEQ_ELT(s) ((s)->f16 ? sizeof(uint16_t) : sizeof(float))

/*
 * A compute backend: runs the forward pass of llm_engine_step() for a
 * batch that engine.c has already validated (sequences of model m, token
 * ids in range, room reserved in every sequence). It appends K/V at each
 * sequence's current position and writes the requested logits and
 * hidden states; engine.c
 * then advances the positions. The CPU backend is forward.c; a CUDA
 * backend (kernels/) provides another table over the same llm_model.
 */
typedef struct llm_backend llm_backend;

typedef struct llm_backend_ops
{
	const char *name;
	int			(*create) (llm_backend **out, const llm_engine_params *p, char *err);
	void		(*destroy) (llm_backend *b);
	const char *(*isa) (const llm_backend *b);
	int32_t		(*threads) (const llm_backend *b);
	/* hidden: NULL, or per item NULL or where its final hidden states go */
	int			(*step) (llm_backend *b, const llm_model *m, llm_batch_item *items,
						 int32_t n_items, int64_t n_tokens, int64_t n_out,
						 float *const *hidden, char *err);
	/* optional (NULL: nothing to do / host memory / 0 bytes) */
	int			(*attach) (llm_backend *b, llm_model *m, char *err);
	void		(*detach) (llm_backend *b, const llm_model *m);
	uint64_t	(*device_bytes) (const llm_backend *b, const llm_model *m);
	/* room for n more positions in s on the device (sets s->dev) */
	int			(*seq_reserve) (llm_backend *b, llm_seq *s, int32_t n, char *err);
	/* the dev_ops of the sequences it keeps on the device (NULL: none) */
	const llm_seq_dev_ops *seq_dev_ops;
} llm_backend_ops;

extern const llm_backend_ops llm_backend_cpu;

/*
 * The CUDA module (llm_cuda.so, kernels/) exports LLM_CUDA_ENTRY, a
 * llm_backend_entry_fn: given this build's ABI number and struct sizes it
 * returns its table, or NULL with err when they differ from its own (a
 * module of another build). Bump LLM_BACKEND_ABI whenever llm_model,
 * llm_layer, llm_weight, llm_seq or llm_backend_ops change meaning.
 */
#define LLM_BACKEND_ABI 1
#define LLM_CUDA_ENTRY "llm_cuda_backend"
typedef const llm_backend_ops *(*llm_backend_entry_fn) (uint32_t abi, size_t model_size,
														size_t seq_size, size_t ops_size,
														char *err);

/* Make room for n more positions; -1 with err if over max_pos or OOM. */
int			llm_seq_reserve(llm_seq *s, int32_t n, char *err);

#endif							/* LLM_MODEL_INT_H */
