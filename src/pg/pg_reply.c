/*
 * pg_reply.c - worker-side helpers shared by the worker loop
 * (pg_worker.c), the model registry (pg_models.c) and the embedding path
 * (pg_embed.c): how a request's outcome is published into its queue slot,
 * and the interrupt check that long engine calls (model loads, embedding
 * batches) run between units of work.
 *
 * These sit next to the queue (pg_queue.c) and call nothing but it, so the
 * three worker-side files can use them without calling one another back:
 * the worker loop calls the registry and the embedding path, the
 * embedding path calls the registry, and none calls the loop.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/lwlock.h"
#include "utils/dsa.h"
#include "utils/memutils.h"

#include "pg_llm.h"

/* an error CHECK_FOR_INTERRUPTS raised inside an engine call, held back */
static ErrorData *llm_held_error = NULL;

/*
 * The llm_abort check of the worker's long engine calls. The engine calls
 * it on the worker's own thread between layers, texts and batches (never
 * while its pool threads compute). It asks the engine to stop when a
 * shutdown was requested (SIGTERM: the loop then exits), and otherwise
 * serves pending interrupts, ProcSignal barriers among them, with
 * CHECK_FOR_INTERRUPTS. An ERROR that raises is caught, so that nothing
 * jumps out of engine code: the engine is told to stop, unwinds and
 * frees, and llm_worker_rethrow() raises the error after the call.
 * (A FATAL exits the process at once, which needs no unwinding.)
 */
int
llm_worker_interrupt_check(void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;

	(void) arg;
	if (llm_held_error != NULL || ShutdownRequestPending)
		return 1;
	if (!INTERRUPTS_PENDING_CONDITION())
		return 0;
	PG_TRY();
	{
		CHECK_FOR_INTERRUPTS();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		llm_held_error = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	return llm_held_error != NULL || ShutdownRequestPending;
}

/*
 * Raise the error llm_worker_interrupt_check held back during the engine
 * call that just returned, if any (in the worker an ERROR ends the
 * process like a FATAL, and its exit hook fails the pending requests).
 */
void
llm_worker_rethrow(void)
{
	ErrorData  *edata = llm_held_error;

	if (edata == NULL)
		return;
	llm_held_error = NULL;
	ReThrowError(edata);
}

/* Fill a LlmWErr. */
void
llm_werr_set(LlmWErr *e, int code, const char *msg, const char *detail,
		 const char *hint)
{
	e->code = code;
	strlcpy(e->msg, msg ? msg : "", LLM_MSG_LEN);
	strlcpy(e->detail, detail ? detail : "", LLM_MSG_LEN);
	strlcpy(e->hint, hint ? hint : "", LLM_MSG_LEN);
}

/*
 * Publish the outcome of a request: copy data into the DSA area, mark the
 * slot DONE and wake its owner. If the owner cancelled meanwhile, the slot
 * is freed instead (or, if the owner freed it already, left alone).
 */
void
llm_reply_complete(int slotno, uint64 request_id, const LlmWErr *err,
				const void *data, Size len,
				int32 n_prompt, int32 n_generated, int32 finish)
{
	dsa_area   *area = llm_dsa();
	dsa_pointer out = InvalidDsaPointer;
	LlmWErr		oom;
	int			owner = -1;
	LlmSlot    *slot = &llm_shared->slots[slotno];

	if (err == NULL && len > 0)
	{
		out = dsa_allocate_extended(area, len, DSA_ALLOC_HUGE | DSA_ALLOC_NO_OOM);
		if (!DsaPointerIsValid(out))
		{
			llm_werr_set(&oom, ERRCODE_OUT_OF_MEMORY,
					 "out of shared memory for the llm result", NULL,
					 "Ask for fewer tokens or fewer results at once.");
			err = &oom;
		}
		else
		{
			/* an ERROR here (mapping) is FATAL: do not leak the chunk */
			PG_TRY();
			{
				memcpy(dsa_get_address(area, out), data, len);
			}
			PG_CATCH();
			{
				dsa_free(area, out);
				PG_RE_THROW();
			}
			PG_END_TRY();
		}
	}

	LWLockAcquire(llm_shared->lock, LW_EXCLUSIVE);
	if (slot->request_id != request_id)
	{
		/*
		 * The owner gave up and freed the slot itself (an embedding request
		 * whose text this worker had copied, see llm_release_my_slots): the
		 * result goes nowhere.
		 */
		LWLockRelease(llm_shared->lock);
		if (DsaPointerIsValid(out))
			dsa_free(area, out);
		return;
	}
	if (slot->state == LLM_SLOT_CANCELLED)
	{
		dsa_pointer chunks[2];
		int			n = 0;

		llm_free_slot_chunks(slot, chunks, &n);
		for (int i = 0; i < n; i++)
			dsa_free(area, chunks[i]);
		if (DsaPointerIsValid(out))
			dsa_free(area, out);
		slot->state = LLM_SLOT_FREE;
		slot->request_id = 0;
		slot->owner_pid = 0;
	}
	else
	{
		if (err)
		{
			slot->sqlerrcode = err->code;
			strlcpy(slot->errmsg, err->msg, LLM_MSG_LEN);
			strlcpy(slot->errdetail, err->detail, LLM_MSG_LEN);
			strlcpy(slot->errhint, err->hint, LLM_MSG_LEN);
		}
		else
		{
			slot->sqlerrcode = 0;
			slot->output = out;
			slot->output_len = DsaPointerIsValid(out) ? len : 0;
			slot->n_prompt = n_prompt;
			slot->n_generated = n_generated;
			slot->finish = finish;
			if (slot->kind == LLM_REQ_GENERATE || slot->kind == LLM_REQ_CHAT)
			{
				llm_shared->n_requests++;
				llm_shared->prompt_tokens += n_prompt;
				llm_shared->generated_tokens += n_generated;
			}
			else if (slot->kind == LLM_REQ_EMBED)
			{
				llm_shared->n_requests++;
				llm_shared->embed_texts++;
			}
		}
		slot->state = LLM_SLOT_DONE;
		owner = slot->owner_procno;
	}
	LWLockRelease(llm_shared->lock);
	llm_set_proc_latch(owner);
}

/* Shorthand: complete a request with an error. */
void
llm_reply_fail(int slotno, uint64 request_id, int code, const char *msg,
			const char *detail, const char *hint)
{
	LlmWErr		e;

	llm_werr_set(&e, code, msg, detail, hint);
	llm_reply_complete(slotno, request_id, &e, NULL, 0, 0, 0, 0);
}
