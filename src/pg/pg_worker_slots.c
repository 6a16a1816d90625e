/*
 * pg_worker_slots.c - the llm worker's clean-up of shared request slots
 * when a worker starts or exits: it needs the slot table only, none of
 * the worker's own state.
 */
#include "postgres.h"

#include "pg_llm.h"
#include "utils/dsa.h"

/*
 * Fail or free slots that belong to a worker other than the current one
 * (gen), and optionally the QUEUED ones too. Caller holds the lock.
 * Owners to wake are appended to procs[*n].
 */
void
llm_worker_fail_slots(uint64 keep_gen, bool fail_queued, const char *why,
					  int *procs, int *n)
{
	dsa_area   *area = llm_dsa();

	for (int i = 0; i < llm_shared->n_slots; i++)
	{
		LlmSlot    *slot = &llm_shared->slots[i];
		bool		stale = slot->worker_gen != keep_gen;

		if ((slot->state == LLM_SLOT_RUNNING && stale) ||
			(slot->state == LLM_SLOT_QUEUED && fail_queued))
		{
			slot->sqlerrcode = ERRCODE_OPERATOR_INTERVENTION;
			strlcpy(slot->errmsg, why, LLM_MSG_LEN);
			slot->errdetail[0] = '\0';
			strlcpy(slot->errhint, "The worker restarts by itself; run the query again.",
					LLM_MSG_LEN);
			slot->state = LLM_SLOT_DONE;
			procs[(*n)++] = slot->owner_procno;
		}
		else if (slot->state == LLM_SLOT_CANCELLED && stale)
		{
			dsa_pointer chunks[2];
			int			nc = 0;

			llm_free_slot_chunks(slot, chunks, &nc);
			for (int c = 0; c < nc; c++)
				dsa_free(area, chunks[c]);
			slot->state = LLM_SLOT_FREE;
			slot->request_id = 0;
			slot->owner_pid = 0;
		}
	}
}
