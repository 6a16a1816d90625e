/*
 * backend.c - the host side of the CUDA backend (llm_cuda.so): the
 * llm_backend_ops table the engine opens with dlopen (engine.c), device
 * copies of attached models (weights uploaded once, kept quantized), the
 * sequences' f16 KV caches on the device, and the step, which follows the
 * CPU forward pass (src/engine/forward.c) for the llama, qwen2 and qwen3
 * architectures:
 *
 *   x = embedding rows                       (cu_get_rows)
 *   per layer: xb = rmsnorm(x)               (cu_rmsnorm)
 *     q, k, v = xb @ Wq, Wk, Wv (+ biases)   (cu_mm: dp4a or cuBLAS)
 *     qwen3: per-head rmsnorm of q, k; rope; k, v into the cache
 *     att = attention over each token's own sequence
 *     x += att @ Wo; xb = rmsnorm(x)
 *     x += (act(xb @ Wgate) * (xb @ Wup)) @ Wdown
 *   logits of the items asking for them; final hidden states
 *
 * Matrix products: below CU_GEMM_MIN_T tokens the input is quantized to 8
 * bits once and every quantized weight is dotted with it by __dp4a
 * (quant_mv.cu); from CU_GEMM_MIN_T tokens on, weight rows are
 * dequantized to f16 in chunks and multiplied by cublasGemmEx (f32
 * accumulation). Every CUDA and cuBLAS call is checked: out of memory
 * fails the call with an error, any other failure marks the device lost
 * and the step returns LLM_ERR_DEVICE_LOST (the worker then exits).
 */
#include "model_int.h"
#include "cuda_int.h"

#include <cublas_v2.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CU_GEMM_MIN_T 16		/* tokens from which products go to cuBLAS */
#define CU_DEQ_CHUNK (64 << 20) /* weight elements dequantized per GEMM */
#define CU_HEADROOM (256ull << 20)	/* device memory left to the runtime */

/* one attached model: every device pointer lies in arena */
typedef struct cu_layer
{
	float	   *attn_norm,
			   *ffn_norm,
			   *bq,
			   *bk,
			   *bv,
			   *q_norm,
			   *k_norm;
	cu_weight	wq,
				wk,
				wv,
				wo,
				w_gate,
				w_up,
				w_down;
} cu_layer;

typedef struct cu_model
{
	const llm_model *m;
	void	   *arena;
	uint64_t	weight_bytes;
	uint64_t	kv_bytes;		/* of its sequences */
	cu_weight	tok_embd,
				output;
	float	   *output_norm;
	float	   *rope_freqs;
	cu_layer   *layers;
	struct cu_model *next;
} cu_model;

/* a sequence's cache: [n_layer][k, v][cap][n_embd_kv] f16 */
typedef struct cu_seq
{
	llm_backend *b;
	uint16_t   *buf;
	int32_t		cap;
	uint64_t	bytes;
} cu_seq;

/* a device buffer that grows on demand */
typedef struct cu_buf
{
	void	   *p;
	size_t		bytes;
} cu_buf;

enum
{
	B_X, B_XB, B_Q, B_K, B_V, B_ATT, B_GATE, B_UP, B_XQ, B_XH, B_WH,
	B_TOK, B_KVP, B_OUT, B_LOGITS, B_HID, B_COUNT
};

struct llm_backend
{
	int			device;
	char		name[300];		/* "cuda sm_90 NVIDIA H200" */
	cudaStream_t st;
	cublasHandle_t blas;
	/*
	 * cuBLAS, opened with dlopen once a device is found: loading it costs
	 * ~215 MB of resident memory, which a machine without a GPU (auto
	 * falling back to the CPU) should not pay
	 */
	void	   *blas_dl;
	__typeof__(cublasCreate_v2) *blas_create;
	__typeof__(cublasDestroy_v2) *blas_destroy;
	__typeof__(cublasSetStream_v2) *blas_set_stream;
	__typeof__(cublasGemmEx) *blas_gemm;
	uint64_t	budget;			/* bytes for weights, caches and scratch */
	uint64_t	used;
	bool		lost;			/* a CUDA error other than OOM: unusable */
	cu_model   *models;
	cu_buf		buf[B_COUNT];
	/* host copies of the per-token arrays */
	int32_t    *h_tok;			/* [3T]: ids, positions, caps */
	uint16_t  **h_kv;			/* [T] */
	int64_t		h_cap;
};

static const llm_seq_dev_ops cu_seq_ops;

/* ---------------------------------------------------------------- errors */

/*
 * Write a message into err (LLM_ERRLEN bytes); returns -1.
 */
