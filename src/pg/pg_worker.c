/*
 * pg_worker.c - the "llm worker" background process.
 *
 * One worker owns every loaded model (GGUF files mapped read-only) and one
 * llm_engine with llm.threads threads. Its loop does continuous batching:
 *
 *   1. handle signals: SIGTERM ends the loop, SIGHUP re-reads the
 *      configuration (and loads a changed llm.default_model);
 *   2. drop requests whose backend gave up (slot CANCELLED);
 *   3. admit queued requests while llm.max_batch and the KV-cache budget
 *      llm.kv_cache_mb allow, taking first from the backend served
 *      longest ago (fair between sessions), oldest first within one.
 *      Short requests (tokenize, detokenize, load, unload) are answered
 *      on the spot, but at most LLM_SYNC_BYTES of input or one load per
 *      round, so that the next step is not held up. Embedding requests
 *      are collected (a bounded number, llm_we_room) and run together,
 *      packed into length-sorted batches, between generation steps
 *      (pg_embed.c);
 *   4. for every model with running requests build one batch - each
 *      request contributes its next prompt chunk (at most
 *      llm.prefill_chunk tokens) or its last sampled token - and call
 *      llm_engine_step() once; then llm_gen_advance() each request and
 *      publish the finished ones.
 * With nothing to run it sleeps on its latch, which backends set when they
 * submit or cancel. The model registry and the tokenize and load requests
 * live in pg_models.c, embedding requests in pg_embed.c; how a result is
 * published into its slot is pg_reply.c's. This loop calls those files,
 * none of them calls back into it.
 *
 * Errors of a request (bad prompt, unknown model, engine failure) go back
 * to its backend as an ERROR; the worker carries on. Anything PostgreSQL
 * itself raises here is FATAL (a background worker has no error
 * recovery): the exit callback then fails every pending request so that
 * waiting backends learn at once, and the postmaster restarts the worker
 * after bgw_restart_time. Each start bumps the worker generation in
 * shared memory, so nothing admitted by an older worker can be mistaken
 * for a current request.
 *
 * The engine runs its own threads. They must never run PostgreSQL signal
 * handlers: the engine creates them with every signal blocked (its thread
 * pool blocks them around pthread_create), so signals always reach this
 * process's own thread, whose mask is PostgreSQL's throughout, engine
 * calls included. SIGTERM and SIGQUIT therefore act at once; long engine
 * calls (model loads, embedding batches, prompt tokenizations) run
 * llm_worker_interrupt_check
 * between units of work, which stops them on a shutdown request and
 * serves ProcSignal barriers (pg_reply.c).
 */
#include "postgres.h"

#include <unistd.h>

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <malloc.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "llm_engine.h"
#include "pg_llm.h"

#define LLM_WORKER_RESTART_SEC	3
#define LLM_IDLE_WAIT_MS		1000

/* malloc thresholds of the worker (worker_malloc_settings) */
#define LLM_MMAP_THRESHOLD		(1024 * 1024)
#define LLM_TRIM_THRESHOLD		(4 * 1024 * 1024)

/*
 * Work the worker does synchronously (tokenizing, loading, copying input)
 * between two batch steps: after this many input bytes, or after one
 * model load or unload, it runs a step before taking more requests.
 */
#define LLM_SYNC_BYTES			(256 * 1024)

/*
 * A prompt longer than this is tokenized in parts (llm_tok_job) between
 * the batch's steps; a shorter one at once.
 */
#define LLM_TOK_PART_BYTES		(64 * 1024)

/*
 * Tokenizing in parts: each loop round runs parts of about
 * LLM_TOK_SLICE_BYTES of work (a few milliseconds) until LLM_TOK_ROUND_MS
 * have passed or LLM_TOK_PART_BYTES of work are done, then the step: a
 * round is bounded in time as well as in bytes, whatever a byte of the
 * text costs.
 */
#define LLM_TOK_SLICE_BYTES		(16 * 1024)
#define LLM_TOK_ROUND_MS		20

/* when a backend last had a request admitted (fair admission) */
typedef struct WOwner
{
	int			pid;
	uint64		served;			/* value of W.serve_clock then */
} WOwner;

/* a request this worker has admitted */
typedef struct WReq
{
	int			slot;
	uint64		request_id;
	int			model;			/* index into models */
	int			owner_pid;		/* the backend that submitted it */
	Oid			role;			/* its role: prefix-cache reuse stays within it */
	llm_gen    *gen;
	char	   *input;			/* local copy of the slot input */
	const char **stops;
	llm_json_schema *schema;	/* compiled json_schema, or NULL */
	int64		kv_bytes;		/* reserved KV-cache bytes */
	llm_tok_job *job;			/* set: its prompt is still being tokenized */
	llm_gen_params params;		/* with job: how to start gen afterwards */
	char	   *rendered;		/* with job: a chat's prompt (malloc'd) */
	llm_text_span *marks;		/* with job: its special marks (malloc'd) */
	bool		tokenize;		/* an llm_tokenize request: job, no gen */
	llm_embed_tok_job *ejob;	/* set: its text is still being tokenized
								 * by an embedding model (tokenize only) */
	bool		active;			/* false: waiting for KV-cache budget */
	bool		failed;			/* answered with an error, remove */
	llm_batch_item item;
} WReq;

typedef struct LlmWorkerState
{
	MemoryContext cxt;
	llm_engine *engine;
	uint64		gen;
	WReq	   *reqs;
	int			n_reqs;
	int			cap_reqs;
	int64		kv_used;
	char		broken[LLM_MSG_LEN];	/* set: cannot serve, fail every request */
	char		broken_detail[LLM_MSG_LEN];
	char		broken_hint[LLM_MSG_LEN];
	WOwner	   *owners;			/* backends served lately */
	int			n_owners;
	int			cap_owners;
	uint64		serve_clock;
	bool		worked;			/* ran a step or embedding batch since the last
								 * heap trim */
} LlmWorkerState;

static LlmWorkerState W;

/*
 * Register the worker with the postmaster (called from _PG_init).
 */
