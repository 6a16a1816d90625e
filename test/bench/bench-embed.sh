#!/bin/bash
# test/bench/bench-embed.sh - embedding throughput against
# sentence-transformers (PyTorch, CPU) in the same run, same thread count.
# Not a CI test.
#
#   ST_PYTHON=/path/to/venv/bin/python test/bench/bench-embed.sh
#
# Measures, for N short texts (10-30 words, test/bench/make_corpus.py):
#   engine       llm_embed_batch() of the C library (test/bench/embed_bench.c)
#   sql-batch    SELECT ... FROM llm_embed_batch(array of all texts)
#   sql-update   UPDATE t SET e = llm_embed(body)  (one request per row)
#   peer         sentence-transformers encode(), batch size 32 (its default)
# and prints rows/s, tokens/s, the ratios to the peer and the machine's
# FMA peak (test/bench/flops.c) as the compute ceiling for the model.
#
# Environment: N (10000), THREADS (2), ST_PYTHON (python with
# sentence-transformers and torch), LLM_EMBED_MODEL (model directory).
set -euo pipefail
. "$(dirname "$0")/../pg/common.sh"
N=${N:-10000}
THREADS=${THREADS:-2}
ST_PYTHON=${ST_PYTHON:-python3}
work=$(mktemp -d /tmp/llm-bench-embed.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
cd "$LLM_REPO"

make -s build/libllmengine.a
cc -std=gnu11 -O2 -Isrc/engine test/bench/embed_bench.c build/libllmengine.a \
	-lpcre2-8 -lutf8proc -lm -lpthread -o "$work/embed_bench"
cc -O2 -mavx2 -mfma -pthread test/bench/flops.c -o "$work/flops"
python3 test/bench/make_corpus.py "$N" "$work/corpus.txt"
chmod 644 "$work/corpus.txt"

echo "# $N texts, $THREADS threads, model $LLM_EMBED_MODEL"
peak=$("$work/flops" "$THREADS" | awk '{print $4}')
echo "fma peak: $peak GFLOP/s ($THREADS threads)"

# the engine alone (best of 2), then the peer, then SQL
engine=$("$work/embed_bench" "$LLM_EMBED_MODEL" "$work/corpus.txt" "$THREADS" 2)
echo "engine: $engine"
peer=$("$ST_PYTHON" test/bench/embed_peer.py "$LLM_EMBED_MODEL" "$work/corpus.txt" "$THREADS" 2>/dev/null | tail -n 1)
echo "peer:   $peer"

llm_pg_prepare
cat >"$work/run.sh" <<SH
#!/bin/bash
set -euo pipefail
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE EXTENSION IF NOT EXISTS llm;
CREATE TABLE t(id serial PRIMARY KEY, body text NOT NULL, e real[]);
\\\\copy t(body) FROM '$work/corpus.txt'
SELECT array_length(llm_embed('warm-up'), 1) AS warm_up_dim;
SQL
t0=\$(date +%s.%N)
psql -X -q -At -c "SELECT count(*) FROM llm_embed_batch(array(SELECT body FROM t ORDER BY id))" >/dev/null
t1=\$(date +%s.%N)
psql -X -q -At -c "UPDATE t SET e = llm_embed(body)" >/dev/null
t2=\$(date +%s.%N)
psql -X -q -At -c "SELECT count(*) FROM t WHERE array_length(e, 1) > 0" >"$work/rows"
echo "\$t0 \$t1 \$t2" >"$work/times"
SH
chmod 755 "$work/run.sh"
(cd /tmp && llm_pg_virtualenv -o "llm.threads=$THREADS" -o llm.queue_size=256 "$work/run.sh")
read -r t0 t1 t2 <"$work/times"

python3 - "$N" "$peak" "$engine" "$peer" "$t0" "$t1" "$t2" "$(cat "$work/rows")" "$LLM_EMBED_MODEL/config.json" <<'PY'
import json, sys
n = int(sys.argv[1]); peak = float(sys.argv[2])
cfg = json.load(open(sys.argv[9]))
eng = sys.argv[3].split(); peer = sys.argv[4].split()
t0, t1, t2 = map(float, sys.argv[5:8]); rows_updated = int(sys.argv[8])
e = dict(zip(eng[0::2], eng[1::2])); p = dict(zip(peer[0::2], peer[1::2]))
tokens = int(e["tokens"])
peer_rs = float(p["rows_per_s"])
# per layer: Q, K, V, output (d x d) and the two FFN matrices (d x ff)
d, ff, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
flop_per_token = 2 * layers * (4 * d * d + 2 * d * ff)
rows = [("engine (llm_embed_batch, C)", float(e["seconds"])),
        ("SQL llm_embed_batch", t1 - t0),
        ("SQL UPDATE ... llm_embed(body)", t2 - t1),
        ("sentence-transformers", float(p["seconds"]))]
print(f"\n{n} texts, {tokens} tokens ({tokens / n:.1f} per text); rows updated: {rows_updated}")
print(f"compute ceiling: {peak:.1f} GFLOP/s / {flop_per_token / 1e6:.1f} MFLOP per token"
      f" = {peak * 1e9 / flop_per_token:.0f} tokens/s = {peak * 1e9 / flop_per_token / (tokens / n):.0f} texts/s")
print("| path | seconds | rows/s | tokens/s | / sentence-transformers | % of ceiling |")
print("|---|---:|---:|---:|---:|---:|")
for name, s in rows:
    rs = n / s
    print(f"| {name} | {s:.2f} | {rs:.1f} | {tokens / s:.0f} | {rs / peer_rs:.2f}x | "
          f"{100 * tokens / s * flop_per_token / (peak * 1e9):.0f}% |")
PY
