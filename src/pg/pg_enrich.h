/*
 * pg_enrich.h - row enrichment jobs (llm_enrich), shared by the SQL
 * functions and triggers (pg_enrich.c) and the drain worker
 * (pg_enrich_worker.c).
 *
 * A job keeps a table's target column equal to llm_generate (text and
 * varchar targets), llm_embed (real[] and pgvector's vector) or
 * llm_extract under the job's JSON Schema (jsonb targets) of a prompt
 * template rendered from the row. The catalog lives in the
 * extension's schema: llm_enrich_job (one row per job), llm_enrich_queue
 * (async jobs: keys waiting for the drain worker), llm_enrich_failed_rows
 * (keys that failed llm.enrich_max_attempts times).
 *
 * Who runs what: statements on the catalog run as the extension's owner
 * with search_path = pg_catalog, pg_temp; statements that read or write
 * the job's table run as the job's owner inside a security-restricted
 * operation (enrich_push_user).
 */
#ifndef PG_ENRICH_H
#define PG_ENRICH_H

#include "postgres.h"

#include "fmgr.h"

/* the generation options of llm_generate after the prompt, in order */
#define ENRICH_MAX_OPTS		9

/* pg_guc.c */
extern int	llm_guc_enrich_batch_size;
extern int	llm_guc_enrich_max_attempts;
extern int	llm_guc_enrich_retry_delay;
extern int	llm_guc_enrich_naptime;

/* a job as loaded from llm_enrich_job, with its SQL fragments */
typedef struct EnrichJob
{
	int32		id;
	Oid			relid;
	Oid			owner;
	bool		async;
	bool		embed;			/* target is real[] or vector: llm_embed */
	bool		extract;		/* target is jsonb: llm_extract (json_schema) */
	char	   *prompt;
	char	   *schema;			/* quoted schema of the extension */
	char	   *rel;			/* quoted, schema-qualified table */
	char	   *target;			/* quoted target column */
	int			nkeys;
	char	  **keys;			/* quoted primary-key columns */
	char	  **key_names;		/* the same, unquoted (jsonb keys) */
	/* the options passed to llm_generate_batch / llm_embed_batch, or to
	 * llm_extract (json_schema, model, max_tokens, temperature, seed) */
	int			nopts;
	Oid			opt_types[ENRICH_MAX_OPTS];
	Datum		opt_values[ENRICH_MAX_OPTS];
	char		opt_nulls[ENRICH_MAX_OPTS];
} EnrichJob;

/* saved user and GUC state of enrich_push_user */
typedef struct EnrichUser
{
	Oid			userid;
	int			secctx;
	int			gucnest;
} EnrichUser;

/* pg_enrich.c */
extern char *enrich_schema(bool missing_ok);
extern Oid	enrich_ext_owner(void);
extern void enrich_push_user(Oid role, bool restricted, EnrichUser *save);
extern void enrich_pop_user(EnrichUser *save);
extern bool enrich_load_job(int32 id, EnrichJob *job);
extern char *enrich_render_sql(EnrichJob *job, const char *alias);
extern char *enrich_key_json_sql(EnrichJob *job, const char *alias);
extern char *enrich_key_eq_sql(EnrichJob *job, const char *a, const char *b);
extern char *enrich_batch_call_sql(EnrichJob *job, const char *inputs, int first_param);
extern const char *enrich_result_col(const EnrichJob *job);
extern Oid	enrich_result_type(const EnrichJob *job);
extern void enrich_start_worker(Oid dboid);

/* pg_enrich_worker.c */
extern void llm_enrich_register_launcher(void);
extern PGDLLEXPORT void llm_enrich_launcher_main(Datum arg);
extern PGDLLEXPORT void llm_enrich_worker_main(Datum arg);

/* advisory lock (two int4 keys) held by the database's drain worker */
#define ENRICH_LOCK_KEY1	1819045221	/* "llme" */
#define ENRICH_LOCK_KEY2	1

#endif							/* PG_ENRICH_H */
