/*
 * forward.c - the batched forward pass of llama-family models on the CPU.
 *
 * One call of llm_engine_step() runs every token of every batch item
 * through the network together: the matrix products see all T tokens at
 * once (weights are streamed from memory once per step, whatever the
 * batch), while attention runs per token against its own sequence's KV
 * cache. Shapes below: T = tokens in the step, E = n_embd, KV = n_embd_kv,
 * F = n_ff, H = n_head, D = head size, Q = H * D (= E unless the model
 * sets key_length, as qwen3 may), V = n_vocab.
 *
 *   x[T,E]   = embed(tokens)
 *   per layer:
 *     xb     = rmsnorm(x) * attn_norm
 *     q[T,Q], k[T,KV], v[T,KV] = xb @ Wq, Wk, Wv (+ biases for qwen2)
 *     qwen3: rmsnorm of every q and k head * q_norm / k_norm
 *     rope(q, k) at each token's position; append k, v to the caches
 *     a[T,Q] = softmax(q k^T / sqrt(D)) v   (causal, grouped heads)
 *     x     += a @ Wo
 *     xb     = rmsnorm(x) * ffn_norm
 *     h[T,F] = silu(xb @ Wgate) * (xb @ Wup)
 *     x     += h @ Wdown
 *   logits[V] = (rmsnorm(x_last) * output_norm) @ Wout, for items asking
 *   hidden[n,E] = rmsnorm(x) * output_norm of every token, for items asking
 */
#include "model_int.h"
#include "vmath.h"

#include <math.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* rows of a weight matrix handled together, so they stay in L1 while
 * every token's activation row streams past them */
#define LLM_MM_ROW_TILE 16
/* rows per call of a type's gemm kernel (which tiles further itself and
 * converts the activations' scales once per call); threads take such
 * chunks from a shared counter, so a thread slowed by anything else on
 * its core does not hold the other back at the end of the product */
#define LLM_MM_GEMM_TILE 64
/* fewest tokens for which the gemm kernel beats vec_dot (its per-row set-up
 * is shared by fewer pairs below that); results are the same either way */
#define LLM_MM_GEMM_MIN_T 4
/* query heads of one KV head whose attention runs together (scores per thread) */
#define LLM_ATT_GROUP 4

/* state of the CPU backend */
struct llm_backend
{
	llm_kernels k;
	llm_vmath	vm;				/* element-wise functions of the same isa */
	llm_pool   *pool;
	int32_t		n_threads;

	/* scratch, grown on demand; sized for cap_tokens tokens */
	int64_t		cap_tokens;
	int64_t		cap_embd;		/* E of the model the buffers were sized for */
	int64_t		cap_ff;
	int64_t		cap_kv;
	int64_t		cap_q;
	float	   *x;				/* [T,E] residual stream */
	float	   *xb;				/* [T,E] normed input */
	float	   *q;				/* [T,Q] */
	float	   *kk;				/* [T,KV] */
	float	   *vv;				/* [T,KV] */
	float	   *att;			/* [T,Q] attention output */
	float	   *gate;			/* [T,F] */
	float	   *up;				/* [T,F] */
	float	   *rope_cs;		/* [T, n_rot] cos/sin pairs */
	float	   *rope_cs_swa;	/* the same at rope_theta_swa (gemma3) */
	int32_t    *tok_item;		/* [T] item of each token */
	int32_t    *tok_pos;		/* [T] position of each token */
	void	   *quant[3];		/* quantized activations, per vec_dot type */
	int64_t		cap_scores;		/* per head */
	float	   *scores;			/* [n_threads, LLM_ATT_GROUP, cap_scores] */
	int64_t		cap_out_x;		/* floats */
	int64_t		cap_out_logits; /* floats */
	float	   *out_x;			/* [n_out, E] */
	float	   *out_logits;		/* [n_out, V] */
};

/* ----------------------------------------------------------- CPU backend */

/*
 * Create the CPU backend: kernels for this CPU and a thread pool.
 */
static int
cpu_create(llm_backend **out, const llm_engine_params *p, char *err)
{
	llm_backend *e;
	int32_t		n = p ? p->n_threads : 0;

	*out = NULL;
	if (n <= 0)
	{
		long		c = sysconf(_SC_NPROCESSORS_ONLN);

		n = c > 0 ? (int32_t) c : 1;
	}
	if (p && p->isa && strcmp(p->isa, "auto") != 0 && strcmp(p->isa, "scalar") != 0 &&
		strcmp(p->isa, "avx2") != 0 && strcmp(p->isa, "avx512") != 0)
		return llm_err(err, "unknown instruction set \"%s\" (use auto, scalar, avx2 or avx512)", p->isa);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return llm_err(err, "out of memory");
	llm_kernels_init(&e->k, p ? p->isa : NULL);
	llm_vmath_init(&e->vm, e->k.isa);
	e->pool = llm_pool_new(n, err);
	if (e->pool == NULL)
	{
		free(e);
		return -1;
	}
	e->n_threads = n;
	*out = e;
	return 0;
}

