/*
 * pg_embed.c - sentence embeddings: the SQL functions llm_embed() and
 * llm_embed_batch(), and the worker's embedding batches.
 *
 * Backend side: every text becomes one LLM_REQ_EMBED request (UTF-8 text
 * in, float4[dim] out), so llm_embed_batch() puts many texts into the
 * queue at once and concurrent sessions' texts meet in the worker.
 *
 * Worker side: llm_we_take() resolves the model and keeps the request;
 * llm_we_run(), called between generation steps, takes up to
 * WE_CHUNK_TEXTS pending texts of one model and truncation mode, oldest
 * first, and embeds them with one llm_embed_batch() call, which sorts
 * them by length and packs them into batches (each text attends only to
 * its own tokens, so no padding is computed). A text's vector does not
 * depend on the other texts of its batch: the float kernels compute
 * every output element with the same operations whatever the batch
 * (fgemm.h). If a chunk fails (e.g. one text too long under
 * llm.truncation = error), its texts are retried one by one so that only
 * the faulty one gets the error.
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "llm_embed.h"
#include "pg_llm.h"

PG_FUNCTION_INFO_V1(llm_embed_sql);
PG_FUNCTION_INFO_V1(llm_embed_batch_sql);

/* texts per llm_embed_batch() call: bounds the pause of generation */
#define WE_CHUNK_TEXTS 64

/* ============================================================ backend */

/*
 * Build an EMBED request for one text (database encoding in, UTF-8 out),
 * for model name (already validated, "" = llm.default_embedding_model).
 */
static void
embed_build(LlmRequest *req, text *t, const char *model)
{
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	char	   *conv = pg_server_to_any(s, len, PG_UTF8);

	llm_request_init(req, LLM_REQ_EMBED);
	strlcpy(req->model, model, LLM_NAME_LEN);
	req->opt.truncation = llm_guc_truncation;
	if (conv != s)
		len = strlen(conv);
	req->input = palloc(len + 1);
	memcpy(req->input, conv, len);
	req->input[len] = '\0';
	req->input_len = len;
}

/*
 * A real[] from the float4 result bytes of an EMBED request.
 */
static ArrayType *
embed_array(const LlmRequest *req)
{
	int			n = (int) (req->output_len / sizeof(float4));
	Datum	   *d;
	const char *p = req->output;

	if (n <= 0 || req->output_len % sizeof(float4) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("llm worker returned a malformed embedding of %zu bytes",
						(size_t) req->output_len)));
	d = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		float4		f;

		memcpy(&f, p + i * sizeof(float4), sizeof(float4));
		d[i] = Float4GetDatum(f);
	}
	return construct_array_builtin(d, n, FLOAT4OID);
}

/*
 * The real[] value of a finished EMBED request (llm_embed, and the
 * batching node).
 */
Datum
llm_embed_result(const LlmRequest *req)
{
	return PointerGetDatum(embed_array(req));
}

/*
 * Build the request of one llm_embed call from its arguments; returns
 * false, with req->skip set, when the input is NULL (the result is NULL).
 */
bool
llm_embed_build(FunctionCallInfo fcinfo, LlmRequest *req)
{
	LlmRequest	tmp;

	llm_require_shared();
	if (PG_ARGISNULL(0))
	{
		llm_request_init(req, LLM_REQ_EMBED);
		req->skip = true;
		return false;
	}
	llm_request_init(&tmp, LLM_REQ_EMBED);
	llm_parse_model_arg(fcinfo, 1, &tmp);
	embed_build(req, PG_GETARG_TEXT_PP(0), tmp.model);
	return true;
}

/*
 * llm_embed(input text, model text DEFAULT NULL) -> real[]
 * NULL input gives NULL; model NULL means llm.default_embedding_model.
 */
Datum
llm_embed_sql(PG_FUNCTION_ARGS)
{
	LlmRequest	req;

	if (!llm_embed_build(fcinfo, &req))
		PG_RETURN_NULL();
	llm_run_requests(&req, 1);
	return llm_embed_result(&req);
}

/*
 * llm_embed_batch(inputs text[], model text DEFAULT NULL) ->
 *   TABLE(ord int, embedding real[])
 * All texts are queued at once so that the worker embeds them together;
 * ord is the 1-based position in inputs, NULL elements give NULL.
 */
Datum
llm_embed_batch_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	LlmRequest *reqs;
	LlmRequest	tmp;

	llm_require_shared();
	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	llm_request_init(&tmp, LLM_REQ_EMBED);
	llm_parse_model_arg(fcinfo, 1, &tmp);
	n = llm_text_array_arg(fcinfo, 0, "inputs", &elems, &nulls);
	if (n == 0)
		PG_RETURN_NULL();

	reqs = palloc(sizeof(LlmRequest) * n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
		{
			llm_request_init(&reqs[i], LLM_REQ_EMBED);
			reqs[i].skip = true;
			continue;
		}
		embed_build(&reqs[i], DatumGetTextPP(elems[i]), tmp.model);
	}
	llm_run_requests(reqs, n);

	llm_put_batch_rows(rsinfo, reqs, n, llm_embed_result);
	PG_RETURN_NULL();
}

