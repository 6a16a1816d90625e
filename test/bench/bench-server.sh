#!/bin/bash
# test/bench/bench-server.sh - the peer of bench-pg.sh (not a CI test):
# llama.cpp's llama-server on the same model with 16 parallel slots and the
# same thread count, loaded by 1, 4 and 16 concurrent clients on loopback
# for DURATION seconds each; reports generated tokens/s.
#
# Needs scripts/build-peer.sh llama-server. Environment: THREADS (2),
# DURATION (30), MAX_TOKENS (64), CLIENTS ("1 4 16"), PORT (18089).
set -euo pipefail
CACHE=${LLM_CACHE:-$HOME/.cache/llm}
MODEL=${LLM_MODEL:-$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf}
SERVER=${LLAMA_SERVER:-$CACHE/peer/build-server/bin/llama-server}
THREADS=${THREADS:-2}
PORT=${PORT:-18089}
[ -x "$SERVER" ] || { echo "bench-server.sh: build it first: scripts/build-peer.sh llama-server" >&2; exit 1; }

# 16 slots of 512 positions each (prompt + 64 generated fit easily)
"$SERVER" -m "$MODEL" -t "$THREADS" -tb "$THREADS" -np 16 -c 8192 --host 127.0.0.1 --port "$PORT" \
	>/tmp/llm-bench-server.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for i in $(seq 1 120); do
	curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
	sleep 0.5
done

python3 "$(dirname "$0")/server_load.py" --port "$PORT" --duration "${DURATION:-30}" \
	--max-tokens "${MAX_TOKENS:-64}" --clients "${CLIENTS:-1 4 16}"
