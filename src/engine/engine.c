/*
 * engine.c - the engine object: picks a compute backend and checks every
 * batch before the backend runs it.
 *
 * The CPU backend (forward.c) is linked in; the CUDA backend is the module
 * llm_cuda.so (kernels/), opened here with dlopen when the device asked
 * for is "cuda" or "auto" and never before, so that a process which only
 * runs CPU engines (or none) never starts the CUDA runtime.
 */
#include "model_int.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct llm_engine
{
	const llm_backend_ops *ops;
	llm_backend *b;
	char		note[LLM_ERRLEN];	/* why "auto" runs on the CPU */
};

/*
 * Where llm_cuda.so is: the caller's path, else $LLM_CUDA_MODULE, else
 * the first of <program dir>/llm_cuda.so and <program dir>/../lib/llm/
 * llm_cuda.so that exists. Writes the path into buf; false when none.
 */
static bool
cuda_module_path(const llm_engine_params *p, char *buf, size_t len)
{
	const char *env = getenv("LLM_CUDA_MODULE");
	char		exe[PATH_MAX];
	ssize_t		n;
	char	   *slash;

	if (p && p->cuda_module && p->cuda_module[0])
		return snprintf(buf, len, "%s", p->cuda_module) < (int) len;
	if (env && env[0])
		return snprintf(buf, len, "%s", env) < (int) len;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return false;
	*slash = '\0';
	if (snprintf(buf, len, "%s/llm_cuda.so", exe) < (int) len && access(buf, R_OK) == 0)
		return true;
	if (snprintf(buf, len, "%s/../lib/llm/llm_cuda.so", exe) < (int) len &&
		access(buf, R_OK) == 0)
		return true;
	return false;
}

/*
 * Open the CUDA module and create its backend. LLM_ERR_NO_DEVICE when the
 * module is found but sees no device, -1 for any other failure (no module,
 * a module of another build, a CUDA error); err says which.
 */
static int
cuda_open(llm_engine *e, const llm_engine_params *p, char *err)
{
	char		path[PATH_MAX];
	void	   *dl;
	llm_backend_entry_fn entry;
	const llm_backend_ops *ops;
	int			rc;

	if (!cuda_module_path(p, path, sizeof(path)))
		return llm_err(err, "the CUDA backend module llm_cuda.so was not found "
					   "(this build has no CUDA backend, or set LLM_CUDA_MODULE)");
	/* never unloaded: the CUDA runtime does not support being unmapped */
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (dl == NULL)
	{
		const char *why = dlerror();

		return llm_err(err, "could not load the CUDA backend module: %s",
					   why ? why : path);
	}
	*(void **) (&entry) = dlsym(dl, LLM_CUDA_ENTRY);
	if (entry == NULL)
		return llm_err(err, "%s is not an llm CUDA module (no %s)", path, LLM_CUDA_ENTRY);
	ops = entry(LLM_BACKEND_ABI, sizeof(llm_model), sizeof(llm_seq),
				sizeof(llm_backend_ops), err);
	if (ops == NULL)
		return -1;
	rc = ops->create(&e->b, p, err);
	if (rc < 0)
		return rc == LLM_ERR_NO_DEVICE ? LLM_ERR_NO_DEVICE : -1;
	e->ops = ops;
	return 0;
}

/*
 * Create an engine on the requested device.
 */
int
llm_engine_new(llm_engine **out, const llm_engine_params *p, char *err)
{
	const char *dev = p && p->device ? p->device : "auto";
	llm_engine *e;
	int			rc;

	*out = NULL;
	if (strcmp(dev, "auto") != 0 && strcmp(dev, "cpu") != 0 && strcmp(dev, "cuda") != 0)
		return llm_err(err, "unknown device \"%s\" (use auto, cpu or cuda)", dev);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return llm_err(err, "out of memory");
	if (strcmp(dev, "cpu") != 0)
	{
		rc = cuda_open(e, p, err);
		if (rc < 0 && strcmp(dev, "cuda") == 0)
		{
			free(e);
			return rc;
		}
		if (rc < 0)
			snprintf(e->note, sizeof(e->note), "%s", err);
		err[0] = '\0';
	}
	if (e->ops == NULL)
	{
		e->ops = &llm_backend_cpu;
		if (e->ops->create(&e->b, p, err) < 0)
		{
			free(e);
			return -1;
		}
	}
	*out = e;
	return 0;
}

void
llm_engine_free(llm_engine *e)
{
	if (e == NULL)
		return;
	e->ops->destroy(e->b);
	free(e);
}