void
llm_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = LLM_WORKER_RESTART_SEC;
	strlcpy(worker.bgw_library_name, "llm", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "llm_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "llm worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "llm worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* ---------------------------------------------------------- requests */

/* Release a request's local resources and its KV reservation. */
static void
worker_req_release(WReq *r)
{
	if (r->active)
	{
		W.kv_used -= r->kv_bytes;
		llm_wmodels[r->model].kv_reserved -= r->kv_bytes;
	}
	if (r->gen)
		llm_gen_free(r->gen);
	llm_tok_job_free(r->job);
	llm_embed_tok_job_free(r->ejob);
	free(r->rendered);
	free(r->marks);
	r->job = NULL;
	r->ejob = NULL;
	r->rendered = NULL;
	r->marks = NULL;
	if (r->input)
		pfree(r->input);
	if (r->stops)
		pfree(r->stops);
	llm_json_schema_free(r->schema);
	r->schema = NULL;
	r->gen = NULL;
	r->input = NULL;
	r->stops = NULL;
	r->active = false;
}

/* Remove request k from the list (order is kept: oldest first). */
static void
worker_req_remove(int k)
{
	worker_req_release(&W.reqs[k]);
	memmove(&W.reqs[k], &W.reqs[k + 1], sizeof(WReq) * (W.n_reqs - k - 1));
	W.n_reqs--;
}

/* Fail every generation request of model mi (it is being unloaded). */
static void
worker_fail_model_requests(int mi, const char *why)
{
	for (int k = W.n_reqs - 1; k >= 0; k--)
	{
		if (W.reqs[k].model != mi)
			continue;
		llm_reply_fail(W.reqs[k].slot, W.reqs[k].request_id,
					ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, why, NULL,
					"Load the model again with llm_load_model() and repeat the call.");
		worker_req_remove(k);
	}
}

/*
 * Answer an UNLOAD request on the spot: the model's running generation
 * and embedding requests fail, then the registry unmaps it.
 */
static void
worker_unload(const LlmSlot *s, int slotno, LlmWErr *e)
{
	char		msg[LLM_MSG_LEN];
	int			mi = llm_wm_find(s->model);

	if (mi < 0)
	{
		snprintf(msg, sizeof(msg), "model \"%s\" is not loaded", s->model);
		llm_werr_set(e, ERRCODE_UNDEFINED_OBJECT, msg, NULL,
					 "The llm_models view lists the loaded models.");
		llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
		return;
	}
	if (!llm_wm_may_unload(s, mi, e))
	{
		llm_reply_complete(slotno, s->request_id, e, NULL, 0, 0, 0, 0);
		return;
	}
	snprintf(msg, sizeof(msg), "model \"%s\" was unloaded", llm_wmodels[mi].name);
	worker_fail_model_requests(mi, msg);
	llm_we_fail_model(mi, msg);
	llm_wm_unload(mi);
	llm_reply_complete(slotno, s->request_id, NULL, NULL, 0, 0, 0, 0);
}

/*
 * Drop requests whose backends gave up: their slots are CANCELLED. The
 * slot and its DSA chunks are freed here.
 */
static void
worker_drop_cancelled(void)
{
	dsa_area   *area = llm_dsa();

	for (int k = W.n_reqs - 1; k >= 0; k--)
	{
		LlmSlot    *slot = &llm_shared->slots[W.reqs[k].slot];
		bool		drop = false;

		LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
		if (slot->request_id != W.reqs[k].request_id ||
			slot->state == LLM_SLOT_CANCELLED)
		{
			drop = true;
			if (slot->request_id == W.reqs[k].request_id)
			{
				dsa_pointer chunks[2];
				int			n = 0;

				llm_free_slot_chunks(slot, chunks, &n);
				for (int i = 0; i < n; i++)
					dsa_free(area, chunks[i]);
				slot->state = LLM_SLOT_FREE;
				slot->request_id = 0;
				slot->owner_pid = 0;
			}
		}
		LWLockRelease(llm_shared->lock);
		if (drop)
			worker_req_remove(k);
	}
}

/*
 * When backend pid last had a request admitted (0: not lately).
 */
static uint64
worker_owner_served(int pid)
{
	for (int i = 0; i < W.n_owners; i++)
		if (W.owners[i].pid == pid)
			return W.owners[i].served;
	return 0;
}

/*
 * Record that backend pid has just had a request admitted. The table
 * keeps the backends served most recently; one that drops out of it
 * counts as not served lately, which only moves it forward.
 */
static void
worker_owner_mark(int pid)
{
	int			k = -1;

	W.serve_clock++;
	for (int i = 0; i < W.n_owners && k < 0; i++)
		if (W.owners[i].pid == pid)
			k = i;
	if (k < 0 && W.n_owners < W.cap_owners)
		k = W.n_owners++;
	if (k < 0 && W.cap_owners == 0)
	{
		W.cap_owners = Max(16, 2 * llm_shared->n_slots);
		W.owners = MemoryContextAllocZero(W.cxt, sizeof(WOwner) * W.cap_owners);
		k = W.n_owners++;
	}
	if (k < 0)
	{
		/* full: reuse the entry served longest ago */
		k = 0;
		for (int i = 1; i < W.n_owners; i++)
			if (W.owners[i].served < W.owners[k].served)
				k = i;
	}
	W.owners[k].pid = pid;
	W.owners[k].served = W.serve_clock;
}

/*
 * Take the next QUEUED slot: mark it RUNNING under this worker's
 * generation and copy out what the worker needs. Admission is fair
 * between backends: the slot of the backend served longest ago goes
 * first, the oldest of its slots first, so one session's large batch
 * cannot keep the others waiting behind it. Embedding requests are
 * skipped unless with_embed. Returns false when nothing can be taken.
 */
static bool
worker_take_queued(LlmSlot *copy, int *slotno, char **input, bool with_embed)
{
	int			best = -1;
	uint64		best_served = 0;
	dsa_area   *area = llm_dsa();
	LlmSlot    *slot;
	double		wait_ms;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < llm_shared->n_slots; i++)
	{
		uint64		served;

		slot = &llm_shared->slots[i];
		if (slot->state != LLM_SLOT_QUEUED || (!with_embed && slot->kind == LLM_REQ_EMBED))
			continue;
		served = worker_owner_served(slot->owner_pid);
		if (best < 0 || served < best_served ||
			(served == best_served &&
			 slot->request_id < llm_shared->slots[best].request_id))
		{
			best = i;
			best_served = served;
		}
	}
	if (best < 0)
	{
		LWLockRelease(llm_shared->lock);
		return false;
	}
	worker_owner_mark(llm_shared->slots[best].owner_pid);
	slot = &llm_shared->slots[best];
	slot->state = LLM_SLOT_RUNNING;
	slot->worker_gen = W.gen;
	slot->started_at = now;
	wait_ms = (double) (now - slot->enqueued_at) / 1000.0;
	llm_shared->n_waits++;
	llm_shared->wait_ms_total += wait_ms > 0 ? wait_ms : 0;
	memcpy(copy, slot, sizeof(LlmSlot));
	LWLockRelease(llm_shared->lock);

	/*
	 * The input chunk stays valid while the slot is RUNNING or CANCELLED:
	 * only this worker frees such a slot.
	 */
	*input = MemoryContextAllocHuge(W.cxt, copy->input_len + 1);
	if (copy->input_len > 0)
		memcpy(*input, dsa_get_address(area, copy->input), copy->input_len);
	(*input)[copy->input_len] = '\0';

	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	if (slot->request_id == copy->request_id && DsaPointerIsValid(slot->input))
	{
		dsa_free(area, slot->input);
		slot->input = InvalidDsaPointer;
		slot->input_len = 0;
	}
	LWLockRelease(llm_shared->lock);
	*slotno = best;
	return true;
}

