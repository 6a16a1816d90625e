#!/usr/bin/env bash
# test/cli/perplexity.sh [LLM_CLI] - llm-cli perplexity against llama.cpp's
# llama-perplexity (golden values in test/golden/perplexity.tsv, made by
# hand with the llama-perplexity of scripts/build-peer.sh), on Debian's
# copy of the GPL-3 text (base-files) and the default model. TAP, ending
# with "cli-perplexity: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
CLI=${1:-build/llm-cli}
MODEL=${LLM_MODEL:-${LLM_CACHE:-$HOME/.cache/llm}/SmolLM2-135M-Instruct.Q4_1.gguf}
GEMMA=${LLM_GEMMA3_MODEL:-${LLM_CACHE:-$HOME/.cache/llm}/gemma-3-270m-Q4_K_M.gguf}
pass=0 fail=0 skip=0 n=0
# ok COND DESCRIPTION
ok() {
  n=$((n + 1))
  if [ "$1" = 1 ]; then echo "ok $n - $2"; pass=$((pass + 1))
  else echo "not ok $n - $2"; fail=$((fail + 1)); fi
}
# field JSON NAME: a number from llm-cli's one-line JSON
field() { printf '%s\n' "$1" | sed -nE "s/.*\"$2\":([-0-9.e]+).*/\1/p"; }

echo "1..10"
read -r _ text sha ctx chunks ref_ppl ref_err < <(grep -v '^#' test/golden/perplexity.tsv | awk -F'\t' '$1 ~ /^SmolLM2/ && $4 == 256' | head -n 1)
got_sha=$(sha256sum "$text" 2>/dev/null | cut -d' ' -f1)
ok "$([ "$got_sha" = "$sha" ] && echo 1)" "reference text $text is the one the golden was made on"
[ -r "$MODEL" ] || echo "# model $MODEL not found (scripts/fetch-models.sh)"

out=$(timeout 300 "$CLI" perplexity -m "$MODEL" -f "$text" -c "$ctx" --chunks "$chunks" -P 4 --json 2>&1); rc=$?
ppl=$(field "$out" ppl); nll=$(field "$out" nll); scored=$(field "$out" scored)
ok "$([ $rc -eq 0 ] && [ -n "$ppl" ] && echo 1)" "perplexity -c $ctx --chunks $chunks runs: ${out:0:200}"
# every chunk scores its second half less the last position
ok "$([ "$scored" = "$((chunks * (ctx - ctx / 2 - 1)))" ] && echo 1)" "scored $scored predictions"
rel=$(awk -v a="${ppl:-0}" -v b="$ref_ppl" 'BEGIN { d = (a - b) / b; if (d < 0) d = -d; printf "%.5f", d }')
ok "$(awk -v r="$rel" 'BEGIN { print (r <= 0.01) ? 1 : 0 }')" \
  "PPL $ppl within 1% of llama-perplexity's $ref_ppl (relative difference $rel)"
err=$(field "$out" ppl_err)
rel_e=$(awk -v a="${err:-0}" -v b="$ref_err" 'BEGIN { d = (a - b) / b; if (d < 0) d = -d; printf "%.5f", d }')
ok "$(awk -v r="$rel_e" 'BEGIN { print (r <= 0.02) ? 1 : 0 }')" \
  "uncertainty $err within 2% of llama-perplexity's $ref_err"

# the chunks side by side in other groupings give the same bits
out3=$(timeout 300 "$CLI" perplexity -m "$MODEL" -f "$text" -c "$ctx" --chunks "$chunks" -P 3 --json 2>&1)
nll3=$(field "$out3" nll)
ok "$([ -n "$nll" ] && [ "$nll3" = "$nll" ] && echo 1)" "-P 3 gives the NLL of -P 4 ($nll3 vs $nll)"

# errors: a text too short for the context, a missing file, a bad option
out=$(timeout 60 "$CLI" perplexity -m "$MODEL" -f "$text" -c 8192 2>&1); rc=$?
ok "$([ $rc -eq 1 ] && printf '%s' "$out" | grep -q 'needs at least' && echo 1)" "text shorter than 2 contexts: exit $rc, $out"
out=$(timeout 60 "$CLI" perplexity -m "$MODEL" -f /nonexistent/text 2>&1); rc=$?
ok "$([ $rc -eq 1 ] && printf '%s' "$out" | grep -q 'No such file' && echo 1)" "missing text file: exit $rc, $out"
out=$(timeout 60 "$CLI" perplexity -m "$MODEL" -f "$text" -c 2 2>&1); rc=$?
ok "$([ $rc -eq 2 ] && echo 1)" "-c 2 is a usage error: exit $rc"

# gemma3 (sliding-window layers unused below 512 positions): 2 chunks of 256
read -r _ _ _ gctx gchunks gref _ < <(grep -v '^#' test/golden/perplexity.tsv | awk -F'\t' '$1 ~ /^gemma-3/ && $4 == 256 && $5 == 2')
if [ -r "$GEMMA" ]; then
  out=$(timeout 600 "$CLI" perplexity -m "$GEMMA" -f "$text" -c "$gctx" --chunks "$gchunks" --json 2>&1)
  gppl=$(field "$out" ppl)
  grel=$(awk -v a="${gppl:-0}" -v b="$gref" 'BEGIN { d = (a - b) / b; if (d < 0) d = -d; printf "%.5f", d }')
  ok "$(awk -v r="$grel" 'BEGIN { print (r <= 0.01) ? 1 : 0 }')" \
    "gemma3 PPL $gppl within 1% of llama-perplexity's $gref (relative difference $grel)"
else
  n=$((n + 1)); skip=$((skip + 1)); echo "ok $n # SKIP gemma3 model $GEMMA not fetched"
fi
echo "cli-perplexity: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $n -eq 10 ]
