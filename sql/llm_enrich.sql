--
-- llm_enrich: jobs that keep a target column equal to llm_generate /
-- llm_embed of a prompt template rendered from the row.
--
ALTER SYSTEM SET llm.enrich_naptime = '100ms';
ALTER SYSTEM SET llm.enrich_retry_delay = 0;
ALTER SYSTEM SET llm.enrich_max_attempts = 2;
ALTER SYSTEM SET llm.enrich_batch_size = 2;
SELECT pg_reload_conf();
-- wait (at most a minute) until a job has no pending row
CREATE FUNCTION enrich_wait(j integer, want_failed bigint DEFAULT 0) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. 600 LOOP
    IF (SELECT pending = 0 AND failed = want_failed FROM llm_enrich_jobs WHERE job = j) THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN false;
END $$;

CREATE ROLE enrich_owner;
CREATE ROLE enrich_other;
GRANT USAGE, CREATE ON SCHEMA public TO enrich_owner;
SET ROLE enrich_owner;
CREATE TABLE docs (id integer PRIMARY KEY, body text, title text, n integer,
                   summary text, short varchar(200), emb real[]);
-- every write of a target is counted, with the role that made it
CREATE TABLE audit (tbl text, id integer, who name);
CREATE FUNCTION audit_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit VALUES (TG_TABLE_NAME, NEW.id, current_user);
  RETURN NEW;
END $$;
CREATE TRIGGER audit_summary AFTER UPDATE OF summary ON docs
  FOR EACH ROW EXECUTE FUNCTION audit_write();

-- template and table errors
SELECT llm_enrich('docs', 'summary', 'Summarize: {nope}');
SELECT llm_enrich('docs', 'summary', 'Summarize: {body');
SELECT llm_enrich('docs', 'summary', 'a } b {body}');
SELECT llm_enrich('docs', 'summary', '{}');
SELECT llm_enrich('docs', 'summary', 'no column at all {{body}}');
SELECT llm_enrich('docs', 'summary', 'again {summary}');
SELECT llm_enrich('docs', 'missing', '{body}');
SELECT llm_enrich('docs', 'n', '{body}');
SELECT llm_enrich('docs', 'summary', '{body}', mode => 'later');
SELECT llm_enrich('docs', 'summary', '{body}', temperature => -1);
CREATE TABLE nopk (body text, out text);
SELECT llm_enrich('nopk', 'out', '{body}');
RESET ROLE;
SET ROLE enrich_other;
SELECT llm_enrich('docs', 'summary', '{body}');
RESET ROLE;

--
-- sync mode: the statement fills the targets, batched
--
SET ROLE enrich_owner;
SELECT llm_enrich('docs', 'summary', 'Q: {body} {{{title}}}', mode => 'sync',
                  max_tokens => 4) AS sjob \gset
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'docs'::regclass ORDER BY tgname;
RESET ROLE;
-- a superuser inserts: the job still writes as the table's owner
INSERT INTO docs (id, body, title) VALUES
  (1, 'The capital of France is', 'geo'), (2, 'One, two, three,', NULL);
SELECT id, summary = llm_generate('Q: ' || body || ' {' || coalesce(title, '') || '}',
                                  max_tokens => 4) AS same_as_llm_generate
  FROM docs ORDER BY id;
SELECT id, who FROM audit ORDER BY id;
-- an UPDATE of other columns enriches nothing; one of the body re-enriches that row
UPDATE docs SET n = 1;
UPDATE docs SET body = body WHERE id = 1;
UPDATE docs SET body = 'The opposite of hot is' WHERE id = 2;
SELECT id, count(*) AS writes FROM audit GROUP BY id ORDER BY id;
SELECT summary = llm_generate('Q: The opposite of hot is {}', max_tokens => 4) AS updated
  FROM docs WHERE id = 2;