/*
 * Append a zeroed request for slot slotno (copied into s) on model mi.
 */
static WReq *
worker_req_append(const LlmSlot *s, int slotno, int mi)
{
	WReq	   *r;

	if (W.n_reqs == W.cap_reqs)
	{
		W.cap_reqs = Max(16, W.cap_reqs * 2);
		W.reqs = W.reqs ? repalloc(W.reqs, sizeof(WReq) * W.cap_reqs)
			: MemoryContextAlloc(W.cxt, sizeof(WReq) * W.cap_reqs);
	}
	r = &W.reqs[W.n_reqs++];
	memset(r, 0, sizeof(*r));
	r->slot = slotno;
	r->request_id = s->request_id;
	r->model = mi;
	r->owner_pid = s->owner_pid;
	r->role = s->owner_role;
	return r;
}

/*
 * Take an llm_tokenize request whose text is longer than
 * LLM_TOK_PART_BYTES: its ids are made in parts (worker_tokenize), by an
 * llm_tok_job on a generation model or an llm_embed_tok_job on an
 * embedding model, and input becomes the request's. false when it is
 * not such a request: it is then answered at once (llm_wm_do_tokens).
 */
static bool
worker_take_tokenize(const LlmSlot *s, int slotno, char *input)
{
	LlmWErr		e;
	char		err[LLM_ERRLEN];
	llm_tok_job *job = NULL;
	llm_embed_tok_job *ejob = NULL;
	WReq	   *r;
	int			mi;

	if (s->kind != LLM_REQ_TOKENIZE || s->input_len <= LLM_TOK_PART_BYTES)
		return false;
	mi = llm_wm_request_model(s->model, &e);
	if (mi < 0)
		return false;
	if (llm_wmodels[mi].m != NULL)
	{
		if (llm_tok_job_new(&job, llm_model_tokenizer(llm_wmodels[mi].m), input,
							s->input_len, false, true, NULL, 0, err) < 0)
			return false;
	}
	else if (llm_wmodels[mi].em == NULL ||
			 llm_embed_tok_job_new(&ejob, llm_wmodels[mi].em, input, s->input_len,
								   err) < 0)
		return false;
	r = worker_req_append(s, slotno, mi);
	r->job = job;
	r->ejob = ejob;
	r->tokenize = true;
	r->input = input;
	return true;
}

/*
 * Answer a finished llm_tokenize request k (rc < 0: with the error in
 * err) and remove it.
 */
static void
worker_tokenize_reply(int k, int rc, int32_t *ids, size_t n, const char *err)
{
	WReq	   *r = &W.reqs[k];
	LlmWErr		e;

	if (rc < 0 && strcmp(err, LLM_ABORT_MSG) == 0)
	{
		llm_werr_set(&e, ERRCODE_ADMIN_SHUTDOWN, "could not tokenize the text",
					 "The llm worker was stopped while it tokenized the text.",
					 "Run the query again when the worker is back.");
		llm_reply_complete(r->slot, r->request_id, &e, NULL, 0, 0, 0, 0);
	}
	else if (rc < 0)
	{
		llm_werr_set(&e, ERRCODE_INVALID_PARAMETER_VALUE, "could not tokenize the text",
					 err, "Check that the text is valid UTF-8.");
		llm_reply_complete(r->slot, r->request_id, &e, NULL, 0, 0, 0, 0);
	}
	else
		llm_reply_complete(r->slot, r->request_id, NULL, ids, n * sizeof(int32_t),
						   (int32) n, 0, 0);
	free(ids);
	worker_req_remove(k);
}

/*
 * The KV-cache bytes request r reserves: its prompt plus max_tokens
 * positions, at most the context.
 */
static void
worker_req_kv(WReq *r)
{
	int64		positions = (int64) llm_gen_n_prompt(r->gen) + r->params.max_tokens;

	if (positions > llm_wmodels[r->model].n_ctx)
		positions = llm_wmodels[r->model].n_ctx;
	r->kv_bytes = positions * (int64) llm_wmodels[r->model].kv_per_pos;
}

/*
 * Create the generation of a GENERATE or CHAT request and append it to
 * the request list (not yet active). Returns false with *e on error.
 */
