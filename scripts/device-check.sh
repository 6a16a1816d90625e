#!/usr/bin/env bash
# scripts/device-check.sh [options] - build, check and benchmark the CUDA
# backend on a bare GPU machine (the device tool's H200) in one command,
# within a time budget, writing summary.md, summary.json and
# device-check.log to $OUT (or --out DIR).
#
# That machine has nvcc, CMake and python3 with PyTorch and transformers but
# no apt, no network and no PostgreSQL; only the working tree travels. So
# first, here: scripts/fetch-device-debs.sh (PCRE2, utf8proc and the gguf
# wheel into .devdeps/), then run this there with .devdeps carried.
#
# Steps, each under `timeout` (its own limit, cut to what is left of the
# budget; a step that fails is recorded and the rest go on):
#   deps          gguf from .devdeps/wheels into a private site directory
#   synth         (in the background, from the start) the synthetic models:
#                 test/fixtures/make_synthetic.py --shape S --type T, then
#                 the --extra types
#   build         make -k all: build/llm-cli and, where nvcc is, build/llm_cuda.so
#   fixtures      make fixtures (the tiny models test_cuda compares)
#   test_cuda     build/test/test_cuda through test/run-unit.sh
#   membw         test/bench/cuda_membw.cu built with nvcc and run
#   info          llm-cli info --json of the synthetic model
#   bench_single  llm-cli bench --device D -p 512 -n 128 (pp and single-stream tg)
#   bench_bN      llm-cli bench --device D -b N -p 32 -n 32 for each N of
#                 --batches: aggregate decode tok/s of N sequences
#   hf            test/bench/hf_generate_peer.py, the same shape in bf16
#   extra_T       llm-cli bench -p PP -n TG of the --extra types' models
# then test/bench/device_summary.py writes the summary.
#
# Options:
#   --dry-run        exercise everything without a GPU: the tiny shape on the
#                    CPU, small sizes, batches 1 2 4 (the CUDA steps still run
#                    and fail or skip as they do on such a machine)
#   --out DIR        where the summary goes (default $OUT, else
#                    build/device-check/out)
#   --budget SEC     total time (default 450: 8 minutes less a margin)
#   --shape S        make_synthetic.py shape (default llama-7b)
#   --type T         its quantization (default q4_k_m)
#   --device D       llm-cli --device (default cuda)
#   --batches "N.."  sequence counts (default "1 8 32 64")
#   --extra "T.."    more types, single stream only, if time is left
#                    (default "q4_0_mix", llama.cpp's Q4_0; "" for none)
#   --no-build       use the build/ already there
#   --no-hf          skip the transformers peer
# Exit status: 0 when every step that ran passed, 1 otherwise, 2 on a usage
# error; the summary is written either way.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

usage() { sed -n '2,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

MODE=device; OUTDIR=${OUT:-}; BUDGET=450; SHAPE=llama-7b; TYPE=q4_k_m; DEVICE=cuda
BATCHES="1 8 32 64"; EXTRA="q4_0_mix"; BUILD_STEP=1; HF_STEP=1
PP=512; TG=128; BP=32; BN=32; REPS=3; HF_SHAPE=; HF_DEVICE=cuda
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) MODE=dry-run ;;
    --out) OUTDIR=${2:?--out needs a directory}; shift ;;
    --budget) BUDGET=${2:?}; shift ;;
    --shape) SHAPE=${2:?}; shift ;;
    --type) TYPE=${2:?}; shift ;;
    --device) DEVICE=${2:?}; shift ;;
    --batches) BATCHES=${2?}; shift ;;
    --extra) EXTRA=${2?}; shift ;;
    --no-build) BUILD_STEP=0 ;;
    --no-hf) HF_STEP=0 ;;
    -h|--help) usage ;;
    *) echo "device-check.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
case $BUDGET in ''|*[!0-9]*) echo "device-check.sh: --budget must be seconds" >&2; exit 2 ;; esac
for b in $BATCHES; do
  case $b in ''|*[!0-9]*|0) echo "device-check.sh: --batches must be positive integers" >&2; exit 2 ;; esac
done
if [ $MODE = dry-run ]; then
  SHAPE=tiny; DEVICE=cpu; BATCHES="1 2 4"; EXTRA="q4_0_mix"; PP=64; TG=16; BP=8; BN=8; REPS=1
  HF_DEVICE=cpu
fi
HF_SHAPE=$SHAPE
PY=${PYTHON:-python3}
# the shape and type make_synthetic.py knows (imported from its folder; no gguf needed)
(cd test/fixtures && $PY -c 'import sys, make_synthetic as m; sys.exit(sys.argv[1] not in m.SHAPES or sys.argv[2] not in m.FTYPES)' "$SHAPE" "$TYPE") ||
  { echo "device-check.sh: unknown --shape $SHAPE or --type $TYPE (test/fixtures/make_synthetic.py --list)" >&2; exit 2; }

