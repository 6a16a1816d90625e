/*
 * pg_enrich.c - enrichment jobs: llm_enrich, llm_enrich_drop,
 * llm_enrich_retry, llm_enrich_backfill, llm_enrich_progress and the
 * trigger function the jobs install.
 *
 * A job's prompt is a template naming the table's columns in braces
 * ("Summarize: {body}", "{{" and "}}" for literal braces). It is turned
 * into an SQL expression, pg_catalog.concat('Summarize: ', t.body), so
 * that the rendering is the same wherever it happens (a NULL column
 * renders as the empty string) and the drain worker can recheck, at the
 * moment it writes, that the row still renders to the prompt it computed.
 *
 * Each job installs two statement-level triggers with transition tables
 * on its table, AFTER INSERT and AFTER UPDATE. PostgreSQL does not allow
 * a column list on a trigger with transition tables, so the UPDATE
 * trigger fires for every UPDATE and keeps only the rows whose rendered
 * prompt changed (old and new rows joined on the primary key): an UPDATE
 * of other columns, the job's own write of the target included, does no
 * work. Async jobs insert the rows' keys into llm_enrich_queue; sync jobs
 * compute all the statement's rows with one llm_generate_batch /
 * llm_embed_batch call and write the targets before the statement ends.
 *
 * A jsonb target takes llm_extract(prompt, json_schema, NULL, model,
 * max_tokens, temperature, seed) of the rendered prompt: the batch call
 * is then a sub-select computing llm_extract over the unnested prompts,
 * which the row-batching node (LlmBatch) submits together.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "postmaster/bgworker.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pg_enrich.h"
#include "pg_llm.h"

PG_FUNCTION_INFO_V1(llm_enrich);
PG_FUNCTION_INFO_V1(llm_enrich_drop);
PG_FUNCTION_INFO_V1(llm_enrich_retry);
PG_FUNCTION_INFO_V1(llm_enrich_backfill);
PG_FUNCTION_INFO_V1(llm_enrich_trigger);
PG_FUNCTION_INFO_V1(llm_enrich_progress);

/* seconds before the postmaster restarts a drain worker that died */
#define ENRICH_WORKER_RESTART_SEC	1

/* arguments of llm_enrich */
enum
{
	EA_TBL = 0,
	EA_TARGET,
	EA_PROMPT,
	EA_MODE,
	EA_MODEL,
	EA_MAX_TOKENS,
	EA_TEMPERATURE,
	EA_TOP_P,
	EA_TOP_K,
	EA_MIN_P,
	EA_REPETITION_PENALTY,
	EA_SEED,
	EA_STOP,
	EA_BACKFILL,
	EA_JSON_SCHEMA
};

/* what a job's target takes */
typedef enum EnrichKind
{
	ENRICH_GENERATE,			/* text, varchar: llm_generate */
	ENRICH_EMBED,				/* real[], vector: llm_embed */
	ENRICH_EXTRACT				/* jsonb: llm_extract with the job's schema */
} EnrichKind;

/* one piece of a parsed template: literal text or a column name */
typedef struct TplPiece
{
	bool		is_col;
	char	   *text;
} TplPiece;

/* the database whose drain worker is started when this transaction commits */
static Oid	start_worker_at_commit = InvalidOid;
static bool xact_callback_registered = false;

/*
 * The pg_extension row of llm: its schema and owner; false when the
 * extension is not installed in this database.
 */
static bool
ext_row(Oid *nsp, Oid *owner)
{
	Oid			ext = get_extension_oid("llm", true);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found;

	if (!OidIsValid(ext))
		return false;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	found = HeapTupleIsValid(tup);
	if (found)
	{
		*nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * The quoted name of the extension's schema, or NULL when the extension
 * is not installed in this database and missing_ok.
 */
char *
enrich_schema(bool missing_ok)
{
	Oid			nsp;
	Oid			owner;

	if (!ext_row(&nsp, &owner))
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"llm\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION llm.")));
	}
	return pstrdup(quote_identifier(get_namespace_name(nsp)));
}

/*
 * The role that owns the extension (and so its catalog tables).
 */
Oid
enrich_ext_owner(void)
{
	Oid			nsp;
	Oid			owner;

	if (!ext_row(&nsp, &owner))
		elog(ERROR, "extension llm is not installed");
	return owner;
}

/*
 * Run the following statements as role. restricted: statements on the
 * job's table, run as a security-restricted operation with the session's
 * search_path (the table's own triggers may depend on it; every name and
 * operator in those statements is schema-qualified). Otherwise:
 * statements on the catalog, with search_path set to pg_catalog,
 * pg_temp. An error before enrich_pop_user is cleaned up by the
 * (sub)transaction's abort.
 */
