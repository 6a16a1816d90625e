/*
 * pg_views.c - the functions behind the llm_models and llm_stats views.
 *
 * Both read the shared state the worker publishes; neither waits for the
 * worker, so they answer even while it is busy or restarting.
 */
#include "postgres.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pg_llm.h"

PG_FUNCTION_INFO_V1(llm_models);
PG_FUNCTION_INFO_V1(llm_stats);

#define LLM_MODELS_COLS	16
#define LLM_STATS_COLS	18

/*
 * Index of the loaded model called name in the shared model table, or -1
 * (caller holds the lock).
 */
int
llm_find_model_entry(const char *name)
{
	for (int i = 0; i < LLM_MAX_MODELS; i++)
		if (llm_shared->models[i].in_use &&
			strcmp(llm_shared->models[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * Add the .gguf files of llm.model_dir that are not loaded to the result
 * (loaded = false, model details NULL; the path only with show_paths).
 */
static void
add_unloaded_files(ReturnSetInfo *rsinfo, const LlmModelEntry *models, bool show_paths)
{
	DIR		   *dir;
	struct dirent *de;

	if (llm_guc_model_dir == NULL || llm_guc_model_dir[0] == '\0')
		return;
	dir = AllocateDir(llm_guc_model_dir);
	if (dir == NULL)
		return;
	while ((de = ReadDirExtended(dir, llm_guc_model_dir, LOG)) != NULL)
	{
		char		path[MAXPGPATH];
		char		resolved[PATH_MAX];
		struct stat st;
		size_t		len = strlen(de->d_name);
		bool		loaded = false;
		Datum		values[LLM_MODELS_COLS];
		bool		nulls[LLM_MODELS_COLS];
		char		name[LLM_NAME_LEN];

		if (len <= 5 || strcmp(de->d_name + len - 5, ".gguf") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", llm_guc_model_dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (realpath(path, resolved) == NULL)
			strlcpy(resolved, path, sizeof(resolved));
		for (int i = 0; i < LLM_MAX_MODELS; i++)
			if (models[i].in_use && strcmp(models[i].path, resolved) == 0)
				loaded = true;
		if (loaded)
			continue;

		len = Min(len - 5, LLM_NAME_LEN - 1);
		memcpy(name, de->d_name, len);
		name[len] = '\0';
		memset(nulls, true, sizeof(nulls));
		values[0] = CStringGetTextDatum(name);
		nulls[0] = false;
		if (show_paths)
		{
			values[1] = CStringGetTextDatum(resolved);
			nulls[1] = false;
		}
		values[6] = BoolGetDatum(false);
		nulls[6] = false;
		values[7] = Int64GetDatum(0);
		nulls[7] = false;
		values[8] = BoolGetDatum(false);
		nulls[8] = false;
		values[12] = BoolGetDatum(false);
		nulls[12] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	FreeDir(dir);
}

/*
 * llm_models(): one row per loaded model, then one per .gguf file in
 * llm.model_dir that is not loaded. Paths are NULL unless the caller may
 * read server files (a symbolic link in llm.model_dir would otherwise
 * tell where it points); owner is NULL for the models of the settings.
 */
Datum
llm_models(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LlmModelEntry *models;
	bool		show_paths = llm_may_read_paths();

	llm_require_shared();
	InitMaterializedSRF(fcinfo, 0);

	models = palloc(sizeof(LlmModelEntry) * LLM_MAX_MODELS);
	LWLockAcquire(llm_shared->lock, LW_SHARED);
	memcpy(models, llm_shared->models, sizeof(LlmModelEntry) * LLM_MAX_MODELS);
	LWLockRelease(llm_shared->lock);

	for (int i = 0; i < LLM_MAX_MODELS; i++)
	{
		Datum		values[LLM_MODELS_COLS];
		bool		nulls[LLM_MODELS_COLS];
		LlmModelEntry *m = &models[i];

		if (!m->in_use)
			continue;
		memset(nulls, false, sizeof(nulls));
		values[0] = CStringGetTextDatum(m->name);
		if (show_paths)
			values[1] = CStringGetTextDatum(m->path);
		else
			nulls[1] = true;
		values[2] = CStringGetTextDatum(m->arch);
		values[3] = Int64GetDatum(m->n_params);
		if (m->n_params == 0)
			nulls[3] = true;
		values[4] = CStringGetTextDatum(m->quant);
		if (!m->quant[0])
			nulls[4] = true;
		values[5] = Int32GetDatum(m->n_ctx);
		values[6] = BoolGetDatum(true);
		values[7] = Int64GetDatum(m->model_bytes + m->kv_bytes);
		values[8] = BoolGetDatum(m->is_default);
		if (m->chat_format[0])
			values[9] = CStringGetTextDatum(m->chat_format);
		else
			nulls[9] = true;
		/* embedding properties, once the model is open for embeddings */
		if (m->embed_dim > 0)
		{
			values[10] = Int32GetDatum(m->embed_dim);
			values[11] = CStringGetTextDatum(m->pooling);
		}
		else
			nulls[10] = nulls[11] = true;
		values[12] = BoolGetDatum(m->is_default_embedding);
		if (OidIsValid(m->owner))
		{
			char	   *owner = GetUserNameFromId(m->owner, true);

			if (owner)
				values[13] = CStringGetTextDatum(owner);
			else
				nulls[13] = true;
		}
		else
			nulls[13] = true;
		values[14] = CStringGetTextDatum(m->device[0] ? m->device : "cpu");
		values[15] = Int64GetDatum(m->gpu_bytes);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	add_unloaded_files(rsinfo, models, show_paths);
	PG_RETURN_NULL();
}

/*
 * llm_stats(): one row of counters since the worker started.
 */
Datum
llm_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[LLM_STATS_COLS];
	bool		nulls[LLM_STATS_COLS];
	LlmShared	s;
	int			queued = 0;
	int			running = 0;
	int			in_use = 0;
	double		uptime = 0;

	llm_require_shared();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	LWLockAcquire(llm_shared->lock, LW_SHARED);
	memcpy(&s, llm_shared, offsetof(LlmShared, slots));
	for (int i = 0; i < llm_shared->n_slots; i++)
	{
		LlmSlotState st = llm_shared->slots[i].state;

		if (st == LLM_SLOT_QUEUED)
			queued++;
		else if (st == LLM_SLOT_RUNNING)
			running++;
		if (st != LLM_SLOT_FREE)
			in_use++;
	}
	LWLockRelease(llm_shared->lock);

	if (s.worker_started != 0)
		uptime = (double) (GetCurrentTimestamp() - s.worker_started) / 1000000.0;

	memset(nulls, false, sizeof(nulls));
	values[0] = Int64GetDatum((int64) s.n_requests);
	values[1] = Int64GetDatum((int64) s.prompt_tokens);
	values[2] = Int64GetDatum((int64) s.generated_tokens);
	values[3] = Int64GetDatum((int64) s.steps);
	values[4] = Float8GetDatum(s.steps ? (double) s.step_seqs / s.steps : 0.0);
	values[5] = Int32GetDatum(queued + running);
	values[6] = Float8GetDatum(s.n_waits ? s.wait_ms_total / s.n_waits : 0.0);
	values[7] = Float8GetDatum(uptime > 0 ? s.generated_tokens / uptime : 0.0);
	values[8] = Float8GetDatum(s.step_seconds);
	values[9] = Int32GetDatum(running);
	values[10] = Int32GetDatum(in_use);
	if (s.worker_pid != 0)
		values[11] = Int32GetDatum(s.worker_pid);
	else
		nulls[11] = true;
	if (s.worker_started != 0)
		values[12] = TimestampTzGetDatum(s.worker_started);
	else
		nulls[12] = true;
	values[13] = Int64GetDatum((int64) s.embed_texts);
	values[14] = Int64GetDatum((int64) s.embed_tokens);
	values[15] = Int64GetDatum((int64) s.embed_batches);
	values[16] = Float8GetDatum(s.embed_seconds);
	/* reuse of cached prefixes tells about other roles' prompts */
	if (llm_may_read_all_stats())
		values[17] = Int64GetDatum((int64) s.cached_prompt_tokens);
	else
		nulls[17] = true;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