static bool
worker_new_gen(const LlmSlot *s, int slotno, char *input, LlmWErr *e)
{
	char		err[LLM_ERRLEN];
	llm_gen_params p;
	llm_abort	ab = {llm_worker_interrupt_check, NULL};
	const char **stops = NULL;
	const char *prompt;
	char	   *rendered = NULL;
	llm_text_span *marks = NULL;
	size_t		n_marks = 0;
	Size		pos = 0;
	llm_gen    *gen = NULL;
	llm_tok_job *job = NULL;
	int			mi;
	WReq	   *r;
	int			rc;

	mi = llm_wm_request_gen_model(s->model, e);
	if (mi < 0)
		return false;

	err[0] = '\0';
	if (s->kind == LLM_REQ_CHAT)
	{
		const llm_chat_template *tmpl = llm_model_chat_template(llm_wmodels[mi].m);
		llm_chat_msg *msgs;
		const char **parts;

		if (tmpl == NULL && !s->opt.chat_fallback)
		{
			char		msg[LLM_MSG_LEN];

			snprintf(msg, sizeof(msg), "model \"%s\" has no chat template",
					 llm_wmodels[mi].name);
			llm_werr_set(e, ERRCODE_FEATURE_NOT_SUPPORTED, msg, NULL,
					 "Use llm_generate() with a prompt formatted for this model.");
			return false;
		}
		parts = palloc(sizeof(char *) * 2 * Max(s->opt.n_msgs, 1));
		msgs = palloc(sizeof(llm_chat_msg) * Max(s->opt.n_msgs, 1));
		if (!llm_input_strings(input, s->input_len, &pos, parts, 2 * s->opt.n_msgs))
		{
			llm_werr_set(e, ERRCODE_INTERNAL_ERROR, "malformed llm chat request", NULL, NULL);
			return false;
		}
		for (int i = 0; i < s->opt.n_msgs; i++)
		{
			msgs[i].role = parts[2 * i];
			msgs[i].content = parts[2 * i + 1];
		}
		if (tmpl == NULL)
			rc = llm_plain_prompt(msgs, s->opt.n_msgs, &rendered, err);
		else
		{
			llm_gen_params fp;

			/*
			 * Only the template's markers may become special tokens; a
			 * conversation too long loses whole turns (llm.truncation).
			 */
			llm_gen_defaults(&fp);
			fp.max_tokens = s->opt.max_tokens;
			fp.add_bos = -1;
			fp.truncation = (llm_truncation) s->opt.truncation;
			fp.abort = &ab;
			rc = llm_chat_fit(llm_wmodels[mi].m, tmpl, msgs, s->opt.n_msgs, &fp,
							  &rendered, &marks, &n_marks, NULL, err);
			llm_worker_rethrow();
		}
		pfree(parts);
		pfree(msgs);
		if (rc != 0 && (strcmp(err, LLM_ABORT_MSG) == 0 ||
						strstr(err, "exceeds the context")))
		{
			llm_werr_from_gen(e, err);
			return false;
		}
		if (rc != 0)
		{
			llm_werr_set(e, ERRCODE_INVALID_PARAMETER_VALUE, "invalid chat messages", err,
					 "Each message needs a role (system, user or assistant) and a content string.");
			return false;
		}
		prompt = rendered;
	}
	else
	{
		const char *one[1];

		if (!llm_input_strings(input, s->input_len, &pos, one, 1))
		{
			llm_werr_set(e, ERRCODE_INTERNAL_ERROR, "malformed llm request", NULL, NULL);
			return false;
		}
		prompt = one[0];
	}

	if (s->opt.n_stop > 0)
	{
		stops = MemoryContextAlloc(W.cxt, sizeof(char *) * s->opt.n_stop);
		if (!llm_input_strings(input, s->input_len, &pos, stops, s->opt.n_stop))
		{
			pfree(stops);
			free(rendered);
			free(marks);
			llm_werr_set(e, ERRCODE_INTERNAL_ERROR, "malformed llm request", NULL, NULL);
			return false;
		}
	}

	llm_gen_defaults(&p);
	if (s->opt.json_schema)
	{
		const char *one[1];
		llm_json_schema *schema = NULL;

		if (!llm_input_strings(input, s->input_len, &pos, one, 1))
		{
			if (stops)
				pfree(stops);
			free(rendered);
			llm_werr_set(e, ERRCODE_INTERNAL_ERROR, "malformed llm request", NULL, NULL);
			return false;
		}
		if (llm_json_schema_compile(&schema, one[0], strlen(one[0]), err) < 0 ||
			(p.vocab_trie = llm_wm_vocab_trie(mi, e)) == NULL)
		{
			if (schema != NULL)
				llm_json_schema_free(schema);
			else
				llm_werr_set(e, ERRCODE_INVALID_PARAMETER_VALUE, "invalid json_schema", err,
							 "Check the schema against the keywords docs/SQL.md lists.");
			if (stops)
				pfree(stops);
			free(rendered);
			return false;
		}
		p.json_schema = schema;
	}
	p.sampling.temperature = s->opt.temperature;
	p.sampling.top_k = s->opt.top_k;
	p.sampling.top_p = s->opt.top_p;
	p.sampling.min_p = s->opt.min_p;
	p.sampling.repeat_penalty = s->opt.repeat_penalty;
	p.sampling.seed = s->opt.seed;
	p.max_tokens = s->opt.max_tokens;
	p.stop = stops;
	p.n_stop = s->opt.n_stop;
	p.add_bos = -1;
	if (s->kind == LLM_REQ_CHAT)
	{
		/* message content is plain text, whatever it contains */
		p.parse_special = false;
		p.special_marks = marks;
		p.n_special_marks = n_marks;
	}
	else
		p.parse_special = s->opt.parse_special;
	p.truncation = (llm_truncation) s->opt.truncation;
	/* a long prompt's tokenization serves interrupts (issue 17) */
	p.abort = &ab;

	if (strlen(prompt) > LLM_TOK_PART_BYTES)
	{
		/* a long prompt: tokenized in parts between steps (worker_tokenize) */
		rc = llm_tok_job_new(&job, llm_model_tokenizer(llm_wmodels[mi].m), prompt,
							 strlen(prompt), llm_gen_wants_bos(llm_wmodels[mi].m, &p),
							 p.parse_special, p.parse_special ? NULL : marks,
							 p.parse_special ? 0 : n_marks, err);
		p.abort = NULL;
	}
	else
	{
		rc = llm_gen_new(&gen, llm_wmodels[mi].m, prompt, strlen(prompt), &p, err);
		free(rendered);
		free(marks);
		rendered = NULL;
		marks = NULL;
		llm_worker_rethrow();
	}
	if (rc != 0 || (gen == NULL && job == NULL))
	{
		free(rendered);
		free(marks);
		if (stops)
			pfree(stops);
		llm_json_schema_free((llm_json_schema *) p.json_schema);
		llm_werr_from_gen(e, err);
		return false;
	}

	r = worker_req_append(s, slotno, mi);
	r->gen = gen;
	r->input = input;
	r->stops = stops;
	r->schema = (llm_json_schema *) p.json_schema;
	r->job = job;
	r->params = p;
	r->params.special_marks = marks;
	r->params.abort = NULL;
	r->rendered = rendered;
	r->marks = marks;
	if (gen)
		worker_req_kv(r);
	r->active = false;
	return true;
}

