/*
 * pg_queue.c - the shared-memory request queue, backend side.
 *
 * Shared memory holds one LlmShared: an LWLock (named tranche "llm"),
 * llm.queue_size request slots, the table of loaded models and the
 * statistics. Text travels through a DSA area created by whichever
 * process needs it first; its handle is kept in LlmShared and every
 * process keeps its mapping for its whole life.
 *
 * Serialized request input (slot->input), strings NUL-terminated:
 *   GENERATE    prompt, then opt.n_stop stop strings, then the JSON
 *               Schema text when opt.json_schema
 *   CHAT        opt.n_msgs pairs (role, content), then opt.n_stop stop
 *               strings, then the JSON Schema text when opt.json_schema
 *   TOKENIZE    text
 *   DETOKENIZE  int32 token ids (no terminator)
 *   LOAD        absolute path of the model file
 *   UNLOAD      nothing
 * Output (slot->output): text bytes without terminator, or for TOKENIZE
 * an int32 array.
 *
 * A backend submits any number of requests at once (llm_run_requests):
 * it takes free slots as they become available, so a full queue makes it
 * wait, never fail. All waits are WaitLatch() on the backend's own latch
 * (the worker sets it when a result is ready) followed by
 * CHECK_FOR_INTERRUPTS(), so cancel requests and statement_timeout work
 * at any time. On any way out - error, cancel, FATAL, backend exit - the
 * backend's slots are released: QUEUED and DONE slots are freed on the
 * spot, RUNNING ones marked CANCELLED for the worker to drop, except
 * embedding requests whose text the worker has already copied: those are
 * freed on the spot too (the worker answers a slot only while it still
 * holds the same request_id), so a cancelled llm_embed_batch() gives all
 * its slots back at once instead of after the worker's current chunk.
 *
 * While it waits, the backend checks about once a second
 * (LLM_CLIENT_CHECK_MS) whether its client is still connected; when the
 * client has gone (killed, network lost) it ends with FATAL "connection
 * to client lost", as client_connection_check_interval would, so that
 * the worker stops generating for nobody.
 *
 * Results are copied out of the DSA area after llm_shared->lock is
 * released (llm_collect): under the lock a finished slot's chunks are
 * detached and the slot freed, so that the chunks belong to this backend
 * alone and no reset or unload can free them; then they are copied and
 * freed. An allocation failure during the copy (a huge result) thus
 * raises its ERROR with no LWLock held.
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pg_llm.h"

/*
 * From libpq/libpq.h (PostgreSQL 14 and later), declared here because
 * that header pulls in libpq-be.h, which needs the GSSAPI headers of a
 * server built with GSSAPI (Debian's is), a build dependency for two
 * declarations.
 */
extern bool pq_check_connection(void);
extern PGDLLIMPORT WaitEventSet *FeBeWaitSet;

LlmShared  *llm_shared = NULL;

static dsa_area *llm_area = NULL;
static bool llm_exit_registered = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* poll intervals of the wait loop, in milliseconds */
#define LLM_POLL_RESULT_MS	100
#define LLM_POLL_SLOT_MS	10
/* how often a waiting backend checks that its client is still there */
#define LLM_CLIENT_CHECK_MS	1000

/*
 * Bytes of shared memory the queue needs for llm.queue_size slots.
 */
static Size
llm_shmem_size(void)
{
	return add_size(offsetof(LlmShared, slots),
					mul_size(sizeof(LlmSlot), llm_guc_queue_size));
}

/*
 * shmem_request_hook: reserve our shared memory and LWLock.
 */
static void
llm_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	RequestAddinShmemSpace(llm_shmem_size());
	RequestNamedLWLockTranche("llm", 1);
}

/*
 * shmem_startup_hook: create (or, in EXEC_BACKEND children, find) the
 * shared state. After a crash restart the memory is fresh, so the queue,
 * the DSA handle and the model table start empty.
 */
