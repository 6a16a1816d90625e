/*
 * pg_batch_calls.c - which functions the row-batching node batches.
 *
 * A function is ours when it is a C function of this library (probin
 * "$libdir/llm") with one of the link symbols below, whatever schema the
 * extension lives in. Answers are cached per backend by function oid and
 * forgotten on any pg_proc change. Used by the planner side
 * (pg_batch_plan.c) and the executor side (pg_batch_exec.c).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "pg_llm.h"

/* the C functions the node batches, by their link symbol */
static const struct
{
	const char *symbol;
	LlmCallKind kind;
}			llm_batchable[] =
{
	{"llm_generate", LLM_CALL_GENERATE},
	{"llm_chat", LLM_CALL_CHAT},
	{"llm_embed_sql", LLM_CALL_EMBED},
	{"llm_extract", LLM_CALL_EXTRACT},
};

/* function oid -> LlmCallKind (LLM_CALL_NONE for every other function) */
typedef struct CallKindEntry
{
	Oid			funcid;
	LlmCallKind kind;
} CallKindEntry;

static HTAB *call_kinds = NULL;

/*
 * Syscache callback: any change to pg_proc (DROP EXTENSION, CREATE OR
 * REPLACE) forgets what we learned about function oids.
 */
static void
call_kinds_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	if (call_kinds != NULL)
	{
		hash_destroy(call_kinds);
		call_kinds = NULL;
	}
}

/*
 * Look a function up in pg_proc: is it one of this library's batchable
 * C functions? Decided by its language, link symbol and library, so that
 * it works whatever schema the extension is installed in.
 */
static LlmCallKind
call_kind_lookup(Oid funcid)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	LlmCallKind kind = LLM_CALL_NONE;
	Datum		d;
	bool		isnull;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		return LLM_CALL_NONE;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prolang == ClanguageId && !proc->proretset)
	{
		d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
		if (!isnull)
		{
			char	   *bin = TextDatumGetCString(d);
			const char *base = strrchr(bin, '/');

			base = base ? base + 1 : bin;
			if (strcmp(base, "llm") == 0 || strcmp(base, "llm.so") == 0)
			{
				char	   *src;

				d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
				src = isnull ? NULL : TextDatumGetCString(d);
				for (int i = 0; src && i < (int) lengthof(llm_batchable); i++)
					if (strcmp(src, llm_batchable[i].symbol) == 0)
						kind = llm_batchable[i].kind;
			}
		}
	}
	ReleaseSysCache(tup);
	return kind;
}

/*
 * The kind of call funcid is, cached per backend.
 */
LlmCallKind
llm_call_kind(Oid funcid)
{
	CallKindEntry *e;
	bool		found;

	if (funcid < FirstNormalObjectId)
		return LLM_CALL_NONE;
	if (call_kinds == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CallKindEntry);
		ctl.hcxt = TopMemoryContext;
		call_kinds = hash_create("llm call kinds", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(call_kinds, &funcid, HASH_FIND, NULL);
	if (e != NULL)
		return e->kind;
	/* look up before inserting: the lookup may run the callback above */
	{
		LlmCallKind kind = call_kind_lookup(funcid);

		if (call_kinds == NULL)
			return kind;
		e = hash_search(call_kinds, &funcid, HASH_ENTER, &found);
		e->kind = kind;
		return kind;
	}
}

/*
 * Register the cache's invalidation callback (from _PG_init).
 */
void
llm_call_kind_init(void)
{
	CacheRegisterSyscacheCallback(PROCOID, call_kinds_invalidate, (Datum) 0);
}
