/*
 * pg_enrich_worker.c - the background workers of async enrichment jobs.
 *
 * "llm enrich launcher" (registered in _PG_init) starts, when the server
 * starts and again after a crash restart, one "llm enrich worker" per
 * database that accepts connections; a worker whose database has no
 * async job (or no llm extension) exits at once. llm_enrich starts the
 * worker of its database when the transaction creating an async job
 * commits. A worker that dies (terminated, killed, error) is restarted by
 * the postmaster after ENRICH_WORKER_RESTART_SEC. Each worker holds a
 * session advisory lock for its database; a second one finds it taken
 * and exits, and the llm_enrich_jobs view shows the holder's pid.
 *
 * A worker loops over the async jobs of its database. For each job one
 * transaction:
 *   1. takes up to llm.enrich_batch_size due queue entries, oldest first,
 *      FOR UPDATE SKIP LOCKED (the locks last until the commit);
 *   2. renders the entries' rows as the job's owner;
 *   3. computes them with one llm_generate_batch / llm_embed_batch call
 *      (through the llm worker, which batches them); when the call fails
 *      each row is computed alone, to find the ones that fail;
 *   4. for each entry, in a subtransaction: skips it when a newer entry
 *      of the same key exists (that one will be written), locks the row
 *      FOR NO KEY UPDATE SKIP LOCKED (a row locked by a writer stays
 *      queued for the next round), and writes the target only if the row
 *      still renders to the computed prompt (otherwise the source changed
 *      after it was taken, and the change queued a newer entry);
 *   5. deletes the entries it finished, counts failures in attempts with
 *      an exponential backoff, and moves an entry that failed
 *      llm.enrich_max_attempts times to llm_enrich_failed_rows;
 *   6. commits: the targets and the queue change together, so a kill at
 *      any moment loses no entry and writes no row twice.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "pg_enrich.h"

#define ENRICH_LAUNCHER_RESTART_SEC	5
#define ENRICH_MAX_DELAY_MS			3600000 /* backoff cap: one hour */

/* what happened to one queue entry of a batch */
typedef enum EntryState
{
	ENTRY_PENDING = 0,			/* not computed yet */
	ENTRY_COMPUTED,				/* result ready */
	ENTRY_FAILED,				/* error text in err */
	ENTRY_DONE,					/* written, or nothing to write: delete */
	ENTRY_BUSY					/* row locked by a writer: keep for later */
} EntryState;

typedef struct Entry
{
	int64		id;
	Datum		key;			/* jsonb */
	int32		attempts;
	char	   *prompt;			/* rendered; NULL: the row no longer exists */
	Datum		result;
	bool		result_null;
	EntryState	state;
	bool		written;		/* DONE: the target was written */
	char	   *err;
} Entry;

/*
 * Register the launcher (called from _PG_init).
 */
void
llm_enrich_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = ENRICH_LAUNCHER_RESTART_SEC;
	strlcpy(worker.bgw_library_name, "llm", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "llm_enrich_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "llm enrich launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "llm enrich launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * Main function of the launcher: start a drain worker for every database
 * that accepts connections, then sleep until shutdown (staying alive, so
 * that the postmaster runs it again after a crash restart).
 */
void
llm_enrich_launcher_main(Datum arg)
{
	Oid		   *dbs;
	int			n = 0;
	int			cap = 16;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	dbs = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * cap);
	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate)
			continue;
		if (n == cap)
		{
			cap *= 2;
			dbs = repalloc(dbs, sizeof(Oid) * cap);
		}
		dbs[n++] = db->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	for (int i = 0; i < n; i++)
		enrich_start_worker(dbs[i]);

	while (!ShutdownRequestPending)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
	proc_exit(0);
}

/*
 * Run fn inside a transaction with an SPI connection and a snapshot.
 */
static void
in_transaction(void (*fn) (void *), void *arg)
{
	/* now() is the transaction's start, which a worker must set itself */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	fn(arg);
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
}