void
enrich_push_user(Oid role, bool restricted, EnrichUser *save)
{
	GetUserIdAndSecContext(&save->userid, &save->secctx);
	SetUserIdAndSecContext(role, save->secctx | SECURITY_LOCAL_USERID_CHANGE |
						   (restricted ? SECURITY_RESTRICTED_OPERATION : 0));
	save->gucnest = NewGUCNestLevel();
	if (!restricted)
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Undo enrich_push_user.
 */
void
enrich_pop_user(EnrichUser *save)
{
	AtEOXact_GUC(true, save->gucnest);
	SetUserIdAndSecContext(save->userid, save->secctx);
}

/*
 * Run one statement through SPI and fail on any SPI error; returns the
 * SPI result code.
 */
static int
enrich_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed (%d): %s", rc, sql);
	return rc;
}

/*
 * The names of table relid's user columns, for hints.
 */
static char *
column_list(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", NameStr(att->attname));
	}
	relation_close(rel, AccessShareLock);
	return buf.data;
}

/*
 * Parse a prompt template against table relid: a list of TplPiece.
 * Unknown columns, an unterminated "{", an empty "{}" and a lone "}" are
 * errors; a template naming no column too.
 */
static List *
tpl_parse(const char *prompt, Oid relid)
{
	List	   *pieces = NIL;
	StringInfoData lit;
	const char *p = prompt;
	bool		any_col = false;

	initStringInfo(&lit);
	while (*p)
	{
		if (p[0] == '{' && p[1] == '{')
		{
			appendStringInfoChar(&lit, '{');
			p += 2;
		}
		else if (p[0] == '}' && p[1] == '}')
		{
			appendStringInfoChar(&lit, '}');
			p += 2;
		}
		else if (p[0] == '}')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unmatched \"}\" in the prompt template"),
					 errhint("Write }} for a literal brace.")));
		else if (p[0] == '{')
		{
			const char *end = strchr(p + 1, '}');
			char	   *name;
			AttrNumber	att;
			TplPiece   *piece;

			if (end == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unterminated \"{\" in the prompt template"),
						 errhint("Name a column as {column}; write {{ for a literal brace.")));
			name = pnstrdup(p + 1, end - p - 1);
			att = get_attnum(relid, name);
			if (att == InvalidAttrNumber || att < 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" named in the prompt template does not exist", name),
						 errdetail("The columns of table \"%s\" are: %s.",
								   get_rel_name(relid), column_list(relid)),
						 errhint("Name columns exactly as they are spelled, in braces such as {body}; write {{ and }} for literal braces.")));
			if (lit.len > 0)
			{
				piece = palloc(sizeof(TplPiece));
				piece->is_col = false;
				piece->text = pstrdup(lit.data);
				pieces = lappend(pieces, piece);
				resetStringInfo(&lit);
			}
			piece = palloc(sizeof(TplPiece));
			piece->is_col = true;
			piece->text = name;
			pieces = lappend(pieces, piece);
			any_col = true;
			p = end + 1;
		}
		else
			appendStringInfoChar(&lit, *p++);
	}
	if (lit.len > 0)
	{
		TplPiece   *piece = palloc(sizeof(TplPiece));

		piece->is_col = false;
		piece->text = lit.data;
		pieces = lappend(pieces, piece);
	}
	if (!any_col)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the prompt template names no column"),
				 errhint("Name the columns the prompt is made of in braces, such as 'Summarize: {body}'.")));
	return pieces;
}

/*
 * The SQL expression rendering job's template for the row alias: a
 * pg_catalog.concat() of its literal pieces and columns.
 */
char *
enrich_render_sql(EnrichJob *job, const char *alias)
{
	List	   *pieces = tpl_parse(job->prompt, job->relid);
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "pg_catalog.concat(");
	foreach(lc, pieces)
	{
		TplPiece   *piece = lfirst(lc);

		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		if (piece->is_col)
			appendStringInfo(&buf, "%s.%s", alias, quote_identifier(piece->text));
		else
			appendStringInfoString(&buf, quote_literal_cstr(piece->text));
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The SQL expression of a row's key: a jsonb object of its primary-key
 * columns.
 */
char *
enrich_key_json_sql(EnrichJob *job, const char *alias)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "pg_catalog.jsonb_build_object(");
	for (int i = 0; i < job->nkeys; i++)
		appendStringInfo(&buf, "%s%s, %s.%s", i ? ", " : "",
						 quote_literal_cstr(job->key_names[i]), alias, job->keys[i]);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The SQL condition "the rows a and b have the same primary key".
 */
char *
enrich_key_eq_sql(EnrichJob *job, const char *a, const char *b)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (int i = 0; i < job->nkeys; i++)
		appendStringInfo(&buf, "%s%s.%s", i ? ", " : "", a, job->keys[i]);
	appendStringInfoString(&buf, ") OPERATOR(pg_catalog.=) (");
	for (int i = 0; i < job->nkeys; i++)
		appendStringInfo(&buf, "%s%s.%s", i ? ", " : "", b, job->keys[i]);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The FROM item computing the inputs (an SQL text[] expression) with
 * the job's options as parameters $first_param, ...: rows (ord, output)
 * of llm_generate_batch or (ord, embedding) of llm_embed_batch, named r.
 */
