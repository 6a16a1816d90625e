/* sql/llm--0.1.0.sql - SQL objects of the llm extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION llm" to load this file. \quit

-- Text generation. A NULL prompt gives NULL; NULL options take their
-- defaults (max_tokens: llm.default_max_tokens; model: llm.default_model).
-- Special-token text in the prompt (such as <|im_start|>) is read as the
-- special token unless parse_special is false (for untrusted text).
-- COST: a call takes tens to hundreds of milliseconds, so the planner
-- evaluates cheap filters first and computes these calls as late as it
-- can (after a Sort under a LIMIT, say). Statements that compute them
-- over many rows are batched by the LlmBatch plan node (llm.batch_rows).
CREATE FUNCTION llm_generate(
    prompt text,
    max_tokens integer DEFAULT NULL,
    temperature double precision DEFAULT 0,
    top_p double precision DEFAULT 1,
    top_k integer DEFAULT 0,
    min_p double precision DEFAULT 0,
    repetition_penalty double precision DEFAULT 1,
    seed bigint DEFAULT NULL,
    stop text[] DEFAULT NULL,
    model text DEFAULT NULL,
    json_schema jsonb DEFAULT NULL,
    parse_special boolean DEFAULT true)
RETURNS text
AS 'MODULE_PATHNAME', 'llm_generate'
LANGUAGE C VOLATILE PARALLEL SAFE COST 100000;

-- Chat completion: messages is a jsonb array of {"role", "content"}
-- objects, rendered with the model's chat template by the worker.
CREATE FUNCTION llm_chat(
    messages jsonb,
    max_tokens integer DEFAULT NULL,
    temperature double precision DEFAULT 0,
    top_p double precision DEFAULT 1,
    top_k integer DEFAULT 0,
    min_p double precision DEFAULT 0,
    repetition_penalty double precision DEFAULT 1,
    seed bigint DEFAULT NULL,
    stop text[] DEFAULT NULL,
    model text DEFAULT NULL,
    json_schema jsonb DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'llm_chat'
LANGUAGE C VOLATILE PARALLEL SAFE COST 100000;

-- Many prompts submitted at once, so that the worker batches them.
CREATE FUNCTION llm_generate_batch(
    prompts text[],
    max_tokens integer DEFAULT NULL,
    temperature double precision DEFAULT 0,
    top_p double precision DEFAULT 1,
    top_k integer DEFAULT 0,
    min_p double precision DEFAULT 0,
    repetition_penalty double precision DEFAULT 1,
    seed bigint DEFAULT NULL,
    stop text[] DEFAULT NULL,
    model text DEFAULT NULL,
    json_schema jsonb DEFAULT NULL)
RETURNS TABLE(ord integer, output text)
AS 'MODULE_PATHNAME', 'llm_generate_batch'
LANGUAGE C VOLATILE PARALLEL SAFE COST 100000 ROWS 10;

-- Structured extraction: the value of the JSON Schema schema that the
-- model reads in input (instructions replace the default ones), as jsonb.
-- Fails when max_tokens runs out before the value is complete.
CREATE FUNCTION llm_extract(
    input text,
    schema jsonb,
    instructions text DEFAULT NULL,
    model text DEFAULT NULL,
    max_tokens integer DEFAULT NULL,
    temperature double precision DEFAULT 0,
    seed bigint DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'llm_extract'
LANGUAGE C VOLATILE PARALLEL SAFE;

-- Sentence embeddings. A NULL input gives NULL; model NULL means
-- llm.default_embedding_model. The result casts to pgvector's vector.
CREATE FUNCTION llm_embed(input text, model text DEFAULT NULL)
RETURNS real[]
AS 'MODULE_PATHNAME', 'llm_embed_sql'
LANGUAGE C VOLATILE PARALLEL SAFE COST 5000;

-- Many texts queued at once, so that the worker embeds them together;
-- ord is the 1-based position in inputs.
CREATE FUNCTION llm_embed_batch(inputs text[], model text DEFAULT NULL)
RETURNS TABLE(ord integer, embedding real[])
AS 'MODULE_PATHNAME', 'llm_embed_batch_sql'
LANGUAGE C VOLATILE PARALLEL SAFE COST 5000 ROWS 100;

CREATE FUNCTION llm_tokenize(input text, model text DEFAULT NULL)
RETURNS integer[]
AS 'MODULE_PATHNAME', 'llm_tokenize_sql'
LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE FUNCTION llm_detokenize(tokens integer[], model text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'llm_detokenize_sql'
LANGUAGE C VOLATILE PARALLEL SAFE;

-- Model management. Not granted to PUBLIC (see the end of this file and
-- docs/SQL.md, "Privileges"). Roles without superuser or
-- pg_read_server_files may only load files inside llm.model_dir; a model
-- is owned by the role that loaded it, and only its owner (or a member
-- of it) or a superuser may unload it.
CREATE FUNCTION llm_load_model(name text, path text)
RETURNS void
AS 'MODULE_PATHNAME', 'llm_load_model'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION llm_unload_model(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'llm_unload_model'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Views
CREATE FUNCTION llm_models(
    OUT name text,
    OUT path text,
    OUT architecture text,
    OUT parameters bigint,
    OUT quantization text,
    OUT context_length integer,
    OUT loaded boolean,
    OUT memory_bytes bigint,
    OUT is_default boolean,
    OUT chat_format text,
    OUT embedding_dim integer,
    OUT pooling text,
    OUT is_default_embedding boolean,
    OUT owner text,
    OUT device text,
    OUT gpu_bytes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'llm_models'
LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE VIEW llm_models AS SELECT * FROM llm_models();

CREATE FUNCTION llm_stats(
    OUT requests bigint,
    OUT prompt_tokens bigint,
    OUT generated_tokens bigint,
    OUT steps bigint,
    OUT avg_batch double precision,
    OUT queue_depth integer,
    OUT mean_queue_wait_ms double precision,
    OUT tokens_per_second double precision,
    OUT engine_seconds double precision,
    OUT running integer,
    OUT slots_in_use integer,
    OUT worker_pid integer,
    OUT started_at timestamp with time zone,
    OUT embedded_texts bigint,
    OUT embedded_tokens bigint,
    OUT embed_batches bigint,
    OUT embed_seconds double precision,
    OUT cached_prompt_tokens bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'llm_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE VIEW llm_stats AS SELECT * FROM llm_stats();

-- Requests queued or running in the worker, one row each.
CREATE FUNCTION llm_requests(
    OUT request_id bigint,
    OUT pid integer,
    OUT model text,
    OUT kind text,
    OUT state text,
    OUT prompt_tokens integer,
    OUT generated_tokens integer,
    OUT max_tokens integer,
    OUT since timestamp with time zone)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'llm_requests'
LANGUAGE C VOLATILE PARALLEL SAFE ROWS 16;

CREATE VIEW llm_requests AS SELECT * FROM llm_requests();

GRANT SELECT ON llm_models TO PUBLIC;
GRANT SELECT ON llm_requests TO PUBLIC;
GRANT SELECT ON llm_stats TO PUBLIC;

-- Loading and unloading models cost server memory and affect every
-- session: a superuser grants them to the roles it chooses.
REVOKE EXECUTE ON FUNCTION llm_load_model(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION llm_unload_model(text) FROM PUBLIC;

-- Row enrichment (docs/SQL.md "Enrichment jobs"). The catalog tables are
-- private: the functions below read and write them as the extension's
-- owner, and the views show each role the jobs of roles it has the
-- privileges of.
CREATE TABLE llm_enrich_job (
    job serial PRIMARY KEY,
    tbl regclass NOT NULL,
    target name NOT NULL,
    embed boolean NOT NULL,             -- llm_embed (real[]/vector) or llm_generate
    prompt text NOT NULL,
    mode text NOT NULL CHECK (mode IN ('async', 'sync')),
    owner regrole NOT NULL,
    model text,
    max_tokens integer,
    temperature double precision,
    top_p double precision,
    top_k integer,
    min_p double precision,
    repetition_penalty double precision,
    seed bigint,
    stop text[],
    json_schema jsonb,                  -- jsonb target: llm_extract under this schema
    done bigint NOT NULL DEFAULT 0,     -- rows written by the drain worker
    last_error text,
    created_at timestamp with time zone NOT NULL DEFAULT now());

CREATE TABLE llm_enrich_queue (
    id bigserial PRIMARY KEY,
    job integer NOT NULL REFERENCES llm_enrich_job ON DELETE CASCADE,
    key jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    not_before timestamp with time zone NOT NULL DEFAULT now(),
    last_error text,
    enqueued_at timestamp with time zone NOT NULL DEFAULT now());
CREATE INDEX llm_enrich_queue_job_id ON llm_enrich_queue (job, id);
CREATE INDEX llm_enrich_queue_job_key ON llm_enrich_queue (job, key);

CREATE TABLE llm_enrich_failed_rows (
    job integer NOT NULL REFERENCES llm_enrich_job ON DELETE CASCADE,
    key jsonb NOT NULL,
    attempts integer NOT NULL,
    error text,
    failed_at timestamp with time zone NOT NULL DEFAULT now());
CREATE INDEX llm_enrich_failed_rows_job ON llm_enrich_failed_rows (job);

-- jobs, pending keys and failures are user data: pg_dump keeps them
SELECT pg_catalog.pg_extension_config_dump('llm_enrich_job', '');
SELECT pg_catalog.pg_extension_config_dump('llm_enrich_job_job_seq', '');
SELECT pg_catalog.pg_extension_config_dump('llm_enrich_queue', '');
SELECT pg_catalog.pg_extension_config_dump('llm_enrich_queue_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('llm_enrich_failed_rows', '');
REVOKE ALL ON llm_enrich_job, llm_enrich_queue, llm_enrich_failed_rows FROM PUBLIC;

CREATE FUNCTION llm_enrich(
    tbl regclass,
    target name,
    prompt text,
    mode text DEFAULT 'async',
    model text DEFAULT NULL,
    max_tokens integer DEFAULT NULL,
    temperature double precision DEFAULT 0,
    top_p double precision DEFAULT 1,
    top_k integer DEFAULT 0,
    min_p double precision DEFAULT 0,
    repetition_penalty double precision DEFAULT 1,
    seed bigint DEFAULT NULL,
    stop text[] DEFAULT NULL,
    backfill boolean DEFAULT true,
    json_schema jsonb DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'llm_enrich'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION llm_enrich_drop(job integer)
RETURNS void
AS 'MODULE_PATHNAME', 'llm_enrich_drop'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION llm_enrich_retry(job integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'llm_enrich_retry'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

-- sync jobs: enrich the rows whose target is NULL, committing every
-- llm.enrich_batch_size rows (run again to resume after an interruption)
CREATE PROCEDURE llm_enrich_backfill(job integer)
AS 'MODULE_PATHNAME', 'llm_enrich_backfill'
LANGUAGE C;

-- the statement-level triggers llm_enrich creates (argument: the job)
CREATE FUNCTION llm_enrich_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'llm_enrich_trigger'
LANGUAGE C;

CREATE FUNCTION llm_enrich_progress(job integer, OUT pending bigint, OUT done bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'llm_enrich_progress'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

CREATE VIEW llm_enrich_jobs AS
SELECT j.job, j.tbl, j.target, j.mode, j.model, p.pending, p.done,
       (SELECT count(*) FROM llm_enrich_failed_rows f WHERE f.job = j.job) AS failed,
       j.last_error,
       CASE WHEN j.mode = 'async' THEN
         (SELECT l.pid FROM pg_catalog.pg_locks l
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
             AND l.classid = 1819045221 AND l.objid = 1
             AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                                WHERE d.datname = pg_catalog.current_database()))
       END AS worker_pid
  FROM llm_enrich_job j,
       LATERAL llm_enrich_progress(j.job) p
 WHERE pg_catalog.pg_has_role(j.owner, 'USAGE');

CREATE VIEW llm_enrich_failed AS
SELECT f.job, f.key, f.attempts, f.error, f.failed_at
  FROM llm_enrich_failed_rows f JOIN llm_enrich_job j USING (job)
 WHERE pg_catalog.pg_has_role(j.owner, 'USAGE');

GRANT SELECT ON llm_enrich_jobs, llm_enrich_failed TO PUBLIC;
