#!/usr/bin/env bash
# Run the whole test suite: engine unit tests (normal build and under
# AddressSanitizer + UBSan), golden comparisons against llama.cpp's data,
# and the malformed-file checks of llm-cli. Ends with one line
# "total: N passed, N failed"; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/fetch-models.sh
export LLM_MODEL_DIR=${LLM_CACHE:-$HOME/.cache/llm}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

# run_suite NAME COMMAND...: run, show output, keep its summary line
run_suite() {
  local name=$1; shift
  echo "##### $name"
  if ! "$@" 2>&1 | tee -a "$log"; then status=1; fi
}

make -j2 all unit fixtures || exit 1
export LLM_FIXTURE_DIR=$PWD/build/fixtures
run_suite unit         make --no-print-directory check
run_suite cli-fixtures test/test-fixtures.sh build/llm-cli build/fixtures
make -j2 SAN=1 unit fixtures BUILD=build-san || exit 1
run_suite unit-asan    make --no-print-directory SAN=1 check

pass=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | awk '{s+=$2} END {print s+0}')
fail=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | awk '{s+=$4} END {print s+0}')
[ "$fail" -eq 0 ] || status=1
echo "total: $pass passed, $fail failed"
exit $status
