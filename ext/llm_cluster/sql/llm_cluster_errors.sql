-- Error paths of llm_cluster: each error with its SQLSTATE and hint.
-- Run by test/scaleout/run.sh on the coordinator, with LLMC_SHARD1_PORT
-- the port of a shard whose database "postgres" holds the table docs.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION llm_cluster CASCADE;
\getenv shard1_port LLMC_SHARD1_PORT
CREATE TABLE docs (id integer PRIMARY KEY, body text NOT NULL, summary text);

-- nothing registered yet
SELECT * FROM llm_cluster_update('docs', 'summary', 'Title: {body}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM llm_cluster_run('SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT llm_cluster_node_of('7');
\echo :LAST_ERROR_SQLSTATE
SELECT llm_cluster_drop_shard('nope');
\echo :LAST_ERROR_SQLSTATE

-- registration
SELECT llm_cluster_add_shard('Shard One', '127.0.0.1', 5432);
\echo :LAST_ERROR_SQLSTATE
SELECT llm_cluster_add_shard('s1', '127.0.0.1', :shard1_port, 'postgres');
SELECT llm_cluster_add_shard('s1', '127.0.0.1', :shard1_port, 'postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT partition, name, dbname FROM llm_cluster_shards;
SELECT srvname, array_length(srvoptions, 1) FROM pg_foreign_server WHERE srvname = 'llm_cluster';

-- errors raised on the shard come back with their SQLSTATE and hint
SELECT * FROM llm_cluster_update('no_such_table', 'summary', 'Title: {body}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM llm_cluster_update('docs', 'no_such_column', 'Title: {body}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM llm_cluster_update('docs', 'id', 'Title: {body}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM llm_cluster_update('docs', 'summary', 'Title: {title}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM llm_cluster_update('docs', 'summary', 'Title: {body');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM llm_cluster_update('docs', 'summary', 'Title: body}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM llm_cluster_update('docs', 'summary', 'Title without a column');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM llm_cluster_update('docs', 'summary', 'Title: {summary}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM llm_cluster_update('docs', 'summary', NULL);
\echo :LAST_ERROR_SQLSTATE

-- the coordinator-side checks
SELECT llm_cluster_distribute('docs', 'no_such_key');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW docs_v AS SELECT * FROM docs;
SELECT llm_cluster_distribute('docs_v', 'id');
\echo :LAST_ERROR_SQLSTATE
SELECT llm_cluster_fdw_import('docs', 'docs_all');
\echo :LAST_ERROR_SQLSTATE
CREATE EXTENSION postgres_fdw;
SELECT llm_cluster_fdw_import('no_such_view', 'docs_all');
\echo :LAST_ERROR_SQLSTATE

-- a shard that does not answer
SELECT llm_cluster_add_shard('gone', '127.0.0.1', 1, 'postgres');
SELECT count(*) FROM llm_cluster_run('SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT llm_cluster_drop_shard('gone');
SELECT node, rows FROM llm_cluster_run('SELECT 1');