/*
 * Free the backend's scratch buffers.
 */
static void
cpu_free_scratch(llm_backend *e)
{
	int			i;

	free(e->x);
	free(e->xb);
	free(e->q);
	free(e->kk);
	free(e->vv);
	free(e->att);
	free(e->gate);
	free(e->up);
	free(e->rope_cs);
	free(e->rope_cs_swa);
	free(e->tok_item);
	free(e->tok_pos);
	for (i = 0; i < 3; i++)
		free(e->quant[i]);
	free(e->scores);
	free(e->out_x);
	free(e->out_logits);
}

static void
cpu_destroy(llm_backend *e)
{
	if (e == NULL)
		return;
	cpu_free_scratch(e);
	llm_pool_free(e->pool);
	free(e);
}

static const char *
cpu_isa(const llm_backend *e)
{
	return e->k.isa;
}

static int32_t
cpu_threads(const llm_backend *e)
{
	return e->n_threads;
}

/*
 * realloc that leaves *p untouched on failure; n elements of size sz.
 */
static int
llm_grow(void **p, size_t n, size_t sz)
{
	size_t		bytes;
	void	   *q;

	if (!llm_mul_size(n, sz, &bytes))
		return -1;
	q = realloc(*p, bytes ? bytes : 1);
	if (q == NULL)
		return -1;
	*p = q;
	return 0;
}

/*
 * Make the scratch buffers big enough for T tokens of model m, n_out
 * logit rows and attention over max_ctx positions.
 */
static int
cpu_reserve(llm_backend *e, const llm_model *m, int64_t T, int64_t n_out,
				   int64_t max_ctx, char *err)
{
	const llm_model_info *in = &m->info;
	int64_t		E = in->n_embd,
				F = in->n_ff,
				KV = m->n_embd_kv,
				Q = m->n_embd_q;
	bool		bad = false;

	if (T > e->cap_tokens || E > e->cap_embd || F > e->cap_ff || KV > e->cap_kv ||
		Q > e->cap_q)
	{
		int64_t		t = T > e->cap_tokens ? T : e->cap_tokens;
		int64_t		ee = E > e->cap_embd ? E : e->cap_embd;
		int64_t		ff = F > e->cap_ff ? F : e->cap_ff;
		int64_t		kv = KV > e->cap_kv ? KV : e->cap_kv;
		int64_t		qq = Q > e->cap_q ? Q : e->cap_q;
		int64_t		eq = ee > qq ? ee : qq;
		int64_t		widest = eq > ff ? eq : ff;
		size_t		qbytes;
		int			i;

		bad |= llm_grow((void **) &e->x, t * ee, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->xb, t * ee, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->q, t * qq, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->att, t * qq, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->kk, t * kv, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->vv, t * kv, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->gate, t * ff, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->up, t * ff, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->rope_cs, t * eq, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->rope_cs_swa, t * eq, sizeof(float)) < 0;
		bad |= llm_grow((void **) &e->tok_item, t, sizeof(int32_t)) < 0;
		bad |= llm_grow((void **) &e->tok_pos, t, sizeof(int32_t)) < 0;
		/* widest activation row in any format: f32 is the largest (4 B/elem;
		 * q8_K is 292/256 B and f16 2 B) */
		qbytes = (size_t) (t * widest) * sizeof(float) + 4096;
		for (i = 0; i < 3; i++)
			bad |= llm_grow(&e->quant[i], qbytes, 1) < 0;
		if (bad)
			return llm_err(err, "out of memory for a step of %lld tokens", (long long) T);
		e->cap_tokens = t;
		e->cap_embd = ee;
		e->cap_ff = ff;
		e->cap_kv = kv;
		e->cap_q = qq;
	}
	if (max_ctx > e->cap_scores)
	{
		if (llm_grow((void **) &e->scores, (size_t) (max_ctx * e->n_threads * LLM_ATT_GROUP),
					  sizeof(float)) < 0)
			return llm_err(err, "out of memory for attention scores");
		e->cap_scores = max_ctx;
	}
	if (n_out * E > e->cap_out_x)
	{
		if (llm_grow((void **) &e->out_x, (size_t) (n_out * E), sizeof(float)) < 0)
			return llm_err(err, "out of memory for logits");
		e->cap_out_x = n_out * E;
	}
	if (n_out * in->n_vocab > e->cap_out_logits)
	{
		if (llm_grow((void **) &e->out_logits, (size_t) (n_out * in->n_vocab), sizeof(float)) < 0)
			return llm_err(err, "out of memory for logits");
		e->cap_out_logits = n_out * in->n_vocab;
	}
	return 0;
}

/* --------------------------------------------------------- matrix product */

#define LLM_MM_MAX 3

