/*
 * bert.c - the BERT encoder path of sentence embeddings (embed_bert.h);
 * the public llm_embed API in embed.c chooses it or the decoder path.
 *
 * Loading: weights stay in the mmap'd safetensors/GGUF file; only the
 * small vectors (biases, LayerNorm) are converted to f32 copies. Every
 * tensor's shape is checked against the configuration.
 *
 * Forward pass over a batch of sequences packed back to back (no padding
 * rows are computed; each sequence attends only to its own tokens, which
 * is what a padded batch with an attention mask computes):
 *   x = LN(word[id] + pos[p] + type[0])
 *   per layer: x = LN(x + Wo * attn(Wq x, Wk x, Wv x)); x = LN(x + Wd gelu(Wu x))
 * then pooling and optional L2 normalisation.
 *
 * MPNet (model_type mpnet, sentence-transformers directories) is the same
 * encoder with three differences: no token-type embedding, positions
 * numbered from pad_token_id + 1 (as RoBERTa), and a bias per head for
 * the bucketed key - query distance added to every layer's attention
 * scores after the 1/sqrt(head_dim) scale (mpnet.h). Its products stay
 * in f32 on every CPU: with bfloat16 ones (fgemm.h) one golden string
 * ("</s>") left sentence-transformers' vector by 5.6e-3 (1 - cosine),
 * past the 1e-4 the embeddings promise; f32 keeps all within 3e-8.
 */
#include "embed_bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fgemm.h"
#include "embed_int.h"
#include "gguf.h"
#include "json.h"
#include "kernels.h"
#include "llm_util.h"
#include "mpnet.h"
#include "safetensors.h"
#include "threadpool.h"
#include "vmath.h"
#include "wordpiece.h"

/* a weight: matrix rows x cols (cols = row length) in the file */
typedef struct bert_w
{
	llm_type	type;
	const void *data;
	int64_t		rows,
				cols;
	size_t		row_bytes;
	llm_fgemm_b	packed;			/* layer matrices: f32, packed at load */
} bert_w;

typedef struct bert_layer
{
	bert_w		q,
				k,
				v,
				o,
				up,
				down;
	float	   *qb,
			   *kb,
			   *vb,
			   *ob,
			   *upb,
			   *downb,
			   *ln1w,
			   *ln1b,
			   *ln2w,
			   *ln2b;
} bert_layer;

struct llm_bert
{
	int			n_vocab,
				dim,
				n_layers,
				n_heads,
				n_ff,
				n_pos,
				n_types,
				max_seq;
	float		eps;
	llm_embed_pooling pooling;
	bool		normalize;
	const char *format;
	/*
	 * MPNet: positions start at pos_offset = pad_id + 1; rel_bias is
	 * n_heads x rel_width
	 */
	bool		mpnet;
	bool		f32_products;	/* never the bf16 product (see above) */
	int			pad_id,
				pos_offset,
				n_buckets,
				rel_width;
	float	   *rel_bias;
	bert_w		tok_emb,
				pos_emb,
				type_emb;
	float	   *emb_lnw,
			   *emb_lnb;
	bert_layer *layers;
	llm_wordpiece *wp;
	llm_st_file *st;
	gguf_file  *gg;
	/* f32 vectors owned by the model */
	float	  **owned;
	int			n_owned;
};

struct llm_bert_ctx
{
	llm_pool   *pool;
	llm_kernels k;
	llm_vmath	vm;				/* same isa as k */
};

/*
 * Free a model.
 */
void
llm_bert_free(llm_bert *m)
{
	int			i;

	if (!m)
		return;
	for (i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->rel_bias);
	for (i = 0; m->layers && i < m->n_layers; i++)
	{
		llm_fgemm_b_free(&m->layers[i].q.packed);
		llm_fgemm_b_free(&m->layers[i].k.packed);
		llm_fgemm_b_free(&m->layers[i].v.packed);
		llm_fgemm_b_free(&m->layers[i].o.packed);
		llm_fgemm_b_free(&m->layers[i].up.packed);
		llm_fgemm_b_free(&m->layers[i].down.packed);
	}
	free(m->layers);
	llm_wp_free(m->wp);
	llm_st_close(m->st);
	gguf_close(m->gg);
	free(m);
}

/*
 * Look a tensor up by HF name (with or without "bert.") or GGUF name and
 * check that it is rows x cols (rows 0 means a vector of cols).
 */
static int
bert_tensor(llm_bert *m, const char *hf, const char *gg, int64_t rows,
			int64_t cols, bert_w *w, char *err)
{
	const char *name = m->st ? hf : gg;

	memset(w, 0, sizeof(*w));
	if (m->st)
	{
		const llm_st_tensor *t = llm_st_find(m->st, hf);
		char		pre[256];

		if (!t)
		{
			snprintf(pre, sizeof(pre), "bert.%s", hf);
			t = llm_st_find(m->st, pre);
		}
		if (!t)
			return llm_err(err, "tensor %s is missing", hf);
		if (rows == 0 ? !(t->n_dims == 1 && t->shape[0] == cols)
			: !(t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols))
			return llm_err(err, "tensor %s has the wrong shape (expected %lld x %lld)",
						   hf, (long long) rows, (long long) cols);
		if (t->type != LLM_TYPE_F32 && t->type != LLM_TYPE_F16 && t->type != LLM_TYPE_BF16)
			return llm_err(err, "tensor %s has dtype %s (F32, F16, BF16 only)", hf, t->dtype);
		w->type = t->type;
		w->data = t->data;
	}
	else
	{
		const gguf_tensor *t = gguf_find_tensor(m->gg, gg);
		const llm_type_traits *tr;

		if (!t)
			return llm_err(err, "tensor %s is missing", gg);
		if (rows == 0 ? !(t->n_dims == 1 && t->ne[0] == cols)
			: !(t->n_dims == 2 && t->ne[0] == cols && t->ne[1] == rows))
			return llm_err(err, "tensor %s has the wrong shape (expected %lld x %lld)",
						   gg, (long long) cols, (long long) rows);
		tr = llm_type_get(t->type);
		if (!tr || !tr->is_weight)
			return llm_err(err, "tensor %s has unsupported type %s", gg, llm_type_name(t->type));
		w->type = t->type;
		w->data = t->data;
	}
	w->rows = rows ? rows : 1;
	w->cols = cols;
	w->row_bytes = llm_row_size(w->type, cols);
	if (w->row_bytes == 0)
		return llm_err(err, "tensor %s: row of %lld is not a whole number of blocks", name,
					   (long long) cols);
	return 0;
}