/*
 * Go on tokenizing the prompt of the oldest request that is still being
 * tokenized, for one round (parts of LLM_TOK_SLICE_BYTES until
 * LLM_TOK_ROUND_MS or LLM_TOK_PART_BYTES of work); once it is done,
 * start its generation, which then waits for KV-cache room like any
 * other. A failure answers the request. Returns true when a prompt is
 * still being tokenized after this.
 */
static bool
worker_tokenize(void)
{
	char		err[LLM_ERRLEN];
	llm_abort	ab = {llm_worker_interrupt_check, NULL};
	WReq	   *r = NULL;
	int			k;
	int			rc;
	int32_t    *ids = NULL;
	size_t		n = 0;
	size_t		done = 0;
	double		t0;

	for (k = 0; k < W.n_reqs && r == NULL; k++)
		if (W.reqs[k].job || W.reqs[k].ejob)
			r = &W.reqs[k];
	if (r == NULL)
		return false;
	k--;
	err[0] = '\0';
	t0 = llm_time_sec();
	do
	{
		if (r->ejob)
			rc = llm_embed_tok_job_run(r->ejob, LLM_TOK_SLICE_BYTES, &ab, err);
		else
			rc = llm_tok_job_run(r->job, LLM_TOK_SLICE_BYTES, &ab, err);
		llm_worker_rethrow();
		done += LLM_TOK_SLICE_BYTES;
	} while (rc == 0 && done < LLM_TOK_PART_BYTES &&
			 (llm_time_sec() - t0) * 1000.0 < LLM_TOK_ROUND_MS);
	if (rc == 0)
		return true;
	if (rc > 0 && r->ejob)
	{
		int			ni = 0;

		rc = llm_embed_tok_job_take(r->ejob, &ids, &ni, err);
		n = (size_t) ni;
	}
	else if (rc > 0)
		rc = llm_tok_job_take(r->job, &ids, &n, err);
	if (r->tokenize)
	{
		worker_tokenize_reply(k, rc, ids, n, err);
		return false;
	}
	if (rc >= 0)
		rc = llm_gen_new_ids(&r->gen, llm_wmodels[r->model].m, ids, n, &r->params, err);
	llm_tok_job_free(r->job);
	r->job = NULL;
	free(r->rendered);
	free(r->marks);
	r->rendered = NULL;
	r->marks = NULL;
	if (rc < 0 || r->gen == NULL)
	{
		LlmWErr		e;

		r->gen = NULL;
		llm_werr_from_gen(&e, err);
		llm_reply_complete(r->slot, r->request_id, &e, NULL, 0, 0, 0, 0);
		worker_req_remove(k);
		return false;
	}
	worker_req_kv(r);
	return false;
}

/* Number of requests currently in the batch. */
static int
worker_n_active(void)
{
	int			n = 0;

	for (int k = 0; k < W.n_reqs; k++)
		if (W.reqs[k].active)
			n++;
	return n;
}

/*
 * Start a newly activated request's prefill after the part of its prompt
 * that its model's prefix cache already holds (created on first use). The
 * cache is an optimisation only: when it cannot be made or copied, the
 * request simply runs its whole prompt. It holds one role's prompt and
 * serves only that role: another role's request would learn, from what
 * it reuses (or from its timing), how that prompt begins.
 */
static void
worker_reuse_prefix(WReq *r)
{
	LlmWModel  *wm = &llm_wmodels[r->model];
	char		err[LLM_ERRLEN];
	int32		n;

	if (wm->m == NULL)
		return;
	if (wm->prefix == NULL)
	{
		wm->prefix = llm_prefix_cache_new(wm->m, LLM_PREFIX_CACHE_TOKENS, err);
		if (wm->prefix == NULL)
		{
			ereport(LOG, (errmsg("llm worker could not create a prefix cache: %s", err)));
			return;
		}
	}
	if (wm->prefix_role != r->role)
	{
		/* another role's prompt: forget it, this one may take its place */
		llm_prefix_cache_clear(wm->prefix);
		wm->prefix_role = r->role;
		return;
	}
	n = llm_gen_reuse_prefix(r->gen, wm->prefix, err);
	if (n < 0)
		ereport(LOG, (errmsg("llm worker could not reuse a prompt prefix: %s", err)));
	else if (n > 0)
	{
		LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
		llm_shared->cached_prompt_tokens += n;
		LWLockRelease(llm_shared->lock);
	}
}

/*
 * Try to give waiting requests their KV reservation, oldest first. A
 * request that alone needs more than the whole budget fails.
 */
static void
worker_activate(void)
{
	int64		budget = (int64) llm_guc_kv_cache_mb * 1024 * 1024;
	int			n_active = worker_n_active();

	for (int k = 0; k < W.n_reqs; k++)
	{
		WReq	   *r = &W.reqs[k];

		if (r->active)
			continue;
		if (r->job || r->ejob)
			break;				/* still tokenizing: later ones wait behind it */
		if (r->kv_bytes > budget)
		{
			char		detail[LLM_MSG_LEN];

			snprintf(detail, sizeof(detail),
					 "The request needs %lld kB of KV cache; llm.kv_cache_mb allows %lld kB.",
					 (long long) (r->kv_bytes / 1024), (long long) (budget / 1024));
			llm_reply_fail(r->slot, r->request_id, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
						"request does not fit in llm.kv_cache_mb", detail,
						"Lower max_tokens, shorten the prompt, or raise llm.kv_cache_mb.");
			worker_req_remove(k);
			k--;
			continue;
		}
		if (n_active >= llm_guc_max_batch || W.kv_used + r->kv_bytes > budget)
			break;				/* first come, first served: wait */
		r->active = true;
		W.kv_used += r->kv_bytes;
		llm_wmodels[r->model].kv_reserved += r->kv_bytes;
		n_active++;
		worker_reuse_prefix(r);
	}
}