/* Several products sharing one input: y_i[T, ne1_i] = x[T, n_in] @ W_i^T */
typedef struct llm_mm_task
{
	const llm_backend *e;
	int			n;
	const llm_weight *w[LLM_MM_MAX];
	float	   *y[LLM_MM_MAX];
	const void *xq[LLM_MM_MAX]; /* input in each weight's vec_dot format */
	size_t		xq_stride[LLM_MM_MAX];	/* bytes per token row */
	int64_t		T;
	int64_t		total_rows;
	int64_t		ldy[LLM_MM_MAX];	/* floats per output row */
	_Atomic int64_t next_chunk;	/* gemm path: next chunk of rows to take */
	/* input conversion */
	const float *x;
	int64_t		n_in;
	int			n_conv;
	llm_type	conv_type[LLM_MM_MAX];
	void	   *conv_buf[LLM_MM_MAX];
} llm_mm_task;

/*
 * Convert the input rows to the vec_dot formats the weights need; thread
 * ith takes its share of the tokens.
 */
static void
llm_mm_convert(void *arg, int ith, int nth)
{
	llm_mm_task *t = arg;
	const llm_kernels *k = &t->e->k;
	int64_t		b,
				end,
				i;
	int			c;

	llm_split_range(t->T, ith, nth, &b, &end);
	for (c = 0; c < t->n_conv; c++)
	{
		size_t		rs = llm_row_size(t->conv_type[c], t->n_in);

		for (i = b; i < end; i++)
			k->type[t->conv_type[c]].from_float(t->x + i * t->n_in,
												(char *) t->conv_buf[c] + i * rs, t->n_in);
	}
}

/*
 * Rows [r0, r1) of matrix m of the task against all its tokens: the type's
 * gemm kernel when it has one and there are enough tokens, else vec_dot
 * over row tiles.
 */
static void
llm_mm_rows(llm_mm_task *t, int m, int64_t r0, int64_t r1)
{
	const llm_kernels *k = &t->e->k;
	const llm_weight *w = t->w[m];
	llm_vec_dot_fn dot = k->type[w->type].vec_dot;
	llm_gemm_fn gemm = k->type[w->type].gemm;
	int64_t		r,
				tt,
				rr;

	if (w->packed != NULL)
	{
		/* 8-row packed layout: one kernel for every batch size */
		k->type[w->type].gemm8(w->ne0, (r1 - r0) / 8, t->T, (const char *) w->packed + r0 * w->row_bytes,
							   t->xq[m], t->xq_stride[m], t->y[m] + r0, t->ldy[m]);
		return;
	}
	if (gemm != NULL && t->T >= LLM_MM_GEMM_MIN_T)
	{
		/* bit-identical to vec_dot for every (row, token) pair */
		gemm(w->ne0, r1 - r0, t->T, (const char *) w->data + r0 * w->row_bytes,
			 w->row_bytes, t->xq[m], t->xq_stride[m], t->y[m] + r0, t->ldy[m]);
		return;
	}
	for (r = r0; r < r1; r += LLM_MM_ROW_TILE)
	{
		int64_t		rend = r + LLM_MM_ROW_TILE < r1 ? r + LLM_MM_ROW_TILE : r1;

		for (tt = 0; tt < t->T; tt++)
		{
			const char *xr = (const char *) t->xq[m] + tt * t->xq_stride[m];
			float	   *yr = t->y[m] + tt * t->ldy[m];

			for (rr = r; rr < rend; rr++)
				dot(w->ne0, &yr[rr], (const char *) w->data + rr * w->row_bytes, xr);
		}
	}
}

/*
 * Compute this thread's share of the output rows of every product: tiles
 * of weight rows against all tokens, through the type's gemm kernel when
 * it has one and there are enough tokens, else pair by pair (vec_dot).
 * Either way every (row, token) result is the same bits.
 */
static void
llm_mm_run(void *arg, int ith, int nth)
{
	llm_mm_task *t = arg;
	int64_t		b,
				end,
				base = 0;
	int			m;

	if (t->T >= LLM_MM_GEMM_MIN_T)
	{
		/*
		 * Chunks of LLM_MM_GEMM_TILE rows of each matrix in turn, taken
		 * dynamically; a row's result does not depend on who computes it
		 */
		for (;;)
		{
			int64_t		c = atomic_fetch_add(&t->next_chunk, 1),
						r0 = -1,
						r1;

			for (m = 0; m < t->n; m++)
			{
				int64_t		nc = (t->w[m]->ne1 + LLM_MM_GEMM_TILE - 1) / LLM_MM_GEMM_TILE;

				if (c < nc)
				{
					r0 = c * LLM_MM_GEMM_TILE;
					break;
				}
				c -= nc;
			}
			if (r0 < 0)
				break;
			r1 = r0 + LLM_MM_GEMM_TILE < t->w[m]->ne1 ? r0 + LLM_MM_GEMM_TILE : t->w[m]->ne1;
			llm_mm_rows(t, m, r0, r1);
		}
		return;
	}
	llm_split_range(t->total_rows, ith, nth, &b, &end);
	for (m = 0; m < t->n; m++)
	{
		int64_t		r0 = b > base ? b - base : 0;
		int64_t		r1 = end - base < t->w[m]->ne1 ? end - base : t->w[m]->ne1;

		/*
		 * whole groups of 8 for a packed matrix (its rows are a multiple of
		 * 8): the neighbouring thread rounds the shared boundary the same way
		 */
		if (t->w[m]->packed != NULL)
		{
			r0 = (r0 + 7) / 8 * 8;
			r1 = (r1 + 7) / 8 * 8;
		}
		if (r0 < r1)
			llm_mm_rows(t, m, r0, r1);
		base += t->w[m]->ne1;
	}
}