char *
enrich_batch_call_sql(EnrichJob *job, const char *inputs, int first_param)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (job->extract)
	{
		/* llm_extract(input, schema, instructions, model, max_tokens, temperature, seed) */
		appendStringInfo(&buf,
						 "(SELECT pg_catalog.int4(u.ord) AS ord,"
						 " %s.llm_extract(u.p, $%d, NULL::pg_catalog.text, $%d, $%d, $%d, $%d)"
						 " AS output FROM pg_catalog.unnest(%s) WITH ORDINALITY AS u(p, ord))"
						 " AS r(ord, output)",
						 job->schema, first_param, first_param + 1, first_param + 2,
						 first_param + 3, first_param + 4, inputs);
		return buf.data;
	}
	appendStringInfo(&buf, "%s.%s(%s", job->schema,
					 job->embed ? "llm_embed_batch" : "llm_generate_batch", inputs);
	for (int i = 0; i < job->nopts; i++)
		appendStringInfo(&buf, ", $%d", first_param + i);
	appendStringInfo(&buf, ") AS r(ord, %s)", job->embed ? "embedding" : "output");
	return buf.data;
}

/*
 * The result column of the job's batch call (see enrich_batch_call_sql).
 */
const char *
enrich_result_col(const EnrichJob *job)
{
	return job->embed ? "embedding" : "output";
}

/*
 * The type of that column.
 */
Oid
enrich_result_type(const EnrichJob *job)
{
	return job->embed ? FLOAT4ARRAYOID : job->extract ? JSONBOID : TEXTOID;
}

/*
 * Load job id from the catalog (inside SPI; any user): false when there
 * is no such job. job->rel is NULL when its table no longer exists.
 */
bool
enrich_load_job(int32 id, EnrichJob *job)
{
	EnrichUser save;
	char	   *schema = enrich_schema(false);
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(id);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Relation	rel;
	Oid			pk;

	memset(job, 0, sizeof(*job));
	enrich_push_user(enrich_ext_owner(), false, &save);
	enrich_exec(psprintf("SELECT tbl::oid, target::text, embed, prompt, mode = 'async', owner::oid,"
						 " max_tokens, temperature, top_p, top_k, min_p, repetition_penalty,"
						 " seed, stop, model, json_schema FROM %s.llm_enrich_job WHERE job = $1",
						 schema),
				1, &type, &arg, NULL);
	enrich_pop_user(&save);
	if (SPI_processed == 0)
		return false;

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	job->id = id;
	job->schema = schema;
	job->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	job->target = pstrdup(quote_identifier(SPI_getvalue(tup, desc, 2)));
	job->embed = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	job->prompt = SPI_getvalue(tup, desc, 4);
	job->async = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	job->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
	(void) SPI_getbinval(tup, desc, 16, &isnull);
	job->extract = !isnull;
	if (job->extract)
	{
		/* llm_extract(..., json_schema, NULL, model, max_tokens, temperature, seed) */
		static const int cols[5] = {16, 15, 7, 8, 13};

		job->nopts = 5;
		for (int i = 0; i < 5; i++)
		{
			job->opt_types[i] = SPI_gettypeid(desc, cols[i]);
			job->opt_values[i] = SPI_getbinval(tup, desc, cols[i], &isnull);
			job->opt_nulls[i] = isnull ? 'n' : ' ';
		}
	}
	else if (job->embed)
	{
		/* llm_embed_batch(inputs, model) */
		job->nopts = 1;
		job->opt_types[0] = TEXTOID;
		job->opt_values[0] = SPI_getbinval(tup, desc, 15, &isnull);
		job->opt_nulls[0] = isnull ? 'n' : ' ';
	}
	else
	{
		/* llm_generate_batch(prompts, max_tokens, ..., stop, model) */
		job->nopts = ENRICH_MAX_OPTS;
		for (int i = 0; i < ENRICH_MAX_OPTS; i++)
		{
			job->opt_types[i] = SPI_gettypeid(desc, 7 + i);
			job->opt_values[i] = SPI_getbinval(tup, desc, 7 + i, &isnull);
			job->opt_nulls[i] = isnull ? 'n' : ' ';
		}
	}
	for (int i = 0; i < job->nopts; i++)
	{
		int16		typlen;
		bool		typbyval;

		if (job->opt_nulls[i] == 'n')
			continue;
		get_typlenbyval(job->opt_types[i], &typlen, &typbyval);
		job->opt_values[i] = datumCopy(job->opt_values[i], typbyval, typlen);
	}
	job->prompt = pstrdup(job->prompt);

	/* the table and its primary key */
	rel = try_relation_open(job->relid, AccessShareLock);
	if (rel == NULL)
		return true;
	job->rel = psprintf("%s.%s",
						quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
						quote_identifier(RelationGetRelationName(rel)));
	pk = RelationGetPrimaryKeyIndex(rel);
	if (OidIsValid(pk))
	{
		Relation	idx = index_open(pk, AccessShareLock);

		job->nkeys = idx->rd_index->indnkeyatts;
		job->keys = palloc(sizeof(char *) * job->nkeys);
		job->key_names = palloc(sizeof(char *) * job->nkeys);
		for (int i = 0; i < job->nkeys; i++)
		{
			char	   *name = get_attname(job->relid, idx->rd_index->indkey.values[i], false);

			job->key_names[i] = name;
			job->keys[i] = pstrdup(quote_identifier(name));
		}
		index_close(idx, AccessShareLock);
	}
	relation_close(rel, AccessShareLock);
	if (job->nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" of enrichment job %d has no primary key", job->rel, id),
				 errhint("Add the primary key back, or drop the job with llm_enrich_drop(%d).", id)));
	return true;
}

