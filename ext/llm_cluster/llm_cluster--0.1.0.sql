/* ext/llm_cluster/llm_cluster--0.1.0.sql - SQL objects of llm_cluster
 *
 * A thin kit over existing engines: PL/Proxy sends one call to every
 * shard at once (RUN ON ALL) or splits an array of rows between them
 * (SPLIT), postgres_fdw reads shard-side views concurrently
 * (async_capable). Each shard runs llm with its own worker and model.
 * Install the extension, in the same schema, on the coordinator and on
 * every shard: the coordinator uses the llm_cluster_* functions, the
 * shards run the llm_cluster_shard_* functions the coordinator calls.
 * See docs/SCALE.md.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION llm_cluster CASCADE" to load this file. \quit

-- The registered shards, in partition order (ord). Dumped by pg_dump.
CREATE TABLE llm_cluster_shard (
    name   text PRIMARY KEY CHECK (name ~ '^[a-z_][a-z0-9_]{0,40}$'),
    host   text NOT NULL,
    port   integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    dbname text NOT NULL,
    ord    bigint NOT NULL UNIQUE
);
SELECT pg_catalog.pg_extension_config_dump('llm_cluster_shard', '');
REVOKE ALL ON llm_cluster_shard FROM PUBLIC;

-- A libpq connection-string value, quoted.
CREATE FUNCTION llm_cluster_conn_value(v text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT '''' || replace(replace(v, '\', '\\'), '''', '\''') || '''' $$;

-- The shards with their partition numbers and PL/Proxy connection strings;
-- application_name carries the shard's name to the shard.
CREATE VIEW llm_cluster_shards AS
SELECT (row_number() OVER (ORDER BY s.ord) - 1)::integer AS partition,
       s.name, s.host, s.port, s.dbname,
       format('host=%s port=%s dbname=%s application_name=%s',
              @extschema@.llm_cluster_conn_value(s.host), s.port,
              @extschema@.llm_cluster_conn_value(s.dbname),
              @extschema@.llm_cluster_conn_value('llm_cluster:' || s.name)) AS connstr
FROM @extschema@.llm_cluster_shard s;
REVOKE ALL ON llm_cluster_shards FROM PUBLIC;

-- Make the PL/Proxy cluster "llm_cluster" (a foreign server of the plproxy
-- wrapper) list the registered shards as partitions p0 .. pN-1. Modular
-- mapping: any number of shards, a hash goes to abs(hash % N).
CREATE FUNCTION llm_cluster_sync() RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    opts    text[];
    old     text;
    changes text[] := ARRAY[]::text[];
    adds    text[] := ARRAY[]::text[];
    n       integer := 0;
    r       record;
BEGIN
    SELECT srvoptions INTO opts FROM pg_catalog.pg_foreign_server WHERE srvname = 'llm_cluster';
    IF NOT FOUND THEN
        opts := NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM @extschema@.llm_cluster_shard) THEN
        -- PL/Proxy accepts no cluster without partitions
        DROP SERVER IF EXISTS llm_cluster CASCADE;
        RETURN 0;
    END IF;
    -- one statement: PL/Proxy validates the options as a whole
    FOREACH old IN ARRAY coalesce(opts, ARRAY[]::text[]) LOOP
        IF split_part(old, '=', 1) ~ '^p[0-9]+$' THEN
            changes := changes || format('DROP %I', split_part(old, '=', 1));
        END IF;
    END LOOP;
    FOR r IN SELECT * FROM @extschema@.llm_cluster_shards ORDER BY partition LOOP
        adds := adds || format('%I %L', 'p' || r.partition, r.connstr);
        n := n + 1;
    END LOOP;
    IF opts IS NULL THEN
        EXECUTE format('CREATE SERVER llm_cluster FOREIGN DATA WRAPPER plproxy '
                       'OPTIONS (modular_mapping %L, disable_binary %L, %s)',
                       '1', '1', array_to_string(adds, ', '));
        CREATE USER MAPPING FOR PUBLIC SERVER llm_cluster;
    ELSE
        SELECT changes || array_agg('ADD ' || a) INTO changes FROM unnest(adds) a;
        EXECUTE format('ALTER SERVER llm_cluster OPTIONS (%s)', array_to_string(changes, ', '));
    END IF;
    RETURN n;
END;
$$;

-- Register a shard server; returns the number of shards. The partition
-- number of a shard is its position in registration order.
CREATE FUNCTION llm_cluster_add_shard(name text, host text, port integer DEFAULT 5432,
                                      dbname text DEFAULT current_database())
RETURNS integer
LANGUAGE plpgsql
AS $$
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]{0,40}$' THEN
        RAISE EXCEPTION 'invalid shard name "%"', name
            USING ERRCODE = '22023',
                  HINT = 'A shard name is a lower-case identifier (letters, digits, underscores) of at most 41 characters.';
    END IF;
    IF host IS NULL OR port IS NULL OR dbname IS NULL THEN
        RAISE EXCEPTION 'host, port and dbname must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.llm_cluster_shard s WHERE s.name = llm_cluster_add_shard.name) THEN
        RAISE EXCEPTION 'shard "%" is already registered', name
            USING ERRCODE = '42710',
                  HINT = 'Drop it first with llm_cluster_drop_shard(), or choose another name.';
    END IF;
    LOCK TABLE @extschema@.llm_cluster_shard IN SHARE ROW EXCLUSIVE MODE;
    INSERT INTO @extschema@.llm_cluster_shard (name, host, port, dbname, ord)
        SELECT llm_cluster_add_shard.name, llm_cluster_add_shard.host, llm_cluster_add_shard.port,
               llm_cluster_add_shard.dbname, coalesce(max(s.ord), 0) + 1
        FROM @extschema@.llm_cluster_shard s;
    RETURN @extschema@.llm_cluster_sync();
END;
$$;

-- Unregister a shard; returns the number of shards left. The shards after
-- it move one partition down, so rows placed by hash must be moved too.
CREATE FUNCTION llm_cluster_drop_shard(name text) RETURNS integer
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM @extschema@.llm_cluster_shard s WHERE s.name = llm_cluster_drop_shard.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'shard "%" is not registered', name
            USING ERRCODE = '42704',
                  HINT = 'See the view llm_cluster_shards for the registered shards.';
    END IF;
    RETURN @extschema@.llm_cluster_sync();
END;
$$;

-- Fail unless at least one shard is registered; returns their number.
CREATE FUNCTION llm_cluster_require_shards() RETURNS integer
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    n integer;
BEGIN
    SELECT count(*) INTO n FROM @extschema@.llm_cluster_shard;
    IF n = 0 THEN
        RAISE EXCEPTION 'no shard is registered'
            USING ERRCODE = '42704',
                  HINT = 'Register the shard servers first with llm_cluster_add_shard(name, host, port, dbname).';
    END IF;
    RETURN n;
END;
$$;

-- The shard that rows with this distribution key go to (the same
-- hashtext() the insert functions of llm_cluster_distribute use).
CREATE FUNCTION llm_cluster_node_of(key text) RETURNS text
LANGUAGE sql STABLE
AS $$
SELECT s.name FROM @extschema@.llm_cluster_shards s
WHERE s.partition = abs(hashtext(key)::bigint % @extschema@.llm_cluster_require_shards())
$$;

/* ------------------------------------------------------------ shard side */

