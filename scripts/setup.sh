#!/usr/bin/env bash
# Set everything up and run the main job: install packages, build the
# engine, llm-cli and the extension, fetch the default model, create a
# local PostgreSQL 15 cluster "llm" (port $LLM_PORT, default 5440) with
# llm preloaded and the default models (generation: SmolLM2-135M-Instruct;
# embeddings: all-MiniLM-L6-v2) configured, and run example SQL.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/fetch-models.sh
make -j"$(nproc)" all
make install PREFIX="${PREFIX:-/usr/local}"

CACHE=${LLM_CACHE:-$HOME/.cache/llm}
MODEL=SmolLM2-135M-Instruct.Q4_1.gguf
EMBED_MODEL=all-MiniLM-L6-v2
PORT=${LLM_PORT:-5440}
# the server runs as the postgres user: give it a model directory it can read
MODELS=/var/lib/postgresql/llm-models
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO install -d -o postgres -g postgres -m 755 "$MODELS"
$SUDO install -o postgres -g postgres -m 644 "$CACHE/$MODEL" "$MODELS/$MODEL"
$SUDO rm -rf "$MODELS/$EMBED_MODEL"
$SUDO cp -r "$CACHE/$EMBED_MODEL" "$MODELS/$EMBED_MODEL"
$SUDO chown -R postgres:postgres "$MODELS/$EMBED_MODEL"

echo
echo "== llm-cli generate --chat (the engine alone)"
build/llm-cli generate -m "$CACHE/$MODEL" --chat -p "What is PostgreSQL? Answer in one sentence." -n 48
echo "== llm-cli embed (first 8 of 384 values)"
build/llm-cli embed -m "$CACHE/$EMBED_MODEL" -- "PostgreSQL is a database." | cut -c1-100
echo

if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "15/llm"; then
  $SUDO pg_createcluster 15 llm -p "$PORT" \
    -o shared_preload_libraries=llm \
    -o "llm.model_dir=$MODELS" \
    -o "llm.default_model=$MODEL" \
    -o llm.threads="$(nproc)" >/dev/null
fi
# the default embedding model (also for clusters made by earlier versions)
$SUDO sed -i '/^llm.default_embedding_model/d' /etc/postgresql/15/llm/postgresql.conf
echo "llm.default_embedding_model = '$EMBED_MODEL'" | $SUDO tee -a /etc/postgresql/15/llm/postgresql.conf >/dev/null
$SUDO pg_ctlcluster 15 llm restart
PSQL=(${SUDO:+$SUDO} runuser -u postgres -- psql -X -p "$PORT" -v ON_ERROR_STOP=1)
[ "$(id -u)" -ne 0 ] && PSQL=(sudo -u postgres psql -X -p "$PORT" -v ON_ERROR_STOP=1)

echo "== example SQL on the cluster 15/llm, port $PORT"
"${PSQL[@]}" -e <<'SQL'
-- the demo cluster always gets the SQL objects of this build
DROP EXTENSION IF EXISTS llm;
CREATE EXTENSION llm;
SELECT llm_generate('The capital of France is', max_tokens => 8);
SELECT llm_chat('[{"role": "user", "content": "Name three colours."}]', max_tokens => 32);
DROP TABLE IF EXISTS llm_demo;
CREATE TABLE llm_demo (id int PRIMARY KEY, body text, summary text);
INSERT INTO llm_demo VALUES
  (1, 'PostgreSQL is an open-source relational database.', NULL),
  (2, 'SQL is a language for querying relational data.', NULL),
  (3, 'An index makes lookups faster at the cost of writes.', NULL);
UPDATE llm_demo SET summary = llm_chat(jsonb_build_array(jsonb_build_object(
    'role', 'user', 'content', 'Summarize in one short sentence: ' || body)), max_tokens => 32);
SELECT id, summary FROM llm_demo ORDER BY id;
SELECT * FROM llm_generate_batch(ARRAY['One, two, three,', 'Monday, Tuesday,'], max_tokens => 8);
-- embeddings: 384 dimensions, nearest neighbours by cosine similarity
SELECT array_length(llm_embed('Hello world'), 1) AS dim,
       (llm_embed('Hello world'))[1:4] AS first_values;
ALTER TABLE llm_demo ADD COLUMN embedding real[];
UPDATE llm_demo SET embedding = llm_embed(body);
SELECT id, body,
       round((SELECT sum(a * b) FROM unnest(embedding::float8[], llm_embed('fast search')::float8[]) AS t(a, b))::numeric, 3)
         AS similarity_to_fast_search
  FROM llm_demo ORDER BY similarity_to_fast_search DESC;
SELECT requests, generated_tokens, avg_batch, embedded_texts FROM llm_stats;
SQL
echo
echo "The cluster keeps running: psql -p $PORT -U postgres (as the postgres user)."
