--
-- The LlmBatch node: statements that compute llm calls over many rows
-- batch them (llm.batch_rows), with the results of row-by-row execution.
--
CREATE TABLE docs (id int PRIMARY KEY, body text, summary text);
INSERT INTO docs
SELECT g, CASE WHEN g % 9 = 0 THEN NULL ELSE 'Item ' || g || ' of the list is' END
  FROM generate_series(1, 40) g;

-- the node appears under ModifyTable, at a SELECT's projection, under
-- INSERT ... SELECT and CREATE TABLE AS
EXPLAIN (COSTS OFF) UPDATE docs SET summary = llm_generate(body, max_tokens => 4);
EXPLAIN (COSTS OFF) SELECT id, llm_generate(body, max_tokens => 4) FROM docs;
EXPLAIN (COSTS OFF) INSERT INTO docs SELECT id + 100, body, llm_generate(body) FROM docs;
EXPLAIN (COSTS OFF) CREATE TABLE t AS SELECT llm_embed(body) FROM docs;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, upper(llm_generate(body, max_tokens => 4)) || '!' FROM docs;

-- UPDATE: batched and row by row give the same text; batching takes far
-- fewer engine steps (the worker runs the rows together)
SELECT steps AS s0 FROM llm_stats \gset
UPDATE docs SET summary = llm_generate(body, max_tokens => 4);
SELECT steps AS s1 FROM llm_stats \gset
CREATE TABLE ref_update AS SELECT id, summary FROM docs;
UPDATE docs SET summary = NULL;
SET llm.batch_rows = 1;
UPDATE docs SET summary = llm_generate(body, max_tokens => 4);
SELECT steps AS s2 FROM llm_stats \gset
RESET llm.batch_rows;
SELECT count(*) AS rows, count(d.summary) AS with_text,
       count(*) FILTER (WHERE d.summary IS DISTINCT FROM r.summary) AS differ
  FROM docs d JOIN ref_update r USING (id);
SELECT (:s1 - :s0) * 3 < (:s2 - :s1) AS batched_uses_fewer_steps;

-- SELECT and CREATE TABLE AS
CREATE TABLE sel_batched AS SELECT id, llm_generate(body, max_tokens => 4) AS g FROM docs;
SET llm.batch_rows = 1;
CREATE TABLE sel_single AS SELECT id, llm_generate(body, max_tokens => 4) AS g FROM docs;
RESET llm.batch_rows;
SELECT count(*) AS differ FROM sel_batched b JOIN sel_single s USING (id)
 WHERE b.g IS DISTINCT FROM s.g;
SELECT count(*) AS differ FROM sel_batched b JOIN ref_update r USING (id)
 WHERE b.g IS DISTINCT FROM r.summary;

-- INSERT ... SELECT, also inside a WITH with RETURNING
CREATE TABLE ins (id int, g text);
WITH i AS (INSERT INTO ins SELECT id, llm_generate(body, max_tokens => 4) FROM docs
           RETURNING id, g)
SELECT count(*) AS returned, count(g) AS with_text FROM i;
SELECT count(*) AS differ FROM ins i JOIN ref_update r USING (id)
 WHERE i.g IS DISTINCT FROM r.summary;

-- llm_embed: the same bits batched and row by row
CREATE TABLE emb_batched AS SELECT id, llm_embed(body) AS e FROM docs;
SET llm.batch_rows = 1;
CREATE TABLE emb_single AS SELECT id, llm_embed(body) AS e FROM docs;
RESET llm.batch_rows;
SELECT count(*) AS rows, count(b.e) AS embedded,
       count(*) FILTER (WHERE b.e IS DISTINCT FROM s.e) AS differ
  FROM emb_batched b JOIN emb_single s USING (id);

-- llm_chat, and two calls in one row
CREATE TABLE chat_batched AS
SELECT id, llm_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', body)),
                    max_tokens => 4) AS c,
       llm_generate(body, max_tokens => 4) AS g
  FROM docs WHERE body IS NOT NULL AND id <= 12;
