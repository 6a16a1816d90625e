#!/bin/bash
# test/bench/bench-rowbatch.sh - the row-batching node against its peers
# (not a CI test). One run, all figures from the same machine state:
#
#   generation: ROWS rows, UPDATE docs SET summary = llm_generate(body,
#     max_tokens => MAX_TOKENS), greedy:
#       update        plain UPDATE, llm.batch_rows default (64)
#       update_rows1  the same with llm.batch_rows = 1 (row by row)
#       batch_fn      one llm_generate_batch() over the same prompts
#       server        llama.cpp's llama-server, 16 slots, a client sending
#                     the same prompts with 16 parallel requests
#   embeddings: EMBED_ROWS rows, UPDATE docs SET e = llm_embed(body)
#     against one llm_embed_batch() over the same texts
#
# Prints a markdown table with the time of each and the ratios the issue
# asks for. Environment: ROWS (1000), MAX_TOKENS (32), EMBED_ROWS (10000),
# THREADS (2), PORT (18089), SKIP_SERVER=1 to leave the peer out.
set -euo pipefail
. "$(dirname "$0")/../pg/common.sh"
LLM_PG_THREADS=${THREADS:-2}
export LLM_PG_THREADS
llm_pg_prepare
ROWS=${ROWS:-1000}
MAX_TOKENS=${MAX_TOKENS:-32}
EMBED_ROWS=${EMBED_ROWS:-10000}
PORT=${PORT:-18089}
CACHE=${LLM_CACHE:-$HOME/.cache/llm}
SERVER=${LLAMA_SERVER:-$CACHE/peer/build-server/bin/llama-server}
work=$(mktemp -d /tmp/llm-benchrb.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# deterministic prompts: short product descriptions to summarize
python3 - "$work/prompts.txt" "$ROWS" <<'PY'
import random, sys
rnd = random.Random(18)
colors = "red blue green black white silver golden purple".split()
things = "lamp chair kettle bicycle backpack watch speaker notebook jacket drone".split()
places = "Lisbon Osaka Toronto Nairobi Oslo Lima Perth Seoul Dublin Quito".split()
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(f"Product {i + 1}: a {rnd.choice(colors)} {rnd.choice(things)} made in "
                f"{rnd.choice(places)}, sold for {rnd.randint(5, 500)} dollars. "
                f"A one-line summary of the product:\n")
PY
python3 "$(dirname "$0")/make_corpus.py" "$EMBED_ROWS" "$work/texts.txt"

cat >"$work/run.sh" <<SH
#!/bin/bash
set -euo pipefail
q() { psql -X -q -At "\$@"; }
now() { date +%s.%N; }
q -c "CREATE EXTENSION IF NOT EXISTS llm"
q -c "CREATE TABLE docs (id serial PRIMARY KEY, body text, summary text)"
q -c "\\\\copy docs (body) FROM '$work/prompts.txt'"
q -c "CREATE TABLE emb (id serial PRIMARY KEY, body text, e real[])"
q -c "\\\\copy emb (body) FROM '$work/texts.txt'"
q -c "SELECT llm_generate('warm up', max_tokens => 2), llm_embed('warm up') IS NOT NULL" >/dev/null
tok() { q -c "SELECT generated_tokens FROM llm_stats"; }

g0=\$(tok); t0=\$(now)
q -c "SELECT count(output) FROM llm_generate_batch((SELECT array_agg(body ORDER BY id) FROM docs), max_tokens => $MAX_TOKENS)" >/dev/null
t1=\$(now); g1=\$(tok)
echo "batch_fn \$(awk "BEGIN{print \$t1 - \$t0}") \$((g1 - g0))" >>"$work/results"

g0=\$(tok); t0=\$(now)
q -c "UPDATE docs SET summary = llm_generate(body, max_tokens => $MAX_TOKENS)" >/dev/null
t1=\$(now); g1=\$(tok)
echo "update \$(awk "BEGIN{print \$t1 - \$t0}") \$((g1 - g0))" >>"$work/results"
q -c "CREATE TABLE ref AS SELECT id, summary FROM docs"

g0=\$(tok); t0=\$(now)
q -c "SET llm.batch_rows = 1" -c "UPDATE docs SET summary = llm_generate(body, max_tokens => $MAX_TOKENS)" >/dev/null
t1=\$(now); g1=\$(tok)
echo "update_rows1 \$(awk "BEGIN{print \$t1 - \$t0}") \$((g1 - g0))" >>"$work/results"
echo "differ \$(q -c "SELECT count(*) FROM docs JOIN ref USING (id) WHERE docs.summary IS DISTINCT FROM ref.summary")" >>"$work/results"

t0=\$(now)
q -c "SELECT count(embedding) FROM llm_embed_batch((SELECT array_agg(body ORDER BY id) FROM emb))" >/dev/null
t1=\$(now)
echo "embed_batch_fn \$(awk "BEGIN{print \$t1 - \$t0}") $EMBED_ROWS" >>"$work/results"
t0=\$(now)
q -c "UPDATE emb SET e = llm_embed(body)" >/dev/null
t1=\$(now)
echo "embed_update \$(awk "BEGIN{print \$t1 - \$t0}") $EMBED_ROWS" >>"$work/results"
SH
chmod 755 "$work/run.sh"
llm_pg_virtualenv -o llm.queue_size=64 -o llm.max_batch=16 "$work/run.sh"

if [ "${SKIP_SERVER:-0}" != 1 ]; then
	[ -x "$SERVER" ] || { echo "bench-rowbatch.sh: build the peer first: scripts/build-peer.sh llama-server" >&2; exit 1; }
	"$SERVER" -m "$LLM_MODEL" -t "$LLM_PG_THREADS" -tb "$LLM_PG_THREADS" -np 16 -c 8192 \
		--host 127.0.0.1 --port "$PORT" >"$work/server.log" 2>&1 &
	spid=$!
	for i in $(seq 1 120); do
		curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
		sleep 0.5
	done
	python3 "$(dirname "$0")/rowbatch_server.py" --port "$PORT" --prompts "$work/prompts.txt" \
		--max-tokens "$MAX_TOKENS" --parallel 16 >>"$work/results"
	kill $spid; wait $spid 2>/dev/null || true
fi

python3 - "$work/results" "$ROWS" "$MAX_TOKENS" "$EMBED_ROWS" "$LLM_PG_THREADS" <<'PY'
import sys
r = {}
for l in open(sys.argv[1]):
    f = l.split()
    r[f[0]] = f[1:]
rows, mt, erows, th = sys.argv[2:6]
t = {k: float(v[0]) for k, v in r.items() if k != "differ"}
print(f"{rows} rows, max_tokens {mt}, greedy, llm.threads {th}; {erows} rows for embeddings")
print()
print("| run | wall s | tokens generated | tok/s |")
print("|---|---:|---:|---:|")
for k in ("update", "update_rows1", "batch_fn", "server"):
    if k in r:
        print(f"| {k} | {t[k]:.2f} | {r[k][1]} | {int(r[k][1]) / t[k]:.1f} |")
for k in ("embed_update", "embed_batch_fn"):
    print(f"| {k} | {t[k]:.2f} | {r[k][1]} texts | {int(r[k][1]) / t[k]:.1f} texts/s |")
print()
print(f"- UPDATE vs llm_generate_batch: {t['update'] / t['batch_fn']:.2f}x the time (goal <= 1.15)")
print(f"- UPDATE vs batch_rows = 1: {t['update_rows1'] / t['update']:.2f}x faster (goal >= 1.7)")
if "server" in t:
    print(f"- UPDATE vs llama-server loop (16 parallel): {t['update'] / t['server']:.2f}x the time (goal <= 0.3)")
print(f"- embedding UPDATE vs llm_embed_batch: {t['embed_update'] / t['embed_batch_fn']:.2f}x the time (goal <= 1.15)")
print(f"- rows whose batched and row-by-row text differ: {r['differ'][0]}")
PY