static void
llm_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	llm_area = NULL;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	llm_shared = ShmemInitStruct("llm", llm_shmem_size(), &found);
	if (!found)
	{
		memset(llm_shared, 0, llm_shmem_size());
		llm_shared->lock = &(GetNamedLWLockTranche("llm"))->lock;
		llm_shared->dsa_tranche = LWLockNewTrancheId();
		llm_shared->dsa_created = false;
		llm_shared->next_request_id = 1;
		llm_shared->n_slots = llm_guc_queue_size;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Install the shared-memory hooks (called from _PG_init).
 */
void
llm_shmem_init_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = llm_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = llm_shmem_startup;
}

/*
 * Raise an error unless the library was preloaded (no shared memory).
 */
void
llm_require_shared(void)
{
	if (llm_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("llm must be loaded via shared_preload_libraries"),
				 errhint("Add llm to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * The DSA area for request text, created on first use and then attached
 * by every other process. The mapping is pinned so it outlives
 * transactions; the area itself is pinned so it outlives its creator.
 */
dsa_area *
llm_dsa(void)
{
	MemoryContext oldcxt;

	if (llm_area != NULL)
		return llm_area;

	llm_require_shared();
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	LWLockRegisterTranche(llm_shared->dsa_tranche, "llm_dsa");
	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	PG_TRY();
	{
		if (!llm_shared->dsa_created)
		{
			llm_area = dsa_create(llm_shared->dsa_tranche);
			/* request text and results never take more than this */
			dsa_set_size_limit(llm_area, (Size) llm_guc_shared_text_mb * 1024 * 1024);
			dsa_pin(llm_area);
			dsa_pin_mapping(llm_area);
			llm_shared->dsa = dsa_get_handle(llm_area);
			llm_shared->dsa_created = true;
		}
		else
		{
			llm_area = dsa_attach(llm_shared->dsa);
			dsa_pin_mapping(llm_area);
		}
	}
	PG_CATCH();
	{
		/* errfinish reset the holdoff count: hold once for the release */
		HOLD_INTERRUPTS();
		LWLockRelease(llm_shared->lock);
		MemoryContextSwitchTo(oldcxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	LWLockRelease(llm_shared->lock);
	MemoryContextSwitchTo(oldcxt);
	return llm_area;
}

/*
 * Set the latch of the process with the given pgprocno (harmless when the
 * process has gone and its PGPROC was reused).
 */
void
llm_set_proc_latch(int procno)
{
	if (procno >= 0 && procno < (int) ProcGlobal->allProcCount)
		SetLatch(&GetPGProcByNumber(procno)->procLatch);
}

/*
 * Detach the DSA chunks of a slot; their pointers are appended to
 * chunks[*n] for the caller to free (caller holds the lock).
 */
void
llm_free_slot_chunks(LlmSlot *slot, dsa_pointer *chunks, int *n)
{
	if (DsaPointerIsValid(slot->input))
		chunks[(*n)++] = slot->input;
	if (DsaPointerIsValid(slot->output))
		chunks[(*n)++] = slot->output;
	slot->input = InvalidDsaPointer;
	slot->output = InvalidDsaPointer;
	slot->input_len = 0;
	slot->output_len = 0;
}

/*
 * Mark a slot free (caller holds the lock exclusively).
 */
static void
llm_slot_clear(LlmSlot *slot)
{
	slot->state = LLM_SLOT_FREE;
	slot->request_id = 0;
	slot->owner_pid = 0;
	slot->owner_procno = -1;
}

/*
 * Give back every slot this backend still holds: QUEUED and DONE slots
 * become FREE (their DSA chunks are freed here), RUNNING ones become
 * CANCELLED and the worker drops them before its next step. Safe to call
 * at any time, including from the exit callback.
 */
static void
llm_release_my_slots(void)
{
	bool		wake_worker = false;
	int			worker_procno = -1;

	if (llm_shared == NULL || llm_area == NULL)
		return;

	/*
	 * Held only after an ERROR raised under the lock: errfinish has reset
	 * InterruptHoldoffCount already, so hold interrupts once more for the
	 * release to undo (as LWLockReleaseAll does), lest the count go
	 * negative and the session ignore cancels from then on.
	 */
	if (LWLockHeldByMe(llm_shared->lock))
	{
		HOLD_INTERRUPTS();
		LWLockRelease(llm_shared->lock);
	}
	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < llm_shared->n_slots; i++)
	{
		LlmSlot    *slot = &llm_shared->slots[i];
		dsa_pointer chunks[2];
		int			nchunks = 0;

		if (slot->state == LLM_SLOT_FREE || slot->owner_pid != MyProcPid)
			continue;
		switch (slot->state)
		{
			case LLM_SLOT_QUEUED:
			case LLM_SLOT_DONE:
				llm_free_slot_chunks(slot, chunks, &nchunks);
				llm_slot_clear(slot);
				break;
			case LLM_SLOT_RUNNING:
				if (slot->kind == LLM_REQ_EMBED && !DsaPointerIsValid(slot->input))
				{
					/*
					 * The worker has copied the text (it frees the input
					 * chunk then) and replies only to a slot that still
					 * holds this request_id: free it now, so that the
					 * slot does not wait for the worker's current
					 * embedding chunk. The worker drops the text before
					 * its next chunk.
					 */
					llm_free_slot_chunks(slot, chunks, &nchunks);
					llm_slot_clear(slot);
				}
				else
					slot->state = LLM_SLOT_CANCELLED;
				wake_worker = true;
				break;
			default:
				break;
		}
		for (int c = 0; c < nchunks; c++)
			dsa_free(llm_area, chunks[c]);
	}
	if (llm_shared->worker_pid != 0)
		worker_procno = llm_shared->worker_procno;
	LWLockRelease(llm_shared->lock);

	if (wake_worker)
		llm_set_proc_latch(worker_procno);
}

/*
 * before_shmem_exit callback: a backend that exits (also by FATAL, e.g.
 * pg_terminate_backend) leaves no slot behind.
 */
static void
llm_backend_exit(int code, Datum arg)
{
	llm_release_my_slots();
}

/*
 * Initialise a request of the given kind with default options.
 */
void
llm_request_init(LlmRequest *req, LlmReqKind kind)
{
	memset(req, 0, sizeof(*req));
	req->kind = kind;
	req->slot = -1;
	req->opt.max_tokens = 1;
	req->opt.top_p = 1.0f;
	req->opt.repeat_penalty = 1.0f;
}

/*
 * Slots one backend may hold at once: half of the queue (at least one),
 * so that a single large batch leaves room for the other sessions.
 */
static int
llm_backend_slot_share(void)
{
	return Max(1, llm_shared->n_slots / 2);
}

/*
 * Whether this backend may take one more slot now: a slot is free and
 * the backend holds fewer than its share (caller holds the lock).
 */
static bool
llm_slot_available(void)
{
	bool		any_free = false;
	int			mine = 0;

	for (int i = 0; i < llm_shared->n_slots; i++)
	{
		LlmSlotState st = llm_shared->slots[i].state;

		if (st == LLM_SLOT_FREE)
			any_free = true;
		else if (llm_shared->slots[i].owner_pid == MyProcPid)
			mine++;
	}
	return any_free && mine < llm_backend_slot_share();
}

/*
 * Refuse a request whose serialized input exceeds llm.max_input_size (or
 * half of the shared text area), before anything of it reaches shared
 * memory.
 */
static void
llm_check_input_size(const LlmRequest *req)
{
	Size		cap = (Size) llm_guc_max_input_kb * 1024;

	if (req->input_len > cap)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("llm request input is too large"),
				 errdetail("The request has %zu bytes of input; llm.max_input_size allows %zu.",
						   (size_t) req->input_len, (size_t) cap),
				 errhint("Shorten the text; a superuser can raise llm.max_input_size.")));
	/* it could never get its place in the shared text area: do not wait */
	if (req->input_len > (Size) llm_guc_shared_text_mb * 1024 * 1024 / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("llm request input is too large"),
				 errdetail("The request has %zu bytes of input; requests may take at most half of llm.shared_text_mb (%d MB).",
						   (size_t) req->input_len, llm_guc_shared_text_mb),
				 errhint("Shorten the text; a superuser can raise llm.shared_text_mb.")));
}

/*
 * Try to put one request into a free slot. Returns false when the queue
 * is full, this backend holds its share of the slots, or the shared text
 * area has no room for the input now (nothing changed then).
 */
static bool
llm_submit_one(LlmRequest *req, int *hint)
{
	dsa_pointer in = InvalidDsaPointer;
	int			found = -1;
	bool		available;
	Oid			role = GetUserId();
	bool		is_super = superuser();

	/* cheap check first, so that a full queue costs no DSA allocation */
	LWLockAcquire(llm_shared->lock, LW_SHARED);
	available = llm_slot_available();
	LWLockRelease(llm_shared->lock);
	if (!available)
		return false;

	if (req->input_len > 0)
	{
		in = dsa_allocate_extended(llm_area, req->input_len,
								   DSA_ALLOC_HUGE | DSA_ALLOC_NO_OOM);
		if (!DsaPointerIsValid(in))
			return false;		/* llm.shared_text_mb is taken: wait */
		/* a mapping failure must not leak the chunk: nobody else knows it */
		PG_TRY();
		{
			memcpy(dsa_get_address(llm_area, in), req->input, req->input_len);
		}
		PG_CATCH();
		{
			dsa_free(llm_area, in);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}

	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	available = llm_slot_available();
	for (int k = 0; k < llm_shared->n_slots && available; k++)
	{
		int			i = (*hint + k) % llm_shared->n_slots;

		if (llm_shared->slots[i].state == LLM_SLOT_FREE)
		{
			found = i;
			break;
		}
	}
	if (found >= 0)
	{
		LlmSlot    *slot = &llm_shared->slots[found];

		memset(slot, 0, sizeof(*slot));
		slot->kind = req->kind;
		slot->request_id = llm_shared->next_request_id++;
		slot->owner_pid = MyProcPid;
		slot->owner_procno = MyProc->pgprocno;
		slot->owner_role = role;
		slot->owner_super = is_super;
		slot->enqueued_at = GetCurrentTimestamp();
		strlcpy(slot->model, req->model, LLM_NAME_LEN);
		slot->opt = req->opt;
		slot->input = in;
		slot->input_len = req->input_len;
		slot->output = InvalidDsaPointer;
		slot->state = LLM_SLOT_QUEUED;
		req->slot = found;
		req->request_id = slot->request_id;
		*hint = (found + 1) % llm_shared->n_slots;
	}
	LWLockRelease(llm_shared->lock);

	if (found < 0 && DsaPointerIsValid(in))
		dsa_free(llm_area, in);
	return found >= 0;
}

/* error of a finished request, copied out of its slot */
typedef struct LlmError
{
	int			index;			/* the failed request's position */
	int			sqlerrcode;
	char		msg[LLM_MSG_LEN];
	char		detail[LLM_MSG_LEN];
	char		hint[LLM_MSG_LEN];
} LlmError;

/*
 * A finished request's DSA chunks, detached from its slot under the lock
 * so that they belong to this backend alone until copied and freed.
 */
typedef struct LlmTaken
{
	int			index;			/* the request's position */
	dsa_pointer input;
	dsa_pointer output;
	Size		len;			/* bytes of output */
	bool		copy;			/* a success: copy the output */
} LlmTaken;

/*
 * Free the chunks of a taken result that are still held.
 */
static void
llm_taken_free(LlmTaken *t)
{
	if (DsaPointerIsValid(t->input))
	{
		dsa_free(llm_area, t->input);
		t->input = InvalidDsaPointer;
	}
	if (DsaPointerIsValid(t->output))
	{
		dsa_free(llm_area, t->output);
		t->output = InvalidDsaPointer;
	}
}

/*
 * Copy the taken results into backend memory (no lock held) and free
 * their chunks. An ERROR on the way (out of memory for a huge result, a
 * segment that cannot be mapped) frees the chunks not yet freed before
 * it propagates; only a chunk whose segment cannot be mapped at all can
 * then stay behind, since freeing it needs the mapping too.
 */
static void
llm_copy_taken(LlmRequest *reqs, LlmTaken *taken, int ntaken)
{
	PG_TRY();
	{
		for (int k = 0; k < ntaken; k++)
		{
			LlmTaken   *t = &taken[k];
			LlmRequest *r = &reqs[t->index];

			if (t->copy)
			{
				r->output = MemoryContextAllocHuge(CurrentMemoryContext, t->len + 1);
				if (t->len > 0)
					memcpy(r->output, dsa_get_address(llm_area, t->output), t->len);
				r->output[t->len] = '\0';
			}
			llm_taken_free(t);
			r->done = true;
		}
	}
	PG_CATCH();
	{
		for (int k = 0; k < ntaken; k++)
			llm_taken_free(&taken[k]);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Collect finished requests among the first `submitted': free their
 * slots, then copy their results into backend memory. Returns the number
 * still pending; *err receives the error of the failed request with the
 * lowest position seen so far (sqlerrcode stays 0 if none), so that a
 * batch fails with the error its first failing row would have raised row
 * by row. *lo is the first request that may still be pending. taken has
 * room for cap results (at least the slots this backend may hold);
 * results beyond it wait for the next call.
 *
 * Under the exclusive lock a finished slot only has its chunks detached
 * (they are then this backend's alone: no reset, unload or worker exit
 * can free them) and is freed; the copy, which may be large and may fail,
 * happens after the lock is released.
 */
static int
llm_collect(LlmRequest *reqs, int submitted, int *lo, LlmError *err,
			LlmTaken *taken, int cap)
{
	int			pending = 0;
	int			ntaken = 0;
	bool		worker_alive;
	pid_t		worker_pid;

	/* requests before *lo are all done: skip them */
	while (*lo < submitted && reqs[*lo].done)
		(*lo)++;

	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	worker_pid = llm_shared->worker_pid;
	worker_alive = worker_pid != 0 &&
		!(kill(worker_pid, 0) != 0 && errno == ESRCH);

	for (int i = *lo; i < submitted; i++)
	{
		LlmRequest *r = &reqs[i];
		LlmSlot    *slot;
		LlmTaken   *t;

		if (r->done || r->slot < 0)
			continue;
		slot = &llm_shared->slots[r->slot];
		if (slot->request_id != r->request_id || slot->owner_pid != MyProcPid)
		{
			LWLockRelease(llm_shared->lock);
			for (int k = 0; k < ntaken; k++)
				llm_taken_free(&taken[k]);
			elog(ERROR, "llm request slot %d was taken over by another request",
				 r->slot);
		}

		if (slot->state == LLM_SLOT_RUNNING &&
			(!worker_alive || slot->worker_gen != llm_shared->worker_gen))
		{
			/* its worker is gone without answering: fail it here */
			if (err->sqlerrcode == 0 || i < err->index)
			{
				memset(err, 0, sizeof(*err));
				err->index = i;
				err->sqlerrcode = ERRCODE_OPERATOR_INTERVENTION;
				strlcpy(err->msg, "llm worker exited while running the request",
						LLM_MSG_LEN);
				strlcpy(err->hint, "The worker restarts by itself; run the query again.",
						LLM_MSG_LEN);
			}
			slot->state = LLM_SLOT_CANCELLED;
			r->slot = -1;
			r->done = true;
			continue;
		}
		if (slot->state != LLM_SLOT_DONE || ntaken >= cap)
		{
			pending++;
			continue;
		}

		/* take the result: detach its chunks and free the slot */
		if (slot->sqlerrcode != 0 && (err->sqlerrcode == 0 || i < err->index))
		{
			err->index = i;
			err->sqlerrcode = slot->sqlerrcode;
			strlcpy(err->msg, slot->errmsg, LLM_MSG_LEN);
			strlcpy(err->detail, slot->errdetail, LLM_MSG_LEN);
			strlcpy(err->hint, slot->errhint, LLM_MSG_LEN);
		}
		r->n_prompt = slot->n_prompt;
		r->n_generated = slot->n_generated;
		r->finish = slot->finish;
		r->output_len = slot->output_len;
		t = &taken[ntaken++];
		t->index = i;
		t->input = slot->input;
		t->output = slot->output;
		t->len = slot->output_len;
		t->copy = slot->sqlerrcode == 0;
		slot->input = InvalidDsaPointer;
		slot->output = InvalidDsaPointer;
		slot->input_len = 0;
		slot->output_len = 0;
		llm_slot_clear(slot);
		r->slot = -1;
	}
	LWLockRelease(llm_shared->lock);

	llm_copy_taken(reqs, taken, ntaken);
	return pending;
}

/*
 * Check, at most once per LLM_CLIENT_CHECK_MS, that the client of this
 * backend is still connected (only a backend with a client socket; a
 * background worker has none). When it has gone, end the session as
 * ProcessInterrupts does for a lost connection: FATAL, whose exit
 * callback releases every slot, so that the worker stops the requests.
 */
static void
llm_check_client(TimestampTz *last)
{
	TimestampTz now;

	if (MyProcPort == NULL || FeBeWaitSet == NULL || whereToSendOutput != DestRemote)
		return;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(*last, now, LLM_CLIENT_CHECK_MS))
		return;
	*last = now;
	/* this may reset MyLatch: the caller collects before it waits again */
	if (pq_check_connection())
		return;
	ClientConnectionLost = true;
	InterruptPending = true;
	CHECK_FOR_INTERRUPTS();

	/* interrupts are held: at least give the requests up now */
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("connection to client lost")));
}

/*
 * The submit/wait loop of llm_run_requests.
 */
static void
llm_run_loop(LlmRequest *reqs, int n)
{
	int			next = 0;
	int			lo = 0;
	int			hint = MyProcPid % llm_shared->n_slots;
	LlmError	err;
	int			cap = Min(n, llm_shared->n_slots);
	LlmTaken   *taken = palloc(sizeof(LlmTaken) * cap);
	TimestampTz last_check = GetCurrentTimestamp();

	memset(&err, 0, sizeof(err));
	for (;;)
	{
		bool		submitted = false;
		bool		full = false;
		int			pending;

		/* submit what fits (nothing after a failed request) */
		while (next < n && (err.sqlerrcode == 0 || next < err.index))
		{
			if (reqs[next].skip)
			{
				reqs[next].done = true;
				next++;
				continue;
			}
			if (!llm_submit_one(&reqs[next], &hint))
			{
				full = true;
				break;
			}
			next++;
			submitted = true;
		}
		if (submitted)
		{
			int			procno = -1;

			LWLockAcquire(llm_shared->lock, LW_SHARED);
			if (llm_shared->worker_pid != 0)
				procno = llm_shared->worker_procno;
			LWLockRelease(llm_shared->lock);
			llm_set_proc_latch(procno);
		}

		pending = llm_collect(reqs, next, &lo, &err, taken, cap);
		/* raise an error once every request before it has finished */
		if (err.sqlerrcode != 0 && lo >= err.index)
			ereport(ERROR,
					(errcode(err.sqlerrcode),
					 errmsg_internal("%s", err.msg),
					 err.detail[0] ? errdetail_internal("%s", err.detail) : 0,
					 err.hint[0] ? errhint("%s", err.hint) : 0));
		if (pending == 0 && next >= n && err.sqlerrcode == 0)
			break;

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 full ? LLM_POLL_SLOT_MS : LLM_POLL_RESULT_MS,
						 LLM_WAIT_EVENT);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		llm_check_client(&last_check);
	}
	pfree(taken);
}

/*
 * Run n requests through the worker and wait for all of them. Results are
 * stored in the requests; the first failed request raises its error. On
 * any error (also a cancel or timeout while waiting) every slot of this
 * backend is released before the error propagates.
 */
void
llm_run_requests(LlmRequest *reqs, int n)
{
	llm_require_shared();
	(void) llm_dsa();

	if (!llm_exit_registered)
	{
		before_shmem_exit(llm_backend_exit, (Datum) 0);
		llm_exit_registered = true;
	}

	for (int i = 0; i < n; i++)
		if (!reqs[i].skip)
			llm_check_input_size(&reqs[i]);

	PG_TRY();
	{
		llm_run_loop(reqs, n);
	}
	PG_FINALLY();
	{
		llm_release_my_slots();
	}
	PG_END_TRY();
}