/*
 * Load job id for a caller who must have the privileges of its owner;
 * errors otherwise.
 */
static void
load_own_job(int32 id, EnrichJob *job)
{
	if (!enrich_load_job(id, job))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("enrichment job %d does not exist", id),
				 errhint("The view llm_enrich_jobs lists the jobs.")));
	if (!has_privs_of_role(GetUserId(), job->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for enrichment job %d", id),
				 errhint("Only the owner of the job's table (role \"%s\") or its members may manage the job.",
						 GetUserNameFromId(job->owner, false))));
}

/*
 * Transaction callback: start the database's drain worker once the
 * transaction that created an async job has committed (a worker started
 * earlier could look for jobs before the new one is visible).
 */
static void
enrich_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && OidIsValid(start_worker_at_commit))
		enrich_start_worker(start_worker_at_commit);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		start_worker_at_commit = InvalidOid;
}

/*
 * Register the drain worker of database dboid. A second worker of the
 * same database finds the first one's advisory lock taken and exits, so
 * registering one too many is harmless. Reports failure as a WARNING:
 * this runs at commit, where an error cannot undo anything.
 */
void
enrich_start_worker(Oid dboid)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = ENRICH_WORKER_RESTART_SEC;
	strlcpy(worker.bgw_library_name, "llm", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "llm_enrich_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "llm enrich worker for database %u", dboid);
	strlcpy(worker.bgw_type, "llm enrich worker", BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = 0;
	if (!RegisterDynamicBackgroundWorker(&worker, NULL))
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start the llm enrich worker"),
				 errhint("Raise max_worker_processes; the worker also starts with the server.")));
}

/*
 * The name of type typid (from pg_type), or NULL.
 */
static char *
type_name_of(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	char	   *name;

	if (!HeapTupleIsValid(tup))
		return NULL;
	name = pstrdup(NameStr(((Form_pg_type) GETSTRUCT(tup))->typname));
	ReleaseSysCache(tup);
	return name;
}

/*
 * Check the target column of a new job and return what it takes: text
 * and varchar take llm_generate; real[] and pgvector's vector (found by
 * its type name) take llm_embed; jsonb takes llm_extract.
 */
static EnrichKind
check_target(Relation rel, const char *target)
{
	AttrNumber	att = get_attnum(RelationGetRelid(rel), target);
	Oid			type;
	char	   *typname;

	if (att == InvalidAttrNumber || att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("target column \"%s\" of table \"%s\" does not exist",
						target, RelationGetRelationName(rel)),
				 errhint("Add the column first, e.g. ALTER TABLE %s ADD COLUMN %s text.",
						 RelationGetRelationName(rel), quote_identifier(target))));
	type = TupleDescAttr(RelationGetDescr(rel), att - 1)->atttypid;
	if (type == TEXTOID || type == VARCHAROID)
		return ENRICH_GENERATE;
	if (type == FLOAT4ARRAYOID)
		return ENRICH_EMBED;
	if (type == JSONBOID)
		return ENRICH_EXTRACT;
	typname = type_name_of(type);	/* pgvector's type has no fixed oid */
	if (typname && strcmp(typname, "vector") == 0)
		return ENRICH_EMBED;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("target column \"%s\" has unsupported type %s", target, format_type_be(type)),
			 errhint("Use a text or varchar column for generated text, a real[] (or pgvector vector) column for embeddings, or a jsonb column with a json_schema for extracted values.")));
	return ENRICH_GENERATE;
}

/*
 * Check the json_schema argument of llm_enrich against the target's
 * kind: a jsonb target needs a schema that compiles (the error names an
 * unsupported keyword) and takes no option llm_extract does not have;
 * other targets take no schema.
 */