/*
 * Admit queued requests while the batch has room. Returns after the
 * queue is empty or a request has to wait for capacity (false), or after
 * LLM_SYNC_BYTES of input or one load or unload (true: more may be
 * queued), so that the batch's next step is never held up for long.
 */
static bool
worker_admit(void)
{
	Size		sync_bytes = 0;
	int			n_loads = 0;

	worker_activate();
	for (;;)
	{
		LlmSlot		s;
		int			slotno;
		char	   *input;
		LlmWErr		e;
		bool		waiting = false;

		for (int k = 0; k < W.n_reqs; k++)
			if (!W.reqs[k].active)
				waiting = true;
		if (waiting || worker_n_active() >= llm_guc_max_batch)
			return false;
		if (sync_bytes >= LLM_SYNC_BYTES || n_loads > 0)
			return true;
		if (!worker_take_queued(&s, &slotno, &input, llm_we_room()))
			return false;
		sync_bytes += s.input_len;
		if (s.kind == LLM_REQ_LOAD || s.kind == LLM_REQ_UNLOAD)
			n_loads++;

		switch (s.kind)
		{
			case LLM_REQ_TOKENIZE:
			case LLM_REQ_DETOKENIZE:
				/* a long text is tokenized in parts (worker_tokenize) */
				if (worker_take_tokenize(&s, slotno, input))
					break;
				llm_wm_do_tokens(&s, slotno, input, &e);
				pfree(input);
				break;
			case LLM_REQ_LOAD:
				llm_wm_do_load(&s, slotno, input, &e);
				pfree(input);
				break;
			case LLM_REQ_UNLOAD:
				worker_unload(&s, slotno, &e);
				pfree(input);
				break;
			case LLM_REQ_EMBED:
				/* joins the next embedding batch (pg_embed.c) */
				llm_we_take(&s, slotno, input);
				break;
			case LLM_REQ_GENERATE:
			case LLM_REQ_CHAT:
				if (!worker_new_gen(&s, slotno, input, &e))
				{
					llm_reply_complete(slotno, s.request_id, &e, NULL, 0, 0, 0, 0);
					pfree(input);
				}
				else
					worker_activate();
				break;
			default:
				pfree(input);
				llm_reply_fail(slotno, s.request_id, ERRCODE_INTERNAL_ERROR,
							"unknown llm request kind", NULL, NULL);
				break;
		}
	}
}

/*
 * A worker that cannot serve (W.broken) answers every queued request with
 * its reason.
 */
static void
worker_fail_all_queued(void)
{
	LlmSlot		s;
	int			slotno;
	char	   *input;

	while (worker_take_queued(&s, &slotno, &input, true))
	{
		pfree(input);
		llm_reply_fail(slotno, s.request_id, ERRCODE_FEATURE_NOT_SUPPORTED,
					W.broken, W.broken_detail[0] ? W.broken_detail : NULL, W.broken_hint);
	}
}

/*
 * Publish a finished generation and remove it.
 */
static void
worker_finish(int k)
{
	WReq	   *r = &W.reqs[k];
	size_t		len = 0;
	const char *text = llm_gen_text(r->gen, &len);
	llm_json_status js = llm_gen_json_status(r->gen);

	if (js == LLM_JSON_PARTIAL || js == LLM_JSON_DEAD)
	{
		char		detail[LLM_MSG_LEN];
		char		hint[LLM_MSG_LEN];

		snprintf(detail, sizeof(detail), "%d tokens were generated; the value so far begins %.80s",
				 llm_gen_n_generated(r->gen), text);
		if (js == LLM_JSON_PARTIAL)
		{
			snprintf(hint, sizeof(hint), "Raise max_tokens: %d tokens were not enough for this value.", llm_gen_n_generated(r->gen));
			llm_reply_fail(r->slot, r->request_id, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
						   "max_tokens ran out before the JSON value was complete", detail, hint);
		}
		else
			llm_reply_fail(r->slot, r->request_id, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
						   "the JSON value nests deeper than the matcher allows", detail,
						   "Flatten the schema, or limit its recursion.");
		worker_req_remove(k);
		return;
	}
	llm_reply_complete(r->slot, r->request_id, NULL, text, len,
					llm_gen_n_prompt(r->gen), llm_gen_n_generated(r->gen),
					(int32) llm_gen_finish(r->gen));
	worker_req_remove(k);
}

/*
 * One batch step for each model with active requests.
 */
