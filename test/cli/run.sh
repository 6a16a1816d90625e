#!/usr/bin/env bash
# test/cli/run.sh CLI [MODEL-DIR] - llm-cli generate, embed and bench on the
# real models, against the golden data of test/golden:
#  - generate: greedy (--temp 0) continuation of generate.tsv's prompt 0,
#    12 tokens (every top-2 margin of llama.cpp there is above 0.25), read
#    back through llm-cli tokenize, must be llama.cpp's 12 ids exactly;
#  - embed: all-MiniLM-L6-v2 on the first 3 strings of embed_vectors.tsv,
#    each vector within cosine 1 - 1e-6 of sentence-transformers' (the
#    bound of test_embed.c for the f32 model);
#  - bench: exits 0 and prints its JSON line with a positive pp_tok_s and
#    tg_tok_s and the asked sizes (-n larger than -p);
#  - --device cuda on a machine without a GPU (nvidia-smi lists none)
#    exits 1 saying no CUDA device was found (or, when llm_cuda.so was not
#    built, that the module was not found); with a GPU it exits 0;
#  - --device auto without a GPU gives exactly the --device cpu text.
# MODEL-DIR defaults to LLM_MODEL_DIR, else ~/.cache/llm; a missing model
# is a failure, not a skip. LLM_CLI_GEN_MODEL / LLM_CLI_EMBED_MODEL
# replace the models (to see the checks fail on a wrong one). Ends with
# "cli: N passed, N failed".
set -u
CLI=${1:?usage: test/cli/run.sh CLI [MODEL-DIR]}
DIR=${2:-${LLM_MODEL_DIR:-$HOME/.cache/llm}}
GEN=${LLM_CLI_GEN_MODEL:-$DIR/SmolLM2-135M-Instruct.Q4_1.gguf}
EMB=${LLM_CLI_EMBED_MODEL:-$DIR/all-MiniLM-L6-v2}
GOLD=$(dirname "$0")/../golden
PY=${PYTHON:-python3}
pass=0; fail=0
echo "1..5"

# check OK DESCRIPTION: print one TAP line and count it
check() {
  if [ "$1" -eq 1 ]; then echo "ok - $2"; pass=$((pass + 1))
  else echo "not ok - $2"; fail=$((fail + 1)); fi
}

# generate: prompt 0 of generate.tsv, its first 12 golden ids
IFS=$'\t' read -r _ hex _ ids _ < <(grep -m1 -P '^0\t' "$GOLD/generate.tsv")
prompt=$($PY -c 'import sys; sys.stdout.write(bytes.fromhex(sys.argv[1]).decode())' "$hex")
want=$(echo "$ids" | tr ' ' '\n' | head -n 12 | paste -sd, -)
out=$(timeout 60 "$CLI" generate -m "$GEN" -p "$prompt" -n 12 --temp 0 -t 1 2>&1); rc=$?
got=""
[ $rc -eq 0 ] && got=$(timeout 60 "$CLI" tokenize -m "$DIR/SmolLM2-135M-Instruct.Q4_1.gguf" -- "$out" 2>&1 | tr -d '[]')
ok=0; [ $rc -eq 0 ] && [ -n "$want" ] && [ "$got" = "$want" ] && ok=1
check $ok "generate: greedy 12 tokens of \"$prompt\" are llama.cpp's ($got vs $want, exit $rc)"

# embed: three strings against sentence-transformers
mapfile -t lines < <(head -n 3 "$GOLD/embed_vectors.tsv")
texts=()
for l in "${lines[@]}"; do
  texts+=("$($PY -c 'import sys; sys.stdout.write(bytes.fromhex(sys.argv[1]).decode())' "${l%%$'\t'*}")")
done
# --isa avx2: the f32 products (the bf16 ones of AVX512_BF16 CPUs are
# checked against a 1e-4 bound by test_embed)
vecs=$(timeout 60 "$CLI" embed -m "$EMB" -t 1 --isa avx2 -- "${texts[@]}" 2>&1); rc=$?
res=$(printf '%s\n' "$vecs" | $PY -c '
import json, math, sys
gold = [[float(x) for x in l.split("\t")[1].split()] for l in open(sys.argv[1]).read().splitlines()[:3]]
try:
    got = [json.loads(l) for l in sys.stdin.read().splitlines()]
except ValueError:
    print("0 unparsable output"); sys.exit()
worst = 1.0
for g, v in zip(gold, got):
    d = sum(a * b for a, b in zip(g, v)) if len(g) == len(v) else 0.0
    c = d / (math.sqrt(sum(a * a for a in g)) * math.sqrt(sum(b * b for b in v)) or 1.0)
    worst = min(worst, c)
print(int(len(got) == 3 and worst >= 1 - 1e-6), "1 - min cosine %.2e" % (1 - worst))
' "$GOLD/embed_vectors.tsv")
check $([ $rc -eq 0 ] && echo "${res%% *}" || echo 0) "embed: 3 vectors match sentence-transformers (${res#* }, exit $rc)"

# bench: runs, and reports sane numbers in its JSON line; more tokens
# generated than prompted (its generation once read tokens past the prompt's)
out=$(timeout 120 "$CLI" bench -m "$GEN" -p 4 -n 40 -r 1 -t 1 --json 2>&1); rc=$?
res=$(printf '%s\n' "$out" | $PY -c '
import json, sys
try:
    j = json.loads(sys.stdin.read().splitlines()[-1])
    good = j["pp_tok_s"] > 0 and j["tg_tok_s"] > 0 and j["n_prompt"] == 4 and j["n_gen"] == 40
    print(int(good), "pp %s tok/s, tg %s tok/s" % (j["pp_tok_s"], j["tg_tok_s"]))
except (ValueError, KeyError, IndexError, TypeError):
    print("0 unparsable output")
')
check $([ $rc -eq 0 ] && echo "${res%% *}" || echo 0) "bench: ${res#* } (exit $rc)"

# devices: cuda without a GPU is a clear error; auto falls back to the CPU
gpu=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU' && gpu=1
mod=0; [ -f "$(dirname "$CLI")/llm_cuda.so" ] && mod=1
out=$(timeout 60 "$CLI" generate -m "$GEN" -p "$prompt" -n 4 --temp 0 -t 1 --device cuda 2>&1); rc=$?
ok=0
if [ $gpu -eq 1 ] && [ $mod -eq 1 ]; then
  [ $rc -eq 0 ] && ok=1
elif [ $mod -eq 1 ]; then
  [ $rc -eq 1 ] && printf '%s' "$out" | grep -q 'no CUDA device was found' && ok=1
else
  [ $rc -eq 1 ] && printf '%s' "$out" | grep -q 'llm_cuda.so was not found' && ok=1
fi
check $ok "--device cuda (GPU $gpu, module $mod): exit $rc, $(printf '%s' "$out" | tail -n 1)"
cpu=$(timeout 60 "$CLI" generate -m "$GEN" -p "$prompt" -n 4 --temp 0 -t 1 --device cpu 2>&1); rc1=$?
auto=$(timeout 60 "$CLI" generate -m "$GEN" -p "$prompt" -n 4 --temp 0 -t 1 --device auto 2>&1); rc2=$?
ok=0
if [ $gpu -eq 1 ] && [ $mod -eq 1 ]; then
  [ $rc2 -eq 0 ] && ok=1
else
  [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -n "$cpu" ] && [ "$cpu" = "$auto" ] && ok=1
fi
check $ok "--device auto (GPU $gpu): exit $rc2, same text as --device cpu"

echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