/* ============================================================= worker */

/* an embedding request the worker has taken */
typedef struct WEmb
{
	int			slot;
	uint64		request_id;
	int			model;			/* index into llm_wmodels */
	int32		truncation;		/* llm_truncation of the caller */
	char	   *input;			/* UTF-8 text (worker memory) */
	Size		len;
} WEmb;

static WEmb *we_list;
static int	we_n;
static int	we_cap;
static llm_embed_ctx *we_ctx;

/*
 * Take an EMBED request from the queue (input is the worker's copy and
 * now belongs to this module). Unknown models fail at once.
 */
void
llm_we_take(const LlmSlot *s, int slotno, char *input)
{
	LlmWErr		e;
	int			mi = llm_wm_request_embed_model(s->model, &e);

	if (mi < 0)
	{
		llm_reply_complete(slotno, s->request_id, &e, NULL, 0, 0, 0, 0);
		pfree(input);
		return;
	}
	if (we_n == we_cap)
	{
		int			cap = we_cap ? we_cap * 2 : 64;

		we_list = we_list ? repalloc(we_list, sizeof(WEmb) * cap)
			: MemoryContextAlloc(TopMemoryContext, sizeof(WEmb) * cap);
		we_cap = cap;
	}
	we_list[we_n].slot = slotno;
	we_list[we_n].request_id = s->request_id;
	we_list[we_n].model = mi;
	we_list[we_n].truncation = s->opt.truncation;
	we_list[we_n].input = input;
	we_list[we_n].len = s->input_len;
	we_n++;
}

/* Whether embedding requests are waiting. */
bool
llm_we_pending(void)
{
	return we_n > 0;
}

/*
 * Whether the worker may take more embedding requests from the queue: it
 * holds at most Max(llm.max_batch, WE_CHUNK_TEXTS) texts at once, so
 * that embedding texts, like generation requests, wait in the queue (and
 * count against the submitters' share of its slots) instead of piling up
 * in the worker's memory.
 */
bool
llm_we_room(void)
{
	return we_n < Max(llm_guc_max_batch, WE_CHUNK_TEXTS);
}

/*
 * Drop pending request k (its slot has been completed or freed).
 */
static void
we_remove(int k)
{
	pfree(we_list[k].input);
	memmove(&we_list[k], &we_list[k + 1], sizeof(WEmb) * (we_n - k - 1));
	we_n--;
}

/*
 * Fail every pending request of model mi (it is being unloaded).
 */
void
llm_we_fail_model(int mi, const char *why)
{
	for (int k = we_n - 1; k >= 0; k--)
		if (we_list[k].model == mi)
		{
			llm_reply_fail(we_list[k].slot, we_list[k].request_id,
							ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, why, NULL,
							"Load the model again with llm_load_model() and repeat the call.");
			we_remove(k);
		}
}

/*
 * Whether request k was cancelled by its backend; such a slot is freed
 * here (llm_worker_complete frees a CANCELLED slot).
 */
static bool
we_cancelled(int k)
{
	bool		cancelled;
	LlmSlot    *slot = &llm_shared->slots[we_list[k].slot];

	LWLockAcquire(llm_shared->lock, LW_SHARED);
	cancelled = slot->request_id != we_list[k].request_id ||
		slot->state == LLM_SLOT_CANCELLED;
	LWLockRelease(llm_shared->lock);
	if (cancelled)
		llm_reply_complete(we_list[k].slot, we_list[k].request_id, NULL, NULL, 0, 0, 0, 0);
	return cancelled;
}

/*
 * The engine's truncation mode for the caller's llm.truncation.
 */
static llm_embed_truncation
we_mode(int32 truncation)
{
	switch (truncation)
	{
		case LLM_TRUNC_LEFT:
			return LLM_TRUNCATE_START;
		case LLM_TRUNC_RIGHT:
			return LLM_TRUNCATE_END;
		default:
			return LLM_TRUNCATE_ERROR;
	}
}

/*
 * Turn an engine error of an embedding into a request error.
 */
