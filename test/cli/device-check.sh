#!/usr/bin/env bash
# test/cli/device-check.sh - what of scripts/device-check.sh runs without a GPU:
#  - usage errors exit 2 before anything runs (bad --budget, --batches,
#    --shape, --type, unknown option);
#  - test/bench/device_summary.py on a hand-made work folder: the bandwidth
#    share (tg x decode bytes / read bandwidth, the bytes from
#    make_synthetic.py's plan), the ratios to transformers, the goals, a
#    timed-out and a not-run step, and a failed step's figures left null;
#  - scripts/device-check.sh --dry-run (tiny shape on the CPU, no build, no
#    transformers peer, under its own budget) writes summary.md,
#    summary.json, steps.tsv and device-check.log, with positive CPU figures
#    for the single stream and every batch.
# Ends with "device-check: N passed, N failed". Needs build/llm-cli and the
# gguf package (scripts/install-deps.sh).
set -u
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
echo "1..8"

# check OK DESCRIPTION: print one TAP line and count it
check() {
  if [ "$1" -eq 1 ]; then echo "ok - $2"; pass=$((pass + 1))
  else echo "not ok - $2"; fail=$((fail + 1)); fi
}

# usage errors
bad=""
for a in "--budget x" "--batches 0" "--shape nope" "--type q9_9" "--frobnicate"; do
  # shellcheck disable=SC2086
  scripts/device-check.sh $a --out "$TMP/u" >/dev/null 2>&1; rc=$?
  [ $rc -eq 2 ] || bad="$bad [$a: exit $rc]"
done
check "$([ -z "$bad" ] && [ ! -e "$TMP/u/summary.json" ] && echo 1 || echo 0)" \
  "usage errors exit 2 and write nothing${bad}"

# the summary writer on known inputs
W=$TMP/work
mkdir -p "$W"
cat >"$W/meta.json" <<'EOF'
{"mode": "device", "shape": "llama-7b", "type": "q4_k_m", "device": "cuda",
 "batches": [1, 8, 64], "extra": ["q4_0_mix"], "pp": 512, "tg": 128}
EOF
printf 'membw\t0\t3.0\t60\nbench_single\t0\t20\t150\nbench_b1\t0\t5\t120\nbench_b8\t124\t120\t120\nbench_b64\t0\t9\t120\nhf\t0\t50\t180\nextra_q4_0_mix\t-1\t0\tno time left in the budget\ntest_cuda\t1\t4\t120\n' >"$W/steps.tsv"
echo '{"read_gbs":4000.0,"copy_gbs":3900.0,"memcpy_gbs":3800.0}' >"$W/membw.log"
printf 'loading\n{"pp_tok_s":9000.0,"tg_tok_s":250.0,"n_prompt":512,"n_gen":128}\n' >"$W/bench_single.log"
echo '{"batch":1,"tg_tok_s":240.0}' >"$W/bench_b1.log"
echo '{"batch":8,"tg_tok_s":1500.0}' >"$W/bench_b8.log"
echo '{"batch":64,"tg_tok_s":6000.0}' >"$W/bench_b64.log"
echo '{"pp_tok_s":7000.0,"decode":[{"batch":1,"tok_s":40.0},{"batch":8,"tok_s":300.0},{"batch":64,"tok_s":1000.0}]}' >"$W/hf.log"
printf 'ok 1 - a\nnot ok 2 - b\nunit: 1 passed, 1 failed, 0 skipped\n' >"$W/test_cuda.log"
$PY test/bench/device_summary.py "$W" "$TMP/s" >"$TMP/sum.log" 2>&1; rc=$?
res=$($PY - "$TMP/s/summary.json" <<'EOF' 2>&1
import json, sys
sys.path.insert(0, "test/fixtures")
import make_synthetic as m
d = json.load(open(sys.argv[1]))
f = d["figures"]
s = m.SHAPES["llama-7b"]
want = sum(m.nbytes_of(ne, t) for n, ne, t in m.tensor_plan(s, "q4_k_m") if n != "token_embd.weight")
bad = []
if f["bytes_per_token"] != want:
    bad.append("bytes %s != %s" % (f["bytes_per_token"], want))
if abs(f["bw_share"] - 250.0 * want / 4000e9) > 1e-4:
    bad.append("share %s" % f["bw_share"])
b = {x["batch"]: x for x in f["batches"]}
if b[1]["vs_hf"] != 6.0 or b[64]["vs_hf"] != 6.0 or b[8]["tok_s"] is not None:
    bad.append("batches %s" % f["batches"])
if f["goals"] != {"bw_share_ge_0.60": False, "b64_ge_5x_hf": True}:
    bad.append("goals %s" % f["goals"])
st = {x["name"]: x["status"] for x in d["steps"]}
if st["bench_b8"] != "timed out" or not st["extra_q4_0_mix"].startswith("not run") \
        or st["test_cuda"] != "failed (exit 1)":
    bad.append("steps %s" % st)
if f["test_cuda"] != {"passed": 1, "failed": 1, "skipped": 0} or f["extra"][0]["tg_tok_s"] is not None:
    bad.append("test_cuda/extra %s %s" % (f["test_cuda"], f["extra"]))
print("1 ok" if not bad else "0 " + "; ".join(bad))
EOF
)
check "$([ $rc -eq 0 ] && [ "${res%% *}" = 1 ] && echo 1 || echo 0)" "device_summary.py: share, ratios, goals and step states (${res#* })"
md=$(cat "$TMP/s/summary.md" 2>/dev/null)
ok=0
grep -q '| 8 | not measured | 300.0 | not measured |' <<<"$md" && grep -q 'share of read bandwidth: 25.0%' <<<"$md" &&
  grep -q 'Goals: bandwidth share >= 60%: not met; 64 sequences >= 5x transformers: met' <<<"$md" && ok=1
check $ok "summary.md: the timed-out batch is not measured, share 25.0%, goals stated"

# the dry run, CPU only
timeout 120 scripts/device-check.sh --dry-run --no-build --no-hf --extra "" --budget 100 --out "$TMP/d" >"$TMP/dry.log" 2>&1; rc=$?
for f in summary.md summary.json steps.tsv device-check.log; do
  check "$([ -s "$TMP/d/$f" ] && echo 1 || echo 0)" "dry run writes $f (exit $rc)"
done
res=$($PY - "$TMP/d/summary.json" <<'EOF' 2>&1
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print("0 %s" % e); sys.exit()
f = d["figures"]
good = (d["meta"]["mode"] == "dry-run" and d["meta"]["device"] == "cpu" and
        (f["pp_tok_s"] or 0) > 0 and (f["tg_tok_s"] or 0) > 0 and
        [x["batch"] for x in f["batches"]] == [1, 2, 4] and
        all((x["tok_s"] or 0) > 0 for x in f["batches"]))
print("%d pp %s tg %s batches %s" % (good, f["pp_tok_s"], f["tg_tok_s"], [x["tok_s"] for x in f["batches"]]))
EOF
)
check "$([ "${res%% *}" = 1 ] && echo 1 || echo 0)" "dry run: CPU figures for the single stream and batches 1 2 4 (${res#* })"

echo "device-check: $pass passed, $fail failed"
[ $fail -eq 0 ]