static void
check_json_schema(FunctionCallInfo fcinfo, EnrichKind kind, const char *target)
{
	static const struct
	{
		int			arg;
		const char *name;
		double		dflt;
	}			unused[] = {
		{EA_TOP_P, "top_p", 1.0},
		{EA_TOP_K, "top_k", 0.0},
		{EA_MIN_P, "min_p", 0.0},
		{EA_REPETITION_PENALTY, "repetition_penalty", 1.0},
	};
	LlmGenOptions opt;
	StringInfoData buf;

	if (kind != ENRICH_EXTRACT)
	{
		if (!PG_ARGISNULL(EA_JSON_SCHEMA))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("json_schema needs a jsonb target column, and \"%s\" is not jsonb",
							target),
					 errhint("Make the target column jsonb, or pass json_schema => NULL.")));
		return;
	}
	if (PG_ARGISNULL(EA_JSON_SCHEMA))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a jsonb target column needs a json_schema"),
				 errdetail("The job fills column \"%s\" with llm_extract() of the rendered prompt, which needs the JSON Schema of the value.",
						   target),
				 errhint("Pass json_schema => '{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}}}' or a schema of your own.")));
	for (int i = 0; i < lengthof(unused); i++)
	{
		double		v;

		if (PG_ARGISNULL(unused[i].arg))
			continue;
		v = unused[i].arg == EA_TOP_K ? (double) PG_GETARG_INT32(unused[i].arg)
			: PG_GETARG_FLOAT8(unused[i].arg);
		if (v != unused[i].dflt)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s does not apply to a jsonb target column", unused[i].name),
					 errhint("A jsonb target takes llm_extract()'s options only: model, max_tokens, temperature and seed.")));
	}
	if (!PG_ARGISNULL(EA_STOP))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stop does not apply to a jsonb target column"),
				 errhint("Generation under a schema ends when the JSON value is complete; pass stop => NULL.")));
	/* llm_extract's checks of its options, now rather than at every row */
	if (!PG_ARGISNULL(EA_MAX_TOKENS) &&
		(PG_GETARG_INT32(EA_MAX_TOKENS) <= 0 ||
		 PG_GETARG_INT32(EA_MAX_TOKENS) > llm_guc_max_tokens))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens must be between 1 and llm.max_tokens (%d)", llm_guc_max_tokens),
				 errhint("Pass a positive max_tokens, or NULL for llm.default_max_tokens.")));
	if (!PG_ARGISNULL(EA_TEMPERATURE) &&
		!(PG_GETARG_FLOAT8(EA_TEMPERATURE) >= 0.0 && PG_GETARG_FLOAT8(EA_TEMPERATURE) <= 100.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("temperature must be between 0 and 100"),
				 errhint("Use 0 for greedy decoding, or a value such as 0.7 for sampling.")));
	/* compile the schema now, as llm_extract would at every row */
	memset(&opt, 0, sizeof(opt));
	initStringInfo(&buf);
	llm_json_schema_arg(fcinfo, EA_JSON_SCHEMA, &opt, &buf);
	pfree(buf.data);
}

/*
 * Insert keys (a jsonb[] Datum) into the job's queue, as the extension's
 * owner.
 */
static void
enqueue_keys(EnrichJob *job, Datum keys)
{
	EnrichUser save;
	Oid			types[2] = {INT4OID, JSONBARRAYOID};
	Datum		values[2] = {Int32GetDatum(job->id), keys};

	enrich_push_user(enrich_ext_owner(), false, &save);
	enrich_exec(psprintf("INSERT INTO %s.llm_enrich_queue (job, key)"
						 " SELECT $1, k FROM pg_catalog.unnest($2) AS k", job->schema),
				2, types, values, NULL);
	enrich_pop_user(&save);
}

/*
 * The keys of the rows sql (a FROM clause with row alias n) selects, as
 * a jsonb[] Datum computed as the job's owner; false when there are none.
 */
static bool
select_keys(EnrichJob *job, const char *from, Datum *keys)
{
	EnrichUser save;
	bool		isnull;

	enrich_push_user(job->owner, true, &save);
	enrich_exec(psprintf("SELECT pg_catalog.array_agg(%s) FROM %s",
						 enrich_key_json_sql(job, "n"), from), 0, NULL, NULL, NULL);
	enrich_pop_user(&save);
	*keys = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull;
}

/*
 * llm_enrich(tbl, target, prompt, mode, model, max_tokens, ...,
 *            backfill) -> integer
 * Create an enrichment job on a table the caller owns and return its id.
 */