/*
 * y_i = x @ W_i^T for up to three weights sharing the input x [T, n_in].
 * Output rows of y_i have ldy_i floats.
 */
static void
llm_matmul(llm_backend *e, const float *x, int64_t T, int n,
		   const llm_weight *const *w, float *const *y, const int64_t *ldy)
{
	llm_mm_task t;
	int			i,
				c;

	memset(&t, 0, sizeof(t));
	atomic_init(&t.next_chunk, 0);
	t.e = e;
	t.n = n;
	t.T = T;
	t.x = x;
	t.n_in = w[0]->ne0;
	for (i = 0; i < n; i++)
	{
		llm_type	vt = e->k.type[w[i]->type].vec_dot_type;

		t.w[i] = w[i];
		t.y[i] = y[i];
		t.ldy[i] = ldy[i];
		t.total_rows += w[i]->ne1;
		if (vt == LLM_TYPE_F32)
		{
			t.xq[i] = x;
			t.xq_stride[i] = (size_t) t.n_in * sizeof(float);
			continue;
		}
		for (c = 0; c < t.n_conv; c++)
			if (t.conv_type[c] == vt)
				break;
		if (c == t.n_conv)
		{
			t.conv_type[c] = vt;
			t.conv_buf[c] = e->quant[c];
			t.n_conv++;
		}
		t.xq[i] = t.conv_buf[c];
		t.xq_stride[i] = llm_row_size(vt, t.n_in);
	}
	if (t.n_conv > 0)
	{
		if (T >= 4)
			llm_pool_run(e->pool, llm_mm_convert, &t);
		else
			llm_mm_convert(&t, 0, 1);
	}
	llm_pool_run(e->pool, llm_mm_run, &t);
}

/* ------------------------------------------------------------- elementwise */

/*
 * out = x / rms(x) * w over n elements.
 */
static void
llm_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
	double		ss = 0.0;
	float		scale;
	int64_t		i;

	for (i = 0; i < n; i++)
		ss += (double) (x[i] * x[i]);
	scale = 1.0f / sqrtf((float) (ss / (double) n) + eps);
	for (i = 0; i < n; i++)
		out[i] = x[i] * scale * w[i];
}

/*
 * Rotate the first n_rot dims of each head of vec (n_heads heads of D
 * floats) by the angles in cs (cos, sin pairs per rotated pair).
 */
static void
llm_rope(float *vec, int n_heads, int D, int n_rot, const float *cs,
		 llm_rope_type type)
{
	int			h,
				i;

	for (h = 0; h < n_heads; h++)
	{
		float	   *v = vec + (int64_t) h * D;

		for (i = 0; i < n_rot / 2; i++)
		{
			float		c = cs[2 * i],
						s = cs[2 * i + 1];
			int			a = type == LLM_ROPE_NORM ? 2 * i : i;
			int			b = type == LLM_ROPE_NORM ? 2 * i + 1 : i + n_rot / 2;
			float		x0 = v[a],
						x1 = v[b];

			v[a] = x0 * c - x1 * s;
			v[b] = x0 * s + x1 * c;
		}
	}
}

/* ---------------------------------------------------------------- attention */

typedef struct llm_att_task
{
	llm_backend *e;
	const llm_model *m;
	const llm_batch_item *items;
	int			layer;
	int64_t		T;
	_Atomic int64_t next_tok;	/* next token whose heads are free to take */
} llm_att_task;

/*
 * Attention of head h of token tok (scores in sc): the token attends to
 * positions 0..pos of its own sequence.
 */
static void
llm_att_head(const llm_att_task *t, int64_t tok, int h, float *sc)
{
	llm_backend *e = t->e;
	const llm_model *m = t->m;
	const llm_kernels *k = &e->k;
	int			D = m->n_embd_head,
				KV = m->n_embd_kv;
	int			kvh = h / (m->info.n_head / m->info.n_head_kv);
	float		scale = m->attn_scale;
	const llm_seq *s = t->items[e->tok_item[tok]].seq;
	int32_t		pos = e->tok_pos[tok];
	/* a sliding-window layer sees positions p0..pos, p0 = pos - n_swa + 1 */
	int32_t		p0 = m->layers[t->layer].swa && pos >= m->n_swa ? pos - m->n_swa + 1 : 0;
	int32_t		n = pos - p0 + 1;
	const float *q = e->q + tok * m->n_embd_q + (int64_t) h * D;
	int64_t		off = (int64_t) p0 * KV + (int64_t) kvh * D;
	float	   *out = e->att + tok * m->n_embd_q + (int64_t) h * D;

	/* sc[0..n-1] = q . k_(p0+i) * scale */
	if (s->f16)
		k->dot_f16_rows(D, q, (const uint16_t *) s->k[t->layer] + off, KV, n, scale, sc);
	else
		k->dot_f32_rows(D, q, (const float *) s->k[t->layer] + off, KV, n, scale, sc);
	k->softmax(n, sc);
	/* out[D] = sum_p sc[p] v_p */
	memset(out, 0, (size_t) D * sizeof(float));
	if (s->f16)
		k->axpy_f16_rows(D, sc, (const uint16_t *) s->v[t->layer] + off, KV, n, out);
	else
		k->axpy_f32_rows(D, sc, (const float *) s->v[t->layer] + off, KV, n, out);
}