-- an error fails the statement, nothing is written
INSERT INTO docs (id, body) VALUES (3, 'Short'), (4, repeat('word ', 2000));
SELECT count(*) FROM docs;
SELECT job = :sjob AS same_job, tbl, target, mode, model, pending, done, failed, worker_pid
  FROM llm_enrich_jobs;

-- backfill of a sync job: committed chunks of llm.enrich_batch_size (2)
-- rows, in key order; a failing chunk stops it, the next CALL resumes
SELECT llm_enrich_drop(:sjob);
INSERT INTO docs (id, body) VALUES (3, 'Water boils at'), (4, 'The sky is'),
  (5, repeat('word ', 2000)), (6, 'Roses are red,'), (7, 'Monday, Tuesday,');
SET ROLE enrich_owner;
SELECT llm_enrich('docs', 'short', 'Say: {body}', mode => 'sync', max_tokens => 4) AS bjob \gset
SELECT pending, done FROM llm_enrich_jobs WHERE job = :bjob;
CALL llm_enrich_backfill(:bjob);
-- rows 1 to 4 were committed before row 5 failed
SELECT id, short IS NOT NULL AS filled FROM docs ORDER BY id;
UPDATE docs SET body = 'A B C D' WHERE id = 5;
CALL llm_enrich_backfill(:bjob);
SELECT pending, done FROM llm_enrich_jobs WHERE job = :bjob;
SELECT count(*) FILTER (WHERE short = llm_generate('Say: ' || body, max_tokens => 4)) AS same,
       count(*) AS total FROM docs;
CALL llm_enrich_backfill(:bjob);
SELECT llm_enrich_drop(:bjob);

--
-- async mode: keys are queued, the drain worker fills the targets
--
UPDATE docs SET summary = NULL;
TRUNCATE audit;
-- the worker starts when the job's transaction commits
BEGIN;
SELECT llm_enrich('docs', 'summary', 'Summarize: {body}', max_tokens => 4) AS ajob \gset
-- the backfill queued every row whose target is NULL
SELECT pending FROM llm_enrich_jobs WHERE job = :ajob;
COMMIT;
-- one job per target column
SELECT llm_enrich('docs', 'summary', 'Other: {body}');
SELECT enrich_wait(:ajob);
SELECT mode, pending, done, failed, last_error, worker_pid IS NOT NULL AS worker_runs
  FROM llm_enrich_jobs WHERE job = :ajob;
SELECT count(*) FILTER (WHERE summary = llm_generate('Summarize: ' || body, max_tokens => 4)) AS same,
       count(*) AS total FROM docs;
SELECT who, count(*) FROM audit GROUP BY who;
-- a rolled-back insert queues nothing; only template columns queue rows
BEGIN;
INSERT INTO docs (id, body) VALUES (10, 'Python is a');
SELECT pending FROM llm_enrich_jobs WHERE job = :ajob;
ROLLBACK;
SELECT pending FROM llm_enrich_jobs WHERE job = :ajob;
BEGIN;
UPDATE docs SET n = 2, title = 'x';
SELECT pending FROM llm_enrich_jobs WHERE job = :ajob;
UPDATE docs SET body = 'The largest planet is' WHERE id = 1;
SELECT pending FROM llm_enrich_jobs WHERE job = :ajob;
COMMIT;
SELECT enrich_wait(:ajob);
SELECT summary = llm_generate('Summarize: The largest planet is', max_tokens => 4) AS reenriched
  FROM docs WHERE id = 1;
SELECT id, count(*) AS writes FROM audit GROUP BY id ORDER BY id;

-- failures: a prompt too long for the context fails alone in its batch;
-- a write refused by a constraint too; after llm.enrich_max_attempts (2)
-- they move to llm_enrich_failed
ALTER TABLE docs ADD CONSTRAINT not_eleven CHECK (id <> 11 OR summary IS NULL);
INSERT INTO docs (id, body) VALUES (11, 'Once upon a time'), (12, repeat('word ', 2000)),
  (13, 'In the beginning');