/* arguments and result of lock_step */
typedef struct LockStep
{
	bool		acquire;		/* true: try to take the lock; false: release it */
	bool		ok;				/* acquire: taken (and the extension exists) */
} LockStep;

/*
 * Take (try) or release this database's drain-worker advisory lock, a
 * session lock that outlives the transaction.
 */
static void
lock_step(void *arg)
{
	LockStep   *ls = arg;
	bool		isnull;

	if (ls->acquire && enrich_schema(true) == NULL)
	{
		ls->ok = false;
		return;
	}
	if (SPI_execute(psprintf("SELECT pg_catalog.%s(%d, %d)",
							 ls->acquire ? "pg_try_advisory_lock" : "pg_advisory_unlock",
							 ENRICH_LOCK_KEY1, ENRICH_LOCK_KEY2), false, 0) != SPI_OK_SELECT)
		elog(ERROR, "advisory lock query failed");
	ls->ok = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* the async jobs of the database, as listed by list_jobs */
typedef struct JobList
{
	int			n;
	int32	   *ids;			/* in TopMemoryContext */
} JobList;

/*
 * List the database's async jobs, after dropping the jobs whose table no
 * longer exists (their triggers went with the table).
 */
static void
list_jobs(void *arg)
{
	JobList    *jl = arg;
	char	   *schema = enrich_schema(true);
	EnrichUser save;

	jl->n = 0;
	if (schema == NULL)
		return;
	enrich_push_user(enrich_ext_owner(), false, &save);
	if (SPI_execute(psprintf("DELETE FROM %s.llm_enrich_job j WHERE NOT EXISTS"
							 " (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = j.tbl)",
							 schema), false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not drop orphaned enrichment jobs");
	if (SPI_execute(psprintf("SELECT job FROM %s.llm_enrich_job WHERE mode = 'async' ORDER BY job",
							 schema), false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list enrichment jobs");
	enrich_pop_user(&save);
	if (jl->ids)
		pfree(jl->ids);
	jl->ids = MemoryContextAlloc(TopMemoryContext, sizeof(int32) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		jl->ids[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 1, &isnull));
	}
	jl->n = (int) SPI_processed;
}

/*
 * Run one statement through SPI; errors on an SPI failure.
 */
static void
exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0) < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", sql);
}

/*
 * Run fn(job, entries, arg) in a subtransaction; on error, return the
 * error's message (in the caller's memory context) and roll back.
 */
static char *
try_sub(void (*fn) (EnrichJob *, Entry *, int), EnrichJob *job, Entry *e, int n)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *err = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(job, e, n);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		err = edata->message ? edata->message : pstrdup("unknown error");
		/*
		 * Operator intervention (a cancel, a shutdown, the llm worker
		 * exiting under the request) is not the row's failure: the error
		 * ends this worker's transaction, the entries stay queued without
		 * an attempt counted, and the postmaster restarts the worker.
		 */
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION)
			ReThrowError(edata);
	}
	PG_END_TRY();
	CHECK_FOR_INTERRUPTS();
	return err;
}

/*
 * Compute the entries e[0..n-1] that have a prompt and are PENDING with
 * one batch call, as the job's owner.
 */