/*
 * Attention of the G heads of token tok that share KV head kvh, sc with
 * room for LLM_ATT_GROUP rows of cap scores: when the kernel table has the
 * grouped forms, up to LLM_ATT_GROUP heads go through them together (each
 * K and V row read once for them), else head by head. Either way every
 * head gets exactly llm_att_head's bits.
 */
static void
llm_att_group(const llm_att_task *t, int64_t tok, int kvh, float *sc, int64_t cap)
{
	llm_backend *e = t->e;
	const llm_model *m = t->m;
	const llm_kernels *k = &e->k;
	int			G = m->info.n_head / m->info.n_head_kv,
				D = m->n_embd_head,
				KV = m->n_embd_kv;
	const llm_seq *s = t->items[e->tok_item[tok]].seq;
	int32_t		pos = e->tok_pos[tok];
	int32_t		p0 = m->layers[t->layer].swa && pos >= m->n_swa ? pos - m->n_swa + 1 : 0;
	int32_t		n = pos - p0 + 1;
	int64_t		off = (int64_t) p0 * KV + (int64_t) kvh * D;

	if (k->dot_f32_rows_g == NULL || G == 1)
	{
		for (int g = 0; g < G; g++)
			llm_att_head(t, tok, kvh * G + g, sc);
		return;
	}
	for (int g0 = 0; g0 < G; g0 += LLM_ATT_GROUP)
	{
		int			gn = G - g0 < LLM_ATT_GROUP ? G - g0 : LLM_ATT_GROUP;
		int			h0 = kvh * G + g0;
		const float *q = e->q + tok * m->n_embd_q + (int64_t) h0 * D;
		float	   *out = e->att + tok * m->n_embd_q + (int64_t) h0 * D;

		/* sc[g * cap + i] = q_g . k_(p0+i) * scale */
		if (s->f16)
			k->dot_f16_rows_g(D, gn, q, D, (const uint16_t *) s->k[t->layer] + off, KV, n,
							  m->attn_scale, sc, cap);
		else
			k->dot_f32_rows_g(D, gn, q, D, (const float *) s->k[t->layer] + off, KV, n,
							  m->attn_scale, sc, cap);
		for (int g = 0; g < gn; g++)
			k->softmax(n, sc + g * cap);
		/* out_g[D] = sum_p sc_g[p] v_p */
		memset(out, 0, (size_t) gn * D * sizeof(float));
		if (s->f16)
			k->axpy_f16_rows_g(D, gn, sc, cap, (const uint16_t *) s->v[t->layer] + off, KV, n,
							   out, D);
		else
			k->axpy_f32_rows_g(D, gn, sc, cap, (const float *) s->v[t->layer] + off, KV, n,
							   out, D);
	}
}

/*
 * Attention of all tokens and heads. For batches of four tokens or more,
 * the threads take whole tokens from a shared counter: the heads of a
 * token share its K and V rows (grouped-query attention), which then stay
 * in one core's cache (and go through the grouped kernels together), and
 * sequences of different lengths balance out. For fewer tokens the
 * (token, head) pairs are interleaved over the threads. Every head is
 * computed the same way either way.
 */
static void
llm_att_run(void *arg, int ith, int nth)
{
	llm_att_task *t = arg;
	int			H = t->m->info.n_head,
				HKV = t->m->info.n_head_kv;
	int64_t		cap = t->e->cap_scores;
	float	   *sc = t->e->scores + (int64_t) ith * cap * LLM_ATT_GROUP;
	int64_t		job,
				tok;

	if (t->T >= 4)
	{
		while ((tok = atomic_fetch_add(&t->next_tok, 1)) < t->T)
			for (int kvh = 0; kvh < HKV; kvh++)
				llm_att_group(t, tok, kvh, sc, cap);
		return;
	}
	for (job = ith; job < t->T * H; job += nth)
		llm_att_head(t, job / H, (int) (job % H), sc);
}

/* ------------------------------------------------------------ FFN helpers */

typedef struct llm_ew_task
{
	void		(*swiglu) (float *g, const float *u, int64_t n);
	float	   *gate;
	const float *up;
	int64_t		n;
} llm_ew_task;