/*
 * Load a vector tensor converted to a model-owned f32 array.
 */
static int
bert_vec(llm_bert *m, const llm_kernels *k, const char *hf, const char *gg,
		 int64_t n, float **out, char *err)
{
	bert_w		w;
	float	   *v;
	float	  **no;

	if (bert_tensor(m, hf, gg, 0, n, &w, err) < 0)
		return -1;
	v = malloc((size_t) n * sizeof(float));
	no = realloc(m->owned, (size_t) (m->n_owned + 1) * sizeof(float *));
	if (!v || !no)
	{
		free(v);
		if (no)
			m->owned = no;
		return llm_err(err, "out of memory");
	}
	m->owned = no;
	m->owned[m->n_owned++] = v;
	k->type[w.type].to_float(w.data, v, n);
	*out = v;
	return 0;
}

/*
 * MPNet: read the n_buckets x n_heads relative attention table and expand
 * it into the per-head bias of every distance up to the position table's
 * length (mpnet.h; MPNet's maximum distance is 128).
 */
static int
bert_mpnet_bias(llm_bert *m, const llm_kernels *k, char *err)
{
	bert_w		w;
	float	   *tab;
	int			rc,
				max_len = m->n_pos - m->pos_offset;

	if (bert_tensor(m, "encoder.relative_attention_bias.weight", "-", m->n_buckets,
					m->n_heads, &w, err) < 0)
		return -1;
	tab = malloc((size_t) m->n_buckets * (size_t) m->n_heads * sizeof(float));
	if (!tab)
		return llm_err(err, "out of memory");
	k->type[w.type].to_float(w.data, tab, (int64_t) m->n_buckets * m->n_heads);
	rc = llm_mpnet_bias_table(tab, m->n_buckets, m->n_heads, 128, max_len, &m->rel_bias, err);
	free(tab);
	m->rel_width = 2 * max_len - 1;
	return rc;
}

/*
 * Load every tensor of the encoder.
 */
static int
bert_load_tensors(llm_bert *m, char *err)
{
	llm_kernels k;
	int			L;
	int64_t		d = m->dim,
				f = m->n_ff;
	char		h1[128],
				h2[128],
				g1[64],
				g2[64];

	llm_kernels_init_scalar(&k);
	if (bert_tensor(m, "embeddings.word_embeddings.weight", "token_embd.weight", m->n_vocab, d, &m->tok_emb, err) < 0 ||
		bert_tensor(m, "embeddings.position_embeddings.weight", "position_embd.weight", m->n_pos, d, &m->pos_emb, err) < 0 ||
		(m->n_types > 0 &&
		 bert_tensor(m, "embeddings.token_type_embeddings.weight", "token_types.weight", m->n_types, d, &m->type_emb, err) < 0) ||
		bert_vec(m, &k, "embeddings.LayerNorm.weight", "token_embd_norm.weight", d, &m->emb_lnw, err) < 0 ||
		bert_vec(m, &k, "embeddings.LayerNorm.bias", "token_embd_norm.bias", d, &m->emb_lnb, err) < 0)
		return -1;
	if (m->mpnet && bert_mpnet_bias(m, &k, err) < 0)
		return -1;
	m->layers = calloc((size_t) m->n_layers, sizeof(bert_layer));
	if (!m->layers)
		return llm_err(err, "out of memory");
	for (L = 0; L < m->n_layers; L++)
	{
		bert_layer *l = &m->layers[L];
		static const struct
		{
			const char *hf;
			const char *mpnet;
			const char *gg;
			int			kind;	/* 0 dxd, 1 ffxd, 2 dxff */
		}			mats[6] = {
			{"attention.self.query", "attention.attn.q", "attn_q", 0},
			{"attention.self.key", "attention.attn.k", "attn_k", 0},
			{"attention.self.value", "attention.attn.v", "attn_v", 0},
			{"attention.output.dense", "attention.attn.o", "attn_output", 0},
			{"intermediate.dense", "intermediate.dense", "ffn_up", 1},
			{"output.dense", "output.dense", "ffn_down", 2},
		};
		const char *ln1 = m->mpnet ? "attention.LayerNorm" : "attention.output.LayerNorm";
		bert_w	   *mw[6] = {&l->q, &l->k, &l->v, &l->o, &l->up, &l->down};
		float	  **mb[6] = {&l->qb, &l->kb, &l->vb, &l->ob, &l->upb, &l->downb};
		int			i;

		for (i = 0; i < 6; i++)
		{
			int64_t		rows = mats[i].kind == 1 ? f : d;
			int64_t		cols = mats[i].kind == 2 ? f : d;

			const char *hn = m->mpnet ? mats[i].mpnet : mats[i].hf;

			snprintf(h1, sizeof(h1), "encoder.layer.%d.%s.weight", L, hn);
			snprintf(h2, sizeof(h2), "encoder.layer.%d.%s.bias", L, hn);
			snprintf(g1, sizeof(g1), "blk.%d.%s.weight", L, mats[i].gg);
			snprintf(g2, sizeof(g2), "blk.%d.%s.bias", L, mats[i].gg);
			if (bert_tensor(m, h1, g1, rows, cols, mw[i], err) < 0 ||
				bert_vec(m, &k, h2, g2, rows, mb[i], err) < 0)
				return -1;
			/* float copy in the layout of the GEMM kernels (see fgemm.h) */
			if (!k.type[mw[i]->type].to_float)
				return llm_err(err, "tensor %s: no conversion from %s", g1,
							   llm_type_name(mw[i]->type));
			if (llm_fgemm_pack(&mw[i]->packed, rows, cols, mw[i]->data, mw[i]->row_bytes,
							  k.type[mw[i]->type].to_float, err) < 0)
				return -1;
		}
		snprintf(h1, sizeof(h1), "encoder.layer.%d.%s.weight", L, ln1);
		snprintf(g1, sizeof(g1), "blk.%d.attn_output_norm.weight", L);
		if (bert_vec(m, &k, h1, g1, d, &l->ln1w, err) < 0)
			return -1;
		snprintf(h1, sizeof(h1), "encoder.layer.%d.%s.bias", L, ln1);
		snprintf(g1, sizeof(g1), "blk.%d.attn_output_norm.bias", L);
		if (bert_vec(m, &k, h1, g1, d, &l->ln1b, err) < 0)
			return -1;
		snprintf(h1, sizeof(h1), "encoder.layer.%d.output.LayerNorm.weight", L);
		snprintf(g1, sizeof(g1), "blk.%d.layer_output_norm.weight", L);
		if (bert_vec(m, &k, h1, g1, d, &l->ln2w, err) < 0)
			return -1;
		snprintf(h1, sizeof(h1), "encoder.layer.%d.output.LayerNorm.bias", L);
		snprintf(g1, sizeof(g1), "blk.%d.layer_output_norm.bias", L);
		if (bert_vec(m, &k, h1, g1, d, &l->ln2b, err) < 0)
			return -1;
	}
	return 0;
}