Datum
llm_enrich(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *target;
	char	   *prompt;
	char	   *mode;
	bool		async;
	EnrichKind	kind;
	bool		backfill;
	Relation	rel;
	EnrichJob	job;
	EnrichUser save;
	char	   *schema;
	Oid			owner;
	Oid			types[16];
	Datum		values[16];
	char		nulls[16];
	bool		isnull;
	int32		id;

	for (int i = EA_TBL; i <= EA_MODE; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tbl, target, prompt and mode must not be NULL"),
					 errhint("Pass the table, its target column, a prompt template such as 'Summarize: {body}' and 'async' or 'sync'.")));
	relid = PG_GETARG_OID(EA_TBL);
	target = NameStr(*PG_GETARG_NAME(EA_TARGET));
	prompt = text_to_cstring(PG_GETARG_TEXT_PP(EA_PROMPT));
	mode = text_to_cstring(PG_GETARG_TEXT_PP(EA_MODE));
	backfill = PG_ARGISNULL(EA_BACKFILL) ? true : PG_GETARG_BOOL(EA_BACKFILL);
	if (strcmp(mode, "async") == 0)
		async = true;
	else if (strcmp(mode, "sync") == 0)
		async = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid enrichment mode \"%s\"", mode),
				 errhint("Use 'async' (a background worker fills the target) or 'sync' (the statement fills it).")));

	/* the table: a plain table the caller owns, with a primary key */
	rel = table_open(relid, ShareRowExclusiveLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errhint("Enrichment jobs run on plain tables.")));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	if (!OidIsValid(RelationGetPrimaryKeyIndex(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
				 errhint("Add a primary key: the job identifies rows by it.")));
	kind = check_target(rel, target);
	check_json_schema(fcinfo, kind, target);
	owner = rel->rd_rel->relowner;
	{
		List	   *pieces = tpl_parse(prompt, relid);
		ListCell   *lc;

		foreach(lc, pieces)
		{
			TplPiece   *piece = lfirst(lc);

			if (piece->is_col && strcmp(piece->text, target) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the prompt template names the target column \"%s\"", target),
						 errhint("The prompt must be made of other columns than the one it fills.")));
		}
	}
	table_close(rel, NoLock);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schema = enrich_schema(false);

	/* one job per target column */
	{
		Oid			t[2] = {OIDOID, NAMEOID};
		Datum		v[2] = {ObjectIdGetDatum(relid), PG_GETARG_DATUM(EA_TARGET)};

		enrich_push_user(enrich_ext_owner(), false, &save);
		enrich_exec(psprintf("SELECT job FROM %s.llm_enrich_job WHERE tbl = $1 AND target = $2",
							 schema), 2, t, v, NULL);
		enrich_pop_user(&save);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("column \"%s\" already has enrichment job %d", target,
							DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &isnull))),
					 errhint("Drop that job with llm_enrich_drop() first.")));
	}

	/* the job row, as the extension's owner */
	types[0] = REGCLASSOID;
	values[0] = ObjectIdGetDatum(relid);
	types[1] = NAMEOID;
	values[1] = PG_GETARG_DATUM(EA_TARGET);
	types[2] = BOOLOID;
	values[2] = BoolGetDatum(kind == ENRICH_EMBED);
	types[3] = TEXTOID;
	values[3] = PG_GETARG_DATUM(EA_PROMPT);
	types[4] = TEXTOID;
	values[4] = PG_GETARG_DATUM(EA_MODE);
	types[5] = REGROLEOID;
	values[5] = ObjectIdGetDatum(owner);
	for (int i = 0; i < 6; i++)
		nulls[i] = ' ';
	/* model, max_tokens, temperature, ..., stop */
	for (int i = EA_MODEL; i <= EA_STOP; i++)
	{
		types[i + 2] = get_fn_expr_argtype(fcinfo->flinfo, i);
		values[i + 2] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 2] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	types[15] = JSONBOID;
	values[15] = PG_ARGISNULL(EA_JSON_SCHEMA) ? (Datum) 0 : PG_GETARG_DATUM(EA_JSON_SCHEMA);
	nulls[15] = PG_ARGISNULL(EA_JSON_SCHEMA) ? 'n' : ' ';
	enrich_push_user(enrich_ext_owner(), false, &save);
	enrich_exec(psprintf("INSERT INTO %s.llm_enrich_job (tbl, target, embed, prompt, mode, owner,"
						 " model, max_tokens, temperature, top_p, top_k, min_p,"
						 " repetition_penalty, seed, stop, json_schema)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
						 " $16) RETURNING job", schema),
				16, types, values, nulls);
	enrich_pop_user(&save);
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (!enrich_load_job(id, &job))
		elog(ERROR, "enrichment job %d vanished", id);

	/* the options are checked now rather than at every row */
	enrich_exec(psprintf("SELECT 1 FROM %s", enrich_batch_call_sql(&job, "'{}'::text[]", 1)),
				job.nopts, job.opt_types, job.opt_values, job.opt_nulls);

	/* the triggers, created as the caller (who owns the table) */
	enrich_exec(psprintf("CREATE TRIGGER llm_enrich_%d_insert AFTER INSERT ON %s"
						 " REFERENCING NEW TABLE AS llm_new FOR EACH STATEMENT"
						 " EXECUTE FUNCTION %s.llm_enrich_trigger('%d')",
						 id, job.rel, schema, id), 0, NULL, NULL, NULL);
	enrich_exec(psprintf("CREATE TRIGGER llm_enrich_%d_update AFTER UPDATE ON %s"
						 " REFERENCING OLD TABLE AS llm_old NEW TABLE AS llm_new"
						 " FOR EACH STATEMENT EXECUTE FUNCTION %s.llm_enrich_trigger('%d')",
						 id, job.rel, schema, id), 0, NULL, NULL, NULL);

	if (backfill)
	{
		char	   *from = psprintf("%s n WHERE n.%s IS NULL", job.rel, job.target);
		Datum		keys;

		if (async)
		{
			if (select_keys(&job, from, &keys))
				enqueue_keys(&job, keys);
		}
		else
		{
			int64		n;

			enrich_push_user(job.owner, true, &save);
			enrich_exec(psprintf("SELECT pg_catalog.count(*) FROM %s", from), 0, NULL, NULL, NULL);
			enrich_pop_user(&save);
			n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			if (n > 0)
				ereport(NOTICE,
						(errmsg("%lld existing rows have no %s yet", (long long) n, target),
						 errhint("Run CALL llm_enrich_backfill(%d) to fill them in committed chunks.", id)));
		}
	}
	SPI_finish();

	if (async)
	{
		if (!xact_callback_registered)
		{
			RegisterXactCallback(enrich_xact_callback, NULL);
			xact_callback_registered = true;
		}
		start_worker_at_commit = MyDatabaseId;
	}
	PG_RETURN_INT32(id);
}