-- The name the coordinator gave this shard (from application_name), or
-- host:port/dbname when the call did not come through llm_cluster.
CREATE FUNCTION llm_cluster_node_name() RETURNS text
LANGUAGE sql STABLE
AS $$
SELECT coalesce(substring(current_setting('application_name') FROM '^llm_cluster:(.+)$'),
                format('%s:%s/%s', coalesce(host(inet_server_addr()), 'local'),
                       coalesce(inet_server_port(), 0), current_database()))
$$;

-- Run one SQL statement on this shard; returns the rows it processed.
CREATE FUNCTION llm_cluster_shard_run(sql text, OUT node text, OUT rows bigint)
RETURNS SETOF record
LANGUAGE plpgsql
AS $$
BEGIN
    node := @extschema@.llm_cluster_node_name();
    EXECUTE sql;
    GET DIAGNOSTICS rows = ROW_COUNT;
    RETURN NEXT;
END;
$$;

-- The SQL expression of a prompt template over the columns of tbl:
-- {col} names a column, {{ and }} are literal braces; rendered as concat()
-- of the pieces (a NULL column gives the empty string), as llm_enrich does.
CREATE FUNCTION llm_cluster_template_sql(tbl regclass, target name, prompt text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    parts text[] := ARRAY[]::text[];
    lit   text := '';
    i     integer := 1;
    n     integer := length(prompt);
    c     text;
    j     integer;
    col   text;
    ncols integer := 0;
BEGIN
    WHILE i <= n LOOP
        c := substr(prompt, i, 1);
        IF c = '{' AND substr(prompt, i + 1, 1) = '{' THEN
            lit := lit || '{'; i := i + 2;
        ELSIF c = '}' AND substr(prompt, i + 1, 1) = '}' THEN
            lit := lit || '}'; i := i + 2;
        ELSIF c = '}' THEN
            RAISE EXCEPTION 'lone "}" in the prompt template at character %', i
                USING ERRCODE = '22023', HINT = 'Write }} for a literal brace.';
        ELSIF c = '{' THEN
            j := strpos(substr(prompt, i + 1), '}');
            IF j = 0 THEN
                RAISE EXCEPTION 'unterminated "{" in the prompt template at character %', i
                    USING ERRCODE = '22023', HINT = 'Close the column name with }, or write {{ for a literal brace.';
            END IF;
            col := substr(prompt, i + 1, j - 1);
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                           WHERE attrelid = tbl AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
                RAISE EXCEPTION 'column "%" of the prompt template does not exist in table %', col, tbl
                    USING ERRCODE = '42703',
                          DETAIL = 'The table has the columns ' ||
                                   (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
                                    FROM pg_catalog.pg_attribute
                                    WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped) || '.',
                          HINT = 'Name a column of the table in braces, e.g. {body}.';
            END IF;
            IF col = target THEN
                RAISE EXCEPTION 'the prompt template names the target column "%"', col
                    USING ERRCODE = '22023', HINT = 'Build the prompt from the other columns of the row.';
            END IF;
            IF lit <> '' THEN parts := parts || quote_literal(lit); lit := ''; END IF;
            parts := parts || format('t.%I', col);
            ncols := ncols + 1;
            i := i + j + 1;
        ELSE
            lit := lit || c; i := i + 1;
        END IF;
    END LOOP;
    IF ncols = 0 THEN
        RAISE EXCEPTION 'the prompt template names no column'
            USING ERRCODE = '22023',
                  HINT = 'Name the columns the prompt is made of in braces, e.g. ''Summarize: {body}''.';
    END IF;
    IF lit <> '' THEN parts := parts || quote_literal(lit); END IF;
    RETURN 'pg_catalog.concat(' || array_to_string(parts, ', ') || ')';
END;
$$;

-- The enrichment UPDATE on this shard: target := llm_generate(prompt)
-- (llm_embed for a real[] target) for the rows of tbl, only those whose
-- target is NULL when only_null. One statement, so llm's row-batching
-- node batches it. Returns this shard's name, the rows it updated, and
-- when the statement started and finished.
CREATE FUNCTION llm_cluster_shard_update(tbl text, target text, prompt text,
                                         max_tokens integer, model text, only_null boolean,
                                         OUT node text, OUT rows bigint,
                                         OUT started_at timestamptz, OUT finished_at timestamptz)
RETURNS SETOF record
LANGUAGE plpgsql
AS $$
DECLARE
    rel    regclass;
    typ    text;
    llmnsp text;
    expr   text;
    call   text;
BEGIN
    node := @extschema@.llm_cluster_node_name();
    rel := to_regclass(tbl);
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table "%" does not exist on shard %', tbl, node
            USING ERRCODE = '42P01',
                  HINT = 'Create the table on every shard first, e.g. with llm_cluster_distribute() on the coordinator.';
    END IF;
    SELECT format_type(atttypid, NULL) INTO typ FROM pg_catalog.pg_attribute
    WHERE attrelid = rel AND attname = target AND attnum > 0 AND NOT attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'target column "%" does not exist in table % on shard %', target, rel, node
            USING ERRCODE = '42703', HINT = 'Name a text or real[] column of the table.';
    END IF;
    SELECT n.nspname INTO llmnsp FROM pg_catalog.pg_extension e
    JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'llm';
    expr := @extschema@.llm_cluster_template_sql(rel, target::name, prompt);
    IF typ IN ('text', 'character varying') THEN
        call := format('%I.llm_generate(%s, max_tokens => $1, model => $2)', llmnsp, expr);
    ELSIF typ = 'real[]' THEN
        call := format('%I.llm_embed(%s, model => $2)', llmnsp, expr);
    ELSE
        RAISE EXCEPTION 'target column "%" has type %', target, typ
            USING ERRCODE = '42804', HINT = 'The target must be a text, varchar or real[] column.';
    END IF;
    started_at := clock_timestamp();
    EXECUTE format('UPDATE %s AS t SET %I = %s%s', rel, target, call,
                   CASE WHEN only_null THEN format(' WHERE t.%I IS NULL', target) ELSE '' END)
        USING max_tokens, model;
    GET DIAGNOSTICS rows = ROW_COUNT;
    finished_at := clock_timestamp();
    RETURN NEXT;
END;
$$;

/* ------------------------------------------------------ coordinator side */

-- PL/Proxy: the same call on every shard at once.
CREATE FUNCTION llm_cluster_proxy_run(sql text, OUT node text, OUT rows bigint)
RETURNS SETOF record
LANGUAGE plproxy
AS $$
    CLUSTER 'llm_cluster';
    RUN ON ALL;
    TARGET @extschema@.llm_cluster_shard_run;
$$;

CREATE FUNCTION llm_cluster_proxy_update(tbl text, target text, prompt text,
                                         max_tokens integer, model text, only_null boolean,
                                         OUT node text, OUT rows bigint,
                                         OUT started_at timestamptz, OUT finished_at timestamptz)
RETURNS SETOF record
LANGUAGE plproxy
AS $$
    CLUSTER 'llm_cluster';
    RUN ON ALL;
    TARGET @extschema@.llm_cluster_shard_update;
$$;

-- Run one SQL statement on every shard in parallel (each in its own
-- transaction, as PL/Proxy calls are); one row per shard.
CREATE FUNCTION llm_cluster_run(sql text, OUT node text, OUT rows bigint)
RETURNS SETOF record
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM @extschema@.llm_cluster_require_shards();
    RETURN QUERY SELECT p.node, p.rows FROM @extschema@.llm_cluster_proxy_run(sql) p ORDER BY 1;
END;
$$;
REVOKE ALL ON FUNCTION llm_cluster_run(text) FROM PUBLIC;

-- Fan the enrichment UPDATE out to every shard at once: each runs
-- llm_cluster_shard_update on its own rows with its own llm worker.
-- One row per shard: the rows it updated and when it started and finished.
CREATE FUNCTION llm_cluster_update(tbl text, target text, prompt text,
                                   max_tokens integer DEFAULT NULL, model text DEFAULT NULL,
                                   only_null boolean DEFAULT true,
                                   OUT node text, OUT rows bigint,
                                   OUT started_at timestamptz, OUT finished_at timestamptz)
RETURNS SETOF record
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM @extschema@.llm_cluster_require_shards();
    IF tbl IS NULL OR target IS NULL OR prompt IS NULL THEN
        RAISE EXCEPTION 'tbl, target and prompt must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY
        SELECT p.node, p.rows, p.started_at, p.finished_at
        FROM @extschema@.llm_cluster_proxy_update(tbl, target, prompt, max_tokens, model, only_null) p
        ORDER BY 1;
END;
$$;

-- Distribute a table by hash of one column: tbl, an empty table on the
-- coordinator, gives the row type. Creates the table (columns, NOT NULL,
-- primary key) on every shard where it is missing, the shard-side insert
-- function, and on the coordinator <table>_cluster_insert(rows <table>[]),
-- a PL/Proxy function that sends each row to the shard of hashtext(key)
-- (all shards in parallel) and returns one count per shard.
CREATE FUNCTION llm_cluster_distribute(tbl regclass, key name) RETURNS regprocedure
LANGUAGE plpgsql
AS $$
DECLARE
    nsp   text;
    rel   text;
    kind  "char";
    cols  text;
    pk    text;
    qrel  text;
    ins   text;
BEGIN
    PERFORM @extschema@.llm_cluster_require_shards();
    SELECT n.nspname, c.relname, c.relkind INTO nsp, rel, kind
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = tbl;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', tbl
            USING ERRCODE = '42809', HINT = 'Distribute a plain table: its row type is sent to the shards.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                   WHERE attrelid = tbl AND attname = key AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column "%" does not exist in table %', key, tbl
            USING ERRCODE = '42703',
                  HINT = 'The distribution key must be a column of the table.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = tbl AND attisdropped) THEN
        RAISE EXCEPTION 'table % has dropped columns', tbl
            USING ERRCODE = '0A000',
                  HINT = 'Recreate the table without them: rows are sent as the table''s row type and must match the shards'' column for column.';
    END IF;
    SELECT string_agg(format('%I %s%s', attname, format_type(atttypid, atttypmod),
                             CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY attnum)
        INTO cols
    FROM pg_catalog.pg_attribute WHERE attrelid = tbl AND attnum > 0;
    SELECT ', ' || pg_get_constraintdef(oid) INTO pk
    FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND contype = 'p';
    qrel := format('%I.%I', nsp, rel);
    ins := format('%I.%I', nsp, rel || '_cluster_insert');

    -- DO blocks rather than IF NOT EXISTS: no NOTICE from every shard
    PERFORM @extschema@.llm_cluster_run(format(
        'DO %L', format('BEGIN IF to_regnamespace(%L) IS NULL THEN CREATE SCHEMA %I; END IF; END', nsp, nsp)));
    PERFORM @extschema@.llm_cluster_run(format(
        'DO %L', format('BEGIN IF to_regclass(%L) IS NULL THEN CREATE TABLE %s (%s%s); END IF; END',
                        qrel, qrel, cols, coalesce(pk, ''))));
    PERFORM @extschema@.llm_cluster_run(format(
        'CREATE OR REPLACE FUNCTION %s(rows %s[]) RETURNS bigint LANGUAGE sql AS %L',
        ins, qrel,
        format('WITH i AS (INSERT INTO %s SELECT * FROM unnest($1) RETURNING 1) SELECT count(*) FROM i', qrel)));

    EXECUTE format('CREATE OR REPLACE FUNCTION %I.%I(r %s) RETURNS integer LANGUAGE sql IMMUTABLE AS %L',
                   nsp, rel || '_cluster_hash', qrel, format('SELECT hashtext(($1).%I::text)', key));
    EXECUTE format('CREATE OR REPLACE FUNCTION %s(rows %s[]) RETURNS SETOF bigint LANGUAGE plproxy AS %L',
                   ins, qrel,
                   format('CLUSTER %L; SPLIT rows; RUN ON %I.%I(rows);', 'llm_cluster', nsp, rel || '_cluster_hash'));
    RETURN (ins || '(' || qrel || '[])')::regprocedure;
END;
$$;
REVOKE ALL ON FUNCTION llm_cluster_distribute(regclass, name) FROM PUBLIC;

-- The postgres_fdw read side: for every shard, a foreign server
-- llm_cluster_<shard> (async_capable, so an Append over the shards scans
-- them concurrently), a user mapping for the current user (without
-- options: add a password with ALTER USER MAPPING where the shards ask
-- for one), and the foreign table llm_cluster_<shard>.<remote_rel>
-- imported from remote_schema; then the view local_view, the UNION ALL of
-- them with the shard's name as the first column llm_node. remote_rel is
-- typically a shard-side view that calls llm_*: postgres_fdw never ships a
-- VOLATILE function, so the calls must be in the view, where each shard
-- computes its own rows. Returns the number of shards.
CREATE FUNCTION llm_cluster_fdw_import(remote_rel text, local_view text,
                                       remote_schema text DEFAULT 'public')
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    s     record;
    srv   text;
    parts text[] := ARRAY[]::text[];
BEGIN
    PERFORM @extschema@.llm_cluster_require_shards();
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_data_wrapper WHERE fdwname = 'postgres_fdw') THEN
        RAISE EXCEPTION 'postgres_fdw is not installed in this database'
            USING ERRCODE = '42704', HINT = 'Run CREATE EXTENSION postgres_fdw first.';
    END IF;
    FOR s IN SELECT * FROM @extschema@.llm_cluster_shards ORDER BY partition LOOP
        srv := 'llm_cluster_' || s.name;
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = srv) THEN
            EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw '
                           'OPTIONS (host %L, port %L, dbname %L, async_capable %L, application_name %L)',
                           srv, s.host, s.port::text, s.dbname, 'true', 'llm_cluster:' || s.name);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_user_mappings
                       WHERE srvname = srv AND (usename = current_user OR usename = 'public')) THEN
            EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I', srv);
        END IF;
        IF to_regnamespace(quote_ident(srv)) IS NULL THEN
            EXECUTE format('CREATE SCHEMA %I', srv);
        END IF;
        IF to_regclass(format('%I.%I', srv, remote_rel)) IS NOT NULL THEN
            EXECUTE format('DROP FOREIGN TABLE %I.%I CASCADE', srv, remote_rel);
        END IF;
        EXECUTE format('IMPORT FOREIGN SCHEMA %I LIMIT TO (%I) FROM SERVER %I INTO %I',
                       remote_schema, remote_rel, srv, srv);
        IF to_regclass(format('%I.%I', srv, remote_rel)) IS NULL THEN
            RAISE EXCEPTION 'relation %.% does not exist on shard %', remote_schema, remote_rel, s.name
                USING ERRCODE = '42P01',
                      HINT = 'Create it on every shard first, e.g. with llm_cluster_run(''CREATE VIEW ...'').';
        END IF;
        parts := parts || format('SELECT %L::text AS llm_node, * FROM %I.%I', s.name, srv, remote_rel);
    END LOOP;
    EXECUTE format('CREATE OR REPLACE VIEW %I AS %s', local_view, array_to_string(parts, ' UNION ALL '));
    RETURN cardinality(parts);
END;
$$;
REVOKE ALL ON FUNCTION llm_cluster_fdw_import(text, text, text) FROM PUBLIC;
