/*
 * pg_requests.c - the function behind the llm_requests view: one row per
 * request that is queued or running, so that a DBA can watch a long
 * UPDATE go through the worker.
 *
 * It reads the request slots under the shared lock and never waits for
 * the worker. Generation requests show their progress (prompt tokens,
 * tokens generated so far), which the worker publishes after every step.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pg_llm.h"

PG_FUNCTION_INFO_V1(llm_requests);

#define LLM_REQUESTS_COLS 9

/*
 * The SQL name of a request kind.
 */
static const char *
kind_name(LlmReqKind kind)
{
	switch (kind)
	{
		case LLM_REQ_GENERATE:
			return "generate";
		case LLM_REQ_CHAT:
			return "chat";
		case LLM_REQ_TOKENIZE:
			return "tokenize";
		case LLM_REQ_DETOKENIZE:
			return "detokenize";
		case LLM_REQ_LOAD:
			return "load";
		case LLM_REQ_UNLOAD:
			return "unload";
		case LLM_REQ_EMBED:
			return "embed";
	}
	return "unknown";
}

/*
 * The model a slot names, as a user would: "" means the default
 * (generation or embedding) model, shown by its name when one is loaded.
 */
static const char *
slot_model(const LlmSlot *s, const LlmModelEntry *models)
{
	if (s->model[0] != '\0')
		return s->model;
	for (int i = 0; i < LLM_MAX_MODELS; i++)
	{
		if (!models[i].in_use)
			continue;
		if (s->kind == LLM_REQ_EMBED ? models[i].is_default_embedding : models[i].is_default)
			return models[i].name;
	}
	return NULL;
}

/*
 * llm_requests() -> SETOF (request_id, pid, model, kind, state,
 *   prompt_tokens, generated_tokens, max_tokens, since)
 * state is 'queued' or 'running'; since is when it entered that state.
 */
Datum
llm_requests(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LlmSlot    *copy;
	LlmModelEntry models[LLM_MAX_MODELS];
	int			n = 0;

	llm_require_shared();
	InitMaterializedSRF(fcinfo, 0);

	copy = palloc(sizeof(LlmSlot) * llm_shared->n_slots);
	LWLockAcquire(llm_shared->lock, LW_SHARED);
	for (int i = 0; i < llm_shared->n_slots; i++)
	{
		LlmSlotState st = llm_shared->slots[i].state;

		if (st == LLM_SLOT_QUEUED || st == LLM_SLOT_RUNNING)
			copy[n++] = llm_shared->slots[i];
	}
	memcpy(models, llm_shared->models, sizeof(models));
	LWLockRelease(llm_shared->lock);

	for (int i = 0; i < n; i++)
	{
		const LlmSlot *s = &copy[i];
		Datum		values[LLM_REQUESTS_COLS];
		bool		nulls[LLM_REQUESTS_COLS];
		const char *model = slot_model(s, models);
		bool		running = s->state == LLM_SLOT_RUNNING;
		bool		gen = s->kind == LLM_REQ_GENERATE || s->kind == LLM_REQ_CHAT;

		memset(nulls, false, sizeof(nulls));
		values[0] = Int64GetDatum((int64) s->request_id);
		values[1] = Int32GetDatum(s->owner_pid);
		if (model)
			values[2] = CStringGetTextDatum(model);
		else
			nulls[2] = true;
		values[3] = CStringGetTextDatum(kind_name(s->kind));
		values[4] = CStringGetTextDatum(running ? "running" : "queued");
		if (gen && running)
		{
			values[5] = Int32GetDatum(s->n_prompt);
			values[6] = Int32GetDatum(s->n_generated);
		}
		else
			nulls[5] = nulls[6] = true;
		if (gen)
			values[7] = Int32GetDatum(s->opt.max_tokens);
		else
			nulls[7] = true;
		values[8] = TimestampTzGetDatum(running ? s->started_at : s->enqueued_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}