static void
we_error(LlmWErr *e, const char *err)
{
	int			idx,
				have,
				max;

	if (strcmp(err, LLM_ABORT_MSG) == 0)
		llm_werr_set(e, ERRCODE_ADMIN_SHUTDOWN, "could not compute the embedding",
					 "The llm worker was stopped while it computed the embedding.",
					 "Run the query again when the worker is back.");
	else if (sscanf(err, "text %d has %d tokens, the model takes %d", &idx, &have, &max) == 3 ||
			 sscanf(err, "text %d has more than %d tokens, the model takes %d", &idx, &have, &max) == 3)
	{
		char		detail[LLM_MSG_LEN];

		/* a long text is counted only up to a bound (bert.c) */
		snprintf(detail, sizeof(detail), "The text has %s%d tokens; the model takes at most %d.",
				 strstr(err, "more than") ? "more than " : "", have, max);
		llm_werr_set(e, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "text is too long for the embedding model",
					 detail, "Shorten the text, or set llm.truncation to right (keep the start) or left (keep the end).");
	}
	else
		llm_werr_set(e, ERRCODE_DATA_EXCEPTION, "could not compute the embedding", err,
					 "Check that the text is valid UTF-8.");
}

/*
 * Embed n texts of model mi into out. The context (llm.threads threads,
 * 0: one per CPU) is made on first use; the engine asks
 * llm_worker_interrupt_check between texts and batches, so a shutdown
 * or a ProcSignal barrier does not wait for the whole chunk.
 */
static int
we_embed(int mi, const char *const *texts, const size_t *lens, int n, float *out,
		 llm_embed_truncation mode, char *err)
{
	int			rc;

	if (we_ctx == NULL)
	{
		if (llm_embed_ctx_new(&we_ctx, llm_guc_threads, NULL, err) != 0)
		{
			we_ctx = NULL;
			return -1;
		}
		llm_embed_ctx_set_abort(we_ctx, llm_worker_interrupt_check, NULL);
		ereport(LOG,
				(errmsg("llm worker embedding context: %d threads",
						llm_embed_ctx_threads(we_ctx))));
	}
	rc = llm_embed_batch(we_ctx, llm_wmodels[mi].em, texts, lens, n, out, mode, err);
	llm_worker_rethrow();
	return rc;
}

/*
 * Run one chunk of pending embedding requests: the oldest request's model
 * and truncation mode, up to WE_CHUNK_TEXTS texts.
 */
void
llm_we_run(void)
{
	int			pick[WE_CHUNK_TEXTS];
	const char *texts[WE_CHUNK_TEXTS];
	size_t		lens[WE_CHUNK_TEXTS];
	int			n = 0,
				mi,
				dim;
	int32		trunc;
	llm_embed_info info;
	float	   *out;
	char		err[LLM_ERRLEN];
	double		t0,
				t1;
	int64		tokens0;

	/* drop cancelled requests first */
	for (int k = we_n - 1; k >= 0; k--)
		if (we_cancelled(k))
			we_remove(k);
	if (we_n == 0)
		return;

	mi = we_list[0].model;
	trunc = we_list[0].truncation;
	for (int k = 0; k < we_n && n < WE_CHUNK_TEXTS; k++)
		if (we_list[k].model == mi && we_list[k].truncation == trunc)
		{
			pick[n] = k;
			texts[n] = we_list[k].input;
			lens[n] = we_list[k].len;
			n++;
		}
	llm_embed_model_info(llm_wmodels[mi].em, &info);
	dim = info.dim;
	out = palloc(sizeof(float) * (Size) dim * n);

	/* the context counts the tokens it embeds (created on first use) */
	tokens0 = we_ctx ? llm_embed_ctx_tokens(we_ctx) : 0;
	err[0] = '\0';
	t0 = llm_time_sec();
	if (we_embed(mi, texts, lens, n, out, we_mode(trunc), err) == 0)
	{
		t1 = llm_time_sec();
		for (int i = 0; i < n; i++)
			llm_reply_complete(we_list[pick[i]].slot, we_list[pick[i]].request_id, NULL,
								out + (Size) i * dim, sizeof(float) * dim, 0, 0, 0);
	}
	else
	{
		/* find the faulty text(s): one by one */
		for (int i = 0; i < n; i++)
		{
			LlmWErr		e;

			err[0] = '\0';
			if (we_embed(mi, &texts[i], &lens[i], 1, out, we_mode(trunc), err) == 0)
				llm_reply_complete(we_list[pick[i]].slot, we_list[pick[i]].request_id, NULL,
									out, sizeof(float) * dim, 0, 0, 0);
			else
			{
				we_error(&e, err);
				llm_reply_complete(we_list[pick[i]].slot, we_list[pick[i]].request_id, &e,
									NULL, 0, 0, 0, 0);
			}
		}
		t1 = llm_time_sec();
	}
	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	llm_shared->embed_seconds += t1 - t0;
	llm_shared->embed_batches++;
	if (we_ctx)
		llm_shared->embed_tokens += llm_embed_ctx_tokens(we_ctx) - tokens0;
	LWLockRelease(llm_shared->lock);

	for (int i = n - 1; i >= 0; i--)
		we_remove(pick[i]);
	pfree(out);
}
