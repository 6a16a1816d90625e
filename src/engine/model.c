/*
 * model.c - loading a llama-family GGUF model and checking it fully.
 *
 * After gguf_open() has validated the container, this file checks what the
 * architecture needs: known architecture, sane hyper-parameters, every
 * tensor present with the expected type and shape, tokenizer consistent
 * with the embedding matrix. Small vectors (norm weights, biases) are
 * converted to f32 copies; matrices stay in the read-only mapping.
 */
#include "model_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* hyper-parameter bounds: generous, but they keep every size computation small */
#define LLM_MAX_LAYERS	1024
#define LLM_MAX_EMBD	65536
#define LLM_MAX_FF		(1 << 20)
#define LLM_MAX_HEADS	1024
#define LLM_MAX_CTX		(1 << 24)

/*
 * Read "<arch>.<suffix>" as u32. Missing: store def and succeed if
 * required is false. Returns -1 with err on a wrong type or missing
 * required key.
 */
static int
llm_get_hparam(const llm_model *m, const char *suffix, uint32_t *out,
			   bool required, uint32_t def, char *err)
{
	char		key[128];
	int			rc;

	snprintf(key, sizeof(key), "%s.%s", m->info.arch, suffix);
	rc = gguf_get_u32(m->gf, key, out, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
	{
		if (required)
			return llm_err(err, "missing metadata key \"%s\"", key);
		*out = def;
	}
	return 0;
}

/* Same for a float hyper-parameter. */
static int
llm_get_hparam_f32(const llm_model *m, const char *suffix, float *out,
				   float def, char *err)
{
	char		key[128];
	int			rc;

	snprintf(key, sizeof(key), "%s.%s", m->info.arch, suffix);
	rc = gguf_get_f32(m->gf, key, out, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		*out = def;
	return 0;
}

/*
 * Check that a value lies in [lo, hi]; the message names the key.
 */
static int
llm_check_range(const llm_model *m, const char *suffix, uint32_t v,
				uint32_t lo, uint32_t hi, char *err)
{
	if (v < lo || v > hi)
		return llm_err(err, "%s.%s = %u is out of range (%u..%u)",
					   m->info.arch, suffix, v, lo, hi);
	return 0;
}

/*
 * Find tensor name (printf-style) and check its shape is exactly
 * [ne0] (ne1 == 0) or [ne0, ne1]. With optional, a missing tensor leaves
 * *out NULL and succeeds.
 */
static int
llm_find_checked(const llm_model *m, const gguf_tensor **out, bool optional,
				 int64_t ne0, int64_t ne1, char *err, const char *fmt, int layer)
{
	char		name[96];
	const gguf_tensor *t;
	uint32_t	want_dims = ne1 > 0 ? 2 : 1;
	bool		ok;

	snprintf(name, sizeof(name), fmt, layer);
	t = gguf_find_tensor(m->gf, name);
	*out = t;
	if (t == NULL)
		return optional ? 0 : llm_err(err, "missing tensor '%s'", name);
	ok = t->ne[0] == ne0 && (want_dims == 1 ? t->ne[1] == 1 : t->ne[1] == ne1) &&
		t->ne[2] == 1 && t->ne[3] == 1;
	if (!ok)
	{
		if (want_dims == 1)
			return llm_err(err, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld]",
						   name, (long long) t->ne[0], (long long) t->ne[1],
						   (long long) t->ne[2], (long long) t->ne[3], (long long) ne0);
		return llm_err(err, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
					   name, (long long) t->ne[0], (long long) t->ne[1],
					   (long long) t->ne[2], (long long) t->ne[3],
					   (long long) ne0, (long long) ne1);
	}
	{
		const llm_type_traits *tr = llm_type_get(t->type);

		if (tr == NULL || !tr->is_weight)
			return llm_err(err, "tensor '%s' has type %s, which cannot be used as a weight",
						   name, llm_type_name(t->type));
	}
	return 0;
}

/*
 * Load a matrix tensor [ne0, ne1] into *w.
 */
static int
llm_load_matrix(llm_model *m, llm_weight *w, int64_t ne0, int64_t ne1,
				bool optional, char *err, const char *fmt, int layer)
{
	const gguf_tensor *t;

	memset(w, 0, sizeof(*w));
	if (llm_find_checked(m, &t, optional, ne0, ne1, err, fmt, layer) < 0)
		return -1;
	if (t == NULL)
		return 0;
	w->data = t->data;
	w->type = t->type;
	w->ne0 = ne0;
	w->ne1 = ne1;
	w->row_bytes = llm_row_size(t->type, ne0);
	m->info.n_params += t->nelements;
	m->info.weight_bytes += t->nbytes;
	return 0;
}

/*
 * Load a vector tensor [n] as a malloc'd f32 copy (*out NULL when
 * optional and missing).
 */
static int
llm_load_vector(llm_model *m, float **out, int64_t n, bool optional,
				const llm_kernels *k, char *err, const char *fmt, int layer)
{
	const gguf_tensor *t;
	float	   *v;

	*out = NULL;
	if (llm_find_checked(m, &t, optional, n, 0, err, fmt, layer) < 0)
		return -1;
	if (t == NULL)
		return 0;
	if (k->type[t->type].to_float == NULL)
		return llm_err(err, "tensor '%s' has type %s, which cannot be converted to f32",
					   t->name, llm_type_name(t->type));
	v = malloc((size_t) n * sizeof(float));
	if (v == NULL)
		return llm_err(err, "out of memory loading tensor '%s'", t->name);
	k->type[t->type].to_float(t->data, v, n);
	*out = v;
	m->info.n_params += t->nelements;
	m->info.weight_bytes += t->nbytes;
	return 0;
}

/*
 * gemma3's own hyper-parameters, as llama.cpp reads them: the sliding
 * window (attention.sliding_window; 0 or absent: every layer global), the
 * pattern (attention.sliding_window_pattern, default 6: layers with
 * l % 6 < 5 slide), the sliding layers' rope base (rope.freq_base_swa,
 * default 10000), the q.k scale (1/sqrt(head size), or
 * 1/sqrt(n_embd / n_head) for the 62-layer 27B) and the sqrt(n_embd)
 * embedding scale. m->layers does not exist yet: the pattern is kept in
 * m->n_swa_pattern for llm_load_tensors.
 */
static int
llm_gemma3_hparams(llm_model *m, uint32_t n_layer, uint32_t n_embd, uint32_t n_head, char *err)
{
	uint32_t	n_swa,
				pattern;

	m->geglu = true;
	m->embd_scale = sqrtf((float) n_embd);
	if (n_layer == 62)
		m->attn_scale = 1.0f / sqrtf((float) (n_embd / n_head));
	if (llm_get_hparam(m, "attention.sliding_window", &n_swa, false, 0, err) < 0 ||
		llm_get_hparam(m, "attention.sliding_window_pattern", &pattern, false, 6, err) < 0 ||
		llm_get_hparam_f32(m, "rope.freq_base_swa", &m->rope_theta_swa, 10000.0f, err) < 0)
		return -1;
	if (n_swa > LLM_MAX_CTX || pattern > LLM_MAX_LAYERS)
		return llm_err(err, "gemma3.attention.sliding_window %u or its pattern %u out of range",
					   n_swa, pattern);
	if (!(m->rope_theta_swa > 0.0f))
		return llm_err(err, "gemma3.rope.freq_base_swa out of range");
	m->n_swa = (int32_t) n_swa;
	m->n_swa_pattern = (int32_t) pattern;
	return 0;
}

/*
 * Read and check the hyper-parameters of the architecture.
 */
static int
llm_load_hparams(llm_model *m, char *err)
{
	llm_model_info *in = &m->info;
	uint32_t	n_layer,
				n_ctx,
				n_embd,
				n_ff,
				n_head,
				n_head_kv,
				n_rot,
				head_k,
				head_v;
	char	   *s = NULL;
	int			rc;

	if (llm_get_hparam(m, "block_count", &n_layer, true, 0, err) < 0 ||
		llm_get_hparam(m, "context_length", &n_ctx, true, 0, err) < 0 ||
		llm_get_hparam(m, "embedding_length", &n_embd, true, 0, err) < 0 ||
		llm_get_hparam(m, "feed_forward_length", &n_ff, true, 0, err) < 0 ||
		llm_get_hparam(m, "attention.head_count", &n_head, true, 0, err) < 0)
		return -1;
	if (llm_check_range(m, "attention.head_count", n_head, 1, LLM_MAX_HEADS, err) < 0)
		return -1;
	if (llm_get_hparam(m, "attention.head_count_kv", &n_head_kv, false, n_head, err) < 0)
		return -1;
	if (llm_check_range(m, "block_count", n_layer, 1, LLM_MAX_LAYERS, err) < 0 ||
		llm_check_range(m, "context_length", n_ctx, 1, LLM_MAX_CTX, err) < 0 ||
		llm_check_range(m, "embedding_length", n_embd, 1, LLM_MAX_EMBD, err) < 0 ||
		llm_check_range(m, "feed_forward_length", n_ff, 1, LLM_MAX_FF, err) < 0 ||
		llm_check_range(m, "attention.head_count_kv", n_head_kv, 1, n_head, err) < 0)
		return -1;
	if (n_head % n_head_kv != 0)
		return llm_err(err, "%s.attention.head_count %u is not a multiple of head_count_kv %u",
					   in->arch, n_head, n_head_kv);

	/* head size: attention.key_length when given (qwen3 decouples it from
	 * n_embd / n_head), value_length equal to it */
	if (llm_get_hparam(m, "attention.key_length", &head_k, false, 0, err) < 0 ||
		llm_get_hparam(m, "attention.value_length", &head_v, false, head_k, err) < 0)
		return -1;
	if (head_k == 0)
	{
		if (n_embd % n_head != 0)
			return llm_err(err, "%s.embedding_length %u is not a multiple of attention.head_count %u",
						   in->arch, n_embd, n_head);
		head_k = head_v = n_embd / n_head;
	}
	if (llm_check_range(m, "attention.key_length", head_k, 2, 4096, err) < 0)
		return -1;
	if (head_v != head_k)
		return llm_err(err, "%s.attention.value_length %u differs from key_length %u (not supported)",
					   in->arch, head_v, head_k);
	m->n_embd_head = (int32_t) head_k;
	if (m->n_embd_head % 2 != 0)
		return llm_err(err, "head size %d is odd", m->n_embd_head);
	if ((uint64_t) head_k * n_head > LLM_MAX_EMBD)
		return llm_err(err, "%s: head size %u x %u heads is too large", in->arch, head_k, n_head);
	if (llm_get_hparam(m, "rope.dimension_count", &n_rot, false,
					   (uint32_t) m->n_embd_head, err) < 0)
		return -1;
	if (n_rot == 0 || n_rot % 2 != 0 || n_rot > (uint32_t) m->n_embd_head)
		return llm_err(err, "%s.rope.dimension_count %u must be even and in 2..%d",
					   in->arch, n_rot, m->n_embd_head);
	if ((m->arch == LLM_ARCH_QWEN3 || m->arch == LLM_ARCH_GEMMA3) &&
		n_rot != (uint32_t) m->n_embd_head)
		return llm_err(err, "%s.rope.dimension_count %u must equal the head size %d",
					   in->arch, n_rot, m->n_embd_head);
	if (llm_get_hparam_f32(m, "rope.freq_base", &in->rope_theta, 10000.0f, err) < 0 ||
		llm_get_hparam_f32(m, "attention.layer_norm_rms_epsilon", &in->norm_eps, 1e-5f, err) < 0)
		return -1;
	if (!(in->rope_theta > 0.0f) || !(in->norm_eps >= 0.0f && in->norm_eps < 1.0f))
		return llm_err(err, "rope.freq_base or layer_norm_rms_epsilon out of range");

	/* rope scaling: only "none" and "linear" are supported */
	m->rope_freq_scale = 1.0f;
	{
		char		key[128];

		snprintf(key, sizeof(key), "%s.rope.scaling.type", in->arch);
		rc = gguf_get_str(m->gf, key, &s, err);
		if (rc < 0)
			return -1;
		if (rc == 1)
		{
			bool		linear = strcmp(s, "linear") == 0;
			bool		none = strcmp(s, "none") == 0;

			if (!linear && !none)
			{
				llm_err(err, "rope scaling type \"%s\" is not supported", s);
				free(s);
				return -1;
			}
			free(s);
			if (linear)
			{
				float		factor;

				if (llm_get_hparam_f32(m, "rope.scaling.factor", &factor, 1.0f, err) < 0)
					return -1;
				if (!(factor >= 1.0f && factor <= 1024.0f))
					return llm_err(err, "rope scaling factor %g out of range", factor);
				m->rope_freq_scale = 1.0f / factor;
			}
		}
	}

	/* attention scale, embedding scale, gemma3's sliding-window layers */
	m->attn_scale = 1.0f / sqrtf((float) m->n_embd_head);
	m->embd_scale = 1.0f;
	if (m->arch == LLM_ARCH_GEMMA3 && llm_gemma3_hparams(m, n_layer, n_embd, n_head, err) < 0)
		return -1;

	in->n_layer = (int32_t) n_layer;
	in->n_ctx_train = (int32_t) n_ctx;
	in->n_embd = (int32_t) n_embd;
	in->n_ff = (int32_t) n_ff;
	in->n_head = (int32_t) n_head;
	in->n_head_kv = (int32_t) n_head_kv;
	in->n_rot = (int32_t) n_rot;
	m->n_embd_q = m->n_embd_head * (int32_t) n_head;
	m->n_embd_kv = m->n_embd_head * (int32_t) n_head_kv;
	return 0;
}

/* alignment of the packed weights' arena: one x86-64 huge page */
#define LLM_HUGE_PAGE ((size_t) 2 << 20)

/*
 * Whether w gets an 8-row packed copy: its type has the layout
 * (llm_type_ops.pack8), its rows come in whole groups of 8 and are no
 * longer than gemm8 takes.
 */
static bool
llm_packable(const llm_weight *w, const llm_kernels *k)
{
	return k->type[w->type].pack8 != NULL && k->type[w->type].gemm8 != NULL &&
		w->data != NULL && w->ne1 % 8 == 0 && w->ne0 <= LLM_GEMM8_MAX_N;
}

/*
 * Pack w at arena + *off (or, with arena NULL, only count its bytes) and
 * advance *off to the next 64-byte boundary.
 */
static int
llm_pack_weight(llm_model *m, llm_weight *w, const llm_kernels *k, char *arena,
				size_t *off, char *err)
{
	size_t		bytes,
				group = 8 * w->row_bytes;

	if (!llm_packable(w, k))
		return 0;
	if (__builtin_mul_overflow((size_t) w->ne1, w->row_bytes, &bytes) ||
		*off > SIZE_MAX - bytes - 63)
		return llm_err(err, "weight of %lld rows is too large", (long long) w->ne1);
	if (arena != NULL)
	{
		char	   *dst = arena + *off;

		if (llm_should_abort(m->abort))
			return llm_err(err, LLM_ABORT_MSG);

		for (int64_t g = 0; g < w->ne1 / 8; g++)
			k->type[w->type].pack8(w->ne0, (const char *) w->data + g * group, w->row_bytes,
								   dst + g * group);
		w->packed = dst;
		m->info.packed_bytes += bytes;
		/*
		 * The mapped rows are not read again: the tied embedding's rows
		 * are looked up in the packed copy (row8_to_float, forward.c)
		 */
		if (w->data != m->tok_embd.data || k->type[w->type].row8_to_float != NULL)
			gguf_release(m->gf, w->data, bytes);
	}
	*off = (*off + bytes + 63) & ~(size_t) 63;
	return 0;
}

/*
 * llm_pack_weight over every matrix of the graph, in a fixed order (the
 * token embedding itself is not packed unless it is tied to the output
 * projection: only its rows are read).
 */
static int
llm_pack_all(llm_model *m, const llm_kernels *k, char *arena, size_t *off, char *err)
{
	if (llm_pack_weight(m, &m->output, k, arena, off, err) < 0)
		return -1;
	for (int l = 0; l < m->info.n_layer; l++)
	{
		llm_layer  *L = &m->layers[l];
		llm_weight *w[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};

		for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
			if (llm_pack_weight(m, w[i], k, arena, off, err) < 0)
				return -1;
	}
	return 0;
}

/*
 * Pack every matrix that has a packed layout into one arena: a first pass
 * counts the bytes, a second packs. The arena is 2 MiB aligned with
 * transparent huge pages asked for: every step streams these bytes, and
 * 4 KiB pages would cost a TLB miss each.
 */
static int
llm_pack_weights(llm_model *m, const llm_kernels *k, char *err)
{
	size_t		size = 0,
				off = 0;

	if (llm_pack_all(m, k, NULL, &size, err) < 0)
		return -1;
	if (size == 0)
		return 0;
	size = (size + LLM_HUGE_PAGE - 1) & ~(LLM_HUGE_PAGE - 1);
	m->packed_arena = aligned_alloc(LLM_HUGE_PAGE, size);
	if (m->packed_arena == NULL)
		return llm_err(err, "out of memory packing %zu bytes of weights", size);
#ifdef MADV_HUGEPAGE
	(void) madvise(m->packed_arena, size, MADV_HUGEPAGE);
#endif
	return llm_pack_all(m, k, m->packed_arena, &off, err);
}

/*
 * Find and check every tensor of the llama/qwen2/qwen3 graph.
 */
static int
llm_load_tensors(llm_model *m, const llm_kernels *k, char *err)
{
	const llm_model_info *in = &m->info;
	int64_t		E = in->n_embd,
				Q = m->n_embd_q,
				KV = m->n_embd_kv,
				F = in->n_ff,
				V = in->n_vocab;
	bool		bias = m->arch == LLM_ARCH_QWEN2;
	bool		qk_norm = m->arch == LLM_ARCH_QWEN3 || m->arch == LLM_ARCH_GEMMA3;
	bool		post_norms = m->arch == LLM_ARCH_GEMMA3;
	int			l;

	if (llm_load_matrix(m, &m->tok_embd, E, V, false, err, "token_embd.weight", 0) < 0 ||
		llm_load_vector(m, &m->output_norm, E, false, k, err, "output_norm.weight", 0) < 0 ||
		llm_load_matrix(m, &m->output, E, V, true, err, "output.weight", 0) < 0)
		return -1;
	if (m->output.data == NULL)
		m->output = m->tok_embd;	/* tied embeddings */
	{
		const gguf_tensor *t;

		if (llm_find_checked(m, &t, true, in->n_rot / 2, 0, err, "rope_freqs.weight", 0) < 0)
			return -1;
		if (t != NULL &&
			llm_load_vector(m, &m->rope_freqs, in->n_rot / 2, true, k, err,
							"rope_freqs.weight", 0) < 0)
			return -1;
	}

	m->layers = calloc((size_t) in->n_layer, sizeof(llm_layer));
	if (m->layers == NULL)
		return llm_err(err, "out of memory");
	for (l = 0; l < in->n_layer; l++)
	{
		llm_layer  *L = &m->layers[l];

		if (llm_should_abort(m->abort))
			return llm_err(err, LLM_ABORT_MSG);
		if (llm_load_vector(m, &L->attn_norm, E, false, k, err, "blk.%d.attn_norm.weight", l) < 0 ||
			llm_load_matrix(m, &L->wq, E, Q, false, err, "blk.%d.attn_q.weight", l) < 0 ||
			llm_load_matrix(m, &L->wk, E, KV, false, err, "blk.%d.attn_k.weight", l) < 0 ||
			llm_load_matrix(m, &L->wv, E, KV, false, err, "blk.%d.attn_v.weight", l) < 0 ||
			llm_load_matrix(m, &L->wo, Q, E, false, err, "blk.%d.attn_output.weight", l) < 0 ||
			llm_load_vector(m, &L->ffn_norm, E, false, k, err, "blk.%d.ffn_norm.weight", l) < 0 ||
			llm_load_matrix(m, &L->w_gate, E, F, false, err, "blk.%d.ffn_gate.weight", l) < 0 ||
			llm_load_matrix(m, &L->w_up, E, F, false, err, "blk.%d.ffn_up.weight", l) < 0 ||
			llm_load_matrix(m, &L->w_down, F, E, false, err, "blk.%d.ffn_down.weight", l) < 0)
			return -1;
		if (llm_load_vector(m, &L->bq, Q, !bias, k, err, "blk.%d.attn_q.bias", l) < 0 ||
			llm_load_vector(m, &L->bk, KV, !bias, k, err, "blk.%d.attn_k.bias", l) < 0 ||
			llm_load_vector(m, &L->bv, KV, !bias, k, err, "blk.%d.attn_v.bias", l) < 0)
			return -1;
		if (qk_norm &&
			(llm_load_vector(m, &L->q_norm, m->n_embd_head, false, k, err,
							 "blk.%d.attn_q_norm.weight", l) < 0 ||
			 llm_load_vector(m, &L->k_norm, m->n_embd_head, false, k, err,
							 "blk.%d.attn_k_norm.weight", l) < 0))
			return -1;
		if (post_norms &&
			(llm_load_vector(m, &L->post_attn_norm, E, false, k, err,
							 "blk.%d.post_attention_norm.weight", l) < 0 ||
			 llm_load_vector(m, &L->post_ffn_norm, E, false, k, err,
							 "blk.%d.post_ffw_norm.weight", l) < 0))
			return -1;
		/* llama.cpp's pattern: n layers, the last of each n global */
		L->swa = m->n_swa > 0 &&
			(m->n_swa_pattern == 0 || l % m->n_swa_pattern < m->n_swa_pattern - 1);
	}
	return llm_pack_weights(m, k, err);
}

/*
 * Name of the weight type holding the most bytes ("q4_1" for a Q4_1 file
 * whose norms are f32).
 */
static void
llm_dominant_type(llm_model *m)
{
	uint64_t	bytes[LLM_TYPE_COUNT] = {0};
	uint64_t	i,
				n = gguf_n_tensors(m->gf);
	int			best = 0,
				t;

	for (i = 0; i < n; i++)
	{
		const gguf_tensor *ti = gguf_tensor_at(m->gf, i);

		if (ti->type < LLM_TYPE_COUNT)
			bytes[ti->type] += ti->nbytes;
	}
	for (t = 1; t < LLM_TYPE_COUNT; t++)
		if (bytes[t] > bytes[best])
			best = t;
	snprintf(m->info.quant, sizeof(m->info.quant), "%s", llm_type_name((uint32_t) best));
}

/*
 * Load the model at path. See llm_engine.h.
 */
int
llm_model_load(llm_model **out, const char *path, int32_t ctx_cap, char *err)
{
	return llm_model_load_ex(out, path, ctx_cap, NULL, err);
}

/*
 * Load the model at path, asking ab between layers and packed weights
 * whether to stop. See llm_engine.h.
 */
int
llm_model_load_ex(llm_model **out, const char *path, int32_t ctx_cap,
				  const llm_abort *ab, char *err)
{
	llm_model  *m;
	llm_kernels k;
	char	   *s = NULL;
	int			rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return llm_err(err, "out of memory");
	m->abort = ab;
	if (gguf_open(&m->gf, path, err) < 0)
	{
		free(m);
		return -1;
	}
	llm_kernels_init_scalar(&k);	/* only to convert small vectors */

	rc = gguf_get_str(m->gf, "general.architecture", &s, err);
	if (rc <= 0)
	{
		if (rc == 0)
			llm_err(err, "missing metadata key \"general.architecture\"");
		goto fail;
	}
	if (strcmp(s, "llama") == 0)
		m->arch = LLM_ARCH_LLAMA, m->rope_type = LLM_ROPE_NORM;
	else if (strcmp(s, "qwen2") == 0)
		m->arch = LLM_ARCH_QWEN2, m->rope_type = LLM_ROPE_NEOX;
	else if (strcmp(s, "qwen3") == 0)
		m->arch = LLM_ARCH_QWEN3, m->rope_type = LLM_ROPE_NEOX;
	else if (strcmp(s, "gemma3") == 0)
		m->arch = LLM_ARCH_GEMMA3, m->rope_type = LLM_ROPE_NEOX;
	else
	{
		llm_err(err, "unknown architecture '%.64s' (supported: llama, qwen2, qwen3, gemma3)", s);
		free(s);
		goto fail;
	}
	snprintf(m->info.arch, sizeof(m->info.arch), "%s", s);
	free(s);
	s = NULL;
	if (gguf_get_str(m->gf, "general.name", &s, err) == 1)
		snprintf(m->info.name, sizeof(m->info.name), "%s", s);
	free(s);
	s = NULL;

	if (llm_load_hparams(m, err) < 0)
		goto fail;
	if (llm_tokenizer_load(&m->tok, m->gf, err) < 0)
		goto fail;
	if (llm_should_abort(m->abort))
	{
		llm_err(err, LLM_ABORT_MSG);
		goto fail;
	}
	m->info.n_vocab = llm_tokenizer_n_vocab(m->tok);
	{
		uint32_t	nv;

		if (llm_get_hparam(m, "vocab_size", &nv, false, (uint32_t) m->info.n_vocab, err) < 0)
			goto fail;
		if ((int32_t) nv != m->info.n_vocab)
		{
			llm_err(err, "%s.vocab_size %u does not match the %d tokens of tokenizer.ggml.tokens",
					m->info.arch, nv, m->info.n_vocab);
			goto fail;
		}
	}
	if (llm_load_tensors(m, &k, err) < 0)
		goto fail;

	m->info.n_ctx = m->info.n_ctx_train;
	if (ctx_cap > 0 && ctx_cap < m->info.n_ctx)
		m->info.n_ctx = ctx_cap;
	m->info.file_bytes = gguf_file_size(m->gf);
	llm_dominant_type(m);

	/*
	 * chat template: optional; an unknown one just leaves has_chat false,
	 * a missing one takes the architecture's format (gemma3)
	 */
	rc = gguf_get_str(m->gf, "tokenizer.chat_template", &s, err);
	if (rc < 0)
		goto fail;
	if (rc == 1)
	{
		char		cerr[LLM_ERRLEN];

		if (llm_chat_template_parse(&m->chat, s, cerr) == 0)
		{
			m->has_chat = true;
			m->info.chat_format = llm_chat_format_name(m->chat.format);
		}
		free(s);
	}
	else
	{
		char		cerr[LLM_ERRLEN];

		/* no template in the file: the architecture's own format, if any */
		if (llm_chat_template_for_arch(&m->chat, m->info.arch, cerr) == 0)
		{
			m->has_chat = true;
			m->info.chat_format = llm_chat_format_name(m->chat.format);
		}
	}
	m->abort = NULL;
	*out = m;
	return 0;

fail:
	llm_model_free(m);
	return -1;
}

/*
 * Free a model and unmap its file.
 */
void
llm_model_free(llm_model *m)
{
	int			l;

	if (m == NULL)
		return;
	if (m->layers != NULL)
	{
		for (l = 0; l < m->info.n_layer; l++)
		{
			llm_layer  *L = &m->layers[l];

			free(L->attn_norm);
			free(L->ffn_norm);
			free(L->bq);
			free(L->bk);
			free(L->bv);
			free(L->q_norm);
			free(L->post_attn_norm);
			free(L->post_ffn_norm);
			free(L->k_norm);
		}
		free(m->layers);
	}
	free(m->output_norm);
	free(m->packed_arena);
	free(m->rope_freqs);
	if (m->has_chat)
		llm_chat_template_free(&m->chat);
	llm_tokenizer_free(m->tok);
	gguf_close(m->gf);
	free(m);
}

const llm_model_info *
llm_model_get_info(const llm_model *m)
{
	return &m->info;
}

const llm_tokenizer *
llm_model_tokenizer(const llm_model *m)
{
	return m->tok;
}

const llm_chat_template *
llm_model_chat_template(const llm_model *m)
{
	return m->has_chat ? &m->chat : NULL;
}

/*
 * Bytes of KV cache per position: K and V, every layer, in the model's
 * current KV type.
 */
size_t
llm_model_kv_bytes_per_pos(const llm_model *m)
{
	size_t		elt = m->kv_type == LLM_KV_F16 ? sizeof(uint16_t) : sizeof(float);

	return (size_t) m->info.n_layer * 2 * (size_t) m->n_embd_kv * elt;
}

/*
 * Set the KV element type of the sequences created from now on.
 */
void
llm_model_set_kv_type(llm_model *m, llm_kv_type t)
{
	m->kv_type = t == LLM_KV_F16 ? LLM_KV_F16 : LLM_KV_F32;
}

/*
 * The KV element type new sequences get.
 */
llm_kv_type
llm_model_kv_type(const llm_model *m)
{
	return m->kv_type;
}

/*
 * Parse a KV type name ("f32", "f16"); -1 if unknown.
 */
int
llm_kv_type_parse(const char *name, llm_kv_type *out)
{
	if (name != NULL && strcmp(name, "f32") == 0)
		*out = LLM_KV_F32;
	else if (name != NULL && strcmp(name, "f16") == 0)
		*out = LLM_KV_F16;
	else
		return -1;
	return 0;
}

/*
 * The name of a KV type.
 */
const char *
llm_kv_type_name(llm_kv_type t)
{
	return t == LLM_KV_F16 ? "f16" : "f32";
}

/* ------------------------------------------------------------ sequences */

/*
 * Create an empty sequence of at most max_pos positions.
 */
llm_seq *
llm_seq_new(const llm_model *m, int32_t max_pos, char *err)
{
	llm_seq    *s;

	if (max_pos <= 0 || max_pos > m->info.n_ctx)
	{
		llm_err(err, "sequence length %d is out of range (1..%d)", max_pos, m->info.n_ctx);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL ||
		(s->k = calloc((size_t) m->info.n_layer, sizeof(void *))) == NULL ||
		(s->v = calloc((size_t) m->info.n_layer, sizeof(void *))) == NULL)
	{
		if (s)
			free(s->k);
		free(s);
		llm_err(err, "out of memory creating a sequence");
		return NULL;
	}
	s->model = m;
	s->max_pos = max_pos;
	s->f16 = m->kv_type == LLM_KV_F16;
	return s;
}

/*
 * Grow the cache so that n more positions fit (doubling, capped at max_pos).
 */
int
llm_seq_reserve(llm_seq *s, int32_t n, char *err)
{
	const llm_model *m = s->model;
	int64_t		need = (int64_t) s->pos + n;
	int32_t		cap;
	int			l;

	if (n < 0 || need > s->max_pos)
		return llm_err(err, "sequence is full: %d positions used, %d more requested, limit %d",
					   s->pos, n, s->max_pos);
	if (s->dev != NULL)
		return llm_err(err, "the sequence's KV cache is on a device");
	if (need <= s->cap)
		return 0;
	cap = s->cap > 0 ? s->cap : 64;
	while (cap < need)
		cap = cap > s->max_pos / 2 ? s->max_pos : cap * 2;
	if (cap > s->max_pos)
		cap = s->max_pos;
	for (l = 0; l < m->info.n_layer; l++)
	{
		size_t		bytes = (size_t) cap * (size_t) m->n_embd_kv * LLM_SEQ_ELT(s);
		void	   *k = realloc(s->k[l], bytes);

		if (k == NULL)
			return llm_err(err, "out of memory growing the KV cache to %d positions", cap);
		s->k[l] = k;
		k = realloc(s->v[l], bytes);
		if (k == NULL)
			return llm_err(err, "out of memory growing the KV cache to %d positions", cap);
		s->v[l] = k;
	}
	s->cap = cap;
	return 0;
}

void
llm_seq_free(llm_seq *s)
{
	int			l;

	if (s == NULL)
		return;
	if (s->dev_ops != NULL)
		s->dev_ops->release(s);
	for (l = 0; l < s->model->info.n_layer; l++)
	{
		free(s->k[l]);
		free(s->v[l]);
	}
	free(s->k);
	free(s->v);
	free(s);
}

int32_t
llm_seq_pos(const llm_seq *s)
{
	return s->pos;
}

int32_t
llm_seq_max_pos(const llm_seq *s)
{
	return s->max_pos;
}

/* Forget all positions (the memory is kept for reuse). */
void
llm_seq_clear(llm_seq *s)
{
	s->pos = 0;
}