/*
 * g = gelu(g) * u, GELU in its tanh form (as ggml computes it for gemma's
 * GeGLU FFN).
 */
static void
llm_geglu(float *g, const float *u, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
	{
		float		x = g[i];

		g[i] = 0.5f * x * (1.0f + tanhf(0.7978845608f * x * (1.0f + 0.044715f * x * x))) * u[i];
	}
}

/*
 * gate = act(gate) * up over this thread's part (SiLU or GELU).
 */
static void
llm_swiglu_run(void *arg, int ith, int nth)
{
	llm_ew_task *t = arg;
	int64_t		b,
				end;

	llm_split_range(t->n, ith, nth, &b, &end);
	if (b < end)
		t->swiglu(t->gate + b, t->up + b, end - b);
}

/* ------------------------------------------------------- per-token work */

/* per-token operations of a layer, run over the threads when T >= 4 */
typedef enum llm_tok_op
{
	LLM_TOK_NORM,				/* xb = rmsnorm(x) * w */
	LLM_TOK_ADD_NORM,			/* x += xb, then xb = rmsnorm(x) * w */
	LLM_TOK_ADD,				/* x += xb */
	LLM_TOK_QKV,				/* biases, q/k norms, rope, store k and v */
	LLM_TOK_POST_ADD_NORM,		/* xb = rmsnorm(xb) * w2, x += xb, xb = rmsnorm(x) * w */
	LLM_TOK_POST_ADD,			/* xb = rmsnorm(xb) * w2, x += xb */
} llm_tok_op;

typedef struct llm_tok_task
{
	llm_backend *e;
	const llm_model *m;
	llm_batch_item *items;
	int			layer;
	int64_t		T;
	llm_tok_op	op;
	const float *w;				/* norm weight for the NORM ops */
	const float *w2;			/* post-norm weight for the POST ops */
} llm_tok_task;

/*
 * After the q, k, v projections of token t of layer l: biases, the qwen3
 * per-head norms, rope, and k and v stored in the token's sequence cache.
 */
static void
llm_tok_qkv(llm_backend *e, const llm_model *m, llm_batch_item *items, int l, int64_t t)
{
	const llm_model_info *in = &m->info;
	const llm_layer *L = &m->layers[l];
	int64_t		Q = m->n_embd_q,
				KV = m->n_embd_kv,
				j;
	int			D = m->n_embd_head;
	float	   *q = e->q + t * Q,
			   *k = e->kk + t * KV,
			   *v = e->vv + t * KV;
	llm_seq    *s = items[e->tok_item[t]].seq;

	if (L->bq)
		for (j = 0; j < Q; j++)
			q[j] += L->bq[j];
	if (L->bk)
		for (j = 0; j < KV; j++)
			k[j] += L->bk[j];
	if (L->bv)
		for (j = 0; j < KV; j++)
			v[j] += L->bv[j];
	if (L->q_norm)
	{
		/* qwen3, gemma3: RMSNorm over each head of q and k, before rope */
		for (j = 0; j < in->n_head; j++)
			llm_rmsnorm(q + j * D, q + j * D, L->q_norm, D, in->norm_eps);
		for (j = 0; j < in->n_head_kv; j++)
			llm_rmsnorm(k + j * D, k + j * D, L->k_norm, D, in->norm_eps);
	}
	{
		const float *cs = (L->swa ? e->rope_cs_swa : e->rope_cs) + t * in->n_rot;

		llm_rope(q, in->n_head, D, in->n_rot, cs, m->rope_type);
		llm_rope(k, in->n_head_kv, D, in->n_rot, cs, m->rope_type);
	}
	if (s->f16)
	{
		uint16_t   *kd = (uint16_t *) s->k[l] + (int64_t) e->tok_pos[t] * KV;
		uint16_t   *vd = (uint16_t *) s->v[l] + (int64_t) e->tok_pos[t] * KV;

		for (j = 0; j < KV; j++)
		{
			kd[j] = llm_fp32_to_fp16(k[j]);
			vd[j] = llm_fp32_to_fp16(v[j]);
		}
	}
	else
	{
		memcpy((float *) s->k[l] + (int64_t) e->tok_pos[t] * KV, k, (size_t) KV * sizeof(float));
		memcpy((float *) s->v[l] + (int64_t) e->tok_pos[t] * KV, v, (size_t) KV * sizeof(float));
	}
}

/*
 * This thread's share of the tokens for one per-token operation. Every
 * token is computed the same way whatever the split.
 */
