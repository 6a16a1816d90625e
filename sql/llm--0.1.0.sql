/* sql/llm--0.1.0.sql - SQL objects of the llm extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION llm" to load this file. \quit

-- Text generation. A NULL prompt gives NULL; NULL options take their
-- defaults (max_tokens: llm.default_max_tokens; model: llm.default_model).
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
    json_schema jsonb DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'llm_generate'
LANGUAGE C VOLATILE PARALLEL SAFE;

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
LANGUAGE C VOLATILE PARALLEL SAFE;

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
LANGUAGE C VOLATILE PARALLEL SAFE ROWS 10;

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
LANGUAGE C VOLATILE PARALLEL SAFE;

-- Many texts queued at once, so that the worker embeds them together;
-- ord is the 1-based position in inputs.
CREATE FUNCTION llm_embed_batch(inputs text[], model text DEFAULT NULL)
RETURNS TABLE(ord integer, embedding real[])
AS 'MODULE_PATHNAME', 'llm_embed_batch_sql'
LANGUAGE C VOLATILE PARALLEL SAFE ROWS 100;

CREATE FUNCTION llm_tokenize(input text, model text DEFAULT NULL)
RETURNS integer[]
AS 'MODULE_PATHNAME', 'llm_tokenize_sql'
LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE FUNCTION llm_detokenize(tokens integer[], model text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'llm_detokenize_sql'
LANGUAGE C VOLATILE PARALLEL SAFE;

-- Model management. Roles without superuser or pg_read_server_files may
-- only load files inside llm.model_dir.
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
    OUT is_default_embedding boolean)
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

GRANT SELECT ON llm_models TO PUBLIC;
GRANT SELECT ON llm_stats TO PUBLIC;