SELECT enrich_wait(:ajob, 2);
SELECT job = :ajob AS same_job, key, attempts, error FROM llm_enrich_failed ORDER BY key;
SELECT failed, last_error IS NOT NULL AS has_error FROM llm_enrich_jobs WHERE job = :ajob;
SELECT id, summary IS NOT NULL AS filled FROM docs WHERE id > 10 ORDER BY id;
-- llm_enrich_retry puts them back
ALTER TABLE docs DROP CONSTRAINT not_eleven;
UPDATE docs SET body = 'To be or not to be,' WHERE id = 12;
SELECT llm_enrich_retry(:ajob);
SELECT enrich_wait(:ajob);
SELECT id, summary = llm_generate('Summarize: ' || body, max_tokens => 4) AS same
  FROM docs WHERE id > 10 ORDER BY id;
SELECT count(*) FROM llm_enrich_failed;
SELECT llm_enrich_retry(:ajob);

--
-- an embedding target (real[]): llm_embed of the rendered template
--
-- (under a name of its own: llm_embed.sql unloads the default one)
RESET ROLE;
SELECT llm_load_model('enrich_minilm', current_setting('llm.default_embedding_model'));
SET ROLE enrich_owner;
CREATE TABLE notes (id bigint PRIMARY KEY, body text, emb real[], emb2 real[]);
INSERT INTO notes VALUES (1, 'first note'), (2, 'second note');
SELECT llm_enrich('notes', 'emb', 'note: {body}', model => 'enrich_minilm') AS ejob \gset
INSERT INTO notes VALUES (3, 'third note');
SELECT enrich_wait(:ejob);
SELECT id, array_length(emb, 1) AS dim,
       emb = llm_embed('note: ' || body, 'enrich_minilm') AS same_as_llm_embed
  FROM notes ORDER BY id;
SELECT llm_enrich('notes', 'emb2', 'sync note: {body}', mode => 'sync', backfill => false,
                  model => 'enrich_minilm') AS ejob2 \gset
INSERT INTO notes VALUES (4, 'fourth note');
SELECT emb2 = llm_embed('sync note: fourth note', 'enrich_minilm') AS sync_embedding
  FROM notes WHERE id = 4;

--
-- a jsonb target: llm_extract of the rendered template under the job's
-- json_schema, in sync and async mode
--
CREATE TABLE people (id integer PRIMARY KEY, body text, info jsonb, info2 jsonb, note text);
INSERT INTO people (id, body) VALUES (1, 'Bob is 42.'), (2, 'Eve is 29.');
-- a jsonb target needs a schema; a schema needs a jsonb target; options
-- llm_extract does not take are refused; the schema must compile
SELECT llm_enrich('people', 'info', 'Person: {body}');
\set VERBOSITY sqlstate
SELECT llm_enrich('people', 'info', 'Person: {body}');
\set VERBOSITY default
SELECT llm_enrich('people', 'note', 'Person: {body}', json_schema => '{"type": "integer"}');
SELECT llm_enrich('people', 'info', 'Person: {body}', json_schema => '{"type": "integer"}',
                  top_p => 0.5);
SELECT llm_enrich('people', 'info', 'Person: {body}', json_schema => '{"type": "integer"}',
                  stop => ARRAY['}']);
SELECT llm_enrich('people', 'info', 'Person: {body}',
                  json_schema => '{"type": "string", "pattern": "^a+$"}');
SELECT llm_enrich('people', 'info', 'Person: {body}', json_schema => '{"type": "integer"}',
                  max_tokens => 0);
SELECT count(*) AS jobs FROM llm_enrich_jobs WHERE tbl = 'people'::regclass;
-- sync: the statement fills the new rows, llm_enrich_backfill the old ones
SELECT llm_enrich('people', 'info', 'Person: {body}', mode => 'sync', backfill => false,
                  max_tokens => 20, json_schema => '{"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"], "additionalProperties": false}') AS xjob \gset
