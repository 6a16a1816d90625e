#!/usr/bin/env bash
# test/cli/synthetic.sh CLI - the random-weight models of
# test/fixtures/make_synthetic.py, a tiny shape in every type it writes
# (and the qwen2 shape in q4_k_m), each:
#  - valid: the gguf package's own dequantizer reads every tensor back as
#    finite values of a weight's size (|w| < 1, some spread; norms all
#    ones) in the types
#    the quantization names (q4_k_m: output.weight Q6_K, attn_q Q4_K);
#  - loaded by llm-cli info with the shape's vocabulary, layers and
#    dominant type;
#  - run: llm-cli generate (greedy, 4 tokens) and llm-cli bench (pp16/tg4,
#    and -b 2) exit 0, bench with positive speeds.
# Also: an unknown --type is a usage error (exit 2). Ends with
# "synthetic: N passed, N failed". Takes a few seconds.
set -u
CLI=${1:?usage: test/cli/synthetic.sh CLI}
PY=${PYTHON:-python3}
GEN=$(dirname "$0")/../fixtures/make_synthetic.py
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
CASES="f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q5_k q6_k q4_k_m q4_0_mix tiny-qwen2:q4_k_m"
n=0; for _ in $CASES; do n=$((n + 4)); done
echo "1..$((n + 1))"

# check OK DESCRIPTION: print one TAP line and count it
check() {
  if [ "$1" -eq 1 ]; then echo "ok - $2"; pass=$((pass + 1))
  else echo "not ok - $2"; fail=$((fail + 1)); fi
}

for c in $CASES; do
  shape=tiny; type=$c
  case $c in *:*) shape=${c%%:*}; type=${c#*:} ;; esac
  f=$TMP/$shape-$type.gguf
  # the dominant type llm-cli info reports, and the type of two tensors
  case $type in
    q4_k_m) dom=q4_k; want_out=Q6_K; want_q=Q4_K ;;
    q4_0_mix) dom=q4_0; want_out=Q6_K; want_q=Q4_0 ;;
    *) dom=$type; want_out=${type^^}; want_q=${type^^} ;;
  esac
  [ "$shape" = tiny-qwen2 ] && want_out=-    # tied: no output.weight

  out=$($PY "$GEN" --shape "$shape" --type "$type" -o "$f" --seed 7 --jobs 2 2>&1); rc=$?
  res=0; msg="exit $rc: $out"
  if [ $rc -eq 0 ]; then
    msg=$($PY - "$f" "$want_out" "$want_q" <<'EOF' 2>&1
import sys
import numpy as np
import gguf
from gguf.quants import dequantize
path, want_out, want_q = sys.argv[1:]
r = gguf.GGUFReader(path)
types = {t.name: t.tensor_type.name for t in r.tensors}
bad = []
if types.get("output.weight", "-") != want_out:
    bad.append("output.weight is %s" % types.get("output.weight"))
if types.get("blk.0.attn_q.weight") != want_q:
    bad.append("attn_q is %s" % types.get("blk.0.attn_q.weight"))
for t in r.tensors:
    x = dequantize(t.data, t.tensor_type)
    if "norm" in t.name:
        if not (x == 1.0).all():
            bad.append(t.name + " is not all ones")
    elif not np.isfinite(x).all() or np.abs(x).max() >= 1.0:
        bad.append(t.name + " not finite or |w| >= 1")
    elif not x.std() > 1e-3:
        bad.append(t.name + " has no spread")
print("1 %d tensors" % len(r.tensors) if not bad else "0 " + "; ".join(bad[:3]))
EOF
)
    res=${msg%% *}; msg=${msg#* }
  fi
  check "$([ "$res" = 1 ] && echo 1 || echo 0)" "$shape $type: written and valid ($msg)"

  info=$(timeout 30 "$CLI" info -m "$f" --json 2>&1); rc=$?
  ok=0
  [ $rc -eq 0 ] && printf '%s' "$info" | $PY -c '
import json, sys
j = json.loads(sys.stdin.read())
arch = "qwen2" if sys.argv[2] == "tiny-qwen2" else "llama"
sys.exit(0 if j["quantization"] == sys.argv[1] and j["n_vocab"] == 512 and
         j["n_layer"] == 2 and j["architecture"] == arch else 1)' "$dom" "$shape" && ok=1
  check $ok "$shape $type: llm-cli info loads it as $dom (exit $rc)"

  timeout 30 "$CLI" generate -m "$f" -p "hello world" -n 4 --temp 0 -t 1 >/dev/null 2>"$TMP/err"; rc=$?
  check "$([ $rc -eq 0 ] && echo 1 || echo 0)" "$shape $type: generate runs (exit $rc $(head -c 200 "$TMP/err"))"

  ok=0
  b1=$(timeout 30 "$CLI" bench -m "$f" -p 16 -n 4 -r 1 -t 1 --json 2>&1) &&
    b2=$(timeout 30 "$CLI" bench -m "$f" -p 8 -n 4 -r 1 -t 1 -b 2 --json 2>&1) &&
    printf '%s\n%s\n' "$b1" "$b2" | $PY -c '
import json, sys
a, b = [json.loads(l) for l in sys.stdin.read().splitlines()[-2:]]
sys.exit(0 if a["pp_tok_s"] > 0 and a["tg_tok_s"] > 0 and b["batch"] == 2 and b["tg_tok_s"] > 0 else 1)' && ok=1
  check $ok "$shape $type: bench pp16/tg4 and -b 2 report positive speeds"
done

out=$($PY "$GEN" --shape tiny --type q3_k -o "$TMP/x.gguf" 2>&1); rc=$?
check "$([ $rc -eq 2 ] && [ ! -e "$TMP/x.gguf" ] && echo 1 || echo 0)" "an unknown --type is a usage error (exit $rc)"

echo "synthetic: $pass passed, $fail failed"
[ $fail -eq 0 ]