static void
compute(EnrichJob *job, Entry *e, int n)
{
	Datum	   *prompts = palloc(sizeof(Datum) * n);
	int		   *which = palloc(sizeof(int) * n);
	int			m = 0;
	Oid			types[ENRICH_MAX_OPTS + 1];
	Datum		values[ENRICH_MAX_OPTS + 1];
	char		nulls[ENRICH_MAX_OPTS + 1];
	EnrichUser save;
	int16		typlen;
	bool		typbyval;
	Oid			rtype = enrich_result_type(job);

	for (int i = 0; i < n; i++)
		if (e[i].state == ENTRY_PENDING && e[i].prompt)
		{
			prompts[m] = CStringGetTextDatum(e[i].prompt);
			which[m++] = i;
		}
	if (m == 0)
		return;
	types[0] = TEXTARRAYOID;
	values[0] = PointerGetDatum(construct_array_builtin(prompts, m, TEXTOID));
	nulls[0] = ' ';
	memcpy(types + 1, job->opt_types, sizeof(Oid) * job->nopts);
	memcpy(values + 1, job->opt_values, sizeof(Datum) * job->nopts);
	memcpy(nulls + 1, job->opt_nulls, job->nopts);

	enrich_push_user(job->owner, true, &save);
	exec(psprintf("SELECT r.ord, r.%s FROM %s", enrich_result_col(job),
				  enrich_batch_call_sql(job, "$1", 2)),
		 job->nopts + 1, types, values, nulls);
	enrich_pop_user(&save);

	get_typlenbyval(rtype, &typlen, &typbyval);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int			ord = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
													  SPI_tuptable->tupdesc, 1, &isnull));
		Datum		v = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);
		Entry	   *x;

		if (ord < 1 || ord > m)
			elog(ERROR, "batch result ord %d out of range", ord);
		x = &e[which[ord - 1]];
		x->result_null = isnull;
		x->result = isnull ? (Datum) 0 : datumCopy(v, typbyval, typlen);
		x->state = ENTRY_COMPUTED;
	}
	for (int i = 0; i < m; i++)
		if (e[which[i]].state == ENTRY_PENDING)
			elog(ERROR, "the batch call returned no result for a prompt");
}

/*
 * Write one computed entry (see the file header, step 4).
 */
static void
write_entry(EnrichJob *job, Entry *e, int n)
{
	EnrichUser save;
	Oid			types[3];
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	char	   *keyrec;
	bool		isnull;

	/* a newer entry of the same key: that one will be written */
	types[0] = INT4OID;
	values[0] = Int32GetDatum(job->id);
	types[1] = JSONBOID;
	values[1] = e->key;
	types[2] = INT8OID;
	values[2] = Int64GetDatum(e->id);
	enrich_push_user(enrich_ext_owner(), false, &save);
	exec(psprintf("SELECT EXISTS (SELECT 1 FROM %s.llm_enrich_queue"
				  " WHERE job = $1 AND key = $2 AND id > $3)", job->schema),
		 3, types, values, nulls);
	enrich_pop_user(&save);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
	{
		e->state = ENTRY_DONE;
		return;
	}

	keyrec = psprintf("pg_catalog.jsonb_populate_record(NULL::%s, $1) AS k", job->rel);
	enrich_push_user(job->owner, true, &save);
	/* lock the row without waiting for a writer */
	exec(psprintf("SELECT 1 FROM %s t, %s WHERE %s FOR NO KEY UPDATE OF t SKIP LOCKED",
				  job->rel, keyrec, enrich_key_eq_sql(job, "t", "k")),
		 1, types + 1, values + 1, nulls);
	if (SPI_processed == 0)
	{
		exec(psprintf("SELECT 1 FROM %s t, %s WHERE %s", job->rel, keyrec,
					  enrich_key_eq_sql(job, "t", "k")),
			 1, types + 1, values + 1, nulls);
		e->state = SPI_processed > 0 ? ENTRY_BUSY : ENTRY_DONE;
		enrich_pop_user(&save);
		return;
	}
	/* write only if the row still renders to the prompt computed */
	types[0] = enrich_result_type(job);
	values[0] = e->result;
	nulls[0] = e->result_null ? 'n' : ' ';
	types[2] = TEXTOID;
	values[2] = CStringGetTextDatum(e->prompt);
	exec(psprintf("UPDATE %s t SET %s = $1 FROM %s WHERE %s AND %s OPERATOR(pg_catalog.=) $3",
				  job->rel, job->target,
				  psprintf("pg_catalog.jsonb_populate_record(NULL::%s, $2) AS k", job->rel),
				  enrich_key_eq_sql(job, "t", "k"), enrich_render_sql(job, "t")),
		 3, types, values, nulls);
	enrich_pop_user(&save);
	e->state = ENTRY_DONE;
	e->written = (SPI_processed > 0);	/* 0: stale, a newer entry follows */
}