SET llm.batch_rows = 1;
CREATE TABLE chat_single AS
SELECT id, llm_chat(jsonb_build_array(jsonb_build_object('role', 'user', 'content', body)),
                    max_tokens => 4) AS c
  FROM docs WHERE body IS NOT NULL AND id <= 12;
RESET llm.batch_rows;
SELECT count(*) AS rows, count(*) FILTER (WHERE b.c IS DISTINCT FROM s.c) AS chat_differ,
       count(*) FILTER (WHERE b.g IS DISTINCT FROM r.summary) AS generate_differ
  FROM chat_batched b JOIN chat_single s USING (id) JOIN ref_update r USING (id);

-- over groups, a join, UNION ALL and a partitioned table
CREATE TABLE agg_batched AS
SELECT id % 3 AS k, llm_generate(string_agg(body, ' ' ORDER BY id), max_tokens => 3) AS g
  FROM docs WHERE id <= 12 GROUP BY 1;
SET llm.batch_rows = 1;
CREATE TABLE agg_single AS
SELECT id % 3 AS k, llm_generate(string_agg(body, ' ' ORDER BY id), max_tokens => 3) AS g
  FROM docs WHERE id <= 12 GROUP BY 1;
RESET llm.batch_rows;
SELECT count(*) AS groups, count(*) FILTER (WHERE a.g IS DISTINCT FROM b.g) AS differ
  FROM agg_batched a JOIN agg_single b USING (k);
EXPLAIN (COSTS OFF) SELECT a.id, llm_generate(b.body) FROM docs a JOIN docs b ON a.id = b.id + 1;
EXPLAIN (COSTS OFF) SELECT llm_generate(body) FROM docs UNION ALL SELECT llm_generate(summary) FROM docs;
CREATE TABLE parts (id int, body text, summary text) PARTITION BY RANGE (id);
CREATE TABLE parts_1 PARTITION OF parts FOR VALUES FROM (1) TO (21);
CREATE TABLE parts_2 PARTITION OF parts FOR VALUES FROM (21) TO (41);
INSERT INTO parts SELECT id, body FROM docs;
EXPLAIN (COSTS OFF) UPDATE parts SET summary = llm_generate(body, max_tokens => 4);
UPDATE parts SET summary = llm_generate(body, max_tokens => 4);
SELECT count(*) AS rows, count(*) FILTER (WHERE p.summary IS DISTINCT FROM r.summary) AS differ
  FROM parts p JOIN ref_update r USING (id);
-- under a LIMIT the calls come after the sort: only 3 rows generate
EXPLAIN (COSTS OFF) SELECT llm_generate(body, max_tokens => 1) FROM docs ORDER BY body LIMIT 3;
SELECT generated_tokens AS g0 FROM llm_stats \gset
SELECT count(*) FROM (SELECT llm_generate(body, max_tokens => 1) FROM docs ORDER BY body LIMIT 3) s;
SELECT generated_tokens - :g0 AS generated FROM llm_stats;

-- NULL arguments give NULL, as row by row
SELECT count(*) FILTER (WHERE body IS NULL) AS null_bodies,
       count(*) FILTER (WHERE body IS NULL AND g IS NULL) AS null_results
  FROM sel_batched JOIN docs USING (id);

-- EXPLAIN ANALYZE: batches and their size
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT llm_generate(body, max_tokens => 1) FROM docs;
SET llm.batch_rows = 16;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT llm_generate(body, max_tokens => 1) FROM docs;
RESET llm.batch_rows;

-- a constant LIMIT bounds the rows read
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT id, llm_generate(body, max_tokens => 1) FROM docs ORDER BY id LIMIT 3;
SELECT id, g = (SELECT summary FROM ref_update r WHERE r.id = s.id) AS same
  FROM (SELECT id, llm_generate(body, max_tokens => 4) AS g FROM docs ORDER BY id LIMIT 3) s;

-- a prepared statement reads llm.batch_rows when it runs
PREPARE p AS SELECT id, llm_generate(body, max_tokens => 1) FROM docs;
SET llm.batch_rows = 10;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE p;
RESET llm.batch_rows;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE p;
DEALLOCATE p;

