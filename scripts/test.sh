#!/usr/bin/env bash
# Run the whole test suite: the layout checks (layers kept apart, no
# call cycles, no file over 1,500 lines), engine unit tests (normal build and under
# AddressSanitizer + UBSan), golden comparisons against llama.cpp's data,
# the malformed-file checks of llm-cli, and the PostgreSQL extension's
# pg_regress, TAP and concurrency suites (throw-away clusters run as the
# postgres user by pg_virtualenv). Ends with one line
# "total: N passed, N failed"; exits non-zero if anything failed.
# Stops at once (non-zero) if the dependencies or the models cannot be
# installed: the suites would otherwise skip the work they cannot do.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! scripts/install-deps.sh; then
  echo "FAIL: scripts/install-deps.sh failed; nothing was tested" >&2
  exit 1
fi
if ! scripts/fetch-models.sh; then
  echo "FAIL: scripts/fetch-models.sh failed (models missing); nothing was tested" >&2
  exit 1
fi
export LLM_MODEL_DIR=${LLM_CACHE:-$HOME/.cache/llm}
export LLM_MODEL=$LLM_MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf

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
run_suite layout       test/layout/check.sh
run_suite unit         make --no-print-directory check
run_suite cli-fixtures test/test-fixtures.sh build/llm-cli build/fixtures
# pg_suite NAME SCRIPT: run a PostgreSQL suite and turn its own summary
# (pg_regress "... ok"/"... FAILED" lines, prove's Tests=N, or one
# PASS/FAIL verdict) into "NAME: N passed, N failed"
pg_suite() {
  local name=$1 script=$2 out rc p f
  echo "##### $name"
  out=$("$script" 2>&1); rc=$?
  printf '%s\n' "$out"
  case $name in
    pg-regress)
      p=$(printf '%s\n' "$out" | grep -cE '\.\.\. +ok')
      f=$(printf '%s\n' "$out" | grep -cE '\.\.\. +FAILED') ;;
    pg-tap)
      p=$(printf '%s\n' "$out" | sed -nE 's/^Files=[0-9]+, Tests=([0-9]+).*/\1/p' | tail -n 1)
      p=${p:-0}
      f=$(printf '%s\n' "$out" | sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' | awk '{s+=$1} END {print s+0}')
      p=$((p - f)) ;;
    *)
      p=0; f=0; [ $rc -eq 0 ] && p=1 ;;
  esac
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  [ $rc -ne 0 ] && status=1
  echo "$name: $p passed, $f failed" | tee -a "$log"
}
pg_suite pg-regress     test/pg/run-regress.sh
pg_suite pg-tap         test/pg/run-tap.sh
pg_suite pg-concurrency test/pg/run-concurrency.sh

make -j2 SAN=1 unit fixtures BUILD=build-san || exit 1
run_suite unit-asan    make --no-print-directory SAN=1 check

pass=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | awk '{s+=$2} END {print s+0}')
fail=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | awk '{s+=$4} END {print s+0}')
[ "$fail" -eq 0 ] || status=1
echo "total: $pass passed, $fail failed"
exit $status
