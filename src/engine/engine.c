/*
 * engine.c - the engine object: picks a compute backend and checks every
 * batch before the backend runs it.
 *
 * Only the CPU backend exists in this build; the CUDA backend will be a
 * separately loaded module providing another llm_backend_ops table.
 */
#include "model_int.h"

#include <stdlib.h>
#include <string.h>

struct llm_engine
{
	const llm_backend_ops *ops;
	llm_backend *b;
};

/*
 * Create an engine on the requested device.
 */
int
llm_engine_new(llm_engine **out, const llm_engine_params *p, char *err)
{
	const char *dev = p && p->device ? p->device : "auto";
	llm_engine *e;

	*out = NULL;
	if (strcmp(dev, "cuda") == 0)
		return llm_err(err, "the CUDA backend is not available in this build");
	if (strcmp(dev, "auto") != 0 && strcmp(dev, "cpu") != 0)
		return llm_err(err, "unknown device \"%s\" (use auto, cpu or cuda)", dev);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return llm_err(err, "out of memory");
	e->ops = &llm_backend_cpu;
	if (e->ops->create(&e->b, p, err) < 0)
	{
		free(e);
		return -1;
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
 * Check a batch: every item has tokens, a sequence of model m with room
 * for them, token ids in range, and no two items share a sequence.
 * Counts the tokens and the logit rows wanted.
 */
static int
llm_engine_check(const llm_model *m, const llm_batch_item *items, int32_t n_items,
				 int64_t *n_tokens, int64_t *n_out, char *err)
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

	if (llm_engine_check(m, items, n_items, &n_tokens, &n_out, err) < 0)
		return -1;
	for (i = 0; i < n_items; i++)
		if (llm_seq_reserve(items[i].seq, items[i].n_tokens, err) < 0)
			return -1;
	if (e->ops->step(e->b, m, items, n_items, n_tokens, n_out, hidden, err) < 0)
		return -1;
	for (i = 0; i < n_items; i++)
		items[i].seq->pos += items[i].n_tokens;
	return 0;
}