static void
llm_tok_run(void *arg, int ith, int nth)
{
	llm_tok_task *k = arg;
	llm_backend *e = k->e;
	int64_t		E = k->m->info.n_embd,
				b,
				end,
				t,
				i;

	llm_split_range(k->T, ith, nth, &b, &end);
	for (t = b; t < end; t++)
	{
		float	   *x = e->x + t * E,
				   *xb = e->xb + t * E;

		switch (k->op)
		{
			case LLM_TOK_POST_ADD:
			case LLM_TOK_POST_ADD_NORM:
				llm_rmsnorm(xb, xb, k->w2, E, k->m->info.norm_eps);
				for (i = 0; i < E; i++)
					x[i] += xb[i];
				if (k->op == LLM_TOK_POST_ADD_NORM)
					llm_rmsnorm(xb, x, k->w, E, k->m->info.norm_eps);
				break;
			case LLM_TOK_ADD:
			case LLM_TOK_ADD_NORM:
				for (i = 0; i < E; i++)
					x[i] += xb[i];
				if (k->op == LLM_TOK_ADD)
					break;
				/* FALLTHROUGH */
			case LLM_TOK_NORM:
				llm_rmsnorm(xb, x, k->w, E, k->m->info.norm_eps);
				break;
			case LLM_TOK_QKV:
				llm_tok_qkv(e, k->m, k->items, k->layer, t);
				break;
		}
	}
}

/*
 * Run a per-token operation over all T tokens: on the pool for batches of
 * four tokens or more, inline for fewer (not worth waking the threads).
 * w2 is the post-norm weight of the POST ops.
 */
static void
llm_tok_apply2(llm_backend *e, const llm_model *m, llm_batch_item *items, int l, int64_t T,
			   llm_tok_op op, const float *w, const float *w2)
{
	llm_tok_task k = {e, m, items, l, T, op, w, w2};

	if (T >= 4)
		llm_pool_run(e->pool, llm_tok_run, &k);
	else
		llm_tok_run(&k, 0, 1);
}

/*
 * llm_tok_apply2 for the ops without a post-norm.
 */
static void
llm_tok_apply(llm_backend *e, const llm_model *m, llm_batch_item *items, int l, int64_t T,
			  llm_tok_op op, const float *w)
{
	llm_tok_apply2(e, m, items, l, T, op, w, NULL);
}

/* ------------------------------------------------------------------- step */

/*
 * Lay out the tokens of a validated batch: item and position of each.
 */
static int
cpu_layout(llm_backend *e, const llm_model *m, const llm_batch_item *items,
		   int32_t n_items, int64_t T, int64_t n_out, char *err)
{
	int64_t		t = 0,
				mc = 0;
	int32_t		i,
				j;

	for (i = 0; i < n_items; i++)
		if (items[i].seq->pos + items[i].n_tokens > mc)
			mc = items[i].seq->pos + items[i].n_tokens;
	if (cpu_reserve(e, m, T, n_out, mc, err) < 0)
		return -1;
	for (i = 0; i < n_items; i++)
		for (j = 0; j < items[i].n_tokens; j++, t++)
		{
			e->tok_item[t] = i;
			e->tok_pos[t] = items[i].seq->pos + j;
		}
	return 0;
}

/*
 * cos/sin of every token's rotation angles at rope base base into table,
 * [T, n_rot/2] pairs.
 */
static void
llm_rope_table(llm_backend *e, const llm_model *m, int64_t T, float base, float *table)
{
	int			half = m->info.n_rot / 2;
	int64_t		t;
	int			i;

	for (t = 0; t < T; t++)
	{
		float		p = (float) e->tok_pos[t] * m->rope_freq_scale;
		float	   *cs = table + t * m->info.n_rot;

		float		step = powf(base, -2.0f / (float) m->info.n_rot);
		float		theta_base = p;

		/* theta_i = p * base^(-2i/n_rot), built by repeated multiplication
		 * in float as llama.cpp does, so angles round the same way */
		for (i = 0; i < half; i++)
		{
			float		theta = theta_base;

			if (m->rope_freqs)
				theta /= m->rope_freqs[i];
			cs[2 * i] = cosf(theta);
			cs[2 * i + 1] = sinf(theta);
			theta_base *= step;
		}
	}
}

/*
 * One transformer layer over all T tokens.
 */