const char *
llm_engine_isa(const llm_engine *e)
{
	return e->ops->isa(e->b);
}

const char *
llm_engine_device(const llm_engine *e)
{
	return e->ops->name;
}

int32_t
llm_engine_threads(const llm_engine *e)
{
	return e->ops->threads(e->b);
}

/*
 * Why "auto" chose the CPU ("" when it did not, or was not asked).
 */
const char *
llm_engine_note(const llm_engine *e)
{
	return e->note;
}

/*
 * Make m ready on e's device (see llm_engine.h).
 */
int
llm_engine_attach(llm_engine *e, llm_model *m, char *err)
{
	return e->ops->attach ? e->ops->attach(e->b, m, err) : 0;
}

/*
 * Free what m holds on e's device.
 */
void
llm_engine_detach(llm_engine *e, const llm_model *m)
{
	if (e != NULL && e->ops->detach)
		e->ops->detach(e->b, m);
}

/*
 * Device bytes of m on e (0 on the CPU).
 */
uint64_t
llm_engine_device_bytes(const llm_engine *e, const llm_model *m)
{
	return e->ops->device_bytes ? e->ops->device_bytes(e->b, m) : 0;
}

/*
 * Check a batch: every item has tokens, a sequence of model m with room
 * for them (whose KV cache, if on a device, is one of dev_ops, the
 * engine's), token ids in range, and no two items share a sequence.
 * Counts the tokens and the logit rows wanted.
 */
static int
llm_engine_check(const llm_model *m, const llm_batch_item *items, int32_t n_items,
				 const llm_seq_dev_ops *dev_ops, int64_t *n_tokens, int64_t *n_out,
				 char *err)
{
	int32_t		i,
				j;

	*n_tokens = 0;
	*n_out = 0;
	if (n_items <= 0 || items == NULL)
		return llm_err(err, "empty batch");
	for (i = 0; i < n_items; i++)
	{
		const llm_batch_item *it = &items[i];

		if (it->seq == NULL || it->seq->model != m)
			return llm_err(err, "batch item %d has no sequence of this model", i);
		if (it->seq->dev_ops != NULL && it->seq->dev_ops != dev_ops)
			return llm_err(err, "batch item %d has a sequence whose KV cache is on another device", i);
		if (it->n_tokens <= 0 || it->tokens == NULL)
			return llm_err(err, "batch item %d has no tokens", i);
		if ((int64_t) it->seq->pos + it->n_tokens > it->seq->max_pos)
			return llm_err(err, "batch item %d does not fit its sequence (%d + %d > %d)",
						   i, it->seq->pos, it->n_tokens, it->seq->max_pos);
		for (j = 0; j < it->n_tokens; j++)
			if (it->tokens[j] < 0 || it->tokens[j] >= m->info.n_vocab)
				return llm_err(err, "token id %d is out of range (0..%d)",
							   it->tokens[j], m->info.n_vocab - 1);
		for (j = 0; j < i; j++)
			if (items[j].seq == it->seq)
				return llm_err(err, "batch items %d and %d share a sequence", j, i);
		*n_tokens += it->n_tokens;
		if (it->logits)
			(*n_out)++;
	}
	return 0;
}

/*
 * Run one batched forward step. See llm_engine.h.
 */
int
llm_engine_step(llm_engine *e, const llm_model *m, llm_batch_item *items,
				int32_t n_items, char *err)
{
	return llm_engine_step_hidden(e, m, items, n_items, NULL, err);
}

/*
 * Run one batched forward step, returning hidden states where asked.
 * See llm_engine.h.
 */
int
llm_engine_step_hidden(llm_engine *e, const llm_model *m, llm_batch_item *items,
					   int32_t n_items, float *const *hidden, char *err)
{
	int64_t		n_tokens,
				n_out;
	int32_t		i;

	int			rc;

	if (llm_engine_check(m, items, n_items, e->ops->seq_dev_ops, &n_tokens, &n_out, err) < 0)
		return -1;
	for (i = 0; i < n_items; i++)
	{
		if (e->ops->seq_reserve)
			rc = e->ops->seq_reserve(e->b, items[i].seq, items[i].n_tokens, err);
		else
			rc = llm_seq_reserve(items[i].seq, items[i].n_tokens, err);
		if (rc < 0)
			return rc;
	}
	rc = e->ops->step(e->b, m, items, n_items, n_tokens, n_out, hidden, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < n_items; i++)
		items[i].seq->pos += items[i].n_tokens;
	return 0;
}