/*
 * Check the hyper-parameters read from a config.
 */
static int
bert_check_hparams(llm_bert *m, char *err)
{
	if (m->dim <= 0 || m->dim > 65536 || m->n_heads <= 0 || m->dim % m->n_heads != 0 ||
		m->n_layers <= 0 || m->n_layers > 1024 || m->n_ff <= 0 || m->n_ff > 1 << 20 ||
		m->n_pos <= 0 || m->n_pos > 1 << 20 || m->n_types < (m->mpnet ? 0 : 1) || m->n_types > 1024 ||
		m->n_vocab <= 0 || !(m->eps > 0 && m->eps < 1) ||
		m->pos_offset < 0 || m->pos_offset >= m->n_pos ||
		(m->mpnet && (m->n_buckets < 4 || m->n_buckets % 4 != 0 || m->n_buckets > 1024)))
		return llm_err(err, "bad model hyper-parameters (dim %d, heads %d, layers %d, ff %d, positions %d)",
					   m->dim, m->n_heads, m->n_layers, m->n_ff, m->n_pos);
	if (m->max_seq <= 0 || m->max_seq > m->n_pos - m->pos_offset)
		m->max_seq = m->n_pos - m->pos_offset;
	return 0;
}

/*
 * Join dir and name into buf.
 */
static const char *
path_join(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
	return buf;
}

/*
 * Read modules.json and the pooling config of a sentence-transformers dir.
 */
static int
bert_load_st_modules(llm_bert *m, const char *dir, char *err)
{
	char		p[4096];
	struct stat st;
	llm_json   *mods,
			   *pc;
	const char *pool_path = "1_Pooling";
	size_t		i;

	m->pooling = LLM_EMBED_POOL_MEAN;
	m->normalize = false;
	if (stat(path_join(p, sizeof(p), dir, "modules.json"), &st) == 0)
	{
		mods = llm_json_parse_file(p, err);
		if (!mods)
			return -1;
		if (mods->type != LLM_JSON_ARRAY)
		{
			llm_json_free(mods);
			return llm_err(err, "modules.json is not an array");
		}
		for (i = 0; i < mods->n; i++)
		{
			const char *type = llm_json_get_str(&mods->items[i], "type");
			size_t		tl = type ? strlen(type) : 0;

			if (tl >= 9 && strcmp(type + tl - 9, "Normalize") == 0)
				m->normalize = true;
			if (tl >= 7 && strcmp(type + tl - 7, "Pooling") == 0)
			{
				const char *pp = llm_json_get_str(&mods->items[i], "path");

				if (pp && !strstr(pp, ".."))
				{
					snprintf(p, sizeof(p), "%s/%s/config.json", dir, pp);
					pool_path = NULL;
				}
			}
		}
		llm_json_free(mods);
	}
	if (pool_path)
		snprintf(p, sizeof(p), "%s/%s/config.json", dir, pool_path);
	if (stat(p, &st) == 0)
	{
		pc = llm_json_parse_file(p, err);
		if (!pc)
			return -1;
		if (llm_json_get_bool(pc, "pooling_mode_cls_token", false))
			m->pooling = LLM_EMBED_POOL_CLS;
		else if (llm_json_get_bool(pc, "pooling_mode_lasttoken", false))
			m->pooling = LLM_EMBED_POOL_LAST;
		else if (llm_json_get_bool(pc, "pooling_mode_max_tokens", false))
			m->pooling = LLM_EMBED_POOL_MAX;
		else if (llm_json_get_bool(pc, "pooling_mode_mean_sqrt_len_tokens", false))
			m->pooling = LLM_EMBED_POOL_MEAN_SQRT;
		if (llm_json_get_int(pc, "word_embedding_dimension", m->dim) != m->dim)
		{
			llm_json_free(pc);
			return llm_err(err, "pooling config dimension differs from the model's");
		}
		llm_json_free(pc);
	}
	return 0;
}

/*
 * Load a Hugging Face (sentence-transformers) directory.
 */