/*
 * Take up to llm.enrich_batch_size due entries of the job (step 1) and
 * render their rows (step 2); returns how many were taken.
 */
static int
take_batch(EnrichJob *job, Entry **entries)
{
	EnrichUser save;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(job->id), Int32GetDatum(llm_guc_enrich_batch_size)};
	Datum	   *keys;
	Entry	   *e;
	int			n;

	enrich_push_user(enrich_ext_owner(), false, &save);
	exec(psprintf("SELECT id, key, attempts FROM %s.llm_enrich_queue"
				  " WHERE job = $1 AND not_before <= pg_catalog.now()"
				  " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED", job->schema),
		 2, types, values, NULL);
	enrich_pop_user(&save);
	n = (int) SPI_processed;
	if (n == 0)
		return 0;
	e = palloc0(sizeof(Entry) * n);
	keys = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		e[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		e[i].key = datumCopy(SPI_getbinval(tup, desc, 2, &isnull), false, -1);
		e[i].attempts = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		keys[i] = e[i].key;
	}

	types[0] = JSONBARRAYOID;
	values[0] = PointerGetDatum(construct_array(keys, n, JSONBOID, -1, false, TYPALIGN_INT));
	enrich_push_user(job->owner, true, &save);
	exec(psprintf("SELECT q.i, %s FROM pg_catalog.unnest($1) WITH ORDINALITY AS q(key, i),"
				  " pg_catalog.jsonb_populate_record(NULL::%s, q.key) AS k, %s t WHERE %s",
				  enrich_render_sql(job, "t"), job->rel, job->rel,
				  enrich_key_eq_sql(job, "t", "k")),
		 1, types, values, NULL);
	enrich_pop_user(&save);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		i = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
													SPI_tuptable->tupdesc, 1, &isnull));

		if (i >= 1 && i <= n)
			e[i - 1].prompt = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
	}
	/* a row that no longer exists has nothing to write */
	for (int i = 0; i < n; i++)
		if (e[i].prompt == NULL)
			e[i].state = ENTRY_DONE;
	*entries = e;
	return n;
}

/*
 * Record the outcome of the batch in the catalog (step 5); returns the
 * number of entries finished or failed (progress).
 */
static int
record_batch(EnrichJob *job, Entry *e, int n)
{
	EnrichUser save;
	int64		written = 0;
	int			progress = 0;
	char	   *last_error = NULL;

	enrich_push_user(enrich_ext_owner(), false, &save);
	for (int i = 0; i < n; i++)
	{
		Oid			types[4] = {INT8OID, INT4OID, TEXTOID, INT8OID};
		Datum		values[4];

		values[0] = Int64GetDatum(e[i].id);
		if (e[i].state == ENTRY_DONE)
		{
			if (e[i].written)
				written++;
			exec(psprintf("DELETE FROM %s.llm_enrich_queue WHERE id = $1", job->schema),
				 1, types, values, NULL);
			progress++;
		}
		else if (e[i].state == ENTRY_FAILED)
		{
			int			attempts = e[i].attempts + 1;
			int64		delay = llm_guc_enrich_retry_delay;

			for (int k = 1; k < attempts && delay < ENRICH_MAX_DELAY_MS; k++)
				delay *= 2;
			values[1] = Int32GetDatum(attempts);
			values[2] = CStringGetTextDatum(e[i].err);
			values[3] = Int64GetDatum(Min(delay, ENRICH_MAX_DELAY_MS));
			if (attempts >= llm_guc_enrich_max_attempts)
				exec(psprintf("WITH q AS (DELETE FROM %s.llm_enrich_queue WHERE id = $1"
							  " RETURNING job, key)"
							  " INSERT INTO %s.llm_enrich_failed_rows (job, key, attempts, error)"
							  " SELECT job, key, $2, $3 FROM q", job->schema, job->schema),
					 3, types, values, NULL);
			else
				exec(psprintf("UPDATE %s.llm_enrich_queue SET attempts = $2, last_error = $3,"
							  " not_before = pg_catalog.now() + $4 * interval '1 millisecond'"
							  " WHERE id = $1", job->schema),
					 4, types, values, NULL);
			last_error = e[i].err;
			progress++;
		}
	}
	if (written > 0 || last_error)
	{
		Oid			types[3] = {INT4OID, INT8OID, TEXTOID};
		Datum		values[3] = {Int32GetDatum(job->id), Int64GetDatum(written), 0};
		char		nulls[3] = {' ', ' ', 'n'};

		if (last_error)
		{
			values[2] = CStringGetTextDatum(last_error);
			nulls[2] = ' ';
		}
		exec(psprintf("UPDATE %s.llm_enrich_job SET done = done + $2,"
					  " last_error = coalesce($3, last_error) WHERE job = $1", job->schema),
			 3, types, values, nulls);
	}
	enrich_pop_user(&save);
	return progress;
}