-- cursors start with small batches; scrollable ones are not batched
BEGIN;
EXPLAIN (COSTS OFF) DECLARE c CURSOR FOR SELECT id, llm_generate(body, max_tokens => 4) FROM docs;
DECLARE c CURSOR FOR SELECT id, llm_generate(body, max_tokens => 4) AS g FROM docs ORDER BY id;
FETCH 2 FROM c;
DECLARE s SCROLL CURSOR FOR SELECT id, llm_generate(body, max_tokens => 4) AS g FROM docs ORDER BY id;
FETCH 2 FROM s;
FETCH BACKWARD 1 FROM s;
COMMIT;

-- left alone: calls under CASE, COALESCE, AND/OR, in WHERE, nested in
-- another llm call, as arguments of set-returning functions
EXPLAIN (COSTS OFF) SELECT CASE WHEN id > 3 THEN llm_generate(body) END FROM docs;
EXPLAIN (COSTS OFF) SELECT coalesce(summary, llm_generate(body)) FROM docs;
EXPLAIN (COSTS OFF) SELECT summary IS NULL OR llm_generate(body) = '' FROM docs;
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE llm_generate(body) = '';
EXPLAIN (VERBOSE, COSTS OFF) SELECT llm_generate(llm_generate(body, max_tokens => 2), max_tokens => 2) FROM docs;
EXPLAIN (COSTS OFF) SELECT regexp_split_to_table(llm_generate(body), ' ') FROM docs;
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE EXISTS (SELECT llm_generate(d.body) FROM docs d WHERE d.id = docs.id + 1);

-- COST: the cheap filter runs first, so only the rows that pass it generate
SELECT generated_tokens AS g0 FROM llm_stats \gset
SELECT count(*) AS passed FROM docs
 WHERE llm_generate(body, max_tokens => 1) IS NOT NULL AND id <= 5;
SELECT generated_tokens - :g0 AS generated FROM llm_stats;

-- errors: a bad argument in row 37 of 64 fails the statement with its
-- error, as does a request the worker fails; nothing is written
INSERT INTO docs SELECT g, 'Item ' || g, NULL FROM generate_series(41, 64) g;
SET llm.batch_rows = 64;
UPDATE docs SET summary = 'x';
UPDATE docs SET summary = llm_generate(body, max_tokens => CASE WHEN id = 37 THEN -1 ELSE 2 END);
UPDATE docs SET summary = llm_generate(body, max_tokens => 2,
                                       model => CASE WHEN id = 37 THEN 'no_such_model' END);
-- two failing rows: the first one's error
UPDATE docs SET summary = llm_generate(body, max_tokens => 2,
                                       model => CASE WHEN id IN (37, 50) THEN 'no_such_' || id END);
SELECT count(*) FILTER (WHERE summary = 'x') AS untouched FROM docs;
RESET llm.batch_rows;

-- a statement trigger enriching the new rows through a transition table
CREATE FUNCTION docs_enrich() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE docs d SET summary = llm_generate(d.body, max_tokens => 4)
    FROM new_rows n WHERE d.id = n.id;
  RETURN NULL;
END $$;
CREATE TRIGGER docs_enrich AFTER INSERT ON docs REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION docs_enrich();
SELECT steps AS s0 FROM llm_stats \gset
INSERT INTO docs SELECT id + 1000, body FROM docs WHERE id <= 40;
SELECT steps - :s0 < 72 AS trigger_update_batched FROM llm_stats;
SELECT count(*) AS rows, count(*) FILTER (WHERE d.summary IS DISTINCT FROM r.summary) AS differ
  FROM docs d JOIN ref_update r ON d.id = r.id + 1000;
DROP TRIGGER docs_enrich ON docs;

-- llm_requests: nothing in flight now
SELECT count(*) AS in_flight FROM llm_requests;
SELECT attname FROM pg_attribute WHERE attrelid = 'llm_requests'::regclass AND attnum > 0 ORDER BY attnum;

DROP TABLE docs, ref_update, sel_batched, sel_single, ins, emb_batched, emb_single,
  chat_batched, chat_single, agg_batched, agg_single, parts;
DROP FUNCTION docs_enrich();