static int
bert_load_dir(llm_bert *m, const char *dir, char *err)
{
	char		p[4096];
	struct stat st;
	llm_json   *cfg,
			   *j;
	const char *mt,
			   *act;

	cfg = llm_json_parse_file(path_join(p, sizeof(p), dir, "config.json"), err);
	if (!cfg)
		return -1;
	mt = llm_json_get_str(cfg, "model_type");
	act = llm_json_get_str(cfg, "hidden_act");
	if (!mt || (strcmp(mt, "bert") != 0 && strcmp(mt, "mpnet") != 0))
	{
		llm_err(err, "config.json: model_type %s is not supported (bert and mpnet only)", mt ? mt : "missing");
		llm_json_free(cfg);
		return -1;
	}
	m->mpnet = strcmp(mt, "mpnet") == 0;
	m->f32_products = m->mpnet;
	if (act && strcmp(act, "gelu") != 0)
	{
		llm_err(err, "config.json: hidden_act %s is not supported (gelu only)", act);
		llm_json_free(cfg);
		return -1;
	}
	m->dim = (int) llm_json_get_int(cfg, "hidden_size", -1);
	m->n_heads = (int) llm_json_get_int(cfg, "num_attention_heads", -1);
	m->n_layers = (int) llm_json_get_int(cfg, "num_hidden_layers", -1);
	m->n_ff = (int) llm_json_get_int(cfg, "intermediate_size", -1);
	m->n_pos = (int) llm_json_get_int(cfg, "max_position_embeddings", -1);
	m->n_types = (int) llm_json_get_int(cfg, "type_vocab_size", m->mpnet ? 0 : 2);
	if (m->mpnet)
	{
		/* RoBERTa-style positions: the first token is pad_token_id + 1 */
		int64_t		pad = llm_json_get_int(cfg, "pad_token_id", 1);

		m->pad_id = pad >= 0 && pad < 65536 ? (int) pad : -1;
		m->pos_offset = m->pad_id + 1;
		m->n_buckets = (int) llm_json_get_int(cfg, "relative_attention_num_buckets", 32);
	}
	m->n_vocab = (int) llm_json_get_int(cfg, "vocab_size", -1);
	m->eps = (float) llm_json_get_num(cfg, "layer_norm_eps", 1e-12);
	llm_json_free(cfg);
	m->max_seq = 0;
	if (stat(path_join(p, sizeof(p), dir, "sentence_bert_config.json"), &st) == 0)
	{
		j = llm_json_parse_file(p, err);
		if (!j)
			return -1;
		m->max_seq = (int) llm_json_get_int(j, "max_seq_length", 0);
		llm_json_free(j);
	}
	if (bert_check_hparams(m, err) < 0 || bert_load_st_modules(m, dir, err) < 0)
		return -1;
	/* tokenizer: tokenizer.json preferred, else vocab.txt */
	if (stat(path_join(p, sizeof(p), dir, "tokenizer.json"), &st) == 0)
	{
		int			rc;

		j = llm_json_parse_file(p, err);
		if (!j)
			return -1;
		rc = llm_wp_new_tokenizer_json(&m->wp, j, err);
		llm_json_free(j);
		if (rc < 0)
			return -1;
	}
	else if (m->mpnet)
		return llm_err(err, "an mpnet directory needs its tokenizer.json (vocab.txt does not say which tokens start and end a text)");
	else
	{
		llm_wp_options o;

		llm_wp_default_options(&o);
		if (stat(path_join(p, sizeof(p), dir, "tokenizer_config.json"), &st) == 0)
		{
			j = llm_json_parse_file(p, err);
			if (!j)
				return -1;
			o.lowercase = llm_json_get_bool(j, "do_lower_case", true);
			o.handle_chinese_chars = llm_json_get_bool(j, "tokenize_chinese_chars", true);
			llm_json_free(j);
		}
		if (llm_wp_new_vocab_txt(&m->wp, path_join(p, sizeof(p), dir, "vocab.txt"), &o, err) < 0)
			return -1;
	}
	if (llm_wp_vocab_size(m->wp) > m->n_vocab)
		return llm_err(err, "tokenizer has %d tokens, the model %d", llm_wp_vocab_size(m->wp), m->n_vocab);
	if (llm_st_open(&m->st, path_join(p, sizeof(p), dir, "model.safetensors"), err) < 0)
		return -1;
	m->format = "safetensors";
	return bert_load_tensors(m, err);
}

/*
 * Read a required u32 GGUF key.
 */
static int
gg_u32(const gguf_file *f, const char *key, int *out, char *err)
{
	uint32_t	v;
	int			r = gguf_get_u32(f, key, &v, err);

	if (r < 0)
		return -1;
	if (r == 0 || v > INT32_MAX)
		return llm_err(err, "GGUF key %s is missing or too large", key);
	*out = (int) v;
	return 0;
}

/*
 * Build the WordPiece tokenizer from GGUF metadata: llama.cpp stores word
 * starts with a U+2581 prefix, continuations bare and control tokens as
 * they are; turn that back into vocab.txt form.
 */
