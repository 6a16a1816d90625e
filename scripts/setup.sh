#!/usr/bin/env bash
# Set everything up and run the main job: install packages, build the
# engine and llm-cli, fetch the default model, and generate with it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/fetch-models.sh
make -j"$(nproc)"
make install PREFIX="${PREFIX:-/usr/local}"

MODEL=${LLM_CACHE:-$HOME/.cache/llm}/SmolLM2-135M-Instruct.Q4_1.gguf
echo
echo "== llm-cli info"
build/llm-cli info -m "$MODEL"
echo
echo "== llm-cli generate --chat (greedy, 48 tokens)"
build/llm-cli generate -m "$MODEL" --chat -p "What is PostgreSQL? Answer in one sentence." -n 48
echo