static void
llm_layer_forward(llm_backend *e, const llm_model *m, llm_batch_item *items,
				  int l, int64_t T)
{
	const llm_model_info *in = &m->info;
	const llm_layer *L = &m->layers[l];
	int64_t		E = in->n_embd,
				Q = m->n_embd_q,
				KV = m->n_embd_kv,
				F = in->n_ff;

	/* attention block */
	llm_tok_apply(e, m, items, l, T, LLM_TOK_NORM, L->attn_norm);
	{
		const llm_weight *w[3] = {&L->wq, &L->wk, &L->wv};
		float	   *y[3] = {e->q, e->kk, e->vv};
		int64_t		ld[3] = {Q, KV, KV};

		llm_matmul(e, e->xb, T, 3, w, y, ld);
	}
	llm_tok_apply(e, m, items, l, T, LLM_TOK_QKV, NULL);
	{
		llm_att_task at = {e, m, items, l, T, 0};

		llm_pool_run(e->pool, llm_att_run, &at);
	}
	{
		const llm_weight *w[1] = {&L->wo};
		float	   *y[1] = {e->xb};
		int64_t		ld[1] = {E};

		llm_matmul(e, e->att, T, 1, w, y, ld);
	}
	/* residual (gemma3: after a norm of the attention output), then the
	 * feed-forward block */
	if (L->post_attn_norm)
		llm_tok_apply2(e, m, items, l, T, LLM_TOK_POST_ADD_NORM, L->ffn_norm, L->post_attn_norm);
	else
		llm_tok_apply(e, m, items, l, T, LLM_TOK_ADD_NORM, L->ffn_norm);
	{
		const llm_weight *w[2] = {&L->w_gate, &L->w_up};
		float	   *y[2] = {e->gate, e->up};
		int64_t		ld[2] = {F, F};

		llm_matmul(e, e->xb, T, 2, w, y, ld);
	}
	{
		llm_ew_task st = {m->geglu ? llm_geglu : e->vm.swiglu, e->gate, e->up, T * F};

		if (T * F >= 8192)
			llm_pool_run(e->pool, llm_swiglu_run, &st);
		else
			llm_swiglu_run(&st, 0, 1);
	}
	{
		const llm_weight *w[1] = {&L->w_down};
		float	   *y[1] = {e->xb};
		int64_t		ld[1] = {E};

		llm_matmul(e, e->gate, T, 1, w, y, ld);
	}
	if (L->post_ffn_norm)
		llm_tok_apply2(e, m, items, l, T, LLM_TOK_POST_ADD, NULL, L->post_ffn_norm);
	else
		llm_tok_apply(e, m, items, l, T, LLM_TOK_ADD, NULL);
}

/*
 * The CPU backend's step: items are validated and their sequences have
 * room (engine.c); positions are advanced by the caller.
 */
static int
cpu_step(llm_backend *e, const llm_model *m, llm_batch_item *items, int32_t n_items,
		 int64_t T, int64_t n_out, float *const *hidden, char *err)
{
	const llm_model_info *in = &m->info;
	int64_t		t,
				E = in->n_embd;
	int32_t		i;
	int			l;

	if (cpu_layout(e, m, items, n_items, T, n_out, err) < 0)
		return -1;

	/*
	 * x = embedding rows; a tied embedding that was packed for the output
	 * projection is read from the packed copy (its mapped pages are
	 * released), with the same bits
	 */
	{
		const llm_weight *te = &m->tok_embd;
		llm_to_float_fn conv = e->k.type[te->type].to_float;
		llm_row8_to_float_fn conv8 = e->k.type[te->type].row8_to_float;
		bool		packed = conv8 != NULL && m->output.packed != NULL &&
			m->output.data == te->data;

		for (t = 0; t < T; t++)
		{
			const llm_batch_item *it = &items[e->tok_item[t]];
			int32_t		tok = it->tokens[e->tok_pos[t] - it->seq->pos];

			if (packed)
				conv8(E, (const char *) m->output.packed + (size_t) (tok / 8) * 8 * te->row_bytes,
					  tok % 8, e->x + t * E);
			else
				conv((const char *) te->data + (size_t) tok * te->row_bytes, e->x + t * E, E);
			if (m->embd_scale != 1.0f)
				for (int64_t j = 0; j < E; j++)
					e->x[t * E + j] *= m->embd_scale;
		}
	}
	llm_rope_table(e, m, T, m->info.rope_theta, e->rope_cs);
	if (m->n_swa > 0)
		llm_rope_table(e, m, T, m->rope_theta_swa, e->rope_cs_swa);
	for (l = 0; l < in->n_layer; l++)
		llm_layer_forward(e, m, items, l, T);

	/* logits for the last token of each item that wants them */
	if (n_out > 0)
	{
		int64_t		o = 0,
					end = 0;
		const llm_weight *w[1] = {&m->output};
		float	   *y[1] = {e->out_logits};
		int64_t		ld[1] = {in->n_vocab};

		for (i = 0; i < n_items; i++)
		{
			end += items[i].n_tokens;
			if (items[i].logits)
				llm_rmsnorm(e->out_x + (o++) * E, e->x + (end - 1) * E, m->output_norm, E,
							in->norm_eps);
		}
		llm_matmul(e, e->out_x, n_out, 1, w, y, ld);
		o = 0;
		for (i = 0; i < n_items; i++)
			if (items[i].logits)
				memcpy(items[i].logits, e->out_logits + (o++) * in->n_vocab,
					   (size_t) in->n_vocab * sizeof(float));
	}

	/* final-norm hidden states of every token of the items asking for them */
	if (hidden)
	{
		int64_t		start = 0;

		for (i = 0; i < n_items; i++)
		{
			if (hidden[i])
				for (t = 0; t < items[i].n_tokens; t++)
					llm_rmsnorm(hidden[i] + t * E, e->x + (start + t) * E,
								m->output_norm, E, in->norm_eps);
			start += items[i].n_tokens;
		}
	}
	return 0;
}

const llm_backend_ops llm_backend_cpu = {
	.name = "cpu",
	.create = cpu_create,
	.destroy = cpu_destroy,
	.isa = cpu_isa,
	.threads = cpu_threads,
	.step = cpu_step,
};