static int
bert_gguf_vocab(llm_bert *m, char *err)
{
	const gguf_kv *toks,
			   *types = NULL;
	char	   *model = NULL;
	const char **t = NULL;
	char	  **bufs = NULL;
	size_t	   *lens = NULL;
	bool	   *special = NULL;
	uint64_t	i,
				n;
	int			rc = -1;
	llm_wp_options o;

	if (gguf_get_str(m->gg, "tokenizer.ggml.model", &model, err) <= 0 || strcmp(model, "bert") != 0)
	{
		free(model);
		return llm_err(err, "GGUF tokenizer.ggml.model is not bert");
	}
	free(model);
	if (gguf_get_arr(m->gg, "tokenizer.ggml.tokens", GGUF_STRING, &toks, err) <= 0)
		return llm_err(err, "GGUF has no tokenizer.ggml.tokens");
	if (gguf_get_arr(m->gg, "tokenizer.ggml.token_type", GGUF_INT32, &types, err) < 0)
		return -1;
	n = toks->v.arr.n;
	if (n == 0 || n > (1u << 24) || (types && types->v.arr.n != n))
		return llm_err(err, "GGUF vocabulary size %llu is bad", (unsigned long long) n);
	t = calloc(n, sizeof(char *));
	bufs = calloc(n, sizeof(char *));
	lens = calloc(n, sizeof(size_t));
	special = calloc(n, sizeof(bool));
	if (!t || !bufs || !lens || !special)
	{
		llm_err(err, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++)
	{
		const gguf_str *s = &toks->v.arr.strs[i];
		int32_t		ty = types ? gguf_arr_i32(types, i) : 1;

		if (ty == 3 || ty == 2)
		{
			t[i] = s->ptr;
			lens[i] = s->len;
			special[i] = (ty == 3);
		}
		else if (s->len >= 3 && memcmp(s->ptr, "\xE2\x96\x81", 3) == 0)
		{
			t[i] = s->ptr + 3;
			lens[i] = s->len - 3;
		}
		else
		{
			bufs[i] = malloc(s->len + 3);
			if (!bufs[i])
			{
				llm_err(err, "out of memory");
				goto done;
			}
			memcpy(bufs[i], "##", 2);
			memcpy(bufs[i] + 2, s->ptr, s->len);
			t[i] = bufs[i];
			lens[i] = s->len + 2;
		}
	}
	llm_wp_default_options(&o);
	if (gguf_get_bool(m->gg, "tokenizer.ggml.normalizer.lowercase", &o.lowercase, err) < 0)
		goto done;
	rc = llm_wp_new(&m->wp, t, lens, (int) n, special, &o, err);
done:
	if (bufs)
		for (i = 0; i < n; i++)
			free(bufs[i]);
	free(bufs);
	free(t);
	free(lens);
	free(special);
	return rc;
}

/*
 * Read the model of an opened GGUF file of architecture bert (the front,
 * embed.c, has checked the architecture); m->gg is set.
 */
static int
bert_load_gguf(llm_bert *m, char *err)
{
	uint32_t	pool = 1;
	const gguf_tensor *te;
	int			r;

	if (gg_u32(m->gg, "bert.embedding_length", &m->dim, err) < 0 ||
		gg_u32(m->gg, "bert.block_count", &m->n_layers, err) < 0 ||
		gg_u32(m->gg, "bert.attention.head_count", &m->n_heads, err) < 0 ||
		gg_u32(m->gg, "bert.feed_forward_length", &m->n_ff, err) < 0 ||
		gg_u32(m->gg, "bert.context_length", &m->n_pos, err) < 0)
		return -1;
	m->eps = 1e-12f;
	if (gguf_get_f32(m->gg, "bert.attention.layer_norm_epsilon", &m->eps, err) < 0)
		return -1;
	r = gguf_get_u32(m->gg, "bert.pooling_type", &pool, err);
	if (r < 0)
		return -1;
	if (pool == 1 || pool == 0)
		m->pooling = LLM_EMBED_POOL_MEAN;
	else if (pool == 2)
		m->pooling = LLM_EMBED_POOL_CLS;
	else if (pool == 3)
		m->pooling = LLM_EMBED_POOL_LAST;
	else
		return llm_err(err, "GGUF pooling type %u is not supported", pool);
	/* GGUF does not record a Normalize module; sentence models normalise */
	m->normalize = true;
	te = gguf_find_tensor(m->gg, "token_embd.weight");
	m->n_vocab = te ? (int) te->ne[1] : -1;
	te = gguf_find_tensor(m->gg, "token_types.weight");
	m->n_types = te ? (int) te->ne[1] : -1;
	m->max_seq = m->n_pos;
	if (bert_check_hparams(m, err) < 0 || bert_gguf_vocab(m, err) < 0)
		return -1;
	if (llm_wp_vocab_size(m->wp) > m->n_vocab)
		return llm_err(err, "tokenizer has more tokens than the embedding table");
	m->format = "gguf";
	return bert_load_tensors(m, err);
}

/*
 * Load a sentence-transformers directory (see embed_bert.h).
 */
int
llm_bert_load_dir(llm_bert **out, const char *dir, char *err)
{
	llm_bert   *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return llm_err(err, "out of memory");
	if (bert_load_dir(m, dir, err) < 0)
	{
		llm_bert_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

/*
 * Load a bert GGUF that the caller opened (see embed_bert.h); gg is owned
 * by the model from here on, also on failure.
 */
int
llm_bert_load_gguf(llm_bert **out, gguf_file *gg, char *err)
{
	llm_bert   *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
	{
		gguf_close(gg);
		return llm_err(err, "out of memory");
	}
	m->gg = gg;
	if (bert_load_gguf(m, err) < 0)
	{
		llm_bert_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

/*
 * Lower the longest embedded sequence (see embed_bert.h).
 */
int
llm_bert_cap_seq(llm_bert *m, int max_seq, char *err)
{
	return llm_embed_cap_len(&m->max_seq, max_seq, err);
}

/*
 * Override the pooling mode (see embed_bert.h).
 */
int
llm_bert_set_pooling(llm_bert *m, llm_embed_pooling p, char *err)
{
	if (p < LLM_EMBED_POOL_MEAN || p > LLM_EMBED_POOL_MEAN_SQRT)
		return llm_err(err, "unknown pooling mode %d", (int) p);
	m->pooling = p;
	return 0;
}

/*
 * Describe a loaded model.
 */
void
llm_bert_info(const llm_bert *m, llm_embed_info *info)
{
	info->dim = m->dim;
	info->max_positions = m->n_pos - m->pos_offset;
	info->max_seq_len = m->max_seq;
	info->n_layers = m->n_layers;
	info->n_heads = m->n_heads;
	info->n_vocab = m->n_vocab;
	info->pooling = m->pooling;
	info->normalize = m->normalize;
	info->format = m->format;
	info->f32_products = m->f32_products;
	info->n_params = ((int64_t) m->n_vocab + m->n_pos + m->n_types) * m->dim +
		(int64_t) m->n_layers * (4 * ((int64_t) m->dim * m->dim + m->dim) +
								 2 * (int64_t) m->dim * m->n_ff + m->n_ff + m->dim + 4 * m->dim) +
		2 * m->dim + (m->mpnet ? (int64_t) m->n_buckets * m->n_heads : 0);
}

/*
 * The context's thread count (see embed_bert.h).
 */
int
llm_bert_ctx_threads(const llm_bert_ctx *c)
{
	return llm_pool_size(c->pool);
}

/*
 * The context's kernel set name (see embed_bert.h).
 */
const char *
llm_bert_ctx_isa(const llm_bert_ctx *c)
{
	return c->k.isa;
}

/*
 * The arithmetic of the context's matrix products (see embed_bert.h).
 */
const char *
llm_bert_ctx_precision(const llm_bert_ctx *c)
{
	return c->vm.gemm_kind;
}

/*
 * Tokenize with the model's tokenizer.
 */
int
llm_bert_tokenize(const llm_bert *m, const char *text, size_t len,
				   int max_len, int32_t **ids, int *n_ids, char *err)
{
	return llm_wp_encode(m->wp, text, len, true, max_len, ids, n_ids, err);
}

/*
 * Start a tokenization in parts with [CLS] and [SEP] (see embed_bert.h).
 */
int
llm_bert_tok_job_new(const llm_bert *m, const char *text, size_t len,
					 llm_wp_job **out, char *err)
{
	return llm_wp_job_new(out, m->wp, text, len, true, err);
}

/*
 * Create a compute context.
 */
int
llm_bert_ctx_new(llm_bert_ctx **out, int n_threads, const char *isa, char *err)
{
	llm_bert_ctx *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return llm_err(err, "out of memory");
	if (n_threads < 1)
	{
		long		ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		n_threads = ncpu > 0 ? (int) (ncpu < 512 ? ncpu : 512) : 1;
	}
	llm_kernels_init(&c->k, isa);
	llm_vmath_init(&c->vm, c->k.isa);
	c->pool = llm_pool_new(n_threads, err);
	if (!c->pool)
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
llm_bert_ctx_free(llm_bert_ctx *c)
{
	if (!c)
		return;
	llm_pool_free(c->pool);
	free(c);
}

/* ---------------------------------------------------------------- */
/* forward pass                                                      */
/* ---------------------------------------------------------------- */

/* one batch of sequences packed back to back */
typedef struct bert_batch
{
	const llm_bert *m;
	llm_bert_ctx *c;
	int			n_seq;
	int			n_tok;
	const int  *seq_off;		/* n_seq + 1 token offsets */
	float	   *x,				/* n_tok x dim: hidden state */
			   *q,
			   *k,
			   *v,
			   *ctxv,			/* n_tok x dim */
			   *ff;				/* n_tok x n_ff */
	float	   *scores;			/* n_threads x max_seq */
	/* arguments of the current parallel step */
	const bert_w *w;
	const float *bias;
	const float *in;
	float	   *out;
	int			op;
	const float *lnw,
			   *lnb;
	const float *res;
} bert_batch;

/*
 * Parallel step: out = in * W^T + bias (+ GELU when op == 1) for this
 * thread's share of the output columns, over the packed weight (every
 * layer matrix is packed at load, see fgemm.h).
 */
static void
bert_matmul_task(void *arg, int ith, int nth)
{
	bert_batch *b = arg;
	const bert_w *w = b->w;
	int64_t		c0,
				c1,
				t;

	llm_fgemm_fn fn = b->m->f32_products ? b->c->vm.gemm_f32 : b->c->vm.gemm;

	llm_fgemm_part(fn, b->n_tok, b->in, w->cols, &w->packed, b->bias, b->out, w->rows,
				   ith, nth, &c0, &c1);
	if (b->op == 1)
		for (t = 0; t < b->n_tok; t++)
			b->c->vm.gelu(b->out + t * w->rows + c0, c1 - c0);
}

/*
 * out = in * W^T + bias (optionally GELU), using the pool.
 */
static void
bert_matmul(bert_batch *b, const bert_w *w, const float *bias, const float *in,
			float *out, int op)
{
	b->w = w;
	b->bias = bias;
	b->in = in;
	b->out = out;
	b->op = op;
	llm_pool_run(b->c->pool, bert_matmul_task, b);
}

/*
 * Parallel step: x = LN(x + res) over tokens.
 */
static void
bert_residual_ln_task(void *arg, int ith, int nth)
{
	bert_batch *b = arg;
	int			d = b->m->dim;
	int64_t		t0,
				t1,
				t;

	llm_split_range(b->n_tok, ith, nth, &t0, &t1);
	for (t = t0; t < t1; t++)
	{
		float	   *x = b->x + t * d;

		b->c->vm.add_layernorm(x, b->res ? b->res + t * d : NULL, b->lnw, b->lnb, d,
							   b->m->eps);
	}
}

/*
 * Parallel step: self-attention per (sequence, head) pair.
 */
static void
bert_attn_task(void *arg, int ith, int nth)
{
	bert_batch *b = arg;
	const llm_bert *m = b->m;
	int			d = m->dim,
				hd = d / m->n_heads;
	float		scale = 1.0f / sqrtf((float) hd);
	float	   *sc = b->scores + (size_t) ith * m->max_seq;
	int64_t		p0,
				p1,
				p;

	llm_split_range((int64_t) b->n_seq * m->n_heads, ith, nth, &p0, &p1);
	for (p = p0; p < p1; p++)
	{
		int			s = (int) (p / m->n_heads),
					h = (int) (p % m->n_heads);
		int			off = b->seq_off[s],
					len = b->seq_off[s + 1] - off;
		int			i,
					j;

		for (i = 0; i < len; i++)
		{
			const float *qi = b->q + (size_t) (off + i) * d + h * hd;
			float	   *o = b->ctxv + (size_t) (off + i) * d + h * hd;
			float		mx = -INFINITY,
						sum = 0;

			b->c->k.dot_f32_rows(hd, qi, b->k + (size_t) off * d + h * hd, d, len, scale, sc);
			if (m->rel_bias)
			{
				/* key j - query i, offset so that distance 0 is the middle */
				const float *rb = m->rel_bias + (size_t) h * m->rel_width +
					(m->rel_width / 2 - i);

				for (j = 0; j < len; j++)
					sc[j] += rb[j];
			}
			for (j = 0; j < len; j++)
				if (sc[j] > mx)
					mx = sc[j];
			sum = b->c->vm.exp_shift_sum(sc, mx, len);
			for (j = 0; j < len; j++)
				sc[j] /= sum;
			memset(o, 0, (size_t) hd * sizeof(float));
			b->c->k.axpy_f32_rows(hd, sc, b->v + (size_t) off * d + h * hd, d, len, o);
		}
	}
}

/*
 * Run the encoder over a batch and pool into out (n_seq x dim).
 */
static void
bert_forward(bert_batch *b, const int32_t *const *ids, float *out)
{
	const llm_bert *m = b->m;
	const llm_kernels *k = &b->c->k;
	int			d = m->dim;
	int			s,
				i,
				L;
	float	   *tmp = b->q;		/* scratch row for embeddings */

	/*
	 * embeddings; MPNet numbers positions as RoBERTa does: from pad_id + 1,
	 * a pad token (written as text) taking position pad_id and not counted
	 */
	for (s = 0; s < b->n_seq; s++)
	{
		int			pos = m->pos_offset;

		for (i = 0; i < b->seq_off[s + 1] - b->seq_off[s]; i++)
		{
			float	   *x = b->x + (size_t) (b->seq_off[s] + i) * d;
			int			j,
						p;

			if (m->mpnet && ids[s][i] == m->pad_id)
				p = m->pad_id;
			else
				p = pos++;
			k->type[m->tok_emb.type].to_float((const char *) m->tok_emb.data + (size_t) ids[s][i] * m->tok_emb.row_bytes, x, d);
			k->type[m->pos_emb.type].to_float((const char *) m->pos_emb.data +
											  (size_t) p * m->pos_emb.row_bytes, tmp, d);
			for (j = 0; j < d; j++)
				x[j] += tmp[j];
			if (m->n_types > 0)
			{
				k->type[m->type_emb.type].to_float(m->type_emb.data, tmp, d);
				for (j = 0; j < d; j++)
					x[j] += tmp[j];
			}
		}
	}
	b->res = NULL;
	b->lnw = m->emb_lnw;
	b->lnb = m->emb_lnb;
	llm_pool_run(b->c->pool, bert_residual_ln_task, b);

	for (L = 0; L < m->n_layers; L++)
	{
		const bert_layer *l = &m->layers[L];

		bert_matmul(b, &l->q, l->qb, b->x, b->q, 0);
		bert_matmul(b, &l->k, l->kb, b->x, b->k, 0);
		bert_matmul(b, &l->v, l->vb, b->x, b->v, 0);
		llm_pool_run(b->c->pool, bert_attn_task, b);
		bert_matmul(b, &l->o, l->ob, b->ctxv, b->q, 0);
		b->res = b->q;
		b->lnw = l->ln1w;
		b->lnb = l->ln1b;
		llm_pool_run(b->c->pool, bert_residual_ln_task, b);
		bert_matmul(b, &l->up, l->upb, b->x, b->ff, 1);
		bert_matmul(b, &l->down, l->downb, b->ff, b->q, 0);
		b->res = b->q;
		b->lnw = l->ln2w;
		b->lnb = l->ln2b;
		llm_pool_run(b->c->pool, bert_residual_ln_task, b);
	}

	/* pooling */
	for (s = 0; s < b->n_seq; s++)
	{
		int			off = b->seq_off[s],
					len = b->seq_off[s + 1] - off;
		float	   *o = out + (size_t) s * d;
		int			j;

		if (m->pooling == LLM_EMBED_POOL_CLS)
			memcpy(o, b->x + (size_t) off * d, (size_t) d * sizeof(float));
		else if (m->pooling == LLM_EMBED_POOL_LAST)
			memcpy(o, b->x + (size_t) (off + len - 1) * d, (size_t) d * sizeof(float));
		else if (m->pooling == LLM_EMBED_POOL_MAX)
		{
			memcpy(o, b->x + (size_t) off * d, (size_t) d * sizeof(float));
			for (i = 1; i < len; i++)
				for (j = 0; j < d; j++)
					if (b->x[(size_t) (off + i) * d + j] > o[j])
						o[j] = b->x[(size_t) (off + i) * d + j];
		}
		else
		{
			float		div = m->pooling == LLM_EMBED_POOL_MEAN ? (float) len : sqrtf((float) len);

			memset(o, 0, (size_t) d * sizeof(float));
			for (i = 0; i < len; i++)
				k->axpy_f32(d, 1.0f, b->x + (size_t) (off + i) * d, o);
			k->scale_f32(d, 1.0f / div, o);
		}
		if (m->normalize)
		{
			double		nn = 0;

			for (j = 0; j < d; j++)
				nn += (double) o[j] * o[j];
			nn = sqrt(nn);
			if (nn < 1e-12)
				nn = 1e-12;
			k->scale_f32(d, (float) (1.0 / nn), o);
		}
	}
}

/* a text to embed: index and its token ids */
typedef struct bert_item
{
	int			idx;
	int			n;
	int32_t    *ids;
} bert_item;

/*
 * Sort order: by token count, then by index (stable result).
 */
static int
bert_item_cmp(const void *a, const void *b)
{
	const bert_item *x = a,
			   *y = b;

	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

#define BERT_BATCH_TOKENS 4096

/* LLM_TRUNCATE_ERROR counts a text's tokens up to this many times the limit */
#define BERT_COUNT_CAP 8
#define BERT_BATCH_SEQS 64

/*
 * Embed n texts (see embed_bert.h).
 */
int
llm_bert_batch(llm_bert_ctx *c, const llm_bert *m,
			   const char *const *texts, const size_t *lens, int n,
			   float *out, llm_embed_truncation mode, const llm_abort *ab,
			   int64_t *n_tokens, char *err)
{
	bert_item  *items;
	bert_batch	b;
	int			i,
				rc = -1,
				start;
	size_t		cap_tok;
	int		   *seq_off = NULL;
	const int32_t **bids = NULL;
	float	   *pooled = NULL;
	int			nth = llm_pool_size(c->pool);
	int			whole;

	memset(&b, 0, sizeof(b));
	if (n < 0)
		return llm_err(err, "negative text count");
	if (n == 0)
		return 0;
	items = calloc((size_t) n, sizeof(bert_item));
	if (!items)
		return llm_err(err, "out of memory");
	for (i = 0; i < n; i++)
	{
		items[i].idx = i;
		if (llm_should_abort(ab))
		{
			llm_err(err, LLM_ABORT_MSG);
			goto done;
		}
		/*
		 * Only what is kept is tokenized (wordpiece.h): [CLS] + the last
		 * ids with [SEP], or the first ones; under LLM_TRUNCATE_ERROR the
		 * count goes on to BERT_COUNT_CAP times the limit, for the message.
		 */
		if (mode == LLM_TRUNCATE_START)
		{
			if (llm_wp_encode_last(m->wp, texts[i], lens[i], m->max_seq, ab,
								   &items[i].ids, &items[i].n, err) < 0)
				goto done;
			continue;
		}
		if (llm_wp_encode_first(m->wp, texts[i], lens[i], m->max_seq,
								mode == LLM_TRUNCATE_ERROR ? BERT_COUNT_CAP * m->max_seq : m->max_seq,
								ab, &items[i].ids, &items[i].n, &whole, err) < 0)
			goto done;
		if (mode == LLM_TRUNCATE_ERROR && whole > m->max_seq)
		{
			if (whole > BERT_COUNT_CAP * m->max_seq)
				llm_err(err, "text %d has more than %d tokens, the model takes %d", i,
						BERT_COUNT_CAP * m->max_seq, m->max_seq);
			else
				llm_err(err, "text %d has %d tokens, the model takes %d", i, whole, m->max_seq);
			goto done;
		}
	}
	qsort(items, (size_t) n, sizeof(bert_item), bert_item_cmp);

	/* buffers sized for the largest batch */
	cap_tok = BERT_BATCH_TOKENS > (size_t) m->max_seq ? BERT_BATCH_TOKENS : (size_t) m->max_seq;
	b.m = m;
	b.c = c;
	b.x = malloc(cap_tok * (size_t) m->dim * sizeof(float));
	b.q = malloc(cap_tok * (size_t) m->dim * sizeof(float));
	b.k = malloc(cap_tok * (size_t) m->dim * sizeof(float));
	b.v = malloc(cap_tok * (size_t) m->dim * sizeof(float));
	b.ctxv = malloc(cap_tok * (size_t) m->dim * sizeof(float));
	b.ff = malloc(cap_tok * (size_t) m->n_ff * sizeof(float));
	b.scores = malloc((size_t) nth * (size_t) m->max_seq * sizeof(float));
	seq_off = malloc((BERT_BATCH_SEQS + 1) * sizeof(int));
	bids = malloc(BERT_BATCH_SEQS * sizeof(int32_t *));
	pooled = malloc((size_t) BERT_BATCH_SEQS * (size_t) m->dim * sizeof(float));
	if (!b.x || !b.q || !b.k || !b.v || !b.ctxv || !b.ff || !b.scores ||
		!seq_off || !bids || !pooled)
	{
		llm_err(err, "out of memory for a batch of %zu tokens", cap_tok);
		goto done;
	}
	b.seq_off = seq_off;
	for (start = 0; start < n;)
	{
		int			ns = 0,
					tok = 0;

		seq_off[0] = 0;
		while (start + ns < n && ns < BERT_BATCH_SEQS &&
			   (ns == 0 || (size_t) (tok + items[start + ns].n) <= cap_tok))
		{
			bids[ns] = items[start + ns].ids;
			tok += items[start + ns].n;
			seq_off[++ns] = tok;
		}
		b.n_seq = ns;
		b.n_tok = tok;
		if (llm_should_abort(ab))
		{
			llm_err(err, LLM_ABORT_MSG);
			goto done;
		}
		bert_forward(&b, bids, pooled);
		for (i = 0; i < ns; i++)
			memcpy(out + (size_t) items[start + i].idx * m->dim, pooled + (size_t) i * m->dim,
				   (size_t) m->dim * sizeof(float));
		start += ns;
	}
	for (i = 0; i < n; i++)
		*n_tokens += items[i].n;
	rc = 0;
done:
	for (i = 0; i < n; i++)
		free(items[i].ids);
	free(items);
	free(b.x);
	free(b.q);
	free(b.k);
	free(b.v);
	free(b.ctxv);
	free(b.ff);
	free(b.scores);
	free(seq_off);
	free(bids);
	free(pooled);
	return rc;
}