INSERT INTO people (id, body) VALUES (3, 'Ann is 35.'), (4, 'Tom is 61.');
SELECT id, info IS NOT NULL AS filled FROM people ORDER BY id;
CALL llm_enrich_backfill(:xjob);
SELECT id, jsonb_typeof(info) AS t, jsonb_typeof(info -> 'age') AS age,
       (SELECT array_agg(k) FROM jsonb_object_keys(info) k) AS keys,
       info = llm_extract('Person: ' || body, '{"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"], "additionalProperties": false}', max_tokens => 20) AS same_as_llm_extract
  FROM people ORDER BY id;
-- the sub-select a jsonb job runs (with its options as parameters)
-- computes llm_extract in the row-batching node, so the rows go together
EXPLAIN (COSTS OFF) SELECT r.ord, r.output
  FROM (SELECT pg_catalog.int4(u.ord) AS ord,
               llm_extract(u.p, '{"type": "integer"}', NULL::text, NULL, 20, 0, NULL) AS output
          FROM pg_catalog.unnest(ARRAY['a', 'b']) WITH ORDINALITY AS u(p, ord)) AS r(ord, output);
-- async: the drain worker fills them, and again after a change
SELECT llm_enrich('people', 'info2', 'Who: {body}', max_tokens => 20,
                  json_schema => '{"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"], "additionalProperties": false}') AS x2job \gset
SELECT enrich_wait(:x2job);
UPDATE people SET body = 'Max is 7.' WHERE id = 4;
SELECT enrich_wait(:x2job);
SELECT id, jsonb_typeof(info2 -> 'age') AS age,
       (SELECT array_agg(k) FROM jsonb_object_keys(info2) k) AS keys,
       info2 = llm_extract('Who: ' || body, '{"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"], "additionalProperties": false}', max_tokens => 20) AS same_as_llm_extract,
       info = llm_extract('Person: ' || body, '{"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"], "additionalProperties": false}', max_tokens => 20) AS sync_target_updated
  FROM people ORDER BY id;
SELECT failed, last_error FROM llm_enrich_jobs WHERE job = :x2job;
SELECT llm_enrich_drop(:xjob);
SELECT llm_enrich_drop(:x2job);

--
-- drop: only the owner; triggers, queue and failures go with the job
--
RESET ROLE;
SET ROLE enrich_other;
SELECT llm_enrich_drop(:ajob);
SELECT count(*) FROM llm_enrich_jobs;
RESET ROLE;
SET ROLE enrich_owner;
SELECT llm_enrich_drop(:ajob);
SELECT llm_enrich_drop(:ejob);
SELECT llm_enrich_drop(:ejob2);
SELECT llm_enrich_drop(:ajob);
SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'llm_enrich%';
RESET ROLE;
SELECT (SELECT count(*) FROM llm_enrich_job) AS jobs, (SELECT count(*) FROM llm_enrich_queue) AS queued,
       (SELECT count(*) FROM llm_enrich_failed_rows) AS failed;
-- with no async job left the drain worker exits
DO $$
BEGIN
  FOR i IN 1 .. 100 LOOP
    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'llm enrich worker'
                            AND datname = current_database());
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT count(*) AS drain_workers FROM pg_stat_activity
 WHERE backend_type = 'llm enrich worker' AND datname = current_database();
SELECT count(*) AS launchers FROM pg_stat_activity WHERE backend_type = 'llm enrich launcher';

SELECT llm_unload_model('enrich_minilm');
DROP TABLE docs, notes, nopk, audit, people;
DROP FUNCTION audit_write();
DROP FUNCTION enrich_wait(integer, bigint);
REVOKE USAGE, CREATE ON SCHEMA public FROM enrich_owner;
DROP ROLE enrich_owner;
DROP ROLE enrich_other;
ALTER SYSTEM RESET llm.enrich_naptime;
ALTER SYSTEM RESET llm.enrich_retry_delay;
ALTER SYSTEM RESET llm.enrich_max_attempts;
ALTER SYSTEM RESET llm.enrich_batch_size;
SELECT pg_reload_conf();