/*
 * llm_enrich_drop(job) -> void
 * Drop the job's triggers and the job with its queue and failed rows.
 */
Datum
llm_enrich_drop(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	EnrichJob	job;
	EnrichUser save;
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(id);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	load_own_job(id, &job);
	if (job.rel)
	{
		enrich_exec(psprintf("DROP TRIGGER IF EXISTS llm_enrich_%d_insert ON %s", id, job.rel),
					0, NULL, NULL, NULL);
		enrich_exec(psprintf("DROP TRIGGER IF EXISTS llm_enrich_%d_update ON %s", id, job.rel),
					0, NULL, NULL, NULL);
	}
	/*
	 * The queue first: that waits for a drain batch in flight, which
	 * updates the job row when it ends (deleting the job row first would
	 * deadlock with it).
	 */
	enrich_push_user(enrich_ext_owner(), false, &save);
	enrich_exec(psprintf("DELETE FROM %s.llm_enrich_queue WHERE job = $1", job.schema),
				1, &type, &arg, NULL);
	enrich_exec(psprintf("DELETE FROM %s.llm_enrich_job WHERE job = $1", job.schema),
				1, &type, &arg, NULL);
	enrich_pop_user(&save);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * llm_enrich_retry(job) -> bigint
 * Move the job's failed rows back into its queue (attempts start again
 * from zero); returns how many.
 */