static void
worker_step(void)
{
	llm_batch_item *items = palloc(sizeof(llm_batch_item) * Max(W.n_reqs, 1));
	int		   *which = palloc(sizeof(int) * Max(W.n_reqs, 1));

	for (int mi = 0; mi < LLM_MAX_MODELS; mi++)
	{
		int			n = 0;
		char		err[LLM_ERRLEN];
		double		t0,
					t1;
		int			rc;

		if (llm_wmodels[mi].m == NULL)
			continue;
		for (int k = 0; k < W.n_reqs; k++)
		{
			WReq	   *r = &W.reqs[k];

			if (!r->active || r->model != mi)
				continue;
			memset(&r->item, 0, sizeof(r->item));
			if (llm_gen_prepare(r->gen, &r->item, llm_guc_prefill_chunk) <= 0)
			{
				/* finished ones are published below; anything else is stuck */
				if (llm_gen_finish(r->gen) == LLM_FINISH_NONE)
				{
					llm_reply_fail(r->slot, r->request_id, ERRCODE_INTERNAL_ERROR,
								"llm generation has nothing to process", NULL, NULL);
					r->failed = true;
				}
				continue;
			}
			items[n] = r->item;
			which[n] = k;
			n++;
		}
		if (n == 0)
			continue;

		err[0] = '\0';
		t0 = llm_time_sec();
		rc = llm_engine_step(W.engine, llm_wmodels[mi].m, items, n, err);
		t1 = llm_time_sec();

		LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
		llm_shared->steps++;
		llm_shared->step_seqs += n;
		llm_shared->step_seconds += t1 - t0;
		llm_shared->models[mi].kv_bytes = llm_wmodels[mi].kv_reserved;
		llm_shared->models[mi].gpu_bytes = W.engine ?
			(int64) llm_engine_device_bytes(W.engine, llm_wmodels[mi].m) : 0;
		LWLockRelease(llm_shared->lock);

		if (rc != 0)
		{
			bool		oom = strncmp(err, "out of GPU memory", 17) == 0;

			for (int i = 0; i < n; i++)
			{
				WReq	   *r = &W.reqs[which[i]];

				llm_reply_fail(r->slot, r->request_id,
							oom ? ERRCODE_OUT_OF_MEMORY : ERRCODE_INTERNAL_ERROR,
							"llm engine step failed", err,
							oom ? "Lower llm.max_batch or the requests' max_tokens, or raise llm.gpu_memory_mb." : NULL);
				r->failed = true;
			}
			if (rc == LLM_ERR_DEVICE_LOST)
			{
				/* the GPU is gone: a new worker starts (on the CPU under auto) */
				ereport(LOG,
						(errmsg("llm worker exits: the GPU failed"),
						 errdetail_internal("%s", err)));
				proc_exit(1);
			}
			continue;
		}
		for (int i = 0; i < n; i++)
		{
			WReq	   *r = &W.reqs[which[i]];
			int			stored = 0;

			(void) llm_gen_advance(r->gen);
			/* a prompt just completed becomes the model's cached prefix */
			if (llm_wmodels[mi].prefix)
				stored = llm_gen_store_prefix(r->gen, llm_wmodels[mi].prefix, err);
			if (stored < 0)
				ereport(LOG, (errmsg("llm worker could not cache a prompt prefix: %s", err)));
			if (stored != 0)
			{
				/* what it holds now is this role's (or, on failure, nothing usable) */
				if (stored < 0)
					llm_prefix_cache_clear(llm_wmodels[mi].prefix);
				llm_wmodels[mi].prefix_role = stored > 0 ? r->role : InvalidOid;
			}
		}

		/* progress, for the llm_requests view */
		LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
		for (int i = 0; i < n; i++)
		{
			WReq	   *r = &W.reqs[which[i]];
			LlmSlot    *slot = &llm_shared->slots[r->slot];

			if (slot->request_id == r->request_id && slot->state == LLM_SLOT_RUNNING)
			{
				slot->n_prompt = llm_gen_n_prompt(r->gen);
				slot->n_generated = llm_gen_n_generated(r->gen);
			}
		}
		LWLockRelease(llm_shared->lock);
	}

	/* publish everything that has finished (back to front: removal) */
	for (int k = W.n_reqs - 1; k >= 0; k--)
	{
		if (W.reqs[k].failed)
			worker_req_remove(k);
		else if (W.reqs[k].active && llm_gen_finish(W.reqs[k].gen) != LLM_FINISH_NONE)
			worker_finish(k);
	}

	for (int mi = 0; mi < LLM_MAX_MODELS; mi++)
		if (llm_wmodels[mi].m)
		{
			LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
			llm_shared->models[mi].kv_bytes = llm_wmodels[mi].kv_reserved;
		llm_shared->models[mi].gpu_bytes = W.engine ?
			(int64) llm_engine_device_bytes(W.engine, llm_wmodels[mi].m) : 0;
			LWLockRelease(llm_shared->lock);
		}
	pfree(items);
	pfree(which);
}

/* --------------------------------------------------- start and exit */

/*
 * before_shmem_exit callback of the worker: fail every pending request
 * (queued or admitted) so that backends get an ERROR now instead of
 * waiting for the next worker, free cancelled slots, and clear the
 * worker's entries in shared memory.
 */
static void
llm_worker_exit(int code, Datum arg)
{
	int		   *procs;
	int			n = 0;

	if (llm_shared == NULL)
		return;
	procs = malloc(sizeof(int) * (llm_shared->n_slots + 1));
	if (LWLockHeldByMe(llm_shared->lock))
		LWLockRelease(llm_shared->lock);
	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	if (procs)
		llm_worker_fail_slots(W.gen + 1, true,
							  "llm worker exited while the request was pending", procs, &n);
	if (llm_shared->worker_pid == MyProcPid)
	{
		llm_shared->worker_pid = 0;
		llm_shared->worker_ready = false;
	}
	memset(llm_shared->models, 0, sizeof(llm_shared->models));
	LWLockRelease(llm_shared->lock);
	for (int i = 0; i < n; i++)
		llm_set_proc_latch(procs[i]);
	free(procs);
}

/*
 * Register this process as the worker: new generation, fresh statistics
 * and model table; requests left RUNNING by a previous worker fail.
 */
static void
worker_start(void)
{
	int		   *procs = palloc(sizeof(int) * (llm_shared->n_slots + 1));
	int			n = 0;

	(void) llm_dsa();
	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	W.gen = ++llm_shared->worker_gen;
	llm_shared->worker_pid = MyProcPid;
	llm_shared->worker_procno = MyProc->pgprocno;
	llm_shared->worker_ready = false;
	llm_shared->worker_started = GetCurrentTimestamp();
	llm_shared->n_requests = 0;
	llm_shared->prompt_tokens = 0;
	llm_shared->generated_tokens = 0;
	llm_shared->steps = 0;
	llm_shared->step_seqs = 0;
	llm_shared->n_waits = 0;
	llm_shared->wait_ms_total = 0;
	llm_shared->step_seconds = 0;
	llm_shared->default_error[0] = '\0';
	memset(llm_shared->models, 0, sizeof(llm_shared->models));
	llm_worker_fail_slots(W.gen, false, "llm worker restarted while the request was running",
						  procs, &n);
	LWLockRelease(llm_shared->lock);
	for (int i = 0; i < n; i++)
		llm_set_proc_latch(procs[i]);
	pfree(procs);
}

/*
 * Create the engine with llm.threads threads on llm.device. This is the
 * only place the CUDA module is opened (engine.c does it for "auto" and
 * "cuda"), in the worker: the postmaster and ordinary backends never start
 * CUDA. Returns false when the device asked for is not available (W.broken
 * then says why, and every request fails with it); any other failure is
 * FATAL.
 */