/* arguments and result of drain_step */
typedef struct DrainStep
{
	int32		job;
	bool		progress;		/* some entry was finished or failed */
} DrainStep;

/*
 * Process one batch of one job, in the caller's transaction.
 */
static void
drain_step(void *arg)
{
	DrainStep  *ds = arg;
	EnrichJob	job;
	Entry	   *e;
	int			n;
	char	   *err;

	ds->progress = false;
	if (!enrich_load_job(ds->job, &job) || job.rel == NULL || !job.async)
		return;
	n = take_batch(&job, &e);
	if (n == 0)
		return;
	pgstat_report_activity(STATE_RUNNING, psprintf("llm enrich job %d: %d rows", job.id, n));

	/* all together; when that fails, one by one to find the failing rows */
	err = try_sub(compute, &job, e, n);
	if (err)
		for (int i = 0; i < n; i++)
		{
			if (e[i].state != ENTRY_PENDING)
				continue;
			err = try_sub(compute, &job, &e[i], 1);
			if (err)
			{
				e[i].state = ENTRY_FAILED;
				e[i].err = err;
			}
		}
	for (int i = 0; i < n; i++)
	{
		if (e[i].state != ENTRY_COMPUTED)
			continue;
		err = try_sub(write_entry, &job, &e[i], 1);
		if (err)
		{
			e[i].state = ENTRY_FAILED;
			e[i].err = err;
		}
	}
	ds->progress = record_batch(&job, e, n) > 0;
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Main function of a database's drain worker (bgw_main_arg: the
 * database's oid).
 */
void
llm_enrich_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	LockStep	ls;
	JobList		jl = {0, NULL};

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("llm enrich worker");

	ls.acquire = true;
	in_transaction(lock_step, &ls);
	if (!ls.ok)
		proc_exit(0);			/* no extension, or another worker drains */

	for (;;)
	{
		bool		progress = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		in_transaction(list_jobs, &jl);
		if (jl.n == 0)
		{
			/*
			 * No job: give up the lock, then look once more, so that a job
			 * created meanwhile (whose worker found the lock taken) is not
			 * left without a worker.
			 */
			ls.acquire = false;
			in_transaction(lock_step, &ls);
			in_transaction(list_jobs, &jl);
			if (jl.n == 0)
				proc_exit(0);
			ls.acquire = true;
			in_transaction(lock_step, &ls);
			if (!ls.ok)
				proc_exit(0);
		}
		for (int i = 0; i < jl.n; i++)
		{
			DrainStep	ds;

			ds.job = jl.ids[i];
			in_transaction(drain_step, &ds);
			progress |= ds.progress;
		}
		if (!progress)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 llm_guc_enrich_naptime, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