static int
cu_errf(char *err, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, LLM_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A failed CUDA call: out of memory is the caller's error (-1); anything
 * else leaves the device unusable (LLM_ERR_DEVICE_LOST).
 */
static int
cu_fail(llm_backend *b, cudaError_t rc, const char *what, char *err)
{
	(void) cudaGetLastError();	/* clear a non-sticky error */
	if (rc == cudaErrorMemoryAllocation)
	{
		cu_errf(err, "out of GPU memory (%s)", what);
		return -1;
	}
	b->lost = true;
	cu_errf(err, "CUDA error in %s: %s (%s); the GPU is no longer usable", what,
			cudaGetErrorName(rc), cudaGetErrorString(rc));
	return LLM_ERR_DEVICE_LOST;
}

/*
 * A failed cuBLAS call, classified like cu_fail.
 */
static int
cu_blas_fail(llm_backend *b, cublasStatus_t rc, const char *what, char *err)
{
	if (rc == CUBLAS_STATUS_ALLOC_FAILED)
	{
		cu_errf(err, "out of GPU memory (%s)", what);
		return -1;
	}
	b->lost = true;
	cu_errf(err, "cuBLAS error in %s: status %d; the GPU is no longer usable", what, (int) rc);
	return LLM_ERR_DEVICE_LOST;
}

#define CU_CHECK(call, what) \
	do { cudaError_t cu_rc_ = (call); \
		if (cu_rc_ != cudaSuccess) return cu_fail(b, cu_rc_, (what), err); } while (0)

/* --------------------------------------------------------------- memory */

/*
 * cudaMalloc within the budget; -1 with err (out of memory or budget).
 */
static int
cu_alloc(llm_backend *b, void **p, size_t bytes, const char *what, char *err)
{
	cudaError_t rc;

	*p = NULL;
	if (b->used + bytes > b->budget)
		return cu_errf(err, "out of GPU memory: %s needs %llu MB, %llu MB of %llu MB "
					   "(llm.gpu_memory_mb) are in use", what,
					   (unsigned long long) (bytes >> 20), (unsigned long long) (b->used >> 20),
					   (unsigned long long) (b->budget >> 20));
	rc = cudaMalloc(p, bytes ? bytes : 1);
	if (rc != cudaSuccess)
	{
		*p = NULL;
		return cu_fail(b, rc, what, err);
	}
	b->used += bytes;
	return 0;
}

/*
 * cudaFree of a block of bytes from cu_alloc.
 */
static void
cu_release(llm_backend *b, void *p, size_t bytes)
{
	if (p == NULL)
		return;
	if (cudaFree(p) != cudaSuccess)
		b->lost = true;
	b->used -= bytes;
}

/*
 * Make scratch buffer i at least bytes long (contents not kept).
 */
static int
cu_grow(llm_backend *b, int i, size_t bytes, char *err)
{
	cu_buf	   *c = &b->buf[i];
	void	   *p;
	int			rc;

	if (c->bytes >= bytes)
		return 0;
	bytes = bytes + bytes / 4;
	cu_release(b, c->p, c->bytes);
	c->p = NULL;
	c->bytes = 0;
	rc = cu_alloc(b, &p, bytes, "step buffers", err);
	if (rc < 0)
		return rc;
	c->p = p;
	c->bytes = bytes;
	return 0;
}

/* ----------------------------------------------------------------- table */

/*
 * Open cuBLAS (libcublas.so.<major of the headers>, found through the
 * module's run path) and look up the four functions the backend calls.
 */
static int
cu_open_blas(llm_backend *b, char *err)
{
	char		name[64];

	snprintf(name, sizeof(name), "libcublas.so.%d", CUBLAS_VER_MAJOR);
	/* never unloaded, like the module itself */
	b->blas_dl = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (b->blas_dl == NULL)
	{
		const char *why = dlerror();

		return cu_errf(err, "could not load cuBLAS: %s", why ? why : name);
	}
	*(void **) (&b->blas_create) = dlsym(b->blas_dl, "cublasCreate_v2");
	*(void **) (&b->blas_destroy) = dlsym(b->blas_dl, "cublasDestroy_v2");
	*(void **) (&b->blas_set_stream) = dlsym(b->blas_dl, "cublasSetStream_v2");
	*(void **) (&b->blas_gemm) = dlsym(b->blas_dl, "cublasGemmEx");
	if (!b->blas_create || !b->blas_destroy || !b->blas_set_stream || !b->blas_gemm)
		return cu_errf(err, "%s lacks a function the CUDA backend calls", name);
	return 0;
}

/*
 * Create the backend on device 0: LLM_ERR_NO_DEVICE when there is none.
 */
static int
cu_create(llm_backend **out, const llm_engine_params *p, char *err)
{
	llm_backend *b;
	int			n = 0;
	cudaError_t rc = cudaGetDeviceCount(&n);
	struct cudaDeviceProp prop;
	size_t		free_b = 0,
				total_b = 0;
	cublasStatus_t brc;

	*out = NULL;
	if (rc != cudaSuccess || n <= 0)
	{
		cu_errf(err, "no CUDA device was found (%s)",
				rc != cudaSuccess ? cudaGetErrorString(rc) : "the driver reports none");
		(void) cudaGetLastError();
		return LLM_ERR_NO_DEVICE;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return cu_errf(err, "out of memory");
	b->device = 0;
	if ((rc = cudaSetDevice(0)) != cudaSuccess ||
		(rc = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess ||
		(rc = cudaMemGetInfo(&free_b, &total_b)) != cudaSuccess ||
		/*
		 * a blocking stream: it is ordered with the legacy default stream,
		 * where the uploads, KV-cache copies and test inputs go
		 * (cudaMemcpy), so work on it never starts before those finish
		 */
		(rc = cudaStreamCreateWithFlags(&b->st, cudaStreamDefault)) != cudaSuccess)
	{
		cu_errf(err, "could not start CUDA on device 0: %s", cudaGetErrorString(rc));
		free(b);
		return -1;
	}
	if (prop.major < 6 || (prop.major == 6 && prop.minor < 1))
	{
		cu_errf(err, "CUDA device %s (sm_%d%d) is too old: __dp4a needs sm_61 or later",
				prop.name, prop.major, prop.minor);
		cudaStreamDestroy(b->st);
		free(b);
		return -1;
	}
	if ((rc = cu_probe()) != cudaSuccess)
	{
		cu_errf(err, "llm_cuda.so has no code for CUDA device %s (sm_%d%d): %s; rebuild with "
				"CUDA_ARCH naming it", prop.name, prop.major, prop.minor, cudaGetErrorString(rc));
		(void) cudaGetLastError();
		cudaStreamDestroy(b->st);
		free(b);
		return -1;
	}
	if (cu_open_blas(b, err) < 0)
	{
		cudaStreamDestroy(b->st);
		free(b);
		return -1;
	}
	brc = b->blas_create(&b->blas);
	if (brc == CUBLAS_STATUS_SUCCESS)
		brc = b->blas_set_stream(b->blas, b->st);
	if (brc != CUBLAS_STATUS_SUCCESS)
	{
		cu_errf(err, "could not start cuBLAS: status %d", (int) brc);
		if (b->blas)
			b->blas_destroy(b->blas);
		cudaStreamDestroy(b->st);
		free(b);
		return -1;
	}
	snprintf(b->name, sizeof(b->name), "cuda sm_%d%d %s", prop.major, prop.minor, prop.name);
	b->budget = free_b > CU_HEADROOM ? free_b - CU_HEADROOM : 0;
	if (p && p->gpu_memory_bytes > 0 && p->gpu_memory_bytes < b->budget)
		b->budget = p->gpu_memory_bytes;
	*out = b;
	return 0;
}

/*
 * Free every model's device copy, the scratch, the stream and cuBLAS.
 */
static void
cu_destroy(llm_backend *b)
{
	if (b == NULL)
		return;
	while (b->models)
	{
		cu_model   *cm = b->models;

		b->models = cm->next;
		cu_release(b, cm->arena, cm->weight_bytes);
		free(cm->layers);
		free(cm);
	}
	for (int i = 0; i < B_COUNT; i++)
		cu_release(b, b->buf[i].p, b->buf[i].bytes);
	b->blas_destroy(b->blas);
	cudaStreamDestroy(b->st);
	free(b->h_tok);
	free(b->h_kv);
	free(b);
}

static const char *
cu_isa(const llm_backend *b)
{
	return b->name;
}

static int32_t
cu_threads(const llm_backend *b)
{
	return 1;
}

/*
 * The device copy of m, or NULL.
 */
static cu_model *
cu_find(const llm_backend *b, const llm_model *m)
{
	for (cu_model *cm = b->models; cm; cm = cm->next)
		if (cm->m == m)
			return cm;
	return NULL;
}

/* ---------------------------------------------------------------- attach */

/* where the next tensor goes in the arena, and how many bytes so far */
typedef struct cu_upload
{
	llm_backend *b;
	char	   *base;			/* NULL: only counting */
	size_t		off;
	cudaError_t rc;
} cu_upload;

/*
 * Place bytes from host src at the next 256-byte aligned offset (copying
 * when the arena exists); returns the device address (NULL while
 * counting).
 */
static void *
cu_put(cu_upload *u, const void *src, size_t bytes)
{
	void	   *d;

	u->off = (u->off + 255) & ~(size_t) 255;
	d = u->base ? u->base + u->off : NULL;
	if (u->base && src && u->rc == cudaSuccess)
		u->rc = cudaMemcpy(d, src, bytes, cudaMemcpyHostToDevice);
	u->off += bytes;
	return d;
}

/* a norm vector or bias of n floats (NULL stays NULL) */
static float *
cu_put_vec(cu_upload *u, const float *v, int64_t n)
{
	return v ? (float *) cu_put(u, v, (size_t) n * sizeof(float)) : NULL;
}

/* a weight matrix, in its file layout */
static void
cu_put_weight(cu_upload *u, const llm_weight *w, cu_weight *out)
{
	out->type = (int) w->type;
	out->ne0 = w->ne0;
	out->ne1 = w->ne1;
	out->row_bytes = w->row_bytes;
	out->d = cu_put(u, w->data, w->row_bytes * (size_t) w->ne1);
}

/*
 * Whether the backend runs m: architecture, weight types, shapes.
 */
static int
cu_check_model(const llm_model *m, char *err)
{
	const llm_model_info *in = &m->info;
	const llm_weight *ws[7];

	if (m->arch != LLM_ARCH_LLAMA && m->arch != LLM_ARCH_QWEN2 && m->arch != LLM_ARCH_QWEN3)
		return cu_errf(err, "the CUDA backend does not run %s models (llama, qwen2 and "
					   "qwen3 only); use the CPU (llm.device = cpu)", in->arch);
	if (m->n_embd_head > 256 || in->n_head % in->n_head_kv != 0)
		return cu_errf(err, "the CUDA backend supports heads of up to 256 values (this model: %d)",
					   m->n_embd_head);
	if (!cu_type_supported(m->tok_embd.type) || !cu_type_supported(m->output.type) ||
		m->tok_embd.ne0 % 32 != 0 || m->output.ne0 % 32 != 0)
		return cu_errf(err, "the CUDA backend has no kernels for the embedding or output type of this model");
	for (int l = 0; l < in->n_layer; l++)
	{
		const llm_layer *L = &m->layers[l];

		ws[0] = &L->wq;
		ws[1] = &L->wk;
		ws[2] = &L->wv;
		ws[3] = &L->wo;
		ws[4] = &L->w_gate;
		ws[5] = &L->w_up;
		ws[6] = &L->w_down;
		for (int i = 0; i < 7; i++)
			if (!cu_type_supported(ws[i]->type) || ws[i]->ne0 % 32 != 0)
				return cu_errf(err, "the CUDA backend has no kernel for weight type %d of layer %d",
							   (int) ws[i]->type, l);
	}
	return 0;
}

/*
 * Lay out (base NULL: count) or upload every tensor of m into cm.
 */
static void
cu_layout_model(cu_upload *u, const llm_model *m, cu_model *cm)
{
	const llm_model_info *in = &m->info;
	int64_t		E = in->n_embd,
				Q = m->n_embd_q,
				KV = m->n_embd_kv,
				D = m->n_embd_head;

	cu_put_weight(u, &m->tok_embd, &cm->tok_embd);
	if (m->output.data == m->tok_embd.data && m->output.type == m->tok_embd.type)
		cm->output = cm->tok_embd;	/* tied embeddings: one copy */
	else
		cu_put_weight(u, &m->output, &cm->output);
	cm->output_norm = cu_put_vec(u, m->output_norm, E);
	cm->rope_freqs = cu_put_vec(u, m->rope_freqs, in->n_rot / 2);
	for (int l = 0; l < in->n_layer; l++)
	{
		const llm_layer *L = &m->layers[l];
		cu_layer   *C = &cm->layers[l];

		C->attn_norm = cu_put_vec(u, L->attn_norm, E);
		C->ffn_norm = cu_put_vec(u, L->ffn_norm, E);
		C->bq = cu_put_vec(u, L->bq, Q);
		C->bk = cu_put_vec(u, L->bk, KV);
		C->bv = cu_put_vec(u, L->bv, KV);
		C->q_norm = cu_put_vec(u, L->q_norm, D);
		C->k_norm = cu_put_vec(u, L->k_norm, D);
		cu_put_weight(u, &L->wq, &C->wq);
		cu_put_weight(u, &L->wk, &C->wk);
		cu_put_weight(u, &L->wv, &C->wv);
		cu_put_weight(u, &L->wo, &C->wo);
		cu_put_weight(u, &L->w_gate, &C->w_gate);
		cu_put_weight(u, &L->w_up, &C->w_up);
		cu_put_weight(u, &L->w_down, &C->w_down);
	}
}

/*
 * Upload m's weights once (a second attach of the same model is a no-op).
 */
static int
cu_attach(llm_backend *b, llm_model *m, char *err)
{
	cu_model   *cm;
	cu_upload	u = {b, NULL, 0, cudaSuccess};
	void	   *arena;
	int			rc;

	if (b->lost)
		return cu_errf(err, "the GPU is no longer usable");
	if (cu_find(b, m))
		return 0;
	if (cu_check_model(m, err) < 0)
		return -1;
	cm = calloc(1, sizeof(*cm));
	if (cm == NULL || (cm->layers = calloc((size_t) m->info.n_layer, sizeof(cu_layer))) == NULL)
	{
		free(cm);
		return cu_errf(err, "out of memory");
	}
	cu_layout_model(&u, m, cm);
	rc = cu_alloc(b, &arena, u.off, "the model's weights", err);
	if (rc < 0)
	{
		free(cm->layers);
		free(cm);
		return rc;
	}
	cm->m = m;
	cm->arena = arena;
	cm->weight_bytes = u.off;
	u.base = arena;
	u.off = 0;
	cu_layout_model(&u, m, cm);
	if (u.rc != cudaSuccess)
	{
		rc = cu_fail(b, u.rc, "uploading the weights", err);
		cu_release(b, arena, cm->weight_bytes);
		free(cm->layers);
		free(cm);
		return rc;
	}
	cm->next = b->models;
	b->models = cm;
	return 0;
}

/*
 * Free m's device copy.
 */
static void
cu_detach(llm_backend *b, const llm_model *m)
{
	for (cu_model **pp = &b->models; *pp; pp = &(*pp)->next)
		if ((*pp)->m == m)
		{
			cu_model   *cm = *pp;

			*pp = cm->next;
			cu_release(b, cm->arena, cm->weight_bytes);
			free(cm->layers);
			free(cm);
			return;
		}
}

/*
 * Weights plus KV caches of m on the device.
 */
static uint64_t
cu_device_bytes(const llm_backend *b, const llm_model *m)
{
	const cu_model *cm = cu_find(b, m);

	return cm ? cm->weight_bytes + cm->kv_bytes : 0;
}

/* ------------------------------------------------------------- sequences */

/*
 * Give s a device cache of cap positions, keeping its first keep rows.
 */
static int
cu_seq_resize(llm_backend *b, llm_seq *s, int32_t cap, int32_t keep, char *err)
{
	const llm_model *m = s->model;
	cu_model   *cm = cu_find(b, m);
	cu_seq	   *cs = s->dev;
	size_t		row = (size_t) m->n_embd_kv * sizeof(uint16_t);
	uint64_t	bytes = (uint64_t) 2 * m->info.n_layer * (uint64_t) cap * row;
	void	   *buf;
	int			rc;

	if (cm == NULL)
		return cu_errf(err, "the model is not attached to the CUDA engine");
	rc = cu_alloc(b, &buf, bytes, "the KV cache", err);
	if (rc < 0)
		return rc;
	if (cs == NULL)
	{
		cs = calloc(1, sizeof(*cs));
		if (cs == NULL)
		{
			cu_release(b, buf, bytes);
			return cu_errf(err, "out of memory");
		}
		cs->b = b;
		s->dev = cs;
		s->dev_ops = &cu_seq_ops;
	}
	if (keep > 0 && cs->buf)
	{
		cudaError_t crc = cudaMemcpy2D(buf, (size_t) cap * row, cs->buf, (size_t) cs->cap * row,
									   (size_t) keep * row, (size_t) 2 * m->info.n_layer,
									   cudaMemcpyDeviceToDevice);

		if (crc != cudaSuccess)
		{
			cu_release(b, buf, bytes);
			return cu_fail(b, crc, "growing a KV cache", err);
		}
	}
	cu_release(b, cs->buf, cs->bytes);
	cm->kv_bytes -= cs->bytes;
	cs->buf = buf;
	cs->cap = cap;
	cs->bytes = bytes;
	cm->kv_bytes += bytes;
	return 0;
}

/*
 * Room for n more positions in s's device cache (doubling, capped at
 * max_pos, as the host cache grows).
 */
static int
cu_seq_reserve(llm_backend *b, llm_seq *s, int32_t n, char *err)
{
	cu_seq	   *cs = s->dev;
	int64_t		need = (int64_t) s->pos + n;
	int32_t		cap;

	if (n < 0 || need > s->max_pos)
		return cu_errf(err, "sequence is full: %d positions used, %d more requested, limit %d",
					   s->pos, n, s->max_pos);
	if (cs == NULL && s->pos > 0)
		return cu_errf(err, "the sequence's KV cache is in host memory (filled on the CPU)");
	if (cs && need <= cs->cap)
		return 0;
	cap = cs && cs->cap > 0 ? cs->cap : 64;
	while (cap < need)
		cap = cap > s->max_pos / 2 ? s->max_pos : cap * 2;
	if (cap > s->max_pos)
		cap = s->max_pos;
	return cu_seq_resize(b, s, cap, s->pos, err);
}

/*
 * llm_seq_free's hook: free the device cache.
 */
static void
cu_seq_release(llm_seq *s)
{
	cu_seq	   *cs = s->dev;
	cu_model   *cm;

	if (cs == NULL)
		return;
	cm = cu_find(cs->b, s->model);
	if (cm)
		cm->kv_bytes -= cs->bytes;
	cu_release(cs->b, cs->buf, cs->bytes);
	free(cs);
	s->dev = NULL;
	s->dev_ops = NULL;
}

/*
 * Prefix copy: rows 0 .. n - 1 of src into the empty dst.
 */
static int
cu_seq_copy(llm_seq *dst, const llm_seq *src, int32_t n, char *err)
{
	const cu_seq *cs = src->dev;
	llm_backend *b = cs->b;
	const llm_model *m = src->model;
	size_t		row = (size_t) m->n_embd_kv * sizeof(uint16_t);
	cu_seq	   *cd;
	int			rc;

	if (n > dst->max_pos)
		return cu_errf(err, "prefix of %d positions does not fit the sequence (%d)", n, dst->max_pos);
	cd = dst->dev;
	if (cd == NULL || cd->cap < n)
	{
		rc = cu_seq_resize(b, dst, n > 64 ? n : (dst->max_pos < 64 ? dst->max_pos : 64), 0, err);
		if (rc < 0)
			return rc;
		cd = dst->dev;
	}
	CU_CHECK(cudaMemcpy2D(cd->buf, (size_t) cd->cap * row, cs->buf, (size_t) cs->cap * row,
						  (size_t) n * row, (size_t) 2 * m->info.n_layer,
						  cudaMemcpyDeviceToDevice), "copying a cached prefix");
	dst->pos = n;
	return 0;
}

static const llm_seq_dev_ops cu_seq_ops = {
	.release = cu_seq_release,
	.copy = cu_seq_copy,
};

/* ----------------------------------------------------------------- step */

/*
 * y_i[T, ne1_i] = x[T, n_in] @ W_i^T for up to three weights sharing the
 * input x (f32, ldx floats per row). Few tokens: the input is quantized to
 * 8 bits once (for the quantized weights) and every weight runs its
 * matrix-vector kernel; CU_GEMM_MIN_T tokens or more: the input goes to
 * f16 once and each weight is dequantized to f16 in chunks of rows for
 * cublasGemmEx.
 */
static int
cu_mm(llm_backend *b, const float *x, int64_t ldx, int64_t T, int n,
	  const cu_weight *const *w, float *const *y, const int64_t *ldy, char *err)
{
	int64_t		n_in = w[0]->ne0;
	int			rc;

	if (T < CU_GEMM_MIN_T)
	{
		bool		quant = false;

		for (int i = 0; i < n; i++)
			quant |= cu_type_is_quant(w[i]->type) != 0;
		if (quant)
		{
			if ((rc = cu_grow(b, B_XQ, (size_t) T * (size_t) (n_in / 32) * sizeof(cu_q8), err)) < 0)
				return rc;
			CU_CHECK(cu_quantize_q8(x, ldx, T, n_in, b->buf[B_XQ].p, b->st), "quantizing activations");
		}
		for (int i = 0; i < n; i++)
			CU_CHECK(cu_matvec(w[i], b->buf[B_XQ].p, x, ldx, T, y[i], ldy[i], b->st),
					 "a matrix-vector product");
		return 0;
	}
	if ((rc = cu_grow(b, B_XH, (size_t) T * (size_t) n_in * sizeof(uint16_t), err)) < 0)
		return rc;
	CU_CHECK(cu_f32_to_f16(x, ldx, T, n_in, b->buf[B_XH].p, b->st), "converting activations");
	for (int i = 0; i < n; i++)
	{
		int64_t		chunk = CU_DEQ_CHUNK / n_in;
		const float alpha = 1.0f,
					beta = 0.0f;

		if (chunk < 1)
			chunk = 1;
		if (chunk > w[i]->ne1)
			chunk = w[i]->ne1;
		if ((rc = cu_grow(b, B_WH, (size_t) chunk * (size_t) n_in * sizeof(uint16_t), err)) < 0)
			return rc;
		for (int64_t r0 = 0; r0 < w[i]->ne1; r0 += chunk)
		{
			int64_t		nr = w[i]->ne1 - r0 < chunk ? w[i]->ne1 - r0 : chunk;
			cublasStatus_t brc;

			CU_CHECK(cu_dequant_f16(w[i], r0, nr, b->buf[B_WH].p, b->st), "dequantizing weights");
			/* column-major: C[nr x T] = W_chunk^T[nr x n_in] . X[n_in x T] */
			brc = b->blas_gemm(b->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int) nr, (int) T, (int) n_in,
							   &alpha, b->buf[B_WH].p, CUDA_R_16F, (int) n_in,
							   b->buf[B_XH].p, CUDA_R_16F, (int) n_in, &beta,
							   y[i] + r0, CUDA_R_32F, (int) ldy[i],
							   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
			if (brc != CUBLAS_STATUS_SUCCESS)
				return cu_blas_fail(b, brc, "cublasGemmEx", err);
		}
	}
	return 0;
}

/* the scratch buffer i as floats */
#define BF(i) ((float *) b->buf[(i)].p)

/*
 * Scratch for T tokens of model m and n_out logit rows; the per-token
 * arrays (ids, positions, cache pointers and capacities) on the device.
 */
static int
cu_step_reserve(llm_backend *b, const llm_model *m, int64_t T, int64_t n_out, char *err)
{
	const llm_model_info *in = &m->info;
	size_t		f = sizeof(float);
	size_t		wide = (size_t) (in->n_embd > m->n_embd_q ? in->n_embd : m->n_embd_q);
	int			rc;

	if ((rc = cu_grow(b, B_X, (size_t) T * in->n_embd * f, err)) < 0 ||
		(rc = cu_grow(b, B_XB, (size_t) T * wide * f, err)) < 0 ||
		(rc = cu_grow(b, B_Q, (size_t) T * m->n_embd_q * f, err)) < 0 ||
		(rc = cu_grow(b, B_K, (size_t) T * m->n_embd_kv * f, err)) < 0 ||
		(rc = cu_grow(b, B_V, (size_t) T * m->n_embd_kv * f, err)) < 0 ||
		(rc = cu_grow(b, B_ATT, (size_t) T * m->n_embd_q * f, err)) < 0 ||
		(rc = cu_grow(b, B_GATE, (size_t) T * in->n_ff * f, err)) < 0 ||
		(rc = cu_grow(b, B_UP, (size_t) T * in->n_ff * f, err)) < 0 ||
		(rc = cu_grow(b, B_TOK, (size_t) T * 3 * sizeof(int32_t), err)) < 0 ||
		(rc = cu_grow(b, B_KVP, (size_t) T * sizeof(void *), err)) < 0 ||
		(rc = cu_grow(b, B_OUT, (size_t) (n_out > 0 ? n_out : 1) * in->n_embd * f, err)) < 0 ||
		(rc = cu_grow(b, B_LOGITS, (size_t) (n_out > 0 ? n_out : 1) * in->n_vocab * f, err)) < 0)
		return rc;
	if (T > b->h_cap)
	{
		int32_t    *t = realloc(b->h_tok, (size_t) T * 3 * sizeof(int32_t));

		if (t == NULL)
			return cu_errf(err, "out of memory");
		b->h_tok = t;
		{
			uint16_t  **k = realloc(b->h_kv, (size_t) T * sizeof(uint16_t *));

			if (k == NULL)
				return cu_errf(err, "out of memory");
			b->h_kv = k;
		}
		b->h_cap = T;
	}
	return 0;
}

/*
 * One transformer layer over the T tokens laid out in the B_TOK/B_KVP
 * buffers.
 */
static int
cu_layer_forward(llm_backend *b, const llm_model *m, const cu_model *cm, int l, int64_t T,
				 char *err)
{
	const llm_model_info *in = &m->info;
	const cu_layer *C = &cm->layers[l];
	const llm_layer *L = &m->layers[l];
	int64_t		E = in->n_embd,
				Q = m->n_embd_q,
				KV = m->n_embd_kv,
				F = in->n_ff;
	int			D = m->n_embd_head;
	const int32_t *pos = (const int32_t *) b->buf[B_TOK].p + T;
	const int32_t *cap = (const int32_t *) b->buf[B_TOK].p + 2 * T;
	uint16_t *const *kv = b->buf[B_KVP].p;
	cu_rope_params rp;
	int			rc;

	CU_CHECK(cu_rmsnorm(BF(B_X), E, C->attn_norm, T, E, in->norm_eps, BF(B_XB), E, b->st),
			 "rmsnorm");
	{
		const cu_weight *w[3] = {&C->wq, &C->wk, &C->wv};
		float	   *y[3] = {BF(B_Q), BF(B_K), BF(B_V)};
		int64_t		ld[3] = {Q, KV, KV};

		if ((rc = cu_mm(b, BF(B_XB), E, T, 3, w, y, ld, err)) < 0)
			return rc;
	}
	if (C->bq)
	{
		CU_CHECK(cu_add_bias(BF(B_Q), C->bq, T, Q, b->st), "bias");
		CU_CHECK(cu_add_bias(BF(B_K), C->bk, T, KV, b->st), "bias");
		CU_CHECK(cu_add_bias(BF(B_V), C->bv, T, KV, b->st), "bias");
	}
	if (C->q_norm)
	{
		/* qwen3: RMSNorm over every head of q and k (rows of D) */
		CU_CHECK(cu_rmsnorm(BF(B_Q), D, C->q_norm, T * in->n_head, D, in->norm_eps, BF(B_Q), D,
							b->st), "head rmsnorm");
		CU_CHECK(cu_rmsnorm(BF(B_K), D, C->k_norm, T * in->n_head_kv, D, in->norm_eps, BF(B_K),
							D, b->st), "head rmsnorm");
	}
	rp.n_head = in->n_head;
	rp.n_head_kv = in->n_head_kv;
	rp.head_dim = D;
	rp.n_rot = in->n_rot;
	rp.neox = m->rope_type == LLM_ROPE_NEOX;
	rp.theta_base = in->rope_theta;
	rp.freq_scale = m->rope_freq_scale;
	rp.freqs = cm->rope_freqs;
	CU_CHECK(cu_rope_store(BF(B_Q), BF(B_K), BF(B_V), T, pos, &rp, kv, cap, l, b->st),
			 "rope");
	CU_CHECK(cu_attention(BF(B_Q), T, pos, kv, cap, l, in->n_head, in->n_head_kv, D,
						  m->attn_scale, BF(B_ATT), b->st), "attention");
	{
		const cu_weight *w[1] = {&C->wo};
		float	   *y[1] = {BF(B_XB)};
		int64_t		ld[1] = {E};

		if ((rc = cu_mm(b, BF(B_ATT), Q, T, 1, w, y, ld, err)) < 0)
			return rc;
	}
	CU_CHECK(cu_add(BF(B_X), BF(B_XB), T * E, b->st), "residual");
	CU_CHECK(cu_rmsnorm(BF(B_X), E, C->ffn_norm, T, E, in->norm_eps, BF(B_XB), E, b->st),
			 "rmsnorm");
	{
		const cu_weight *w[2] = {&C->w_gate, &C->w_up};
		float	   *y[2] = {BF(B_GATE), BF(B_UP)};
		int64_t		ld[2] = {F, F};

		if ((rc = cu_mm(b, BF(B_XB), E, T, 2, w, y, ld, err)) < 0)
			return rc;
	}
	CU_CHECK(cu_glu(BF(B_GATE), BF(B_UP), T * F, m->geglu, b->st), "gated activation");
	{
		const cu_weight *w[1] = {&C->w_down};
		float	   *y[1] = {BF(B_XB)};
		int64_t		ld[1] = {E};

		if ((rc = cu_mm(b, BF(B_GATE), F, T, 1, w, y, ld, err)) < 0)
			return rc;
	}
	(void) L;
	CU_CHECK(cu_add(BF(B_X), BF(B_XB), T * E, b->st), "residual");
	return 0;
}

/*
 * Lay out the tokens of a validated batch (ids, positions, each token's
 * cache and its capacity) and copy them to the device.
 */
static int
cu_layout(llm_backend *b, const llm_batch_item *items, int32_t n_items, int64_t T, char *err)
{
	int64_t		t = 0;

	for (int32_t i = 0; i < n_items; i++)
	{
		const cu_seq *cs = items[i].seq->dev;

		if (cs == NULL)
			return cu_errf(err, "batch item %d has no device KV cache", i);
		for (int32_t j = 0; j < items[i].n_tokens; j++, t++)
		{
			b->h_tok[t] = items[i].tokens[j];
			b->h_tok[T + t] = items[i].seq->pos + j;
			b->h_tok[2 * T + t] = cs->cap;
			b->h_kv[t] = cs->buf;
		}
	}
	CU_CHECK(cudaMemcpyAsync(b->buf[B_TOK].p, b->h_tok, (size_t) T * 3 * sizeof(int32_t),
							 cudaMemcpyHostToDevice, b->st), "copying the batch");
	CU_CHECK(cudaMemcpyAsync(b->buf[B_KVP].p, b->h_kv, (size_t) T * sizeof(void *),
							 cudaMemcpyHostToDevice, b->st), "copying the batch");
	return 0;
}

/*
 * Logits of the last token of every item that asks, and the final hidden
 * states of the items that ask; copied to the host.
 */
static int
cu_outputs(llm_backend *b, const llm_model *m, const cu_model *cm, llm_batch_item *items,
		   int32_t n_items, int64_t T, int64_t n_out, float *const *hidden, char *err)
{
	const llm_model_info *in = &m->info;
	int64_t		E = in->n_embd,
				end = 0,
				o = 0;
	int			rc;

	for (int32_t i = 0; i < n_items; i++)
	{
		end += items[i].n_tokens;
		if (items[i].logits)
			CU_CHECK(cudaMemcpyAsync(BF(B_OUT) + (o++) * E, BF(B_X) + (end - 1) * E,
									 (size_t) E * sizeof(float), cudaMemcpyDeviceToDevice,
									 b->st), "gathering rows");
	}
	if (n_out > 0)
	{
		const cu_weight *w[1] = {&cm->output};
		float	   *y[1] = {BF(B_LOGITS)};
		int64_t		ld[1] = {in->n_vocab};

		CU_CHECK(cu_rmsnorm(BF(B_OUT), E, cm->output_norm, n_out, E, in->norm_eps, BF(B_OUT), E,
							b->st), "rmsnorm");
		if ((rc = cu_mm(b, BF(B_OUT), E, n_out, 1, w, y, ld, err)) < 0)
			return rc;
		o = 0;
		for (int32_t i = 0; i < n_items; i++)
			if (items[i].logits)
				CU_CHECK(cudaMemcpyAsync(items[i].logits, BF(B_LOGITS) + (o++) * in->n_vocab,
										 (size_t) in->n_vocab * sizeof(float),
										 cudaMemcpyDeviceToHost, b->st), "copying logits");
	}
	if (hidden)
	{
		int64_t		start = 0;

		if ((rc = cu_grow(b, B_HID, (size_t) T * E * sizeof(float), err)) < 0)
			return rc;
		CU_CHECK(cu_rmsnorm(BF(B_X), E, cm->output_norm, T, E, in->norm_eps, BF(B_HID), E, b->st),
				 "rmsnorm");
		for (int32_t i = 0; i < n_items; i++)
		{
			if (hidden[i])
				CU_CHECK(cudaMemcpyAsync(hidden[i], BF(B_HID) + start * E,
										 (size_t) items[i].n_tokens * E * sizeof(float),
										 cudaMemcpyDeviceToHost, b->st), "copying hidden states");
			start += items[i].n_tokens;
		}
	}
	return 0;
}

/*
 * The CUDA backend's step (see llm_backend_ops): items are validated and
 * their device caches have room (engine.c). Only the logits and hidden
 * states asked for come back to the host.
 */
static int
cu_step(llm_backend *b, const llm_model *m, llm_batch_item *items, int32_t n_items,
		int64_t T, int64_t n_out, float *const *hidden, char *err)
{
	const cu_model *cm = cu_find(b, m);
	int			rc;

	if (b->lost)
		return cu_errf(err, "the GPU is no longer usable"), LLM_ERR_DEVICE_LOST;
	if (cm == NULL)
		return cu_errf(err, "the model is not attached to the CUDA engine (llm_engine_attach)");
	if ((rc = cu_step_reserve(b, m, T, n_out, err)) < 0 ||
		(rc = cu_layout(b, items, n_items, T, err)) < 0)
		return rc;
	CU_CHECK(cu_get_rows(&cm->tok_embd, b->buf[B_TOK].p, T, m->embd_scale, BF(B_X), b->st),
			 "embedding rows");
	for (int l = 0; l < m->info.n_layer; l++)
		if ((rc = cu_layer_forward(b, m, cm, l, T, err)) < 0)
			return rc;
	if ((rc = cu_outputs(b, m, cm, items, n_items, T, n_out, hidden, err)) < 0)
		return rc;
	CU_CHECK(cudaStreamSynchronize(b->st), "the step");
	return 0;
}

const llm_backend_ops llm_backend_cuda = {
	.name = "cuda",
	.create = cu_create,
	.destroy = cu_destroy,
	.isa = cu_isa,
	.threads = cu_threads,
	.step = cu_step,
	.attach = cu_attach,
	.detach = cu_detach,
	.device_bytes = cu_device_bytes,
	.seq_reserve = cu_seq_reserve,
	.seq_dev_ops = &cu_seq_ops,
};

/*
 * The module's entry point (LLM_CUDA_ENTRY): the table, when the engine
 * that opens the module was built from the same structures.
 */
__attribute__((visibility("default"))) const llm_backend_ops *
llm_cuda_backend(uint32_t abi, size_t model_size, size_t seq_size, size_t ops_size, char *err)
{
	if (abi != LLM_BACKEND_ABI || model_size != sizeof(llm_model) ||
		seq_size != sizeof(llm_seq) || ops_size != sizeof(llm_backend_ops))
	{
		cu_errf(err, "llm_cuda.so was built for another version of llm (its ABI %u, the engine's %u)",
				(unsigned) LLM_BACKEND_ABI, (unsigned) abi);
		return NULL;
	}
	return &llm_backend_cuda;
}

/* ------------------------------------------------- kernel test entries */

/*
 * Entry points for test/unit/test_cuda.c, which checks each kernel
 * against the CPU reference: each creates a backend, copies its inputs to
 * the device, runs one launcher (or cu_mm) and copies the result back.
 * They return 0, LLM_ERR_NO_DEVICE without a GPU, or -1 with err.
 */

/* a backend for one test call, and device copies of its inputs */
typedef struct cu_test
{
	llm_backend *b;
	void	   *p[4];
	size_t		n[4];
} cu_test;

/*
 * Start a test call: a backend and up to four device buffers of n[i]
 * bytes, filled from src[i] when not NULL.
 */
static int
cu_test_begin(cu_test *t, const void *const *src, const size_t *n, int k, char *err)
{
	llm_backend *b;
	int			rc;

	memset(t, 0, sizeof(*t));
	rc = cu_create(&t->b, NULL, err);
	if (rc < 0)
		return rc;
	b = t->b;
	for (int i = 0; i < k; i++)
	{
		if ((rc = cu_alloc(b, &t->p[i], n[i], "test buffers", err)) < 0)
			return rc;
		t->n[i] = n[i];
		if (src[i])
			CU_CHECK(cudaMemcpy(t->p[i], src[i], n[i], cudaMemcpyHostToDevice), "test input");
	}
	return 0;
}

/*
 * Finish a test call: copy device buffer i (n bytes) to out, free all.
 */
static int
cu_test_end(cu_test *t, int i, void *out, size_t n, int rc, char *err)
{
	llm_backend *b = t->b;

	if (b == NULL)
		return rc;
	if (rc == 0)
	{
		cudaError_t crc = cudaStreamSynchronize(b->st);

		if (crc == cudaSuccess)
			crc = cudaMemcpy(out, t->p[i], n, cudaMemcpyDeviceToHost);
		if (crc != cudaSuccess)
			rc = cu_fail(b, crc, "test output", err);
	}
	for (int k = 0; k < 4; k++)
		cu_release(b, t->p[k], t->n[k]);
	cu_destroy(b);
	return rc;
}

/*
 * y[T, ne1] = x[T, ne0] @ W^T for a weight of type type (rows of
 * row_bytes); gemm picks the cuBLAS path (else dp4a / float matvec).
 */
__attribute__((visibility("default"))) int
llm_cuda_test_matmul(int type, int64_t ne0, int64_t ne1, size_t row_bytes, const void *w,
					 int64_t T, const float *x, float *y, int gemm, char *err)
{
	const void *src[3] = {w, x, NULL};
	size_t		n[3] = {row_bytes * (size_t) ne1, (size_t) (T * ne0) * sizeof(float),
		(size_t) (T * ne1) * sizeof(float)};
	cu_test		t;
	int			rc;

	if ((gemm && T < CU_GEMM_MIN_T) || (!gemm && T >= CU_GEMM_MIN_T))
		return cu_errf(err, "the %s path runs %s %d tokens", gemm ? "cuBLAS" : "matvec",
					   gemm ? "from" : "below", CU_GEMM_MIN_T);
	rc = cu_test_begin(&t, src, n, 3, err);
	if (rc == 0)
	{
		cu_weight	cw = {t.p[0], type, ne0, ne1, row_bytes};
		const cu_weight *ws[1] = {&cw};
		float	   *ys[1] = {t.p[2]};
		int64_t		ld[1] = {ne1};

		rc = cu_mm(t.b, t.p[1], ne0, T, 1, ws, ys, ld, err);
	}
	return cu_test_end(&t, 2, y, n[2], rc, err);
}

/*
 * out[n, ne0] = rows ids[0..n) of the weight, times scale (cu_get_rows).
 */
__attribute__((visibility("default"))) int
llm_cuda_test_rows(int type, int64_t ne0, int64_t ne1, size_t row_bytes, const void *w,
				   const int32_t *ids, int64_t nid, float scale, float *out, char *err)
{
	const void *src[3] = {w, ids, NULL};
	size_t		n[3] = {row_bytes * (size_t) ne1, (size_t) nid * sizeof(int32_t),
		(size_t) (nid * ne0) * sizeof(float)};
	cu_test		t;
	int			rc = cu_test_begin(&t, src, n, 3, err);

	if (rc == 0)
	{
		cu_weight	cw = {t.p[0], type, ne0, ne1, row_bytes};
		llm_backend *b = t.b;
		cudaError_t crc = cu_get_rows(&cw, t.p[1], nid, scale, t.p[2], b->st);

		if (crc != cudaSuccess)
			rc = cu_fail(b, crc, "cu_get_rows", err);
	}
	return cu_test_end(&t, 2, out, n[2], rc, err);
}

/*
 * out[rows, n] = rmsnorm of x's rows times w (cu_rmsnorm).
 */
__attribute__((visibility("default"))) int
llm_cuda_test_rmsnorm(const float *x, const float *w, int64_t rows, int64_t n, float eps,
					  float *out, char *err)
{
	const void *src[3] = {x, w, NULL};
	size_t		sz[3] = {(size_t) (rows * n) * sizeof(float), (size_t) n * sizeof(float),
		(size_t) (rows * n) * sizeof(float)};
	cu_test		t;
	int			rc = cu_test_begin(&t, src, sz, 3, err);

	if (rc == 0)
	{
		llm_backend *b = t.b;
		cudaError_t crc = cu_rmsnorm(t.p[0], n, t.p[1], rows, n, eps, t.p[2], n, b->st);

		if (crc != cudaSuccess)
			rc = cu_fail(b, crc, "cu_rmsnorm", err);
	}
	return cu_test_end(&t, 2, out, sz[2], rc, err);
}

/*
 * out[n] = act(g) * u, SiLU or GELU (cu_glu).
 */
__attribute__((visibility("default"))) int
llm_cuda_test_glu(const float *g, const float *u, int64_t n, int geglu, float *out, char *err)
{
	const void *src[2] = {g, u};
	size_t		sz[2] = {(size_t) n * sizeof(float), (size_t) n * sizeof(float)};
	cu_test		t;
	int			rc = cu_test_begin(&t, src, sz, 2, err);

	if (rc == 0)
	{
		llm_backend *b = t.b;
		cudaError_t crc = cu_glu(t.p[0], t.p[1], n, geglu, b->st);

		if (crc != cudaSuccess)
			rc = cu_fail(b, crc, "cu_glu", err);
	}
	return cu_test_end(&t, 0, out, sz[0], rc, err);
}