static bool
worker_create_engine(void)
{
	static const char *const devices[] = {"auto", "cpu", "cuda"};
	llm_engine_params ep;
	char		err[LLM_ERRLEN];
	char		module[MAXPGPATH];
	int			rc;

	memset(&ep, 0, sizeof(ep));
	ep.n_threads = llm_guc_threads;
	ep.isa = NULL;
	ep.device = devices[llm_guc_device];
	llm_cuda_module_path(module, sizeof(module));
	ep.cuda_module = module;
	ep.gpu_memory_bytes = (uint64) llm_guc_gpu_memory_mb * 1024 * 1024;
	err[0] = '\0';
	rc = llm_engine_new(&W.engine, &ep, err);
	if ((rc != 0 || W.engine == NULL) && llm_guc_device == LLM_DEVICE_CUDA)
	{
		/* stay up and answer every request with the reason */
		if (rc == LLM_ERR_NO_DEVICE)
			strlcpy(W.broken, "llm.device is \"cuda\" but no CUDA device was found",
					LLM_MSG_LEN);
		else if (access(module, R_OK) != 0)
			strlcpy(W.broken, "llm.device \"cuda\" is not available in this build",
					LLM_MSG_LEN);
		else
			strlcpy(W.broken, "llm.device is \"cuda\" but the CUDA backend could not start",
					LLM_MSG_LEN);
		strlcpy(W.broken_detail, err, LLM_MSG_LEN);
		strlcpy(W.broken_hint,
				"Set llm.device to \"auto\" (the CPU when there is no GPU) or \"cpu\" and restart the server.",
				LLM_MSG_LEN);
		ereport(WARNING,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s", W.broken),
				 errdetail_internal("%s", err),
				 errhint("%s", W.broken_hint)));
		W.engine = NULL;
		return false;
	}
	if (rc != 0 || W.engine == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("llm worker could not create the inference engine"),
				 errdetail_internal("%s", err)));
	llm_wm_set_engine(W.engine);
	if (llm_engine_note(W.engine)[0])
		ereport(LOG,
				(errmsg("llm worker: llm.device \"auto\" runs on the CPU: %s",
						llm_engine_note(W.engine))));
	ereport(LOG,
			(errmsg("llm worker started: device %s, %d threads, kernels %s",
					llm_engine_device(W.engine),
					(int) llm_engine_threads(W.engine), llm_engine_isa(W.engine))));
	return true;
}

/*
 * Fix glibc's thresholds for mapping blocks and trimming the heap (called
 * once at start, before any model is loaded). glibc raises its mmap
 * threshold to the size of the largest mapped block freed so far (up to
 * 32 MB) and its trim threshold to twice that, so after the first large
 * embedding batch or engine step its transient buffers are carved from
 * the heap, and the heap keeps the pages they touched: the worker's RSS
 * then grows in steps with the largest batch seen, to tens of megabytes
 * above what is in use. With the thresholds fixed, blocks of
 * LLM_MMAP_THRESHOLD and more are mapped on their own and go back to the
 * kernel when freed, and free heap above LLM_TRIM_THRESHOLD is returned.
 */
static void
worker_malloc_settings(void)
{
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
	if (mallopt(M_MMAP_THRESHOLD, LLM_MMAP_THRESHOLD) != 1 ||
		mallopt(M_TRIM_THRESHOLD, LLM_TRIM_THRESHOLD) != 1)
		ereport(LOG,
				(errmsg("llm worker could not set the malloc thresholds"),
				 errdetail("Its resident memory may stay above what it uses after large batches.")));
#endif
}

/*
 * Give the free pages of the heap back to the kernel (called when the
 * worker has been idle for a whole LLM_IDLE_WAIT_MS after doing work): the
 * KV caches of finished requests are freed into the heap, which otherwise
 * keeps their pages resident until the next busy spell reuses them.
 */
static void
worker_trim_heap(void)
{
#ifdef __GLIBC__
	(void) malloc_trim(0);
#endif
	W.worked = false;
}

/*
 * Entry point of the background worker.
 */
void
llm_worker_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/* no database: this makes us visible in pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pqsignal(SIGINT, SIG_IGN);

	if (llm_shared == NULL)
		ereport(FATAL,
				(errmsg("llm worker started without the llm shared memory")));

	memset(&W, 0, sizeof(W));
	W.cxt = AllocSetContextCreate(TopMemoryContext, "llm worker",
								  ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(W.cxt);

	worker_malloc_settings();
	worker_start();
	before_shmem_exit(llm_worker_exit, (Datum) 0);
	if (worker_create_engine())
		llm_wm_apply_settings();

	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	llm_shared->worker_ready = true;
	LWLockRelease(llm_shared->lock);

	for (;;)
	{
		bool		more;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (!W.broken[0])
				llm_wm_apply_settings();
		}

		if (W.broken[0])
		{
			worker_fail_all_queued();
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 LLM_IDLE_WAIT_MS, LLM_WAIT_EVENT);
			ResetLatch(MyLatch);
			continue;
		}

		worker_drop_cancelled();
		more = worker_admit();
		/* one part of a long prompt's tokenization, then the step */
		if (worker_tokenize())
			more = true;
		worker_activate();
		if (llm_we_pending())
		{
			llm_we_run();
			W.worked = true;
		}

		if (worker_n_active() == 0)
		{
			int			rc;

			if (llm_we_pending() || more)
				continue;		/* more work queued: no sleep */
			rc = WaitLatch(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   LLM_IDLE_WAIT_MS, LLM_WAIT_EVENT);
			ResetLatch(MyLatch);
			if ((rc & WL_TIMEOUT) && W.worked)
				worker_trim_heap();
			continue;
		}
		worker_step();
		W.worked = true;
	}

	/*
	 * Exit status 1 so that the postmaster starts a new worker after
	 * bgw_restart_time (a terminated worker must come back); during a
	 * server shutdown nothing is restarted anyway.
	 */
	ereport(LOG, (errmsg("llm worker shutting down")));
	proc_exit(1);
}