OUTDIR=${OUTDIR:-$ROOT/build/device-check/out}
W=$ROOT/build/device-check/work
MODELS=$ROOT/build/device-check/models
rm -rf "$W"; mkdir -p "$W" "$MODELS" "$OUTDIR" || exit 1
: >"$W/steps.tsv"
START=$(date +%s)
DEADLINE=$((START + BUDGET))
RESERVE=15           # kept for the summary

# the libraries and headers fetch-device-debs.sh unpacked
DEPS=$ROOT/.devdeps
if [ -d "$DEPS/root/usr/lib/x86_64-linux-gnu" ]; then
  export C_INCLUDE_PATH=$DEPS/root/usr/include${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}
  export LIBRARY_PATH=$DEPS/root/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
  # only for our programs (WITHLIBS), not for python, nvcc and the rest
  LIBDIR=$DEPS/root/usr/lib/x86_64-linux-gnu
else
  echo "device-check.sh: no .devdeps (scripts/fetch-device-debs.sh): using the system's PCRE2 and utf8proc" >&2
fi
[ -d /usr/local/cuda/bin ] && case :$PATH: in *:/usr/local/cuda/bin:*) ;; *) PATH=$PATH:/usr/local/cuda/bin ;; esac
WITHLIBS=(env "LD_LIBRARY_PATH=${LIBDIR:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
JOBS=$(nproc 2>/dev/null || echo 4)
export LLM_FIXTURE_DIR=$ROOT/build/fixtures

# record NAME RC SECONDS LIMIT-OR-REASON: one line of steps.tsv
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$W/steps.tsv"; }

# left: seconds of the budget left for steps
left() { echo $((DEADLINE - $(date +%s) - RESERVE)); }

# step NAME LIMIT CMD...: run CMD under timeout (LIMIT, or what is left),
# output to $W/NAME.log; returns CMD's status (-1 recorded when not run)
step() {
  local name=$1 limit=$2 t0 rc l c; shift 2
  l=$(left)
  [ "$l" -lt "$limit" ] && limit=$l
  if [ "$limit" -lt 5 ]; then
    record "$name" -1 0 "no time left in the budget"
    echo "== $name: not run (no time left)"
    return 1
  fi
  c="$*"; c=${c//$'\n'/ }
  echo "== $name (limit ${limit}s): ${c:0:160}"
  t0=$(date +%s.%N)
  timeout -k 5 "$limit" "$@" >"$W/$name.log" 2>&1 </dev/null; rc=$?
  record "$name" $rc "$(echo "$(date +%s.%N) - $t0" | awk '{print $1 - $3}' 2>/dev/null || echo 0)" "$limit"
  # the seconds: awk reads "END - START" as three fields
  tail -n 3 "$W/$name.log" | sed "s/^/   $name: /"
  [ $rc -eq 124 ] && echo "   $name: TIMED OUT after ${limit}s"
  return $rc
}

# skip NAME REASON: record a step that cannot run here
skip() { record "$1" -1 0 "$2"; echo "== $1: not run ($2)"; }

# ---- the machine
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader 2>/dev/null | head -n 1)
nvv=$( (nvcc --version 2>/dev/null || true) | grep -o 'release [0-9.]*' | head -n 1)
machine="${gpu:-no GPU seen by nvidia-smi}; ${nvv:-no nvcc}; $JOBS CPUs; $(uname -sr)"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit+changes"
echo "device-check.sh: $MODE, $SHAPE $TYPE --device $DEVICE, budget ${BUDGET}s; $machine"

# ---- deps: gguf for make_synthetic.py and make fixtures
# (the pinned wheel whenever it is there, so that a dry run uses it too)
SITE=$ROOT/build/device-check/site
if ls "$DEPS"/wheels/gguf-*.whl >/dev/null 2>&1; then
  rm -rf "$SITE"
  if step deps 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --upgrade --target "$SITE" "$DEPS"/wheels/gguf-*.whl; then
    export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
  else
    # a wheel of pure Python imports from the zip itself
    whl=$(find "$DEPS/wheels" -name "gguf-*.whl" | head -n 1)
    export PYTHONPATH=$whl${PYTHONPATH:+:$PYTHONPATH}
  fi
elif $PY -c 'import gguf' 2>/dev/null; then
  skip deps "no .devdeps/wheels; the gguf already installed"
else
  skip deps "no gguf and no .devdeps/wheels (scripts/fetch-device-debs.sh)"
fi

# ---- synth, in the background while the build runs
synth() {
  local t
  $PY test/fixtures/make_synthetic.py --shape "$SHAPE" --type "$TYPE" -o "$MODELS/$SHAPE-$TYPE.gguf" || return 1
  for t in $EXTRA; do
    $PY test/fixtures/make_synthetic.py --shape "$SHAPE" --type "$t" -o "$MODELS/$SHAPE-$t.gguf" || return 1
  done
}
step synth 150 bash -c "$(declare -f synth); PY='$PY' SHAPE='$SHAPE' TYPE='$TYPE' EXTRA='$EXTRA' MODELS='$MODELS'; synth" &
SYNTH_PID=$!

# ---- build
if [ $BUILD_STEP = 1 ]; then
  command -v make >/dev/null || echo "device-check.sh: no make on this machine" >&2
  # -k: a failing CUDA module still leaves llm-cli built
  step build 240 make -k -j"$JOBS" all
  [ -x build/llm-cli ] || echo "device-check.sh: build/llm-cli was not built" >&2
  if command -v nvcc >/dev/null && [ ! -f build/llm_cuda.so ]; then
    echo "device-check.sh: nvcc is here but make built no build/llm_cuda.so (no CUDA module in this tree?)" >&2
    echo "build/llm_cuda.so not built" >>"$W/build.log"
  fi
else
  skip build "--no-build"
fi

# ---- correctness
if [ -f test/unit/test_cuda.c ]; then
  step fixtures 90 make fixtures
  if step test_cuda_build 120 make -j"$JOBS" build/test/test_cuda; then
    step test_cuda 120 "${WITHLIBS[@]}" test/run-unit.sh build/test/test_cuda
  else
    skip test_cuda "test_cuda did not build"
  fi
else
  skip test_cuda "test/unit/test_cuda.c is not in this tree"
fi

# ---- bandwidth
if command -v nvcc >/dev/null; then
  if step membw_build 90 nvcc -O3 -gencode arch=compute_90,code=sm_90 \
      -gencode arch=compute_90,code=compute_90 -o build/cuda_membw test/bench/cuda_membw.cu; then
    step membw 60 build/cuda_membw 2048
  else
    skip membw "cuda_membw did not build"
  fi
else
  skip membw "no nvcc"
fi

# ---- our benchmarks
wait $SYNTH_PID
M=$MODELS/$SHAPE-$TYPE.gguf
if [ -x build/llm-cli ] && [ -s "$M" ]; then
  # -c: a context of what the runs use, not the shape's (up to 32768)
  step info 60 "${WITHLIBS[@]}" build/llm-cli info -m "$M" --json
  step bench_single 150 "${WITHLIBS[@]}" build/llm-cli bench -m "$M" --device "$DEVICE" \
    -c $((PP + TG + 64)) -p $PP -n $TG -r $REPS --json
  for b in $BATCHES; do
    step "bench_b$b" 120 "${WITHLIBS[@]}" build/llm-cli bench -m "$M" --device "$DEVICE" \
      -c $((BP + BN + 64)) -b "$b" -p $BP -n $BN -r $REPS --json
  done
else
  for s in info bench_single $(for b in $BATCHES; do echo "bench_b$b"; done); do
    skip "$s" "no build/llm-cli or no synthetic model"
  done
fi

# ---- the transformers peer
if [ $HF_STEP = 1 ]; then
  step hf 180 env PYTHONUNBUFFERED=1 "$PY" test/bench/hf_generate_peer.py --shape "$HF_SHAPE" \
    --batches "$(echo "$BATCHES" | tr ' ' ,)" --prompt $BP --gen $BN --pp $PP --reps $REPS \
    --device $HF_DEVICE --dtype bf16
else
  skip hf "--no-hf"
fi

# ---- other types, single stream, with what time is left
for t in $EXTRA; do
  if [ -x build/llm-cli ] && [ -s "$MODELS/$SHAPE-$t.gguf" ]; then
    step "extra_$t" 90 "${WITHLIBS[@]}" build/llm-cli bench -m "$MODELS/$SHAPE-$t.gguf" --device "$DEVICE" \
      -c $((PP + TG + 64)) -p $PP -n $TG -r $REPS --json
  else
    skip "extra_$t" "no build/llm-cli or no $t model"
  fi
done

# ---- summary
END=$(date +%s)
$PY - "$W/meta.json" <<EOF
import json, sys
json.dump({"mode": "$MODE", "shape": "$SHAPE", "type": "$TYPE", "device": "$DEVICE",
           "batches": [int(b) for b in "$BATCHES".split()], "extra": "$EXTRA".split(),
           "pp": $PP, "tg": $TG, "batch_prompt": $BP, "batch_gen": $BN, "reps": $REPS,
           "commit": "$commit", "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
           "machine": """$machine""", "budget_s": $BUDGET, "elapsed_s": $((END - START))},
          open(sys.argv[1], "w"), indent=1)
EOF
cut -f1 "$W/steps.tsv" | while read -r f; do
  [ -f "$W/$f.log" ] && { echo "===== $f"; cat "$W/$f.log"; }
done >"$OUTDIR/device-check.log"
cp "$W/steps.tsv" "$OUTDIR/steps.tsv"
$PY test/bench/device_summary.py "$W" "$OUTDIR" || echo "device-check.sh: the summary writer failed" >&2
bad=$(awk -F'\t' '$2 > 0' "$W/steps.tsv" | cut -f1 | paste -sd' ' -)
echo "device-check.sh: $((END - START))s; summary in $OUTDIR${bad:+; failed: $bad}"
[ -z "$bad" ]