Datum
llm_enrich_retry(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	EnrichJob	job;
	EnrichUser save;
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(id);
	uint64		n;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	load_own_job(id, &job);
	enrich_push_user(enrich_ext_owner(), false, &save);
	enrich_exec(psprintf("WITH f AS (DELETE FROM %s.llm_enrich_failed_rows WHERE job = $1"
						 " RETURNING key)"
						 " INSERT INTO %s.llm_enrich_queue (job, key) SELECT $1, key FROM f",
						 job.schema, job.schema),
				1, &type, &arg, NULL);
	n = SPI_processed;
	enrich_pop_user(&save);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

/*
 * The statement (with the job's options as $1...) that enriches the rows
 * of src, a FROM clause with row alias n: computes them with one batch
 * call and writes their targets; rows whose result is NULL are left
 * alone. Runs as the job's owner.
 */
static uint64
enrich_rows_now(EnrichJob *job, const char *src, int nextra, Oid *xtypes, Datum *xvalues)
{
	EnrichUser save;
	Oid			types[ENRICH_MAX_OPTS + 1];
	Datum		values[ENRICH_MAX_OPTS + 1];
	char		nulls[ENRICH_MAX_OPTS + 1];
	StringInfoData sql;
	StringInfoData keys;
	char	   *batch;
	int			n = job->nopts;
	uint64		done;

	memcpy(types, job->opt_types, sizeof(Oid) * n);
	memcpy(values, job->opt_values, sizeof(Datum) * n);
	memcpy(nulls, job->opt_nulls, n);
	for (int i = 0; i < nextra; i++)
	{
		types[n] = xtypes[i];
		values[n] = xvalues[i];
		nulls[n++] = ' ';
	}

	initStringInfo(&keys);
	for (int i = 0; i < job->nkeys; i++)
		appendStringInfo(&keys, "n.%s, ", job->keys[i]);

	/*
	 * The llm_extract sub-select of a jsonb target is materialized in a
	 * CTE: as the inner side of a join it could otherwise be computed
	 * again for every outer row (a set-returning batch function keeps its
	 * result for a rescan).
	 */
	batch = enrich_batch_call_sql(job, "(SELECT pg_catalog.array_agg(s.llm_prompt"
								  " ORDER BY s.llm_ord) FROM src s)", 1);
	if (job->extract)
		batch = psprintf("llm_res AS MATERIALIZED (SELECT r.ord, r.output FROM %s)", batch);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH src AS MATERIALIZED (SELECT %s%s AS llm_prompt,"
					 " pg_catalog.row_number() OVER () AS llm_ord FROM %s)%s%s"
					 " UPDATE %s t SET %s = r.%s FROM src JOIN %s ON r.ord OPERATOR(pg_catalog.=) src.llm_ord"
					 " WHERE %s AND r.%s IS NOT NULL",
					 keys.data, enrich_render_sql(job, "n"), src,
					 job->extract ? ", " : "", job->extract ? batch : "",
					 job->rel, job->target, enrich_result_col(job),
					 job->extract ? "llm_res r" : batch,
					 enrich_key_eq_sql(job, "t", "src"),
					 enrich_result_col(job));
	enrich_push_user(job->owner, true, &save);
	enrich_exec(sql.data, n, types, values, nulls);
	done = SPI_processed;
	enrich_pop_user(&save);
	return done;
}

/*
 * The FROM clause of the rows of a trigger's statement that need work:
 * every new row of an INSERT; the rows of an UPDATE whose rendered
 * prompt changed (or whose key is new).
 */
static char *
changed_rows_sql(EnrichJob *job, bool is_update)
{
	if (!is_update)
		return "llm_new n";
	return psprintf("llm_new n LEFT JOIN llm_old o ON %s"
					" WHERE o.%s IS NULL OR %s OPERATOR(pg_catalog.<>) %s",
					enrich_key_eq_sql(job, "o", "n"), job->keys[0],
					enrich_render_sql(job, "o"), enrich_render_sql(job, "n"));
}

/*
 * Whether the FROM clause from (row alias n) selects any row, as the
 * job's owner.
 */
static bool
any_rows(EnrichJob *job, const char *from)
{
	EnrichUser save;

	enrich_push_user(job->owner, true, &save);
	enrich_exec(psprintf("SELECT 1 FROM %s LIMIT 1", from), 0, NULL, NULL, NULL);
	enrich_pop_user(&save);
	return SPI_processed > 0;
}

/*
 * llm_enrich_trigger() - the AFTER INSERT / AFTER UPDATE statement
 * trigger of a job (argument: the job id). Async jobs enqueue the keys
 * of the rows that need work; sync jobs enrich them at once.
 */
Datum
llm_enrich_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	EnrichJob	job;
	bool		is_update;
	char	   *from;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("llm_enrich_trigger must be called as the statement trigger llm_enrich creates"),
				 errhint("Create jobs with llm_enrich().")));
	is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");
	if (!enrich_load_job(pg_strtoint32(trigdata->tg_trigger->tgargs[0]), &job) ||
		job.rel == NULL)
	{
		/* the job was dropped by a transaction this one cannot see */
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	from = changed_rows_sql(&job, is_update);
	if (job.async)
	{
		Datum		keys;

		if (select_keys(&job, from, &keys))
			enqueue_keys(&job, keys);
	}
	else if (any_rows(&job, from))
	{
		/*
		 * Only when there is work: the UPDATE of the targets fires this
		 * trigger again, and a statement trigger fires even for no rows.
		 */
		(void) enrich_rows_now(&job, from, 0, NULL, NULL);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * CALL llm_enrich_backfill(job)
 * Enrich the rows of a sync job's table whose target is NULL, in chunks
 * of llm.enrich_batch_size rows taken in key order, committing after
 * each chunk when called outside a transaction block; a second call
 * continues with the rows still NULL.
 */
Datum
llm_enrich_backfill(PG_FUNCTION_ARGS)
{
	int32		id;
	bool		nonatomic;
	EnrichJob	job;
	char	   *src;
	StringInfoData order;
	Oid			ltype = INT4OID;
	Datum		limit = Int32GetDatum(llm_guc_enrich_batch_size);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job must not be NULL"),
				 errhint("Pass the id llm_enrich returned.")));
	id = PG_GETARG_INT32(0);
	nonatomic = fcinfo->context && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	if (SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	load_own_job(id, &job);
	if (job.async)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("enrichment job %d is asynchronous", id),
				 errhint("Its drain worker processes the backfill that llm_enrich(..., backfill => true) enqueued.")));
	if (job.rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table of enrichment job %d no longer exists", id),
				 errhint("Drop the job with llm_enrich_drop(%d).", id)));

	initStringInfo(&order);
	for (int i = 0; i < job.nkeys; i++)
		appendStringInfo(&order, "%sx.%s", i ? ", " : "", job.keys[i]);
	src = psprintf("(SELECT * FROM %s x WHERE x.%s IS NULL ORDER BY %s LIMIT $%d"
				   " FOR UPDATE SKIP LOCKED) n",
				   job.rel, job.target, order.data, job.nopts + 1);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (enrich_rows_now(&job, src, 1, &ltype, &limit) == 0)
			break;
		if (nonatomic)
			SPI_commit();
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * llm_enrich_progress(job, OUT pending, OUT done)
 * Async jobs: keys in the queue, rows written by the drain worker. Sync
 * jobs: rows whose target is NULL, rows whose target is set. NULLs for a
 * caller without the privileges of the job's owner.
 */
Datum
llm_enrich_progress(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	TupleDesc	desc;
	Datum		values[2] = {0, 0};
	bool		nulls[2] = {true, true};
	EnrichJob	job;
	EnrichUser save;
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(id);

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (enrich_load_job(id, &job) && has_privs_of_role(GetUserId(), job.owner))
	{
		if (job.async)
		{
			enrich_push_user(enrich_ext_owner(), false, &save);
			enrich_exec(psprintf("SELECT (SELECT count(*) FROM %s.llm_enrich_queue WHERE job = $1),"
								 " (SELECT done FROM %s.llm_enrich_job WHERE job = $1)",
								 job.schema, job.schema), 1, &type, &arg, NULL);
			enrich_pop_user(&save);
		}
		else if (job.rel)
		{
			enrich_push_user(job.owner, true, &save);
			enrich_exec(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE %s IS NULL),"
								 " pg_catalog.count(*) FILTER (WHERE %s IS NOT NULL) FROM %s",
								 job.target, job.target, job.rel), 0, NULL, NULL, NULL);
			enrich_pop_user(&save);
		}
		if (job.async || job.rel)
			for (int i = 0; i < 2; i++)
				values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  i + 1, &nulls[i]);
	}
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
