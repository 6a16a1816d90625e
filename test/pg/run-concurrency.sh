#!/bin/bash
# test/pg/run-concurrency.sh - 16 concurrent sessions (pgbench -c 16)
# generate through one worker. Every result must equal the same prompt's
# greedy output computed first in a single session, and the worker must
# have batched (llm_stats.avg_batch > 1 during the run), and the prompts,
# which all begin with the same instruction, must have reused it from the
# prefix cache (llm_stats.cached_prompt_tokens grew during the run; it
# stays 0 without the cache). Then 16 sessions
# embed texts of different lengths: every vector must equal, bit for bit,
# the one computed alone, and the worker must have put several texts
# into its embedding batches.
#
# Environment: CLIENTS (16), TRANSACTIONS per client (4), MAX_TOKENS (16).
set -euo pipefail
. "$(dirname "$0")/common.sh"
llm_pg_prepare

CLIENTS=${CLIENTS:-16}
TRANSACTIONS=${TRANSACTIONS:-4}
MAX_TOKENS=${MAX_TOKENS:-16}
work=$(mktemp -d /tmp/llm-conc.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

cat >"$work/setup.sql" <<SQL
CREATE EXTENSION IF NOT EXISTS llm;
DROP TABLE IF EXISTS prompts, expected, results;
CREATE TABLE prompts(id int PRIMARY KEY, prompt text NOT NULL);
INSERT INTO prompts VALUES
 (1, 'The capital of France is'), (2, 'One, two, three,'),
 (3, 'The opposite of hot is'), (4, 'My favourite food is'),
 (5, 'Water boils at'), (6, 'The sky is'), (7, 'Monday, Tuesday,'),
 (8, 'Roses are red,'), (9, 'The first president of the United States was'),
 (10, 'A B C D'), (11, 'Python is a'), (12, 'The largest planet is'),
 (13, 'Once upon a time'), (14, 'The quick brown fox'),
 (15, 'To be or not to be,'), (16, 'In the beginning');
UPDATE prompts SET prompt = 'Continue the text below with a few plain words, as a person would. ' || prompt;
-- reference outputs: one request at a time, in this session
CREATE TABLE expected AS
  SELECT id, llm_generate(prompt, max_tokens => $MAX_TOKENS) AS output FROM prompts;
CREATE TABLE results(id int, output text);
DROP TABLE IF EXISTS texts, expected_emb, emb_results;
CREATE TABLE texts(id int PRIMARY KEY, body text NOT NULL);
INSERT INTO texts
  SELECT i, repeat(w || ' ', 1 + (i * 7) % 40) || 'number ' || i
    FROM generate_series(1, 32) AS i,
         LATERAL (SELECT (ARRAY['data', 'Übergröße', '東京', 'emoji 🎉', 'word'])[1 + i % 5] AS w) AS x;
CREATE TABLE expected_emb AS SELECT id, llm_embed(body) AS e FROM texts;
CREATE TABLE emb_results(id int, e real[]);
SQL

cat >"$work/embed.sql" <<SQL
\set id random(1, 32)
INSERT INTO emb_results SELECT id, llm_embed(body) FROM texts WHERE id = :id;
SQL

cat >"$work/bench.sql" <<SQL
\set id random(1, 16)
INSERT INTO results SELECT id, llm_generate(prompt, max_tokens => $MAX_TOKENS) FROM prompts WHERE id = :id;
SQL

cat >"$work/check.sql" <<SQL
\set ON_ERROR_STOP 1
SELECT count(*) AS results,
       count(*) FILTER (WHERE r.output IS DISTINCT FROM e.output) AS mismatches
  FROM results r JOIN expected e USING (id);
SELECT r.id, r.output AS got, e.output AS expected
  FROM results r JOIN expected e USING (id)
 WHERE r.output IS DISTINCT FROM e.output LIMIT 5;
SELECT steps - :steps0 AS steps,
       round(((avg_batch * steps - :seqs0) / nullif(steps - :steps0, 0))::numeric, 2) AS avg_batch_during_run,
       round(avg_batch::numeric, 2) AS avg_batch_total,
       queue_depth, slots_in_use, round(mean_queue_wait_ms::numeric, 1) AS mean_wait_ms
  FROM llm_stats;
SQL

cat >"$work/run.sh" <<SH
#!/bin/bash
set -euo pipefail
psql -X -q -v ON_ERROR_STOP=1 -f "$work/setup.sql"
read steps0 seqs0 < <(psql -X -At -F ' ' -c 'SELECT steps, avg_batch * steps FROM llm_stats')
cached0=\$(psql -X -At -c "SELECT cached_prompt_tokens FROM llm_stats")
pgbench -n -c $CLIENTS -j 4 -t $TRANSACTIONS -f "$work/bench.sql"
psql -X -v steps0=\$steps0 -v seqs0=\$seqs0 -f "$work/check.sql" | tee "$work/check.out"
read results mismatches < <(psql -X -At -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE r.output IS DISTINCT FROM e.output) FROM results r JOIN expected e USING (id)")
batched=\$(psql -X -At -c "SELECT (avg_batch * steps - \$seqs0) / nullif(steps - \$steps0, 0) > 1 FROM llm_stats")
drained=\$(psql -X -At -c "SELECT queue_depth = 0 AND slots_in_use = 0 FROM llm_stats")
cached=\$(psql -X -At -c "SELECT cached_prompt_tokens FROM llm_stats")
echo "results=\$results mismatches=\$mismatches batched=\$batched drained=\$drained prompt_positions_from_prefix_cache=\$((cached - cached0))"
read texts0 batches0 < <(psql -X -At -F ' ' -c 'SELECT embedded_texts, embed_batches FROM llm_stats')
pgbench -n -c $CLIENTS -j 4 -t $((TRANSACTIONS * 4)) -f "$work/embed.sql"
read eresults emismatches < <(psql -X -At -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE r.e IS DISTINCT FROM x.e) FROM emb_results r JOIN expected_emb x USING (id)")
read per_batch < <(psql -X -At -c "SELECT round((embedded_texts - \$texts0)::numeric / nullif(embed_batches - \$batches0, 0), 2) FROM llm_stats")
echo "embeddings=\$eresults mismatches=\$emismatches texts_per_batch=\$per_batch"
[ "\$results" = $((CLIENTS * TRANSACTIONS)) ] && [ "\$mismatches" = 0 ] &&
	[ "\$batched" = t ] && [ "\$drained" = t ] && [ "\$cached" -gt "\$cached0" ] &&
	[ "\$eresults" = $((CLIENTS * TRANSACTIONS * 4)) ] && [ "\$emismatches" = 0 ] &&
	awk -v b="\$per_batch" 'BEGIN { exit !(b > 1) }'
SH
chmod 755 "$work/run.sh"

cd /tmp
if llm_pg_virtualenv -o llm.max_batch=16 -o llm.queue_size=32 "$work/run.sh"; then
	echo "PASS: $CLIENTS clients, every output and embedding equals the single-session one, batched, prefix cache hit"
else
	echo "FAIL"
	exit 1
fi
